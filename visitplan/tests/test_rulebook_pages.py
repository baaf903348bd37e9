"""活动规则的页面: the read-only rulebook of a campaign (everyone who sees the campaign), its edit page
(the street admin of the campaign's street), presets when a campaign is created in the admin."""

import html
import re

import pytest
from django.test import Client
from django.urls import reverse

from core.versioning import STALE_EDIT_MESSAGE
from households.models import FocusGroup, Node, NodeKind
from households.roles import STREET_ADMIN
from tests.support.browser import log_in, screenshot
from tests.support.world import make_user
from visitplan.models import Campaign, RuleChange, Tier
from visitplan.rulebook import PRESETS, apply_preset, rules_for, update_rules
from visitplan.rulebook_pages.forms import SECTION_KEYS, section_post_data

pytestmark = pytest.mark.django_db


def read_url(campaign):
    return reverse("visitplan:rulebook", args=[campaign.pk])


def edit_url(campaign):
    return reverse("visitplan:rulebook_edit", args=[campaign.pk])


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def follow(campaign, code):
    apply_preset(campaign, code)
    campaign.save()
    return campaign


def text_of(response) -> str:
    return html.unescape(response.content.decode())


def rule_row(page: str, label: str) -> str:
    """The table row of the rule labelled ``label`` on the read page."""
    found = re.search(r"<tr[^>]*>\s*<th scope=\"row\">" + re.escape(label) + r"</th>(.*?)</tr>", page, re.S)
    assert found, f"no row {label!r}"
    return found.group(1)


def post_section(client, campaign, key, **changes):
    campaign = Campaign.objects.get(pk=campaign.pk)
    return client.post(edit_url(campaign), {**section_post_data(campaign, key), **changes})


# ------------------------------------------------------------------------------------------------ reading


@pytest.mark.parametrize(
    ("code", "words", "label"),
    [
        ("002", "每户访问时间不少于30分钟", "每次走访不少于（分钟）"),
        ("003", "每月至少安排10天时间进村入户", "班子成员每月走访天数"),
        ("004", "立刻办理", "问题类别与办结时限"),
    ],
)
def test_each_presets_page_quotes_its_document_for_a_grid_worker(world, code, words, label):
    campaign = follow(world.campaign, code)
    response = as_user(world.worker_a).get(read_url(campaign))
    assert response.status_code == 200
    page = text_of(response)
    assert PRESETS[code].label in page
    assert words in rule_row(page, label)
    assert "修改规则" not in page  # a grid worker reads only


def test_a_rule_the_document_is_silent_on_says_the_default_stands(world):
    page = text_of(as_user(world.worker_a).get(read_url(follow(world.campaign, "002"))))
    silent = rule_row(page, "时长要求适用的方式")  # 002 names no methods the 30 minutes apply to
    assert "文件未作规定，沿用产品默认" in silent and "入户、座谈" in silent
    quoted = rule_row(page, "每次走访不少于（分钟）")
    assert "文件未作规定" not in quoted and "本街道调整" not in quoted


def test_the_questionnaire_and_the_checklist_are_spelled_out_in_order_with_their_domains(world):
    campaign = follow(world.campaign, "002")
    page = text_of(as_user(world.leader).get(read_url(campaign)))
    questions = rules_for(campaign).question_list()
    positions = [page.index(q["text"]) for q in questions]
    assert len(questions) == 9 and positions == sorted(positions)
    first = page[positions[0] : positions[1]]
    assert "民生事项：劳有厚得、弱有众扶" in first
    assert "开放问题" in page[positions[-1] :]
    for group, items in rules_for(campaign).checklist_groups():
        assert f">{group}</h3>" in page
        assert all(f"<li>{label}</li>" in page for _code, label in items)


