"""Every logged-in user changes his own password (/account/password/, Django's PasswordChangeView):
cadres who may not enter the admin included, with the project's password rules in Chinese."""

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from tests.support.browser import TEST_PASSWORD, log_in, screenshot

pytestmark = pytest.mark.django_db

URL = "/account/password/"
NEW = "Hutian-Street-2026"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def change(client, old=TEST_PASSWORD, new1=NEW, new2=None):
    return client.post(
        reverse("password_change"),
        {"old_password": old, "new_password1": new1, "new_password2": new1 if new2 is None else new2},
    )


def can_log_in(username, password) -> bool:
    response = Client().post(reverse("login"), {"username": username, "password": password})
    return response.status_code == 302 and not response["Location"].startswith("/login/")


def test_the_urls_are_the_ones_the_header_links_to():
    assert reverse("password_change") == URL
    assert reverse("password_change_done") == "/account/password/done/"


def test_every_role_opens_the_page_and_anonymous_users_log_in_first(world):
    w = world
    for user in (w.worker_a, w.handler, w.secretary, w.leader, w.admin):
        response = logged_in(user).get(URL)
        assert response.status_code == 200, user
        page = response.content.decode()
        assert "修改密码" in page and 'class="topbar"' in page  # the site's own layout, not the admin's
        for label in ("旧密码", "新密码", "新密码确认"):
            assert f">{label}</label>" in page
        assert "你的密码必须包含至少 10 个字符" in page  # the rules, before one types
    anonymous = Client().get(URL)
    assert anonymous.status_code == 302 and anonymous["Location"] == f"/login/?next={URL}"


def test_a_grid_worker_changes_his_password_and_stays_logged_in(world):
    w = world
    client = logged_in(w.worker_a)
    elsewhere = logged_in(w.worker_a)  # the same account on another phone

    response = change(client)

    assert response.status_code == 302 and response["Location"] == reverse("password_change_done")
    done = client.get(response["Location"])
    assert done.status_code == 200 and "密码已修改" in done.content.decode()
    assert client.get(reverse("households:list")).status_code == 200  # this session goes on
    assert client.get(reverse("households:list")).status_code == 200
    assert elsewhere.get(reverse("households:list"))["Location"].startswith("/login/")  # the other one ends
    assert can_log_in("grid_a", NEW) and not can_log_in("grid_a", TEST_PASSWORD)


def test_a_wrong_old_password_changes_nothing(world):
    w = world
    response = change(logged_in(w.worker_a), old="not-my-password")
    assert response.status_code == 200
    assert "你的旧密码不正确" in response.content.decode()
    assert User.objects.get(username="grid_a").check_password(TEST_PASSWORD)


@pytest.mark.parametrize(
    ("new1", "new2", "message"),
    [
        ("Short-1", None, "太短"),
        ("1234567890123", None, "密码只包含数字"),
        ("password1234", None, "这个密码太常见了"),
        ("grid_a_2026", None, "太相似"),
        (NEW, NEW + "x", "输入的两个密码不一致"),
    ],
    ids=["too_short", "numeric", "common", "like_the_username", "mismatch"],
)
def test_every_password_rule_answers_in_chinese(world, new1, new2, message):
    w = world
    response = change(logged_in(w.worker_a), new1=new1, new2=new2)
    assert response.status_code == 200
    page = response.content.decode()
    assert message in page
    assert "This password" not in page and "password is too" not in page
    assert User.objects.get(username="grid_a").check_password(TEST_PASSWORD)


# ============================================================================================ in a browser


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_grid_worker_changes_his_password_on_a_phone_and_logs_in_with_it(live_server, world, browser_page):
    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server, "grid_a")
    page.goto(f"{live_server.url}{URL}")
    assert page.get_by_role("heading", name="修改密码").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.get_by_label("旧密码").fill(TEST_PASSWORD)
    page.get_by_label("新密码", exact=True).fill("12345")
    page.get_by_label("新密码确认").fill("12345")
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    assert "密码只包含数字" in page.inner_text("main")
    screenshot(page, "password_change_refused_phone")

    page.get_by_label("旧密码").fill(TEST_PASSWORD)
    page.get_by_label("新密码", exact=True).fill(NEW)
    page.get_by_label("新密码确认").fill(NEW)
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    assert "密码已修改" in page.inner_text("main")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "password_change_done_phone")

    page.click("header button:has-text('退出')")
    page.wait_for_load_state()
    log_in(page, live_server, "grid_a", TEST_PASSWORD)
    assert "用户名或密码不正确" in page.inner_text("main")
    log_in(page, live_server, "grid_a", NEW)
    assert "/login/" not in page.url
    assert "退出" in page.inner_text("header")
