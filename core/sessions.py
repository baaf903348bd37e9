"""Session timeouts: an idle one (SESSION_IDLE_MINUTES without a request) and an absolute one
(SESSION_ABSOLUTE_HOURS after the login), whatever the cookie says.

The login time is stored at login (the ``user_logged_in`` signal; a session from before this
middleware gets it on its next request). The last-seen time is written at most once per
``SEEN_RESOLUTION`` seconds, so that a busy user does not cost a session write per request.
On expiry the user is logged out and sent to the login page with a message; a script's request
(the visit form submits through fetch with ``X-Requested-With``) gets 403 instead, which the
form already reports as "登录已过期" and keeps its draft.
"""

import time
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.dispatch import receiver
from django.http import HttpResponseForbidden
from django.shortcuts import redirect, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme

LOGIN_AT = "_visitplan_login_at"
SEEN_AT = "_visitplan_seen_at"
# Seconds: the last-seen time is rewritten only when it is older than this.
SEEN_RESOLUTION = 60


def now():
    """The clock (seconds since the epoch); tests replace it."""
    return time.time()


@receiver(user_logged_in, dispatch_uid="core.sessions.stamp_login")
def stamp_login(sender, request, user, **kwargs):
    session = getattr(request, "session", None)
    if session is not None:
        stamp = int(now())
        session[LOGIN_AT] = stamp
        session[SEEN_AT] = stamp


class SessionTimeoutMiddleware:
    """After AuthenticationMiddleware and MessageMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            expired = self.check(request)
            if expired:
                return self.expire(request, expired)
        return self.get_response(request)

    def check(self, request):
        """None while the session is valid (stamping it when due), else the message to show."""
        session = request.session
        t = int(now())
        login_at = session.get(LOGIN_AT)
        seen_at = session.get(SEEN_AT)
        if login_at is None or seen_at is None:
            session[LOGIN_AT] = login_at if login_at is not None else t
            session[SEEN_AT] = t
            return None
        absolute = settings.SESSION_ABSOLUTE_HOURS * 3600
        idle = settings.SESSION_IDLE_MINUTES * 60
        if t - login_at >= absolute:
            return f"登录已超过 {settings.SESSION_ABSOLUTE_HOURS} 小时，为保护居民信息已自动退出，请重新登录。"
        if t - seen_at >= idle:
            return f"已超过 {settings.SESSION_IDLE_MINUTES} 分钟没有操作，为保护居民信息已自动退出，请重新登录。"
        if t - seen_at >= SEEN_RESOLUTION or t < seen_at:
            session[SEEN_AT] = t
        return None

    def expire(self, request, message):
        logout(request)
        if request.headers.get("X-Requested-With"):
            return HttpResponseForbidden(message, content_type="text/plain; charset=utf-8")
        messages.error(request, message)
        back = self.back_to(request)
        return redirect_to_login(back) if back else redirect(settings.LOGIN_URL)

    @staticmethod
    def back_to(request):
        """Where to return after logging in again: the page asked for, or for a form sent (a POST
        is not repeated) the page it was sent from; nothing for the login and logout pages."""
        if request.method in ("GET", "HEAD"):
            target = request.get_full_path()
        else:
            referer = request.headers.get("Referer", "")
            if not url_has_allowed_host_and_scheme(
                referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
            ):
                return None
            parts = urlsplit(referer)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
        path = urlsplit(target).path
        if path in (resolve_url(settings.LOGIN_URL), resolve_url("logout")) or not path.startswith("/"):
            return None
        return target
