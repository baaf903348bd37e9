"""The issue ledger reads the rulebook of its campaign: days to a plan and to close, the names of
the classes, who reviews; a rule changed mid-campaign moves the open issues' deadlines."""

import datetime
import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from issues import deadlines, exporting, services, workdays
from issues.models import EventKind, Issue, IssueEvent, Notification, Severity, Status
from issues.services import IssueActionError
from issues.tests.factories import DEFAULT_DAY, advance, make_issue, register
from issues.todo import issue_todo_counts
from visitplan.models import Campaign, RuleChange, Stage, StageKind
from visitplan.rulebook import DEFAULT_CLASSES, apply_preset, update_rules

D = datetime.date


def add(day, n):
    return workdays.add_working_days(day, n).date


def campaign_from(world, code, *, year=2026, name="入户走访", stages=()):
    """A campaign of the world's street created from preset ``code`` (newer than the world's own)."""
    campaign = Campaign(year=year, name=name, street=world.street)
    apply_preset(campaign, code)
    campaign.save()
    for kind, first, last in stages:
        Stage.objects.create(campaign=campaign, kind=kind, starts_on=first, ends_on=last)
    return campaign


@pytest.fixture(autouse=True)
def _fresh_calendar():
    workdays.clear_cache()
    yield
    workdays.clear_cache()


@pytest.fixture
def today(monkeypatch):
    monkeypatch.setattr(services, "_today", lambda: DEFAULT_DAY)
    return DEFAULT_DAY


# ------------------------------------------------------------------------------------------ deadlines


@pytest.mark.django_db
def test_a_002_campaign_gives_5_working_days_to_a_plan_and_15_30_60_to_close(world, today):
    campaign_from(world, "002")
    for severity, days in ((Severity.GENERAL, 15), (Severity.MAJOR, 30), (Severity.GRAVE, 60)):
        issue = register(world.ha, world.worker_a, severity=severity)
        assert issue.plan_due_on == add(DEFAULT_DAY, 5) == D(2026, 3, 9)
        assert issue.due_on == add(DEFAULT_DAY, days), severity
    # 2026-03-02 + 15 working days (no holiday in between): Monday 03-23.
    assert Issue.objects.filter(severity=Severity.GENERAL).get().due_on == D(2026, 3, 23)


@pytest.mark.django_db
def test_the_deadlines_follow_the_campaign_of_the_registration_day(world):
    # 2025's campaign (stages March–June) gives 3 days to a plan; 2026's (the latest) the 002 rules.
    old = campaign_from(
        world, "", year=2025, name="2025年走访", stages=[(StageKind.VISIT, D(2025, 3, 1), D(2025, 6, 30))]
    )
    update_rules(old, {"plan_days": 3, "classes": [{**c, "days": c["days"] - 5} for c in DEFAULT_CLASSES]})
    campaign_from(world, "002")
    during = make_issue(world.ha, registered_on=D(2025, 4, 1), status=Status.ROUTED, department=world.dept)
    after = make_issue(world.ha, registered_on=D(2025, 8, 1), status=Status.ROUTED, department=world.dept)
    assert (during.plan_due_on, during.due_on) == (add(D(2025, 4, 1), 3), add(D(2025, 4, 1), 10))
    # Outside every campaign's stages: the street's latest campaign.
    assert (after.plan_due_on, after.due_on) == (add(D(2025, 8, 1), 5), add(D(2025, 8, 1), 15))


@pytest.mark.django_db
def test_a_page_of_issues_resolves_its_rulebooks_in_one_query(world, django_assert_max_num_queries):
    campaign_from(world, "004", stages=[(StageKind.VISIT, D(2026, 3, 1), D(2026, 6, 30))])
    for n in range(12):
        make_issue(world.hb, registered_on=DEFAULT_DAY + datetime.timedelta(days=n), severity=Severity.MAJOR)
    issues = list(Issue.objects.all())
    with django_assert_max_num_queries(1):  # the street's campaigns with the bounds of their stages
        deadlines.attach_rules(issues)
        assert {issue.class_label for issue in issues} == {"定期办理"}


# ------------------------------------------------------------------------------------------ class labels


