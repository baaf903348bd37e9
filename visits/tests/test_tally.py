"""The dashboard's tallies (visits/tally.py): kept by visit_record as each visit is written, rebuilt
from the visits to exactly the same rows; "visited between a and b" on the day bit sets; the
rebuild after a change of the minimum visit length; the management command; and (PostgreSQL
only) concurrent visits of one household adding up."""

import datetime
import io
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db.models import FilteredRelation, Q

from core.versioning import StaleEditError
from households.models import Household
from households.roles import CADRE
from tests.support.threads import race
from tests.support.visits import visit_kwargs
from tests.support.world import make_household, make_user
from visitplan.models import Assignment, Campaign, Stage, StageKind, Tier
from visits import services, tally
from visits.models import CadreSpan, DayTotal, HouseholdDays, Purpose, Visit

D = datetime.date
T = datetime.time
WORD_COLUMNS = [f"{name}_{i}" for name in ("days", "staff") for i in range(6)]


# ---------------------------------------------------------------------------------------------- helpers


def rows(model, campaign):
    """The campaign's rows of a tally table as dicts without ids, in a stable order."""
    fields = [f.attname for f in model._meta.concrete_fields if not f.primary_key]
    return sorted(model.objects.filter(campaign=campaign).values(*fields), key=lambda r: [r[f] for f in fields])


def snapshot(campaign):
    return {model.__name__: rows(model, campaign) for model in (HouseholdDays, CadreSpan, DayTotal)}


def days_row(campaign, household, days=None, staff=None):
    """An expected HouseholdDays row: ``days`` / ``staff`` map word index -> word value."""
    row = {"campaign_id": campaign.pk, "household_id": household.pk, **dict.fromkeys(WORD_COLUMNS, 0)}
    row.update({f"days_{i}": w for i, w in (days or {}).items()})
    row.update({f"staff_{i}": w for i, w in (staff or {}).items()})
    return row


def span_row(campaign, household, cadre, first_on, last_on):
    return {"campaign_id": campaign.pk, "household_id": household.pk, "cadre_id": cadre.pk, "first_on": first_on,
            "last_on": last_on}  # fmt: skip


def total_row(campaign, community, day, method, visits, timed=0, minutes=0, short=0, cards=0):
    return {"campaign_id": campaign.pk, "community_id": community.pk, "day": day, "method": method, "visits": visits,
            "timed": timed, "minutes": minutes, "short": short, "cards": cards}  # fmt: skip


def record(vw, user, household, day, method="in_person", start=T(9, 0), end=T(9, 40), card=False, **extra):
    """One visit through visits.services.visit_record (the only writer the app has)."""
    kwargs = visit_kwargs(visited_on=day, method=method, started_at=start, ended_at=end, card_given=card, **extra)
    result = services.visit_record(household=household, by=user, campaign=vw.campaign, **kwargs)
    assert result.created
    return result.visit


def raw_visit(campaign, household, cadre, day, **extra):
    """A visit written directly, bypassing the services and their rules (tallied only by rebuild)."""
    return Visit.objects.create(campaign=campaign, household=household, cadre=cadre, visited_on=day, **extra)


def street_staff(vw, *households, username="staff1"):
    """A 街道干部 (tier 3) with the given households assigned to him in the campaign."""
    user = make_user(username, CADRE, scope=vw.street, tier=Tier.STREET_STAFF)
    for household in households:
        Assignment.objects.create(campaign=vw.campaign, household=household, cadre=user.cadre)
    return user


def found(campaign, first, last, prefix=tally.DAYS):
    condition = tally.visited_between(prefix, campaign, first, last)
    return set(HouseholdDays.objects.filter(campaign=campaign).filter(condition).values_list("household_id", flat=True))


def other_campaign(vw, year=2028):
    return Campaign.objects.create(year=year, name="入户大走访", street=vw.street)


# ---------------------------------------------------------------------------------------------- record = rebuild


