"""The field app's server side (visits/offline.py): which pages a phone may keep, and how a record
kept on the phone is answered when it is sent (saved once, or refused with a reason it keeps)."""

import datetime
import json
import re
import uuid

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.urls import reverse
from django.utils import timezone

from issues.models import Issue
from tests.support.world import make_household
from visitplan.models import Assignment, Campaign, Stage, StageKind, Tier
from visits import offline
from visits.models import Visit

from .test_pages import form_data, with_issues

SYNC = {"HTTP_X_OFFLINE_SYNC": "1", "HTTP_X_REQUESTED_WITH": "fetch"}


def sync(client, household, data, recorded_at=None):
    headers = dict(SYNC)
    if recorded_at is not None:
        headers["HTTP_X_RECORDED_AT"] = recorded_at.isoformat()
    return client.post(reverse("visits:visit", args=[household.pk]), data, **headers)


# ---------------------------------------------------------------------------------------------- what is kept


@pytest.mark.django_db
def test_the_phone_keeps_only_the_pages_of_the_cadres_own_households(client, vw):
    w = vw
    client.force_login(w.worker_a)
    response = client.get(reverse("visits:offline_state"))
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"] and "no-store" in response["Cache-Control"]
    state = response.json()
    assert state["user"] == w.worker_a.pk and state["days"] == settings.OFFLINE_KEEP_DAYS
    assert re.fullmatch(r"[A-Za-z0-9]{32,64}", state["csrf"])
    assert state["pages"] == [
        "/visits/offline/",
        "/visits/",
        "/visits/followups/",
        f"/visits/h/{w.ha.pk}/",
        f"/visits/h/{w.ha.pk}/visit/",
    ]
    assert set(state["stamps"]) == {f"/visits/h/{w.ha.pk}/", f"/visits/h/{w.ha.pk}/visit/"}
    # Not another grid's household, not even one he may see but is not his (grid b's worker's).
    client.force_login(w.worker_b)
    pages = client.get(reverse("visits:offline_state")).json()["pages"]
    assert f"/visits/h/{w.hb.pk}/" in pages and not any(f"/h/{w.ha.pk}/" in p for p in pages)


@pytest.mark.django_db
def test_every_page_of_a_long_list_is_kept(client, vw):
    w = vw
    for n in range(45):  # 46 households: two pages of 40
        h = make_household(w.grid_a, f"{n + 100}", f"住户{n}", n + 100)
        Assignment.objects.create(campaign=w.campaign, household=h, cadre=w.worker_a.cadre, tier=Tier.GRID_WORKER)
    client.force_login(w.worker_a)
    pages = client.get(reverse("visits:offline_state")).json()["pages"]
    assert "/visits/?page=2" in pages and "/visits/?page=3" not in pages
    assert sum(1 for p in pages if re.fullmatch(r"/visits/h/\d+/", p)) == 46


@pytest.mark.django_db
def test_a_households_fingerprint_changes_with_what_its_pages_show_and_only_then(
    client, vw, django_assert_max_num_queries
):
    from households.models import FocusGroup, Member
    from issues.tests.factories import register

    w = vw
    other = make_household(w.grid_a, "902", "王二", 902)
    Assignment.objects.create(campaign=w.campaign, household=other, cadre=w.worker_a.cadre, tier=Tier.GRID_WORKER)
    client.force_login(w.worker_a)
    mine, theirs = f"/visits/h/{w.ha.pk}/", f"/visits/h/{other.pk}/"

    def stamps():
        return client.get(reverse("visits:offline_state")).json()["stamps"]

    before = stamps()
    assert before == stamps()  # nothing changed, nothing to fetch again
    changes = [
        lambda: sync(client, w.ha, form_data(uuid.uuid4())),
        lambda: register(w.ha, w.worker_a, text="路灯不亮"),
        lambda: Member.objects.create(household=w.ha, name="张小明", relation="子"),
        lambda: w.ha.tags.add(FocusGroup.objects.create(name="测试人群")),
        lambda: Assignment.objects.create(
            campaign=w.campaign, household=w.ha, cadre=w.handler.cadre, tier=Tier.DEPARTMENT
        ),  # fmt: skip
    ]
    for change in changes:
        change()
        after = stamps()
        assert after[mine] != before[mine] and after[f"{mine}visit/"] == after[mine]
        assert after[theirs] == before[theirs]
        before = after
    # One query for every household's fingerprint, whatever their number.
    from visits.offline import pages_to_keep

    with django_assert_max_num_queries(8):
        pages_to_keep(w.worker_a)


