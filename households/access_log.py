"""Writing the access log (AccessLog): the one place that turns a request into a log row."""

from core.http import client_ip

from .models import AccessKind, AccessLog

WHAT_MAX = AccessLog._meta.get_field("what").max_length


def access_log_record(request, *, kind=AccessKind.EXPORT, what, rows=0, residents=0, household=None) -> AccessLog:
    """One append-only row: the request's user and client IP, ``what`` cut to the column's length.

    ``residents`` left at 0 on an export is filled from ``rows`` by ``AccessLog.save``.
    """
    return AccessLog.objects.create(
        user=request.user,
        kind=kind,
        what=what[:WHAT_MAX],
        rows=rows or 0,
        residents=residents,
        household=household,
        ip=client_ip(request),
    )
