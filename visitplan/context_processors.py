from django.conf import settings


def site(request):
    from households.scoping import is_node_wide

    user = getattr(request, "user", None)
    return {
        "SITE_TITLE": settings.SITE_TITLE,
        # The dashboard tab: street admins, leaders and secretaries (reports/views.py checks the same).
        "can_read_reports": bool(user is not None and user.is_authenticated and is_node_wide(user)),
    }
