"""The access log (AccessLog): 显示完整信息 writes a row, every export writes one, nobody edits or
deletes rows from the app, and ``purge_access_logs`` keeps them at least six months."""

import datetime
import io

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from households.masking import mask_id_number, mask_phone
from households.models import AccessKind, AccessLog, Household, Member


@pytest.fixture
def family(world):
    w = world
    w.son = Member.objects.create(household=w.ha, name="张小明", relation="子", id_number="370303198206114163")
    w.baby = Member.objects.create(household=w.ha, name="张小小", relation="孙女")  # no ID number yet
    return w


def reveal(client, household, **headers):
    return client.post(reverse("households:reveal", args=[household.pk]), **headers)


# ------------------------------------------------------------------------------------------------ 显示完整信息


def test_a_role_with_full_access_sees_masked_values_until_it_reveals_them(client, family):
    w = family
    client.force_login(w.admin)
    page = client.get(reverse("households:detail", args=[w.ha.pk])).content.decode()
    assert w.ha.id_number not in page and w.ha.phone not in page and w.son.id_number not in page
    assert mask_id_number(w.ha.id_number) in page and mask_phone(w.ha.phone) in page
    assert "显示完整信息" in page and reverse("households:reveal", args=[w.ha.pk]) in page
    assert not AccessLog.objects.exists()  # looking at the masked page is not logged

    response = reveal(client, w.ha)

    assert response.status_code == 200
    page = response.content.decode()
    assert w.ha.id_number in page and w.ha.phone in page and w.son.id_number in page
    assert "已记入访问日志" in page
    assert "no-store" in response["Cache-Control"]
    log = AccessLog.objects.get()
    assert (log.user, log.username, log.kind, log.household, log.ip) == (
        w.admin,
        "admin",
        AccessKind.REVEAL,
        w.ha,
        "127.0.0.1",
    )
    assert (log.rows, log.residents) == (1, 2)  # the head and the son; the baby has no ID number to show
    assert "张甲" in log.what and log.get_kind_display() == "查看完整信息"


def test_the_list_masks_phones_for_every_role(client, family):
    w = family
    client.force_login(w.admin)
    page = client.get(reverse("households:list")).content.decode()
    assert w.ha.phone not in page and mask_phone(w.ha.phone) in page


