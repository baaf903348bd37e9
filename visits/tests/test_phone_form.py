"""What a grid worker meets on a phone: a 390-px screen set to English and 12-hour time.

- The visit form's times are 24-hour text ("1400" becomes "14:00"), never a 12-hour picker whose
  "02:00 PM" a narrow field cuts to "02:00"; what is stored is what was shown.
- The error summary names each error (the field and the message), each a link that moves the
  focus to its field; "结束时间早于开始时间" is said once on the form, not twice.
- The banners are where the eye is: the "restore the draft?" banner after a reload that would put
  the page back further down, and the green "已保存" message after the save, whose redirect points
  at the new record further down.

The browser tests run Debian's Chromium through Playwright (skipped locally without it, failing in
CI); screenshots go to var/screenshots/ (phone_*.png).
"""

import datetime
import uuid
from types import SimpleNamespace

import pytest
from django.db import connection

from tests.support.browser import log_in, screenshot
from tests.support.visits import VISIT_DAY
from visits.forms import TIME_INVALID, FollowUpForm, RaisedIssueFormSet, VisitForm, error_summary, parse_24h_time
from visits.models import Visit

WIDTH = 390


@pytest.fixture
def phone(chromium):
    """A 390-px phone in English with 12-hour time (en-US), in a fresh browser context."""
    context = chromium.new_context(
        viewport={"width": WIDTH, "height": 780}, locale="en-US", timezone_id="Asia/Shanghai"
    )
    yield context.new_page()
    context.close()


def shot(page, name):
    """What the phone's screen shows (tests.support.browser.screenshot)."""
    screenshot(page, name, full_page=False)


def db(fn):
    """Read the database from the test thread while the browser runs, then let go of the connection."""
    try:
        return fn()
    finally:
        connection.close()


def in_view(page, selector) -> bool:
    """The element is inside the viewport, below the sticky top bar."""
    return page.evaluate(
        """(sel) => {
            const r = document.querySelector(sel).getBoundingClientRect();
            const bar = document.querySelector('.topbar').getBoundingClientRect().bottom;
            return r.height > 0 && r.top >= bar - 1 && r.bottom <= window.innerHeight + 1;
        }""",
        selector,
    )


def open_form(page, live_server, household):
    log_in(page, live_server, "grid_a")
    page.goto(f"{live_server.url}/visits/h/{household.pk}/visit/")
    page.fill("input[name=visited_on]", VISIT_DAY.isoformat())


# ---------------------------------------------------------------------------------------------- the times


@pytest.mark.parametrize(
    "typed, parsed",
    [
        ("14:30", datetime.time(14, 30)),
        ("1430", datetime.time(14, 30)),
        ("930", datetime.time(9, 30)),
        ("9:05", datetime.time(9, 5)),
        ("14：30", datetime.time(14, 30)),
        ("14.30", datetime.time(14, 30)),
        ("00:00", datetime.time(0, 0)),
        ("23:59", datetime.time(23, 59)),
        ("14:30:00", datetime.time(14, 30)),
        ("2:30 PM", None),
        ("下午2:30", None),
        ("24:00", None),
        ("12:60", None),
        ("1", None),
        ("12345", None),
    ],
)
def test_times_are_read_as_24_hour_times(typed, parsed):
    assert parse_24h_time(typed) == parsed


def test_a_time_the_form_cannot_read_is_refused_in_chinese():
    form = VisitForm({"method": "in_person", "visited_on": "2026-09-28", "started_at": "2:30 PM", "ended_at": "1445"})
    assert not form.is_valid()
    assert form.errors["started_at"] == [TIME_INVALID] and "24小时制" in TIME_INVALID
    assert "ended_at" not in form.errors and form.cleaned_data["ended_at"] == datetime.time(14, 45)
    # What the form shows again is what it stores: HH:MM, in a text field for digits.
    html = str(VisitForm(initial={"started_at": datetime.time(14, 5)})["started_at"])
    assert 'type="text"' in html and 'value="14:05"' in html and 'inputmode="numeric"' in html


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_12_hour_phone_types_24_hour_times_that_are_not_clipped_and_stored_as_shown(live_server, vw, phone):
    page = phone
    open_form(page, live_server, vw.ha)
    start, end = page.locator("input[name=started_at]"), page.locator("input[name=ended_at]")
    assert start.get_attribute("type") == "text" and start.get_attribute("inputmode") == "numeric"
    assert "24小时制" in page.inner_text("#time-hint") and page.locator("#time-hint").is_visible()
    start.fill("1400")
    start.blur()
    end.fill("14：45")  # a Chinese keyboard's colon
    end.blur()
    assert (start.input_value(), end.input_value()) == ("14:00", "14:45")
    assert page.inner_text("[data-duration]") == "时长 45 分钟"
    # Nothing cut off: each field shows all it holds, and the page does not scroll sideways.
    for field in (start, end):
        box = field.evaluate("e => [e.scrollWidth, e.clientWidth, e.getBoundingClientRect().right]")
        assert box[0] <= box[1] and box[2] <= WIDTH, box
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    page.evaluate("document.querySelector('.times').scrollIntoView({block: 'center'})")
    shot(page, "phone_times_en_us")

    page.click("[data-submit]")
    page.wait_for_url(f"**/visits/h/{vw.ha.pk}/#visit-*")
    visit = db(lambda: Visit.objects.get(household=vw.ha))
    assert (visit.started_at, visit.ended_at, visit.duration_minutes) == (
        datetime.time(14, 0),
        datetime.time(14, 45),
        45,
    )


# ---------------------------------------------------------------------------------------------- the error summary


