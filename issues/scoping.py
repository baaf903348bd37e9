"""Who sees which issues. The one place; ``Issue.objects.visible_to`` calls it.

- street admins, leaders and community secretaries: the issues of households under their node;
- district leaders and admins: those of every street of their district;
- department handlers: the issues routed to their department (and any assigned to them);
- cadres and grid workers: the issues of households they may see, and those they raised.
"""

from django.db.models import Q
from django.http import Http404

from core.scope import scope_of
from households.models import subtree_q_any
from households.roles import CADRE, DEPARTMENT_HANDLER


def issues_visible_to(qs, who):
    scope = scope_of(who)
    if scope.everything:
        return qs
    user = scope.user
    if not user.is_authenticated or (scope.cadre is None and not (scope.node_wide and scope.paths)):
        # No active cadre, no issues: not even those once assigned to or raised by him. (A district's
        # reader has no cadre: he sees the issues of his streets, node-wide.)
        return qs.none()
    roles = scope.roles
    q = Q(assignee=user) | Q(level_person=user)
    if scope.node_wide or CADRE in roles:  # node_wide: NODE_WIDE_ROLES, or a district's reader
        q |= subtree_q_any(scope.paths)
    if CADRE in roles:
        q |= Q(raised_by=user)
        if scope.assigned_households is not None:
            q |= Q(household__in=scope.assigned_households)
    if DEPARTMENT_HANDLER in roles and scope.department_id:
        q |= Q(department_id=scope.department_id)
    return qs.filter(q)


def get_issue_for_user(who, pk, *, queryset=None):
    """The issue if the user may see it; 404 otherwise (the same for missing and not yours)."""
    from .models import Issue

    qs = queryset if queryset is not None else Issue.objects.all()
    try:
        return qs.visible_to(who).get(pk=pk)
    except (Issue.DoesNotExist, ValueError, TypeError):
        raise Http404("没有找到该诉求") from None