def test_visits_recorded_through_the_service_are_tallied_and_rebuild_gives_the_same_rows(vw):
    c = vw.campaign
    staff = street_staff(vw, vw.ha)
    a, b = vw.worker_a, vw.worker_b
    record(vw, a, vw.ha, D(2026, 3, 21), card=True)  # 40 min
    record(vw, a, vw.ha, D(2026, 3, 21), start=T(16, 0), end=T(16, 45))  # 45 min, same day and method
    record(vw, a, vw.ha, D(2026, 9, 28), method="phone", start=T(10, 0), end=T(10, 15))  # timed? no: a call
    record(vw, staff, vw.ha, D(2026, 6, 30), start=T(9, 0), end=T(10, 0), card=True)  # 60 min, street staff
    record(vw, staff, vw.ha, D(2026, 9, 28), method="meeting", start=T(15, 0), end=T(15, 30))  # exactly 30: not short
    record(vw, b, vw.hb, D(2026, 7, 1), method="not_home")  # 未遇: a day total, not a visit of the household
    record(vw, b, vw.hb, D(2026, 9, 28), start=T(14, 0), end=T(14, 20), short_reason="老人身体不适")  # 20 min: short
    record(vw, vw.handler, vw.hc, D(2026, 9, 28), start=T(9, 0), end=T(9, 50), card=True)  # 50 min, 南纬社区
    record(vw, vw.leader, vw.hc, D(2026, 11, 20), start=T(13, 0), end=T(13, 35))  # "today" (NOW is 15:00)

    expected = {
        # ha: 3-21 (bit 79 = word 1 bit 18), 6-30 (bit 180 = word 2 bit 58), 9-28 (bit 270 = word 4 bit 26);
        # street staff on 6-30 and 9-28. hb: only 9-28 (7-01 was 未遇). hc: 9-28 and 11-20 (bit 323 = word 5 bit 18).
        "HouseholdDays": sorted(
            [
                days_row(c, vw.ha, days={1: 1 << 18, 2: 1 << 58, 4: 1 << 26}, staff={2: 1 << 58, 4: 1 << 26}),
                days_row(c, vw.hb, days={4: 1 << 26}),
                days_row(c, vw.hc, days={4: 1 << 26, 5: 1 << 18}),
            ],
            key=lambda r: r["household_id"],
        ),
        "CadreSpan": sorted(
            [
                span_row(c, vw.ha, a.cadre, D(2026, 3, 21), D(2026, 9, 28)),
                span_row(c, vw.ha, staff.cadre, D(2026, 6, 30), D(2026, 9, 28)),
                span_row(c, vw.hb, b.cadre, D(2026, 9, 28), D(2026, 9, 28)),  # not 7-01: 未遇 does not count
                span_row(c, vw.hc, vw.handler.cadre, D(2026, 9, 28), D(2026, 9, 28)),
                span_row(c, vw.hc, vw.leader.cadre, D(2026, 11, 20), D(2026, 11, 20)),
            ],
            key=lambda r: (r["household_id"], r["cadre_id"]),
        ),
        "DayTotal": sorted(
            [
                total_row(c, vw.c1, D(2026, 3, 21), "in_person", visits=2, timed=2, minutes=85, cards=1),
                total_row(c, vw.c1, D(2026, 6, 30), "in_person", visits=1, timed=1, minutes=60, cards=1),
                total_row(c, vw.c1, D(2026, 7, 1), "not_home", visits=1),
                total_row(c, vw.c1, D(2026, 9, 28), "in_person", visits=1, timed=1, minutes=20, short=1),
                total_row(c, vw.c1, D(2026, 9, 28), "meeting", visits=1, timed=1, minutes=30),
                total_row(c, vw.c1, D(2026, 9, 28), "phone", visits=1),  # 15 minutes, but a call is not timed
                total_row(c, vw.c2, D(2026, 9, 28), "in_person", visits=1, timed=1, minutes=50, cards=1),
                total_row(c, vw.c2, D(2026, 11, 20), "in_person", visits=1, timed=1, minutes=35),
            ],
            key=lambda r: (r["community_id"], r["day"], r["method"]),
        ),
    }
    assert snapshot(c) == expected

    # 回头看 contacts count nowhere: neither when recorded nor when rebuilt.
    for household in (vw.ha, vw.hc):  # hc by worker_a would be a new cadre-household pair
        follow_up = raw_visit(c, household, a.cadre, D(2026, 11, 10), purpose=Purpose.FOLLOW_UP, method="phone")
        tally.record(follow_up)
    follow_up = raw_visit(c, vw.hb, b.cadre, D(2026, 11, 12), purpose=Purpose.FOLLOW_UP, method="in_person",
                          started_at=T(9, 0), ended_at=T(9, 10), duration_minutes=10, card_given=True)  # fmt: skip
    tally.record(follow_up, household=vw.hb, cadre=b.cadre, campaign=c)
    assert snapshot(c) == expected

    assert tally.rebuild(c) == {"days": 8, "spans": 5, "households": 3}
    assert snapshot(c) == expected


