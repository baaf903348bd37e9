"""Register exports from pages and the admin: scoped again, written in the template layout, logged."""

import tempfile

from django.http import FileResponse
from django.utils import timezone

from .access_log import access_log_record
from .levels import for_user
from .masking import can_view_full_pii
from .models import Household


def register_export_response(request, queryset, *, what):
    """Stream the register of `queryset` as xlsx; the user's scope is applied again here."""
    from .register import write_register

    # Re-scoped here, whatever the caller passed: an export never reaches past visible_to.
    scoped = Household.objects.visible_to(request.user).filter(pk__in=queryset.values("pk"))
    spool = tempfile.TemporaryFile()
    # A 镇's export names its columns 村(居) and 村民小组, as its import template does.
    rows = write_register(scoped, spool, mask=not can_view_full_pii(request.user), levels=for_user(request.user))
    spool.seek(0)
    access_log_record(request, what=what, rows=rows)
    filename = f"居民底册_{timezone.localdate():%Y%m%d}.xlsx"
    return FileResponse(
        spool,
        as_attachment=True,
        filename=filename,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
