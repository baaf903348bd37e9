"""The project's Scope (settings.SCOPE_CLASS): a user's roles, his active cadre, the subtree he sees.

- superusers see everything;
- street admins, leaders and community secretaries (NODE_WIDE_ROLES) see their cadre's node;
- grid workers and 两委 members (the CADRE role on a grid or building node) see that node;
- other cadres (street staff, departments) see no node, only the households assigned to them;
- district people (区级领导 / 区级管理员 with a ``DistrictMember`` row) see every street of their
  district: its streets' paths, node-wide, with or without a cadre (docs/decisions/0017-districts.md);
- no active cadre, or no role: nothing.

Everyone with a role and a cadre also sees the households assigned to him (包户到人), anywhere.
"""

from functools import cached_property

from core.scope import Scope, scope_of
from households.models import DistrictMember, Node, NodeKind
from households.roles import CADRE, DISTRICT_ROLES, NODE_WIDE_ROLES, group_names

from .models import Assignment, Cadre


class UserScope(Scope):
    def _resolve_roles(self):
        return group_names(self.user)

    def _resolve_cadre(self):
        user = self.user
        if not user.is_authenticated:
            return None
        try:
            cadre = user.cadre
        except Cadre.DoesNotExist:
            return None
        return cadre if cadre.active else None

    def _resolve_paths(self):
        user = self.user
        if not user.is_authenticated or not user.is_active:
            return ()
        if user.is_superuser:
            return None
        if self.district is not None:
            return self.district.street_paths()
        cadre, roles = self.cadre, self.roles
        if cadre is None or cadre.scope_id is None or not roles:
            return ()
        if roles & set(NODE_WIDE_ROLES):
            return (cadre.scope.path,)
        if CADRE in roles and cadre.scope.kind in (NodeKind.GRID, NodeKind.BUILDING):
            return (cadre.scope.path,)
        return ()

    def _resolve_node_wide(self):
        return bool(self.user.is_superuser or self.roles & set(NODE_WIDE_ROLES) or self.district is not None)

    @cached_property
    def district(self):
        """The district the user reads (a district role and a ``DistrictMember`` row), else None."""
        user = self.user
        if not user.is_authenticated or not user.is_active or not self.roles & set(DISTRICT_ROLES):
            return None
        member = DistrictMember.objects.filter(user=user).select_related("district").first()
        return member.district if member is not None else None

    def _resolve_assigned_households(self):
        if self.cadre is None or not self.roles:
            return None
        return Assignment.objects.filter(cadre=self.cadre).values("household_id")


class StreetScope(Scope):
    """A reader's scope narrowed to one street: his paths that lie in it (the street itself for a
    district's reader). The rest (roles, cadre, households assigned to him) is his own.

    A district's reader sees every street of it, but one street's dashboard counts that street only
    (reports.district, the street dashboard of a campaign): the panels take this scope where they
    take a user, so every ``visible_to`` they call stays the one rule."""

    def __init__(self, scope, street):
        super().__init__(scope.user)
        self.outer = scope
        self.street = street

    def __repr__(self):
        return f"<StreetScope {getattr(self.user, 'pk', None)} {self.street.path}>"

    @property
    def district(self):
        return getattr(self.outer, "district", None)

    def _resolve_roles(self):
        return self.outer.roles

    def _resolve_cadre(self):
        return self.outer.cadre

    def _resolve_paths(self):
        top = self.street.path
        paths = self.outer.paths
        if paths is None:
            return (top,)
        return tuple(p for p in paths if p == top or p.startswith(top + "."))

    def _resolve_node_wide(self):
        return self.outer.node_wide

    def _resolve_assigned_households(self):
        return self.outer.assigned_households


def district_of(who):
    """The district a user (or Scope) reads, or None (street staff, superusers)."""
    return getattr(scope_of(who), "district", None)


def street_scope(who, street_id):
    """``who``'s scope narrowed to the street ``street_id`` when he reads a district (he sees more than
    that street); ``who`` itself otherwise, so a street's own staff and superusers read exactly as
    before (no query)."""
    scope = scope_of(who)
    if getattr(scope, "district", None) is None:
        return who
    return StreetScope(scope, Node.objects.get(pk=street_id))
