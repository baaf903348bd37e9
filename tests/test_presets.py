"""Each of the five documents, as a preset, through the product's own paths: a campaign built from
"按 00x …" accepts or refuses the visits the document allows, counts the methods it counts, holds
each cadre to its targets on a given day, allocates the groups it names, gives its deadlines and
scores as it says (../shared/seeds/000–004; the closing note's table maps each rule to its test).
"""

import datetime
import re
import uuid
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError

from households.models import FocusGroup, Node, NodeKind
from households.roles import CADRE, LEADER, SECRETARY, STREET_ADMIN, sync_role_groups
from tests.support.world import make_household, make_user
from visitplan.allocation import allocate
from visitplan.models import Assignment, Campaign, Stage, StageKind, Tier
from visitplan.rulebook import PRESETS, rules_for, update_rules
from visits import targets
from visits.services import visit_record

D = datetime.date
T = datetime.time
NOW = datetime.datetime(2026, 12, 31, 23, 0)

# The stages of a campaign run like 002's (湖田街道 2022, moved to 2026): 6月初 → 11月中旬.
STAGES_002 = [
    (StageKind.MOBILISE, D(2026, 6, 1), D(2026, 6, 10)),
    (StageKind.VISIT, D(2026, 6, 11), D(2026, 6, 30)),
    (StageKind.RECTIFY, D(2026, 7, 1), D(2026, 8, 10)),
    (StageKind.FOLLOW_UP, D(2026, 8, 11), D(2026, 10, 10)),
    (StageKind.EVALUATE, D(2026, 10, 11), D(2026, 11, 15)),
]
# 003: "大走访活动从2023年3月1日至2023年12月底结束" (moved to 2026).
STAGES_003 = [(StageKind.VISIT, D(2026, 3, 1), D(2026, 12, 31))]


def build(code, stages=STAGES_002, households=4):
    """A street with one community of two grids, ``households`` households in grid A, and a cadre of
    each tier; the campaign created from preset ``code`` the way the admin creates it."""
    sync_role_groups()
    street = Node.objects.create(kind=NodeKind.STREET, name="湖田街道")
    c1 = Node.objects.create(kind=NodeKind.COMMUNITY, name="湖田社区", parent=street)
    grid_a = Node.objects.create(kind=NodeKind.GRID, name="第1网格", parent=c1)
    grid_b = Node.objects.create(kind=NodeKind.GRID, name="第2网格", parent=c1)
    w = SimpleNamespace(street=street, c1=c1, grid_a=grid_a, grid_b=grid_b)
    w.h = [make_household(grid_a, f"{101 + i}", f"住户{i}", 10 + i) for i in range(households)]
    w.admin = make_user("admin", STREET_ADMIN, scope=street, tier=Tier.STREET_STAFF, staff=True)
    w.leader = make_user("leader", LEADER, scope=street, tier=Tier.LEADER, staff=True)
    w.staff = make_user("staff", CADRE, scope=c1, tier=Tier.STREET_STAFF)
    w.secretary = make_user("sec", SECRETARY, scope=c1, tier=Tier.SECRETARY, staff=True)
    w.committee = make_user("lw", CADRE, scope=grid_a, tier=Tier.COMMITTEE)
    w.worker = make_user("gw", CADRE, scope=grid_a, tier=Tier.GRID_WORKER)
    campaign = Campaign(year=2026, name=f"按{code}", street=street)
    from visitplan.rulebook import apply_preset

    apply_preset(campaign, code)
    campaign.save()
    for kind, first, last in stages:
        Stage.objects.create(campaign=campaign, kind=kind, starts_on=first, ends_on=last)
    w.campaign = Campaign.objects.get(pk=campaign.pk)
    return w


def tag(household, name):
    household.tags.add(FocusGroup.objects.get(name=name))


def link(w, household, user, tier=None):
    cadre = user.cadre
    Assignment.objects.create(campaign=w.campaign, household=household, cadre=cadre, tier=tier or cadre.tier)


def record(w, household, user, day, method="in_person", start=T(9, 0), end=T(9, 40), **extra):
    timed = method in ("in_person", "meeting")
    return visit_record(
        household=household, by=user, campaign=w.campaign, key=uuid.uuid4(), method=method, visited_on=day,
        started_at=start if timed else None, ended_at=end if timed else None, now=NOW, **extra,
    ).visit  # fmt: skip


