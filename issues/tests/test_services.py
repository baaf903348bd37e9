"""The workflow services: every transition, every role rule, the optimistic lock."""

import re
from datetime import date

import pytest
from django.contrib.auth.models import User

from core.versioning import STALE_EDIT_MESSAGE
from households.models import Node, NodeKind
from households.roles import DEPARTMENT_HANDLER
from issues import services, workdays
from issues.models import (
    Category,
    Closure,
    EventKind,
    ExtensionRequest,
    Issue,
    IssueEvent,
    Level,
    Severity,
    Status,
)
from issues.services import IssueActionError, StaleIssueError
from issues.tests.factories import DEFAULT_DAY, advance, make_issue, register
from tests.support.world import make_household, make_user
from visitplan.models import Department, Tier

CHINESE = re.compile(r"[\u4e00-\u9fff]")
ALL_STATUSES = list(Status)


@pytest.fixture
def w(world):
    """The shared world plus a second department with its own handler."""
    world.dept2 = Department.objects.create(name="区住建局")
    world.handler2 = make_user(
        "dept2", DEPARTMENT_HANDLER, scope=world.street, tier=Tier.DEPARTMENT, department=world.dept2
    )
    return world


def _state(issue):
    issue = Issue.objects.get(pk=issue.pk)
    return (
        {f.attname: getattr(issue, f.attname) for f in Issue._meta.concrete_fields if f.name != "updated_at"},
        IssueEvent.objects.filter(issue=issue).count(),
    )


def _last_event(issue):
    return IssueEvent.objects.filter(issue=issue).order_by("-at", "-id").first()


# ------------------------------------------------------------------------------------ register


@pytest.mark.django_db
def test_it_registers_with_household_scope_deadlines_and_an_event(w):
    issue = register(w.ha, w.worker_a, hotline_ticket=" 12345-0001 ", severity=Severity.MAJOR)
    assert issue.status == Status.REGISTERED
    assert issue.community_id == w.c1.pk and issue.path == w.ha.path
    assert issue.raised_by == w.worker_a and issue.raised_by_cadre == w.worker_a.cadre
    assert issue.hotline_ticket == "12345-0001"
    assert issue.registered_on == DEFAULT_DAY
    assert issue.plan_due_on == workdays.add_working_days(DEFAULT_DAY, 5).date
    assert issue.due_on == workdays.add_working_days(DEFAULT_DAY, 30).date
    assert issue.version == 1
    event = IssueEvent.objects.get(issue=issue)
    assert (event.kind, event.actor, event.from_status, event.to_status) == (
        EventKind.REGISTERED,
        w.worker_a,
        "",
        Status.REGISTERED,
    )


@pytest.mark.django_db
def test_it_registers_on_today_by_default(w):
    from django.utils import timezone

    issue = services.issue_register(household=w.ha, raised_by=w.worker_a, text="路灯坏了", category=Category.URBAN)
    assert issue.registered_on == timezone.localdate()


@pytest.mark.django_db
def test_it_closes_an_issue_answered_on_the_spot_at_once(w):
    issue = register(w.ha, w.worker_a, answer_on_the_spot="已现场讲解低保申请流程")
    assert issue.status == Status.CLOSED
    assert issue.closure == Closure.ON_THE_SPOT
    assert issue.answer == "已现场讲解低保申请流程"
    assert issue.answered_on == issue.closed_on == DEFAULT_DAY
    kinds = list(IssueEvent.objects.filter(issue=issue).order_by("id").values_list("kind", "from_status", "to_status"))
    assert kinds == [
        (EventKind.REGISTERED, "", Status.REGISTERED),
        (EventKind.ON_THE_SPOT, Status.REGISTERED, Status.CLOSED),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "who, household, kwargs",
    [
        ("handler", "ha", {}),
        ("worker_a", "hb", {}),  # another grid's household
        ("secretary", "hc", {}),  # another community's household
        ("worker_a", "ha", {"text": "   "}),
        ("worker_a", "ha", {"category": "nonsense"}),
        ("worker_a", "ha", {"severity": "huge"}),
    ],
)
def test_it_refuses_a_registration_nobody_may_make(w, who, household, kwargs):
    with pytest.raises(IssueActionError) as exc:
        register(getattr(w, household), getattr(w, who), **kwargs)
    assert CHINESE.search(str(exc.value))
    assert not Issue.objects.exists() and not IssueEvent.objects.exists()


@pytest.mark.django_db
def test_it_lets_a_leader_file_what_he_hears_on_a_visit_but_nothing_more(w):
    # Leaders visit focus households (visits/rules.py) and file the requests; the workflow stays read-only.
    issue = register(w.ha, w.leader)
    assert issue.raised_by == w.leader and issue.status == Status.REGISTERED
    assert services.allowed_actions(w.leader, issue) == []