@pytest.mark.django_db
def test_a_004_campaign_names_the_classes_on_the_pages_the_form_and_the_export(client, world):
    campaign_from(world, "004")
    now = make_issue(world.ha, text="楼道灯不亮", status=Status.ROUTED, department=world.dept)
    later = make_issue(world.hb, text="小区加装电梯", severity=Severity.MAJOR)
    explain = make_issue(world.hb, text="拆迁补偿标准", severity=Severity.GRAVE)
    client.force_login(world.admin)

    page = client.get(reverse("issues:detail", args=[now.pk])).content.decode()
    assert "立刻办理" in page and "一般" not in page
    assert "定期办理" in client.get(reverse("issues:detail", args=[later.pk])).content.decode()
    ledger = client.get(reverse("issues:ledger")).content.decode()
    assert "定期办理" in ledger and "做好解释工作长期推进" in ledger and "较大" not in ledger

    form = client.get(reverse("issues:new") + f"?household={world.ha.pk}").content.decode()
    assert "立刻办理（15个工作日）" in form and "定期办理（30个工作日）" in form
    assert "做好解释工作长期推进（60个工作日）" in form

    response = client.get(reverse("issues:export"))
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content)))[exporting.SHEET_NAME]
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    by_text = {
        row[header.index("诉求内容")]: row[header.index("等级")] for row in sheet.iter_rows(min_row=2, values_only=True)
    }
    assert by_text == {"楼道灯不亮": "立刻办理", "小区加装电梯": "定期办理", "拆迁补偿标准": "做好解释工作长期推进"}
    assert explain.class_label == "做好解释工作长期推进"


@pytest.mark.django_db
def test_the_reviewer_changing_the_class_is_told_in_the_campaigns_words(world, today):
    campaign_from(world, "004")
    issue = register(world.ha, world.worker_a)
    issue = services.issue_accept(
        issue=issue, by=world.admin, version=issue.version, severity=Severity.MAJOR, severity_reason="涉及整栋楼"
    )
    event = IssueEvent.objects.get(issue=issue, kind=EventKind.SEVERITY_CHANGED)
    assert event.text.startswith("等级由“立刻办理”调整为“定期办理”：涉及整栋楼")
    assert issue.due_on == add(DEFAULT_DAY, 30)


# ------------------------------------------------------------------------------------------ a rule changed


@pytest.mark.django_db
def test_changing_the_classes_moves_open_deadlines_and_leaves_closed_ones(world, today):
    campaign = campaign_from(world, "002")
    running = make_issue(world.ha, status=Status.ROUTED, department=world.dept)
    restarted = make_issue(
        world.ha, status=Status.IN_PROGRESS, department=world.dept, due_from=D(2026, 3, 16), plan_from=D(2026, 3, 16)
    )
    closed = make_issue(world.hb, status=Status.CLOSED, department=world.dept)
    assert running.due_on == add(DEFAULT_DAY, 15) and restarted.due_on == add(D(2026, 3, 16), 15)
    closed_before = (closed.due_on, closed.version)
    running_version = running.version

    classes = [{**c, "days": 10} if c["code"] == "general" else c for c in DEFAULT_CLASSES]
    assert update_rules(campaign, {"classes": classes}, user=world.admin) == ["classes"]

    running.refresh_from_db()
    restarted.refresh_from_db()
    closed.refresh_from_db()
    assert running.due_on == add(DEFAULT_DAY, 10) and running.version == running_version + 1
    assert running.plan_due_on == add(DEFAULT_DAY, 5)  # the plan's rule did not change
    assert restarted.due_on == add(D(2026, 3, 16), 10)  # its clock keeps its restart day
    assert (closed.due_on, closed.version) == closed_before
    assert not IssueEvent.objects.filter(issue=closed).exists()
    event = IssueEvent.objects.get(issue=running, kind=EventKind.DEADLINE_RECOMPUTED)
    assert event.actor == world.admin and event.text.startswith("活动规则（问题类别与办结时限）调整后重算时限")
    assert event.data["new"]["due_on"] == add(DEFAULT_DAY, 10).isoformat()
    change = RuleChange.objects.get(campaign=campaign)
    assert (change.rule, change.user) == ("classes", world.admin) and "一般问题 10 个工作日" in change.after

    # A new issue follows the new rule too; changing days to a plan moves the plan deadlines.
    assert register(world.ha, world.worker_a).due_on == add(DEFAULT_DAY, 10)
    update_rules(campaign, {"plan_days": 3}, user=world.admin)
    running.refresh_from_db()
    assert running.plan_due_on == add(DEFAULT_DAY, 3) and running.due_on == add(DEFAULT_DAY, 10)


