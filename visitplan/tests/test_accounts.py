"""Cadres' login accounts (visitplan/accounts.py) and the admin screens that use them: a cadre who
leaves (不在岗) can no longer log in, wherever he was marked so; the street admin opens accounts,
resets passwords, stops and restores logins of his street's cadres only, and every change is logged."""

import pytest
import tablib
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse

from households.models import Node, NodeKind
from households.roles import CADRE, LEADER, SECRETARY, STREET_ADMIN
from tests.support.browser import TEST_PASSWORD, log_in, screenshot
from tests.support.world import make_user
from visitplan import accounts
from visitplan.models import Cadre, Tier
from visitplan.sheets import CadreResource

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:visitplan_cadre_changelist"
ROSTER_HEADERS = ["姓名", "层级", "工作范围", "登录账号", "在岗"]


def account_url(cadre):
    return reverse("admin:visitplan_cadre_account", args=[cadre.pk])


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def is_logged_in(client) -> bool:
    """The next request of the client's session: served (200), or sent to the login page."""
    response = client.get(reverse("households:list"))
    if response.status_code == 302:
        assert response["Location"].startswith("/login/")
        return False
    assert response.status_code == 200
    return True


def can_log_in(username, password) -> bool:
    """Through the login page, as a person would (django-axes needs the request)."""
    response = Client().post(reverse("login"), {"username": username, "password": password})
    return response.status_code == 302 and not response["Location"].startswith("/login/")


def account_log(cadre):
    return [e.get_change_message() for e in accounts.account_history(cadre)]


