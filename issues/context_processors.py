"""The unread notification count for the bell in the page header (templates/base.html)."""

from django.utils.functional import SimpleLazyObject


def unread_for(request) -> int:
    """The user's unread count, counted once per request (the header and the 待办 badge share it)."""
    if not hasattr(request, "_unread_notifications"):
        from .notifications import unread_count

        request._unread_notifications = unread_count(request.user)
    return request._unread_notifications


def notifications(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    # Lazy: one COUNT when a template shows it (base.html), none for pages that do not (the admin).
    return {"unread_notifications": SimpleLazyObject(lambda: unread_for(request))}