# ------------------------------------------------------------------------------------ transitions

# action -> (who acts, how to call it on (issue, by, w)). Department steps act on issues of w.dept.
CALLS = {
    "accept": ("admin", lambda i, by, w: services.issue_accept(issue=i, by=by, version=i.version)),
    "return": ("admin", lambda i, by, w: services.issue_return(issue=i, by=by, version=i.version, reason="不属于诉求")),
    "resubmit": (
        "worker_a",
        lambda i, by, w: services.issue_resubmit(issue=i, by=by, version=i.version, text="已补充楼栋和时间"),
    ),
    "merge": (
        "admin",
        lambda i, by, w: services.issue_merge(issue=i, into=make_issue(w.hb), by=by, version=i.version),
    ),
    "route": (
        "admin",
        lambda i, by, w: services.issue_route(issue=i, by=by, version=i.version, department=w.dept, assignee=w.handler),
    ),
    "misroute": (
        "handler",
        lambda i, by, w: services.issue_misroute(issue=i, by=by, version=i.version, reason="非本单位职责"),
    ),
    "post_plan": (
        "handler",
        lambda i, by, w: services.issue_post_plan(issue=i, by=by, version=i.version, plan="三日内维修"),
    ),
    "add_progress": (
        "handler",
        lambda i, by, w: services.issue_add_progress(issue=i, by=by, version=i.version, text="已派人"),
    ),
    "resolve": ("handler", lambda i, by, w: services.issue_resolve(issue=i, by=by, version=i.version, answer="已修好")),
    "close": ("admin", lambda i, by, w: services.issue_close(issue=i, by=by, version=i.version)),
    "explain": (
        "admin",
        lambda i, by, w: services.issue_explain(issue=i, by=by, version=i.version, explanation="不属政策范围"),
    ),
    "request_extension": (
        "handler",
        lambda i, by, w: services.issue_request_extension(issue=i, by=by, days=5, reason="材料未到"),
    ),
    "decide_extension": (
        "admin",
        lambda i, by, w: services.issue_decide_extension(
            request=ExtensionRequest.objects.create(issue=i, requested_by=w.handler, days=5, reason="材料未到"),
            by=by,
            approve=True,
        ),
    ),
    "escalate": (
        "admin",
        lambda i, by, w: services.issue_escalate(issue=i, by=by, version=i.version, level=Level.STREET, person=w.admin),
    ),
    "reopen": ("admin", lambda i, by, w: services.issue_reopen(issue=i, by=by, reason="回头看居民不满意")),
}

# The event each step writes.
KINDS = {
    "accept": EventKind.ACCEPTED,
    "return": EventKind.RETURNED,
    "resubmit": EventKind.RESUBMITTED,
    "merge": EventKind.MERGED,
    "route": EventKind.ROUTED,
    "misroute": EventKind.MISROUTED,
    "post_plan": EventKind.PLAN_POSTED,
    "add_progress": EventKind.PROGRESS,
    "resolve": EventKind.RESOLVED,
    "close": EventKind.CLOSED,
    "explain": EventKind.EXPLAINED,
    "request_extension": EventKind.EXTENSION_REQUESTED,
    "decide_extension": EventKind.EXTENSION_APPROVED,
    "escalate": EventKind.ESCALATED,
    "reopen": EventKind.REOPENED,
}


def test_it_has_one_call_per_action_in_the_transition_table():
    assert set(CALLS) == set(services.TRANSITIONS) == set(services.ACTION_ROLES) - {"register"}


LEGAL = [(a, s) for a, (froms, _to) in services.TRANSITIONS.items() for s in sorted(froms)]
ILLEGAL = [(a, s) for a, (froms, _to) in services.TRANSITIONS.items() for s in ALL_STATUSES if s not in froms]


def _issue_in(w, status):
    # Routed-or-later issues belong to w.dept; others too, so the department steps pass the role
    # rule and only the status rule decides.
    return make_issue(w.ha, raised_by=w.worker_a, status=status, department=w.dept, assignee=w.handler)


@pytest.mark.django_db
@pytest.mark.parametrize("action, status", LEGAL)
def test_it_takes_every_legal_step_and_writes_the_event(w, action, status):
    issue = _issue_in(w, status)
    who, call = CALLS[action]
    by = getattr(w, who)
    result = call(issue, by, w)
    fresh = Issue.objects.get(pk=issue.pk)
    target = services.TRANSITIONS[action][1]
    if action == "request_extension":
        assert isinstance(result, ExtensionRequest) and result.decision == ExtensionRequest.Decision.PENDING
        assert fresh.version == issue.version  # documented: no issue field changes
    else:
        assert result.pk == issue.pk and result.version == fresh.version == issue.version + 1
    assert fresh.status == (target or status)
    event = _last_event(issue)
    assert event.kind == KINDS[action] and event.actor == by
    if action != "request_extension":
        assert (event.from_status, event.to_status) == (status, target or status)


