"""回头看: the daily list (visits/followups.py, its command and task) and recording a follow-up."""

import datetime
import uuid
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone

from issues.models import EventKind, Issue, IssueEvent, Status
from issues.services import IssueActionError, issue_reopen
from issues.tests.factories import make_issue, register
from visitplan.models import Cadre
from visits import services
from visits.followups import build_followups
from visits.models import FollowUp, FollowUpStatus, Visit
from visits.tasks import build_followups_task

D = datetime.date
IN_STAGE = D(2026, 12, 16)  # first day of 整改回头看 (tests/support/visits.py: STAGES)
AFTER = timezone.make_aware(datetime.datetime(2026, 12, 18, 15, 0))  # "now" when the follow-ups are made


@pytest.fixture
def ledger(vw):
    """Issues raised by worker A (grid A) and B (grid B) in every state that matters."""
    w = vw
    w.closed = register(w.ha, w.worker_a, registered_on=D(2026, 9, 28), answer_on_the_spot="已现场答复")
    w.open = register(w.ha, w.worker_a, text="单元门禁坏了", registered_on=D(2026, 10, 12))
    w.resolved = make_issue(
        w.hb, raised_by=w.worker_b, status=Status.RESOLVED, department=w.dept, registered_on=D(2026, 10, 9)
    )
    w.returned = make_issue(w.ha, raised_by=w.worker_a, status=Status.RETURNED, registered_on=D(2026, 10, 9))
    w.merged = make_issue(w.ha, raised_by=w.worker_a, status=Status.MERGED, registered_on=D(2026, 10, 9))
    w.before = make_issue(
        w.ha, raised_by=w.worker_a, status=Status.CLOSED, registered_on=D(2026, 2, 2)
    )  # before the campaign
    return w


def listed():
    return sorted(FollowUp.objects.values_list("issue_id", "cadre__user__username", "due_on", "status"))


@pytest.mark.django_db
def test_it_lists_nothing_before_the_follow_up_stage(ledger):
    assert build_followups(day=D(2026, 12, 15)).created == 0
    assert not FollowUp.objects.exists()


@pytest.mark.django_db
def test_it_lists_each_issue_for_the_cadre_who_raised_it(ledger):
    w = ledger
    report = build_followups(day=IN_STAGE)
    assert report.created == 2
    # Due at the end of the stage (2026-12-25), at least 5 working days out. Only handled issues:
    # w.open still waits for 审核 (it is listed the day it is answered).
    assert listed() == sorted([
        (w.closed.pk, "grid_a", D(2026, 12, 25), FollowUpStatus.DUE),
        (w.resolved.pk, "grid_b", D(2026, 12, 25), FollowUpStatus.DUE),
    ])  # fmt: skip
    assert {f.household_id for f in FollowUp.objects.all()} == {w.ha.pk, w.hb.pk}


@pytest.mark.django_db
def test_it_is_idempotent_run_twice_the_same_list(ledger):
    build_followups(day=IN_STAGE)
    first = listed()
    again = build_followups(day=IN_STAGE)
    later = build_followups(day=IN_STAGE + datetime.timedelta(days=1))
    assert again.created == 0 and later.created == 0
    assert again.already_listed == 2
    assert listed() == first


@pytest.mark.django_db
def test_it_adds_an_issue_closed_after_the_first_run_only(ledger):
    w = ledger
    build_followups(day=IN_STAGE)
    late = register(w.ha, w.worker_a, text="新诉求", registered_on=D(2026, 12, 17), answer_on_the_spot="已答复")
    report = build_followups(day=D(2026, 12, 24))
    assert report.created == 1
    f = FollowUp.objects.get(issue=late)
    # Listed on the 24th: 5 working days later is 2026-12-31, past the stage's end.
    assert f.listed_on == D(2026, 12, 24) and f.due_on == D(2026, 12, 31)


