"""Who the user is, for scoping: a ``Scope``, resolved once per user object, so once per request.

``scope_of(who)`` takes a user or a Scope and returns the Scope; every ``visible_to`` and every
permission check goes through it, and ``ScopeMiddleware`` puts it on the request as
``request.scope``. Each part (roles, cadre, paths, the households assigned to the cadre) is looked
up on first use and kept: a request that needs only the roles makes one query, one that needs the
whole scope makes three, whatever the number of querysets it scopes.

This module is the interface; the project's implementation (who a cadre is, which node he works
in) is the subclass named by ``settings.SCOPE_CLASS`` (visitplan.scope.UserScope): the apps below
the planning app read a scope without importing it.

The Scope is kept on the user object (``user._scope``), as Django keeps ``user.cadre``: code that
changes a user's groups or cadre and goes on with the same object calls ``forget_scope(user)``.
"""

from __future__ import annotations

from functools import cached_property

from django.conf import settings
from django.utils.functional import SimpleLazyObject
from django.utils.module_loading import import_string

_ATTRIBUTE = "_scope"


class Scope:
    """The scope of one user; subclasses implement the ``_resolve_*`` methods."""

    def __init__(self, user):
        self.user = user

    def __repr__(self):
        return f"<{type(self).__name__} {getattr(self.user, 'pk', None)}>"

    @cached_property
    def roles(self) -> frozenset[str]:
        """The user's role names (Django groups)."""
        return frozenset(self._resolve_roles())

    @cached_property
    def cadre(self):
        """The user's cadre if he has one and it is active (在岗), else None."""
        return self._resolve_cadre()

    @cached_property
    def paths(self) -> tuple[str, ...] | None:
        """The subtree paths the user may see; None means everything (superusers)."""
        return self._resolve_paths()

    @cached_property
    def node_wide(self) -> bool:
        """True for those who see everything under their node (and superusers)."""
        return self._resolve_node_wide()

    @cached_property
    def assigned_households(self):
        """The ids of the households assigned to the user's cadre (包户到人), as a subquery
        (``.values("household_id")``, not evaluated), or None when he has no cadre or no role."""
        return self._resolve_assigned_households()

    @property
    def everything(self) -> bool:
        return self.paths is None

    @property
    def department_id(self) -> int | None:
        return getattr(self.cadre, "department_id", None)

    def _resolve_roles(self):
        raise NotImplementedError

    def _resolve_cadre(self):
        raise NotImplementedError

    def _resolve_paths(self):
        raise NotImplementedError

    def _resolve_node_wide(self):
        raise NotImplementedError

    def _resolve_assigned_households(self):
        raise NotImplementedError


def scope_of(who) -> Scope:
    """The Scope of a user (made on first use and kept on the user object), or ``who`` itself."""
    if isinstance(who, Scope):
        return who
    scope = getattr(who, _ATTRIBUTE, None)
    if scope is None:
        scope = import_string(settings.SCOPE_CLASS)(who)
        try:
            setattr(who, _ATTRIBUTE, scope)
        except AttributeError:  # an object that takes no attributes: resolved again next time
            pass
    return scope


def forget_scope(user) -> None:
    """Drop the Scope kept on ``user`` (after changing his groups or cadre on the same object)."""
    user.__dict__.pop(_ATTRIBUTE, None)


class ScopeMiddleware:
    """``request.scope``: the user's Scope, resolved on first use (after AuthenticationMiddleware)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.scope = SimpleLazyObject(lambda: scope_of(request.user))
        return self.get_response(request)
