"""What a leader reads, in real headless Chromium on the demo street (phone and desktop): the
千分制 chart's axis starts at 0 and a bar opens its findings, the 满意率 is on the page, a cadre of
the 落后名单 opens his households, the 未访 list names who holds each household. Screenshots go to
var/screenshots/ (leader_*.png)."""

import pytest

from tests.support.browser import DEMO_PASSWORD, SCREENSHOTS, log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def score_axis(page):
    """The 千分制 chart's value axis as ECharts drew it: (min, max) and the bars' values."""
    page.wait_for_selector("#ch-scores canvas")
    return page.evaluate(
        """() => {
        const chart = echarts.getInstanceByDom(document.getElementById("ch-scores"));
        const axis = chart.getModel().getComponent("xAxis", 0).axis.scale.getExtent();
        return {min: axis[0], max: axis[1], values: chart.getOption().series[0].data.map(d => d.value)};
    }"""
    )


def test_a_leader_reads_honest_scores_satisfaction_and_who_is_behind(browser_page, live_server, demo_street):
    page = browser_page
    log_in(page, live_server, "leader1", DEMO_PASSWORD)
    page.goto(f"{live_server.url}/reports/")
    axis = score_axis(page)
    assert axis["min"] == 0 and axis["max"] >= max(axis["values"])  # points lost, from 0
    assert "满意率" in page.locator("#satisfaction-table").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, "leader_dashboard_phone")
    page.set_viewport_size({"width": 1366, "height": 768})
    page.reload()
    score_axis(page)
    for card, name in (("#ch-scores", "leader_scores_card"), ("#ch-satisfaction", "leader_satisfaction_card")):
        page.locator(f"section.card:has({card})").screenshot(path=str(SCREENSHOTS / f"{name}.png"))
    page.locator("section.kpis").screenshot(path=str(SCREENSHOTS / "leader_tiles.png"))
    screenshot(page, "leader_dashboard_desktop")

    # The 方案按时上报率 tile opens the plans it counts, each on time or late.
    page.set_viewport_size({"width": 360, "height": 740})
    tile = page.locator("a.kpi", has_text="方案按时上报率")
    due = int(tile.locator(".k-sub").inner_text().split("/")[1].split()[0])
    tile.click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "应报方案"
    assert f"共 {due} 件" in page.locator(".hint").inner_text()
    screenshot(page, "leader_plan_rows_phone")

    # A cadre of the 落后名单 opens his households.
    page.goto(f"{live_server.url}/reports/behind/")
    first = page.locator("table.rtable tbody tr a").first
    name = first.inner_text()
    first.click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == f"{name}的包户"
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, "leader_cadre_households_phone")

    # The 未访 list names who holds each household.
    page.goto(f"{live_server.url}/reports/unvisited/")
    assert "包户干部：" in page.locator("[data-responsible]").first.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, "leader_unvisited_phone")