@pytest.mark.django_db
def test_a_user_without_households_keeps_only_the_records_page(client, vw):
    client.force_login(vw.leader)
    assert client.get(reverse("visits:offline_state")).json()["pages"][0] == "/visits/offline/"
    client.logout()
    assert client.get(reverse("visits:offline_state")).status_code == 302


# ---------------------------------------------------------------------------------------------- sending


@pytest.mark.django_db
def test_a_record_sent_from_the_phone_is_saved_once_with_the_time_it_was_recorded(client, vw):
    w = vw
    client.force_login(w.worker_a)
    recorded = timezone.make_aware(datetime.datetime(2026, 9, 28, 9, 45))
    data = with_issues(form_data(uuid.uuid4()), {"text": "楼道灯坏了", "category": "living", "severity": "general"})
    first = sync(client, w.ha, data, recorded)
    assert first.status_code == 200
    assert first.json() == {
        "ok": True,
        "redirect": first.json()["redirect"],
        "created": True,
        "note": "",
    }
    visit = Visit.objects.get()
    assert visit.recorded_at == recorded and visit.created_at > recorded
    again = sync(client, w.ha, data, recorded)
    assert again.json()["ok"] is True and again.json()["created"] is False
    assert Visit.objects.count() == 1 and Issue.objects.count() == 1
    # The phone shows its own answer: no message waits for the cadre's next page.
    page = client.get(reverse("visits:mine"))
    assert [str(m) for m in page.context["messages"]] == []


@pytest.mark.django_db
def test_a_clock_running_ahead_is_not_believed(client, vw):
    w = vw
    client.force_login(w.worker_a)
    ahead = timezone.now() + datetime.timedelta(hours=3)
    assert sync(client, w.ha, form_data(uuid.uuid4()), ahead).json()["ok"] is True
    assert Visit.objects.get().recorded_at is None


@pytest.mark.django_db
def test_a_rule_broken_comes_back_as_the_forms_own_words(client, vw):
    w = vw
    client.force_login(w.worker_a)
    response = sync(client, w.ha, form_data(uuid.uuid4(), started_at="10:00", ended_at="09:00"))
    assert response.status_code == 422
    body = response.json()
    assert body["ok"] is False
    assert {"label": "结束时间", "message": "结束时间早于开始时间"} in body["errors"]
    assert "结束时间早于开始时间" in body["message"]
    assert Visit.objects.count() == 0


@pytest.mark.django_db
def test_a_household_gone_from_the_cadres_list_is_refused_with_its_reason(client, vw):
    w = vw
    # A department cadre visits only what is assigned to him (a grid worker may visit his whole grid).
    Assignment.objects.create(campaign=w.campaign, household=w.ha, cadre=w.handler.cadre, tier=Tier.DEPARTMENT)
    client.force_login(w.handler)
    saved_key = uuid.uuid4()
    assert sync(client, w.ha, form_data(saved_key)).json()["created"] is True
    Assignment.objects.filter(household=w.ha, cadre=w.handler.cadre).delete()
    response = sync(client, w.ha, form_data(uuid.uuid4()))
    assert response.status_code == 404
    assert response.json() == {"ok": False, "message": offline.GONE, "errors": []}
    # …but a record the server had saved before the change (its answer lost) is still "saved".
    again = sync(client, w.ha, form_data(saved_key))
    assert again.status_code == 200 and again.json()["created"] is False
    assert Visit.objects.count() == 1


@pytest.mark.django_db
def test_a_household_still_seen_but_no_longer_his_is_refused_as_not_his(client, vw):
    """A grid worker may visit his whole grid; his colleague's grid is another matter."""
    w = vw
    Assignment.objects.create(campaign=w.campaign, household=w.ha, cadre=w.secretary.cadre, tier=Tier.SECRETARY)
    w.secretary.cadre.tier = Tier.DEPARTMENT  # a cadre who sees the community but visits only his own
    w.secretary.cadre.save()
    Assignment.objects.filter(household=w.ha, cadre=w.secretary.cadre).delete()
    client.force_login(w.secretary)
    response = sync(client, w.ha, form_data(uuid.uuid4()))
    assert response.status_code == 403
    assert response.json()["message"] == "该户不是您的包户，您不能录入该户的走访"


