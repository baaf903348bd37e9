"""visits/targets.py against hand-counted visits: the half-year rule, weekly focus visits, the
secretary's 户户到 and the leaders' month."""

import datetime

import pytest

from households.models import FocusGroup
from visitplan.models import Assignment, Tier
from visits import targets
from visits.models import Visit

D = datetime.date
TODAY = D(2026, 11, 20)  # second half-year


def visit(w, household, user, day, method="in_person", purpose="visit"):
    return Visit.objects.create(campaign=w.campaign, household=household, cadre=user.cadre, visited_on=day,
                                method=method, purpose=purpose, created_by=user)  # fmt: skip


def figures(w, user):
    return targets.cadre_targets(user.cadre, w.campaign, today=TODAY)


def row(w, user, household):
    qs = targets.annotate_progress(targets.assigned_households(user.cadre, w.campaign), cadre=user.cadre,
                                   campaign=w.campaign, today=TODAY)  # fmt: skip
    return qs.get(pk=household.pk)


@pytest.mark.django_db
def test_a_household_visited_only_in_the_first_half_is_behind(vw):
    visit(vw, vw.ha, vw.worker_a, D(2026, 5, 10))
    t = figures(vw, vw.worker_a)
    assert (t.assigned, t.visited, t.half_done, t.year_done, t.behind) == (1, 1, 0, 0, 1)
    assert t.half_label == "下半年"
    assert row(vw, vw.worker_a, vw.ha).behind


@pytest.mark.django_db
def test_one_visit_in_each_half_year_meets_the_two_a_year_rule(vw):
    visit(vw, vw.ha, vw.worker_a, D(2026, 5, 10))
    visit(vw, vw.ha, vw.worker_a, D(2026, 7, 1))
    t = figures(vw, vw.worker_a)
    assert (t.half_done, t.year_done, t.behind) == (1, 1, 0)


@pytest.mark.django_db
def test_two_visits_in_the_same_half_year_do_not(vw):
    visit(vw, vw.ha, vw.worker_a, D(2026, 8, 10))
    visit(vw, vw.ha, vw.worker_a, D(2026, 9, 10))
    t = figures(vw, vw.worker_a)
    assert (t.half_done, t.year_done, t.behind) == (1, 0, 0)


@pytest.mark.django_db
def test_failed_attempts_follow_ups_and_other_cadres_visits_do_not_count(vw):
    visit(vw, vw.ha, vw.worker_a, D(2026, 8, 10), method="not_home")
    visit(vw, vw.ha, vw.worker_a, D(2026, 8, 11), method="phone", purpose="follow_up")
    visit(vw, vw.ha, vw.secretary, D(2026, 8, 12))
    t = figures(vw, vw.worker_a)
    assert (t.visited, t.half_done, t.behind) == (0, 0, 1)
    assert t.focus_unvisited == 0  # ha has no focus-group tag
    r = row(vw, vw.worker_a, vw.ha)
    assert r.last_visit_on == D(2026, 8, 12) and r.my_last_visit_on is None


@pytest.mark.django_db
def test_weekly_focus_households_need_a_community_cadre_visit_in_the_last_7_days(vw):
    vw.ha.tags.add(FocusGroup.objects.get(name="高龄老人"))
    visit(vw, vw.ha, vw.worker_a, D(2026, 11, 13))  # 7 days before TODAY: outside 11-14…11-20
    t = figures(vw, vw.worker_a)
    assert (t.weekly_total, t.weekly_behind, t.behind) == (1, 1, 1)
    visit(vw, vw.ha, vw.secretary, D(2026, 11, 14))  # any community cadre counts
    t = figures(vw, vw.worker_a)
    assert (t.weekly_total, t.weekly_behind, t.behind) == (1, 0, 0)


@pytest.mark.django_db
def test_focus_households_not_yet_visited_are_counted(vw):
    vw.ha.tags.add(FocusGroup.objects.get(name="老党员"))
    assert figures(vw, vw.worker_a).focus_unvisited == 1
    visit(vw, vw.ha, vw.worker_a, D(2026, 10, 1))
    assert figures(vw, vw.worker_a).focus_unvisited == 0


@pytest.mark.django_db
def test_the_secretary_reaches_every_household_once_a_year(vw):
    for h in (vw.ha, vw.hb):
        Assignment.objects.create(campaign=vw.campaign, household=h, cadre=vw.secretary.cadre, tier=Tier.SECRETARY)
    visit(vw, vw.ha, vw.secretary, D(2026, 4, 2))
    t = figures(vw, vw.secretary)
    assert (t.assigned, t.sweep_done, t.behind, t.half_done) == (2, 1, 1, None)


@pytest.mark.django_db
def test_a_leaders_month_counts_days_and_households(vw):
    for h, day in (
        (vw.ha, D(2026, 11, 3)),
        (vw.hb, D(2026, 11, 3)),
        (vw.hc, D(2026, 11, 18)),
        (vw.hc, D(2026, 10, 30)),
    ):
        visit(vw, h, vw.leader, day)
    t = figures(vw, vw.leader)
    assert (t.month_days, t.month_households) == (2, 3)
    assert (t.month_days_target, t.month_households_target) == (10, 50)
    assert t.leader_behind
    assert t.half_done is None and t.weekly_total is None


@pytest.mark.django_db
def test_a_past_campaign_is_judged_at_its_end(vw):
    visit(vw, vw.ha, vw.worker_a, D(2026, 8, 10))
    t = targets.cadre_targets(vw.worker_a.cadre, vw.campaign, today=D(2027, 3, 1))
    assert (t.half_label, t.half_done) == ("下半年", 1)


def test_it_bands_the_days_since_the_last_visit():
    assert targets.age_band(None, TODAY) == ("never", "从未走访")
    assert targets.age_band(TODAY - datetime.timedelta(days=30), TODAY)[0] == "fresh"
    assert targets.age_band(TODAY - datetime.timedelta(days=31), TODAY)[0] == "aging"
    assert targets.age_band(TODAY - datetime.timedelta(days=91), TODAY)[0] == "stale"
