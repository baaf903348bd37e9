"""民情地图 in real headless Chromium (Debian's, through Playwright): the 楼栋图 of a building (a grid
worker on his phone and at a desk: the colour-by chooser changes the rooms, a room opens the
household), a community's buildings side by side (the secretary), the 网格图 over a plan image and
by 经度 / 纬度 (markers drawn by ECharts; a tap opens the building), and the street admin dragging
buildings onto the plan and saving them. Screenshots: var/screenshots/map_*.png, at 390 × 844 and
1280 × 800.

The world: 湖田社区 with five buildings in two grids (units, floors 1–18, a basement), lane houses
in no building, focus groups, this campaign's visits and open issues, and a 平面图 of the
community drawn here (a PNG written with zlib); 南纬社区's buildings have 经度 / 纬度 and no plan.
"""

import datetime
import re
import struct
import uuid
import zlib

import pytest
from django.core.files.base import ContentFile
from django.db import connection

from households.models import BuildingSpot, FocusGroup, Household, Node, NodeKind, NodePlan
from households.roles import CADRE, SECRETARY, STREET_ADMIN, sync_role_groups
from issues.models import Status
from issues.tests.factories import make_issue
from tests.support.browser import log_in, screenshot
from tests.support.visits import STAGES
from tests.support.world import make_user, valid_id
from visitplan.models import Campaign, Stage, Tier
from visits.models import Visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
PLAN_SIZE = (960, 640)


def db(fn):
    try:
        return fn()
    finally:
        connection.close()


def assert_fits(page, width):
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def wait_for(page, script, what, tries=100):
    """Poll ``script`` (an expression) until it is truthy: no wait_for_function (the CSP forbids eval)."""
    from playwright.sync_api import Error

    for _ in range(tries):
        try:
            value = page.evaluate(script)
        except Error:  # the page is navigating (a reload after saving): ask the next one
            value = None
        if value:
            return value
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {what}")


# ------------------------------------------------------------------------------------------------ the plan image


def site_plan_png(width, height, footprints):
    """A community's site plan as a PNG (zlib and struct): lawns, two roads, a square, and a grey
    footprint with a darker outline at each (x, y) fraction."""
    lawn, road, kerb, park, square = (236, 241, 229), (255, 255, 255), (205, 209, 214), (200, 225, 190), (243, 236, 222)
    wall, roof = (120, 113, 108), (214, 208, 200)
    rows = [bytearray(bytes(lawn) * width) for _ in range(height)]

    def fill(x0, y0, x1, y1, colour):
        x0, x1 = max(0, int(x0)), min(width, int(x1))
        run = bytes(colour) * max(0, x1 - x0)
        for y in range(max(0, int(y0)), min(height, int(y1))):
            rows[y][x0 * 3 : x1 * 3] = run

    fill(0, height * 0.46, width, height * 0.54, kerb)
    fill(0, height * 0.47, width, height * 0.53, road)
    fill(width * 0.47, 0, width * 0.53, height, kerb)
    fill(width * 0.48, 0, width * 0.52, height, road)
    fill(width * 0.05, height * 0.62, width * 0.2, height * 0.92, park)
    fill(width * 0.56, height * 0.58, width * 0.7, height * 0.72, square)
    for fx, fy in footprints:
        cx, cy, w, h = fx * width, fy * height, width * 0.12, height * 0.09
        fill(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, wall)
        fill(cx - w / 2 + 2, cy - h / 2 + 2, cx + w / 2 - 2, cy + h / 2 - 2, roof)
    raw = b"".join(b"\x00" + bytes(r) for r in rows)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


# ------------------------------------------------------------------------------------------------ the world

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
# name, grid, units, floors, rooms per floor, spot on the plan (None: not placed yet)
BUILDINGS = [
    ("1号楼", 0, 2, 6, 2, (0.22, 0.22)),
    ("2号楼", 0, 3, 11, 2, (0.36, 0.22)),
    ("3号楼", 0, 2, 18, 2, (0.22, 0.36)),
    ("5号楼", 1, 2, 7, 2, (0.72, 0.24)),
    ("6号楼", 1, 2, 6, 3, None),
]


