"""Who sees which households: the one place that turns a scope into a household filter.

A scope (core.scope.Scope, implemented by visitplan.scope.UserScope) says which subtrees the user
sees and which households are assigned to him; every ``visible_to`` takes a user or a Scope.
"""

from django.db.models import Q
from django.http import Http404

from core.scope import Scope, scope_of

from .models import Household, subtree_q_any


def user_cadre(who):
    """The user's active cadre, or None."""
    return scope_of(who).cadre


def scope_paths(who):
    """None means everything (superusers); otherwise the tuple of subtree paths the user may see."""
    return scope_of(who).paths


def is_node_wide(who) -> bool:
    return scope_of(who).node_wide


def households_visible_to(qs, who):
    scope: Scope = scope_of(who)
    if scope.everything:
        return qs
    q = subtree_q_any(scope.paths) if scope.paths else Q()
    if scope.assigned_households is not None:
        # Households assigned to me (包户到人) are mine to see even outside my node.
        q |= Q(pk__in=scope.assigned_households)
    if not q:
        return qs.none()
    return qs.filter(q)


def get_household_for_user(who, pk):
    """The household if the user may see it; 404 otherwise (the same for missing and not yours)."""
    try:
        return Household.objects.visible_to(who).get(pk=pk)
    except (Household.DoesNotExist, ValueError, TypeError):
        raise Http404("没有找到该户") from None
