"""What the 民情地图 pages draw: compact, JSON-ready data over the households the user may see.

One query reads the household rows of the node (``Household.objects.visible_to(user)`` under it),
each with whether the current campaign has a counted visit of it (``Visit.counts``: what the targets
and the dashboard count) and its number of open issues; one more reads their focus groups; the
nodes, the focus groups' names and the campaign are a constant few more. Nothing is asked per
household or per building, so a community of 5,000 households is the same handful of queries
(bench/bench_maps.py).

The rows carry no name, ID number or phone: a room is its number only, drawn in full and linked
for every household here, since each is one the user may open (``reports.maps.rules``).

``rooms_data`` feeds the 楼栋图 (a building, or a community's buildings side by side): every
household as a list, in the order of ``ROOM_FIELDS``, the buildings as ``blocks``. ``plan_data``
feeds the 网格图: the buildings of a grid or a community with their counts, placed on the node's
plan image (``NodePlan`` / ``BuildingSpot``) or by their 经度 / 纬度.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Value
from django.urls import reverse

from households.models import BuildingSpot, FocusGroup, Household, NodeKind, NodePlan, subtree_q
from households.plans import plan_image_url
from issues.models import open_issue_count
from visitplan.models import Campaign
from visits.models import Visit

from .rooms import floor_of, natural_key
from .rules import mappable

# One household of the 楼栋图: [id, block index, unit index, floor or None, room, [focus group ids],
# visited this campaign (1/0), open issues].
ROOM_FIELDS = ("id", "block", "unit", "floor", "room", "tags", "visited", "issues")

# Metres per degree (WGS-84, near the ground): enough for placing a community's buildings on a drawing.
METRES_PER_DEGREE_LAT = 110_574
METRES_PER_DEGREE_LON = 111_320


def current_campaign(user, today):
    """The campaign the map colours by: the user's street's campaign of today (the one 我的包户,
    the household page and the visit form use, ``visits.views._campaign``), else None."""
    return Campaign.objects.visible_to(user).current(today)


def _visited(campaign):
    if campaign is None:
        return Value(False)
    return Exists(Visit.objects.counted().filter(campaign=campaign, household=OuterRef("pk")))


@dataclass
class Row:
    pk: int
    building_id: int | None
    grid_id: int
    unit: str
    room: str
    visited: bool
    issues: int
    tags: list


def household_rows(user, node, campaign) -> list[Row]:
    """The households under ``node`` that ``user`` may see: one query for the rows, one for their
    focus groups."""
    households = Household.objects.visible_to(user).filter(subtree_q(node.path))
    rows = (
        households.annotate(visited_now=_visited(campaign), open_issues=open_issue_count())
        .order_by()
        .values_list("pk", "building_id", "grid_id", "unit", "room", "visited_now", "open_issues")
    )
    tags = defaultdict(list)
    pairs = Household.tags.through.objects.filter(household__in=households.values("pk"))
    for household_id, group_id in pairs.order_by("focusgroup_id").values_list("household_id", "focusgroup_id"):
        tags[household_id].append(group_id)
    return [
        Row(pk, b, g, unit or "", room or "", bool(v), n or 0, tags.get(pk, [])) for pk, b, g, unit, room, v, n in rows
    ]


def _groups(rows) -> list[dict]:
    """The focus groups present among ``rows``, in the vocabulary's order, with their households."""
    counts = defaultdict(int)
    for r in rows:
        for g in r.tags:
            counts[g] += 1
    if not counts:
        return []
    return [
        {"id": g.pk, "name": g.name, "households": counts[g.pk]}
        for g in FocusGroup.objects.filter(pk__in=counts).order_by("order", "pk")
    ]


def _nodes_under(user, node):
    """The grids and buildings in the node's subtree that the user may map (one query)."""
    return list(
        mappable(user)
        .filter(subtree_q(node.path), kind__in=(NodeKind.GRID, NodeKind.BUILDING))
        .only("pk", "kind", "name", "parent_id", "path", "order", "longitude", "latitude")
    )


def _building_order(grids):
    def key(b):
        grid = grids.get(b.parent_id)
        return (grid.order if grid else 0, grid.path if grid else "", b.order, natural_key(b.name), b.pk)

    return key


def _household_url() -> str:
    """The household page's address with 0 for the id: the page swaps in each room's id."""
    return reverse("visits:household", args=[0])


def _counts(rows) -> dict:
    return {
        "households": len(rows),
        "visited": sum(1 for r in rows if r.visited),
        "focus": sum(1 for r in rows if r.tags),
        "issues": sum(r.issues for r in rows),
    }


def campaign_label(campaign) -> str:
    return str(campaign) if campaign is not None else ""


# ---------------------------------------------------------------------------------------- 楼栋图