def test_a_replayed_submit_is_tallied_once(vw):
    kwargs = visit_kwargs(visited_on=D(2026, 9, 28), card_given=True)
    first = services.visit_record(household=vw.ha, by=vw.worker_a, campaign=vw.campaign, **kwargs)
    again = services.visit_record(household=vw.ha, by=vw.worker_a, campaign=vw.campaign, **kwargs)
    assert (first.created, again.created) == (True, False)
    assert again.visit.pk == first.visit.pk
    c = vw.campaign
    assert snapshot(c) == {
        "HouseholdDays": [days_row(c, vw.ha, days={4: 1 << 26})],
        "CadreSpan": [span_row(c, vw.ha, vw.worker_a.cadre, D(2026, 9, 28), D(2026, 9, 28))],
        "DayTotal": [total_row(c, vw.c1, D(2026, 9, 28), "in_person", visits=1, timed=1, minutes=40, cards=1)],
    }


def test_a_visit_refused_for_its_issue_leaves_no_tally_behind(vw):
    kwargs = visit_kwargs(visited_on=D(2026, 9, 28), issues=[{"text": "楼道灯坏了", "category": "bogus"}])
    with pytest.raises(ValidationError):
        services.visit_record(household=vw.ha, by=vw.worker_a, campaign=vw.campaign, **kwargs)
    assert not Visit.objects.exists()
    assert snapshot(vw.campaign) == {"HouseholdDays": [], "CadreSpan": [], "DayTotal": []}


# ---------------------------------------------------------------------------------------------- visited_between

# (day, the word it is in, its bit in that word): both ends of every 61-day word, Jan 1, Dec 31, 29 Feb.
BOUNDARY_DAYS = [
    (D(2026, 1, 1), 0, 1 << 0),  # bit 0
    (D(2026, 3, 2), 0, 1 << 60),  # bit 60, the last of word 0
    (D(2026, 3, 3), 1, 1 << 0),  # bit 61
    (D(2026, 5, 2), 1, 1 << 60),  # bit 121
    (D(2026, 5, 3), 2, 1 << 0),  # bit 122
    (D(2026, 7, 2), 2, 1 << 60),  # bit 182
    (D(2026, 7, 3), 3, 1 << 0),  # bit 183
    (D(2026, 9, 1), 3, 1 << 60),  # bit 243
    (D(2026, 9, 2), 4, 1 << 0),  # bit 244
    (D(2026, 11, 1), 4, 1 << 60),  # bit 304
    (D(2026, 11, 2), 5, 1 << 0),  # bit 305
    (D(2026, 12, 31), 5, 1 << 59),  # bit 364, the last day of a common year
    (D(2028, 2, 29), 0, 1 << 59),  # bit 59 of a leap year
    (D(2028, 12, 31), 5, 1 << 60),  # bit 365, the last day of a leap year: the very last bit
]


@pytest.mark.parametrize(("day", "word", "value"), BOUNDARY_DAYS, ids=[str(d) for d, _, _ in BOUNDARY_DAYS])
def test_visited_between_finds_a_visit_day_exactly(vw, day, word, value):
    campaign = vw.campaign if day.year == 2026 else other_campaign(vw, day.year)
    raw_visit(campaign, vw.ha, vw.worker_a.cadre, day)
    # Another household 40 days away, in other words: never found by the ranges below.
    later = day + datetime.timedelta(days=40)
    other = later if later.year == day.year else day - datetime.timedelta(days=40)
    raw_visit(campaign, vw.hb, vw.worker_b.cadre, other)
    tally.rebuild(campaign)
    assert HouseholdDays.objects.filter(household=vw.ha).values(*WORD_COLUMNS).get() == {
        **dict.fromkeys(WORD_COLUMNS, 0),
        f"days_{word}": value,
    }

    def between(before, after):
        return found(campaign, day + datetime.timedelta(days=before), day + datetime.timedelta(days=after))

    ha = {vw.ha.pk}
    assert between(0, 0) == ha
    assert between(-5, 0) == ha
    assert between(0, 5) == ha
    assert between(-1, 1) == ha
    assert between(1, 30) == set()
    assert between(-30, -1) == set()
    assert between(3, -3) == set()  # end before start: nothing, though the day lies "between" them
    assert found(campaign, D(day.year, 1, 1), D(day.year, 12, 31)) == {vw.ha.pk, vw.hb.pk}
    assert found(campaign, D(day.year - 5, 1, 1), D(day.year + 5, 1, 1)) == {vw.ha.pk, vw.hb.pk}  # clipped
    assert found(campaign, day, day, prefix=tally.STAFF) == set()  # a grid worker's visit