@pytest.mark.django_db
def test_a_rule_change_moves_only_the_issues_of_that_campaign(world):
    old = campaign_from(
        world, "", year=2025, name="2025年走访", stages=[(StageKind.VISIT, D(2025, 3, 1), D(2025, 6, 30))]
    )
    campaign_from(world, "002")
    of_old = make_issue(world.ha, registered_on=D(2025, 4, 1), status=Status.ROUTED, department=world.dept)
    of_new = make_issue(world.ha, status=Status.ROUTED, department=world.dept)
    version = of_new.version
    update_rules(old, {"plan_days": 2})
    of_old.refresh_from_db()
    of_new.refresh_from_db()
    assert of_old.plan_due_on == add(D(2025, 4, 1), 2)
    assert of_new.plan_due_on == add(DEFAULT_DAY, 5) and of_new.version == version
    # A change that touches no deadline (who reviews) writes nothing on the issues.
    update_rules(old, {"review_by": "street"})
    assert IssueEvent.objects.filter(kind=EventKind.DEADLINE_RECOMPUTED).count() == 1


# ------------------------------------------------------------------------------------------ who reviews


@pytest.mark.django_db
def test_under_002_only_the_street_reviews(client, world, today):
    campaign_from(world, "002")
    issue = register(world.ha, world.worker_a)
    # The registration tells the street admin, not the secretary.
    event = IssueEvent.objects.get(issue=issue, kind=EventKind.REGISTERED)
    assert set(Notification.objects.filter(event=event).values_list("user__username", flat=True)) == {"admin"}
    # The secretary has nothing to review, and may not accept or return.
    assert issue_todo_counts(world.secretary).get("review", 0) == 0
    assert not {"accept", "return"} & set(services.allowed_actions(world.secretary, issue))
    with pytest.raises(IssueActionError, match="只由街道审核"):
        services.issue_accept(issue=issue, by=world.secretary, version=issue.version)
    with pytest.raises(IssueActionError, match="只由街道审核"):
        services.issue_return(issue=issue, by=world.secretary, version=issue.version, reason="信息不全")
    client.force_login(world.secretary)
    response = client.post(reverse("issues:act", args=[issue.pk, "accept"]), {"version": issue.version})
    assert response.status_code == 302
    assert Issue.objects.get(pk=issue.pk).status == Status.REGISTERED
    assert issue.pk not in {i.pk for i in client.get(reverse("issues:review")).context["page"].object_list}
    # He still routes what the street accepted.
    issue = services.issue_accept(issue=issue, by=world.admin, version=issue.version)
    assert "route" in services.allowed_actions(world.secretary, issue)
    assert issue_todo_counts(world.admin)["route"] == 1


@pytest.mark.django_db
def test_under_the_default_the_secretary_reviews(world, today):
    issue = register(world.ha, world.worker_a)
    event = IssueEvent.objects.get(issue=issue, kind=EventKind.REGISTERED)
    assert set(Notification.objects.filter(event=event).values_list("user__username", flat=True)) == {"sec1"}
    assert issue_todo_counts(world.secretary)["review"] == 1
    assert {"accept", "return"} <= set(services.allowed_actions(world.secretary, issue))
    issue = services.issue_accept(issue=issue, by=world.secretary, version=issue.version)
    assert issue.status == Status.ACCEPTED


@pytest.mark.django_db
def test_the_secretarys_review_list_agrees_with_what_he_may_accept_across_campaigns(world, today):
    # 2025: the default (the secretary reviews) during its stages; 2026's 002 (the street reviews) elsewhere.
    campaign_from(world, "", year=2025, name="2025年走访", stages=[(StageKind.VISIT, D(2025, 3, 1), D(2025, 6, 30))])
    campaign_from(world, "002")
    days = [D(2025, 2, 27), D(2025, 3, 1), D(2025, 6, 30), D(2025, 7, 1), D(2026, 3, 2)]
    issues = [make_issue(world.ha, registered_on=day) for day in days]
    may = {i.pk for i in issues if "accept" in services.allowed_actions(world.secretary, i)}
    assert may == {issues[1].pk, issues[2].pk}
    assert issue_todo_counts(world.secretary)["review"] == 2
    # The street admin reviews every one of them.
    assert issue_todo_counts(world.admin)["review"] == len(days)


@pytest.mark.django_db
def test_a_resubmission_under_002_goes_to_the_street(world, today):
    campaign_from(world, "002")
    issue = register(world.ha, world.worker_a)
    issue = services.issue_return(issue=issue, by=world.admin, version=issue.version, reason="请写明楼栋")
    issue = services.issue_resubmit(issue=issue, by=world.worker_a, version=issue.version, text="1号楼楼道灯不亮")
    event = IssueEvent.objects.get(issue=issue, kind=EventKind.RESUBMITTED)
    assert set(Notification.objects.filter(event=event).values_list("user__username", flat=True)) == {"admin"}
    issue = advance(issue, to=Status.ROUTED, admin=world.admin, department=world.dept)
    assert issue.status == Status.ROUTED
