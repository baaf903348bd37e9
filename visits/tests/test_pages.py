"""The visit pages through Django's test client: what each shows, the forms, and who gets a 404."""

import datetime
import re
import uuid

import pytest
from django.urls import reverse

from issues.models import Issue, Status
from issues.tests.factories import register
from tests.support.visits import VISIT_DAY
from tests.support.world import make_household
from visitplan.models import Assignment, Tier
from visits.followups import build_followups
from visits.models import FollowUp, Visit

D = datetime.date


def form_data(key, **overrides):
    data = {
        "key": str(key), "method": "in_person", "visited_on": VISIT_DAY.isoformat(), "started_at": "09:00",
        "ended_at": "09:40", "q_living": "楼道灯坏了", "h_living": "on", "checklist": ["know_family", "done_care"],
        "card_given": "on", "satisfaction": "satisfied", "notes": "独居老人",
        "issues-TOTAL_FORMS": "0", "issues-INITIAL_FORMS": "0", "issues-MIN_NUM_FORMS": "0", "issues-MAX_NUM_FORMS": "10",
    }  # fmt: skip
    data.update(overrides)
    return data


def with_issues(data, *issues):
    data = dict(data, **{"issues-TOTAL_FORMS": str(len(issues))})
    for n, issue in enumerate(issues):
        data.update({f"issues-{n}-{k}": v for k, v in issue.items()})
    return data


def key_on(response):
    return re.search(r'name="key" value="([0-9a-f-]{36})"', response.content.decode()).group(1)


