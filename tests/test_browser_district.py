"""A district leader (区级领导) in a real browser, on a phone (360 px) and on a desktop (1280 px):
``manage.py seed_demo --streets 2`` builds 张店区 of 湖田街道 and 车站街道; ``district_leader`` logs in,
lands on the 区级看板, reads the two streets side by side (each row the street dashboard's own
figures), and drills down into 车站街道's dashboard. The 区级看板 is checked by axe-core as
tests/test_accessibility.py checks every page (that test runs on the one-street demo, which has no
district). Screenshots: district_*.png.
"""

import re

import pytest

from households.models import District, Street
from reports import district as district_figures
from tests.support.axe import audit, blocking
from tests.support.browser import DEMO_PASSWORD, log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo_district(transactional_db):
    from io import StringIO

    from django.core.management import call_command

    call_command("seed_demo", households=300, streets=2, stdout=StringIO())


def _cells(page, street):
    row = page.locator(f"#district-streets tr[data-street='{street.pk}']")
    return {
        cell.get_attribute("data-figure"): cell.inner_text().strip() for cell in row.locator("td[data-figure]").all()
    }


@pytest.mark.parametrize("size", [(360, 740), (1280, 900)], ids=["phone", "desktop"])
def test_a_district_leader_reads_two_streets_side_by_side_and_drills_down(live_server, chromium, demo_district, size):
    width, height = size
    district = District.objects.get(name="张店区")
    hutian, chezhan = Street.objects.get(name="湖田街道"), Street.objects.get(name="车站街道")
    assert set(district.streets.all()) == {hutian, chezhan}

    context = chromium.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = context.new_page()
    log_in(page, live_server, "district_leader", DEMO_PASSWORD)
    assert page.url.endswith("/reports/district/")  # a district's reader lands on the 区级看板
    assert page.locator("h1").inner_text().strip() == "区级看板 · 张店区"
    assert page.locator(".mainnav a.on").inner_text().strip() == "区级看板"

    # Both streets, side by side, each with the figures its own dashboard counts.
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    leader = get_user_model().objects.get(username="district_leader")
    for street in (hutian, chezhan):
        expected = district_figures.street_row(leader, street, today=timezone.localdate())
        cells = _cells(page, street)
        assert cells["total"] == str(expected.coverage["total"]) and expected.coverage["total"] > 0
        assert cells["coverage"] == f"{expected.coverage['pct']}%"
        assert cells["visits"] == str(expected.visits["count"])
        assert cells["issues"] == str(expected.issues["total"])
    assert _cells(page, hutian)["total"] != _cells(page, chezhan)["total"]  # two streets, not one twice

    # The table fits the screen: on a phone it scrolls inside itself, the page does not.
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, overflow
    if width < 400:
        assert page.evaluate("(t => t.scrollWidth > t.clientWidth)(document.querySelector('#district-streets'))")
    screenshot(page, f"district_{'phone' if width < 400 else 'desktop'}")
    # WCAG AA (tests/test_accessibility.py's check): no critical or serious violation, one h1.
    assert page.locator("h1").count() == 1
    serious = [f.line() for f in blocking(audit(page))]
    assert not serious, serious

    # Drill down: 车站街道's own dashboard, its communities only.
    page.click(f"#district-streets tr[data-street='{chezhan.pk}'] th a")
    page.wait_for_load_state()
    assert re.search(r"/reports/\?campaign=\d+$", page.url)
    assert page.locator(".sub-head").inner_text().startswith("车站街道 · ")  # which street this is
    assert page.locator("select[name=campaign] option:checked").inner_text().startswith("车站街道 · ")
    coverage = page.locator("#dashboard table").first.inner_text()
    assert "站北社区" in coverage and "站南社区" in coverage and "湖田社区" not in coverage
    households = district_figures.street_row(leader, chezhan, today=timezone.localdate()).coverage
    assert f"{households['visited']}/{households['total']} 户" in page.locator(".kpis").inner_text()
    screenshot(page, f"district_drilldown_{'phone' if width < 400 else 'desktop'}", full_page=False)
    context.close()
