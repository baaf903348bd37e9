"""The field app without signal, in real headless Chromium at 390 px.

A department cadre of the demo street logs in with signal (the phone keeps the pages of his
households), loses the signal, opens 我的包户 and three households, records three visits with one
issue each, reloads while still offline, and gets the signal back: the three visits and their three
issues are saved once each and nothing waits on the phone. A fourth visit, recorded offline for a
household that was reassigned to another cadre meanwhile, comes back with the server's reason and
stays on the phone until he discards it. Logging out empties the phone.

Screenshots: var/screenshots/offline_*.png. Skipped locally without Chromium; failing in CI.
"""

import datetime
import re

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from issues.models import Issue
from tests.support.browser import screenshot
from visitplan.models import Assignment, Cadre, Campaign
from visits.models import Visit
from visits.rules import SCOPE_VISITORS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "demo12345"
VISIT_DAY = "2026-11-20"  # inside the demo campaign's 走访 stage, a Friday


def db(fn):
    try:
        return fn()
    finally:
        connection.close()


def poll(page, script, *, tries=200, every=100):
    """The value of ``script`` once truthy (CSP forbids wait_for_function's string evaluation)."""
    for _ in range(tries):
        value = page.evaluate(script)
        if value:
            return value
        page.wait_for_timeout(every)
    raise AssertionError(f"never true: {script}")


@pytest.fixture
def cadre_world(demo_street):
    """A cadre who is not a grid worker (he may visit only his own households), four of them."""
    campaign = Campaign.objects.get()
    cadre = (
        Cadre.objects.filter(active=True, user__isnull=False, assignments__campaign=campaign)
        .exclude(tier__in=SCOPE_VISITORS)
        .order_by("pk")
        .first()
    )
    households = [
        a.household
        for a in Assignment.objects.filter(campaign=campaign, cadre=cadre)
        .select_related("household")
        .order_by("household__path", "household__unit", "household__room", "household_id")[:4]
    ]
    world = {
        "username": cadre.user.username,
        "user_id": cadre.user_id,
        "cadre": cadre.pk,
        "campaign": campaign.pk,
        "households": households,
        "visits_before": set(Visit.objects.values_list("pk", flat=True)),
        "issues_before": set(Issue.objects.values_list("pk", flat=True)),
    }
    connection.close()
    return world


def record_visit(page, base, household, issue_text):
    page.goto(f"{base}/visits/h/{household.pk}/")
    assert household.head_name[0] in page.locator("h1").inner_text()
    page.click("text=开始走访")
    page.wait_for_url(re.compile(rf"/visits/h/{household.pk}/visit/$"))
    page.fill("input[name=visited_on]", VISIT_DAY)
    page.fill("input[name=started_at]", "09:00")
    page.fill("input[name=ended_at]", "09:40")
    page.click("[data-add-row]")
    page.fill("textarea[name='issues-0-text']", issue_text)
    page.select_option("select[name='issues-0-category']", "living")
    page.click("[data-submit]")
    # Kept on the phone, back on the household page (itself kept on the phone).
    page.wait_for_url(re.compile(rf"/visits/h/{household.pk}/$"))
    assert "已保存在本机" in page.locator("main").inner_text()


def waiting(page, expected=None):
    """The header's word on what waits on the phone (once it says ``expected``, if given)."""
    script = "(document.querySelector('[data-sync-state]') || {}).textContent || ''"
    for _ in range(100):
        text = page.evaluate(script)
        if expected is None or text == expected:
            break
        page.wait_for_timeout(100)
    return text


