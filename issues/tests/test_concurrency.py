"""Two people act on the same issue at the same moment: exactly one wins (PostgreSQL only —
SQLite serialises writers and has no row locks, so the race cannot happen there)."""

import pytest

from issues import services
from issues.models import EventKind, ExtensionRequest, Issue, IssueEvent, Status
from issues.services import StaleIssueError
from issues.tests.factories import make_issue
from tests.support.threads import race


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_it_lets_exactly_one_of_two_simultaneous_steps_win(world, on_postgres):
    issue = make_issue(world.ha)
    seen = issue.version
    for _ in range(5):  # a few rounds, so the two threads really overlap at least sometimes
        outcomes = race(
            lambda: services.issue_accept(issue=issue, by=world.admin, version=seen),
            lambda: services.issue_return(issue=issue, by=world.secretary, version=seen, reason="重复登记"),
        )
        winners = [r for r, e in outcomes if e is None]
        losers = [e for r, e in outcomes if e is not None]
        assert len(winners) == 1, outcomes
        assert len(losers) == 1 and isinstance(losers[0], StaleIssueError), outcomes
        fresh = Issue.objects.get(pk=issue.pk)
        assert fresh.version == seen + 1
        assert fresh.status == winners[0].status
        events = IssueEvent.objects.filter(issue=issue)
        assert events.count() == 1
        assert events.get().to_status == fresh.status
        # back to the start for the next round
        IssueEvent.objects.all().delete()
        Issue.objects.filter(pk=issue.pk).update(status=Status.REGISTERED, version=seen)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_it_lets_one_of_two_approvals_of_the_same_extension_win(world, on_postgres):
    issue = make_issue(world.ha, status=Status.IN_PROGRESS, department=world.dept)
    request = ExtensionRequest.objects.create(issue=issue, requested_by=world.handler, days=5, reason="材料未到")
    outcomes = race(
        lambda: services.issue_decide_extension(request=request, by=world.admin, approve=True),
        lambda: services.issue_decide_extension(request=request, by=world.admin, approve=True),
    )
    assert sum(e is None for _, e in outcomes) == 1, outcomes
    assert sum(isinstance(e, StaleIssueError) for _, e in outcomes) == 1, outcomes
    fresh = Issue.objects.get(pk=issue.pk)
    assert fresh.extension_days == 5 and fresh.version == issue.version + 1
    assert IssueEvent.objects.filter(issue=issue, kind=EventKind.EXTENSION_APPROVED).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_it_keeps_one_pending_extension_when_two_are_requested_at_once(world, on_postgres):
    issue = make_issue(world.ha, status=Status.IN_PROGRESS, department=world.dept)
    outcomes = race(
        lambda: services.issue_request_extension(issue=issue, by=world.handler, days=3, reason="一"),
        lambda: services.issue_request_extension(issue=issue, by=world.handler, days=4, reason="二"),
    )
    assert sum(e is None for _, e in outcomes) == 1, outcomes
    assert sum(isinstance(e, services.IssueActionError) for _, e in outcomes) == 1, outcomes
    assert ExtensionRequest.objects.filter(issue=issue).count() == 1
    assert IssueEvent.objects.filter(issue=issue, kind=EventKind.EXTENSION_REQUESTED).count() == 1
