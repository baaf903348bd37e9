"""The visit form by keyboard alone, as a screen-reader or switch user fills it.

Tab moves through the form; every focus stop is visible, never under the sticky top bar or the
sticky submit bar (at 390 × 844, and at 200 % zoom); the choices are groups with a name; a refused
submit moves the focus to the error summary, whose links take the focus to each field; the second
submit saves. Nothing is clicked.
"""

import pytest
from django.db import connection

from tests.support.browser import log_in, screenshot
from tests.support.visits import VISIT_DAY
from visits.models import Visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HIDDEN_STOPS = """() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const r = el.getBoundingClientRect();
    const top = document.querySelector('.topbar');
    const bar = document.querySelector('.submit-bar');
    const sticky = e => e && getComputedStyle(e).position === 'sticky';
    const topEdge = sticky(top) && !top.contains(el) ? top.getBoundingClientRect().bottom : 0;
    const bottomEdge = sticky(bar) && !bar.contains(el) ? bar.getBoundingClientRect().top : window.innerHeight;
    const name = (el.name || el.id || el.textContent.trim().slice(0, 12));
    return {name, hidden: r.top < topEdge - 1 || r.bottom > bottomEdge + 1, top: r.top, bottom: r.bottom, topEdge, bottomEdge};
}"""


def focus_stops(page, limit=120):
    """Tab through the page; the stops, and those hidden under a sticky bar."""
    page.evaluate("window.scrollTo(0, 0); document.activeElement && document.activeElement.blur()")
    stops, hidden = [], []
    for _ in range(limit):
        page.keyboard.press("Tab")
        stop = page.evaluate(HIDDEN_STOPS)
        if stop is None:
            break
        if stops and stop["name"] == stops[0]["name"] and len(stops) > 5:
            break  # round again
        stops.append(stop)
        if stop["hidden"]:
            hidden.append(stop)
    return stops, hidden


def until(page, expression, seconds=5):
    """Poll ``expression`` (page.wait_for_function evaluates strings, which the page's CSP forbids)."""
    for _ in range(int(seconds * 20)):
        if page.evaluate(expression):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"never true: {expression}")


def tab_to(page, selector, limit=150):
    for _ in range(limit):
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


@pytest.mark.parametrize("zoom", [1, 2])
def test_no_focus_stop_hides_under_a_sticky_bar(live_server, browser_page, vw, zoom):
    page = browser_page
    page.set_viewport_size({"width": 390 // zoom, "height": 844 // zoom})  # 200 % zoom: half the CSS pixels
    log_in(page, live_server, "grid_a")
    page.goto(f"{live_server.url}/visits/h/{vw.ha.pk}/visit/")
    stops, hidden = focus_stops(page)
    assert len(stops) > 40, [s["name"] for s in stops]
    assert not hidden, "\n".join(map(str, hidden))


def test_the_visit_form_by_keyboard_with_a_refused_submit_on_the_way(live_server, browser_page, vw):
    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server, "grid_a")
    page.goto(f"{live_server.url}/visits/h/{vw.ha.pk}/visit/")

    # The groups are named: 走访方式 and 满意度 are fieldsets with a legend; the help boxes by domain.
    legends = page.locator("fieldset > legend").all_inner_texts()
    assert any("走访方式" in t for t in legends) and any("满意度" in t for t in legends)
    assert page.locator("fieldset legend", has_text="三了解").count() == 1
    names = page.locator("input[name^=h_]").evaluate_all("els => els.map(e => e.getAttribute('aria-label'))")
    assert len(names) == 9 and len(set(names)) == 9 and all(n.endswith("需要帮助") for n in names)
    described = page.locator("textarea[name=q_living]").get_attribute("aria-describedby")
    assert "住房" in page.inner_text(f"#{described}")

    # Keyboard only: the method by arrow keys, the date and the times typed; end before start.
    tab_to(page, "input[name=method]")
    page.keyboard.press("Space")
    tab_to(page, "input[name=visited_on]")
    page.keyboard.type(VISIT_DAY.strftime("%m%d%Y"))
    tab_to(page, "input[name=started_at]")
    page.keyboard.type("1400")
    tab_to(page, "input[name=ended_at]")
    page.keyboard.type("1330")
    tab_to(page, "[data-submit]")
    page.keyboard.press("Enter")
    page.wait_for_load_state()

    # Refused: the focus is on the summary, which names the field as a link to it.
    until(page, "document.activeElement.matches('[data-error-summary]')")
    screenshot(page, "keyboard_visit_refused")
    summary = page.inner_text("[data-error-summary]")
    assert "结束时间" in summary
    link = page.locator("[data-error-summary] a[href='#id_ended_at']")
    assert link.count() == 1
    ended = page.locator("#id_ended_at")
    error_id = ended.get_attribute("aria-describedby")
    assert error_id and all(page.locator(f"#{i}").count() == 1 for i in error_id.split())
    page.keyboard.press("Tab")  # into the summary: its first link
    tab_to(page, "[data-error-summary] a[href='#id_ended_at']")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "id_ended_at"
    page.keyboard.press("Control+A")
    page.keyboard.type("1445")
    tab_to(page, "[data-submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/visits/h/{vw.ha.pk}/#visit-*")
    try:
        visit = Visit.objects.get(household=vw.ha)
        assert (visit.started_at.hour, visit.ended_at.minute, visit.duration_minutes) == (14, 45, 45)
    finally:
        connection.close()
