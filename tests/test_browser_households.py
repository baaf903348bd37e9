"""A grid worker on a phone: logs in, finds a household of the grid, opens it; another grid's is not there."""

import pytest

from tests.support.browser import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_lets_a_grid_worker_find_and_open_a_household(live_server, world, browser_page):
    page = browser_page
    log_in(page, live_server, "grid_a")
    assert "您好" in page.inner_text("main")
    screenshot(page, "home_grid_worker")

    page.click("text=可查看的居民户")
    page.wait_for_load_state()
    listing = page.inner_text(".household-list")
    assert "张甲" in listing and "李乙" not in listing and "王丙" not in listing
    # The page fits a 360-px phone without sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, "households_list_phone")

    page.click("text=张甲")
    page.wait_for_load_state()
    card = page.inner_text("main")
    assert "身份证号" in card and world.ha.id_number not in card
    screenshot(page, "household_detail_phone")

    response = page.goto(f"{live_server.url}/households/{world.hb.pk}/")
    assert response.status == 404


def test_it_refuses_a_wrong_password_in_chinese(live_server, world, browser_page):
    page = browser_page
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "grid_a")
    page.fill("#id_password", "wrong-password")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "用户名或密码不正确" in page.inner_text("main")
