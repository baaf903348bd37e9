"""走访汇总: the tallies the dashboard counts instead of the visits themselves.

At district size (100,000 households, 300,000 visits) every figure of the leaders' dashboard
asked the visits table "has this household been visited in the period, by whom?" — a semi-join
over all visits, several times per page (bench/bench_reports.py). These tables answer it from
one row per household, per cadre-household pair, or per community-day:

- ``HouseholdDays``: a household's visit days in the campaign's year, as bit sets (coverage,
  the 30% of street staff);
- ``CadreSpan``: a cadre's first and last visit of a household (half-year rule, 户户到);
- ``DayTotal``: visits per community, day and method, with their length (the daily chart).

``record`` keeps them as each visit is written, in the visit's transaction (visits/services.py
calls it); every statement is an atomic upsert, so concurrent visits of one household add up.
``record`` also keeps the grid rollups of visits/rollups.py (a household's first counted day; a
cadre's span of a household new or reaching into another half-year), and
``rebuild`` ends with theirs. ``rebuild`` recomputes a campaign's tallies from its visits: after bulk loads (the demo seeder,
the benchmark), when the campaign's year or minimum minutes change (its admin), and nightly
(``visits.tasks.rebuild_tallies``) as a safety net. Which visits count is
``VisitQuerySet.counted`` / ``is_counted``, in one place.
"""

from __future__ import annotations

import datetime
import logging

from django.db import transaction
from django.db.models import Count, F, Max, Min, Q, Sum, Value
from django.db.models.fields import DateField
from django.db.models.functions import Greatest, Least
from django.db.models.lookups import GreaterThan

from visitplan.models import Campaign, Tier
from visitplan.rulebook import rules_for

from . import rollups
from .models import WORD_BITS, WORDS, CadreSpan, DayTotal, HouseholdDays, Purpose, Visit, is_counted
from .rules import recount

BATCH = 2000
log = logging.getLogger(__name__)
DAYS, STAFF = "days", "staff"  # the two bit sets of HouseholdDays: all counted visits, 街道干部's
DAY_WORDS = [f"{DAYS}_{i}" for i in range(WORDS)]
STAFF_WORDS = [f"{STAFF}_{i}" for i in range(WORDS)]


class OutsideYear(ValueError):
    """A visit day outside the campaign's year (the campaign's stages lie inside it)."""


def day_bit(campaign, day: datetime.date) -> int:
    """The 0-based bit of ``day`` in the campaign's bit sets (1 January is 0)."""
    if day.year != campaign.year:
        raise OutsideYear(f"{day} 不在 {campaign.year} 年内")
    return (day - datetime.date(campaign.year, 1, 1)).days


def _word(bit: int) -> tuple[int, int]:
    """(word, bit value inside it) of a day bit."""
    return bit // WORD_BITS, 1 << (bit % WORD_BITS)


def visited_between(prefix: str, campaign, first: datetime.date, last: datetime.date):
    """A condition on HouseholdDays (``prefix`` names its bit set, e.g. "days" or, across a
    relation, "tally__days"): a bit is set between ``first`` and ``last`` (clipped to the
    campaign's year) — (days_k & mask_k) > 0 for the words the range covers."""
    start = max(first, datetime.date(campaign.year, 1, 1))
    end = min(last, datetime.date(campaign.year, 12, 31))
    if end < start:
        return Q(pk__in=[])
    masks = [0] * WORDS
    for bit in range(day_bit(campaign, start), day_bit(campaign, end) + 1):
        word, value = _word(bit)
        masks[word] |= value
    condition = Q()
    for word, mask in enumerate(masks):
        if mask:
            condition |= Q(GreaterThan(F(f"{prefix}_{word}").bitand(mask), 0))
    return condition


# ---------------------------------------------------------------------------------------------- record