def test_visited_between_clips_ranges_reaching_outside_the_year(vw):
    c = vw.campaign
    raw_visit(c, vw.ha, vw.worker_a.cadre, D(2026, 1, 1))
    raw_visit(c, vw.hb, vw.worker_b.cadre, D(2026, 12, 31))
    tally.rebuild(c)
    assert found(c, D(2025, 12, 1), D(2026, 1, 5)) == {vw.ha.pk}
    assert found(c, D(2025, 12, 1), D(2026, 1, 1)) == {vw.ha.pk}
    assert found(c, D(2026, 12, 20), D(2027, 1, 10)) == {vw.hb.pk}
    assert found(c, D(2026, 12, 31), D(2027, 12, 31)) == {vw.hb.pk}
    assert found(c, D(2025, 1, 1), D(2027, 12, 31)) == {vw.ha.pk, vw.hb.pk}
    # Wholly outside the year, or backwards: nothing.
    assert found(c, D(2025, 1, 1), D(2025, 12, 31)) == set()
    assert found(c, D(2025, 12, 31), D(2025, 12, 31)) == set()
    assert found(c, D(2027, 1, 1), D(2027, 3, 1)) == set()
    assert found(c, D(2027, 1, 1), D(2027, 1, 1)) == set()
    assert found(c, D(2026, 12, 31), D(2026, 1, 1)) == set()
    assert found(c, D(2027, 1, 5), D(2025, 12, 1)) == set()
    # The empty condition matches no row at all, not every row.
    assert tally.visited_between(tally.DAYS, c, D(2027, 1, 1), D(2027, 2, 1)) == Q(pk__in=[])


def test_visited_between_across_a_relation(vw):
    c, other = vw.campaign, other_campaign(vw)
    raw_visit(c, vw.ha, vw.worker_a.cadre, D(2026, 5, 2))
    raw_visit(other, vw.hb, vw.worker_b.cadre, D(2028, 5, 2))  # the same "day" of another campaign's year
    tally.rebuild(c)
    tally.rebuild(other)
    condition = tally.visited_between("visit_days__days", c, D(2026, 5, 1), D(2026, 5, 3))
    households = Household.objects.filter(Q(visit_days__campaign=c) & condition)  # one join: this campaign's row
    assert list(households.values_list("pk", flat=True)) == [vw.ha.pk]
    tallied = Household.objects.alias(tally=FilteredRelation("visit_days", condition=Q(visit_days__campaign=c)))
    visited = tallied.filter(tally.visited_between("tally__days", c, D(2026, 4, 1), D(2026, 6, 1)))
    assert list(visited.values_list("pk", flat=True)) == [vw.ha.pk]
    assert not tallied.filter(tally.visited_between("tally__staff", c, D(2026, 4, 1), D(2026, 6, 1))).exists()


def test_the_staff_bit_set_holds_only_street_staff_visits(vw):
    c = vw.campaign
    staff = street_staff(vw, vw.ha, vw.hb)
    record(vw, vw.worker_a, vw.ha, D(2026, 5, 10))  # bit 129: word 2 bit 7
    record(vw, staff, vw.hb, D(2026, 6, 15))  # bit 165: word 2 bit 43
    record(vw, staff, vw.ha, D(2026, 8, 20))  # bit 231: word 3 bit 48
    record(vw, vw.secretary, vw.hb, D(2026, 8, 21))  # bit 232, a secretary: not street staff
    expected = [
        days_row(c, vw.ha, days={2: 1 << 7, 3: 1 << 48}, staff={3: 1 << 48}),
        days_row(c, vw.hb, days={2: 1 << 43, 3: 1 << 49}, staff={2: 1 << 43}),
    ]
    assert rows(HouseholdDays, c) == expected
    tally.rebuild(c)
    assert rows(HouseholdDays, c) == expected

    assert found(c, D(2026, 5, 1), D(2026, 5, 31)) == {vw.ha.pk}
    assert found(c, D(2026, 5, 1), D(2026, 5, 31), prefix=tally.STAFF) == set()
    assert found(c, D(2026, 6, 1), D(2026, 6, 30), prefix=tally.STAFF) == {vw.hb.pk}
    assert found(c, D(2026, 8, 20), D(2026, 8, 20), prefix=tally.STAFF) == {vw.ha.pk}
    assert found(c, D(2026, 8, 21), D(2026, 8, 31)) == {vw.hb.pk}
    assert found(c, D(2026, 8, 21), D(2026, 8, 31), prefix=tally.STAFF) == set()
    assert found(c, D(2026, 1, 1), D(2026, 12, 31), prefix=tally.STAFF) == {vw.ha.pk, vw.hb.pk}