@pytest.mark.django_db
@pytest.mark.parametrize("action, status", ILLEGAL)
def test_it_refuses_every_illegal_step_and_changes_nothing(w, action, status):
    issue = _issue_in(w, status)
    who, call = CALLS[action]
    before = _state(issue)
    with pytest.raises(IssueActionError) as exc:
        call(issue, getattr(w, who), w)
    assert CHINESE.search(str(exc.value)), str(exc.value)
    assert not isinstance(exc.value, StaleIssueError)
    assert _state(issue) == before
    if action == "request_extension":
        assert not ExtensionRequest.objects.exists()


@pytest.mark.django_db
def test_it_walks_the_whole_path_to_closed(w):
    issue = register(w.ha, w.worker_a)
    issue = advance(issue, to=Status.CLOSED, admin=w.admin, handler=w.handler, department=w.dept)
    assert issue.status == Status.CLOSED and issue.closure == Closure.SOLVED and issue.closed_on
    assert issue.version == 7
    steps = list(services.issue_timeline(issue).values_list("from_status", "to_status"))
    assert steps == [
        ("", Status.REGISTERED),
        (Status.REGISTERED, Status.ACCEPTED),
        (Status.ACCEPTED, Status.ROUTED),
        (Status.ROUTED, Status.PLANNED),
        (Status.PLANNED, Status.IN_PROGRESS),
        (Status.IN_PROGRESS, Status.RESOLVED),
        (Status.RESOLVED, Status.CLOSED),
    ]


# ------------------------------------------------------------------------------------ role rules


@pytest.mark.django_db
@pytest.mark.parametrize("action", list(CALLS))
def test_it_lets_a_leader_do_nothing(w, action):
    froms = sorted(services.TRANSITIONS[action][0])
    issue = _issue_in(w, froms[0])
    before = _state(issue)
    with pytest.raises(IssueActionError) as exc:
        CALLS[action][1](issue, w.leader, w)
    assert CHINESE.search(str(exc.value))
    assert _state(issue) == before
    assert services.allowed_actions(w.leader, issue) == []


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["misroute", "post_plan", "add_progress", "resolve", "request_extension"])
def test_it_hides_an_issue_from_the_handler_of_another_department(w, action):
    issue = _issue_in(w, sorted(services.TRANSITIONS[action][0])[0])
    before = _state(issue)
    with pytest.raises(IssueActionError, match="没有找到该诉求"):
        CALLS[action][1](issue, w.handler2, w)
    assert _state(issue) == before
    assert services.allowed_actions(w.handler2, issue) == []


@pytest.mark.django_db
def test_it_refuses_department_steps_to_an_assignee_of_another_department(w):
    # Visible to handler2 because he is the named person, but the issue is w.dept's.
    issue = make_issue(w.ha, status=Status.ROUTED, department=w.dept, assignee=w.handler2)
    with pytest.raises(IssueActionError, match="未交办到您的部门"):
        services.issue_post_plan(issue=issue, by=w.handler2, version=issue.version, plan="x")


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["accept", "return", "route", "merge", "close", "explain", "escalate"])
def test_it_refuses_street_steps_to_a_department_handler(w, action):
    issue = _issue_in(w, sorted(services.TRANSITIONS[action][0])[0])
    with pytest.raises(IssueActionError, match="没有权限"):
        CALLS[action][1](issue, w.handler, w)


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["post_plan", "resolve", "accept", "close"])
def test_it_lets_a_grid_worker_only_register(w, action):
    issue = _issue_in(w, sorted(services.TRANSITIONS[action][0])[0])
    with pytest.raises(IssueActionError, match="没有权限"):
        CALLS[action][1](issue, w.worker_a, w)


@pytest.mark.django_db
def test_it_limits_a_secretary_to_his_community(w):
    mine = make_issue(w.ha)
    theirs = make_issue(w.hc)
    assert services.issue_accept(issue=mine, by=w.secretary, version=mine.version).status == Status.ACCEPTED
    with pytest.raises(IssueActionError, match="没有找到该诉求"):
        services.issue_accept(issue=theirs, by=w.secretary, version=theirs.version)
    assert Issue.objects.get(pk=theirs.pk).status == Status.REGISTERED
    # ... and to the review steps: no close, no merge.
    resolved = make_issue(w.hb, status=Status.RESOLVED, department=w.dept)
    with pytest.raises(IssueActionError, match="没有权限"):
        services.issue_close(issue=resolved, by=w.secretary, version=resolved.version)


