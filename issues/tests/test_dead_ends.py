"""No dead ends in the ledger: every path of an issue leads somewhere.

- 退回登记人: the registrar finds the returned issue in 我的诉求, completes it and resubmits it;
- 退办 then 交办 again: the old department's plan leaves the issue (it stays on the timeline) and the
  new department gets a fresh plan deadline;
- reopened by 回头看: new deadlines from the reopen day, counted as reopened, not as late;
- the reviewer sets the severity at 审核 (with the reason), and the close deadline follows it;
- 回头看 lists only issues that were handled, and says when the stage starts;
- 本周到期 counts what falls due within the next seven days, on any day of the week;
- the 交办 person list offers only the chosen department's people.
"""

import datetime
import re

import pytest
from django.urls import reverse

from households.roles import DEPARTMENT_HANDLER
from issues import deadlines, services, views, workdays
from issues.forms import RouteForm
from issues.models import EventKind, Issue, IssueEvent, Severity, Status, overdue_q
from issues.tests.factories import advance, make_issue, register
from tests.support.world import make_user
from visitplan.models import Department, Tier

D = datetime.date


def on_day(monkeypatch, day):
    """Make ``day`` today for the services and the pages."""
    monkeypatch.setattr(services, "_today", lambda: day)
    monkeypatch.setattr(views.timezone, "localdate", lambda *a, **k: day)


def kinds(issue):
    return list(IssueEvent.objects.filter(issue=issue).order_by("at", "id").values_list("kind", flat=True))


def ids_on(response):
    return {int(n) for n in re.findall(r'class="ii-no">#(\d+)<', response.content.decode())}


