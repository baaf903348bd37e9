"""On a 360-px phone: a department handler works an issue from "my issues"; the street office's pages fit.

Headless Debian Chromium through Playwright, like tests/fixtures/browser.py (skipped locally without it,
failing in CI). Screenshots go to var/screenshots/ (issues_*.png).
"""

import datetime

import pytest
from django.db import connection
from django.utils import timezone

from issues import services
from issues.models import Category, EventKind, IssueEvent, Severity, Status
from issues.tests.factories import make_issue
from tests.support.browser import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE_WIDTH = 360


def assert_fits(page, width=PHONE_WIDTH):
    """No sideways scrolling: the document is not wider than the screen."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def plans_posted(issue):
    """Read the database while Playwright's loop runs in this thread, then close that connection:
    the ORM may hand this context its own connection, which would otherwise stay open and block
    dropping the test database on PostgreSQL."""
    try:
        return IssueEvent.objects.filter(issue=issue, kind=EventKind.PLAN_POSTED).count()
    finally:
        connection.close()


def days_ago(n):
    return timezone.localdate() - datetime.timedelta(days=n)


@pytest.fixture
def issues(world):
    made = {
        "lamp": make_issue(
            world.ha,
            raised_by=world.worker_a,
            text="1号楼2单元楼道声控灯损坏两周，老人夜间上下楼不便，希望尽快维修",
            status=Status.ROUTED,
            registered_on=days_ago(2),
            department=world.dept,
            assignee=world.handler,
        ),
        "late": make_issue(
            world.hb,
            text="小区东门雨后积水严重，电动车无法通行，已反映多次",
            category=Category.MUNICIPAL,
            severity=Severity.MAJOR,
            status=Status.IN_PROGRESS,
            registered_on=days_ago(70),
            department=world.dept,
            assignee=world.handler,
            hotline_ticket="2026112300017",
        ),
        "new": make_issue(
            world.hc, text="咨询高龄津贴申领条件和办理地点", category=Category.ELDERLY, registered_on=days_ago(0)
        ),
        "new2": make_issue(
            world.ha, raised_by=world.worker_a, text="楼道灯又坏了", category=Category.LIVING, registered_on=days_ago(1)
        ),
    }
    # The department asks for more time on the late one: the street admin's page shows the decision form.
    services.issue_request_extension(
        issue=made["late"], by=world.handler, days=10, reason="需协调排水管网改造，雨季施工受限"
    )
    return made


def test_it_lets_a_department_handler_post_a_plan_from_a_phone(live_server, world, issues, browser_page):
    page = browser_page
    log_in(page, live_server, "dept1")
    page.click("text=诉求台账")
    page.wait_for_load_state()
    page.click(".subnav >> text=我的诉求")
    page.wait_for_load_state()
    listing = page.inner_text(".issue-list")
    assert "声控灯" in listing and "积水" in listing and "高龄津贴" not in listing
    # Overdue first.
    assert listing.index("积水") < listing.index("声控灯")
    assert_fits(page)
    screenshot(page, "issues_mine_phone")

    page.click("text=1号楼2单元楼道声控灯")
    page.wait_for_load_state()
    main = page.inner_text("main")
    assert "张甲" in main and world.ha.id_number not in main and world.ha.phone not in main
    assert_fits(page)
    screenshot(page, "issues_detail_handler_phone")

    page.fill("#act-post_plan textarea[name=plan]", "联系物业公司，3个工作日内更换声控灯，社区网格员现场验收")
    page.click("#act-post_plan button[type=submit]")
    page.wait_for_load_state()
    assert "已上报方案" in page.inner_text(".messages")
    timeline = page.inner_text("#timeline")
    assert "上报方案" in timeline and "3个工作日内更换声控灯" in timeline
    assert plans_posted(issues["lamp"]) == 1
    assert_fits(page)
    screenshot(page, "issues_detail_after_plan_phone")


def test_it_fits_the_street_offices_pages_on_a_phone_and_a_desk(live_server, world, issues, browser_page):
    page = browser_page
    log_in(page, live_server, "admin")
    page.goto(f"{live_server.url}/issues/")
    assert "问题整改台账" in page.inner_text("main")
    assert_fits(page)
    screenshot(page, "issues_ledger_phone")

    page.click("summary:has-text('筛选条件')")
    page.select_option("select[name=status]", "open")
    page.click("text=应用筛选")
    page.wait_for_load_state()
    assert "已筛选" in page.inner_text("main")
    assert_fits(page)
    screenshot(page, "issues_ledger_filtered_phone")

    page.goto(f"{live_server.url}/issues/review/")
    assert "高龄津贴" in page.inner_text(".issue-list")
    assert_fits(page)
    screenshot(page, "issues_review_phone")

    page.goto(f"{live_server.url}/issues/{issues['new2'].pk}/merge/")
    assert "楼道灯又坏了" in page.inner_text("main")
    assert_fits(page)
    screenshot(page, "issues_merge_phone")

    page.goto(f"{live_server.url}/issues/{issues['new'].pk}/")
    assert_fits(page)
    screenshot(page, "issues_detail_admin_phone")

    page.goto(f"{live_server.url}/issues/new/?household={world.ha.pk}")
    assert_fits(page)
    screenshot(page, "issues_new_phone")

    page.goto(f"{live_server.url}/issues/{issues['late'].pk}/#act-decide_extension")
    assert "需协调排水管网改造" in page.inner_text("main")
    assert page.is_visible("#act-decide_extension button[type=submit]")  # the link unfolded the form
    assert_fits(page)
    page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar would sit mid-page in a full-page shot
    screenshot(page, "issues_detail_extension_phone")

    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/issues/")
    assert_fits(page, 1280)
    screenshot(page, "issues_ledger_desktop")
    page.goto(f"{live_server.url}/issues/{issues['late'].pk}/")
    screenshot(page, "issues_detail_desktop")