@pytest.mark.django_db
def test_it_lets_a_secretary_escalate_only_from_community_to_street(w):
    issue = make_issue(w.ha, status=Status.ACCEPTED)
    with pytest.raises(IssueActionError, match="社区书记"):
        services.issue_escalate(issue=issue, by=w.secretary, version=issue.version, level=Level.JOINT, person=w.admin)
    issue = services.issue_escalate(
        issue=issue, by=w.secretary, version=issue.version, level=Level.STREET, person=w.admin
    )
    assert issue.level == Level.STREET
    assert "escalate" not in services.allowed_actions(w.secretary, issue)
    assert "escalate" in services.allowed_actions(w.admin, issue)


@pytest.mark.django_db
def test_it_lets_a_superuser_do_everything(w):
    boss = User.objects.create_superuser("boss", password="pw-test-123")
    issue = make_issue(w.ha, status=Status.ROUTED, department=w.dept)
    assert services.issue_post_plan(issue=issue, by=boss, version=issue.version, plan="方案").status == Status.PLANNED


@pytest.mark.django_db
def test_it_refuses_an_inactive_user(w):
    issue = make_issue(w.ha)
    w.admin.is_active = False
    w.admin.save()
    with pytest.raises(IssueActionError):
        services.issue_accept(issue=issue, by=w.admin, version=issue.version)


# ------------------------------------------------------------------------------------ step rules


@pytest.mark.django_db
def test_it_refuses_to_close_without_an_answer(w):
    issue = make_issue(w.ha, status=Status.RESOLVED, department=w.dept, answer="")
    before = _state(issue)
    with pytest.raises(IssueActionError, match="答复"):
        services.issue_close(issue=issue, by=w.admin, version=issue.version)
    assert _state(issue) == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "call",
    [
        lambda i, w: services.issue_return(issue=i, by=w.admin, version=i.version, reason=" "),
        lambda i, w: services.issue_explain(issue=i, by=w.admin, version=i.version, explanation=""),
        lambda i, w: services.issue_reopen(issue=i, by=w.admin, reason=""),
    ],
)
def test_it_requires_the_text_of_a_step(w, call):
    issue = make_issue(w.ha)
    before = _state(issue)
    with pytest.raises(IssueActionError):
        call(issue, w)
    assert _state(issue) == before


@pytest.mark.django_db
def test_it_closes_an_explained_issue_with_the_explanation_as_answer(w):
    issue = make_issue(w.ha, status=Status.ROUTED, department=w.dept)
    issue = services.issue_explain(
        issue=issue, by=w.admin, version=issue.version, explanation="属于民事纠纷，已告知诉讼途径"
    )
    assert issue.status == Status.CLOSED and issue.closure == Closure.EXPLAINED
    assert issue.answer == "属于民事纠纷，已告知诉讼途径" and issue.closed_on and issue.answered_on


@pytest.mark.django_db
def test_it_returns_a_misrouted_issue_to_accepted_and_clears_the_department(w):
    issue = make_issue(w.ha, status=Status.PLANNED, department=w.dept, assignee=w.handler)
    pending = services.issue_request_extension(issue=issue, by=w.handler, days=3, reason="等待")
    issue = services.issue_misroute(issue=issue, by=w.handler, version=issue.version, reason="应由住建局办理")
    assert issue.status == Status.ACCEPTED and issue.department is None and issue.assignee is None
    event = _last_event(issue)
    assert event.kind == EventKind.MISROUTED and event.text == "应由住建局办理"
    assert event.data["department"] == w.dept.pk
    pending.refresh_from_db()
    assert pending.decision == ExtensionRequest.Decision.REJECTED
    # the department no longer sees it; the street routes it again
    assert services.allowed_actions(w.handler, issue) == []
    issue = services.issue_route(issue=issue, by=w.admin, version=issue.version, department=w.dept2)
    assert issue.department == w.dept2


@pytest.mark.django_db
def test_it_refuses_an_assignee_outside_the_department(w):
    issue = make_issue(w.ha, status=Status.ACCEPTED)
    with pytest.raises(IssueActionError, match="责任人不属于"):
        services.issue_route(issue=issue, by=w.admin, version=issue.version, department=w.dept, assignee=w.handler2)
    with pytest.raises(IssueActionError, match="责任单位"):
        services.issue_route(issue=issue, by=w.admin, version=issue.version, department=None)


