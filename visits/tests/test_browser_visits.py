"""A demo grid worker on a 360-px phone, in real headless Chromium (Debian's, through Playwright):
find a household, visit it raising one on-the-spot and one routed issue, lose the network on
submit and send again (one visit), see both issues in the ledger with their deadlines, and record
a 回头看 that reopens an issue. Screenshots go to var/screenshots/ (visits_*.png).

Skipped locally without Chromium; failing in CI (REQUIRE_SERVICES=1).
"""

import datetime
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from issues.models import Issue, Status
from tests.support.browser import screenshot
from visitplan.models import Assignment, Campaign
from visits.followups import build_followups
from visits.models import FollowUp, Visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WORKER = "grid_hutian_1"  # 湖田社区第1网格 in the demo data
PASSWORD = "demo12345"
VISIT_DAY = "2026-09-28"  # a Monday before 国庆: deadlines cross the holiday and a make-up Saturday


def db(fn):
    """Read the database from the test thread while Playwright runs, then let go of the connection
    (it would otherwise block dropping the test database on PostgreSQL)."""
    try:
        return fn()
    finally:
        connection.close()


def assert_fits(page, width=360):
    assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.fixture
def demo(db):
    call_command("seed_demo", households=300, stdout=StringIO())
    campaign = Campaign.objects.get()
    assignment = (
        Assignment.objects.filter(campaign=campaign, cadre__user__username=WORKER)
        .select_related("household")
        .order_by("household__path", "household__room")
        .first()
    )
    household = assignment.household
    # A household of the demo ledger may already have issues; count from here.
    connection.close()
    # The demo already has visits (and issues): the test counts what it adds.
    return {"household": household, "visits_before": set(Visit.objects.values_list("pk", flat=True))}