def test_everyone_of_the_street_reads_it_and_the_admin_gets_the_edit_link(world):
    campaign = follow(world.campaign, "002")
    for user in (world.worker_a, world.handler, world.secretary, world.leader):
        response = as_user(user).get(read_url(campaign))
        assert response.status_code == 200, user
        assert edit_url(campaign) not in response.content.decode()
    assert edit_url(campaign) in as_user(world.admin).get(read_url(campaign)).content.decode()
    anonymous = Client().get(read_url(campaign))
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")


def test_the_home_page_links_the_current_campaigns_rules(world):
    page = as_user(world.leader).get(reverse("home")).content.decode()
    assert f'href="{read_url(world.campaign)}"' in page


# ------------------------------------------------------------------------------------------------ who may edit


def test_a_cadre_reads_but_may_not_edit(world):
    campaign = follow(world.campaign, "002")
    before = (campaign.version, RuleChange.objects.count())
    for user in (world.worker_a, world.leader, world.secretary, world.handler):
        client = as_user(user)
        assert client.get(read_url(campaign)).status_code == 200
        assert client.get(edit_url(campaign)).status_code == 403, user
        assert post_section(client, campaign, "visits", min_visit_minutes="45").status_code == 403, user
    assert (Campaign.objects.get(pk=campaign.pk).version, RuleChange.objects.count()) == before
    assert Campaign.objects.get(pk=campaign.pk).min_visit_minutes == 30


@pytest.fixture
def other_street(world):
    st2 = Node.objects.create(kind=NodeKind.STREET, name="外街街道")
    outsider = make_user("outsider", STREET_ADMIN, scope=st2, tier=Tier.STREET_STAFF, staff=True)
    return outsider, Campaign.objects.create(year=2026, name="外街走访", street=st2)


def test_a_street_admin_of_another_street_gets_404_as_for_a_missing_campaign(world, other_street):
    outsider, _theirs = other_street
    campaign = follow(world.campaign, "002")
    client = as_user(outsider)
    for url in (read_url(campaign), edit_url(campaign), reverse("visitplan:rulebook", args=[987654]),
                reverse("visitplan:rulebook_edit", args=[987654])):  # fmt: skip
        assert client.get(url).status_code == 404, url
    assert post_section(client, campaign, "visits", min_visit_minutes="45").status_code == 404
    assert Campaign.objects.get(pk=campaign.pk).min_visit_minutes == 30 and not RuleChange.objects.exists()


def test_a_street_admin_of_one_community_reads_but_may_not_edit_the_streets_rules(world):
    community_admin = make_user("adm_c1", STREET_ADMIN, scope=world.c1, tier=Tier.STREET_STAFF, staff=True)
    client = as_user(community_admin)
    assert client.get(read_url(world.campaign)).status_code == 200
    assert client.get(edit_url(world.campaign)).status_code == 403


def test_the_log_shows_only_the_campaigns_the_user_sees(world, other_street):
    outsider, theirs = other_street
    update_rules(theirs, {"plan_days": 9}, user=outsider)
    update_rules(world.campaign, {"plan_days": 6}, user=world.admin)
    assert set(RuleChange.objects.visible_to(world.worker_a).values_list("campaign", flat=True)) == {world.campaign.pk}
    assert set(RuleChange.objects.visible_to(outsider).values_list("campaign", flat=True)) == {theirs.pk}


# ------------------------------------------------------------------------------------------------ editing


def test_changing_the_minimum_minutes_logs_it_and_the_pages_show_it(world):
    campaign = follow(world.campaign, "002")
    client = as_user(world.admin)
    response = post_section(client, campaign, "visits", min_visit_minutes="45")
    assert response.status_code == 302 and response["Location"].endswith("#sec-visits")
    page = text_of(client.get(response["Location"]))
    assert "已保存，1 项规则已修改：每次走访不少于（分钟）" in page

    campaign = Campaign.objects.get(pk=campaign.pk)
    assert campaign.min_visit_minutes == 45 and rules_for(campaign).min_visit_minutes == 45
    change = RuleChange.objects.get(campaign=campaign)
    assert (change.rule, change.before, change.after, change.user) == ("min_visit_minutes", "30", "45", world.admin)
    assert "30</span> → <strong>45</strong>" in page  # the edit page's log

    read = text_of(as_user(world.worker_a).get(read_url(campaign)))
    row = rule_row(read, "每次走访不少于（分钟）")
    assert "45" in row and "本街道调整" in row and "文件原文：“每户访问时间不少于30分钟”" in row
    log = read[read.index('id="log"') :]
    assert "每次走访不少于（分钟）" in log and "30</span> → <strong>45</strong>" in log and "admin" in log


