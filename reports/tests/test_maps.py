"""民情地图 (reports/maps): the floor parser, the data of the 楼栋图 and the 网格图 (one query for the
rows, the colouring fields, no personal data), the scoping of the pages and the 保存位置 POST.

The world (``mapw``): the small street's 湖田社区 with 1号楼 (grid A: two units, floors 1–15 and a
basement) and 2号楼 (grid A), 3号楼 in grid B, a household of grid B in no building, and 南纬社区's
grid C; visits of the current campaign (counted and not), of an older campaign, issues open and
closed, focus groups.
"""

import datetime
import json
import re
import uuid

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from households.levels import URBAN
from households.masking import may_see_address
from households.models import BuildingSpot, FocusGroup, Household, Member, Node, NodeKind, NodePlan
from households.roles import STREET_ADMIN
from issues.models import Status
from issues.tests.factories import make_issue
from reports.maps import data as map_data
from reports.maps.rooms import floor_of, natural_key
from reports.maps.spots import SpotsError, parse_spots
from tests.support.images import png_bytes
from tests.support.world import make_user, valid_id
from visitplan.models import Campaign, Tier
from visits.models import Purpose, Visit

D = datetime.date


# ------------------------------------------------------------------------------------------------ floors


@pytest.mark.parametrize(
    "room, floor",
    [
        ("302", 3), ("101", 1), ("1502", 15), ("0302", 3), ("2601", 26), ("100", 1),
        ("302室", 3), ("302 室", 3), ("３０２", 3), ("A302", 3), ("302A", 3), ("301-1", 3),
        ("2-1-302", 3), ("2－1－1502", 15), ("1单元502", 5), ("3号楼2单元1201", 12), ("2号楼1单元302室", 3),
        ("1楼2单元301", 3),  # 1楼 as a building, the room number decides
        ("5层", 5), ("5楼", 5), ("5F", 5), ("十二层", 12), ("三楼", 3), ("5楼01", 5),
        ("B101", -1), ("B1", -1), ("B201", -2), ("B2-05", -2), ("-101", -1), ("-1", -1),
        ("负一层", -1), ("负2层", -2), ("地下一层", -1), ("地下2层", -2), ("地下室", -1),
        ("12号", None), ("108号", None), ("幸福巷12号", None), ("张家村15号", None), ("12", None), ("1", None),
        ("", None), ("   ", None), ("平房", None), ("001", None), ("10101", None), ("1号楼", None),
    ],
)  # fmt: skip
def test_the_floor_of_a_room_number(room, floor):
    assert floor_of(room) == floor


def test_floor_of_takes_anything():
    assert floor_of(None) is None
    assert floor_of(302) is None  # the register keeps text


def test_units_and_rooms_sort_as_numbers():
    assert sorted(["10单元", "2单元", "1单元", ""], key=natural_key) == ["", "1单元", "2单元", "10单元"]
    assert sorted(["1001", "302", "B101", "12号"], key=natural_key) == ["12号", "302", "1001", "B101"]


# ------------------------------------------------------------------------------------------------ the world


def _household(grid, building, unit, room, serial, name=None):
    community = grid.parent
    return Household.objects.create(
        street=community.parent, community=community, grid=grid, building=building, unit=unit, room=room,
        head_name=name or f"住户{serial}", id_number=valid_id(serial), phone=f"1390000{serial:04d}", size=2,
    )  # fmt: skip


def _visit(w, household, user, *, campaign=None, method="in_person", purpose=Purpose.VISIT):
    visit = Visit.objects.create(
        campaign=campaign or w.campaign, household=household, cadre=user.cadre, purpose=purpose, method=method,
        visited_on=D(2026, 10, 12), started_at=datetime.time(9, 0), ended_at=datetime.time(9, 40),
        duration_minutes=40, key=uuid.uuid4(), created_by=user,
    )  # fmt: skip
    return visit