def test_reveal_answers_json_when_asked(client, family):
    w = family
    client.force_login(w.admin)
    response = reveal(client, w.ha, HTTP_ACCEPT="application/json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    data = response.json()
    assert (data["id_number"], data["phone"]) == (w.ha.id_number, w.ha.phone)
    assert [m["id_number"] for m in data["members"]] == [w.son.id_number, ""]
    assert AccessLog.objects.filter(kind=AccessKind.REVEAL).count() == 1


@pytest.mark.parametrize("who", ["worker_a", "secretary", "leader"])
def test_roles_without_full_access_cannot_reveal_and_nothing_is_logged(client, family, who):
    w = family
    client.force_login(getattr(w, who))
    page = client.get(reverse("households:detail", args=[w.ha.pk])).content.decode()
    assert "显示完整信息" not in page
    response = reveal(client, w.ha)
    assert response.status_code == 403
    assert w.ha.id_number not in response.content.decode()
    assert not AccessLog.objects.exists()


def test_reveal_is_a_post_of_a_household_the_user_may_see(client, family):
    w = family
    client.force_login(w.admin)
    assert client.get(reverse("households:reveal", args=[w.ha.pk])).status_code == 405
    assert client.post(reverse("households:reveal", args=[999999])).status_code == 404
    assert not AccessLog.objects.exists()
    anonymous = Client()
    response = reveal(anonymous, w.ha)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert not AccessLog.objects.exists()


def test_reveal_needs_the_csrf_token(family):
    w = family
    client = Client(enforce_csrf_checks=True)
    client.force_login(w.admin)
    assert reveal(client, w.ha).status_code == 403
    assert not AccessLog.objects.exists()


def test_a_second_reveal_is_a_second_row(client, family):
    w = family
    client.force_login(w.admin)
    reveal(client, w.ha)
    reveal(client, w.hb)
    assert [(log.household, log.residents) for log in AccessLog.objects.order_by("pk")] == [(w.ha, 2), (w.hb, 1)]


def test_the_admin_edit_page_of_a_masked_role_is_not_logged(client, family):
    w = family
    client.force_login(w.secretary)
    page = client.get(reverse("admin:households_household_change", args=[w.ha.pk])).content.decode()
    assert w.ha.id_number not in page and mask_id_number(w.ha.id_number) in page
    assert not AccessLog.objects.exists()


# ------------------------------------------------------------------------------------------------ every export is logged


def _body(response):
    return b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content


def _import_export(client, model, fmt):
    url = reverse(f"admin:visitplan_{model}_export")
    form = client.get(url).context["form"]
    data = {"format": str(fmt), "resource": "0"}
    data.update({name: "on" for name, f in form.fields.items() if getattr(f, "is_selectable_field", False)})
    return client.post(url, data)


EXPORTS = {
    "households:export": lambda c, w: c.get(reverse("households:export")),
    "admin households export": lambda c, w: c.get(reverse("admin:households_household_export")),
    "admin households export_selected": lambda c, w: c.post(
        reverse("admin:households_household_changelist"),
        {"action": "export_selected", "_selected_action": [w.ha.pk, w.hb.pk]},
    ),
    "issues:export": lambda c, w: c.get(reverse("issues:export")),
    "reports:ledger_visits": lambda c, w: c.get(reverse("reports:ledger_visits"), {"campaign": w.campaign.pk}),
    "reports:ledger_hardship": lambda c, w: c.get(reverse("reports:ledger_hardship")),
    "reports:ledger_monthly": lambda c, w: c.get(reverse("reports:ledger_monthly")),
    "reports:ledger_supervision": lambda c, w: c.get(
        reverse("reports:ledger_supervision"), {"campaign": w.campaign.pk}
    ),
    "admin cadre export xlsx": lambda c, w: _import_export(c, "cadre", 0),
    "admin cadre export csv": lambda c, w: _import_export(c, "cadre", 1),
    "admin department export xlsx": lambda c, w: _import_export(c, "department", 0),
    "admin assignment export xlsx": lambda c, w: _import_export(c, "assignment", 0),
    "admin assignment export csv": lambda c, w: _import_export(c, "assignment", 1),
}


@pytest.mark.parametrize("export", list(EXPORTS))
def test_every_export_writes_an_access_log_row(client, family, export):
    w = family
    client.force_login(w.admin)
    response = EXPORTS[export](client, w)
    assert response.status_code == 200, export
    assert response.get("Content-Disposition", "").startswith("attachment"), export
    _body(response)
    log = AccessLog.objects.get()
    assert (log.user, log.username, log.kind, log.ip) == (w.admin, "admin", AccessKind.EXPORT, "127.0.0.1")
    assert log.residents == log.rows  # each row one household (or one cadre, one assignment…)
    assert log.what


def test_the_households_export_log_counts_its_rows_as_residents(client, family):
    w = family
    client.force_login(w.worker_a)
    client.get(reverse("households:export"))
    log = AccessLog.objects.get()
    assert (log.rows, log.residents, log.kind) == (1, 1, AccessKind.EXPORT)


# ------------------------------------------------------------------------------------------------ nobody edits or deletes


@pytest.fixture
def logged(family):
    w = family
    w.log = AccessLog.objects.create(user=w.worker_a, what="居民底册（页面导出）", rows=3, ip="10.0.0.8")
    w.root = User.objects.create_superuser("root", password="pw-test-123")
    return w


def test_a_row_cannot_be_changed_through_the_model(logged):
    log = logged.log
    log.what = "改过"
    with pytest.raises(ValueError, match="不能修改"):
        log.save()
    assert AccessLog.objects.get().what == "居民底册（页面导出）"


def test_a_row_keeps_who_it_was_after_the_user_is_deleted(logged):
    w = logged
    assert AccessLog.objects.get().residents == 3  # an export's residents default to its rows
    w.worker_a.delete()
    log = AccessLog.objects.get()
    assert log.user is None and log.username == "grid_a"


@pytest.mark.parametrize("who", ["root", "admin"])
def test_the_admin_shows_the_log_read_only_even_to_a_superuser(client, logged, who):
    w = logged
    user = getattr(w, who)
    client.force_login(user)
    changelist = reverse("admin:households_accesslog_changelist")
    page = client.get(changelist)
    assert page.status_code == 200
    assert "grid_a" in page.content.decode()
    assert 'name="action"' not in page.content.decode()  # no bulk actions at all, so no bulk delete
    assert "delete_selected" not in page.context["cl"].model_admin.get_actions(page.wsgi_request)

    change = reverse("admin:households_accesslog_change", args=[w.log.pk])
    page = client.get(change)
    assert page.status_code == 200  # the view page
    assert not page.context["has_change_permission"] and not page.context["has_delete_permission"]
    client.post(change, {"what": "改过", "rows": 0})
    assert client.get(reverse("admin:households_accesslog_add")).status_code == 403
    assert client.get(reverse("admin:households_accesslog_delete", args=[w.log.pk])).status_code == 403
    assert (
        client.post(reverse("admin:households_accesslog_delete", args=[w.log.pk]), {"post": "yes"}).status_code == 403
    )
    client.post(changelist, {"action": "delete_selected", "_selected_action": [w.log.pk], "post": "yes"})
    log = AccessLog.objects.get()
    assert (log.pk, log.what, log.rows) == (w.log.pk, "居民底册（页面导出）", 3)


def test_other_roles_do_not_see_the_log(client, logged):
    w = logged
    client.force_login(w.secretary)
    assert client.get(reverse("admin:households_accesslog_changelist")).status_code == 403


def test_the_permissions_are_false_for_a_superuser(rf, logged):
    from django.contrib import admin

    model_admin = admin.site._registry[AccessLog]
    request = rf.get("/")
    request.user = logged.root
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, logged.log)
    assert not model_admin.has_delete_permission(request, logged.log)
    assert model_admin.get_actions(request) == {}


