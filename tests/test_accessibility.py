"""WCAG 2.0/2.1 AA (GB/T 37668-2019) by axe-core 4.14 in Chromium: every page of every role, on a
390-px phone and a desktop, has no critical and no serious violation. Moderate and minor findings
are printed (pytest -s, or in the report of a failure) to be worked through.

The pages are those of the demo street (``manage.py seed_demo``), as each role meets them, plus
the visit form after a refused submit (its error state).
"""

import pytest
from django.db import connection

from tests.support.axe import audit, blocking
from tests.support.browser import DEMO_PASSWORD, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}


def ids():
    """Objects of the demo street the page paths need (read, then the connection closed)."""
    from households.models import Household
    from issues.models import Issue
    from reports.models import PhoneCheck
    from visitplan.models import Campaign
    from visits.models import Visit

    try:
        household = Household.objects.filter(grid__name="第1网格", community__name="湖田社区").order_by("pk").first()
        return {
            "household": household.pk,
            "issue": Issue.objects.filter(community__name="湖田社区").order_by("pk").first().pk,
            "visit": Visit.objects.filter(household__community__name="湖田社区").order_by("pk").first().pk,
            "phone_check": PhoneCheck.objects.order_by("pk").values_list("pk", flat=True).first(),
            "campaign": Campaign.objects.order_by("pk").values_list("pk", flat=True).first(),
        }
    finally:
        connection.close()


def pages_of(o):
    rules = f"/campaigns/{o['campaign']}/rules/"  # 活动规则 (its edit page: the street admin's)
    cadre = ["/", "/visits/", "/visits/todo/", "/visits/followups/", "/visits/cards/", "/visits/offline/",
             f"/visits/h/{o['household']}/", f"/visits/h/{o['household']}/visit/", f"/visits/{o['visit']}/",
             "/households/", f"/households/{o['household']}/", "/issues/", "/issues/mine/",
             f"/issues/{o['issue']}/", f"/issues/new/?household={o['household']}", "/issues/new/",
             "/notifications/", "/account/password/", rules]  # fmt: skip
    reports = ["/reports/", "/reports/unvisited/", "/reports/behind/", "/reports/issues/", "/reports/visits/",
               "/reports/followups/", "/reports/findings/", "/reports/phone-checks/", "/reports/summary/"]  # fmt: skip
    admin = ["/admin/", "/admin/households/household/", f"/admin/households/household/{o['household']}/change/",
             "/admin/visitplan/cadre/", "/admin/issues/issue/", "/admin/visits/visit/"]  # fmt: skip
    return {
        "grid_hutian_1": cadre,
        "sec_hutian": cadre + ["/issues/review/"] + reports + admin[:2],
        "admin": cadre
        + ["/issues/review/", f"{rules}edit/"]
        + reports
        + admin
        + ["/reports/evaluation/", "/reports/bulletin/"],
        "leader1": ["/", "/visits/", "/visits/todo/", "/issues/", f"/issues/{o['issue']}/", *reports]
        + ["/reports/evaluation/", "/reports/bulletin/", rules],
        "dept_minzheng_1": ["/visits/", "/visits/todo/", "/issues/", "/issues/mine/", "/notifications/", rules],
    }


def check(page, url, label, serious, others):
    page.goto(url)
    page.wait_for_load_state()
    if "/admin/" not in url:  # the admin's own layout titles its pages with h1 already
        headings = page.locator("h1").count()
        if headings != 1:
            serious.append(f"{label}: {headings} h1 (one per page)")
    found = audit(page)
    for f in blocking(found):
        serious.append(f"{label}: {f.line()}")
    for f in found:
        if f not in blocking(found):
            others.add(f"{f.impact}:{f.rule}")


def test_no_page_of_any_role_has_a_critical_or_serious_violation(live_server, browser_page, demo_street):
    o = ids()
    page = browser_page
    serious, others = [], set()
    page.context.clear_cookies()
    for viewport in (PHONE, DESKTOP):
        page.set_viewport_size(viewport)
        check(page, f"{live_server.url}/login/", f"{viewport['width']} anonymous /login/", serious, others)
    for username, paths in pages_of(o).items():
        page.context.clear_cookies()
        log_in(page, live_server, username, DEMO_PASSWORD)
        for viewport in (PHONE, DESKTOP):
            page.set_viewport_size(viewport)
            for path in paths:
                check(page, f"{live_server.url}{path}", f"{viewport['width']} {username} {path}", serious, others)
    # The visit form after a refused submit: the error summary and the marked fields.
    page.context.clear_cookies()
    log_in(page, live_server, "grid_hutian_1", DEMO_PASSWORD)
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/visits/h/{o['household']}/visit/")
    page.fill("[name=started_at]", "10:00")
    page.fill("[name=ended_at]", "09:00")
    page.locator("form.visit-form button[type=submit], form button[type=submit].primary").last.click()
    page.wait_for_load_state()
    check(page, page.url, "390 grid_hutian_1 visit form with errors", serious, others)
    print("\nmoderate / minor findings:", ", ".join(sorted(others)) or "none")
    assert not serious, "\n".join(serious)