# ---------------------------------------------------------------------------------------------- the year


def test_day_bit_counts_from_the_first_of_january(vw):
    c, leap = vw.campaign, other_campaign(vw)
    assert tally.day_bit(c, D(2026, 1, 1)) == 0
    assert tally.day_bit(c, D(2026, 3, 21)) == 79
    assert tally.day_bit(c, D(2026, 12, 31)) == 364
    assert tally.day_bit(leap, D(2028, 3, 1)) == 60
    assert tally.day_bit(leap, D(2028, 12, 31)) == 365
    for campaign, day in [(c, D(2025, 12, 31)), (c, D(2027, 1, 2)), (c, D(2030, 6, 1)), (leap, D(2029, 1, 1)),
                          (leap, D(2027, 12, 31))]:  # fmt: skip
        with pytest.raises(tally.OutsideYear):
            tally.day_bit(campaign, day)


def test_day_bit_refuses_the_first_of_january_after_a_common_year(vw):
    # 2026 has 365 days (bits 0..364); 1 January 2027 is outside the campaign's year, not its bit 365.
    with pytest.raises(tally.OutsideYear):
        tally.day_bit(vw.campaign, D(2027, 1, 1))


def test_a_stage_must_lie_in_its_campaigns_year(vw):
    campaign = other_campaign(vw, 2027)
    Stage(campaign=campaign, kind=StageKind.VISIT, starts_on=D(2027, 1, 1), ends_on=D(2027, 12, 31)).full_clean()
    for starts_on, ends_on in [(D(2026, 12, 20), D(2027, 1, 10)), (D(2027, 12, 1), D(2028, 1, 5)),
                               (D(2026, 3, 1), D(2026, 11, 30))]:  # fmt: skip
        stage = Stage(campaign=campaign, kind=StageKind.VISIT, starts_on=starts_on, ends_on=ends_on)
        with pytest.raises(ValidationError) as caught:
            stage.full_clean()
        assert "活动阶段须在活动年度（2027年）之内" in caught.value.messages


# ---------------------------------------------------------------------------------------------- the minimum length


@pytest.fixture
def short_and_long(vw):
    record(vw, vw.worker_a, vw.ha, D(2026, 9, 28))  # 40 min
    record(vw, vw.worker_b, vw.hb, D(2026, 9, 28), start=T(10, 0), end=T(10, 20), short_reason="老人要去医院")  # 20
    record(vw, vw.worker_b, vw.hb, D(2026, 9, 29), method="phone", start=T(10, 0), end=T(10, 5))  # never timed
    return vw


def shorts(campaign):
    totals = DayTotal.objects.filter(campaign=campaign).order_by("day", "method")
    return list(totals.values_list("day", "method", "short"))


def test_changing_the_minimum_length_rebuilds_the_short_counts_on_commit(
    short_and_long, django_capture_on_commit_callbacks
):
    c = short_and_long.campaign
    assert shorts(c) == [(D(2026, 9, 28), "in_person", 1), (D(2026, 9, 29), "phone", 0)]
    c.min_visit_minutes = 45
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        c.save()
        assert shorts(c)[0] == (D(2026, 9, 28), "in_person", 1)  # not before the commit
    assert len(callbacks) == 1
    assert shorts(c) == [(D(2026, 9, 28), "in_person", 2), (D(2026, 9, 29), "phone", 0)]
    c.min_visit_minutes = 20  # 20 minutes is no longer short: "less than the minimum"
    with django_capture_on_commit_callbacks(execute=True):
        c.save()
    assert shorts(c) == [(D(2026, 9, 28), "in_person", 0), (D(2026, 9, 29), "phone", 0)]
    assert DayTotal.objects.get(campaign=c, method="in_person").minutes == 60


