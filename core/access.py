"""Deny by default: the access rule of a URL, and the middleware that refuses undeclared URLs.

The project declares who may use each URL in one module, named by ``settings.ACCESS_RULES`` (as
``ROOT_URLCONF`` names the URL conf). That module holds two dicts of ``Rule``:

- ``REGISTRY``: full URL name (``namespace:name``) → its rule;
- ``NAMESPACES``: namespace → one rule for every URL under it (the admin site, where the admin's
  own permission system decides).

``AccessMiddleware`` answers 404 for a resolved view that neither dict declares, and 405 for a
method its rule does not allow: a new URL is unreachable until someone has written down who may
use it. It decides nothing about roles; the views do, and a test can check them against the same
declarations (``declared_rule``).
"""

from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, HttpResponseNotAllowed

# The "role" of a visitor who has not logged in, in a rule's ``get`` / ``post``.
ANONYMOUS = "匿名用户"

NOBODY = frozenset()

SAFE_METHODS = ("GET", "HEAD")


@dataclass(frozen=True)
class Rule:
    """Who may use one URL.

    ``get``: the roles that may open it; ``post``: the roles that may write through it (an empty
    set: a page that only reads, POST is refused). ``scope``: the kind of object its ``pk``
    names, or None. ``public``: reachable without logging in (``ANONYMOUS`` in ``get`` / ``post``).
    ``admin``: the admin site, where the admin's own permissions decide.
    """

    get: frozenset = NOBODY
    post: frozenset = NOBODY
    scope: str | None = None
    public: bool = False
    admin: bool = False
    note: str = ""

    @property
    def methods(self) -> tuple[str, ...] | None:
        """The HTTP methods the URL answers (None: any, the admin decides)."""
        if self.admin:
            return None
        methods = SAFE_METHODS if self.get else ()
        if self.post:
            methods += ("POST",)
        return methods

    def may_get(self, role) -> bool:
        return role in self.get

    def may_post(self, role) -> bool:
        return role in self.post


def declarations():
    """(REGISTRY, NAMESPACES) of the module named by ``settings.ACCESS_RULES``.

    Without the setting nothing is declared, so nothing would be reachable: that is a
    configuration error, raised rather than served as a site of 404s.
    """
    name = getattr(settings, "ACCESS_RULES", None)
    if not name:
        raise ImproperlyConfigured("ACCESS_RULES must name the module that declares REGISTRY and NAMESPACES")
    module = import_module(name)
    return module.REGISTRY, module.NAMESPACES


def declared_rule(name: str | None, namespaces=()) -> Rule | None:
    """The rule of a URL pattern: its namespace's (``NAMESPACES``), else its full name's
    (``namespace:name`` in ``REGISTRY``); None when it is not declared (unnamed patterns outside a
    declared namespace never are)."""
    registry, namespace_rules = declarations()
    for namespace in namespaces:
        if namespace in namespace_rules:
            return namespace_rules[namespace]
    if not name:
        return None
    return registry.get(name)


def rule_for(match) -> Rule | None:
    """The declared rule of a resolved URL (``request.resolver_match``), or None."""
    if match is None:
        return None
    return declared_rule(match.view_name if match.url_name else None, match.namespaces)


class AccessMiddleware:
    """Deny by default: 404 for a resolved view without a declaration in ``REGISTRY`` /
    ``NAMESPACES``; 405 for a method its rule does not allow (a page that only reads takes no POST).

    Put it after AuthenticationMiddleware. It decides nothing about roles: the views do.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        declarations()  # a missing or broken ACCESS_RULES fails at start-up, not on the first request

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        rule = rule_for(getattr(request, "resolver_match", None))
        if rule is None:
            raise Http404("页面不存在")
        methods = rule.methods
        if methods is not None and request.method not in methods:
            return HttpResponseNotAllowed(methods)
        return None