def test_a_section_posted_unchanged_changes_nothing_for_every_preset(world):
    client = as_user(world.admin)
    for code in PRESETS:
        campaign = Campaign.objects.create(year=2026, name=f"走访{code or '默认'}", street=world.street)
        follow(campaign, code)
        for key in SECTION_KEYS.values():
            response = post_section(client, campaign, key)
            assert response.status_code == 302, (code, key, text_of(response)[:3000])
        assert not RuleChange.objects.filter(campaign=campaign).exists(), code
        assert Campaign.objects.get(pk=campaign.pk).version == campaign.version


def test_a_stale_page_is_refused_with_the_projects_message_and_writes_nothing(world):
    campaign = follow(world.campaign, "002")
    alice, bob = as_user(world.admin), as_user(world.admin)
    bobs_page = section_post_data(Campaign.objects.get(pk=campaign.pk), "visits")
    assert post_section(alice, campaign, "issues", plan_days="7").status_code == 302

    response = bob.post(edit_url(campaign), {**bobs_page, "min_visit_minutes": "45"})
    assert response.status_code == 200
    assert STALE_EDIT_MESSAGE in text_of(response)
    fresh = Campaign.objects.get(pk=campaign.pk)
    assert fresh.min_visit_minutes == 30 and rules_for(fresh).plan_days == 7
    assert list(RuleChange.objects.values_list("rule", flat=True)) == ["plan_days"]
    # Reloaded, the same change goes through.
    assert post_section(bob, campaign, "visits", min_visit_minutes="45").status_code == 302
    assert Campaign.objects.get(pk=campaign.pk).min_visit_minutes == 45


@pytest.mark.parametrize(
    ("key", "field", "value", "message"),
    [
        ("visits", "min_visit_minutes", "半小时", "“每次走访不少于（分钟）”须填写整数"),
        ("visits", "min_visit_minutes", "-5", "“每次走访不少于（分钟）”不能小于 0"),
        ("targets", "street_staff_share", "130", "“街道干部覆盖社区户数不低于（%）”不能大于 100"),
        ("visits", "counted_methods", [], "“计入走访任务的方式”至少选择一项"),
        ("visits", "window", "forever", "“走访期间”的选项无效"),
        ("scoring", "interview_tiers", ["9"], "“约谈对象”中有无效的选项"),
        ("content", "supervision_phone", "12345", "“监督电话”应为11位手机号或带区号的固定电话"),
        ("issues", "class_general_days", "0", "第一类问题的办结时限不能小于 1 个工作日"),
        ("issues", "class_major_label", "", "请填写第二类问题的名称"),
        ("content", "questions-0-text", "", "请填写“问题”的内容，或取消所选的民生事项"),
        ("content", "questions-0-domains", ["nowhere"], "“对应的民生事项”中有无效的选项"),
        ("content", "checklist-0-group", "", "请填写“分组”"),
    ],
)
def test_bad_input_is_refused_in_chinese_naming_the_field(world, key, field, value, message):
    campaign = follow(world.campaign, "002")
    response = post_section(as_user(world.admin), campaign, key, **{field: value})
    assert response.status_code == 200
    page = text_of(response)
    assert message in page and "保存失败，请按提示修改后重新提交。" in page
    assert not RuleChange.objects.exists() and Campaign.objects.get(pk=campaign.pk).version == campaign.version


