"""Two submits of one visit form at the same moment (a double tap, a retry racing the first
request): one visit, its issues once (PostgreSQL only — SQLite serialises writers)."""

import datetime
import uuid

import pytest
from django.core.exceptions import ValidationError

from issues.models import Issue
from issues.tests.factories import register
from tests.support.threads import race
from tests.support.visits import NOW, visit_kwargs
from visits import services
from visits.followups import build_followups
from visits.models import FollowUp, Visit


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_submits_of_one_form_save_one_visit(vw, on_postgres):
    issue = {"text": "楼道灯坏了", "category": "living", "severity": "general"}
    for _ in range(5):  # a few rounds, so the two threads really overlap at least sometimes
        kwargs = visit_kwargs(key=uuid.uuid4(), issues=[issue])

        def submit():
            return services.visit_record(household=vw.ha, by=vw.worker_a, campaign=vw.campaign, **kwargs)

        outcomes = race(submit, submit)
        assert all(error is None for _, error in outcomes), outcomes
        results = [r for r, _ in outcomes]
        assert sorted(r.created for r in results) == [False, True]
        assert results[0].visit.pk == results[1].visit.pk
        assert [i.pk for i in results[0].issues] == [i.pk for i in results[1].issues]
        assert Visit.objects.filter(key=kwargs["key"]).count() == 1
        assert Issue.objects.filter(raised_on__visit__key=kwargs["key"]).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_devices_settling_one_follow_up_reopen_it_once(vw, on_postgres):
    closed = register(vw.ha, vw.worker_a, registered_on=datetime.date(2026, 9, 28), answer_on_the_spot="已答复")
    build_followups(day=datetime.date(2026, 12, 16))
    followup = FollowUp.objects.get(issue=closed)
    later = NOW.replace(month=12, day=18)

    def settle():
        return services.followup_record(
            household=vw.ha, by=vw.worker_a, key=uuid.uuid4(), method="phone", visited_on=datetime.date(2026, 12, 17),
            results=[{"followup": followup.pk, "solved": False, "satisfaction": "unsatisfied"}], now=later,
        )  # fmt: skip

    outcomes = race(settle, settle)
    done = [r for r, e in outcomes if e is None]
    refused = [e for _, e in outcomes if e is not None]
    # One settles it; the other either finds it settled before it starts (nothing to record) or loses
    # the claim: refused either way, nothing kept.
    assert len(done) == 1 and len(refused) == 1, outcomes
    assert isinstance(refused[0], ValidationError)
    assert Visit.objects.filter(purpose="follow_up").count() == 1
    assert Issue.objects.get(pk=closed.pk).events.filter(kind="reopened").count() == 1
