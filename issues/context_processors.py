"""The unread notification count for the bell in the page header (templates/base.html)."""

from django.utils.functional import SimpleLazyObject


def notifications(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from .notifications import unread_count

    # Lazy: one COUNT when a template shows it (base.html), none for pages that do not (the admin).
    return {"unread_notifications": SimpleLazyObject(lambda: unread_count(user))}