def test_saving_a_campaign_without_changing_the_minimum_does_not_rebuild(
    short_and_long, django_capture_on_commit_callbacks, monkeypatch
):
    c = short_and_long.campaign
    calls = []
    monkeypatch.setattr(tally, "rebuild", lambda campaign: calls.append(campaign.pk))

    def rename():
        c.name = "入户大走访（更名）"
        c.street_staff_share = 40
        c.save()

    saves = {
        "unchanged": c.save,
        "renamed, another street staff share": rename,
        "another copy": lambda: Campaign.objects.get(pk=c.pk).save(),
        "created": lambda: other_campaign(short_and_long),
        "created, then saved unchanged": lambda: other_campaign(short_and_long).save(),
    }
    for what, save in saves.items():
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            save()
        assert (callbacks, calls) == ([], []), what
    saved = Campaign.objects.get(pk=c.pk)
    assert (saved.name, saved.street_staff_share, saved.version) == ("入户大走访（更名）", 40, c.version + 1)

    # ``c`` is stale since the other copy's save: its save is refused (optimistic lock), so its
    # new minimum is neither written nor tallied.
    c.min_visit_minutes = 31
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(StaleEditError):
            c.save()
    assert (callbacks, calls) == ([], [])
    assert Campaign.objects.get(pk=c.pk).min_visit_minutes == 30

    c.refresh_from_db()
    c.min_visit_minutes = 31
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        c.save()
        assert calls == []  # on commit, not before
    assert len(callbacks) == 1 and calls == [c.pk]
    empty = other_campaign(short_and_long, 2028)
    empty.year = 2029  # the year is tallied too (bits by day of the year)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        empty.save()
        assert calls == [c.pk]
    assert len(callbacks) == 1 and calls == [c.pk, empty.pk]


# ---------------------------------------------------------------------------------------------- rebuild


def test_rebuild_is_idempotent_and_drops_stale_rows(vw):
    c, other = vw.campaign, other_campaign(vw)
    a, b = vw.worker_a, vw.worker_b
    record(vw, a, vw.ha, D(2026, 4, 1))  # bit 90: word 1 bit 29
    gone_ha = record(vw, a, vw.ha, D(2026, 9, 28))
    gone_hb = record(vw, b, vw.hb, D(2026, 9, 28), card=True)
    raw_visit(other, vw.hc, vw.handler.cadre, D(2028, 2, 29))
    tally.rebuild(other)
    other_rows = snapshot(other)
    assert other_rows["HouseholdDays"] == [days_row(other, vw.hc, days={0: 1 << 59})]

    kept = snapshot(c)
    assert kept["HouseholdDays"] == [
        days_row(c, vw.ha, days={1: 1 << 29, 4: 1 << 26}),
        days_row(c, vw.hb, days={4: 1 << 26}),
    ]
    assert tally.rebuild(c) == {"days": 2, "spans": 2, "households": 2}
    assert snapshot(c) == kept
    assert tally.rebuild(c) == {"days": 2, "spans": 2, "households": 2}
    assert snapshot(c) == kept

    Visit.objects.filter(pk__in=[gone_ha.pk, gone_hb.pk]).delete()  # behind the tallies' back
    assert snapshot(c) == kept  # stale until rebuilt
    assert tally.rebuild(c) == {"days": 1, "spans": 1, "households": 1}
    assert snapshot(c) == {
        "HouseholdDays": [days_row(c, vw.ha, days={1: 1 << 29})],
        "CadreSpan": [span_row(c, vw.ha, a.cadre, D(2026, 4, 1), D(2026, 4, 1))],
        "DayTotal": [total_row(c, vw.c1, D(2026, 4, 1), "in_person", visits=1, timed=1, minutes=40)],
    }
    assert snapshot(other) == other_rows  # another campaign's tallies are left alone

    Visit.objects.filter(campaign=c).delete()
    assert tally.rebuild(c) == {"days": 0, "spans": 0, "households": 0}
    assert snapshot(c) == {"HouseholdDays": [], "CadreSpan": [], "DayTotal": []}


def test_rebuild_current_rebuilds_this_years_and_last_years_campaigns(vw):
    old = Campaign.objects.create(year=2025, name="往年走访", street=vw.street)
    older = Campaign.objects.create(year=2024, name="更早走访", street=vw.street)
    other_campaign(vw)
    raw_visit(vw.campaign, vw.ha, vw.worker_a.cadre, D(2026, 6, 1))
    raw_visit(older, vw.ha, vw.worker_a.cadre, D(2024, 6, 1))
    assert tally.rebuild_current(D(2026, 12, 1)) == {
        vw.campaign.pk: {"days": 1, "spans": 1, "households": 1},
        old.pk: {"days": 0, "spans": 0, "households": 0},
    }
    assert not HouseholdDays.objects.filter(campaign=older).exists()