@pytest.mark.django_db
def test_it_gives_the_follow_up_to_the_households_cadre_when_the_raiser_left(ledger):
    w = ledger
    Cadre.objects.filter(pk=w.worker_a.cadre.pk).update(active=False)
    from visitplan.models import Assignment, Tier

    Assignment.objects.create(campaign=w.campaign, household=w.ha, cadre=w.secretary.cadre, tier=Tier.SECRETARY)
    report = build_followups(day=IN_STAGE)
    owners = dict(FollowUp.objects.values_list("issue_id", "cadre__user__username"))
    assert owners[w.closed.pk] == "sec1" and owners[w.resolved.pk] == "grid_b"
    assert report.without_cadre == []


@pytest.mark.django_db
def test_it_reports_issues_nobody_can_follow_up(ledger):
    w = ledger
    Cadre.objects.filter(pk=w.worker_b.cadre.pk).update(active=False)
    report = build_followups(day=IN_STAGE)
    assert report.without_cadre == [w.resolved.pk]
    assert any("找不到回访干部" in line for line in report.lines())


@pytest.mark.django_db
def test_the_command_and_the_task_run_the_same_job_for_any_day(ledger):
    out = StringIO()
    call_command("build_followups", "--date", "2026-12-16", stdout=out)
    assert "新列入回头看 2 条" in out.getvalue()
    assert build_followups_task("2026-12-16") == {
        "day": "2026-12-16",
        "created": 0,
        "already_listed": 2,
        "without_cadre": 0,
    }
    assert FollowUp.objects.count() == 2


# ------------------------------------------------------------------------------------------ recording


def follow_up(w, results, *, user=None, household=None, key=None, **kw):
    return services.followup_record(
        household=household or w.ha, by=user or w.worker_a, key=key or uuid.uuid4(), method=kw.pop("method", "phone"),
        visited_on=kw.pop("visited_on", D(2026, 12, 17)), results=results, now=kw.pop("now", AFTER), **kw,
    )  # fmt: skip


def result(issue, solved, satisfaction="satisfied", note=""):
    return {
        "followup": FollowUp.objects.get(issue=issue).pk,
        "solved": solved,
        "satisfaction": satisfaction,
        "note": note,
    }


@pytest.mark.django_db
def test_not_solved_reopens_a_closed_issue_through_the_ledger(ledger):
    w = ledger
    build_followups(day=IN_STAGE)
    recorded = follow_up(w, [result(w.closed, False, "unsatisfied", "居民说还是没人管")])
    issue = Issue.objects.get(pk=w.closed.pk)
    # Answered on the spot, no department: back to 待交办 to be routed (issues.services).
    assert issue.status == Status.ACCEPTED and issue.closure == "" and issue.closed_on is None
    assert [i.pk for i in recorded.reopened] == [issue.pk]
    f = FollowUp.objects.get(issue=issue)
    assert (f.status, f.solved, f.satisfaction, f.reopened, f.visit_id) == (
        "done",
        False,
        "unsatisfied",
        True,
        recorded.visit.pk,
    )
    kinds = list(IssueEvent.objects.filter(issue=issue).order_by("id").values_list("kind", flat=True))
    assert kinds[-2:] == [EventKind.FOLLOWED_UP, EventKind.REOPENED]
    assert recorded.visit.purpose == "follow_up" and recorded.visit.method == "phone"
    # The household's other issue still waits for 审核: not on the list.
    assert not FollowUp.objects.filter(issue=w.open).exists()


@pytest.mark.django_db
def test_solved_and_satisfied_settles_it_without_reopening(ledger):
    w = ledger
    build_followups(day=IN_STAGE)
    follow_up(w, [result(w.closed, True, "basic")])
    assert Issue.objects.get(pk=w.closed.pk).status == Status.CLOSED
    f = FollowUp.objects.get(issue=w.closed)
    assert (f.status, f.solved, f.satisfaction, f.reopened) == ("done", True, "basic", False)
    event = IssueEvent.objects.filter(issue=w.closed, kind=EventKind.FOLLOWED_UP).get()
    assert event.text == "回头看（电话回访）：问题已解决，基本满意。" and event.actor == w.worker_a


@pytest.mark.django_db
def test_not_solved_on_an_issue_still_open_only_notes_it(ledger):
    w = ledger
    build_followups(day=IN_STAGE)
    # Listed when answered, back in the department's hands before the call.
    Issue.objects.filter(pk=w.resolved.pk).update(status=Status.IN_PROGRESS)
    recorded = follow_up(w, [result(w.resolved, False, "unsatisfied")], user=w.worker_b, household=w.hb)
    assert recorded.reopened == []
    assert Issue.objects.get(pk=w.resolved.pk).status == Status.IN_PROGRESS
    assert IssueEvent.objects.filter(issue=w.resolved, kind=EventKind.FOLLOWED_UP).count() == 1


