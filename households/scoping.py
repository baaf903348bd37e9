"""Who sees which part of the tree: derived from the user's cadre scope node and role.

The one place that turns a user into a scope; every ``visible_to`` calls it.
"""

from django.db.models import Q
from django.http import Http404

from .models import Household, NodeKind, subtree_q
from .roles import CADRE, NODE_WIDE_ROLES, user_roles


def user_cadre(user):
    if not user.is_authenticated:
        return None
    try:
        cadre = user.cadre
    except Exception:  # RelatedObjectDoesNotExist, or visitplan not installed
        return None
    return cadre if cadre.active else None


def scope_paths(user):
    """None means everything (superusers); otherwise the list of subtree paths the user may see."""
    if not user.is_authenticated or not user.is_active:
        return []
    if user.is_superuser:
        return None
    cadre = user_cadre(user)
    roles = user_roles(user)
    if cadre is None or cadre.scope_id is None or not roles:
        return []
    if roles & set(NODE_WIDE_ROLES):
        return [cadre.scope.path]
    if CADRE in roles and cadre.scope.kind in (NodeKind.GRID, NodeKind.BUILDING):
        # Grid workers and 两委 members see their grid or building; other cadres
        # (street staff, departments) see only the households assigned to them.
        return [cadre.scope.path]
    return []


def is_node_wide(user):
    return user.is_superuser or bool(user_roles(user) & set(NODE_WIDE_ROLES))


def households_visible_to(qs, user):
    paths = scope_paths(user)
    if paths is None:
        return qs
    q = Q()
    for path in paths:
        q |= subtree_q(path)
    cadre = user_cadre(user)
    if cadre is not None and user_roles(user):
        # Households assigned to me (包户到人) are mine to see even outside my node.
        assignment_model = qs.model._meta.get_field("assignments").related_model
        q |= Q(pk__in=assignment_model.objects.filter(cadre=cadre).values("household_id"))
    if not q:
        return qs.none()
    return qs.filter(q)


def get_household_for_user(user, pk):
    """The household if the user may see it; 404 otherwise (the same for missing and not yours)."""
    try:
        return Household.objects.visible_to(user).get(pk=pk)
    except (Household.DoesNotExist, ValueError, TypeError):
        raise Http404("没有找到该户") from None