@pytest.mark.django_db
def test_it_recomputes_due_on_by_working_days_when_an_extension_is_approved(w):
    issue = register(w.ha, w.worker_a, registered_on=date(2026, 9, 21))  # reaches over 国庆
    issue = advance(issue, to=Status.ROUTED, admin=w.admin, handler=w.handler, department=w.dept)
    assert issue.due_on == workdays.add_working_days(date(2026, 9, 21), 15).date
    request = services.issue_request_extension(issue=issue, by=w.handler, days=10, reason="需协调产权单位")
    issue = services.issue_decide_extension(request=request, by=w.admin, approve=True, note="同意")
    assert issue.extension_days == 10
    assert issue.due_on == workdays.add_working_days(date(2026, 9, 21), 25).date
    assert issue.plan_due_on == workdays.add_working_days(date(2026, 9, 21), 5).date
    assert issue.version == 4
    request.refresh_from_db()
    assert request.decision == ExtensionRequest.Decision.APPROVED and request.decided_by == w.admin
    event = _last_event(issue)
    assert event.kind == EventKind.EXTENSION_APPROVED and event.data["due_on"] == issue.due_on.isoformat()
    # A second request is allowed once the first is decided, and adds up.
    second = services.issue_request_extension(issue=issue, by=w.handler, days=5, reason="仍需时间")
    issue = services.issue_decide_extension(request=second, by=w.admin, approve=True)
    assert issue.due_on == workdays.add_working_days(date(2026, 9, 21), 30).date


@pytest.mark.django_db
def test_it_keeps_the_deadline_when_an_extension_is_rejected(w):
    issue = make_issue(w.ha, status=Status.IN_PROGRESS, department=w.dept)
    request = services.issue_request_extension(issue=issue, by=w.handler, days=10, reason="x")
    result = services.issue_decide_extension(request=request, by=w.admin, approve=False, note="理由不充分")
    assert result.due_on == issue.due_on and result.extension_days == 0
    assert _last_event(issue).kind == EventKind.EXTENSION_REJECTED
    with pytest.raises(StaleIssueError):  # already decided
        services.issue_decide_extension(request=request, by=w.admin, approve=True)


@pytest.mark.django_db
def test_it_allows_one_pending_extension_at_a_time(w):
    issue = make_issue(w.ha, status=Status.IN_PROGRESS, department=w.dept)
    services.issue_request_extension(issue=issue, by=w.handler, days=5, reason="一")
    with pytest.raises(IssueActionError, match="待审批"):
        services.issue_request_extension(issue=issue, by=w.handler, days=5, reason="二")
    assert ExtensionRequest.objects.filter(issue=issue).count() == 1
    assert IssueEvent.objects.filter(issue=issue, kind=EventKind.EXTENSION_REQUESTED).count() == 1
    assert "request_extension" not in services.allowed_actions(w.handler, issue)
    assert "decide_extension" in services.allowed_actions(w.admin, issue)


@pytest.mark.django_db
@pytest.mark.parametrize("days", [0, -1, 61, "abc"])
def test_it_refuses_an_extension_of_a_strange_length(w, days):
    issue = make_issue(w.ha, status=Status.IN_PROGRESS, department=w.dept)
    with pytest.raises(IssueActionError):
        services.issue_request_extension(issue=issue, by=w.handler, days=days, reason="x")
    assert not ExtensionRequest.objects.exists()


@pytest.mark.django_db
def test_it_lets_only_the_street_decide_an_extension(w):
    issue = make_issue(w.ha, status=Status.IN_PROGRESS, department=w.dept)
    request = services.issue_request_extension(issue=issue, by=w.handler, days=5, reason="x")
    for who in (w.handler, w.secretary, w.leader):
        with pytest.raises(IssueActionError):
            services.issue_decide_extension(request=request, by=who, approve=True)
    request.refresh_from_db()
    assert request.decision == ExtensionRequest.Decision.PENDING


@pytest.mark.django_db
def test_it_escalates_upward_only_and_with_a_person(w):
    issue = make_issue(w.ha, status=Status.ROUTED, department=w.dept)
    with pytest.raises(IssueActionError, match="分包责任人"):
        services.issue_escalate(issue=issue, by=w.admin, version=issue.version, level=Level.STREET, person=None)
    with pytest.raises(IssueActionError, match="向上"):
        services.issue_escalate(issue=issue, by=w.admin, version=issue.version, level=Level.COMMUNITY, person=w.admin)
    issue = services.issue_escalate(issue=issue, by=w.admin, version=issue.version, level=Level.JOINT, person=w.leader)
    assert (issue.level, issue.level_person) == (Level.JOINT, w.leader)
    assert issue.status == Status.ROUTED
    with pytest.raises(IssueActionError, match="向上"):
        services.issue_escalate(issue=issue, by=w.admin, version=issue.version, level=Level.STREET, person=w.admin)
    assert "escalate" not in services.allowed_actions(w.admin, issue)
    event = _last_event(issue)
    assert event.data["old_level"] == Level.COMMUNITY and event.data["person"] == w.leader.pk