@pytest.fixture
def mapw(vw, settings, tmp_path):
    w = vw
    settings.MEDIA_ROOT = tmp_path / "media"
    w.elder, _ = FocusGroup.objects.get_or_create(name="孤寡老人")
    w.member, _ = FocusGroup.objects.get_or_create(name="老党员")
    w.b1 = w.ha.building
    w.ha.unit, w.ha.room = "1单元", "101"
    w.ha.save()
    w.h302 = _household(w.grid_a, w.b1, "1单元", "302", 11, "陈三零二")
    w.h1502 = _household(w.grid_a, w.b1, "2单元", "1502", 12, "周一五")
    w.hb101 = _household(w.grid_a, w.b1, "2单元", "B101", 13, "吴地下")
    w.b2 = Node.objects.create(kind=NodeKind.BUILDING, name="2号楼", parent=w.grid_a, order=2)
    w.h2 = _household(w.grid_a, w.b2, "", "201", 14, "郑二零一")
    w.b3 = Node.objects.create(kind=NodeKind.BUILDING, name="3号楼", parent=w.grid_b, order=3)
    w.h3 = _household(w.grid_b, w.b3, "1单元", "402", 15, "冯四零二")
    w.hb.room = "幸福巷12号"  # grid B, no building: a lane house
    w.hb.save()
    w.h302.tags.add(w.elder, w.member)
    w.h1502.tags.add(w.member)
    w.h3.tags.add(w.elder)
    Member.objects.create(household=w.h302, name="陈小妹", relation="女", id_number=valid_id(61))

    w.old = Campaign.objects.create(year=2025, name="2025年走访", street=w.street)
    w.visits = [
        _visit(w, w.h302, w.worker_a),  # counted, this campaign: visited
        _visit(w, w.h1502, w.worker_a, method="not_home"),  # 未遇: not counted
        _visit(w, w.hb101, w.worker_a, campaign=w.old),  # counted, but another campaign
        _visit(w, w.h2, w.worker_a, purpose=Purpose.FOLLOW_UP, method="phone"),  # 回头看: not a visit
        _visit(w, w.h3, w.worker_b),  # counted
    ]
    make_issue(w.h302, status=Status.REGISTERED)
    make_issue(w.h302, status=Status.ROUTED, department=w.dept)
    make_issue(w.h302, status=Status.CLOSED, department=w.dept)
    make_issue(w.h1502, status=Status.CLOSED, department=w.dept)
    make_issue(w.h3, status=Status.IN_PROGRESS, department=w.dept)
    return w


def _plan(node, width=800, height=600):
    plan = NodePlan(node=node, content_type="image/png", width=width, height=height)
    plan.image.save("plan.png", ContentFile(png_bytes(8, 6)), save=False)
    plan.save()
    return plan


def _rooms(payload):
    fields = payload["fields"]
    return {r[0]: dict(zip(fields, r)) for r in payload["rooms"]}


def _campaign(w, user):
    return map_data.current_campaign(user, D(2026, 11, 20))


# ------------------------------------------------------------------------------------------------ the data


def test_the_building_data_colours_each_room(mapw):
    w = mapw
    campaign = _campaign(w, w.admin)
    assert campaign == w.campaign
    assert [v.counts for v in w.visits] == [True, False, True, False, True]  # what Visit.counts says of each
    payload = map_data.rooms_data(w.admin, w.b1, campaign=campaign, levels=URBAN)
    rooms = _rooms(payload)
    assert set(rooms) == {w.ha.pk, w.h302.pk, w.h1502.pk, w.hb101.pk}
    assert [b["name"] for b in payload["blocks"]] == ["1号楼"]
    assert payload["blocks"][0]["units"] == ["1单元", "2单元"]
    assert {pk: r["floor"] for pk, r in rooms.items()} == {w.ha.pk: 1, w.h302.pk: 3, w.h1502.pk: 15, w.hb101.pk: -1}
    # Visited: only a counted visit of the current campaign.
    assert {pk: r["visited"] for pk, r in rooms.items()} == {w.ha.pk: 0, w.h302.pk: 1, w.h1502.pk: 0, w.hb101.pk: 0}
    # Open issues: 待审核 and 已交办 count, 已销号 does not.
    assert {pk: r["issues"] for pk, r in rooms.items()} == {w.ha.pk: 0, w.h302.pk: 2, w.h1502.pk: 0, w.hb101.pk: 0}
    assert sorted(rooms[w.h302.pk]["tags"]) == sorted([w.elder.pk, w.member.pk])
    assert rooms[w.h1502.pk]["tags"] == [w.member.pk]
    assert rooms[w.h1502.pk]["unit"] == 1 and rooms[w.ha.pk]["unit"] == 0
    assert rooms[w.hb101.pk]["room"] == "B101"
    assert {g["name"]: g["households"] for g in payload["groups"]} == {"孤寡老人": 1, "老党员": 2}
    assert payload["totals"] == {"households": 4, "visited": 1, "focus": 2, "issues": 2}
    assert payload["household_url"] == reverse("visits:household", args=[0])