# ------------------------------------------------------------------------------------------------ retention


def _row(days_ago, today, what="x"):
    log = AccessLog.objects.create(what=what, rows=1)
    at = timezone.make_aware(datetime.datetime.combine(today, datetime.time(12, 0))) - datetime.timedelta(days=days_ago)
    AccessLog.objects.filter(pk=log.pk).update(at=at)  # the clock of the past (at is auto_now_add)
    return log


def _purge(*args):
    out = io.StringIO()
    call_command("purge_access_logs", *args, stdout=out)
    return out.getvalue()


TODAY = datetime.date(2026, 12, 1)


@pytest.mark.django_db
def test_purge_keeps_a_year_by_default(settings):
    if hasattr(settings, "ACCESS_LOG_RETENTION_DAYS"):
        del settings.ACCESS_LOG_RETENTION_DAYS
    keep = [_row(d, TODAY) for d in (0, 183, 300, 364)]
    _row(367, TODAY)
    _row(1000, TODAY)
    out = _purge("--date", TODAY.isoformat())
    assert "已删除" in out and "2 条" in out
    assert set(AccessLog.objects.values_list("pk", flat=True)) == {log.pk for log in keep}
    assert "0 条" in _purge("--date", TODAY.isoformat())  # a second run deletes nothing more


@pytest.mark.django_db
def test_purge_follows_the_setting(settings):
    settings.ACCESS_LOG_RETENTION_DAYS = 200
    keep = [_row(d, TODAY) for d in (10, 199)]
    _row(202, TODAY)
    _purge("--date", TODAY.isoformat())
    assert set(AccessLog.objects.values_list("pk", flat=True)) == {log.pk for log in keep}


@pytest.mark.django_db
def test_purge_keeps_six_months_at_the_shortest(settings):
    settings.ACCESS_LOG_RETENTION_DAYS = 183
    keep = _row(182, TODAY)
    _row(185, TODAY)
    _purge("--date", TODAY.isoformat())
    assert list(AccessLog.objects.values_list("pk", flat=True)) == [keep.pk]


@pytest.mark.django_db
@pytest.mark.parametrize("days", [182, 30, 0, -1, "abc", None])
def test_purge_refuses_a_retention_below_six_months_and_deletes_nothing(settings, days):
    settings.ACCESS_LOG_RETENTION_DAYS = days
    _row(400, TODAY)
    _row(10, TODAY)
    with pytest.raises(CommandError, match="ACCESS_LOG_RETENTION_DAYS"):
        _purge("--date", TODAY.isoformat())
    assert AccessLog.objects.count() == 2


@pytest.mark.django_db
def test_purge_dry_run_counts_and_deletes_nothing(settings):
    settings.ACCESS_LOG_RETENTION_DAYS = 365
    _row(400, TODAY)
    _row(10, TODAY)
    out = _purge("--date", TODAY.isoformat(), "--dry-run")
    assert "将删除" in out and "1 条" in out
    assert AccessLog.objects.count() == 2


@pytest.mark.django_db
def test_purge_without_a_date_uses_today(settings):
    settings.ACCESS_LOG_RETENTION_DAYS = 365
    today = timezone.localdate()
    old = _row(400, today)
    recent = _row(1, today)
    _purge()
    assert list(AccessLog.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not AccessLog.objects.filter(pk=old.pk).exists()


@pytest.mark.django_db
def test_purge_rejects_a_bad_date():
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        _purge("--date", "2026-13-01")


@pytest.mark.django_db
def test_households_keep_working_with_the_log_pointing_at_them(family):
    w = family
    log = AccessLog.objects.create(kind=AccessKind.REVEAL, what="x", household=w.hb, rows=1, residents=1)
    Household.objects.filter(pk=w.hb.pk).delete()
    log.refresh_from_db()
    assert log.household is None and log.what == "x"