@pytest.mark.django_db
def test_it_reopens_a_closed_issue_with_new_deadlines_from_today(w, monkeypatch):
    issue = make_issue(w.ha, status=Status.CLOSED, department=w.dept, extension_days=5)
    due = issue.due_on
    today = date(2026, 6, 1)
    monkeypatch.setattr(services, "_today", lambda: today)
    issue = services.issue_reopen(issue=issue, by=w.secretary, reason="回头看：路灯仍不亮")
    assert issue.status == Status.IN_PROGRESS
    assert issue.closure == "" and issue.closed_on is None and issue.answer == "" and issue.answered_on is None
    # The full time again from the reopening; the old round's extensions go with it.
    assert issue.reopened_on == today and issue.extension_days == 0
    assert issue.due_on == workdays.add_working_days(today, 15).date
    event = _last_event(issue)
    assert event.kind == EventKind.REOPENED and event.text == "回头看：路灯仍不亮"
    assert event.data["old_closure"] == Closure.SOLVED and event.data["old_due_on"] == due.isoformat()
    # It must be answered again before it can be closed.
    with pytest.raises(IssueActionError):
        services.issue_close(issue=issue, by=w.admin, version=issue.version)


@pytest.mark.django_db
def test_it_reopens_an_issue_without_department_to_accepted(w):
    issue = register(w.ha, w.worker_a, answer_on_the_spot="已答复")
    issue = services.issue_reopen(issue=issue, by=w.admin, reason="居民不满意")
    assert issue.status == Status.ACCEPTED and issue.closure == ""
    assert "route" in services.allowed_actions(w.admin, issue)


@pytest.mark.django_db
def test_it_merges_a_duplicate_with_an_event_on_both(w):
    into = make_issue(w.hb, status=Status.ROUTED, department=w.dept)
    dup = make_issue(w.ha)
    into_version = into.version
    dup = services.issue_merge(issue=dup, into=into, by=w.admin, version=dup.version, note="同一路灯")
    assert dup.status == Status.MERGED and dup.merged_into == into
    dup_event, into_event = _last_event(dup), _last_event(into)
    assert dup_event.kind == into_event.kind == EventKind.MERGED
    assert dup_event.data == {"into": into.pk} and into_event.data == {"duplicate": dup.pk}
    assert (dup_event.from_status, dup_event.to_status) == (Status.REGISTERED, Status.MERGED)
    assert into_event.actor == w.admin
    assert Issue.objects.get(pk=into.pk).version == into_version


@pytest.mark.django_db
def test_it_refuses_to_merge_into_itself_a_closed_issue_or_another_street(w):
    dup = make_issue(w.ha)
    closed = make_issue(w.hb, status=Status.CLOSED, department=w.dept)
    merged = make_issue(w.hb, status=Status.MERGED)
    before = _state(dup)
    with pytest.raises(IssueActionError, match="自身"):
        services.issue_merge(issue=dup, into=dup, by=w.admin, version=dup.version)
    for target in (closed, merged):
        with pytest.raises(IssueActionError, match="未办结"):
            services.issue_merge(issue=dup, into=target, by=w.admin, version=dup.version)
    street2 = Node.objects.create(kind=NodeKind.STREET, name="辽源街道")
    c3 = Node.objects.create(kind=NodeKind.COMMUNITY, name="辽源社区", parent=street2)
    g3 = Node.objects.create(kind=NodeKind.GRID, name="第1网格", parent=c3)
    far = make_issue(make_household(g3, "909", "赵丁", 9))
    with pytest.raises(IssueActionError, match="没有找到该诉求"):  # the street admin cannot even see it
        services.issue_merge(issue=dup, into=far, by=w.admin, version=dup.version)
    boss = User.objects.create_superuser("boss", password="pw-test-123")
    with pytest.raises(IssueActionError, match="同一街道"):
        services.issue_merge(issue=dup, into=far, by=boss, version=dup.version)
    assert _state(dup) == before
    assert not IssueEvent.objects.filter(issue__in=[closed, merged, far]).exists()