def record(visit: Visit, *, household=None, cadre=None, campaign=None) -> None:
    """Add one newly written visit to the tallies (inside the caller's transaction)."""
    if visit.purpose != Purpose.VISIT:
        return
    campaign = campaign or visit.campaign
    household = household or visit.household
    rules = rules_for(campaign)
    timed = visit.method in rules.timed_methods and visit.duration_minutes is not None
    key = {
        "campaign_id": campaign.pk,
        "community_id": household.community_id,
        "day": visit.visited_on,
        "method": visit.method,
    }
    DayTotal.objects.bulk_create([DayTotal(**key)], ignore_conflicts=True)
    DayTotal.objects.filter(**key).update(
        visits=F("visits") + 1,
        timed=F("timed") + int(timed),
        minutes=F("minutes") + (visit.duration_minutes if timed else 0),
        short=F("short") + int(timed and visit.duration_minutes < rules.min_visit_minutes),
        cards=F("cards") + int(visit.card_given),
    )
    if not is_counted(visit):
        return
    word, value = _word(day_bit(campaign, visit.visited_on))
    cadre = cadre or visit.cadre
    mine = {"campaign_id": campaign.pk, "household_id": household.pk}
    HouseholdDays.objects.bulk_create([HouseholdDays(**mine)], ignore_conflicts=True)
    # The bits before, under the row's lock: the grid rollups count a household's first day once.
    before = HouseholdDays.objects.select_for_update().filter(**mine).values_list(*DAY_WORDS, *STAFF_WORDS).get()
    changes = {f"days_{word}": F(f"days_{word}").bitor(value)}
    staff = cadre.tier == Tier.STREET_STAFF
    if staff:
        changes[f"staff_{word}"] = F(f"staff_{word}").bitor(value)
    HouseholdDays.objects.filter(**mine).update(**changes)
    rollups.add_visited(
        campaign.pk, household, visited=not any(before[:WORDS]), by_staff=staff and not any(before[WORDS:])
    )
    pair = {**mine, "cadre_id": cadre.pk}
    day = visit.visited_on
    # The span before (under the household's row lock above): the cadre rollups count a new span, or
    # one reaching into another half-year, for the cadre's own assignment of the household.
    span = CadreSpan.objects.filter(**pair).values_list("first_on", "last_on").first()
    if span is None:
        CadreSpan.objects.bulk_create([CadreSpan(**pair, first_on=day, last_on=day)], ignore_conflicts=True)
    elif not span[0] <= day <= span[1]:
        CadreSpan.objects.filter(**pair).update(
            first_on=Least(F("first_on"), Value(day, output_field=DateField())),
            last_on=Greatest(F("last_on"), Value(day, output_field=DateField())),
        )
    after = (day, day) if span is None else (min(span[0], day), max(span[1], day))
    rollups.span_changed(campaign, household, cadre.pk, span, after)


# ---------------------------------------------------------------------------------------------- rebuild


def rebuild(campaign, *, progress=None) -> dict:
    """Recompute a campaign's tallies from its visits, all or nothing. Holds the campaign row
    FOR UPDATE meanwhile: a visit being written holds a key-share lock on it (its foreign key),
    so the rebuild waits for those in flight and new ones wait for the rebuild (seconds).

    ``progress(step, done, total)``, for a background job's page, at each step: ``("recount", 0,
    0)``, ``("days", 0, 0)``, ``("spans", rows written, 0)``, then ``("households", counted visits
    read, counted visits)`` (the grid rollups are recounted at its end)."""

    def report(step, done=0, total=0):
        if progress is not None:
            progress(step, done, total)

    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        report("recount")
        # whether each visit counts, by the rulebook and the households' marks as they are now
        recount(campaign)
        report("days")
        for model in (DayTotal, CadreSpan, HouseholdDays):
            model.objects.filter(campaign=campaign).delete()
        visits = Visit.objects.filter(campaign=campaign, purpose=Purpose.VISIT)
        rules = rules_for(campaign)
        timed = Q(method__in=rules.timed_methods, duration_minutes__isnull=False)
        days = [
            DayTotal(campaign=campaign, community_id=r["household__community_id"], day=r["visited_on"], method=r["method"],
                     visits=r["n"], timed=r["timed"], minutes=r["minutes"] or 0, short=r["short"], cards=r["cards"])
            for r in visits.values("household__community_id", "visited_on", "method").annotate(
                n=Count("pk"), timed=Count("pk", filter=timed), minutes=Sum("duration_minutes", filter=timed),
                short=Count("pk", filter=timed & Q(duration_minutes__lt=rules.min_visit_minutes)),
                cards=Count("pk", filter=Q(card_given=True)),
            ).order_by()
        ]  # fmt: skip
        DayTotal.objects.bulk_create(days, batch_size=BATCH)
        counted = visits.counted()
        _check_year(campaign, counted)
        report("spans")
        span_count = _insert_select(CadreSpan, campaign, _spans_sql(counted))
        report("spans", span_count)
        visits_counted = counted.count() if progress is not None else 0  # the last step's bar
        report("households", 0, visits_counted)
        household_count = _insert_select(HouseholdDays, campaign, _household_days_sql(campaign, counted))
        report("households", visits_counted, visits_counted)
        rollups.rebuild(campaign)  # the grid rollups of the street (visits/rollups.py), in the last step
    return {"days": len(days), "spans": span_count, "households": household_count}


