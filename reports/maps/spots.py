"""调整位置: the street admin drags buildings onto the plan of a grid or a community; saved here.

The page posts JSON: ``{"spots": [{"building": id, "x": 0.42, "y": 0.17}, …]}`` — ``x`` and ``y``
the fractions of the plan's width and height from its top left corner (``BuildingSpot``). Each
building must be one under the node (and so on the plan, which is the node's or its community's);
every position lies on the plan (0–1). All rows or none are written, in one transaction; a
building placed before is moved (one row per building and plan).
"""

from __future__ import annotations

import json
import math

from django.db import transaction

from households.models import BuildingSpot, NodeKind

from .rules import mappable

MAX_SPOTS = 2000  # far more buildings than a community has: a larger body is not the page's


class SpotsError(ValueError):
    """What is wrong with the body, in Chinese, naming the item and the field."""


def parse_spots(text) -> list[tuple[int, float, float]]:
    """The (building id, x, y) of the body's JSON text; SpotsError when it is not one the page sends."""
    if not isinstance(text, str) or not text.strip() or "\x00" in text:
        raise SpotsError("没有收到楼栋位置")
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):
        raise SpotsError("楼栋位置的格式不正确") from None
    items = payload.get("spots") if isinstance(payload, dict) else payload
    if not isinstance(items, list):
        raise SpotsError("楼栋位置的格式不正确：应为楼栋及其位置的列表")
    if not items:
        raise SpotsError("没有要保存的楼栋位置")
    if len(items) > MAX_SPOTS:
        raise SpotsError(f"一次最多保存 {MAX_SPOTS} 个楼栋的位置")
    spots, seen = [], set()
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise SpotsError(f"第 {number} 项：格式不正确")
        building = item.get("building")
        if isinstance(building, bool) or not isinstance(building, int) or not 1 <= building < 2**63:
            raise SpotsError(f"第 {number} 项：楼栋编号不正确")
        if building in seen:
            raise SpotsError(f"第 {number} 项：楼栋 #{building} 重复")
        seen.add(building)
        values = []
        for field, label in (("x", "横向位置"), ("y", "纵向位置")):
            value = item.get(field)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise SpotsError(f"第 {number} 项：{label}不是数字")
            if not 0 <= value <= 1:
                raise SpotsError(f"第 {number} 项：{label}超出平面图（应在 0 到 1 之间）")
            values.append(float(value))
        spots.append((building, *values))
    return spots


def save_spots(user, node, plan, spots) -> int:
    """Write the spots on ``plan`` (the plan the node's map shows) for buildings under ``node`` that
    ``user`` may map; SpotsError (nothing written) when one is not. Returns the number written."""
    wanted = [pk for pk, _x, _y in spots]
    found = {
        b.pk: b
        for b in mappable(user).under(node).filter(kind=NodeKind.BUILDING, pk__in=wanted).only("pk", "name", "path")
    }
    for number, pk in enumerate(wanted, start=1):
        if pk not in found:
            raise SpotsError(f"第 {number} 项：楼栋 #{pk} 不在{node.name}内")
    rows = [BuildingSpot(plan=plan, building_id=pk, x=x, y=y) for pk, x, y in spots]
    with transaction.atomic():
        BuildingSpot.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["plan", "building"], update_fields=["x", "y"]
        )
    return len(rows)