def test_a_grid_worker_visits_raises_issues_and_follows_up(browser_page, live_server, demo):
    page = browser_page
    household = demo["household"]

    def new_visits():
        return db(lambda: list(Visit.objects.filter(household_id=household.pk).exclude(pk__in=demo["visits_before"])))

    # Log in: a cadre lands on 我的包户.
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", WORKER)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/visits/")
    assert page.locator("h1").first.inner_text() == "我的包户"
    assert page.locator("progress.bar").count() == 1
    assert_fits(page)
    screenshot(page, "visits_mine")

    # Find the household by name.
    page.fill("input[name=q]", household.head_name)
    page.click(".hh-filters button[type=submit]")
    page.wait_for_load_state()
    page.click(f"a[href='/visits/h/{household.pk}/']")
    page.wait_for_load_state()
    assert household.head_name in page.locator("h1").inner_text()
    assert household.id_number not in page.content()  # masked for a grid worker
    assert_fits(page)
    screenshot(page, "visits_household")

    # The visit form.
    page.click("text=开始走访")
    page.wait_for_load_state()
    page.fill("input[name=visited_on]", VISIT_DAY)
    page.fill("input[name=started_at]", "09:00")
    page.fill("input[name=ended_at]", "09:20")
    assert "不足 30 分钟" in page.locator("[data-duration]").inner_text()
    assert page.locator("[data-short-reason]").is_visible()
    page.fill("input[name=ended_at]", "09:45")
    assert page.locator("[data-duration]").inner_text() == "时长 45 分钟"
    assert not page.locator("[data-short-reason]").is_visible()
    # the demo follows 002: 附件2 question 5 (老有颐养) and 2 (住有宜居, its 需要帮助 ticked)
    page.fill("textarea[name=q_q5]", "老人想申请高龄津贴，不清楚流程")
    page.fill("textarea[name=q_q2]", "1号楼2单元楼道灯坏了两周")
    page.check("input[name=h_q2]")
    for label in ("了解家庭成员", "了解生活状况", "掌握诉求愿望", "宣讲政策到位", "感情传递到位"):
        page.click(f".cc-check:has-text('{label}')")
    page.check("input[name=card_given]")
    page.click(".cc:has-text('基本满意')")
    page.fill("textarea[name=notes]", "老两口身体尚可，儿子在外地工作")
    page.click("[data-add-row]")
    page.fill("textarea[name='issues-0-text']", "咨询高龄津贴申领条件")
    page.select_option("select[name='issues-0-category']", "elderly")
    page.check("input[name='issues-0-on_the_spot']")
    page.fill("textarea[name='issues-0-answer']", "已讲解申领条件，材料交社区即可")
    page.click("[data-add-row]")
    page.fill("textarea[name='issues-1-text']", "1号楼2单元楼道声控灯坏了两周，老人夜里上下楼不便")
    page.select_option("select[name='issues-1-category']", "living")
    assert not page.locator("textarea[name='issues-1-answer']").is_visible()
    assert_fits(page)
    screenshot(page, "visits_form")

    # The network drops after the server saved it: the phone keeps the record (the field app's
    # queue) and sends it again when it can; the server had saved it, and saves it once.
    url = f"{live_server.url}/visits/h/{household.pk}/visit/"
    answers_lost = []

    def lose_the_answer(route):
        if answers_lost:
            route.continue_()  # the signal is back
            return
        route.fetch()  # the server gets it and saves…
        answers_lost.append(1)
        route.abort("internetdisconnected")  # …but the phone never hears back

    page.route(url, lose_the_answer)
    page.click("[data-submit]")
    page.wait_for_url(re.compile(rf"/visits/h/{household.pk}/$"))
    assert "已保存在本机" in page.locator("main").inner_text()
    state = page.locator("[data-sync-state]")
    for _ in range(100):
        if state.count() and "已上传 1 条" in state.inner_text():
            break
        page.wait_for_timeout(100)
    assert state.inner_text() == "已上传 1 条"
    page.unroute(url)
    screenshot(page, "visits_offline")
    assert len(new_visits()) == 1
    page.goto(f"{live_server.url}/visits/offline/")
    assert "此前已保存，未重复保存" in page.locator("[data-sent]").inner_text()

    # Nothing typed is lost, even across a reload: the draft comes back.
    page.goto(url)
    page.fill("textarea[name=notes]", "再次入户，老人说灯已修好")
    page.wait_for_timeout(400)  # the draft is written 300 ms after the last key
    page.reload()
    page.wait_for_selector("[data-draft-banner]:not([hidden])")
    page.click("[data-draft-restore]")
    assert page.input_value("textarea[name=notes]") == "再次入户，老人说灯已修好"
    page.click("[data-draft-discard]") if page.locator("[data-draft-banner]:not([hidden])").count() else None
    page.goto(f"{live_server.url}/visits/h/{household.pk}/")

    visits = new_visits()
    assert len(visits) == 1
    visit = visits[0]
    assert visit.duration_minutes == 45 and visit.card_given and visit.satisfaction == "basic"
    raised = db(lambda: {i.text[:4]: i for i in Issue.objects.filter(raised_on__visit=visit)})
    assert set(raised) == {"咨询高龄", "1号楼2"}
    spot, routed = raised["咨询高龄"], raised["1号楼2"]
    assert spot.status == Status.CLOSED and spot.closure == "on_the_spot"
    # Deadlines counted by hand from Mon 2026-09-28 (see visits/tests/test_visit_service.py).
    assert (routed.status, routed.plan_due_on, routed.due_on) == (
        Status.REGISTERED,
        datetime.date(2026, 10, 10),
        datetime.date(2026, 10, 23),
    )

    # Both are in the ledger.
    page.goto(f"{live_server.url}/issues/?q=1号楼2单元楼道声控灯")
    assert page.locator(f"text=#{routed.pk}").count() >= 1
    page.goto(f"{live_server.url}/issues/{routed.pk}/")
    deadlines = page.locator(".deadlines").inner_text()
    assert "2026-10-10" in deadlines and "2026-10-23" in deadlines
    page.goto(f"{live_server.url}/issues/{spot.pk}/")
    assert "已销号" in page.locator(".issue-card").inner_text()
    assert_fits(page)
    screenshot(page, "visits_ledger_issue")

    # 回头看: the daily job lists the answered one, not the one still waiting for 审核; the resident
    # says the on-the-spot one was not solved.
    db(lambda: build_followups(day=datetime.date(2026, 12, 16)))
    mine = db(
        lambda: set(
            FollowUp.objects.filter(household_id=household.pk, cadre__user__username=WORKER).values_list(
                "issue_id", flat=True
            )
        )
    )
    assert spot.pk in mine and routed.pk not in mine
    page.goto(f"{live_server.url}/visits/followups/")
    page.click(f"a[href='/visits/h/{household.pk}/followup/']")
    page.wait_for_load_state()
    spot_fu = db(lambda: FollowUp.objects.get(issue_id=spot.pk).pk)
    page.click(".cc:has-text('电话回访')")
    page.click(f"[data-followup='{spot_fu}'] .cc:has-text('未解决')")
    page.click(f"[data-followup='{spot_fu}'] .cc:has-text('不满意')")
    page.fill(f"textarea[name=note_{spot_fu}]", "居民说材料交了两周没人回复")
    assert_fits(page)
    screenshot(page, "visits_followup")
    page.click("[data-submit]")
    page.wait_for_url(re.compile(rf"/visits/h/{household.pk}/(#.*)?$"))
    assert f"重新办理：#{spot.pk}" in page.locator(".messages").inner_text()
    reopened = db(lambda: Issue.objects.get(pk=spot.pk))
    assert reopened.status == Status.ACCEPTED and reopened.closed_on is None
    fu = db(lambda: FollowUp.objects.get(issue_id=spot.pk))
    assert (fu.status, fu.solved, fu.satisfaction, fu.reopened) == ("done", False, "unsatisfied", True)
    assert not db(lambda: FollowUp.objects.filter(issue_id=routed.pk).exists())

    # Contact cards for this worker's households.
    page.goto(f"{live_server.url}/visits/cards/")
    assert page.locator(".contact-card").count() >= 1
    screenshot(page, "visits_cards")
    page.emulate_media(media="print")
    assert not page.locator(".topbar").is_visible()