def test_without_a_campaign_nobody_is_visited(mapw):
    w = mapw
    payload = map_data.rooms_data(w.admin, w.b1, campaign=None, levels=URBAN)
    assert {r[6] for r in payload["rooms"]} == {0}
    assert payload["campaign"] == ""


def test_the_community_data_puts_the_buildings_side_by_side(mapw):
    w = mapw
    payload = map_data.rooms_data(w.admin, w.c1, campaign=w.campaign, levels=URBAN)
    names = [b["name"] for b in payload["blocks"]]
    assert names == ["1号楼", "2号楼", "3号楼", "第2网格 · 未分楼栋"]
    assert [b["households"] for b in payload["blocks"]] == [4, 1, 1, 1]
    lane = _rooms(payload)[w.hb.pk]
    assert lane["floor"] is None and lane["room"] == "幸福巷12号" and payload["blocks"][lane["block"]]["url"] == ""
    assert payload["blocks"][0]["url"] == reverse("reports:map_building", args=[w.b1.pk])
    assert payload["totals"] == {"households": 7, "visited": 2, "focus": 3, "issues": 3}


def _rows_queries(queries):
    return [q["sql"] for q in queries if re.match(r'SELECT "households_household"\."id"', q["sql"])]


def test_one_query_for_the_rows_whatever_the_size(mapw):
    """The rows are one query (the focus groups one more), and a community ten times larger asks the
    same number of queries."""
    w = mapw
    map_data.rooms_data(w.admin, w.c1, campaign=w.campaign, levels=URBAN)  # the user's scope, read once per user
    with CaptureQueriesContext(connection) as small:
        map_data.rooms_data(w.admin, w.c1, campaign=w.campaign, levels=URBAN)
    for i in range(60):
        building = w.b1 if i % 2 else w.b3
        h = _household(building.parent, building, f"{i % 3 + 1}单元", f"{i // 4 + 20}0{i % 4 + 1}", 100 + i)
        h.tags.add(w.elder)
        if i % 5 == 0:
            _visit(w, h, w.worker_a)
            make_issue(h, status=Status.REGISTERED)
    with CaptureQueriesContext(connection) as large:
        payload = map_data.rooms_data(w.admin, w.c1, campaign=w.campaign, levels=URBAN)
    assert len(payload["rooms"]) == 67
    assert len(large.captured_queries) == len(small.captured_queries) <= 6, [q["sql"] for q in large.captured_queries]
    assert len(_rows_queries(large.captured_queries)) == 1
    with CaptureQueriesContext(connection) as grid:
        map_data.plan_data(w.admin, w.c1, campaign=w.campaign)
    assert len(grid.captured_queries) <= 7 and len(_rows_queries(grid.captured_queries)) == 1


def _map_json(response):
    match = re.search(r'<script id="map-data" type="application/json">(.*?)</script>', response.content.decode())
    assert match, "no map data in the page"
    return match[1]