def messages_of(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


# ------------------------------------------------------------------------------------------ 退回登记人


@pytest.mark.django_db
def test_a_returned_issue_is_in_the_registrars_list_and_he_resubmits_it(client, world, monkeypatch):
    w = world
    on_day(monkeypatch, D(2026, 3, 2))
    issue = register(w.ha, w.worker_a, text="灯坏了")
    issue = services.issue_return(issue=issue, by=w.admin, version=issue.version, reason="请写明哪栋楼、坏了多久")
    client.force_login(w.worker_a)
    assert issue.pk in ids_on(client.get(reverse("issues:mine")))
    page = client.get(reverse("issues:detail", args=[issue.pk])).content.decode()
    assert reverse("issues:act", args=[issue.pk, "resubmit"]) in page
    assert "请写明哪栋楼、坏了多久" in page  # the reason is where he completes it

    on_day(monkeypatch, D(2026, 3, 9))
    response = client.post(
        reverse("issues:act", args=[issue.pk, "resubmit"]),
        {"version": issue.version, "text": "1号楼2单元楼道灯坏了两周", "note": "已补充楼栋"},
    )
    assert response.status_code == 302
    issue.refresh_from_db()
    assert issue.status == Status.REGISTERED and issue.text == "1号楼2单元楼道灯坏了两周"
    # The deadlines run from the day it came back complete, not from the first, incomplete registration.
    assert issue.plan_due_on == workdays.add_working_days(D(2026, 3, 9), 5).date
    assert kinds(issue) == [EventKind.REGISTERED, EventKind.RETURNED, EventKind.RESUBMITTED]
    # Back in the review queue.
    client.force_login(w.admin)
    assert issue.pk in ids_on(client.get(reverse("issues:review")))


@pytest.mark.django_db
def test_only_the_registrar_resubmits_and_a_stale_page_changes_nothing(world):
    w = world
    issue = register(w.ha, w.worker_a)
    issue = services.issue_return(issue=issue, by=w.admin, version=issue.version, reason="信息不全")
    assert "resubmit" in services.allowed_actions(w.worker_a, issue)
    assert "resubmit" not in services.allowed_actions(w.admin, issue)
    with pytest.raises(services.IssueActionError):
        services.issue_resubmit(issue=issue, by=w.admin, version=issue.version, text="补充")
    with pytest.raises(services.StaleIssueError):
        services.issue_resubmit(issue=issue, by=w.worker_a, version=issue.version - 1, text="补充")
    assert Issue.objects.get(pk=issue.pk).status == Status.RETURNED


# ------------------------------------------------------------------------------------------ 退办 → 交办


@pytest.mark.django_db
def test_re_routing_after_misroute_drops_the_old_plan_and_starts_a_fresh_plan_deadline(client, world, monkeypatch):
    w = world
    dept2 = Department.objects.create(name="区住建局")
    make_user("dept2", DEPARTMENT_HANDLER, scope=w.street, tier=Tier.DEPARTMENT, department=dept2)
    on_day(monkeypatch, D(2026, 3, 2))
    issue = advance(register(w.ha, w.worker_a), to=Status.PLANNED, admin=w.admin, handler=w.handler, department=w.dept)
    on_day(monkeypatch, D(2026, 3, 16))
    issue = services.issue_misroute(issue=issue, by=w.handler, version=issue.version, reason="属住建局职责")
    assert issue.plan_text == "" and issue.plan_posted_on is None
    issue = services.issue_route(issue=issue, by=w.admin, version=issue.version, department=dept2)
    assert issue.plan_due_on == workdays.add_working_days(D(2026, 3, 16), 5).date
    assert issue.plan_due_on == D(2026, 3, 23)
    # Not overdue on the day of the re-route, although the first plan deadline is long past.
    assert not Issue.objects.filter(pk=issue.pk).filter(overdue_q(D(2026, 3, 16))).exists()
    # The old plan stays on the timeline.
    assert IssueEvent.objects.filter(issue=issue, kind=EventKind.PLAN_POSTED, text="联系物业三日内更换灯具").exists()
    client.force_login(w.admin)
    page = client.get(reverse("issues:detail", args=[issue.pk])).content.decode()
    assert "<h2>解决方案</h2>" not in page


# ------------------------------------------------------------------------------------------ reopen


@pytest.mark.django_db
def test_a_reopened_issue_gets_new_deadlines_and_counts_as_reopened_not_late(client, world, monkeypatch):
    w = world
    on_day(monkeypatch, D(2026, 3, 2))
    issue = advance(register(w.ha, w.worker_a), to=Status.CLOSED, admin=w.admin, handler=w.handler, department=w.dept)
    reopen_day = D(2026, 6, 1)
    on_day(monkeypatch, reopen_day)
    issue = services.issue_reopen(issue=issue, by=w.admin, reason="回访：灯又坏了")
    assert issue.status == Status.IN_PROGRESS and issue.reopened_on == reopen_day
    assert issue.due_on == workdays.add_working_days(reopen_day, 15).date
    assert deadlines.working_days_left(issue, on=reopen_day) == 15
    client.force_login(w.admin)
    response = client.get(reverse("issues:ledger"))
    stats = response.context["stats"]
    assert stats["overdue"] == 0 and stats["reopened"] == 1
    assert "超期" not in client.get(reverse("issues:detail", args=[issue.pk])).content.decode()
    # The count links to exactly these rows.
    assert ids_on(client.get(reverse("issues:ledger"), {"due": "reopened"})) == {issue.pk}


@pytest.mark.django_db
def test_a_reopened_issue_that_never_had_a_plan_goes_back_to_the_department_to_post_one(world, monkeypatch):
    w = world
    on_day(monkeypatch, D(2026, 3, 2))
    issue = advance(register(w.ha, w.worker_a), to=Status.ROUTED, admin=w.admin, handler=w.handler, department=w.dept)
    issue = services.issue_explain(issue=issue, by=w.admin, version=issue.version, explanation="政策外，已解释")
    on_day(monkeypatch, D(2026, 6, 1))
    issue = services.issue_reopen(issue=issue, by=w.admin, reason="居民不认可解释")
    assert issue.status == Status.ROUTED and issue.plan_due_on == D(2026, 6, 8)
    assert "post_plan" in services.allowed_actions(w.handler, issue)


# ------------------------------------------------------------------------------------------ severity at 审核


@pytest.mark.django_db
def test_the_reviewer_sets_the_severity_at_review_with_a_reason(client, world, monkeypatch):
    w = world
    on_day(monkeypatch, D(2026, 3, 2))
    issue = register(w.ha, w.worker_a)
    assert issue.severity == Severity.GENERAL
    with pytest.raises(services.IssueActionError, match="理由"):
        services.issue_accept(issue=issue, by=w.admin, version=issue.version, severity=Severity.MAJOR)
    client.force_login(w.admin)
    response = client.post(
        reverse("issues:act", args=[issue.pk, "accept"]),
        {"version": issue.version, "severity": Severity.MAJOR, "severity_reason": "涉及整栋楼30户", "note": ""},
    )
    assert response.status_code == 302, messages_of(response)
    issue.refresh_from_db()
    assert issue.status == Status.ACCEPTED and issue.severity == Severity.MAJOR
    assert issue.due_on == workdays.add_working_days(D(2026, 3, 2), 30).date
    event = IssueEvent.objects.get(issue=issue, kind=EventKind.SEVERITY_CHANGED)
    assert "涉及整栋楼30户" in event.text and event.data["old"] == "general" and event.data["new"] == "major"


# ------------------------------------------------------------------------------------------ 本周到期


@pytest.mark.django_db
@pytest.mark.parametrize("today", [D(2026, 3, 8), D(2026, 3, 9), D(2026, 3, 4)])  # Sunday, Monday, Wednesday
def test_due_this_week_counts_the_next_seven_days_on_any_day(client, world, monkeypatch, today):
    w = world
    on_day(monkeypatch, today)
    due = make_issue(w.ha, status=Status.PLANNED, department=w.dept, registered_on=D(2026, 2, 10))
    Issue.objects.filter(pk=due.pk).update(due_on=D(2026, 3, 10))  # a Tuesday
    later = make_issue(w.hb, status=Status.PLANNED, department=w.dept, registered_on=D(2026, 2, 10))
    Issue.objects.filter(pk=later.pk).update(due_on=today + datetime.timedelta(days=7))
    client.force_login(w.admin)
    assert client.get(reverse("issues:ledger")).context["stats"]["week"] == 1
    assert ids_on(client.get(reverse("issues:ledger"), {"due": "week"})) == {due.pk}


# ------------------------------------------------------------------------------------------ 交办 person list


@pytest.fixture
def two_departments(world):
    world.dept2 = Department.objects.create(name="区住建局")
    world.handler2 = make_user(
        "dept2", DEPARTMENT_HANDLER, scope=world.street, tier=Tier.DEPARTMENT, department=world.dept2
    )
    return world


@pytest.mark.django_db
def test_the_route_form_offers_only_the_chosen_departments_people(two_departments):
    w = two_departments
    issue = advance(register(w.ha, w.worker_a), to=Status.ACCEPTED, admin=w.admin)
    bound = RouteForm({"version": issue.version, "department": w.dept2.pk}, issue=issue, user=w.admin)
    people = [value for value, _label in bound.fields["assignee"].widget.choices if value]
    assert people == [w.handler2.pk]
    # Unbound: each person carries his department for the page's script, and nobody is offered before a choice.
    html = str(RouteForm(issue=issue, user=w.admin)["assignee"])
    options = re.findall(r'<option value="(\d+)"[^>]*data-department="(\d+)"', html)
    assert sorted(options) == sorted([(str(w.handler.pk), str(w.dept.pk)), (str(w.handler2.pk), str(w.dept2.pk))])


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_route_form_shows_only_the_chosen_departments_people_in_the_browser(
    live_server, two_departments, browser_page
):
    from django.db import connection

    w = two_departments
    issue = advance(register(w.ha, w.worker_a), to=Status.ACCEPTED, admin=w.admin)
    connection.close()
    page = browser_page
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "pw-test-123")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.goto(f"{live_server.url}{reverse('issues:detail', args=[issue.pk])}#act-route")
    form = page.locator('form[data-action="route"]')

    def offered():
        return form.locator('select[name="assignee"] option').evaluate_all(
            "opts => opts.filter(o => !o.hidden && !o.disabled && o.value).map(o => o.value)"
        )

    assert offered() == []
    form.locator('select[name="department"]').select_option(str(w.dept2.pk))
    assert offered() == [str(w.handler2.pk)]
    form.locator('select[name="department"]').select_option(str(w.dept.pk))
    assert offered() == [str(w.handler.pk)]


