"""The project's Scope (settings.SCOPE_CLASS): a user's roles, his active cadre, the subtree he sees.

- superusers see everything;
- street admins, leaders and community secretaries (NODE_WIDE_ROLES) see their cadre's node;
- grid workers and 两委 members (the CADRE role on a grid or building node) see that node;
- other cadres (street staff, departments) see no node, only the households assigned to them;
- no active cadre, or no role: nothing.

Everyone with a role and a cadre also sees the households assigned to him (包户到人), anywhere.
"""

from core.scope import Scope
from households.models import NodeKind
from households.roles import CADRE, NODE_WIDE_ROLES, group_names

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
        cadre, roles = self.cadre, self.roles
        if cadre is None or cadre.scope_id is None or not roles:
            return ()
        if roles & set(NODE_WIDE_ROLES):
            return (cadre.scope.path,)
        if CADRE in roles and cadre.scope.kind in (NodeKind.GRID, NodeKind.BUILDING):
            return (cadre.scope.path,)
        return ()

    def _resolve_node_wide(self):
        return bool(self.user.is_superuser or self.roles & set(NODE_WIDE_ROLES))

    def _resolve_assigned_households(self):
        if self.cadre is None or not self.roles:
            return None
        return Assignment.objects.filter(cadre=self.cadre).values("household_id")