def rooms_data(user, node, *, campaign, levels) -> dict:
    """The 楼栋图 of ``node`` (a building, or a community: its buildings side by side, and per grid
    the households in no building, "未分楼栋")."""
    rows = household_rows(user, node, campaign)
    nodes = _nodes_under(user, node)
    grids = {n.pk: n for n in nodes if n.kind == NodeKind.GRID}
    buildings = sorted((n for n in nodes if n.kind == NodeKind.BUILDING), key=_building_order(grids))
    by_block = defaultdict(list)
    for r in rows:
        by_block[r.building_id if r.building_id is not None else f"g{r.grid_id}"].append(r)
    blocks, keys = [], []
    for b in buildings:
        grid = grids.get(b.parent_id)
        blocks.append({"id": b.pk, "name": b.name, "grid": grid.name if grid else "",
                       "url": reverse("reports:map_building", args=[b.pk])})  # fmt: skip
        keys.append(b.pk)
    for grid in sorted(grids.values(), key=lambda g: (g.order, g.path)):
        if by_block.get(f"g{grid.pk}"):
            name = grid.name if levels.rural else f"{grid.name} · 未分{levels.building}"
            blocks.append({"id": None, "name": name, "grid": grid.name, "url": ""})
            keys.append(f"g{grid.pk}")
    rooms = []
    for index, (block, key) in enumerate(zip(blocks, keys)):
        members = by_block.get(key, [])
        units = sorted({r.unit for r in members}, key=natural_key)
        unit_index = {u: i for i, u in enumerate(units)}
        block["units"] = units
        block["households"] = len(members)
        members.sort(key=lambda r: (natural_key(r.unit), natural_key(r.room), r.pk))
        for r in members:
            rooms.append([r.pk, index, unit_index[r.unit], floor_of(r.room), r.room, r.tags, int(r.visited), r.issues])
    return {
        "fields": ROOM_FIELDS,
        "blocks": blocks,
        "rooms": rooms,
        "groups": _groups(rows),
        "campaign": campaign_label(campaign),
        "household_url": _household_url(),
        "totals": _counts(rows),
    }


# ---------------------------------------------------------------------------------------- 网格图


def plan_of(node):
    """The plan the node's buildings are placed on: its own, else (a grid) its community's; None."""
    ids = [node.pk] + ([node.parent_id] if node.kind == NodeKind.GRID and node.parent_id else [])
    plans = {p.node_id: p for p in NodePlan.objects.filter(node_id__in=ids).select_related("node")}
    return next((plans[i] for i in ids if i in plans), None)


def plan_upload_url(node) -> str:
    return reverse("households:plan_upload", args=[node.pk])


def _metres(buildings):
    """Equirectangular x / y in metres from the buildings' mean position (no tiles, no projection
    library): {building pk: (x east, y north)}; the map keeps the aspect."""
    placed = [b for b in buildings if b.longitude is not None and b.latitude is not None]
    if not placed:
        return {}
    lon0 = sum(float(b.longitude) for b in placed) / len(placed)
    lat0 = sum(float(b.latitude) for b in placed) / len(placed)
    k = math.cos(math.radians(lat0))
    return {
        b.pk: (
            round((float(b.longitude) - lon0) * METRES_PER_DEGREE_LON * k, 1),
            round((float(b.latitude) - lat0) * METRES_PER_DEGREE_LAT, 1),
        )
        for b in placed
    }


def _plan_json(plan, node) -> dict:
    return {
        "url": plan_image_url(plan),
        "width": plan.width,
        "height": plan.height,
        "node": plan.node.name,
        "own": plan.node_id == node.pk,  # else the community's plan, under a grid
    }


def plan_data(user, node, *, campaign) -> dict:
    """The 网格图 of ``node`` (a grid or a community): each building with its households, visited,
    focus households (in any group, and per group) and open issues, and its place: ``x`` / ``y`` as
    fractions of the plan from its top left (mode "plan"), or metres east / north (mode "coords");
    buildings without a place have none and are listed under the map."""
    rows = household_rows(user, node, campaign)
    nodes = _nodes_under(user, node)
    grids = {n.pk: n for n in nodes if n.kind == NodeKind.GRID}
    buildings = sorted((n for n in nodes if n.kind == NodeKind.BUILDING), key=_building_order(grids))
    by_building = defaultdict(list)
    loose = 0
    for r in rows:
        if r.building_id is None:
            loose += 1
        else:
            by_building[r.building_id].append(r)
    plan = plan_of(node)
    spots = {}
    if plan is not None:
        spots = {
            s.building_id: (s.x, s.y)
            for s in BuildingSpot.objects.filter(plan=plan, building__in=[b.pk for b in buildings]).only(
                "building_id", "x", "y"
            )
        }
    metres = _metres(buildings) if plan is None else {}
    mode = "plan" if plan is not None else ("coords" if metres else "none")
    places = spots if mode == "plan" else metres
    items = []
    for b in buildings:
        members = by_building.get(b.pk, [])
        per_group = defaultdict(int)
        for r in members:
            for g in r.tags:
                per_group[g] += 1
        x, y = places.get(b.pk, (None, None))
        grid = grids.get(b.parent_id)
        items.append({"id": b.pk, "name": b.name, "grid": grid.name if grid else "",
                      "url": reverse("reports:map_building", args=[b.pk]), **_counts(members),
                      "groups": dict(per_group), "x": x, "y": y})  # fmt: skip
    return {
        "mode": mode,
        "plan": _plan_json(plan, node) if plan is not None else None,
        "buildings": items,
        "groups": _groups(rows),
        "campaign": campaign_label(campaign),
        "loose": loose,
        "totals": _counts(rows),
    }
