"""The client's address: one answer for the whole app (the access log, django-axes, the jobs)."""

from django.conf import settings


def client_ip(request):
    """The client address of ``request``.

    Without CLIENT_IP_HEADER: REMOTE_ADDR. Behind a reverse proxy every request comes from the
    proxy, which would make the (username, IP) lockout a per-username one and the access log
    useless; set CLIENT_IP_HEADER to the META name of a header the proxy itself writes (nginx:
    ``proxy_set_header X-Real-IP $remote_addr`` → ``HTTP_X_REAL_IP``; or ``HTTP_X_FORWARDED_FOR``,
    of which the right-most entry, the one the proxy appended, is used — entries to its left come
    from the client).
    """
    header = getattr(settings, "CLIENT_IP_HEADER", "")
    if header:
        value = request.META.get(header, "")
        last = value.rsplit(",", 1)[-1].strip()
        if last:
            return last
    return request.META.get("REMOTE_ADDR") or None