def _check_year(campaign, counted) -> None:
    """``OutsideYear`` when a counted visit lies outside the campaign's year (``day_bit`` refuses
    it one by one in ``record``; the rebuild asks once)."""
    first, last = datetime.date(campaign.year, 1, 1), datetime.date(campaign.year, 12, 31)
    outside = counted.exclude(visited_on__range=(first, last)).values_list("visited_on", flat=True).first()
    if outside is not None:
        raise OutsideYear(f"{outside} 不在 {campaign.year} 年内")


# The rebuild writes the spans and the visit days with one INSERT … SELECT each: the database groups
# the counted visits (at 1,000,000 households the nightly rebuild read and wrote them row by row in
# Python for most of its minutes). The SELECTs are the ORM's (``counted`` stays the one rule of which
# visits count); only the day's bit is spelled per database, as ``day_bit`` and ``_word`` define it.


def _spans_sql(counted):
    """(household, cadre, first, last) of the counted visits."""
    return (
        counted.values("household_id", "cadre_id")
        .annotate(first=Min("visited_on"), last=Max("visited_on"))
        .order_by()
        .query.sql_with_params()
    )


def _household_days_sql(campaign, counted):
    """(household, days_0 … days_5, staff_0 … staff_5) of the counted visits: each word is the OR of
    its days' bits — the SUM of the distinct bit values, as a bit is a power of two below 2^61."""
    from django.db import connection

    named = counted.values(hh=F("household_id"), day=F("visited_on"), tier=F("cadre__tier")).order_by()
    inner, params = named.query.sql_with_params()
    jan1 = datetime.date(campaign.year, 1, 1).isoformat()
    if connection.vendor == "postgresql":
        bit = "(v.day - %s::date)"
    else:  # SQLite: dates are ISO text
        bit = "CAST(julianday(v.day) - julianday(%s) AS INTEGER)"
    words, word_params = [], []
    for staff_only in (False, True):
        for word in range(WORDS):
            only = f"v.tier = {int(Tier.STREET_STAFF)} AND " if staff_only else ""
            words.append(
                f"SUM(DISTINCT CASE WHEN {only}{bit} / {WORD_BITS} = {word} "
                f"THEN CAST(1 AS BIGINT) << ({bit} %% {WORD_BITS}) ELSE 0 END)"
            )
            word_params += [jan1, jan1]
    sql = f"SELECT v.hh, {', '.join(words)} FROM ({inner}) AS v GROUP BY v.hh"
    return sql, (*word_params, *params)


def _insert_select(model, campaign, select) -> int:
    """INSERT the campaign's rows of ``model`` from ``select`` (its columns after ``campaign``, in
    field order); returns the number of rows."""
    from django.db import connection

    sql, params = select
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({columns}) SELECT %s, s.* FROM ({sql}) AS s",
            (campaign.pk, *params),
        )
        return cursor.rowcount


def rebuild_current(today: datetime.date) -> dict:
    """Rebuild the campaigns of this year and the last (the nightly job). A campaign that cannot
    be rebuilt is logged and skipped, so that it does not hold back the others."""
    done = {}
    for campaign in Campaign.objects.filter(year__gte=today.year - 1, year__lte=today.year):
        try:
            done[campaign.pk] = rebuild(campaign)
        except OutsideYear:
            log.exception("走访汇总：活动 %s 有不在活动年度内的走访记录，未重算", campaign.pk)
    return done