@pytest.mark.django_db
def test_it_records_a_late_plan(w):
    issue = make_issue(w.ha, status=Status.ROUTED, department=w.dept, registered_on=date(2026, 1, 5))
    issue = services.issue_post_plan(issue=issue, by=w.handler, version=issue.version, plan="方案")
    assert issue.plan_posted_on and issue.plan_text == "方案"
    assert _last_event(issue).data["late"] is True


# ------------------------------------------------------------------------------------ optimistic lock


@pytest.mark.django_db
def test_it_refuses_a_stale_version_and_changes_nothing(w):
    issue = make_issue(w.ha)
    seen = issue.version
    services.issue_accept(issue=issue, by=w.admin, version=seen)
    before = _state(issue)
    with pytest.raises(StaleIssueError) as exc:
        services.issue_return(issue=issue, by=w.secretary, version=seen, reason="重复")
    assert str(exc.value) == STALE_EDIT_MESSAGE
    assert _state(issue) == before


@pytest.mark.django_db
def test_it_reports_stale_when_the_row_moves_between_the_checks_and_the_update(w, monkeypatch):
    # The race the conditional UPDATE closes: the checks saw version 1, someone commits version 2.
    issue = make_issue(w.ha)
    real_write = services._write

    def racing_write(current, version, before):
        Issue.objects.filter(pk=current.pk).update(version=version + 1)
        return real_write(current, version, before)

    monkeypatch.setattr(services, "_write", racing_write)
    with pytest.raises(StaleIssueError):
        services.issue_accept(issue=issue, by=w.admin, version=issue.version)
    fresh = Issue.objects.get(pk=issue.pk)
    assert fresh.status == Status.REGISTERED and not IssueEvent.objects.filter(issue=issue).exists()


@pytest.mark.django_db
def test_it_checks_the_version_of_the_instance_when_the_step_takes_none(w):
    issue = make_issue(w.ha, status=Status.CLOSED, department=w.dept)
    seen = Issue.objects.get(pk=issue.pk)
    services.issue_reopen(issue=issue, by=w.admin, reason="回头看不满意")
    with pytest.raises(StaleIssueError):
        services.issue_request_extension(issue=seen, by=w.handler, days=3, reason="x")
    with pytest.raises(StaleIssueError):
        services.issue_reopen(issue=seen, by=w.admin, reason="再次")
    assert not ExtensionRequest.objects.exists()


# ------------------------------------------------------------------------------------ selectors


@pytest.mark.django_db
def test_it_lists_the_allowed_actions_per_user_and_status(w):
    issue = register(w.ha, w.worker_a)
    assert services.allowed_actions(w.admin, issue) == ["accept", "return", "merge", "explain", "escalate"]
    assert services.allowed_actions(w.secretary, issue) == ["accept", "return", "escalate"]
    assert services.allowed_actions(w.worker_a, issue) == []
    assert services.allowed_actions(w.worker_b, issue) == []
    issue = advance(issue, to=Status.ROUTED, admin=w.admin, handler=w.handler, department=w.dept)
    assert services.allowed_actions(w.handler, issue) == ["misroute", "post_plan", "resolve", "request_extension"]
    assert services.allowed_actions(w.handler2, issue) == []
    issue = advance(issue, to=Status.CLOSED, admin=w.admin, handler=w.handler, department=w.dept)
    assert services.allowed_actions(w.admin, issue) == ["reopen"]
    assert services.allowed_actions(w.leader, issue) == []


@pytest.mark.django_db
def test_it_gives_the_timeline_in_order_with_actors(w, django_assert_num_queries):
    issue = register(w.ha, w.worker_a)
    issue = advance(issue, to=Status.ROUTED, admin=w.admin, handler=w.handler, department=w.dept)
    with django_assert_num_queries(1):
        events = list(services.issue_timeline(issue))
        actors = [e.actor.username for e in events]
    assert [e.kind for e in events] == [EventKind.REGISTERED, EventKind.ACCEPTED, EventKind.ROUTED]
    assert actors == ["grid_a", "admin", "admin"]


# ------------------------------------------------------------------------------------ admin