def progress(w, user, day):
    return targets.cadre_targets(user.cadre, w.campaign, today=day)


# ------------------------------------------------------------------------------ every preset


@pytest.mark.parametrize("code", ["002", "001", "003", "004", "000"])
def test_each_preset_quotes_its_document_and_marks_what_it_is_silent_on(code):
    """Every rule a preset sets from its document quotes words that are in that document; a rule it
    is silent on holds the product default and says so."""
    from pathlib import Path

    preset = PRESETS[code]
    text = (Path(__file__).resolve().parents[1] / "docs" / "sources" / preset.document).read_text()
    flat = text.replace("\n", "").replace(" ", "")
    assert preset.sources, code
    for rule, quote in preset.sources.items():
        # the words between the ellipses are the document's own; a note of ours is in 【】
        quoted = re.sub(r"【[^】]*】", "", quote)
        for fragment in quoted.split("…"):
            fragment = fragment.strip().replace(" ", "")
            if fragment:
                assert fragment in flat, (code, rule, fragment)
    rules = preset.rules()
    for rule in preset.silent:
        assert rule in rules.defaulted
        assert getattr(rules, rule) == getattr(PRESETS[""].rules(), rule), (code, rule)


# ------------------------------------------------------------------------------ 002 湖田街道


@pytest.mark.django_db
def test_002_visits_fall_inside_the_stages_and_last_30_minutes():
    w = build("002")
    link(w, w.h[0], w.worker)
    with pytest.raises(ValidationError) as refused:
        record(w, w.h[0], w.worker, D(2026, 3, 10))
    assert "不在" in refused.value.message_dict["visited_on"][0] and "2026-06-01 至 2026-11-15" in str(refused.value)
    with pytest.raises(ValidationError):
        record(w, w.h[0], w.worker, D(2026, 11, 25))
    with pytest.raises(ValidationError) as short:
        record(w, w.h[0], w.worker, D(2026, 6, 20), start=T(9, 0), end=T(9, 20))
    assert "不足30分钟" in short.value.message_dict["short_reason"][0]
    assert record(w, w.h[0], w.worker, D(2026, 6, 20)).counts


@pytest.mark.django_db
def test_002_calls_and_messages_count_only_for_households_long_away():
    w = build("002")
    link(w, w.h[0], w.worker)
    link(w, w.h[1], w.worker)
    tag(w.h[1], "长期在外")
    home = record(w, w.h[0], w.worker, D(2026, 6, 20), method="wechat")
    away = record(w, w.h[1], w.worker, D(2026, 6, 20), method="phone")
    assert (home.counts, away.counts) == (False, True)
    t = progress(w, w.worker, D(2026, 6, 21))
    assert (t.visited, t.half_done) == (1, 1)  # the WeChat message to a household at home is recorded, not counted


@pytest.mark.django_db
def test_002_one_visit_in_the_campaign_covers_a_household_paced_over_the_visit_stage():
    """002's target is 全覆盖 by the end of 集中走访 (6月底前), not a visit in each half-year."""
    w = build("002")
    for h in w.h:
        link(w, h, w.worker)
    record(w, w.h[0], w.worker, D(2026, 6, 12))
    # day 5 of the 20-day stage: 4 × 5 / 20 = 1 household due by now, 1 done
    assert "half_year" not in progress(w, w.worker, D(2026, 6, 15)).reasons
    # the stage is over: all 4 are due, 1 done
    assert "half_year" in progress(w, w.worker, D(2026, 7, 15)).reasons
    for h in w.h[1:]:
        record(w, h, w.worker, D(2026, 6, 28))
    late = progress(w, w.worker, D(2026, 11, 10))
    assert (late.half_done, late.reasons) == (4, [])  # June's visits still cover them in November
    assert late.half_label == "本次活动"


@pytest.mark.django_db
def test_002_the_secretary_sweeps_and_street_staff_take_the_old_petitioners_first():
    w = build("002", households=10)
    tag(w.h[8], "上访老户")
    tag(w.h[9], "困难群众")
    report = allocate(w.campaign)
    staff = set(Assignment.objects.filter(cadre=w.staff.cadre).values_list("household_id", flat=True))
    assert len(staff) == 3  # 30 % of 10
    assert {w.h[8].pk, w.h[9].pk} <= staff, report.summary_lines()
    assert Assignment.objects.filter(cadre=w.secretary.cadre).count() == 10  # 户户到
    assert targets.SWEEP in targets.targets_of(Tier.SECRETARY, w.campaign)


