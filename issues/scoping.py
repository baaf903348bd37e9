"""Who sees which issues. The one place; ``Issue.objects.visible_to`` calls it.

- street admins, leaders and community secretaries: the issues of households under their node;
- department handlers: the issues routed to their department (and any assigned to them);
- cadres and grid workers: the issues of households they may see, and those they raised.
"""

from django.db.models import Q
from django.http import Http404

from households.models import subtree_q_any
from households.roles import CADRE, DEPARTMENT_HANDLER, NODE_WIDE_ROLES, user_roles
from households.scoping import scope_paths, user_cadre


def issues_visible_to(qs, user):
    paths = scope_paths(user)
    if paths is None:
        return qs
    if not user.is_authenticated or user_cadre(user) is None:
        # No active cadre, no issues: not even those once assigned to or raised by him.
        return qs.none()
    roles = user_roles(user)
    q = Q(assignee=user) | Q(level_person=user)
    if roles & set(NODE_WIDE_ROLES) or CADRE in roles:
        q |= subtree_q_any(paths)
    if CADRE in roles:
        q |= Q(raised_by=user)
        cadre = user_cadre(user)
        if cadre is not None:
            assignment_model = (
                qs.model._meta.get_field("household").related_model._meta.get_field("assignments").related_model
            )
            q |= Q(household__in=assignment_model.objects.filter(cadre=cadre).values("household_id"))
    if DEPARTMENT_HANDLER in roles:
        cadre = user_cadre(user)
        if cadre is not None and cadre.department_id:
            q |= Q(department_id=cadre.department_id)
    return qs.filter(q)


def get_issue_for_user(user, pk, *, queryset=None):
    """The issue if the user may see it; 404 otherwise (the same for missing and not yours)."""
    from .models import Issue

    qs = queryset if queryset is not None else Issue.objects.all()
    try:
        return qs.visible_to(user).get(pk=pk)
    except (Issue.DoesNotExist, ValueError, TypeError):
        raise Http404("没有找到该诉求") from None