def test_no_personal_data_in_the_maps(mapw, client):
    """The rooms are labelled by their numbers: no name, ID number or phone in the pages or their JSON."""
    w = mapw
    client.force_login(w.admin)
    households = Household.objects.filter(community=w.c1)
    secrets = [s for h in households for s in (h.head_name, h.id_number, h.phone)] + [
        s for m in Member.objects.all() for s in (m.name, m.id_number)
    ]
    for url in (reverse("reports:map_building", args=[w.b1.pk]), reverse("reports:map_community", args=[w.c1.pk]),
                reverse("reports:map_grid", args=[w.c1.pk]), reverse("reports:map_grid", args=[w.grid_a.pk])):  # fmt: skip
        response = client.get(url)
        assert response.status_code == 200, url
        text = response.content.decode()
        leaked = [s for s in secrets if s and s in text]
        assert not leaked, f"{url}: {leaked}"
        assert "1502" in _map_json(response) or "map/grid" in url


def test_every_room_drawn_is_one_the_user_may_open(mapw):
    """The map shows the door numbers in full: each of its households is one whose page the user may
    open (households.masking.may_see_address), for a grid worker as for the street admin."""
    w = mapw
    for user, node in ((w.worker_a, w.grid_a), (w.secretary, w.c1), (w.admin, w.c1)):
        payload = map_data.rooms_data(user, node, campaign=w.campaign, levels=URBAN)
        pks = [r[0] for r in payload["rooms"]]
        assert pks
        assert all(may_see_address(user, Household.objects.get(pk=pk)) for pk in pks)


# ------------------------------------------------------------------------------------------------ the pages


def test_a_grid_worker_sees_his_grid_only(mapw, client):
    w = mapw
    client.force_login(w.worker_a)
    assert client.get(reverse("reports:map_building", args=[w.b1.pk])).status_code == 200
    assert client.get(reverse("reports:map_grid", args=[w.grid_a.pk])).status_code == 200
    # Another grid's building and grid: 404, as a missing one; a community's 楼栋图 is not his.
    assert client.get(reverse("reports:map_building", args=[w.b3.pk])).status_code == 404
    assert client.get(reverse("reports:map_building", args=[987654321])).status_code == 404
    assert client.get(reverse("reports:map_grid", args=[w.grid_b.pk])).status_code == 404
    assert client.get(reverse("reports:map_grid", args=[w.c1.pk])).status_code == 404
    assert client.get(reverse("reports:map_community", args=[w.c1.pk])).status_code == 403
    page = client.get(reverse("reports:map_grid", args=[w.grid_a.pk])).content.decode()
    assert "3号楼" not in page and "1号楼" in page


def test_a_secretary_sees_his_community_only(mapw, client):
    w = mapw
    client.force_login(w.secretary)
    response = client.get(reverse("reports:map_community", args=[w.c1.pk]))
    assert response.status_code == 200
    names = [b["name"] for b in json.loads(_map_json(response))["blocks"]]
    assert names == ["1号楼", "2号楼", "3号楼", "第2网格 · 未分楼栋"]
    assert client.get(reverse("reports:map_community", args=[w.c2.pk])).status_code == 404
    assert client.get(reverse("reports:map_grid", args=[w.grid_c.pk])).status_code == 404


def test_the_department_handler_has_no_map(mapw, client):
    w = mapw
    client.force_login(w.handler)
    assert client.get(reverse("reports:map_grid", args=[w.grid_c.pk])).status_code == 403
    assert client.get(reverse("reports:map_building", args=[w.b1.pk])).status_code == 403


def test_the_colour_by_parameters(mapw, client):
    w = mapw
    client.force_login(w.admin)
    url = reverse("reports:map_building", args=[w.b1.pk])
    page = client.get(url, {"by": "issues"}).content.decode()
    assert 'value="issues" checked' in page
    page = client.get(url, {"by": "focus", "group": w.member.pk}).content.decode()
    assert f'<option value="{w.member.pk}" selected>' in page
    page = client.get(url, {"by": "junk", "group": "99999999999999999999"}).content.decode()
    assert 'value="focus" checked' in page and "selected>" not in page