# ------------------------------------------------------------------------------ 001 全员联户


@pytest.mark.django_db
def test_001_visits_all_year_in_person_once_in_each_half():
    w = build("001")
    link(w, w.h[0], w.worker)
    link(w, w.h[1], w.worker)
    # year-round: March and late November are accepted although the campaign has stages
    record(w, w.h[0], w.worker, D(2026, 3, 10))
    record(w, w.h[1], w.worker, D(2026, 3, 11))
    # two SMS do not meet "到聯系戶走訪"
    sms = [record(w, w.h[0], w.worker, day, method="sms") for day in (D(2026, 9, 1), D(2026, 10, 1))]
    assert not any(v.counts for v in sms)
    t = progress(w, w.worker, D(2026, 12, 31))
    assert (t.half_done, t.half_label, t.reasons) == (0, "下半年", ["half_year"])
    record(w, w.h[0], w.worker, D(2026, 11, 25))
    record(w, w.h[1], w.worker, D(2026, 11, 26))
    t = progress(w, w.worker, D(2026, 12, 31))
    assert (t.half_done, t.year_done, t.reasons) == (2, 2, [])
    # no 户户到 in 001: the secretary gets no sweep
    assert targets.SWEEP not in targets.targets_of(Tier.SECRETARY, w.campaign)


# ------------------------------------------------------------------------------ 003 两级书记大走访


