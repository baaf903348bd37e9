"""Deployment hardening that Django 5.2 does not ship: the Content-Security-Policy header, and the
django-axes hooks (the client address behind a proxy, the Chinese lockout page).

The policy comes from ``settings.CSP_DIRECTIVES``. Inline scripts are refused except those whose
SHA-256 is listed: the hashes are computed once, from the *source* of the templates named in
``settings.CSP_INLINE_SCRIPT_TEMPLATES`` (so an edit of such a script keeps working, and nothing a
request renders can add a hash), and from the inline event handler texts in
``settings.CSP_INLINE_HANDLERS`` (third-party admin templates; those need ``'unsafe-hashes'``).
Moving an inline script to a static file and dropping its template from the list is always better.
"""

import base64
import hashlib
import logging
import re

from django.conf import settings
from django.shortcuts import render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template

log = logging.getLogger(__name__)

# An executable inline <script> (no src, no JSON data block); the body is group 1.
_INLINE_SCRIPT = re.compile(r"<script(?P<attrs>(?:\s[^>]*)?)>(?P<body>.*?)</script>", re.S | re.I)
_DATA_TYPE = re.compile(r"""\btype\s*=\s*["']?application/(?:ld\+)?json""", re.I)
_SRC = re.compile(r"\bsrc\s*=", re.I)


def sha256_source(text):
    """The CSP source expression of a script text: ``'sha256-…'``."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-%s'" % base64.b64encode(digest).decode("ascii")


def inline_scripts(source):
    """The bodies of the executable inline scripts of a template source."""
    scripts = []
    for m in _INLINE_SCRIPT.finditer(source):
        attrs = m.group("attrs") or ""
        if _SRC.search(attrs) or _DATA_TYPE.search(attrs):
            continue
        scripts.append(m.group("body"))
    return scripts


def template_script_hashes(names):
    """Hash sources of the inline scripts of the named templates, as rendered (no template tags)."""
    hashes = []
    for name in names:
        try:
            source = get_template(name).template.source
        except TemplateDoesNotExist:
            log.warning("CSP_INLINE_SCRIPT_TEMPLATES names %s, which does not exist", name)
            continue
        for body in inline_scripts(source):
            if "{{" in body or "{%" in body or "{#" in body:
                # The rendered text differs from the source: it cannot be hashed here.
                log.warning("CSP: the inline script in %s uses template tags and will be blocked", name)
                continue
            hashes.append(sha256_source(body))
    return hashes


def build_policy():
    """The header value from the settings (directives, template scripts, inline handlers)."""
    directives = {name: list(values) for name, values in settings.CSP_DIRECTIVES.items()}
    extra = template_script_hashes(getattr(settings, "CSP_INLINE_SCRIPT_TEMPLATES", ()))
    handlers = [sha256_source(text) for text in getattr(settings, "CSP_INLINE_HANDLERS", ())]
    if handlers:
        extra += ["'unsafe-hashes'", *handlers]
    if extra:
        script = directives.setdefault("script-src", list(directives.get("default-src", ["'self'"])))
        script += [source for source in extra if source not in script]
    return "; ".join(" ".join([name, *values]) for name, values in directives.items())


class ContentSecurityPolicyMiddleware:
    """Sets Content-Security-Policy (or -Report-Only with CSP_REPORT_ONLY) on every response that
    does not carry its own. Built once per process: the templates are read at start-up."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.header = "Content-Security-Policy-Report-Only" if settings.CSP_REPORT_ONLY else "Content-Security-Policy"
        self.policy = build_policy()

    def __call__(self, request):
        response = self.get_response(request)
        if self.header not in response:
            response[self.header] = self.policy
        return response


def lockout_response(request, original_response=None, credentials=None):
    """The page for a locked-out (username, address) pair (AXES_LOCKOUT_CALLABLE). It is the same
    for an existing and an unknown account: nothing on it depends on the user."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60) if settings.AXES_COOLOFF_TIME else None
    return render(
        request,
        "registration/lockout.html",
        {"cooloff_minutes": max(minutes, 1) if minutes is not None else None},
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
