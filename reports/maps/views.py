"""民情地图's pages: the 楼栋图 of a building and of a community, the 网格图 of a grid or a community,
and the POST that saves the buildings' places on a plan.

Views stay thin: who may read and place is ``reports.maps.rules``, the data ``reports.maps.data``
(drawn by static/js/map.js and map-plan.js from the page's json_script), saving ``reports.maps.spots``.
Nodes come from ``Node.objects.visible_to`` (another grid's building is a 404, as a missing one),
households from ``Household.objects.visible_to``.
"""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.params import choice_param, int_param
from households.levels import for_node as levels_for_node
from households.models import NodeKind

from . import data, rules, spots

COLOUR_BY = (("focus", "重点人群"), ("visited", "本次活动走访"), ("issues", "未办结诉求"))


def _colouring(request, groups):
    """(by, group) of the query string: the measure the rooms are coloured by and, for 重点人群,
    the focus group ("" for any group; a group absent from the page counts as any)."""
    by = choice_param(request, "by", COLOUR_BY, default="focus")
    group = int_param(request, "group")
    return by, group if group is not None and any(g["id"] == group for g in groups) else ""


def _context(request, node, payload, levels, **extra):
    by, group = _colouring(request, payload["groups"])
    return {
        "node": node,
        "map": payload,
        "crumbs": rules.crumbs(request.user, node),
        "colour_by": COLOUR_BY,
        "by": by,
        "group": group,
        "levels": levels,
        **extra,
    }


@login_required
def building_map(request, pk):
    """楼栋图: one building as its units × floors × rooms, each room a link to the household."""
    user = request.user
    rules.require_reader(user)
    building = rules.node_for(user, pk, (NodeKind.BUILDING,))
    campaign = data.current_campaign(user, timezone.localdate())
    levels = levels_for_node(building)
    payload = data.rooms_data(user, building, campaign=campaign, levels=levels)
    grid = rules.mappable(user).filter(pk=building.parent_id).first()
    context = _context(request, building, payload, levels, campaign=campaign, grid=grid)
    return render(request, "reports/maps/building.html", context)


@login_required
def community_map(request, pk):
    """A community's 楼栋图: its buildings side by side, each with its counts."""
    user = request.user
    rules.require_reader(user, community=True)
    community = rules.node_for(user, pk, (NodeKind.COMMUNITY,))
    campaign = data.current_campaign(user, timezone.localdate())
    levels = levels_for_node(community)
    payload = data.rooms_data(user, community, campaign=campaign, levels=levels)
    nodes = rules.mappable(user)
    others = list(nodes.filter(kind=NodeKind.COMMUNITY).order_by("order", "path").only("pk", "name"))
    grids = list(nodes.filter(kind=NodeKind.GRID, parent=community).order_by("order", "path").only("pk", "name"))
    context = _context(request, community, payload, levels, campaign=campaign, communities=others, grids=grids)
    return render(request, "reports/maps/community.html", context)


@login_required
def grid_map(request, pk):
    """网格图: a grid's or a community's buildings on its plan image, or by their 经度 / 纬度."""
    user = request.user
    rules.require_reader(user)
    node = rules.node_for(user, pk, (NodeKind.GRID, NodeKind.COMMUNITY))
    campaign = data.current_campaign(user, timezone.localdate())
    payload = data.plan_data(user, node, campaign=campaign)
    may_place = rules.may_place(user, node)
    wide = rules.may_read_community(user)
    nodes = rules.mappable(user)
    community = node if node.kind == NodeKind.COMMUNITY else nodes.filter(pk=node.parent_id).first()
    grids = list(nodes.filter(kind=NodeKind.GRID, parent=community).order_by("order", "path")) if community else []
    return render(
        request,
        "reports/maps/grid.html",
        _context(
            request,
            node,
            payload,
            levels_for_node(node),
            campaign=campaign,
            may_place=may_place and payload["mode"] == "plan",
            upload_url=data.plan_upload_url(node) if may_place else "",
            community=community,
            community_url=rules.map_url(community, wide=wide) if community is not None and wide else "",
            grids=grids,
            unplaced=[b for b in payload["buildings"] if b["x"] is None],
            buildings_url=rules.map_url(node, wide=True) if node.kind == NodeKind.COMMUNITY and wide else "",
        ),
    )


@login_required
@require_POST
def save_spots(request, pk):
    """保存位置: the buildings' places on the plan of a grid or a community, as JSON (the page's
    fetch) or as the form field ``spots`` holding the same JSON; answers JSON with a message."""
    user = request.user
    if not rules.may_place(user):
        raise PermissionDenied(rules.NOT_A_PLACER)
    node = rules.node_for(user, pk, (NodeKind.GRID, NodeKind.COMMUNITY))
    if not rules.may_place(user, node):
        raise PermissionDenied(rules.NOT_A_PLACER)
    plan = data.plan_of(node)
    if plan is None:
        return JsonResponse({"ok": False, "message": f"{node.name}还没有平面图：请先上传平面图"}, status=400)
    if request.content_type == "application/json":
        text = request.body.decode("utf-8", "replace")
    else:
        text = request.POST.get("spots", "")
    try:
        saved = spots.save_spots(user, node, plan, spots.parse_spots(text))
    except spots.SpotsError as exc:
        return JsonResponse({"ok": False, "message": f"未保存：{exc}"}, status=400)
    return JsonResponse({"ok": True, "saved": saved, "message": f"已保存 {saved} 个楼栋的位置"})
