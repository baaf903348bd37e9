"""The loop between people, in a real browser: one issue through every step, each role logged in in
turn, on a phone (the grid worker, the secretary) and on a desktop (the department, the street
admin). At each step the next person's header counts it, his 待办 lists it with the link that
opens the step, and a notification of that step waits for him.

Screenshots: var/screenshots/loop_*.png (the 待办 page at 390 px among them).
"""

import pytest
from django.db import connection

from issues.models import EventKind, Issue, Notification
from tests.support.browser import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}


def db(fn):
    """Read the database from the test thread, then close that connection (see test_browser_ledger)."""
    try:
        return fn()
    finally:
        connection.close()


def as_user(page, live_server, user, viewport):
    page.context.clear_cookies()
    page.set_viewport_size(viewport)
    log_in(page, live_server, user.username)


def notified(user, issue, kind):
    return db(lambda: Notification.objects.filter(user=user, issue=issue, event__kind=kind).count())


def open_from_todo(page, live_server, issue, step):
    """The header's 待办 link → the row of ``issue`` → the issue page with the ``step`` form open."""
    badge = page.locator("header .bell", has_text="待办").locator(".badge")
    assert int(badge.inner_text()) >= 1
    page.click("header a.bell:has-text('待办')")
    page.wait_for_load_state()
    row = page.locator(f"a[href='/issues/{issue.pk}/#act-{step}']")
    assert row.count() == 1, f"#{issue.pk} is not in the 待办 of this user with the step {step}"
    row.click()
    page.wait_for_load_state()
    assert page.locator(f"#act-{step}").get_attribute("open") is not None


def submit(page, step, **fields):
    box = page.locator(f"#act-{step}")
    if box.get_attribute("open") is None:
        box.locator("summary").click()  # as a person opens the step's form
    for name, value in fields.items():
        field = box.locator(f"[name={name}]")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    box.locator("button[type=submit]").click()
    page.wait_for_load_state()


def test_one_issue_through_every_step_reaches_each_next_person(live_server, browser_page, world):
    w = world
    page = browser_page

    # 1. The grid worker registers what a resident asked, on his phone.
    as_user(page, live_server, w.worker_a, PHONE)
    page.goto(f"{live_server.url}/issues/new/?household={w.ha.pk}")
    page.fill("[name=text]", "1号楼2单元楼道声控灯坏了两周，老人夜里上下楼不便")
    page.select_option("[name=category]", index=1)
    page.click("main form.form-card button[type=submit]")
    page.wait_for_load_state()
    issue = db(lambda: Issue.objects.get(household=w.ha))
    assert notified(w.secretary, issue, EventKind.REGISTERED) == 1

    # 2. The secretary returns it: the unit is missing.
    as_user(page, live_server, w.secretary, PHONE)
    open_from_todo(page, live_server, issue, "accept")
    submit(page, "return", reason="请写明是哪一层的灯")
    assert notified(w.worker_a, issue, EventKind.RETURNED) == 1

    # 3. The worker completes it and resubmits.
    as_user(page, live_server, w.worker_a, PHONE)
    open_from_todo(page, live_server, issue, "resubmit")
    submit(page, "resubmit", text="1号楼2单元3楼楼道声控灯坏了两周，老人夜里上下楼不便")
    assert notified(w.secretary, issue, EventKind.RESUBMITTED) == 1

    # 4. The secretary accepts and routes it to the department.
    as_user(page, live_server, w.secretary, PHONE)
    open_from_todo(page, live_server, issue, "accept")
    submit(page, "accept")
    open_from_todo(page, live_server, issue, "route")
    submit(page, "route", department=str(w.dept.pk))
    assert notified(w.handler, issue, EventKind.ROUTED) == 1

    # 5. The department posts its plan and asks for more time, at a desk.
    as_user(page, live_server, w.handler, DESKTOP)
    open_from_todo(page, live_server, issue, "post_plan")
    screenshot(page, "loop_todo_department_desktop")
    submit(page, "post_plan", plan="联系物业三日内更换声控灯")
    submit(page, "request_extension", days="3", reason="灯具需采购，到货约一周")
    assert notified(w.admin, issue, EventKind.EXTENSION_REQUESTED) == 1

    # 6. The street admin approves the extension.
    as_user(page, live_server, w.admin, DESKTOP)
    open_from_todo(page, live_server, issue, "decide_extension")
    page.locator("#act-decide_extension").get_by_label("同意延期").check()
    submit(page, "decide_extension")
    assert notified(w.handler, issue, EventKind.EXTENSION_APPROVED) == 1

    # 7. The department answers the resident.
    as_user(page, live_server, w.handler, DESKTOP)
    open_from_todo(page, live_server, issue, "resolve")
    submit(page, "resolve", answer="已更换声控灯，已电话告知居民")
    assert notified(w.admin, issue, EventKind.RESOLVED) == 1

    # 8. The street admin closes it (销号).
    as_user(page, live_server, w.admin, DESKTOP)
    open_from_todo(page, live_server, issue, "close")
    submit(page, "close")
    assert notified(w.worker_a, issue, EventKind.CLOSED) == 1
    assert db(lambda: Issue.objects.get(pk=issue.pk).status) == "closed"

    # 9. The worker reads that it is closed, to tell the resident.
    as_user(page, live_server, w.worker_a, PHONE)
    page.goto(f"{live_server.url}/notifications/")
    assert page.locator(".notice-list li", has_text=f"【已销号】诉求#{issue.pk}").count() == 1
    screenshot(page, "loop_notifications_phone")
    page.goto(f"{live_server.url}/visits/todo/")
    assert page.locator(f"a[href^='/issues/{issue.pk}/']").count() == 0  # nothing waits for him now
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_the_todo_page_on_a_phone(live_server, browser_page, world):
    """What a secretary meets in the morning: several kinds of work, each with its deadline."""
    from issues import services
    from issues.tests.factories import register

    w = world
    db(lambda: [register(w.ha, w.worker_a, text=f"第{n}件：小区东门路灯不亮") for n in range(2)])
    first = db(lambda: Issue.objects.order_by("pk").first())
    db(lambda: services.issue_accept(issue=first, by=w.secretary, version=first.version))
    page = browser_page
    as_user(page, live_server, w.secretary, PHONE)
    page.goto(f"{live_server.url}/visits/todo/")
    assert page.locator("#todo-review .issue-item").count() == 1
    assert page.locator("#todo-route .issue-item").count() == 1
    assert page.locator("header .bell .badge").first.inner_text() == "2"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "loop_todo_phone")