@pytest.mark.django_db
def test_it_shows_the_issue_admin_list_scoped_with_markers(w, client):
    make_issue(w.ha, text="湖田的诉求", registered_on=date(2026, 1, 5))  # long overdue by now
    make_issue(w.hc, text="南纬的诉求")
    client.force_login(w.secretary)
    page = client.get("/admin/issues/issue/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "湖田的诉求" in body and "南纬的诉求" not in body
    client.force_login(w.admin)
    body = client.get("/admin/issues/issue/?overdue=yes").content.decode()
    assert "湖田的诉求" in body


@pytest.mark.django_db
def test_it_marks_a_provisional_deadline_in_the_admin_list(w, client):
    make_issue(w.ha, text="跨年的诉求", registered_on=date(2026, 12, 21))  # reaches into 2027
    client.force_login(w.admin)
    body = client.get("/admin/issues/issue/").content.decode()
    assert "（暂定）" in body


@pytest.mark.django_db
def test_it_runs_the_review_steps_from_admin_actions_through_the_services(w, client):
    a = make_issue(w.ha)
    b = make_issue(w.hb, status=Status.ACCEPTED)
    client.force_login(w.admin)
    client.post("/admin/issues/issue/", {"action": "accept_action", "_selected_action": [a.pk]})
    a.refresh_from_db()
    assert a.status == Status.ACCEPTED and _last_event(a).actor == w.admin
    response = client.post(
        "/admin/issues/issue/",
        {"action": "route_action", "_selected_action": [a.pk, b.pk], "department": w.dept.pk},
        follow=True,
    )
    assert response.status_code == 200
    assert set(Issue.objects.values_list("status", flat=True)) == {Status.ROUTED}
    assert set(Issue.objects.values_list("department", flat=True)) == {w.dept.pk}
    # closing an unresolved issue is refused with the service's message, not a 500
    response = client.post("/admin/issues/issue/", {"action": "close_action", "_selected_action": [a.pk]}, follow=True)
    assert "不能执行" in response.content.decode()
    a.refresh_from_db()
    assert a.status == Status.ROUTED


@pytest.mark.django_db
def test_it_keeps_status_and_deadlines_read_only_in_the_admin(w, client):
    issue = make_issue(w.ha)
    client.force_login(w.admin)
    page = client.get(f"/admin/issues/issue/{issue.pk}/change/")
    assert page.status_code == 200
    assert 'name="status"' not in page.content.decode() and 'name="due_on"' not in page.content.decode()
    assert 'name="_save"' not in page.content.decode()
    # Another step lands after the page was opened; a POST of the page must not undo it.
    services.issue_accept(issue=issue, by=w.admin, version=issue.version)
    client.post(f"/admin/issues/issue/{issue.pk}/change/", {"status": Status.CLOSED, "due_on": "2030-01-01"})
    fresh = Issue.objects.get(pk=issue.pk)
    assert fresh.status == Status.ACCEPTED and fresh.due_on == issue.due_on and fresh.version == 2
    assert client.get("/admin/issues/issue/add/").status_code == 403


@pytest.mark.django_db
def test_it_hides_issues_of_other_communities_in_the_admin(w, client):
    theirs = make_issue(w.hc)
    client.force_login(w.secretary)
    assert client.get(f"/admin/issues/issue/{theirs.pk}/change/").status_code in (302, 404)


@pytest.mark.django_db
def test_it_decides_extensions_from_the_admin(w, client):
    issue = make_issue(w.ha, status=Status.IN_PROGRESS, department=w.dept)
    request = services.issue_request_extension(issue=issue, by=w.handler, days=5, reason="材料未到")
    client.force_login(w.admin)
    assert client.get("/admin/issues/extensionrequest/").status_code == 200
    client.post("/admin/issues/extensionrequest/", {"action": "approve_action", "_selected_action": [request.pk]})
    request.refresh_from_db()
    assert request.decision == ExtensionRequest.Decision.APPROVED
    assert Issue.objects.get(pk=issue.pk).extension_days == 5


@pytest.mark.django_db
def test_it_shows_delivery_failures_to_the_street_admin_read_only(w, client):
    from issues.models import Delivery, Notification

    issue = make_issue(w.ha)
    note = Notification.objects.create(user=w.handler, issue=issue, title="办结即将到期")
    Delivery.objects.create(
        notification=note, channel="email", address="a@example.com", state="failed", error="SMTP 拒绝"
    )
    client.force_login(w.admin)
    page = client.get("/admin/issues/delivery/?state__exact=failed")
    assert page.status_code == 200 and "SMTP 拒绝" in page.content.decode()
    assert client.get("/admin/issues/delivery/add/").status_code == 403
    for path in ("/admin/issues/reminder/", "/admin/issues/notification/", "/admin/issues/issueevent/"):
        assert client.get(path).status_code == 200, path
    client.force_login(w.worker_a)
    assert client.get("/admin/issues/delivery/").status_code in (302, 403)


@pytest.mark.django_db
def test_it_never_deletes_an_issue_in_the_admin(w, client):
    issue = make_issue(w.ha)
    client.force_login(w.admin)
    assert client.get(f"/admin/issues/issue/{issue.pk}/delete/").status_code == 403


def test_it_names_only_known_roles():
    from households.roles import ALL_ROLES

    assert {r for roles in services.ACTION_ROLES.values() for r in roles} <= set(ALL_ROLES)