# ---------------------------------------------------------------------------------------------- the command


def test_the_command_rebuilds_one_campaign_and_prints_the_counts(vw):
    record(vw, vw.worker_a, vw.ha, D(2026, 9, 28))
    record(vw, vw.worker_b, vw.hb, D(2026, 9, 28))
    record(vw, vw.worker_b, vw.hb, D(2026, 9, 29), method="not_home")
    raw_visit(vw.campaign, vw.hc, vw.handler.cadre, D(2026, 10, 9))  # not tallied until rebuilt
    out = io.StringIO()
    call_command("rebuild_tallies", "--campaign", str(vw.campaign.pk), stdout=out)
    # Day totals: 湖田社区 9-28 入户 (ha and hb), 9-29 未遇, 南纬社区 10-09 入户.
    assert out.getvalue() == f"活动 {vw.campaign.pk}：3 户走访日历，3 条干部走访起止，3 条每日汇总\n"
    assert HouseholdDays.objects.filter(campaign=vw.campaign).count() == 3


def test_the_command_refuses_an_unknown_campaign(vw):
    with pytest.raises(CommandError, match=f"没有 ID 为 {vw.campaign.pk + 1000} 的走访活动"):
        call_command("rebuild_tallies", "--campaign", str(vw.campaign.pk + 1000), stdout=io.StringIO())


def test_the_command_refuses_campaign_id_zero(vw, monkeypatch):
    # 0 is an id like any other that names no campaign; it must not mean "all current campaigns".
    monkeypatch.setattr("core.clock.today", lambda: D(2026, 12, 1))
    with pytest.raises(CommandError):
        call_command("rebuild_tallies", "--campaign", "0", stdout=io.StringIO())


def test_the_command_without_a_campaign_rebuilds_the_current_ones(vw, monkeypatch):
    record(vw, vw.worker_a, vw.ha, D(2026, 9, 28))
    monkeypatch.setattr("core.clock.today", lambda: D(2027, 3, 1))
    out = io.StringIO()
    call_command("rebuild_tallies", stdout=out)
    assert out.getvalue() == f"活动 {vw.campaign.pk}：1 户走访日历，1 条干部走访起止，1 条每日汇总\n"
    monkeypatch.setattr("core.clock.today", lambda: D(2030, 3, 1))
    out = io.StringIO()
    call_command("rebuild_tallies", stdout=out)
    assert out.getvalue() == "没有需要重算的走访活动\n"


# ---------------------------------------------------------------------------------------------- concurrency


