"""The rulebook itself (visitplan/rulebook.py): presets read back, changes checked, logged and
announced, the caller's copy refreshed, a stale editor refused."""

import pytest
from django.core.exceptions import ValidationError

from core.versioning import StaleEditError
from visitplan import rulebook
from visitplan.models import Campaign, RuleChange
from visitplan.rulebook import PRESETS, apply_preset, rule_errors, rules_for, update_rules


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"min_visit_minutes": -5}, "min_visit_minutes", "每次走访不少于（分钟）”须为 0 至 240"),
        ({"min_visit_minutes": "30"}, "min_visit_minutes", "之间的整数"),
        ({"counted_methods": ["in_person", "fax"]}, "counted_methods", "不认识的项：fax"),
        ({"window": "month"}, "window", "只能是"),
        ({"classes": [{"code": "general", "label": "一般", "days": 15}]}, "classes", "三类"),
        ({"classes": [{"code": c, "label": "x", "days": 0} for c in ("general", "major", "grave")]}, "classes",
         "1 至 365 个工作日"),
        ({"questions": [{"code": "a", "text": "问1", "domains": []}, {"code": "a", "text": "问2", "domains": []}]},
         "questions", "编号须各不相同"),
        ({"questions": [{"code": "a", "text": " ", "domains": []}]}, "questions", "第 1 题没有题目文字"),
        ({"secretary_sweep": "yes"}, "secretary_sweep", "须为是或否"),
        ({"no_such_rule": 1}, "no_such_rule", "未知的规则"),
    ],
)  # fmt: skip
def test_bad_values_are_refused_naming_the_rule(changes, field, words):
    errors = rule_errors(changes)
    assert list(errors) == [field] and words in errors[field], errors


def test_a_question_must_file_under_a_known_domain():
    errors = rule_errors({"questions": [{"code": "q", "text": "问", "domains": ["roads"]}]})
    assert "问题领域不认识：roads" in errors["questions"]


@pytest.mark.parametrize("code", list(PRESETS))
def test_every_preset_is_valid_by_its_own_checks(code):
    values = rulebook.preset_values(code)
    assert rule_errors(values) == {}


@pytest.mark.django_db
def test_a_change_is_logged_announced_and_read_back_by_the_callers_copy(world, monkeypatch):
    w = world
    heard = []
    monkeypatch.setattr(rulebook, "_LISTENERS", [lambda campaign, changed: heard.append(set(changed))])
    version = w.campaign.version
    changed = update_rules(w.campaign, {"plan_days": 7, "min_visit_minutes": 45, "window": "stages"}, user=w.admin)
    assert changed == ["plan_days", "min_visit_minutes"]  # the window was already stages
    assert heard == [{"plan_days", "min_visit_minutes"}]
    assert (rules_for(w.campaign).plan_days, w.campaign.min_visit_minutes, w.campaign.version) == (7, 45, version + 1)
    assert Campaign.objects.get(pk=w.campaign.pk).rules == {"plan_days": 7}
    logged = {(c.rule, c.before, c.after) for c in RuleChange.objects.filter(campaign=w.campaign)}
    assert logged == {("plan_days", "5", "7"), ("min_visit_minutes", "30", "45")}
    with pytest.raises(ValidationError):
        update_rules(w.campaign, {"plan_days": 0})
    assert update_rules(w.campaign, {"plan_days": 7}) == []  # no change, nothing logged
    assert RuleChange.objects.count() == 2


@pytest.mark.django_db
def test_an_editor_who_loaded_an_older_version_changes_nothing(world):
    w = world
    seen = w.campaign.version
    update_rules(Campaign.objects.get(pk=w.campaign.pk), {"plan_days": 6})
    with pytest.raises(StaleEditError):
        update_rules(w.campaign, {"plan_days": 9}, version=seen)
    assert rules_for(Campaign.objects.get(pk=w.campaign.pk)).plan_days == 6


@pytest.mark.django_db
def test_a_preset_fills_the_columns_and_marks_what_the_office_changed(world):
    w = world
    campaign = Campaign(year=2026, name="按003", street=w.street)
    apply_preset(campaign, "003")
    campaign.save()
    rules = rules_for(campaign)
    assert (rules.leader_days_per_month, rules.leader_households_per_month) == (10, 50)
    assert "leader_days_per_month" not in rules.defaulted and "min_visit_minutes" in rules.defaulted
    update_rules(campaign, {"min_visit_minutes": 40})
    rows = {r["name"]: r for _section, items in rulebook.rulebook_rows(campaign) for r in items}
    assert rows["min_visit_minutes"]["own"] and not rows["min_visit_minutes"]["defaulted"]
    assert "进村入户" in rows["leader_days_per_month"]["source"]


@pytest.mark.django_db
def test_a_campaign_of_before_the_rulebook_is_switched_to_a_document(world, client):
    """An existing campaign (product default) follows 002 from now on: its rules, its log, its visits
    recounted; a stale page changes nothing."""
    w = world
    campaign = w.campaign
    client.force_login(w.admin)
    page = client.get(f"/campaigns/{campaign.pk}/rules/edit/")
    assert page.status_code == 200 and "改按另一文件" in page.content.decode()
    seen = campaign.version
    done = client.post(f"/campaigns/{campaign.pk}/rules/edit/", {"preset": "002", "seen_version": seen}, follow=True)
    assert "已改按“按 002 湖田街道方案（走千村进万户）”" in done.content.decode()
    campaign.refresh_from_db()
    campaign._rules_cache = None
    rules = rules_for(campaign)
    assert (campaign.preset, rules.link_period, rules.review_by, rules.away_only_methods) == (
        "002", "campaign", "street", ("phone", "wechat", "sms"),
    )  # fmt: skip
    logged = RuleChange.objects.filter(campaign=campaign)
    assert logged.filter(rule="preset", before="产品默认（不按某一文件）").exists()
    assert logged.filter(rule="link_period").exists()
    stale = client.post(f"/campaigns/{campaign.pk}/rules/edit/", {"preset": "001", "seen_version": seen}, follow=True)
    assert "已被他人修改" in stale.content.decode()
    campaign.refresh_from_db()
    assert campaign.preset == "002"