@pytest.mark.django_db
def test_a_double_submit_records_the_follow_up_once(ledger):
    w = ledger
    build_followups(day=IN_STAGE)
    key = uuid.uuid4()
    first = follow_up(w, [result(w.closed, False)], key=key)
    second = follow_up(w, [result(w.closed, False)], key=key)
    assert first.created and not second.created and second.visit.pk == first.visit.pk
    assert Visit.objects.filter(purpose="follow_up").count() == 1
    assert IssueEvent.objects.filter(issue=w.closed, kind=EventKind.REOPENED).count() == 1


@pytest.mark.django_db
def test_new_requests_raised_in_a_follow_up_become_issues(ledger):
    w = ledger
    build_followups(day=IN_STAGE)
    recorded = follow_up(
        w, [result(w.closed, True)], issues=[{"text": "楼下垃圾桶满了没人清", "category": "municipal"}]
    )
    assert len(recorded.issues) == 1
    assert recorded.issues[0].raised_on.visit_id == recorded.visit.pk and recorded.issues[0].registered_on == D(
        2026, 12, 17
    )


@pytest.mark.django_db
def test_it_needs_an_answer_and_a_satisfaction(ledger):
    w = ledger
    build_followups(day=IN_STAGE)
    with pytest.raises(ValidationError, match="请至少填写一项回访结果"):
        follow_up(w, [{"followup": FollowUp.objects.get(issue=w.closed).pk, "solved": None, "satisfaction": ""}])
    with pytest.raises(ValidationError, match="请选择居民满意度"):
        follow_up(w, [result(w.closed, True, "")])
    with pytest.raises(ValidationError, match="请选择回访方式"):
        follow_up(w, [result(w.closed, True)], method="carrier_pigeon")
    assert not Visit.objects.exists()


@pytest.mark.django_db
def test_another_cadre_cannot_settle_or_reopen_my_follow_up(ledger):
    w = ledger
    build_followups(day=IN_STAGE)
    mine = result(w.resolved, False)  # worker B's follow-up in grid B
    with pytest.raises(services.VisitNotAllowed, match="没有找到该户"):
        follow_up(w, [mine], household=w.hb)  # worker A cannot see grid B
    with pytest.raises(ValidationError, match="该户没有待回访的诉求"):
        follow_up(w, [mine], user=w.secretary, household=w.hb)  # sees it, but it is not on his list
    # Nor can a grid worker reopen from the ledger an issue that is not on his 回头看 list.
    with pytest.raises(IssueActionError, match="不在您的回头看名单上"):
        issue_reopen(issue=Issue.objects.get(pk=w.before.pk), by=w.worker_a, reason="x")  # his grid, not listed
    assert FollowUp.objects.get(issue=w.resolved).status == "due"


@pytest.mark.django_db
def test_the_ledger_export_shows_the_follow_up_result(ledger, client):
    import io

    from openpyxl import load_workbook

    w = ledger
    build_followups(day=IN_STAGE)
    follow_up(w, [result(w.closed, False, "unsatisfied")])
    Issue.objects.filter(pk=w.closed.pk).update(text="现场答复过的诉求")  # the fixture's texts repeat
    Issue.objects.filter(pk=w.resolved.pk).update(text="已办结待销号的诉求")
    client.force_login(w.admin)
    response = client.get("/issues/export/")
    rows = list(load_workbook(io.BytesIO(b"".join(response.streaming_content))).active.iter_rows(values_only=True))
    column = rows[0].index("回访结果")
    texts = {r[4]: r[column] for r in rows[1:]}
    assert texts["现场答复过的诉求"] == "未解决·不满意（已重新办理）"
    assert texts["已办结待销号的诉求"] == "待回访"
    assert not texts["单元门禁坏了"]  # 待审核: not on a 回头看 list
    assert len(rows) - 1 == Issue.objects.count()  # the join repeats no row