def test_away_only_methods_must_be_counted_methods(world):
    campaign = follow(world.campaign, "002")
    response = post_section(as_user(world.admin), campaign, "visits", counted_methods=["in_person", "phone"])
    assert "“仅对长期在外户计入的方式”中的微信、短信不在“计入走访任务的方式”中" in text_of(response)


def test_the_widgets_fit_the_rules(world):
    page = as_user(world.admin).get(edit_url(follow(world.campaign, "002"))).content.decode()
    assert re.search(r'<input type="number" name="min_visit_minutes"[^>]*min="0"', page)
    assert re.search(r'<select name="window"', page) and re.search(r'<select name="link_period"', page)
    assert re.search(r'<select name="review_by"', page)
    assert page.count('type="checkbox" name="counted_methods"') == 5
    assert page.count('type="checkbox" name="interview_tiers"') == len(Tier.choices)
    # The focus groups are the register's vocabulary.
    names = list(FocusGroup.objects.values_list("name", flat=True))
    assert names and all(f'name="leader_groups" value="{n}"' in page for n in names)
    # The classes: a name and working days each; the questions with the ledger's nine domains.
    assert 'name="class_general_label" value="一般问题"' in page and 'name="class_grave_days" value="60"' in page
    assert page.count('type="checkbox" name="questions-0-domains"') == 9
    assert 'name="seen_version"' in page