def build_world(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    sync_role_groups()
    groups = {
        name: FocusGroup.objects.get_or_create(name=name)[0] for name in ("老党员", "孤寡老人", "低保户", "残疾人")
    }
    street = Node.objects.create(kind=NodeKind.STREET, name="湖田街道")
    community = Node.objects.create(kind=NodeKind.COMMUNITY, name="湖田社区", parent=street)
    grids = [Node.objects.create(kind=NodeKind.GRID, name=f"第{i}网格", parent=community, order=i) for i in (1, 2)]
    campaign = Campaign.objects.create(year=2026, name="入户大走访", street=street)
    for kind, (start, end) in STAGES.items():
        Stage.objects.create(campaign=campaign, kind=kind, starts_on=start, ends_on=end)
    admin = make_user("admin", STREET_ADMIN, scope=street, tier=Tier.STREET_STAFF, staff=True)
    worker = make_user("grid1", CADRE, scope=grids[0], tier=Tier.GRID_WORKER)
    make_user("sec1", SECRETARY, scope=community, tier=Tier.SECRETARY, staff=True)
    serial = 0

    def household(grid, building, unit, room):
        nonlocal serial
        serial += 1
        return Household.objects.create(
            street=street, community=grid.parent, grid=grid, building=building, unit=unit, room=room,
            head_name=SURNAMES[serial % len(SURNAMES)] + "某" + "甲乙丙丁戊己庚辛"[serial % 8], size=2 + serial % 3,
            id_number=valid_id(serial), phone=f"1380000{serial:04d}",
        )  # fmt: skip

    def life(h, n):
        """Focus groups, this campaign's visits and open issues, spread over the building."""
        if n % 7 == 0:
            h.tags.add(groups["老党员"])
        if n % 11 == 3:
            h.tags.add(groups["孤寡老人"])
        if n % 13 == 5:
            h.tags.add(groups["低保户"], groups["残疾人"])
        if n % 5 in (0, 1, 3):
            Visit.objects.create(campaign=campaign, household=h, cadre=worker.cadre, visited_on=datetime.date(2026, 10, 12),
                                 started_at=datetime.time(9), ended_at=datetime.time(9, 40), duration_minutes=40,
                                 key=uuid.uuid4(), created_by=worker)  # fmt: skip
        if n % 17 == 2:
            make_issue(h, status=Status.ROUTED if n % 2 else Status.REGISTERED)

    buildings, n = {}, 0
    for order, (name, grid_index, units, floors, per_floor, _spot) in enumerate(BUILDINGS, start=1):
        grid = grids[grid_index]
        b = Node.objects.create(kind=NodeKind.BUILDING, name=name, parent=grid, order=order)
        buildings[name] = b
        for u in range(1, units + 1):
            for f in range(1, floors + 1):
                for d in range(1, per_floor + 1):
                    n += 1
                    if n % 9 == 4:
                        continue  # an empty flat: not every door is in the register
                    life(household(grid, b, f"{u}单元", f"{f}{d:02d}"), n)
        if name == "3号楼":
            life(household(grid, b, "1单元", "B101"), 6)
    for lane in range(1, 6):  # 平房 along a lane: no building, no floor
        n += 1
        life(household(grids[1], None, "", f"幸福巷{lane}号"), n)

    plan = NodePlan(
        node=community, content_type="image/png", width=PLAN_SIZE[0], height=PLAN_SIZE[1], uploaded_by=admin
    )
    footprints = [spot for *_rest, spot in BUILDINGS if spot] + [(0.8, 0.8)]  # 6号楼 stands at (0.8, 0.8), not placed
    plan.image.save("plan.png", ContentFile(site_plan_png(*PLAN_SIZE, footprints)), save=False)
    plan.save()
    for name, *_rest, spot in BUILDINGS:
        if spot:
            BuildingSpot.objects.create(plan=plan, building=buildings[name], x=spot[0], y=spot[1])

    # 南纬社区: three buildings with 经度 / 纬度 from the register, no plan.
    south = Node.objects.create(kind=NodeKind.COMMUNITY, name="南纬社区", parent=street)
    grid_s = Node.objects.create(kind=NodeKind.GRID, name="第1网格", parent=south)
    for i, (lon, lat) in enumerate(
        [("120.380100", "36.070200"), ("120.381300", "36.070350"), ("120.380700", "36.069400")]
    ):
        b = Node.objects.create(kind=NodeKind.BUILDING, name=f"南{i + 1}号楼", parent=grid_s, order=i,
                                longitude=lon, latitude=lat)  # fmt: skip
        for f in range(1, 7):
            for d in (1, 2):
                n += 1
                life(household(grid_s, b, "1单元", f"{f}0{d}"), n)
    Node.objects.create(kind=NodeKind.BUILDING, name="南4号楼", parent=grid_s, order=9)  # no coordinates
    return {"community": community, "grids": grids, "buildings": buildings, "plan": plan, "south": south,
            "grid_s": grid_s, "campaign": campaign}  # fmt: skip


@pytest.fixture
def maps_world(settings, tmp_path):
    return db(lambda: build_world(settings, tmp_path))


# ------------------------------------------------------------------------------------------------ 楼栋图


def room_classes(page):
    return page.evaluate("Array.from(document.querySelectorAll('#map-rooms a.room')).map(a => a.className)")


def test_a_grid_worker_reads_his_building_and_opens_a_household(live_server, browser_page, maps_world):
    page = browser_page
    page.set_viewport_size(PHONE)
    building = maps_world["buildings"]["2号楼"]
    log_in(page, live_server, "grid1")
    page.goto(f"{live_server.url}/visits/")
    page.click("text=民情地图")
    page.wait_for_url(f"**/reports/map/grid/{maps_world['grids'][0].pk}/")

    page.goto(f"{live_server.url}/reports/map/building/{building.pk}/")
    drawn = int(wait_for(page, "document.getElementById('map-rooms').dataset.drawn", "the rooms"))
    households = db(lambda: list(Household.objects.filter(building=building)))
    assert drawn == len(households)
    # 重点人群 by default: the rooms of a focus household are marked ★, the others plain.
    focus = db(lambda: Household.objects.filter(building=building, tags__isnull=False).distinct().count())
    classes = room_classes(page)
    assert classes.count("room is-focus") == focus and classes.count("room is-off") == drawn - focus
    assert page.locator("#map-rooms a.room.is-focus .rm").first.inner_text() == "★"
    # The top floor on top, the units side by side.
    rows = page.locator("#map-rooms tbody th.fl").all_inner_texts()
    assert rows[0] == "11层" and rows[-1] == "1层"
    assert page.locator("#map-rooms thead th").all_inner_texts() == ["楼层", "1单元", "2单元", "3单元"]
    assert_fits(page, PHONE["width"])
    screenshot(page, "map_building_phone")

    # 本次活动走访: the classes change, the visited rooms carry a ✓.
    page.click("label.cc:has-text('本次活动走访')")
    visited = db(lambda: Household.objects.filter(building=building, visits__counts=True).distinct().count())
    classes = room_classes(page)
    assert classes.count("room is-visited") == visited and classes.count("room is-none") == drawn - visited
    assert "by=visited" in page.url
    assert page.locator("[data-legend=visited]").is_visible() and not page.locator("[data-legend=focus]").is_visible()
    screenshot(page, "map_building_phone_visited", full_page=False)
    # 未办结诉求 and one group.
    page.click("label.cc:has-text('未办结诉求')")
    issues = db(
        lambda: (
            Household.objects.filter(building=building, issues__status__in=("registered", "routed")).distinct().count()
        )
    )
    assert room_classes(page).count("room is-issues") == issues
    page.click("label.cc:has-text('重点人群')")
    page.select_option("#map-group", str(db(lambda: FocusGroup.objects.get(name="老党员").pk)))
    members = db(lambda: Household.objects.filter(building=building, tags__name="老党员").count())
    assert room_classes(page).count("room is-focus") == members
    assert page.locator("[data-legend=focus] [data-group-name]").inner_text() == "老党员"

    # A room is a link with its words: tapping it opens the household.
    room = page.locator("#map-rooms a.room.is-focus").first
    label = room.inner_text().replace("★", "").split()  # the link's words, the mark (aria-hidden) aside
    assert re.match(r"^\d单元 \d{3,4} (已走访|未走访) .*老党员", " ".join(label)), label
    # …and what a screen reader calls it (the accessible name), e.g. "2单元 902 已走访 老党员".
    named = page.get_by_role("link", name=re.compile(r"^\d单元 \d{3,4} (已走访|未走访) (\S+ )*老党员"))
    assert named.count() == members
    room.click()
    page.wait_for_url(re.compile(r"/visits/h/\d+/$"))
    pk = int(page.url.rstrip("/").rsplit("/", 1)[1])
    head = db(lambda: Household.objects.get(pk=pk).head_name)
    assert head in page.locator("h1").inner_text()
    page.go_back()
    page.wait_for_load_state()

    page.set_viewport_size(DESKTOP)
    page.goto(f"{live_server.url}/reports/map/building/{maps_world['buildings']['3号楼'].pk}/?by=visited")
    wait_for(page, "document.getElementById('map-rooms').dataset.drawn", "the rooms")
    assert page.locator("#map-rooms tbody th.fl").all_inner_texts()[-2:] == ["1层", "地下1层"]
    screenshot(page, "map_building_desktop")


def test_keyboard_reaches_the_rooms(live_server, browser_page, maps_world):
    page = browser_page
    page.set_viewport_size(DESKTOP)
    log_in(page, live_server, "grid1")
    page.goto(f"{live_server.url}/reports/map/building/{maps_world['buildings']['1号楼'].pk}/?by=visited")
    wait_for(page, "document.getElementById('map-rooms').dataset.drawn", "the rooms")
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('room')"):
            break
    else:
        raise AssertionError("no room reached by Tab")
    label = page.evaluate("document.activeElement.textContent")
    assert re.match(r"^\d单元 \d{3}\s*(已走访|未走访)", label), label
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/visits/h/\d+/$"))


def test_the_secretary_sees_the_community_side_by_side(live_server, browser_page, maps_world):
    page = browser_page
    page.set_viewport_size(PHONE)
    log_in(page, live_server, "sec1")
    community = maps_world["community"]
    page.goto(f"{live_server.url}/reports/")
    page.click(".head-links >> text=民情地图")
    page.wait_for_url(f"**/reports/map/community/{community.pk}/")
    drawn = int(wait_for(page, "document.getElementById('map-rooms').dataset.drawn", "the rooms"))
    assert drawn == db(lambda: Household.objects.filter(community=community).count())
    names = page.locator("#map-rooms .bmap-name").all_inner_texts()
    assert names == ["1号楼", "2号楼", "3号楼", "5号楼", "6号楼", "第2网格 · 未分楼栋"]
    assert_fits(page, PHONE["width"])
    screenshot(page, "map_community_phone")
    page.set_viewport_size(DESKTOP)
    page.reload()
    wait_for(page, "document.getElementById('map-rooms').dataset.drawn", "the rooms")
    page.click("label.cc:has-text('本次活动走访')")
    screenshot(page, "map_community_desktop")
    # A building's name opens its 楼栋图, coloured the same.
    page.click("#map-rooms .bmap-name >> text=5号楼")
    page.wait_for_url(re.compile(rf"/reports/map/building/{maps_world['buildings']['5号楼'].pk}/\?by=visited$"))


# ------------------------------------------------------------------------------------------------ 网格图


def chart_points(page):
    return page.evaluate(
        "(() => { const c = echarts.getInstanceByDom(document.getElementById('map-chart'));"
        " return c.getOption().series[0].data.map(d => ({name: d.name, value: d.value, colour: d.itemStyle.color})); })()"
    )


def marker_pixel(page, value):
    box = page.locator("#map-chart").bounding_box()
    x, y = page.evaluate(
        "(v) => echarts.getInstanceByDom(document.getElementById('map-chart')).convertToPixel({seriesIndex: 0}, v)",
        value,
    )
    return box["x"] + x, box["y"] + y


def test_the_grid_map_on_the_plan(live_server, browser_page, maps_world):
    page = browser_page
    page.set_viewport_size(PHONE)
    log_in(page, live_server, "sec1")
    community = maps_world["community"]
    page.goto(f"{live_server.url}/reports/map/grid/{community.pk}/")
    wait_for(page, "document.getElementById('map-plan').dataset.drawn", "the chart")
    points = chart_points(page)
    assert sorted(p["name"] for p in points) == ["1号楼", "2号楼", "3号楼", "5号楼"]
    assert {p["name"]: tuple(p["value"]) for p in points}["5号楼"] == (0.72, 0.24)
    assert "6号楼" in page.locator("#map-unplaced").inner_text()
    assert page.locator("#place-start").count() == 0  # placing is the street admin's
    # The plan image is the chart's background, loaded through the scoped view.
    assert page.evaluate(
        "echarts.getInstanceByDom(document.getElementById('map-chart')).getOption().graphic[0].elements[0].type"
    ) == "image"  # fmt: skip
    wait_for(page, "Array.from(performance.getEntriesByType('resource')).some(e => e.name.includes('/plan/image'))",
             "the plan image")  # fmt: skip
    assert_fits(page, PHONE["width"])
    screenshot(page, "map_grid_plan_phone")
    # 走访 colours: a building all visited is green, the label gives visited / households.
    page.click("label.cc:has-text('本次活动走访')")
    assert {p["colour"] for p in chart_points(page)} <= {"#15803d", "#65a30d", "#d97706", "#c8161d", "#9ca3af"}
    page.set_viewport_size(DESKTOP)
    page.reload()
    wait_for(page, "document.getElementById('map-plan').dataset.drawn", "the chart")
    page.wait_for_timeout(300)
    screenshot(page, "map_grid_plan_desktop")
    # A tap on a building opens its 楼栋图.
    three = next(p for p in chart_points(page) if p["name"] == "3号楼")
    page.mouse.click(*marker_pixel(page, three["value"]))
    page.wait_for_url(re.compile(rf"/reports/map/building/{maps_world['buildings']['3号楼'].pk}/\?by=visited$"))


def test_the_grid_map_by_longitude_and_latitude(live_server, browser_page, maps_world):
    page = browser_page
    page.set_viewport_size(PHONE)
    log_in(page, live_server, "admin")
    page.goto(f"{live_server.url}/reports/map/grid/{maps_world['grid_s'].pk}/?by=visited")
    wait_for(page, "document.getElementById('map-plan').dataset.drawn", "the chart")
    points = chart_points(page)
    assert sorted(p["name"] for p in points) == ["南1号楼", "南2号楼", "南3号楼"]
    by_name = {p["name"]: p["value"] for p in points}
    east, south = by_name["南2号楼"][0] > by_name["南1号楼"][0], by_name["南3号楼"][1] < by_name["南1号楼"][1]
    assert east and south
    assert "南4号楼" in page.locator("#map-unplaced").inner_text()
    assert page.locator("#place-start").count() == 0  # no plan: nothing to drag onto
    # The tooltip of a building: its figures, the names escaped (echarts.format.encodeHTML).
    page.evaluate(
        "echarts.getInstanceByDom(document.getElementById('map-chart'))"
        ".dispatchAction({type: 'showTip', seriesIndex: 0, dataIndex: 0})"
    )
    tip = wait_for(page, "(document.querySelector('#map-chart > div:last-child') || {}).innerText", "the tooltip")
    assert "南1号楼" in tip and "12 户" in tip and "已走访" in tip, tip
    assert_fits(page, PHONE["width"])
    screenshot(page, "map_grid_coords_phone")
    page.set_viewport_size(DESKTOP)
    page.reload()
    wait_for(page, "document.getElementById('map-plan').dataset.drawn", "the chart")
    page.wait_for_timeout(300)
    screenshot(page, "map_grid_coords_desktop")


def test_the_street_admin_drags_buildings_onto_the_plan(live_server, browser_page, maps_world):
    page = browser_page
    page.set_viewport_size(DESKTOP)
    log_in(page, live_server, "admin")
    community = maps_world["community"]
    one, six = maps_world["buildings"]["1号楼"], maps_world["buildings"]["6号楼"]
    page.goto(f"{live_server.url}/reports/map/grid/{community.pk}/")
    wait_for(page, "document.getElementById('map-plan').dataset.drawn", "the chart")
    page.click("#place-start")
    editor = page.locator("#plan-edit")
    assert editor.is_visible() and page.locator("#plan-edit .spot").count() == 4
    wait_for(page, "document.querySelector('#plan-edit img').complete", "the plan in the editor")
    area = editor.bounding_box()
    assert area["y"] >= 0 and area["y"] + area["height"] <= DESKTOP["height"], area  # brought into view, whole

    # 1号楼 dragged from (0.22, 0.22) to about (0.40, 0.70).
    spot = page.locator(f"#plan-edit .spot[data-building='{one.pk}']").bounding_box()
    page.mouse.move(spot["x"] + spot["width"] / 2, spot["y"] + spot["height"] / 2)
    page.mouse.down()
    page.mouse.move(area["x"] + area["width"] * 0.3, area["y"] + area["height"] * 0.5, steps=5)
    page.mouse.move(area["x"] + area["width"] * 0.4, area["y"] + area["height"] * 0.7, steps=5)
    page.mouse.up()
    # 6号楼, not placed yet: 放到图上, then dragged onto its footprint at (0.8, 0.8); the arrow keys nudge it.
    page.click(f"#map-unplaced li[data-building='{six.pk}'] button")
    area = editor.bounding_box()  # the editor is brought back into view
    spot = page.locator(f"#plan-edit .spot[data-building='{six.pk}']").bounding_box()
    page.mouse.move(spot["x"] + spot["width"] / 2, spot["y"] + spot["height"] / 2)
    page.mouse.down()
    page.mouse.move(area["x"] + area["width"] * 0.79, area["y"] + area["height"] * 0.8, steps=8)
    page.mouse.up()
    page.keyboard.press("ArrowRight")
    assert "已放到图上" in page.evaluate(
        f"getComputedStyle(document.querySelector(\"#map-unplaced li[data-building='{six.pk}']\"), '::after').content"
    )
    screenshot(page, "map_grid_placing_desktop", full_page=False)
    page.click("#place-save")
    wait_for(page, "document.getElementById('place-status').textContent.includes('已保存')", "the save")
    assert "已保存 5 个楼栋的位置" in page.locator("#place-status").inner_text()

    spots = db(lambda: {s.building_id: (s.x, s.y) for s in BuildingSpot.objects.filter(plan=maps_world["plan"])})
    assert len(spots) == 5
    x, y = spots[one.pk]
    assert abs(x - 0.4) < 0.02 and abs(y - 0.7) < 0.02, spots[one.pk]
    x, y = spots[six.pk]
    assert abs(x - 0.8) < 0.02 and abs(y - 0.8) < 0.02, spots[six.pk]
    # The page reloads with 6号楼 on the map and none left to place.
    page.wait_for_load_state()
    wait_for(page, "document.getElementById('map-plan') && document.getElementById('map-plan').dataset.drawn == '5'",
             "the redrawn chart")  # fmt: skip
    assert page.locator("#map-unplaced li").count() == 0

    page.set_viewport_size(PHONE)
    page.reload()
    wait_for(page, "document.getElementById('map-plan').dataset.drawn", "the chart")
    page.click("#place-start")
    assert_fits(page, PHONE["width"])
    screenshot(page, "map_grid_placing_phone", full_page=False)


# ------------------------------------------------------------------------------------------------ accessibility


def test_the_map_pages_have_no_serious_accessibility_violation(live_server, browser_page, maps_world):
    """axe-core (WCAG 2.0/2.1 A and AA, as tests/test_accessibility.py): no critical or serious
    violation on the 楼栋图, a community's 楼栋图 and the 网格图, on a phone and at a desk."""
    from tests.support.axe import audit, blocking

    page = browser_page
    log_in(page, live_server, "admin")
    community = maps_world["community"]
    paths = [
        f"/reports/map/building/{maps_world['buildings']['2号楼'].pk}/",
        f"/reports/map/building/{maps_world['buildings']['3号楼'].pk}/?by=issues",
        f"/reports/map/community/{community.pk}/?by=visited",
        f"/reports/map/grid/{community.pk}/",
        f"/reports/map/grid/{maps_world['grid_s'].pk}/",
    ]
    serious = []
    for viewport in (PHONE, DESKTOP):
        page.set_viewport_size(viewport)
        for path in paths:
            page.goto(f"{live_server.url}{path}")
            marker = "map-rooms" if "/grid/" not in path else "map-plan"
            wait_for(page, f"document.getElementById('{marker}').dataset.drawn", f"the drawing of {path}")
            serious += [f"{viewport['width']} {path}: {f.line()}" for f in blocking(audit(page))]
    # 调整位置: the buttons on the plan.
    page.goto(f"{live_server.url}/reports/map/grid/{community.pk}/")
    wait_for(page, "document.getElementById('map-plan').dataset.drawn", "the chart")
    page.click("#place-start")
    serious += [f"placing: {f.line()}" for f in blocking(audit(page))]
    assert not serious, "\n".join(serious)