def test_a_round_of_visits_without_signal_is_sent_once_when_it_returns(chromium, live_server, cadre_world):
    w = cadre_world
    base = live_server.url
    h1, h2, h3, h4 = w["households"]
    context = chromium.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()

    # With signal: log in, open 我的包户; the phone keeps the pages of his households.
    page.goto(f"{base}/login/")
    page.fill("#id_username", w["username"])
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/visits/")
    poll(page, "navigator.serviceWorker.controller !== null")
    kept = poll(page, f"JSON.parse(localStorage.getItem('visitplan-kept-summary:{w['user_id']}') || 'null')", tries=600)
    assert kept["pages"] >= 1 + 4 * 2  # the list, each household page and its visit form
    # Only his own households: none of another cadre's household pages is kept.
    cached = page.evaluate(
        "caches.open('visitplan-pages').then(c => c.keys()).then(ks => ks.map(r => new URL(r.url).pathname))"
    )
    mine = {f"/visits/h/{h.pk}/" for h in w["households"]}
    assert mine <= set(cached)
    assigned = db(
        lambda: set(
            Assignment.objects.filter(campaign_id=w["campaign"], cadre_id=w["cadre"]).values_list(
                "household_id", flat=True
            )
        )
    )
    for path in cached:
        match = re.match(r"^/visits/h/(\d+)/", path)
        if match:
            assert int(match.group(1)) in assigned, path

    # No signal from here on.
    context.set_offline(True)
    page.goto(f"{base}/visits/")
    assert page.locator("h1").first.inner_text() == "我的包户"
    screenshot(page, "offline_mine", full_page=False)
    record_visit(page, base, h1, "一楼楼道灯不亮，离线登记")
    record_visit(page, base, h2, "小区门口路面坑洼，离线登记")
    record_visit(page, base, h3, "垃圾分类点太远，离线登记")
    assert waiting(page, "待上传 3 条") == "待上传 3 条"
    screenshot(page, "offline_household_waiting", full_page=False)

    # Meanwhile the fourth household goes to another cadre; the phone does not know it yet.
    def reassign():
        taken = Assignment.objects.filter(campaign_id=w["campaign"], household_id=h4.pk).values("cadre_id")
        other = Cadre.objects.filter(active=True).exclude(pk__in=taken).order_by("pk").first()
        Assignment.objects.filter(campaign_id=w["campaign"], household_id=h4.pk, cadre_id=w["cadre"]).update(
            cadre=other
        )

    db(reassign)
    record_visit(page, base, h4, "想了解养老服务，离线登记")

    # A reload without signal: the page comes from the phone, the records are still there.
    page.reload()
    assert waiting(page, "待上传 4 条") == "待上传 4 条"
    page.goto(f"{base}/visits/")  # 我的包户 marks the households whose records wait
    marked = poll(page, "document.querySelectorAll('.hh-list .mark-offline').length")
    assert marked == 4
    screenshot(page, "offline_mine_waiting", full_page=False)
    assert db(lambda: Visit.objects.exclude(pk__in=w["visits_before"]).count()) == 0

    # The signal returns: everything is sent, once.
    context.set_offline(False)
    poll(page, "(document.querySelector('[data-sync-state]') || {}).getAttribute && "
               "document.querySelector('[data-sync-state]').getAttribute('data-n-waiting') === '0'")  # fmt: skip
    assert waiting(page, "1 条未通过") == "1 条未通过"
    new_visits = db(lambda: list(Visit.objects.exclude(pk__in=w["visits_before"]).order_by("household_id")))
    assert sorted(v.household_id for v in new_visits) == sorted([h1.pk, h2.pk, h3.pk])
    assert all(v.recorded_at is not None and v.cadre_id == w["cadre"] for v in new_visits)
    new_issues = db(lambda: list(Issue.objects.exclude(pk__in=w["issues_before"])))
    assert sorted(i.text for i in new_issues) == sorted(
        ["一楼楼道灯不亮，离线登记", "小区门口路面坑洼，离线登记", "垃圾分类点太远，离线登记"]
    )

    # Kept again with signal: only the pages that changed cross the network (the list pages, and the
    # three households visited), and the reassigned household's pages leave the phone.
    page.goto(f"{base}/visits/offline/")  # 更新本机页面 is there
    again = page.evaluate("window.VisitplanOffline.keepPages(true)")
    assert again["pages"] == kept["pages"] - 2 and 3 * 2 <= again["fetched"] <= 3 * 2 + 4, (kept, again)
    cached = page.evaluate(
        "caches.open('visitplan-pages').then(c => c.keys()).then(ks => ks.map(r => new URL(r.url).pathname))"
    )
    assert f"/visits/h/{h4.pk}/" not in cached and f"/visits/h/{h1.pk}/" in cached

    # Sent again (a second tab, a retry): still once.
    page.evaluate("window.VisitplanOffline.sync()")
    page.reload()
    assert db(lambda: Visit.objects.exclude(pk__in=w["visits_before"]).count()) == 3

    # The refused one is on 本机记录 with the server's reason, until he discards it.
    page.goto(f"{base}/visits/offline/")
    refused = page.locator("[data-refused]").inner_text()
    assert "该户已不在您的名单上" in refused and h4.head_name[0] in refused
    assert page.locator("[data-waiting] .offline-waiting").count() == 0
    assert page.locator("[data-sent] li").count() == 3
    screenshot(page, "offline_records")
    page.once("dialog", lambda d: d.accept())
    page.click("[data-refused] button:has-text('放弃')")
    poll(page, "document.querySelector('[data-refused-card]').hidden")
    assert page.evaluate("window.VisitplanOffline.records().then(r => r.length)") == 0

    # A kept page past its days is not shown: without signal the app says it was not kept.
    page.evaluate(
        """async ([path, days]) => {
            const cache = await caches.open('visitplan-pages');
            const old = await cache.match(path);
            const headers = new Headers(old.headers);
            headers.set('X-Kept-At', String(Date.now() - (days + 1) * 86400000));
            await cache.put(path, new Response(await old.blob(), {status: 200, headers}));
        }""",
        [f"/visits/h/{h2.pk}/", settings.OFFLINE_KEEP_DAYS],
    )
    context.set_offline(True)
    page.goto(f"{base}/visits/h/{h3.pk}/")  # still fresh: shown
    assert h3.head_name[0] in page.locator("h1").inner_text()
    page.goto(f"{base}/visits/h/{h2.pk}/")
    assert page.locator("[data-not-kept]").is_visible()
    assert "没有保存在本机" in page.locator("[data-not-kept]").inner_text()
    screenshot(page, "offline_not_kept", full_page=False)
    context.set_offline(False)
    page.goto(f"{base}/visits/offline/")

    # A visit form kept on one day and opened without signal on another: today's date and time in it.
    later = timezone.localdate() + datetime.timedelta(days=2)
    context.set_offline(True)
    page.clock.set_fixed_time(timezone.make_aware(datetime.datetime.combine(later, datetime.time(10, 7))))
    page.goto(f"{base}/visits/h/{h3.pk}/visit/")
    assert page.input_value("input[name=visited_on]") == later.isoformat()
    assert page.input_value("input[name=started_at]") == "10:05"
    context.set_offline(False)
    page.goto(f"{base}/visits/offline/")

    # Logging out empties the phone of his pages.
    page.click("form[data-logout] button")
    page.wait_for_url(re.compile(r"/login/"))
    poll(page, "caches.has('visitplan-pages').then(has => !has)")
    context.close()
