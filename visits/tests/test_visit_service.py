"""visits.services.visit_record: one visit, its issues in the ledger, saved once per key."""

import datetime
import uuid

import pytest
from django.core.exceptions import ValidationError

from issues.models import Closure, EventKind, Issue, IssueEvent, Status
from tests.support.visits import VISIT_DAY, visit_kwargs
from visits import services
from visits.models import Visit

ROUTED = {"text": "1号楼楼道灯坏了两周，老人夜里看不见", "category": "living", "severity": "general"}
ON_THE_SPOT = {"text": "咨询高龄津贴怎么申请", "category": "elderly", "severity": "general",
               "answer_on_the_spot": "已讲解申领条件，材料送社区即可"}  # fmt: skip


def record(w, user=None, household=None, **kw):
    return services.visit_record(
        household=household or w.ha, by=user or w.worker_a, campaign=w.campaign, **visit_kwargs(**kw)
    )


@pytest.mark.django_db
def test_it_records_a_visit_with_what_was_asked_and_its_length(vw):
    recorded = record(vw)
    visit = recorded.visit
    assert recorded.created
    assert visit.cadre == vw.worker_a.cadre and visit.created_by == vw.worker_a
    assert visit.duration_minutes == 40
    # Empty answers are dropped, unknown checklist codes too.
    assert visit.answers == {"living": {"answer": "楼道灯坏了两周", "needs_help": True}}
    assert visit.needs_help_questions == ["living"]
    assert visit.checklist == ["know_family", "done_care"]
    assert visit.card_given and visit.satisfaction == "satisfied"


@pytest.mark.django_db
def test_it_files_the_raised_issues_in_the_ledger_with_working_day_deadlines(vw):
    recorded = record(vw, issues=[ON_THE_SPOT, ROUTED])
    spot, routed = sorted(recorded.issues, key=lambda i: i.pk)
    for issue in (spot, routed):
        assert issue.raised_on.visit_id == recorded.visit.pk
        assert issue.registered_on == VISIT_DAY
        assert issue.raised_by == vw.worker_a and issue.raised_by_cadre == vw.worker_a.cadre
    # Answered on the spot: closed at once, with the answer.
    spot.refresh_from_db()
    assert spot.status == Status.CLOSED and spot.closure == Closure.ON_THE_SPOT
    assert spot.answer == ON_THE_SPOT["answer_on_the_spot"] and spot.closed_on == VISIT_DAY
    # Routed: waits for review, deadlines counted by hand from Mon 2026-09-28 in China's working days:
    # plan (5): 9-29, 9-30, [10-1…10-7 国庆], 10-8, 10-9, Sat 10-10 (调休上班) → 2026-10-10;
    # close (15): … 10-12, 13, 14, 15, 16, 19, 20, 21, 22, 23 → 2026-10-23.
    assert routed.status == Status.REGISTERED
    assert routed.plan_due_on == datetime.date(2026, 10, 10)
    assert routed.due_on == datetime.date(2026, 10, 23)
    assert not routed.plan_due_provisional and not routed.due_provisional
    kinds = list(IssueEvent.objects.filter(issue=spot).values_list("kind", flat=True).order_by("id"))
    assert kinds == [EventKind.REGISTERED, EventKind.ON_THE_SPOT]


@pytest.mark.django_db
def test_it_saves_once_when_the_same_form_is_submitted_twice(vw):
    key = uuid.uuid4()
    first = record(vw, key=key, issues=[ROUTED])
    again = record(vw, key=key, issues=[ROUTED])
    assert first.created and not again.created
    assert again.visit.pk == first.visit.pk
    assert [i.pk for i in again.issues] == [i.pk for i in first.issues]
    assert Visit.objects.count() == 1 and Issue.objects.count() == 1


@pytest.mark.django_db
def test_it_refuses_another_users_key(vw):
    key = uuid.uuid4()
    record(vw, key=key)
    with pytest.raises(services.VisitNotAllowed, match="表单已过期"):
        record(vw, user=vw.worker_b, household=vw.hb, key=key)
    with pytest.raises(services.VisitNotAllowed, match="表单已过期"):
        record(vw, key="not-a-uuid")
    assert Visit.objects.count() == 1


@pytest.mark.django_db
def test_it_writes_nothing_when_one_issue_is_refused(vw):
    bad = {"text": "  ", "category": "living", "severity": "general"}
    with pytest.raises(ValidationError) as caught:
        record(vw, issues=[ROUTED, bad])
    assert caught.value.message_dict == {"issues": ["第2条诉求：请填写诉求内容"]}
    assert Visit.objects.count() == 0 and Issue.objects.count() == 0


@pytest.mark.django_db
def test_it_refuses_a_household_that_is_not_mine(vw):
    with pytest.raises(services.VisitNotAllowed, match="没有找到该户"):
        record(vw, household=vw.hb)  # another grid: not even visible
    with pytest.raises(services.VisitNotAllowed, match="不是您的包户"):
        record(vw, user=vw.admin, household=vw.ha)  # the street admin sees it, but visits only his own
    assert Visit.objects.count() == 0


@pytest.mark.django_db
def test_it_refuses_a_user_without_a_cadre(vw):
    from django.contrib.auth.models import User

    boss = User.objects.create_superuser("boss", password="pw-test-123")
    with pytest.raises(services.VisitNotAllowed, match="未登记为干部"):
        record(vw, user=boss)


@pytest.mark.django_db
def test_it_reports_the_rule_errors_by_field(vw):
    with pytest.raises(ValidationError) as caught:
        record(vw, ended_at=datetime.time(9, 10), satisfaction="very")
    assert set(caught.value.message_dict) == {"short_reason", "satisfaction"}
    assert Visit.objects.count() == 0


@pytest.mark.django_db
def test_it_keeps_a_failed_attempt_without_questionnaire(vw):
    visit = record(vw, method="not_home", notes="敲门无人应答，邻居说白天上班").visit
    assert visit.method == "not_home" and visit.duration_minutes is None and visit.started_at is None
    assert visit.answers == {} and visit.checklist == [] and visit.satisfaction == ""
    assert not Visit.objects.counted().exists()


@pytest.mark.django_db
def test_it_lets_a_leader_raise_an_issue_on_his_visit(vw):
    recorded = record(vw, user=vw.leader, household=vw.hc, issues=[ROUTED])
    assert recorded.issues[0].raised_by == vw.leader