def _leader_month(w, days, households, method="in_person", month=10):
    hh = iter(w.h)
    for d in range(days):
        for _ in range(households // days + (1 if d < households % days else 0)):
            record(w, next(hh), w.leader, D(2026, month, d + 1), method=method)


@pytest.mark.django_db
def test_003_fifty_phone_calls_in_ten_days_are_not_going_to_the_villages():
    w = build("003", stages=STAGES_003, households=60)
    _leader_month(w, 10, 50, method="phone")
    t = progress(w, w.leader, D(2026, 10, 31))
    assert (t.month_days, t.month_households, t.reasons) == (0, 0, ["month"])


@pytest.mark.django_db
def test_003_the_leaders_month_is_prorated_to_the_day():
    w = build("003", stages=STAGES_003, households=60)
    _leader_month(w, 2, 10)
    # the 6th of a 31-day month: 10 × 6 / 31 → 2 days and 50 × 6 / 31 → 10 households are due, and done
    on_6th = progress(w, w.leader, D(2026, 10, 6))
    assert (on_6th.month_days_pace, on_6th.month_households_pace, on_6th.reasons) == (2, 10, [])
    # the 7th asks 2 days and 11 households
    assert progress(w, w.leader, D(2026, 10, 7)).reasons == ["month"]
    # by the month's end the whole 10 days and 50 households are due
    assert progress(w, w.leader, D(2026, 10, 31)).reasons == ["month"]


@pytest.mark.django_db
def test_003_leaders_meet_the_month_with_ten_days_and_fifty_households():
    w = build("003", stages=STAGES_003, households=60)
    _leader_month(w, 10, 50)
    t = progress(w, w.leader, D(2026, 10, 31))
    assert (t.month_days, t.month_households, t.reasons) == (10, 50, [])


@pytest.mark.django_db
def test_003_leaders_are_allocated_the_groups_it_names():
    w = build("003", stages=STAGES_003, households=6)
    tag(w.h[0], "老干部")  # a group 003 names that the register's vocabulary lacked: the preset adds it
    tag(w.h[1], "致富带头人")
    tag(w.h[2], "留守儿童")  # not one of 003's groups
    allocate(w.campaign)
    mine = set(Assignment.objects.filter(cadre=w.leader.cadre).values_list("household_id", flat=True))
    assert mine == {w.h[0].pk, w.h[1].pk}
    assert rules_for(w.campaign).secretary_sweep is False
    assert Assignment.objects.filter(cadre=w.secretary.cadre).count() == 0


# ------------------------------------------------------------------------------ 004 四步走亲


@pytest.mark.django_db
def test_004_weekly_visits_to_the_old_are_made_at_the_door():
    w = build("004")
    link(w, w.h[0], w.committee)
    tag(w.h[0], "高龄老人")
    record(w, w.h[0], w.committee, D(2026, 11, 18), method="wechat")  # counts for 认亲, not for 每周上门
    t = progress(w, w.committee, D(2026, 11, 20))
    assert (t.visited, t.weekly_total, t.weekly_behind, t.reasons) == (1, 1, 1, ["weekly"])
    record(w, w.h[0], w.committee, D(2026, 11, 19))
    t = progress(w, w.committee, D(2026, 11, 20))
    assert (t.weekly_behind, "weekly" in t.reasons) == (0, False)
    # a week later the door visit is 8 days old
    assert progress(w, w.committee, D(2026, 11, 27)).weekly_behind == 1
    # 004 holds the 两委 to it, not the grid workers
    assert targets.WEEKLY not in targets.targets_of(Tier.GRID_WORKER, w.campaign)


# ------------------------------------------------------------------------------ 000 深化入户走访


@pytest.mark.django_db
def test_000_leaders_visit_its_own_list_of_groups():
    w = build("000", households=6)
    for household, group in zip(w.h, ["低保户", "残疾人", "驻区企业", "老党员", "留守儿童", "上访老户"], strict=True):
        tag(household, group)
    report = allocate(w.campaign)
    mine = set(Assignment.objects.filter(cadre=w.leader.cadre).values_list("household_id", flat=True))
    # 驻区企业、党员代表、困难家庭、低保户、残疾人、信访人员 (信访人员 = 上访老户's alias)
    assert mine == {w.h[0].pk, w.h[1].pk, w.h[2].pk, w.h[5].pk}, report.summary_lines()
    assert rules_for(w.campaign).link_period == "campaign"


# ------------------------------------------------------------------------------ changing a rule


@pytest.mark.django_db
def test_changing_what_counts_mid_campaign_recounts_the_visits_and_is_logged():
    w = build("002")
    link(w, w.h[0], w.worker)
    v = record(w, w.h[0], w.worker, D(2026, 6, 20), method="wechat")
    assert not v.counts
    update_rules(w.campaign, {"away_only_methods": []}, user=w.admin)
    v.refresh_from_db()
    assert v.counts
    w.campaign = Campaign.objects.get(pk=w.campaign.pk)
    assert progress(w, w.worker, D(2026, 6, 21)).visited == 1
    change = w.campaign.rule_changes.get()
    assert (change.label, change.before, change.after, change.user) == (
        "仅对长期在外户计入的方式", "电话、微信、短信", "（无）", w.admin,
    )  # fmt: skip


@pytest.mark.django_db
def test_002_the_form_says_which_methods_count_and_warns_when_one_does_not(client, monkeypatch):
    from django.utils import timezone

    w = build("002")
    link(w, w.h[0], w.worker)
    monkeypatch.setattr(timezone, "localdate", lambda value=None, tz=None: D(2026, 6, 20))
    client.force_login(w.worker)
    form = client.get(f"/visits/h/{w.h[0].pk}/visit/").content.decode()
    assert (
        "本次活动计入走访任务的方式：入户、座谈、电话、微信、短信；其中电话、微信、短信只对长期在外的户计入（本户未标记长期在外）"
        in form
    )
    page = client.get(f"/visits/h/{w.h[0].pk}/visit/")
    key = page.context["form"]["key"].value()
    saved = client.post(
        f"/visits/h/{w.h[0].pk}/visit/",
        {"key": key, "method": "wechat", "visited_on": "2026-06-20", "issues-TOTAL_FORMS": "0",
         "issues-INITIAL_FORMS": "0"},
        follow=True,
    )  # fmt: skip
    text = saved.content.decode()
    assert "走访记录已保存" in text
    assert "按本次活动规则，“微信”只对长期在外的户计入走访任务，本户不计入（记录仍会保存）" in text


# ------------------------------------------------------------------------------ supervision (千分制, 约谈)


def _findings(w, kinds):
    from reports.supervision import finding_record

    for kind in kinds:
        finding_record(by=w.admin, campaign=w.campaign, kind=kind, method="onsite", evidence="实地巡查发现",
                       found_on=D(2026, 7, 1), cadre=w.worker.cadre)  # fmt: skip


def _score_and_interviews(w):
    from reports.scoring import community_scores, interview_list

    communities = Node.objects.filter(pk=w.c1.pk)
    (score,) = community_scores(w.campaign, communities)
    return score.score, {c.name for c in interview_list(w.campaign, communities)}


@pytest.mark.django_db
def test_002_scores_out_of_1000_and_interviews_the_two_committees_with_their_secretary(monkeypatch):
    from django.utils import timezone

    monkeypatch.setattr(timezone, "localdate", lambda value=None, tz=None: D(2026, 7, 2))
    w = build("002")
    _findings(w, ["not_visited", "not_visited"])
    assert _score_and_interviews(w) == (998, set())
    # 征求意见不实 costs no point in 002's 千分制 but counts toward its 约谈 (3 or more)
    _findings(w, ["fake_opinions"])
    assert _score_and_interviews(w) == (998, {"staff", "sec", "lw"})


@pytest.mark.django_db
def test_the_product_default_interviews_without_the_secretary(monkeypatch):
    from django.utils import timezone

    monkeypatch.setattr(timezone, "localdate", lambda value=None, tz=None: D(2026, 7, 2))
    w = build("")
    _findings(w, ["not_visited", "fake_visit", "fake_opinions"])
    assert _score_and_interviews(w) == (997, {"staff", "lw"})


# ------------------------------------------------------------------------------ every preset: deadlines, 千分制, 约谈

# (preset, the class names it gives, days to close each; whether its 约谈 takes in the 社区书记)
LEDGERS = {
    "002": (("一般问题", "较大问题", "特别重大或涉及面大的问题"), (15, 30, 60), True),
    "001": (("一般问题", "较大问题", "特别重大或涉及面大的问题"), (15, 30, 60), False),  # silent: the default
    "003": (("一般问题", "较大问题", "特别重大或涉及面大的问题"), (15, 30, 60), True),  # 两级书记
    "004": (("立刻办理", "定期办理", "做好解释工作长期推进"), (15, 30, 60), False),
    "000": (("一般问题", "较大问题", "特别重大或涉及面大的问题"), (15, 30, 60), False),
}


@pytest.mark.parametrize("code", list(LEDGERS))
@pytest.mark.django_db
def test_each_preset_gives_its_deadlines_class_names_score_and_interview_list(code, monkeypatch):
    from django.utils import timezone

    from issues import deadlines, workdays
    from issues.services import issue_register

    monkeypatch.setattr(timezone, "localdate", lambda value=None, tz=None: D(2026, 7, 2))
    workdays.clear_cache()
    names, days, with_secretary = LEDGERS[code]
    w = build(code)
    registered = D(2026, 6, 22)  # a Monday of 集中走访
    for severity, name, n in zip(("general", "major", "grave"), names, days, strict=True):
        issue = issue_register(household=w.h[0], raised_by=w.admin, text="村道路灯不亮", category="living",
                               severity=severity, registered_on=registered)  # fmt: skip
        assert issue.plan_due_on == workdays.add_working_days(registered, 5).date, (code, severity)
        assert issue.due_on == workdays.add_working_days(registered, n).date, (code, severity)
        assert deadlines.class_label(issue) == name, code
    _findings(w, ["not_visited", "fake_visit", "not_rectified"])
    expected = {"staff", "lw"} | ({"sec"} if with_secretary else set())
    assert _score_and_interviews(w) == (997, expected), code


@pytest.mark.django_db
def test_004_the_ledger_marks_every_class_by_its_name(client, monkeypatch):
    """Under 004 the first class is 立刻办理, the most urgent: the ledger marks it too."""
    from django.utils import timezone

    from issues.services import issue_register

    monkeypatch.setattr(timezone, "localdate", lambda value=None, tz=None: D(2026, 7, 2))
    w = build("004")
    issue_register(household=w.h[0], raised_by=w.admin, text="独居老人家中水管漏水", category="living",
                   severity="general", registered_on=D(2026, 7, 1))  # fmt: skip
    client.force_login(w.admin)
    html = client.get("/issues/").content.decode()
    assert '<span class="sev sev-general">立刻办理</span>' in html
    # the same street following the product default: an ordinary 一般 issue is not marked
    Campaign.objects.filter(pk=w.campaign.pk).update(preset="", rules={})
    assert '<span class="sev sev-general">' not in client.get("/issues/").content.decode()
