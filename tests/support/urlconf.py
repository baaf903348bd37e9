"""The URL conf as the permission matrix and the junk-parameter tests walk it: every pattern of
``ROOT_URLCONF`` (includes walked recursively, the admin site's too) with its access declaration
(core.access.declared_rule over visitplan/access.py)."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import URLResolver, get_resolver

from core.access import declared_rule


@dataclass(frozen=True)
class Pattern:
    name: str | None  # "namespace:name"
    route: str  # the whole route, e.g. "admin/households/household/<path:object_id>/change/"
    namespaces: tuple

    @property
    def key(self) -> str:
        return self.name or f"<unnamed> {self.route}"

    @property
    def is_admin(self) -> bool:
        return "admin" in self.namespaces

    @property
    def rule(self):
        return declared_rule(self.name, self.namespaces)


def url_patterns(urlconf=None) -> list[Pattern]:
    """Every URL pattern of ``urlconf`` (default: ROOT_URLCONF), includes walked recursively."""
    found = []

    def walk(resolver, prefix, namespaces):
        for p in resolver.url_patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                walk(p, route, namespaces + ((p.namespace,) if p.namespace else ()))
            else:
                name = ":".join(namespaces + (p.name,)) if p.name else None
                found.append(Pattern(name, route, namespaces))

    walk(get_resolver(urlconf), "", ())
    return found


def undeclared(patterns) -> list[str]:
    return [p.key for p in patterns if p.rule is None]


PATTERNS = url_patterns()
APP_PATTERNS = [p for p in PATTERNS if not p.is_admin]
ADMIN_PATTERNS = [p for p in PATTERNS if p.is_admin]