def test_the_summary_follows_the_page_and_names_each_field():
    """Errors the service adds after the form's own (ended_at here) still come in the order of the page."""
    form = VisitForm(
        {"key": "not-a-key", "method": "in_person", "visited_on": "", "started_at": "9", "q_living": "x" * 1001}
    )
    formset = RaisedIssueFormSet(
        {"issues-TOTAL_FORMS": "2", "issues-INITIAL_FORMS": "0", "issues-0-text": "", "issues-0-category": "living",
         "issues-0-severity": "general", "issues-1-text": "路灯", "issues-1-category": "", "issues-1-severity": "general"},
        prefix="issues",
    )  # fmt: skip
    assert not form.is_valid() and not formset.is_valid()
    form.add_error("ended_at", "结束时间早于开始时间")
    items = [(e["label"], e["target"]) for e in error_summary(form, formset)]
    assert items == [
        ("表单", ""),  # the hidden key: nothing to go to
        ("走访日期", "id_visited_on"),
        ("开始时间", "id_started_at"),
        ("结束时间", "id_ended_at"),
        ("住有宜居", "id_q_living"),
        ("诉求1 · 诉求内容", "id_issues-0-text"),
        ("诉求2 · 类别", "id_issues-1-category"),
    ], items


def test_the_follow_up_summary_names_the_issue_each_answer_belongs_to():
    due = [SimpleNamespace(pk=7, issue_id=31)]
    form = FollowUpForm({"key": str(uuid.uuid4()), "method": "phone", "visited_on": "2026-12-16", "solved_7": "yes"},
                        followups=due)  # fmt: skip
    assert not form.is_valid()
    assert error_summary(form) == [
        {"label": "诉求#31 居民满意度", "message": "请选择居民满意度", "target": "id_sat_7_0"}
    ]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_error_summary_lists_each_error_as_a_link_to_its_field(live_server, vw, phone):
    page = phone
    open_form(page, live_server, vw.ha)
    page.fill("input[name=started_at]", "14:00")
    page.fill("input[name=ended_at]", "13:30")
    page.click("[data-add-row]")  # an issue row with a category but no text
    page.select_option("select[name='issues-0-category']", "living")
    page.click("[data-submit]")
    summary = page.wait_for_selector("[data-error-summary]")
    links = page.locator("[data-error-summary] a[data-error-link]")
    items = [(links.nth(i).get_attribute("href"), links.nth(i).inner_text()) for i in range(links.count())]
    assert items == [
        ("#id_ended_at", "结束时间：结束时间早于开始时间"),
        ("#id_issues-0-text", "诉求1 · 诉求内容：这个字段是必填项。"),
    ], items
    assert "（2 处）" in summary.inner_text()
    # The summary is read out and focused; the message under the field is the only other one.
    assert summary.get_attribute("role") == "alert"
    assert page.evaluate("document.activeElement.hasAttribute('data-error-summary')")
    assert page.inner_text("main").count("结束时间早于开始时间") == 2  # the summary's and the field's
    assert page.inner_text("[data-duration]") != "结束时间早于开始时间"
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    shot(page, "phone_error_summary")

    links.nth(1).click()
    assert page.evaluate("document.activeElement.name") == "issues-0-text"
    assert in_view(page, "[name='issues-0-text']")
    links.nth(0).click()
    assert page.evaluate("document.activeElement.id") == "id_ended_at"

    # Changing a time: the live note takes over from the server's message (still said once).
    page.fill("input[name=ended_at]", "13:45")
    assert page.inner_text("[data-duration]") == "结束时间早于开始时间"
    assert page.locator(".times .error").count() == 0
    assert not db(lambda: Visit.objects.filter(household=vw.ha).exists())


# ---------------------------------------------------------------------------------------------- the banners


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_draft_banner_and_the_saved_message_are_where_the_eye_is(live_server, vw, phone):
    page = phone
    open_form(page, live_server, vw.ha)
    page.fill("input[name=started_at]", "9:05")
    page.fill("input[name=ended_at]", "0950")
    page.fill("textarea[name=notes]", "老人身体尚可，儿子在外地")
    page.wait_for_timeout(500)  # the draft is kept 300 ms after typing
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    assert page.evaluate("scrollY") > 1000

    # A reload would put the page back down there: the banner comes first, focused and read out.
    page.reload()
    page.wait_for_load_state("load")
    page.wait_for_selector("[data-draft-banner]:not([hidden])")
    page.wait_for_timeout(200)
    assert in_view(page, "[data-draft-banner]")
    assert page.evaluate("document.activeElement.hasAttribute('data-draft-banner')")
    assert page.get_attribute("[data-draft-banner]", "role") == "status"
    shot(page, "phone_draft_banner")
    page.click("[data-draft-restore]")
    assert page.input_value("textarea[name=notes]") == "老人身体尚可，儿子在外地"
    assert (page.input_value("input[name=started_at]"), page.input_value("input[name=ended_at]")) == ("09:05", "09:50")

    # After the save the page opens at the message, not at the new record further down.
    page.click("[data-submit]")
    page.wait_for_url(f"**/visits/h/{vw.ha.pk}/#visit-*")
    page.wait_for_load_state("load")
    page.wait_for_timeout(200)
    assert "走访记录已保存" in page.inner_text("main .messages")
    assert in_view(page, "main .messages")
    assert page.evaluate("document.activeElement.classList.contains('messages')")
    assert page.get_attribute("main .messages", "role") == "status"
    shot(page, "phone_saved_banner")
    visit = db(lambda: Visit.objects.get(household=vw.ha))
    page.click("[data-to-record]")  # the message leads to the new record
    assert in_view(page, f"#visit-{visit.pk}")
    assert "just-saved" in page.get_attribute(f"#visit-{visit.pk}", "class")