def words_of(*days):
    """The expected day words of a 2026 household row, computed apart from tally._word."""
    words = dict.fromkeys(range(6), 0)
    for day in days:
        bit = (day - D(2026, 1, 1)).days
        words[bit // 61] |= 1 << (bit % 61)
    return {i: w for i, w in words.items() if w}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_visits_of_one_household_on_two_days_add_up(vw, on_postgres):
    c = vw.campaign
    staff = street_staff(vw)
    # Pairs of days, fresh each round; some in one word of the bit set, some across two.
    rounds = [
        (D(2026, 4, 1), D(2026, 4, 2)),
        (D(2026, 5, 2), D(2026, 5, 3)),  # bits 121 and 122: words 1 and 2
        (D(2026, 6, 10), D(2026, 8, 10)),
        (D(2026, 7, 2), D(2026, 7, 3)),  # bits 182 and 183: words 2 and 3
        (D(2026, 9, 1), D(2026, 9, 2)),  # bits 243 and 244: words 3 and 4
        (D(2026, 10, 30), D(2026, 11, 2)),
    ]
    for number, (day1, day2) in enumerate(rounds):
        household = make_household(vw.grid_a, f"6{number:02d}", f"住户{number}", 60 + number)
        Assignment.objects.create(campaign=c, household=household, cadre=staff.cadre)
        second = vw.worker_a if number % 2 else staff  # the same cadre twice, or two cadres
        outcomes = race(
            lambda h=household, d=day1: record(vw, vw.worker_a, h, d, start=T(9, 0), end=T(9, 40)),
            lambda h=household, d=day2, by=second: record(vw, by, h, d, start=T(10, 0), end=T(10, 35), card=True),
        )
        assert all(error is None for _, error in outcomes), outcomes
        staff_days = words_of(day2) if second == staff else {}
        assert rows(HouseholdDays, c)[-1] == days_row(c, household, days=words_of(day1, day2), staff=staff_days)
        spans = list(CadreSpan.objects.filter(household=household).values_list("cadre_id", "first_on", "last_on"))
        if second == staff:
            assert sorted(spans) == sorted([(vw.worker_a.cadre.pk, day1, day1), (staff.cadre.pk, day2, day2)])
        else:
            assert spans == [(vw.worker_a.cadre.pk, day1, day2)]
        totals = DayTotal.objects.filter(campaign=c, day__in=[day1, day2]).order_by("day")
        assert list(totals.values_list("day", "visits", "timed", "minutes", "cards")) == [
            (day1, 1, 1, 40, 0), (day2, 1, 1, 35, 1)
        ]  # fmt: skip

    kept = snapshot(c)
    assert len(kept["HouseholdDays"]) == len(rounds)
    assert sum(r["visits"] for r in kept["DayTotal"]) == 2 * len(rounds)
    tally.rebuild(c)
    assert snapshot(c) == kept


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_visits_of_one_community_on_one_day_add_up(vw, on_postgres):
    c = vw.campaign
    for number in range(5):
        day = D(2026, 4, 1) + datetime.timedelta(days=number)
        h1 = make_household(vw.grid_a, f"7{number:02d}", f"甲{number}", 70 + number)
        h2 = make_household(vw.grid_b, f"8{number:02d}", f"乙{number}", 80 + number)
        outcomes = race(
            lambda h=h1, d=day: record(vw, vw.worker_a, h, d, start=T(9, 0), end=T(9, 20), short_reason="居民有事外出"),
            lambda h=h2, d=day: record(vw, vw.worker_b, h, d, start=T(9, 0), end=T(9, 45), card=True),
        )
        assert all(error is None for _, error in outcomes), outcomes
        expected = total_row(c, vw.c1, day, "in_person", visits=2, timed=2, minutes=65, short=1, cards=1)
        assert rows(DayTotal, c)[-1] == expected
    kept = snapshot(c)
    tally.rebuild(c)
    assert snapshot(c) == kept


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_submits_of_one_form_are_tallied_once(vw, on_postgres):
    c = vw.campaign
    for number in range(5):
        day = D(2026, 5, 1) + datetime.timedelta(days=number)
        kwargs = visit_kwargs(key=uuid.uuid4(), visited_on=day)

        def submit(kwargs=kwargs):
            return services.visit_record(household=vw.ha, by=vw.worker_a, campaign=c, **kwargs)

        outcomes = race(submit, submit)
        assert all(error is None for _, error in outcomes), outcomes
        assert sorted(r.created for r, _ in outcomes) == [False, True]
        totals = DayTotal.objects.filter(campaign=c, day=day)
        assert list(totals.values_list("visits", "timed", "minutes", "cards")) == [(1, 1, 40, 1)]
    span = CadreSpan.objects.get(campaign=c, household=vw.ha)
    assert (span.first_on, span.last_on) == (D(2026, 5, 1), D(2026, 5, 5))
    kept = snapshot(c)
    tally.rebuild(c)
    assert snapshot(c) == kept


# ---------------------------------------------------------------------------------------------- the year


def test_a_campaign_with_visits_keeps_its_year(vw):
    campaign = Campaign.objects.get(pk=vw.campaign.pk)
    campaign.year = 2027
    campaign.full_clean()  # no visits yet: may move
    record(vw, vw.worker_a, vw.ha, D(2026, 9, 28))
    campaign = Campaign.objects.get(pk=vw.campaign.pk)
    campaign.year = 2027
    with pytest.raises(ValidationError) as caught:
        campaign.full_clean()
    assert "不能把年度从 2026 年改为 2027 年" in str(caught.value.message_dict["year"])


def test_the_nightly_rebuild_skips_a_campaign_it_cannot_rebuild_and_does_the_others(vw):
    other = Campaign.objects.create(year=2026, name="专项走访", street=vw.campaign.street)
    raw_visit(other, vw.ha, vw.worker_a.cadre, D(2025, 12, 30))  # outside its year: written past every rule
    raw_visit(vw.campaign, vw.hb, vw.worker_b.cadre, D(2026, 9, 1))
    done = tally.rebuild_current(D(2026, 12, 1))
    assert other.pk not in done
    assert done[vw.campaign.pk]["households"] == 1