def messages_of(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


@pytest.mark.django_db
@pytest.mark.parametrize("name,kw", [("visits:mine", {}), ("visits:followups", {}), ("visits:cards", {}),
                                     ("visits:household", {"pk": 1}), ("visits:visit", {"pk": 1}),
                                     ("visits:followup", {"pk": 1}), ("visits:detail", {"pk": 1})])  # fmt: skip
def test_it_sends_anonymous_visitors_to_the_login_page(client, vw, name, kw):
    response = client.get(reverse(name, kwargs=kw))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


# ------------------------------------------------------------------------------------------ my households


@pytest.mark.django_db
def test_a_cadre_lands_on_my_households_and_the_admin_on_the_overview(client, vw):
    client.force_login(vw.worker_a)
    assert client.get("/")["Location"] == reverse("visits:mine")
    client.force_login(vw.admin)
    assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_it_lists_my_households_grouped_with_progress(client, vw):
    w = vw
    other = make_household(w.grid_a, "102", "赵丁", 11, building=w.ha.building)  # in my grid, not mine
    client.force_login(w.worker_a)
    page = client.get(reverse("visits:mine")).content.decode()
    assert "张甲" in page and "赵丁" not in page and "李乙" not in page
    assert "湖田社区 · 第1网格 · 1号楼 · 1单元" in page
    assert '已走访 <strong class="big-num">0</strong> / 1 户' in page
    assert "从未走访" in page
    # 全部可见户: the whole grid a grid worker covers.
    page = client.get(reverse("visits:mine"), {"scope": "all"}).content.decode()
    assert "张甲" in page and "赵丁" in page and other.head_name in page and "李乙" not in page


@pytest.mark.django_db
def test_it_filters_my_households(client, vw):
    w = vw
    h2 = make_household(w.grid_a, "201", "钱戊", 12)
    Assignment.objects.create(campaign=w.campaign, household=h2, cadre=w.worker_a.cadre, tier=Tier.GRID_WORKER)
    Visit.objects.create(campaign=w.campaign, household=h2, cadre=w.worker_a.cadre, visited_on=D(2026, 9, 1))
    register(w.ha, w.worker_a, registered_on=D(2026, 9, 28), answer_on_the_spot="已答复")
    build_followups(day=D(2026, 12, 16))
    client.force_login(w.worker_a)

    def names(**params):
        page = client.get(reverse("visits:mine"), params).content.decode()
        return set(re.findall(r'class="hh-name"><strong>([^<]+)</strong>', page))

    assert names() == {"张甲", "钱戊"}
    assert names(show="unvisited") == {"张甲"}
    assert names(show="followup") == {"张甲"}
    assert names(q="钱") == {"钱戊"}
    assert names(q="201") == {"钱戊"}
    page = client.get(reverse("visits:mine")).content.decode()
    assert "回头看待回访 <b>1</b> 条" in page and "诉求 " not in page.split("钱戊")[1][:400]
    # 本户未访 (nobody this campaign) and 我未访 (not I): the secretary's visit takes 张甲 off the first only.
    assert names(show="notmine") == {"张甲"}
    Visit.objects.create(campaign=w.campaign, household=w.ha, cadre=w.secretary.cadre, visited_on=D(2026, 9, 2))
    assert names(show="unvisited") == set()
    assert names(show="notmine") == {"张甲"}
    row = client.get(reverse("visits:mine")).content.decode().split("<strong>张甲</strong>")[1].split("</li>")[0]
    assert ">我未访</span>" in row and "本户未访" not in row


# ------------------------------------------------------------------------------------------ one household


@pytest.mark.django_db
def test_the_household_page_masks_personal_data_and_shows_visits_and_issues(client, vw):
    w = vw
    issue = register(w.ha, w.worker_a, text="楼道灯坏了两周", registered_on=D(2026, 9, 28))
    Visit.objects.create(
        campaign=w.campaign, household=w.ha, cadre=w.handler.cadre, visited_on=D(2026, 9, 20), notes="区民政局来访"
    )
    client.force_login(w.worker_a)
    page = client.get(reverse("visits:household", args=[w.ha.pk])).content.decode()
    assert w.ha.id_number not in page and w.ha.phone not in page
    assert w.ha.id_number[:6] + "********" + w.ha.id_number[-4:] in page
    assert "138****" in page
    assert f"#{issue.pk}" in page and "方案 10月10日" in page and "办结 10月23日" in page
    assert "区民政局来访" in page
    assert "避免重复走访" in page and "9月20日入户" in page  # another unit was here in this campaign
    assert reverse("visits:visit", args=[w.ha.pk]) in page
    # The street admin (查看完整信息) sees them masked too, with the button that reveals them (and logs it).
    client.force_login(w.admin)
    page = client.get(reverse("visits:household", args=[w.ha.pk])).content.decode()
    assert w.ha.id_number not in page and "显示完整信息" in page
    revealed = client.post(reverse("households:reveal", args=[w.ha.pk])).content.decode()
    assert w.ha.id_number in revealed
    assert reverse("visits:visit", args=[w.ha.pk]) not in page  # he sees it, but has no visit to make


# ------------------------------------------------------------------------------------------ the visit form


@pytest.mark.django_db
def test_it_saves_a_visit_and_its_issues_from_the_form(client, vw):
    w = vw
    client.force_login(w.worker_a)
    url = reverse("visits:visit", args=[w.ha.pk])
    key = key_on(client.get(url))
    data = with_issues(
        form_data(key),
        {"text": "咨询高龄津贴", "category": "elderly", "severity": "general", "on_the_spot": "on", "answer": "已讲解"},
        {"text": "楼道灯坏了两周", "category": "living", "severity": "major"},
    )
    response = client.post(url, data, follow=True)
    visit = Visit.objects.get(key=key)
    assert response.redirect_chain[-1][0].endswith(f"#visit-{visit.pk}")
    assert messages_of(response) == ["走访记录已保存，登记诉求 2 条（现场答复销号 1 条）"]
    assert visit.answers == {"living": {"answer": "楼道灯坏了", "needs_help": True}}
    assert visit.checklist == ["know_family", "done_care"] and visit.duration_minutes == 40
    statuses = sorted(visit.issues.values_list("status", "severity", "due_on"))
    # 较大: 30 working days from 2026-09-28 — 15 to 10-23 (test_visit_service), then 10-26…30, 11-2…6, 11-9…13.
    assert statuses == [(Status.CLOSED, "general", D(2026, 10, 23)), (Status.REGISTERED, "major", D(2026, 11, 13))]


@pytest.mark.django_db
def test_submitting_the_same_form_twice_saves_one_visit(client, vw):
    w = vw
    client.force_login(w.worker_a)
    url = reverse("visits:visit", args=[w.ha.pk])
    data = with_issues(
        form_data(key_on(client.get(url))), {"text": "楼道灯坏了", "category": "living", "severity": "general"}
    )
    client.post(url, data, follow=True)
    again = client.post(url, data, follow=True)
    assert messages_of(again) == ["该走访记录已保存过，重复提交未重复保存"]
    fetched = client.post(url, data, HTTP_X_REQUESTED_WITH="fetch")
    assert fetched.json()["redirect"].startswith(reverse("visits:household", args=[w.ha.pk]))
    assert Visit.objects.count() == 1 and Issue.objects.count() == 1


@pytest.mark.django_db
def test_it_shows_the_rule_errors_in_chinese_and_keeps_what_was_typed(client, vw):
    w = vw
    client.force_login(w.worker_a)
    url = reverse("visits:visit", args=[w.ha.pk])
    data = form_data(uuid.uuid4(), ended_at="09:20", notes="居民赶着去医院")
    page = client.post(url, data).content.decode()
    assert "本次20分钟，不足30分钟，请说明原因" in page
    assert "居民赶着去医院" in page
    page = client.post(url, form_data(uuid.uuid4(), visited_on="2026-02-01")).content.decode()
    assert "不在“2026年入户大走访”活动期间" in page
    bad_issue = with_issues(form_data(uuid.uuid4()), {"text": "问题", "category": "", "severity": "general"})
    assert "这个字段是必填项" in client.post(url, bad_issue).content.decode()
    spot = with_issues(
        form_data(uuid.uuid4()), {"text": "问题", "category": "living", "severity": "general", "on_the_spot": "on"}
    )
    assert "现场答复需填写答复内容" in client.post(url, spot).content.decode()
    assert not Visit.objects.exists() and not Issue.objects.exists()


@pytest.mark.django_db
def test_a_household_i_can_see_but_not_visit_is_refused(client, vw):
    client.force_login(vw.admin)
    url = reverse("visits:visit", args=[vw.ha.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, form_data(uuid.uuid4())).status_code == 403
    assert not Visit.objects.exists()


# ------------------------------------------------------------------------------------------ scoping


@pytest.fixture
def grid_b_things(vw):
    w = vw
    w.b_visit = Visit.objects.create(
        campaign=w.campaign, household=w.hb, cadre=w.worker_b.cadre, visited_on=D(2026, 9, 1)
    )
    w.b_issue = register(w.hb, w.worker_b, registered_on=D(2026, 9, 28), answer_on_the_spot="已答复")
    build_followups(day=D(2026, 12, 16))
    return w


@pytest.mark.django_db
def test_a_cadre_cannot_open_visit_or_follow_up_another_grids_household_by_url(client, grid_b_things):
    w = grid_b_things
    client.force_login(w.worker_a)
    hb = w.hb.pk
    for url in (reverse("visits:household", args=[hb]), reverse("visits:visit", args=[hb]),
                reverse("visits:followup", args=[hb]), reverse("visits:detail", args=[w.b_visit.pk]),
                reverse("visits:household", args=[999999]), reverse("households:detail", args=[hb])):  # fmt: skip
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("visits:visit", args=[hb]), form_data(uuid.uuid4())).status_code == 404
    fu = FollowUp.objects.get(issue=w.b_issue)
    post = {"key": str(uuid.uuid4()), "method": "phone", "visited_on": "2026-11-30", f"solved_{fu.pk}": "no",
            f"sat_{fu.pk}": "unsatisfied", "issues-TOTAL_FORMS": "0", "issues-INITIAL_FORMS": "0"}  # fmt: skip
    assert client.post(reverse("visits:followup", args=[hb]), post).status_code == 404
    assert Visit.objects.count() == 1
    fu.refresh_from_db()
    assert fu.status == "due"
    assert Issue.objects.get(pk=w.b_issue.pk).status == Status.CLOSED
    # Nor through lists: my households, my follow-ups, the contact cards.
    for url in (reverse("visits:mine") + "?scope=all", reverse("visits:followups"), reverse("visits:cards")):
        assert "李乙" not in client.get(url).content.decode(), url
    assert client.get(reverse("visits:cards"), {"cadre": w.worker_b.cadre.pk}).status_code == 404


@pytest.mark.django_db
def test_the_follow_up_form_reopens_an_unsolved_issue(client, grid_b_things):
    w = grid_b_things
    client.force_login(w.worker_b)
    url = reverse("visits:followup", args=[w.hb.pk])
    page = client.get(url)
    fu = FollowUp.objects.get(issue=w.b_issue)
    assert f"solved_{fu.pk}" in page.content.decode()
    post = {"key": key_on(page), "method": "phone", "visited_on": "2026-11-30", f"solved_{fu.pk}": "no",
            f"sat_{fu.pk}": "unsatisfied", f"note_{fu.pk}": "居民说问题依旧", "notes": "",
            "issues-TOTAL_FORMS": "0", "issues-INITIAL_FORMS": "0", "issues-MIN_NUM_FORMS": "0", "issues-MAX_NUM_FORMS": "10"}  # fmt: skip
    response = client.post(url, post, follow=True)
    assert messages_of(response) == [f"回访记录已保存，重新办理：#{w.b_issue.pk}"]
    assert Issue.objects.get(pk=w.b_issue.pk).status == Status.ACCEPTED
    assert FollowUp.objects.get(pk=fu.pk).reopened
    # Nothing left to follow up: the form sends him back to the household.
    assert client.get(url)["Location"] == reverse("visits:household", args=[w.hb.pk])


@pytest.mark.django_db
def test_the_follow_up_list_shows_overdue_first(client, vw):
    w = vw
    h2 = make_household(w.grid_a, "301", "孙己", 13)
    old = register(w.ha, w.worker_a, registered_on=D(2026, 9, 28), answer_on_the_spot="已答复")
    new = register(h2, w.worker_a, registered_on=D(2026, 10, 28), answer_on_the_spot="已答复")
    build_followups(day=D(2026, 12, 16))
    FollowUp.objects.filter(issue=old).update(due_on=D(2026, 11, 1))  # long overdue
    FollowUp.objects.filter(issue=new).update(due_on=D(2099, 1, 1))
    client.force_login(w.worker_a)
    page = client.get(reverse("visits:followups")).content.decode()
    assert page.index("张甲") < page.index("孙己")
    assert "逾期" in page.split("孙己")[0]


# ------------------------------------------------------------------------------------------ contact cards


@pytest.mark.django_db
def test_it_prints_contact_cards_for_my_households(client, vw, settings):
    w = vw
    settings.SUPERVISION_PHONE = "0533-6218888"
    cadre = w.worker_a.cadre
    cadre.phone, cadre.unit, cadre.position = "13905331234", "湖田社区", "专职网格员"
    cadre.save()
    client.force_login(w.worker_a)
    page = client.get(reverse("visits:cards")).content.decode()
    assert page.count('class="contact-card"') == 1
    for text in (
        "亲情连心卡",
        "张甲",
        "1号楼1单元101",
        "grid_a",
        "13905331234",
        "湖田社区 专职网格员",
        "0533-6218888",
        "css/cards.css",
    ):
        assert text in page, text
    # The secretary prints a grid worker's cards; a grid worker cannot print another's.
    client.force_login(w.secretary)
    assert client.get(reverse("visits:cards"), {"cadre": cadre.pk}).status_code == 200
    client.force_login(w.worker_b)
    assert client.get(reverse("visits:cards"), {"cadre": cadre.pk}).status_code == 404


def test_the_cards_print_on_a4_without_the_sites_chrome():
    from django.contrib.staticfiles import finders

    css = open(finders.find("css/cards.css"), encoding="utf-8").read()
    assert "@page { size: A4" in css
    printed = css[css.index("@media print") :]
    assert ".topbar" in printed and "display: none" in printed
    assert "90mm" in printed and "54mm" in printed


# ------------------------------------------------------------------------------------------ page weight


@pytest.mark.django_db
def test_the_phone_pages_weigh_under_200_kb_with_their_css_and_js(client, vw):
    """Pages under 200 KB — a full page of my households, the household, the visit form."""
    from django.contrib.staticfiles import finders

    w = vw
    for n in range(60):
        h = make_household(w.grid_a, f"{n + 200}", f"测试户{n}", 100 + n, building=w.ha.building)
        Assignment.objects.create(campaign=w.campaign, household=h, cadre=w.worker_a.cadre, tier=Tier.GRID_WORKER)
    client.force_login(w.worker_a)
    assets = {name: len(open(finders.find(name), "rb").read()) for name in ("css/app.css", "js/visit-form.js")}
    for url in (
        reverse("visits:mine"),
        reverse("visits:household", args=[w.ha.pk]),
        reverse("visits:visit", args=[w.ha.pk]),
    ):
        html = client.get(url).content
        weight = len(html) + sum(assets.values())
        assert weight < 200 * 1024, (url, weight)


@pytest.mark.django_db
def test_a_refused_issue_row_does_not_hide_the_visits_own_errors(client, vw):
    client.force_login(vw.worker_a)
    url = reverse("visits:visit", args=[vw.ha.pk])
    data = with_issues(
        form_data(uuid.uuid4(), ended_at="09:10"), {"text": "灯坏了", "category": "", "severity": "general"}
    )
    page = client.post(url, data).content.decode()
    assert "本次10分钟，不足30分钟，请说明原因" in page and "这个字段是必填项" in page
    assert not Visit.objects.exists()