def test_the_classes_questions_and_checklist_are_edited_as_rows(world):
    campaign = follow(world.campaign, "002")
    client = as_user(world.admin)
    assert (
        post_section(client, campaign, "issues", class_general_label="即知即办", class_general_days="10").status_code
        == 302
    )
    rules = rules_for(Campaign.objects.get(pk=campaign.pk))
    assert rules.class_list()[0] == {"code": "general", "label": "即知即办", "days": 10}

    questions = {"questions-0-text": "家里收入怎么样？", "questions-TOTAL_FORMS": "10",
                 "questions-9-text": "孩子上学远不远？", "questions-9-domains": ["education", "childcare"]}  # fmt: skip
    assert post_section(client, campaign, "content", **questions).status_code == 302
    rules = rules_for(Campaign.objects.get(pk=campaign.pk))
    q = rules.question_list()
    assert [x["code"] for x in q] == ["q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "q9", "q10"]
    assert q[0]["text"] == "家里收入怎么样？" and q[0]["domains"] == ["employment", "welfare"]  # kept its code
    assert q[9] == {"code": "q10", "text": "孩子上学远不远？", "domains": ["childcare", "education"]}

    checklist = {"checklist-0-label": "了解家庭成员情况", "checklist-TOTAL_FORMS": "13", "checklist-12-group": "六必到",
                 "checklist-12-label": "困难户必到"}  # fmt: skip
    assert post_section(client, campaign, "content", **checklist).status_code == 302
    groups = rules_for(Campaign.objects.get(pk=campaign.pk)).checklist_groups()
    assert groups[0][1][0] == ("know_family", "了解家庭成员情况")  # visits keep their ticks
    assert groups[-1] == ("六必到", [("item1", "困难户必到")])
    logged = list(RuleChange.objects.order_by("id").values_list("rule", flat=True))
    assert logged == ["classes", "questions", "checklist"]
    page = text_of(client.get(read_url(campaign)))
    assert "孩子上学远不远？" in page and "民生事项：幼有善育、学有优教" in page and "困难户必到" in page


def test_a_cleared_question_is_removed_and_the_last_one_may_not_be(world):
    campaign = follow(world.campaign, "002")
    client = as_user(world.admin)
    assert (
        post_section(client, campaign, "content", **{"questions-0-text": "", "questions-0-domains": []}).status_code
        == 302
    )
    codes = [q["code"] for q in rules_for(Campaign.objects.get(pk=campaign.pk)).question_list()]
    assert codes == ["q2", "q3", "q4", "q5", "q6", "q7", "q8", "q9"]
    cleared = {**{f"questions-{i}-text": "" for i in range(8)}, **{f"questions-{i}-domains": [] for i in range(8)}}
    response = post_section(client, campaign, "content", **cleared)
    assert response.status_code == 200 and "“入户必问”至少保留一个问题" in text_of(response)


def test_the_focus_groups_and_the_phone_are_saved(world):
    campaign = follow(world.campaign, "002")
    client = as_user(world.admin)
    response = post_section(client, campaign, "focus", leader_groups=["老党员", "孤寡老人"])
    assert response.status_code == 302
    response = post_section(client, campaign, "content", supervision_phone=" 0532-82345678 ")
    assert response.status_code == 302
    rules = rules_for(Campaign.objects.get(pk=campaign.pk))
    assert set(rules.leader_groups) == {"老党员", "孤寡老人"} and rules.supervision_phone == "0532-82345678"
    assert "已保存，1 项规则已修改：监督电话" in text_of(client.get(edit_url(campaign)))


# ------------------------------------------------------------------------------------------------ the admin


def test_the_add_form_offers_the_documents_and_applies_the_chosen_one(world):
    client = as_user(world.admin)
    page = client.get(reverse("admin:visitplan_campaign_add")).content.decode()
    assert "依据文件" in page and "按 002 湖田街道方案（走千村进万户）" in page and "产品默认（不按某一文件）" in page
    assert re.search(r'<option value="002" selected>', page)
    assert 'name="min_visit_minutes"' not in page

    data = {"year": "2026", "name": "平川式走访", "street": world.street.pk, "preset": "003",
            "stages-TOTAL_FORMS": "0", "stages-INITIAL_FORMS": "0", "quotas-TOTAL_FORMS": "0", "quotas-INITIAL_FORMS": "0"}  # fmt: skip
    response = client.post(reverse("admin:visitplan_campaign_add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    campaign = Campaign.objects.get(name="平川式走访")
    rules = rules_for(campaign)
    assert campaign.preset == "003" and rules.counted_methods == ("in_person", "meeting")
    assert "老模范" in rules.leader_groups and FocusGroup.objects.filter(name="老模范").exists()


def test_the_change_form_shows_the_document_and_links_the_rulebook(world):
    campaign = follow(world.campaign, "004")
    update_rules(campaign, {"plan_days": 6}, user=world.admin)
    page = as_user(world.admin).get(reverse("admin:visitplan_campaign_change", args=[campaign.pk])).content.decode()
    assert PRESETS["004"].label in page and read_url(campaign) in page and edit_url(campaign) in page
    assert "修改记录 1 条" in page
    assert 'name="preset"' not in page and 'name="min_visit_minutes"' not in page


# ------------------------------------------------------------------------------------------------ in the browser


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_pages_on_a_390px_phone(live_server, world, browser_page):
    campaign = follow(world.campaign, "002")
    update_rules(campaign, {"plan_days": 7}, user=world.admin)
    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server, "grid_a")
    page.goto(f"{live_server.url}{read_url(campaign)}")
    assert page.locator("h1").inner_text() == "活动规则"
    assert "每户访问时间不少于30分钟" in page.inner_text("#sec-visits")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
    screenshot(page, "rulebook_390")

    page.context.clear_cookies()
    log_in(page, live_server, "admin")
    page.goto(f"{live_server.url}{edit_url(campaign)}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.fill("#id_visits_min_visit_minutes", "45")
    page.locator("#sec-visits button[type=submit]").click()
    page.wait_for_load_state()
    assert "已保存，1 项规则已修改" in page.inner_text(".messages")
    assert "45" in page.inner_text("#log")
    screenshot(page, "rulebook_edit_390", full_page=False)
    assert Campaign.objects.get(pk=campaign.pk).min_visit_minutes == 45