# ------------------------------------------------------------------------------------------ 回头看


@pytest.mark.django_db
def test_follow_ups_list_only_handled_issues(client, vw, monkeypatch):
    from visits.followups import build_followups
    from visits.models import FollowUp

    w = vw
    unreviewed = register(w.ha, w.worker_a, text="待审核的诉求", registered_on=D(2026, 10, 12))
    routed = make_issue(
        w.ha, raised_by=w.worker_a, status=Status.ROUTED, department=w.dept, registered_on=D(2026, 10, 9)
    )
    resolved = make_issue(
        w.ha, raised_by=w.worker_a, status=Status.RESOLVED, department=w.dept, registered_on=D(2026, 10, 9)
    )
    closed = register(w.ha, w.worker_a, registered_on=D(2026, 10, 12), answer_on_the_spot="已现场答复")
    build_followups(day=D(2026, 12, 16))
    assert set(FollowUp.objects.values_list("issue_id", flat=True)) == {resolved.pk, closed.pk}
    # A row listed before this rule (an unreviewed issue) is not shown on the page either.
    FollowUp.objects.create(
        campaign=w.campaign, household=w.ha, issue=unreviewed, cadre=w.worker_a.cadre,
        listed_on=D(2026, 12, 16), due_on=D(2026, 12, 25),
    )  # fmt: skip
    monkeypatch.setattr("visits.views.timezone.localdate", lambda *a, **k: D(2026, 12, 17))
    client.force_login(w.worker_a)
    page = client.get(reverse("visits:followups")).content.decode()
    assert f"#{resolved.pk} " in page and f"#{closed.pk} " in page
    assert f"#{unreviewed.pk} " not in page and f"#{routed.pk} " not in page


@pytest.mark.django_db
def test_the_follow_up_page_says_when_the_stage_starts(client, vw, monkeypatch):
    monkeypatch.setattr("visits.views.timezone.localdate", lambda *a, **k: D(2026, 11, 20))
    client.force_login(vw.worker_a)
    page = client.get(reverse("visits:followups")).content.decode()
    assert "整改回头看阶段2026年12月16日开始" in page