def test_the_links_to_the_map(mapw, client):
    w = mapw
    client.force_login(w.worker_a)
    page = client.get(reverse("visits:mine")).content.decode()
    assert f'href="{reverse("reports:map_grid", args=[w.grid_a.pk])}">民情地图' in page
    client.force_login(w.secretary)
    page = client.get(reverse("reports:dashboard")).content.decode()
    assert f'href="{reverse("reports:map_community", args=[w.c1.pk])}">民情地图' in page
    client.force_login(w.admin)
    page = client.get(reverse("reports:dashboard"), {"community": w.c2.pk}).content.decode()
    assert f'href="{reverse("reports:map_community", args=[w.c2.pk])}">民情地图' in page
    client.force_login(w.handler)
    assert "民情地图" not in client.get(reverse("visits:mine")).content.decode()


# ------------------------------------------------------------------------------------------------ 网格图


def test_the_grid_map_places_the_buildings_on_the_plan(mapw):
    w = mapw
    plan = _plan(w.grid_a)
    BuildingSpot.objects.create(plan=plan, building=w.b1, x=0.25, y=0.5)
    payload = map_data.plan_data(w.admin, w.grid_a, campaign=w.campaign)
    assert payload["mode"] == "plan"
    assert payload["plan"]["width"] == 800 and payload["plan"]["url"].startswith(
        reverse("households:plan_image", args=[w.grid_a.pk])
    )
    by_name = {b["name"]: b for b in payload["buildings"]}
    assert set(by_name) == {"1号楼", "2号楼"}
    assert (by_name["1号楼"]["x"], by_name["1号楼"]["y"]) == (0.25, 0.5)
    assert by_name["2号楼"]["x"] is None  # listed under the map, "未标注位置的楼栋"
    one = by_name["1号楼"]
    assert (one["households"], one["visited"], one["focus"], one["issues"]) == (4, 1, 2, 2)
    assert one["groups"] == {w.elder.pk: 1, w.member.pk: 2}


def test_a_grid_without_a_plan_of_its_own_is_drawn_on_its_communitys(mapw):
    w = mapw
    plan = _plan(w.c1)
    BuildingSpot.objects.create(plan=plan, building=w.b3, x=0.7, y=0.2)
    payload = map_data.plan_data(w.admin, w.grid_b, campaign=w.campaign)
    assert payload["mode"] == "plan" and payload["plan"]["own"] is False and payload["plan"]["node"] == "湖田社区"
    assert [(b["name"], b["x"], b["y"]) for b in payload["buildings"]] == [("3号楼", 0.7, 0.2)]
    assert payload["loose"] == 1  # the lane house in no building


def test_the_grid_map_by_longitude_and_latitude(mapw):
    w = mapw
    Node.objects.filter(pk=w.b1.pk).update(longitude="120.380000", latitude="36.070000")
    Node.objects.filter(pk=w.b2.pk).update(longitude="120.381000", latitude="36.070500")
    payload = map_data.plan_data(w.admin, w.grid_a, campaign=w.campaign)
    assert payload["mode"] == "coords" and payload["plan"] is None
    one, two = payload["buildings"]
    # Equirectangular metres from the centre: 0.001° of longitude at 36° N is about 90 m, 0.0005° of latitude 55 m.
    assert round(two["x"] - one["x"]) in range(88, 92) and round(two["y"] - one["y"]) in range(54, 57)
    assert one["x"] < 0 < two["x"] and one["y"] < 0 < two["y"]


def test_a_grid_map_without_positions_says_how_to_place_them(mapw, client):
    w = mapw
    client.force_login(w.admin)
    page = client.get(reverse("reports:map_grid", args=[w.grid_a.pk])).content.decode()
    assert "还没有位置" in page and "经度" in page
    assert reverse("households:plan_upload", args=[w.grid_a.pk]) in page
    client.force_login(w.worker_a)
    page = client.get(reverse("reports:map_grid", args=[w.grid_a.pk])).content.decode()
    assert "还没有位置" in page and reverse("households:plan_upload", args=[w.grid_a.pk]) not in page


# ------------------------------------------------------------------------------------------------ 保存位置


def _post_spots(client, node, spots):
    return client.post(reverse("reports:map_spots", args=[node.pk]), json.dumps({"spots": spots}),
                       content_type="application/json")  # fmt: skip


