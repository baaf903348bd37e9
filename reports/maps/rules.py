"""Who may read the 民情地图 and who may place buildings on a plan; the nodes a user may map.

- the 楼栋图 of a building and the 网格图 of a grid: the street admin, leaders and secretaries of
  the node, and grid workers (the 干部/网格员 role on a grid or a building) of their own node: a
  node outside the user's subtree answers 404, as a missing one (``Node.objects.visible_to`` with
  ``ancestors=False``: a grid worker sees his grid, not his community);
- the 楼栋图 of a whole community: the node-wide roles (street admin, leader, secretary);
- 调整位置 (placing buildings on a plan): the street admin of the node's whole street.

The households drawn are ``Household.objects.visible_to(user)`` under the node: exactly those whose
page (``visits:household``) the user may open, so every room is shown with its number in full and
linked (``households.masking.may_see_address`` says the same of each of them).
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import reverse

from core.scope import scope_of
from households.models import Node, NodeKind
from households.plans import may_manage_plans
from households.roles import CADRE, LEADER, SECRETARY, STREET_ADMIN

MAP_ROLES = frozenset({STREET_ADMIN, LEADER, SECRETARY, CADRE})
WIDE_ROLES = frozenset({STREET_ADMIN, LEADER, SECRETARY})

NOT_A_READER = "民情地图供街道、社区和网格的工作人员查看"
NOT_WIDE = "社区楼栋图供街道管理员、领导和社区书记查看"
NOT_A_PLACER = "只有本街道的街道管理员可以调整楼栋在平面图上的位置"

NOT_FOUND = {
    NodeKind.BUILDING: "没有找到该楼栋",
    NodeKind.GRID: "没有找到该网格",
    NodeKind.COMMUNITY: "没有找到该社区",
}


def _active(user) -> bool:
    return bool(user.is_authenticated and user.is_active)


def may_read_maps(user) -> bool:
    return _active(user) and (user.is_superuser or bool(scope_of(user).roles & MAP_ROLES))


def may_read_community(user) -> bool:
    return _active(user) and (user.is_superuser or bool(scope_of(user).roles & WIDE_ROLES))


def may_place(user, node=None) -> bool:
    """调整位置: whoever manages the node's plan (``households.plans.may_manage_plans``: the street
    admin of the node's whole street); without ``node``: whether the user may place buildings at all."""
    return may_manage_plans(user, node)


def require_reader(user, *, community=False):
    if not (may_read_community(user) if community else may_read_maps(user)):
        raise PermissionDenied(NOT_WIDE if community else NOT_A_READER)


def mappable(user):
    """The nodes whose maps ``user`` may open: his subtree, without the nodes above it."""
    return Node.objects.visible_to(user, ancestors=False)


def node_for(user, pk, kinds) -> Node:
    """The node ``pk`` of one of ``kinds`` in the user's subtree; 404 otherwise (missing or not his)."""
    node = mappable(user).filter(pk=pk, kind__in=kinds).first()
    if node is None:
        raise Http404(NOT_FOUND.get(kinds[0], "没有找到该节点"))
    return node


def map_url(node, *, wide: bool) -> str:
    """The map page of ``node``: a building's 楼栋图, a grid's 网格图, a community's 楼栋图 (node-wide
    readers) or 网格图."""
    if node.kind == NodeKind.BUILDING:
        return reverse("reports:map_building", args=[node.pk])
    if node.kind == NodeKind.COMMUNITY and wide:
        return reverse("reports:map_community", args=[node.pk])
    if node.kind in (NodeKind.GRID, NodeKind.COMMUNITY):
        return reverse("reports:map_grid", args=[node.pk])
    return ""


def home_map(user, community_id=None) -> str:
    """Where the 民情地图 link of the user's pages leads: his own node's map (a grid worker's grid, a
    secretary's community), for a street-wide reader the chosen community's or the first one's;
    "" for a user who may not read maps or has no node."""
    if not may_read_maps(user):
        return ""
    wide = may_read_community(user)
    nodes = mappable(user)
    if community_id is not None:
        chosen = nodes.filter(pk=community_id, kind=NodeKind.COMMUNITY).first()
        if chosen is not None:
            return map_url(chosen, wide=wide)
    paths = scope_of(user).paths
    top = nodes.order_by("path").first() if paths is None else nodes.filter(path__in=paths).order_by("path").first()
    if top is not None and top.kind == NodeKind.STREET:
        top = nodes.filter(kind=NodeKind.COMMUNITY, parent=top).order_by("order", "path").first()
    return map_url(top, wide=wide) if top is not None else ""


def crumbs(user, node) -> list[tuple[str, str]]:
    """(name, url or "") of the node's community and grid and the node itself: a link where the
    user may open that map, plain text where he may not (a grid worker's community)."""
    chain = [n for n in node.ancestors() if n.kind in (NodeKind.COMMUNITY, NodeKind.GRID)] + [node]
    mine = set(mappable(user).filter(pk__in=[n.pk for n in chain]).values_list("pk", flat=True))
    wide = may_read_community(user)
    return [(n.name, map_url(n, wide=wide) if n.pk in mine and n.pk != node.pk else "") for n in chain]
