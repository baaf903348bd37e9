"""A town's campaign under 003 (平川镇 镇村两级书记大走访), end to end in a real browser, in the
town's words: the 镇's admin imports a village register (村, 村民小组, no 楼栋), creates the campaign
"按 003 …" and plans it; a 镇 leader opens 我的包户 on his phone, sees 003's month (10 天 / 50 户,
进村入户) and his villages' households, visits one at the door; a phone call does not count
toward his month; everyone reads the rulebook with 003's own words. Screenshots: village_*.png.
"""

import datetime
import re

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from households.models import FocusGroup, Household, Node, NodeKind, Street, TownshipKind
from households.roles import LEADER, STREET_ADMIN, sync_role_groups
from households.tests.xlsx import village_row, write_village_register
from tests.support.browser import screenshot
from tests.support.world import make_user
from visitplan.allocation import allocate
from visitplan.models import Campaign, StageKind, Tier
from visits.models import Visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-test-123"


def db(fn):
    try:
        return fn()
    finally:
        connection.close()


def login(page, live_server, username, *, admin=False):
    page.goto(f"{live_server.url}/{'admin/' if admin else ''}login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]" if admin else "button[type=submit]")
    page.wait_for_load_state()


def assert_fits(page, width=360):
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_a_town_runs_a_village_campaign_under_003(live_server, browser_page, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    sync_role_groups()
    for name in ("上访老户", "困难群众", "老党员"):
        FocusGroup.objects.get_or_create(name=name)
    town = Street.objects.create(name="平川镇", township=TownshipKind.TOWN)
    make_user("town_admin", STREET_ADMIN, scope=town, tier=Tier.STREET_STAFF, staff=True)
    rows = [village_row(n) for n in range(1, 7)]
    rows[0]["重点人群"] = "上访老户"
    rows[3]["重点人群"] = "老党员"
    register = write_village_register(tmp_path / "平川镇底册.xlsx", rows)
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})

    # The 镇's admin imports the village register: 村 and 村民小组, no 楼栋.
    login(page, live_server, "town_admin", admin=True)
    page.goto(f"{live_server.url}/admin/households/household/import/")
    assert "导入到镇" in page.inner_text("#content-main")
    page.set_input_files("#id_file", str(register))
    page.click("input[type=submit][value]")
    page.wait_for_load_state()
    main = page.inner_text("#content-main")
    assert "检查通过" in main and "新建村(居)" in main and "新建村民小组" in main and "楼栋" not in main, main
    screenshot(page, "village_import_preview")
    page.click("input[value=确认导入]")
    page.wait_for_load_state()
    assert db(lambda: Household.objects.filter(street=town).count()) == 6
    village = db(lambda: Node.objects.get(kind=NodeKind.COMMUNITY, parent=town, name=rows[0]["村"]))
    assert db(lambda: Node.objects.filter(kind=NodeKind.GRID, parent=village).count()) >= 1

    # The campaign "按 003 …" with its one stage (003: 3月1日至12月底; here the whole year, so that
    # the test runs in any month), created in the admin. The visits are made yesterday, so that
    # their times are in the past whatever the hour.
    local = timezone.localdate()
    day = local - datetime.timedelta(days=1)
    page.goto(f"{live_server.url}/admin/visitplan/campaign/add/")
    page.fill("#id_year", str(day.year))
    page.fill("#id_name", "镇村两级书记大走访")
    page.select_option("#id_street", str(town.pk))
    page.select_option("#id_preset", "003")
    if not page.locator("#id_stages-0-kind").count():
        page.click("#stages-group .add-row a")
    page.select_option("#id_stages-0-kind", StageKind.VISIT)
    page.fill("#id_stages-0-starts_on", f"{day.year}-01-01")
    page.fill("#id_stages-0-ends_on", f"{day.year}-12-31")
    screenshot(page, "village_campaign_add")
    page.click("input[name=_save]")
    page.wait_for_load_state()
    campaign = db(lambda: Campaign.objects.get(street=town))
    assert campaign.preset == "003" and campaign.leader_days_per_month == 10

    # A 镇 leader, planned onto 003's groups (上访户、老党员 …).
    leader = db(lambda: make_user("town_leader", LEADER, scope=town, tier=Tier.LEADER, staff=True))
    db(lambda: allocate(Campaign.objects.get(pk=campaign.pk)))
    mine = db(
        lambda: sorted(Household.objects.filter(assignments__cadre=leader.cadre).values_list("head_name", flat=True))
    )
    assert mine == [rows[0]["户主姓名"], rows[3]["户主姓名"]]

    # On his phone: 我的包户 in the town's words, with 003's month.
    page.context.clear_cookies()
    page.set_viewport_size({"width": 360, "height": 740})
    login(page, live_server, "town_leader")
    page.goto(f"{live_server.url}/visits/")
    text = page.inner_text("main")
    assert "班子成员每月走访10天、50户（入户、座谈）" in text, text
    assert rows[0]["村"] in text and "村民小组" in text
    assert "社区" not in text and "网格" not in text and "楼栋" not in text and "街道" not in text, text
    assert "镇班子成员" in text
    assert_fits(page)
    screenshot(page, "village_mine")

    # He visits the first household at the door; then calls the other: only the visit counts.
    first = db(lambda: Household.objects.get(street=town, head_name=rows[0]["户主姓名"]))
    page.goto(f"{live_server.url}/visits/h/{first.pk}/visit/")
    page.fill("input[name=visited_on]", day.isoformat())
    page.fill("input[name=started_at]", "00:00")
    page.fill("input[name=ended_at]", "00:40")
    assert "本次活动计入走访任务的方式：入户、座谈" in page.inner_text("#method-hint")
    screenshot(page, "village_visit_form")
    screenshot(page, "village_visit_method", selector=".visit-form .card")
    page.click("[data-submit]")
    page.wait_for_url(re.compile(rf"/visits/h/{first.pk}/(#.*)?$"))
    second = db(lambda: Household.objects.get(street=town, head_name=rows[3]["户主姓名"]))
    page.goto(f"{live_server.url}/visits/h/{second.pk}/visit/")
    page.fill("input[name=visited_on]", day.isoformat())
    page.check("input[name=method][value=phone]")
    page.click("[data-submit]")
    page.wait_for_url(re.compile(rf"/visits/h/{second.pk}/(#.*)?$"))
    assert db(lambda: sorted(Visit.objects.filter(cadre=leader.cadre).values_list("method", "counts"))) == [
        ("in_person", True),
        ("phone", False),
    ]
    page.goto(f"{live_server.url}/visits/")
    # the door visit counts toward this month (none when yesterday was last month), the call never
    done = 1 if day.month == local.month else 0
    card = page.inner_text(".progress-card")
    assert f"本月 {done}/10 天、{done}/50 户" in card, card
    screenshot(page, "village_mine_after")

    # The rulebook, read-only, in 003's own words.
    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/rules/")
    rules = page.inner_text("main")
    assert "镇党政主要领导及党政班子成员每月至少安排10天时间进村入户" in rules
    assert "文件未作规定，沿用产品默认" in rules
    assert_fits(page)
    screenshot(page, "village_rulebook", full_page=False)
    screenshot(page, "village_rulebook_targets", selector="#sec-targets, section.card >> nth=1")
    assert db(lambda: User.objects.filter(username="town_leader").exists())