def test_the_street_admin_saves_the_spots(mapw, client):
    w = mapw
    plan = _plan(w.c1)
    BuildingSpot.objects.create(plan=plan, building=w.b1, x=0.1, y=0.1)
    client.force_login(w.admin)
    response = _post_spots(
        client, w.c1, [{"building": w.b1.pk, "x": 0.5, "y": 0.25}, {"building": w.b3.pk, "x": 1, "y": 0}]
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"ok": True, "saved": 2, "message": "已保存 2 个楼栋的位置"}
    assert sorted(BuildingSpot.objects.values_list("building_id", "x", "y")) == sorted(
        [(w.b1.pk, 0.5, 0.25), (w.b3.pk, 1.0, 0.0)]
    )
    # The form field "spots" holds the same JSON (a post without script).
    response = client.post(reverse("reports:map_spots", args=[w.grid_a.pk]),
                           {"spots": json.dumps([{"building": w.b2.pk, "x": 0.3, "y": 0.3}])})  # fmt: skip
    assert response.status_code == 200 and BuildingSpot.objects.get(building=w.b2).plan == plan  # the community's


def test_spots_are_refused_for_other_roles(mapw, client):
    w = mapw
    _plan(w.grid_a)
    for user in (w.secretary, w.leader, w.worker_a, w.handler):
        client.force_login(user)
        assert _post_spots(client, w.grid_a, [{"building": w.b1.pk, "x": 0.5, "y": 0.5}]).status_code == 403
    # A street admin whose scope is one community is not "the street admin of the street".
    narrow = make_user("admin_c1", STREET_ADMIN, scope=w.c1, tier=Tier.STREET_STAFF)
    client.force_login(narrow)
    assert _post_spots(client, w.grid_a, [{"building": w.b1.pk, "x": 0.5, "y": 0.5}]).status_code == 403
    assert not BuildingSpot.objects.exists()


def test_spots_outside_the_node_or_the_plan_are_refused(mapw, client):
    w = mapw
    _plan(w.grid_a)
    client.force_login(w.admin)
    cases = [
        ([{"building": w.b1.pk, "x": 0.5, "y": 0.5}, {"building": w.b3.pk, "x": 0.5, "y": 0.5}], "第 2 项：楼栋"),
        ([{"building": w.grid_a.pk, "x": 0.5, "y": 0.5}], "不在第1网格内"),  # a grid is no building
        ([{"building": w.b1.pk, "x": 1.5, "y": 0.5}], "横向位置超出平面图"),
        ([{"building": w.b1.pk, "x": 0.5, "y": -0.1}], "纵向位置超出平面图"),
        ([{"building": w.b1.pk, "x": "0.5", "y": 0.5}], "横向位置不是数字"),
        ([], "没有要保存的楼栋位置"),
    ]
    for spots, message in cases:
        response = _post_spots(client, w.grid_a, spots)
        assert response.status_code == 400 and message in response.json()["message"], (spots, response.json())
    assert not BuildingSpot.objects.exists()
    # Another street's grid: 404, as a missing one; a grid without a plan: said so.
    assert _post_spots(client, Node.objects.create(kind=NodeKind.STREET, name="外街街道"), []).status_code == 404
    response = _post_spots(client, w.grid_b, [{"building": w.b3.pk, "x": 0.5, "y": 0.5}])
    assert response.status_code == 400 and "还没有平面图" in response.json()["message"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "没有收到"), ("{", "格式不正确"), ("[1, 2]", "第 1 项"), ('{"spots": 5}', "列表"),
        ('[{"building": true, "x": 0, "y": 0}]', "楼栋编号"), ('[{"building": 99999999999999999999, "x": 0, "y": 0}]', "楼栋编号"),
        ('[{"building": 1, "x": 1e999, "y": 0}]', "不是数字"), ('[{"building": 1, "x": NaN, "y": 0}]', "不是数字"),
        ('[{"building": 1, "x": 0, "y": 0}, {"building": 1, "x": 0, "y": 0}]', "重复"), ("[" * 100000, "格式"),
    ],
)  # fmt: skip
def test_parse_spots_says_what_is_wrong(text, message):
    with pytest.raises(SpotsError) as error:
        parse_spots(text)
    assert message in str(error.value)