def messages_of(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


def change_form_data(cadre, **changes):
    data = {
        "name": cadre.name,
        "tier": cadre.tier,
        "scope": cadre.scope_id,
        "active": "on" if cadre.active else "",
        "takes_households": "on" if cadre.takes_households else "",
        "unit": cadre.unit,
        "department": cadre.department_id or "",
        "position": cadre.position,
        "phone": cadre.phone,
        "user": cadre.user_id or "",
        "seen_version": cadre.version,
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


# ============================================================================================ departure


def test_marking_a_cadre_absent_in_the_change_form_ends_his_login(world):
    w = world
    worker = logged_in(w.worker_a)
    assert is_logged_in(worker)
    cadre = w.worker_a.cadre

    response = logged_in(w.admin).post(
        reverse("admin:visitplan_cadre_change", args=[cadre.pk]), change_form_data(cadre, active=""), follow=True
    )

    assert response.status_code == 200
    cadre.refresh_from_db()
    w.worker_a.refresh_from_db()
    assert not cadre.active and not w.worker_a.is_active
    assert any("登录账号已停用" in m for m in messages_of(response))
    assert not is_logged_in(worker)  # his open session ends on its next request
    assert not can_log_in("grid_a", TEST_PASSWORD)
    entry = LogEntry.objects.filter(object_id=str(cadre.pk), change_message__startswith="登录账号").get()
    assert entry.user == w.admin and "grid_a" in entry.change_message and "不在岗" in entry.change_message


def test_coming_back_does_not_restore_the_login_until_the_admin_chooses_it(world):
    w = world
    cadre = w.worker_a.cadre
    admin = logged_in(w.admin)
    admin.post(reverse("admin:visitplan_cadre_change", args=[cadre.pk]), change_form_data(cadre, active=""))
    cadre.refresh_from_db()

    response = admin.post(
        reverse("admin:visitplan_cadre_change", args=[cadre.pk]), change_form_data(cadre, active="on"), follow=True
    )

    cadre.refresh_from_db()
    w.worker_a.refresh_from_db()
    assert cadre.active and not w.worker_a.is_active
    assert any("仍为停用状态" in m and "恢复登录" in m for m in messages_of(response))

    response = admin.post(account_url(cadre), {"op": "reactivate"}, follow=True)
    w.worker_a.refresh_from_db()
    assert w.worker_a.is_active
    assert can_log_in("grid_a", TEST_PASSWORD)
    assert any("已恢复登录" in m for m in account_log(cadre))


def test_a_login_is_not_restored_while_the_cadre_is_absent(world):
    w = world
    cadre = w.worker_a.cadre
    cadre.active = False
    cadre.save()
    accounts.end_login(cadre, by=w.admin)

    response = logged_in(w.admin).post(account_url(cadre), {"op": "reactivate"}, follow=True)

    w.worker_a.refresh_from_db()
    assert not w.worker_a.is_active
    assert any("不在岗，不能恢复登录" in m for m in messages_of(response))


def test_the_roster_import_ends_the_login_of_a_cadre_it_marks_absent(world):
    w = world
    worker = logged_in(w.worker_b)
    rows = [["grid_b", "网格员", "湖田社区/第2网格", "grid_b", "离岗"]]
    dataset = tablib.Dataset(*rows, headers=ROSTER_HEADERS)

    preview = CadreResource(user=w.admin).import_data(dataset, dry_run=True)
    assert not preview.has_errors() and not preview.has_validation_errors()
    w.worker_b.refresh_from_db()
    assert w.worker_b.is_active  # the preview writes nothing

    result = CadreResource(user=w.admin).import_data(tablib.Dataset(*rows, headers=ROSTER_HEADERS), dry_run=False)

    assert not result.has_errors() and not result.has_validation_errors()
    w.worker_b.refresh_from_db()
    assert not w.worker_b.cadre.active and not w.worker_b.is_active
    assert not is_logged_in(worker)
    assert any("不在岗" in m for m in account_log(w.worker_b.cadre))


def test_the_departure_rule_leaves_a_superusers_account_alone(world):
    w = world
    root = User.objects.create_superuser("root", password=TEST_PASSWORD)
    cadre = Cadre.objects.create(user=root, name="系统管理员", tier=Tier.STREET_STAFF, scope=w.street, active=False)

    assert accounts.end_login(cadre, by=w.admin) is False
    root.refresh_from_db()
    assert root.is_active


def test_an_admin_cannot_mark_himself_absent(world):
    w = world
    cadre = w.admin.cadre
    response = logged_in(w.admin).post(
        reverse("admin:visitplan_cadre_change", args=[cadre.pk]), change_form_data(cadre, active="")
    )

    assert response.status_code == 302
    cadre.refresh_from_db()
    w.admin.refresh_from_db()
    assert cadre.active and w.admin.is_active


# ============================================================================================ the account page


def test_the_street_admin_opens_an_account_with_the_tiers_role_and_a_password_shown_once(world):
    w = world
    cadre = Cadre.objects.create(name="新网格员", tier=Tier.GRID_WORKER, scope=w.grid_b)
    admin = logged_in(w.admin)
    assert "开通登录账号" in admin.get(account_url(cadre)).content.decode()

    response = admin.post(
        account_url(cadre),
        # Fields a form does not have are ignored: nobody picks the role, staff or superuser flags.
        {"op": "create", "create-username": "xinwangge", "create-password1": "", "create-password2": "",
         "groups": Group.objects.get(name=STREET_ADMIN).pk, "is_superuser": "on", "is_staff": "on"},
    )  # fmt: skip

    assert response.status_code == 200
    shown = response.context["shown"]
    assert shown["username"] == "xinwangge" and len(shown["password"]) >= 10
    assert shown["password"] in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    cadre.refresh_from_db()
    user = cadre.user
    assert user.username == "xinwangge" and user.first_name == "新网格员"
    assert set(user.groups.values_list("name", flat=True)) == {CADRE}
    assert not user.is_staff and not user.is_superuser
    assert can_log_in("xinwangge", shown["password"])
    assert any("开通 xinwangge" in m and "角色：干部/网格员" in m for m in account_log(cadre))
    # Shown once: the page opened again does not have it (only its hash is stored).
    again = admin.get(account_url(cadre)).content.decode()
    assert shown["password"] not in again and "xinwangge" in again


def test_a_secretarys_account_gets_the_secretary_role_and_the_admin(world):
    w = world
    cadre = Cadre.objects.create(name="新书记", tier=Tier.SECRETARY, scope=w.c2)
    logged_in(w.admin).post(
        account_url(cadre),
        {"op": "create", "create-username": "xinshuji", "create-password1": "Hutian-2026-ok",
         "create-password2": "Hutian-2026-ok"},
    )  # fmt: skip
    cadre.refresh_from_db()
    assert set(cadre.user.groups.values_list("name", flat=True)) == {SECRETARY} and cadre.user.is_staff
    assert can_log_in("xinshuji", "Hutian-2026-ok")


def test_a_taken_name_and_a_weak_password_are_refused_in_chinese(world):
    w = world
    cadre = Cadre.objects.create(name="新网格员", tier=Tier.GRID_WORKER, scope=w.grid_b)
    admin = logged_in(w.admin)

    taken = admin.post(account_url(cadre), {"op": "create", "create-username": "GRID_A"})
    assert "登录账号“GRID_A”已被使用" in taken.content.decode()

    weak = admin.post(
        account_url(cadre),
        {"op": "create", "create-username": "xin", "create-password1": "12345", "create-password2": "12345"},
    )
    page = weak.content.decode()
    # The validators' own words (every rule in Chinese: tests of the password page).
    assert "这个密码太常见了" in page and "密码只包含数字" in page

    differ = admin.post(
        account_url(cadre),
        {"op": "create", "create-username": "xin", "create-password1": "Hutian-2026-ok", "create-password2": "x"},
    )
    assert "两次输入的密码不一致" in differ.content.decode()
    cadre.refresh_from_db()
    assert cadre.user_id is None and not User.objects.filter(username="xin").exists()


def test_a_password_reset_ends_his_sessions_and_the_new_one_works(world):
    w = world
    cadre = w.worker_a.cadre
    worker = logged_in(w.worker_a)
    assert is_logged_in(worker)

    response = logged_in(w.admin).post(account_url(cadre), {"op": "password"})

    new = response.context["shown"]["password"]
    assert new in response.content.decode()
    assert not is_logged_in(worker)
    assert not can_log_in("grid_a", TEST_PASSWORD)
    assert can_log_in("grid_a", new)
    entry = accounts.account_history(cadre)[0]
    assert entry.user == w.admin and "重置 grid_a 的密码" in entry.get_change_message()


def test_stopping_and_restoring_a_login_from_the_list(world):
    w = world
    admin = logged_in(w.admin)
    worker = logged_in(w.worker_b)
    no_account = Cadre.objects.create(name="无账号", tier=Tier.GRID_WORKER, scope=w.grid_b)
    selected = [w.worker_a.cadre.pk, w.worker_b.cadre.pk, no_account.pk]

    response = admin.post(
        reverse(CHANGELIST), {"action": "deactivate_logins_action", ACTION_CHECKBOX_NAME: selected}, follow=True
    )

    shown = messages_of(response)
    assert any(m.startswith("已停用登录") and "grid_a" in m and "grid_b" in m for m in shown)
    assert any("还没有登录账号" in m and "无账号" in m for m in shown)
    assert not User.objects.get(username="grid_a").is_active
    assert not is_logged_in(worker)
    assert Cadre.objects.get(pk=w.worker_a.cadre.pk).active  # he stays 在岗

    admin.post(reverse(CHANGELIST), {"action": "reactivate_logins_action", ACTION_CHECKBOX_NAME: selected})
    assert User.objects.get(username="grid_a").is_active and User.objects.get(username="grid_b").is_active
    assert [m.split("：", 1)[1] for m in account_log(w.worker_a.cadre)] == ["grid_a 已恢复登录", "grid_a 已停用"]


def test_the_list_shows_each_cadres_login(world):
    w = world
    Cadre.objects.create(name="无账号", tier=Tier.GRID_WORKER, scope=w.grid_b)
    User.objects.filter(username="grid_b").update(is_active=False)
    html = logged_in(w.admin).get(reverse(CHANGELIST)).content.decode()
    assert "未开通" in html and "已停用" in html and "可登录" in html


# ============================================================================================ who may


def test_a_street_admin_cannot_touch_a_superuser_another_admin_or_himself(world):
    w = world
    root = User.objects.create_superuser("root", password=TEST_PASSWORD)
    root_cadre = Cadre.objects.create(user=root, name="系统管理员", tier=Tier.STREET_STAFF, scope=w.street)
    peer = make_user("admin2", STREET_ADMIN, scope=w.street, tier=Tier.STREET_STAFF, staff=True)
    admin = logged_in(w.admin)

    for cadre, reason in ((root_cadre, "超级管理员"), (peer.cadre, "街道管理员"), (w.admin.cadre, "本人")):
        page = admin.get(account_url(cadre)).content.decode()
        assert reason in page and "重置密码" not in page
        for op in ("password", "deactivate"):
            response = admin.post(account_url(cadre), {"op": op, "password-password1": "Hutian-2026-ok",
                                                        "password-password2": "Hutian-2026-ok"}, follow=True)  # fmt: skip
            assert any(reason in m for m in messages_of(response)), (cadre, op)
        user = User.objects.get(pk=cadre.user_id)
        assert user.is_active and user.check_password(TEST_PASSWORD)
        assert not account_log(cadre)


def test_another_streets_cadre_is_not_found(world):
    w = world
    st2 = Node.objects.create(kind=NodeKind.STREET, name="外街街道")
    outsider = make_user("outsider", CADRE, scope=st2, tier=Tier.STREET_STAFF)
    admin = logged_in(w.admin)

    assert admin.get(account_url(outsider.cadre)).status_code == 404
    assert admin.post(account_url(outsider.cadre), {"op": "password"}).status_code == 404
    assert admin.post(account_url(outsider.cadre), {"op": "deactivate"}).status_code == 404
    admin.post(reverse(CHANGELIST), {"action": "deactivate_logins_action", ACTION_CHECKBOX_NAME: [outsider.cadre.pk]})
    outsider.refresh_from_db()
    assert outsider.is_active and outsider.check_password(TEST_PASSWORD)
    # The service says the same to any caller.
    with pytest.raises(accounts.AccountError, match="没有找到该干部"):
        accounts.set_password(outsider.cadre, by=w.admin)


def test_roles_that_only_read_cadres_get_no_account_page(world):
    w = world
    target = w.worker_a.cadre
    for user in (w.leader, w.secretary):
        client = logged_in(user)
        assert client.get(account_url(target)).status_code == 403
        assert client.post(account_url(target), {"op": "password"}).status_code == 403
        assert (
            "管理登录账号" not in client.get(reverse("admin:visitplan_cadre_change", args=[target.pk])).content.decode()
        )
    worker = logged_in(w.worker_b)
    assert worker.get(account_url(target))["Location"].startswith("/admin/login/")
    w.worker_a.refresh_from_db()
    assert w.worker_a.check_password(TEST_PASSWORD) and w.worker_a.is_active
    with pytest.raises(accounts.AccountError, match="没有修改干部信息的权限"):
        accounts.deactivate(target, by=w.leader)


def test_the_change_form_links_to_the_account_page(world):
    w = world
    html = logged_in(w.admin).get(reverse("admin:visitplan_cadre_change", args=[w.worker_a.cadre.pk])).content.decode()
    assert account_url(w.worker_a.cadre) in html and "可登录" in html


def test_a_new_account_never_gets_more_than_the_tiers_role(world):
    w = world
    for tier, role in ((Tier.LEADER, LEADER), (Tier.STREET_STAFF, CADRE), (Tier.DEPARTMENT, CADRE)):
        cadre = Cadre.objects.create(name=f"t{tier}", tier=tier, scope=w.street, department=w.dept)
        user, _password, generated = accounts.create_account(cadre, by=w.admin, username=f"user{tier}")
        assert generated and set(user.groups.values_list("name", flat=True)) == {role}
        assert not user.is_superuser and not user.user_permissions.exists()
    with pytest.raises(accounts.AccountError, match="已有登录账号"):
        accounts.create_account(w.worker_a.cadre, by=w.admin, username="another")


# ============================================================================================ in a browser


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_cadre_marked_absent_is_logged_out_on_his_next_request(live_server, world, browser_page):
    """The grid worker is on his phone; the street admin, at her desk, unticks 在岗 in the admin."""
    w = world
    phone = browser_page
    log_in(phone, live_server, "grid_a")
    phone.goto(f"{live_server.url}/households/")
    assert "张甲" in phone.inner_text("main")

    desk_context = phone.context.browser.new_context(viewport={"width": 1200, "height": 900}, locale="zh-CN")
    desk = desk_context.new_page()
    log_in(desk, live_server, "admin")
    desk.goto(f"{live_server.url}{reverse('admin:visitplan_cadre_change', args=[w.worker_a.cadre.pk])}")
    desk.uncheck("#id_active")
    desk.click("input[name=_save]")
    desk.wait_for_load_state()
    assert "登录账号已停用" in desk.inner_text("ul.messagelist")
    screenshot(desk, "cadre_absent_admin")
    desk_context.close()

    phone.reload()
    phone.wait_for_load_state()
    assert "/login/" in phone.url and "张甲" not in phone.inner_text("body")
    log_in(phone, live_server, "grid_a")
    assert "/login/" in phone.url and "用户名或密码不正确" in phone.inner_text("main")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_street_admin_opens_an_account_and_the_cadre_logs_in_with_the_password_shown(
    live_server, world, browser_page
):
    w = world
    cadre = Cadre.objects.create(name="新网格员", tier=Tier.GRID_WORKER, scope=w.grid_b)
    desk = browser_page
    desk.set_viewport_size({"width": 1200, "height": 900})
    log_in(desk, live_server, "admin")
    desk.goto(f"{live_server.url}{reverse('admin:visitplan_cadre_change', args=[cadre.pk])}")
    assert "未开通" in desk.inner_text("fieldset:has-text('登录')")
    desk.click("text=管理登录账号")
    desk.wait_for_load_state()
    desk.get_by_label("登录账号").fill("xinwangge")
    desk.click("input[value=开通账号]")
    desk.wait_for_load_state()
    password = desk.inner_text("#shown-secret").strip()
    assert len(password) >= 10
    assert "开通 xinwangge" in desk.inner_text("main")  # the change record, on the same page
    screenshot(desk, "cadre_account_created")

    phone_context = desk.context.browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    phone = phone_context.new_page()
    log_in(phone, live_server, "xinwangge", password)
    assert "/login/" not in phone.url and "退出" in phone.inner_text("header")
    phone_context.close()
