"""visits/rules.py: what a valid visit is, and who may record one."""

import datetime

import pytest

from tests.support.visits import NOW, VISIT_DAY
from visitplan.models import Assignment, Cadre, Tier
from visits import rules
from visits.models import Purpose

T = datetime.time


def check(campaign, **kw):
    values = {"campaign": campaign, "purpose": Purpose.VISIT, "method": "in_person", "visited_on": VISIT_DAY,
              "started_at": T(9, 0), "ended_at": T(9, 30), "short_reason": "", "now": NOW}  # fmt: skip
    values.update(kw)
    return rules.check_visit(**values)


@pytest.mark.django_db
def test_it_accepts_a_visit_of_exactly_the_minimum_length(vw):
    assert check(vw.campaign) == ({}, 30)


@pytest.mark.django_db
def test_it_needs_a_reason_for_a_visit_under_30_minutes(vw):
    errors, minutes = check(vw.campaign, ended_at=T(9, 29))
    assert minutes == 29
    assert errors == {"short_reason": "本次29分钟，不足30分钟，请说明原因"}
    assert check(vw.campaign, ended_at=T(9, 29), short_reason="居民要去医院")[0] == {}


@pytest.mark.django_db
def test_it_takes_the_minimum_from_the_campaign(vw):
    vw.campaign.min_visit_minutes = 45
    assert "short_reason" in check(vw.campaign, ended_at=T(9, 40))[0]


@pytest.mark.django_db
def test_it_refuses_an_end_before_the_start(vw):
    errors, minutes = check(vw.campaign, started_at=T(10, 0), ended_at=T(9, 0))
    assert errors == {"ended_at": "结束时间早于开始时间"} and minutes is None


@pytest.mark.django_db
def test_it_refuses_a_future_date(vw):
    errors, _ = check(vw.campaign, visited_on=NOW.date() + datetime.timedelta(days=1))
    assert errors["visited_on"] == "走访日期 2026-11-21 晚于今天，不能预先登记"


@pytest.mark.django_db
def test_it_refuses_an_end_time_later_than_now_on_the_visit_day(vw):
    errors, _ = check(vw.campaign, visited_on=NOW.date(), started_at=T(15, 0), ended_at=T(16, 0))
    assert errors == {"ended_at": "结束时间 16:00 晚于现在，请按实际时间填写"}
    # A phone clock a few minutes fast is tolerated.
    assert check(vw.campaign, visited_on=NOW.date(), started_at=T(14, 30), ended_at=T(15, 5))[0] == {}


@pytest.mark.django_db
def test_it_refuses_a_date_outside_the_campaign(vw):
    errors, _ = check(vw.campaign, visited_on=datetime.date(2026, 2, 27))
    assert errors["visited_on"] == "走访日期 2026-02-27 不在“2026年入户大走访”活动期间（2026-03-01 至 2026-12-31）"


@pytest.mark.django_db
def test_it_needs_times_for_in_person_visits_but_not_for_calls(vw):
    errors, _ = check(vw.campaign, started_at=None, ended_at=None)
    assert set(errors) == {"started_at", "ended_at"}
    assert check(vw.campaign, method="phone", started_at=None, ended_at=None) == ({}, None)
    # A ten-minute call needs no reason: the 30 minutes are for 入户 and 座谈.
    assert check(vw.campaign, method="phone", ended_at=T(9, 10)) == ({}, 10)
    assert "short_reason" in check(vw.campaign, method="meeting", ended_at=T(9, 10))[0]


@pytest.mark.django_db
def test_it_records_a_failed_attempt_without_times(vw):
    assert check(vw.campaign, method="not_home", started_at=None, ended_at=T(8, 0)) == ({}, None)
    assert "visited_on" in check(vw.campaign, method="not_home", visited_on=datetime.date(2027, 1, 5))[0]


@pytest.mark.django_db
def test_it_refuses_an_unknown_method(vw):
    assert check(vw.campaign, method="carrier_pigeon")[0]["method"] == "请选择走访方式"


@pytest.mark.django_db
def test_it_lets_the_assigned_cadre_and_community_cadres_in_scope_visit(vw):
    w = vw
    assert rules.may_visit(w.worker_a.cadre, w.ha, w.campaign)  # assigned
    assert not rules.may_visit(w.worker_a.cadre, w.hb, w.campaign)  # the next grid
    assert rules.may_visit(w.secretary.cadre, w.hb, w.campaign)  # his community
    assert not rules.may_visit(w.secretary.cadre, w.hc, w.campaign)  # another community
    assert rules.may_visit(w.leader.cadre, w.hc, w.campaign)  # the street's leader
    # A department cadre visits only what is assigned to him.
    assert rules.may_visit(w.handler.cadre, w.hc, w.campaign)
    assert not rules.may_visit(w.handler.cadre, w.ha, w.campaign)
    # A grid worker in his own grid visits an unassigned household of it.
    Assignment.objects.filter(household=w.ha).delete()
    assert rules.may_visit(w.worker_a.cadre, w.ha, w.campaign)


@pytest.mark.django_db
def test_it_refuses_a_cadre_who_left(vw):
    cadre = vw.worker_a.cadre
    Cadre.objects.filter(pk=cadre.pk).update(active=False)
    cadre.refresh_from_db()
    assert not rules.may_visit(cadre, vw.ha, vw.campaign)
    assert cadre.tier == Tier.GRID_WORKER