@pytest.mark.django_db
def test_another_grids_household_is_refused_as_gone(client, vw):
    w = vw
    client.force_login(w.worker_a)
    response = sync(client, w.hb, form_data(uuid.uuid4()))
    assert response.status_code == 404 and response.json()["message"] == offline.GONE


@pytest.mark.django_db
def test_a_visit_of_a_campaign_since_replaced_is_refused_with_the_dates(client, vw):
    w = vw
    today = timezone.localdate()
    Stage.objects.filter(campaign=w.campaign).delete()
    Stage.objects.create(campaign=w.campaign, kind=StageKind.VISIT, starts_on=datetime.date(2026, 3, 1),
                         ends_on=today - datetime.timedelta(days=3))  # fmt: skip
    after = Campaign.objects.create(year=today.year, name="冬季回访", street=w.street)
    Stage.objects.create(campaign=after, kind=StageKind.VISIT, starts_on=today - datetime.timedelta(days=2),
                         ends_on=today + datetime.timedelta(days=30))  # fmt: skip
    client.force_login(w.worker_a)
    response = sync(client, w.ha, form_data(uuid.uuid4()))
    assert response.status_code == 422
    assert "不在“" in response.json()["message"] and "活动期间" in response.json()["message"]


@pytest.mark.django_db
def test_a_page_post_is_still_a_page(client, vw):
    """Without the field app's header nothing changes: errors are the form again, not JSON."""
    w = vw
    client.force_login(w.worker_a)
    url = reverse("visits:visit", args=[w.ha.pk])
    response = client.post(url, form_data(uuid.uuid4(), started_at="10:00", ended_at="09:00"))
    assert response.status_code == 200 and "text/html" in response["Content-Type"]
    assert client.post(reverse("visits:visit", args=[w.hb.pk]), form_data(uuid.uuid4())).status_code == 404


@pytest.mark.django_db
def test_a_followup_sent_without_anything_due_is_refused_in_words(client, vw):
    w = vw
    client.force_login(w.worker_a)
    data = {"key": str(uuid.uuid4()), "method": "phone", "visited_on": "2026-12-16", "issues-TOTAL_FORMS": "0",
            "issues-INITIAL_FORMS": "0", "issues-MIN_NUM_FORMS": "0", "issues-MAX_NUM_FORMS": "10"}  # fmt: skip
    response = client.post(reverse("visits:followup", args=[w.ha.pk]), data, **SYNC)
    assert response.status_code == 422 and response.json()["ok"] is False and response.json()["message"]


# ---------------------------------------------------------------------------------------------- the app


@pytest.mark.django_db
def test_the_service_worker_is_served_from_the_root_with_its_version(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/" and response["Cache-Control"] == "no-cache"
    source = response.content.decode()
    assert "__VERSION__" not in source and re.search(r'"visitplan-static-[0-9a-f]{12}"', source)
    config = json.loads(re.search(r"var CONFIG = (\{.*\});", source).group(1))
    assert config == {
        "offline": "/visits/offline/",
        "static": settings.STATIC_URL,
        "keepMs": settings.OFFLINE_KEEP_DAYS * 86400000,
    }


@pytest.mark.django_db
def test_the_manifest_makes_it_installable(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200 and response["Content-Type"] == "application/manifest+json"
    manifest = response.json()
    assert manifest["short_name"] == "入户走访" and manifest["lang"] == "zh-Hans"
    assert manifest["display"] == "standalone" and manifest["start_url"] == "/visits/"
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        name = icon["src"].removeprefix(settings.STATIC_URL)
        name = re.sub(r"\.[0-9a-f]{12}\.png$", ".png", name)
        path = finders.find(name)
        assert path, icon["src"]
        with open(path, "rb") as f:
            head = f.read(24)
        width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        assert head[:8] == b"\x89PNG\r\n\x1a\n" and f"{width}x{height}" == icon["sizes"]


@pytest.mark.django_db
def test_every_page_links_the_manifest_and_the_app_script_for_a_logged_in_user(client, vw):
    client.force_login(vw.worker_a)
    page = client.get(reverse("visits:mine")).content.decode()
    assert 'rel="manifest"' in page and f'name="visitplan-user" content="{vw.worker_a.pk}"' in page
    assert "js/offline" in page and "data-keep-pages" in page
    records = client.get(reverse("visits:offline")).content.decode()
    assert "本机记录" in records and "data-waiting" in records and "data-refused" in records
    client.logout()
    login = client.get(reverse("login")).content.decode()
    assert "visitplan-user" not in login and "js/offline" in login  # it clears the kept pages there
