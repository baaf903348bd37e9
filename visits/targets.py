"""The visit targets, counted: the one module that says who is behind (the campaign plan, "a visit" and
"Who visits whom"). The cadre's page (我的包户) and the leaders' dashboard both ask it.

Targets by tier (the campaign documents; ``TARGET_TIERS`` says which tier has which):

- **包户干部** (tiers 2, 3, 5, 6 — ``visitplan.allocation.LINK_TIERS``): each linked household at
  least ``VISITS_PER_YEAR`` (2) visits a year from its cadre, at least one in each half-year
  (1–6月, 7–12月 of the campaign year). "Behind" = no visit yet in the current half-year.
- **社区书记** (tier 4): 户户到 — every household of the community at least once in the year.
  "Behind" = not yet visited by the secretary this year.
- **Community cadres** (tiers 4, 5, 6): focus households whose group is marked weekly
  (``FocusGroup.weekly_visit``: 高龄老人, 孤寡老人, 卧床病人, 单亲儿童) get a visit from a community
  cadre at least every ``WEEKLY_DAYS`` (7) days. "Behind" = no such visit in the last 7 days.
- **Leaders** (tier 1): ``campaign.leader_days_per_month`` (10) days with visits and
  ``campaign.leader_households_per_month`` (50) households visited in the calendar month.

The household targets are counted over the households assigned to the cadre in the campaign
(包户到人: the allocation gives the secretary every household of his community). What counts is
``Visit.objects.counted()`` of the campaign: a visit that reached the household (not 未遇, not a
回头看 contact).

Households taken over (转给: ``visitplan.allocation.reassign_cadre`` records
``Assignment.taken_over_on`` and ``taken_over_from``). A visit belongs to the household and the
campaign, not to the cadre who made it:

1. **The visits stay with the household.** Every counted visit of the campaign made on or before the
   day he took the household over — by the cadre who left or by any other cadre of the campaign —
   counts for the new holder as his own: for the half-year rule, for 户户到 and for his page's
   已走访. From that day on only his own visits count, as for every other household of his.
2. **Time for the rest.** A household taken over and not yet done for a target (half-year rule: no
   visit counted in the current half-year; 户户到: none this year) stays out of that target —
   neither due nor behind — for ``TAKEOVER_GRACE_DAYS`` (30) days from the day he took it over;
   then it is due like any other (``in_grace``). A household taken over in the last month of a
   half-year thus never makes him 落后 in that half-year, and one taken over earlier gives him a
   month to get round to it — the time a street office gives a newcomer.

The weekly focus visit is the household's whoever holds it (any community cadre's visit counts),
and the leaders' month counts the leader's own visits: a takeover changes neither.

Each rule is here once, in two forms that give the same figures:

- per cadre, over the visits (``annotate_progress`` / ``cadre_targets``: the cadre's own page, which
  also marks each household);
- for every cadre at once, over the tallies of ``visits/tally.py`` (``tallied_figures``: the
  leaders' dashboard, at district size) — a cadre's first and last visit of a household answer
  "visited in this half-year / this week" because visits are never dated in the future
  (``visits/rules.py``).

Both end in ``behind_on``, which turns a cadre's counts into the targets he falls short of.
Everything is computed by the database: annotations and GROUP BY aggregates, never a query per
household or per cadre.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    FilteredRelation,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)

from households.models import FocusGroup, Household
from visitplan.allocation import LINK_TIERS
from visitplan.models import Assignment, Tier

from .models import CadreSpan, FollowUp, FollowUpStatus, Visit

# The campaign plan: "each linked household gets at least 2 visits a year from its cadre, at least one in each half-year".
VISITS_PER_YEAR = 2
# The campaign plan: "focus households (高龄, 孤寡, 卧床, 单亲儿童) are visited weekly by community cadres".
WEEKLY_DAYS = 7
# Households taken over (module docstring): days a household not yet done stays out of his targets.
TAKEOVER_GRACE_DAYS = 30
COMMUNITY_TIERS = frozenset({Tier.SECRETARY, Tier.COMMITTEE, Tier.GRID_WORKER})
# Who visits whom, tier 1: "街道班子成员 … each leader at least 10 days and 50 households a month".
LEADER_TIERS = frozenset({Tier.LEADER})

# The targets (see the module docstring) and the tiers held to each.
HALF_YEAR, SWEEP, WEEKLY, MONTH = "half_year", "sweep", "weekly", "month"
TARGET_TIERS = {
    HALF_YEAR: LINK_TIERS,
    SWEEP: frozenset({Tier.SECRETARY}),
    WEEKLY: COMMUNITY_TIERS,
    MONTH: LEADER_TIERS,
}
# The targets counted over the cadre's assigned households (the leaders' month counts his visits).
HOUSEHOLD_TARGETS = (HALF_YEAR, SWEEP, WEEKLY)
HALF_LABELS = ("上半年", "下半年")

# How the page colours "last visited" (days since): the forgotten ones stand out.
AGE_BANDS = [(30, "fresh", "近30天"), (90, "aging", "30–90天"), (None, "stale", "超过90天")]


def targets_of(tier) -> frozenset[str]:
    """The targets a cadre of ``tier`` is held to."""
    return frozenset(target for target, tiers in TARGET_TIERS.items() if tier in tiers)


def tiers_with(*targets) -> frozenset[int]:
    """The tiers held to any of ``targets`` (for ``cadre__tier__in`` filters)."""
    return frozenset().union(*(TARGET_TIERS[t] for t in targets))


def is_leader(tier) -> bool:
    return tier in LEADER_TIERS


def half_years(year: int):
    """(1–6月, 7–12月) of ``year`` as (first, last) date pairs."""
    first = (datetime.date(year, 1, 1), datetime.date(year, 6, 30))
    second = (datetime.date(year, 7, 1), datetime.date(year, 12, 31))
    return first, second


def current_half(day: datetime.date) -> int:
    """0 for 1–6月, 1 for 7–12月 (the index into ``half_years`` and ``HALF_LABELS``)."""
    return 0 if day.month <= 6 else 1


def half_label(day: datetime.date) -> str:
    return HALF_LABELS[current_half(day)]


def campaign_day(campaign, today: datetime.date) -> datetime.date:
    """``today`` clamped into the campaign's year, so a past campaign is judged at its end."""
    if today.year > campaign.year:
        return datetime.date(campaign.year, 12, 31)
    if today.year < campaign.year:
        return datetime.date(campaign.year, 1, 1)
    return today


def week_of(day: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The last ``WEEKLY_DAYS`` days up to ``day``, both ends included."""
    return day - datetime.timedelta(days=WEEKLY_DAYS - 1), day


def month_short(campaign, days: int, households: int) -> bool:
    """A leader's month below the campaign's days or households."""
    return days < campaign.leader_days_per_month or households < campaign.leader_households_per_month


def staff_share_short(campaign, visited: int, total: int) -> bool:
    """A community whose households visited by 街道干部 (包村居组) are under the campaign's share
    (tier 3: "at least 30% of the community's households"): a target of the community's street
    staff together, so the dashboard shows it per community."""
    return visited * 100 < campaign.street_staff_share * total


def behind_on(tier, *, campaign, assigned=0, half_done=0, sweep_done=0, weekly_behind=0, month_days=0,
              month_households=0, half_excused=0, sweep_excused=0) -> list[str]:  # fmt: skip
    """The targets of ``tier`` that a cadre's counts fall short of, in ``TARGET_TIERS`` order: the
    one test of "behind", for the cadre's page and the leaders' dashboard alike. The counts are
    over his assigned households (``half_done``: visited for him in the current half-year,
    ``sweep_done``: this year, ``weekly_behind``: weekly focus households without a community
    cadre's visit this week; ``half_excused`` / ``sweep_excused``: taken over, not yet done and
    still in their grace days, so not due) and his visits this month."""
    short = {
        HALF_YEAR: half_done < assigned - half_excused,
        SWEEP: sweep_done < assigned - sweep_excused,
        WEEKLY: weekly_behind > 0,
        MONTH: month_short(campaign, month_days, month_households),
    }
    mine = targets_of(tier)
    return [target for target in TARGET_TIERS if target in mine and short[target]]


def age_band(last_visit_on, today):
    """(css class, label) for the days since the last visit; never visited is its own band."""
    if last_visit_on is None:
        return "never", "从未走访"
    days = (today - last_visit_on).days
    for limit, css, label in AGE_BANDS:
        if limit is None or days <= limit:
            return css, label
    return AGE_BANDS[-1][1:]  # pragma: no cover - the last band has no limit


def grace_ends_on(taken_over_on: datetime.date) -> datetime.date:
    """The last day a household taken over on ``taken_over_on`` may still be undone without being due."""
    return taken_over_on + datetime.timedelta(days=TAKEOVER_GRACE_DAYS - 1)


def in_grace_q(day: datetime.date, field: str = "taken_over_on") -> Q:
    """Taken over less than ``TAKEOVER_GRACE_DAYS`` days before ``day`` (the date at ``field``)."""
    return Q(**{f"{field}__gt": day - datetime.timedelta(days=TAKEOVER_GRACE_DAYS)})


# ------------------------------------------------------------------------------ one cadre, over visits


def _counted(**filters):
    return Visit.objects.counted().filter(household=OuterRef("pk"), **filters)


def _for_holder(cadre, campaign, **filters):
    """Counted visits of the campaign (narrowed by ``filters``) that count for the household's
    holder: his own, or anyone's on or before the day he took it over (``taken_over_on``)."""
    own = Exists(_counted(cadre=cadre, campaign=campaign, **filters))
    before = Exists(_counted(campaign=campaign, visited_on__lte=OuterRef("taken_over_on"), **filters))
    # The cheap test first: the second subquery runs for the few households taken over only.
    return ExpressionWrapper(Q(own) | (Q(taken_over_on__isnull=False) & Q(before)), output_field=BooleanField())


def annotate_progress(households, *, cadre, campaign, today):
    """Each household with: ``last_visit_on`` (anyone's), ``my_last_visit_on``, ``visited_by_me``
    (his own visit, this campaign), ``visited_by_anyone`` (anyone's, this campaign),
    ``taken_over_on`` / ``taken_over_from`` (the day he took it over and the name of the cadre he
    took it from, else None), ``in_grace`` (taken over, still within the grace days),
    ``visited_for_me`` / ``my_first_half`` / ``my_second_half`` / ``visited_by_me_this_year``
    (visited this campaign / in each half-year / in its year, counting for him: his visits and
    those before he took it over), ``tagged`` (any focus group), ``weekly_focus``, ``weekly_ok``
    (a community cadre's visit this week), ``followup_due`` (on his list), ``behind`` and
    ``waiting`` (taken over, undone, in its grace days; see the module docstring)."""
    day = campaign_day(campaign, today)
    year = campaign.year
    h1, h2 = half_years(year)
    weekly_groups = FocusGroup.objects.filter(weekly_visit=True, households=OuterRef("pk"))
    holding = FilteredRelation("assignments", condition=Q(assignments__campaign=campaign, assignments__cadre=cadre))
    qs = households.alias(holding=holding).annotate(
        taken_over_on=F("holding__taken_over_on"),
        taken_over_from=F("holding__taken_over_from__name"),
    )
    qs = qs.annotate(
        in_grace=Case(When(in_grace_q(day), then=Value(True)), default=Value(False), output_field=BooleanField()),
        last_visit_on=Subquery(_counted().order_by("-visited_on").values("visited_on")[:1]),
        my_last_visit_on=Subquery(_counted(cadre=cadre).order_by("-visited_on").values("visited_on")[:1]),
        visited_by_me=Exists(_counted(cadre=cadre, campaign=campaign)),
        visited_by_anyone=Exists(_counted(campaign=campaign)),
        visited_for_me=_for_holder(cadre, campaign),
        my_first_half=_for_holder(cadre, campaign, visited_on__range=h1),
        my_second_half=_for_holder(cadre, campaign, visited_on__range=h2),
        visited_by_me_this_year=_for_holder(cadre, campaign, visited_on__year=year),
        tagged=Exists(FocusGroup.objects.filter(households=OuterRef("pk"))),
        weekly_focus=Exists(weekly_groups),
        weekly_ok=Exists(_counted(campaign=campaign, cadre__tier__in=COMMUNITY_TIERS, visited_on__range=week_of(day))),
        followup_due=Exists(FollowUp.objects.filter(household=OuterRef("pk"), cadre=cadre, status=FollowUpStatus.DUE)),
    )
    return qs.annotate(
        behind=ExpressionWrapper(behind_q(cadre, day), output_field=BooleanField()),
        waiting=ExpressionWrapper(waiting_q(cadre, day), output_field=BooleanField()),
    )


def behind_q(cadre, day):
    """A household behind on a household target of the cadre's tier, over the annotations of
    ``annotate_progress``; aggregates filter on this Q itself rather than on the ``behind``
    annotation. A tier without household targets (leaders) is never behind per household."""
    mine = targets_of(cadre.tier)
    parts = []
    if HALF_YEAR in mine:
        parts.append(Q(**{_current_field(day): False}, in_grace=False))
    if SWEEP in mine:
        parts.append(Q(visited_by_me_this_year=False, in_grace=False))
    if WEEKLY in mine:
        parts.append(Q(weekly_focus=True, weekly_ok=False))
    if not parts:
        return Q(pk__isnull=True)  # never true: a household always has a pk
    q = parts[0]
    for part in parts[1:]:
        q |= part
    return q


def waiting_q(cadre, day):
    """A household taken over, not yet done for a household target of the cadre's tier (half-year
    rule, 户户到) and still in its grace days: not due yet (``annotate_progress``'s ``waiting``)."""
    mine = targets_of(cadre.tier)
    undone = Q(pk__isnull=True)  # never true
    if HALF_YEAR in mine:
        undone |= Q(**{_current_field(day): False})
    if SWEEP in mine:
        undone |= Q(visited_by_me_this_year=False)
    return Q(in_grace=True) & undone


def _current_field(day):
    return ("my_first_half", "my_second_half")[current_half(day)]


def assigned_households(cadre, campaign):
    """The households assigned to the cadre in the campaign (包户到人), unscoped: callers scope them."""
    return Household.objects.filter(
        pk__in=Assignment.objects.filter(campaign=campaign, cadre=cadre).values("household_id")
    )


@dataclass
class CadreTargets:
    assigned: int
    visited: int
    focus_total: int
    focus_unvisited: int
    behind: int
    tier: int
    half_label: str
    # households he took over from another cadre (转给), and those still in their grace days per target
    taken_over: int = 0
    half_excused: int = 0
    sweep_excused: int = 0
    # the targets he falls short of (``behind_on``)
    reasons: list = field(default_factory=list)
    # 2 a year, one per half-year (linked tiers)
    half_done: int | None = None
    year_done: int | None = None
    # 户户到 (secretary)
    sweep_done: int | None = None
    # weekly focus (community cadres)
    weekly_total: int | None = None
    weekly_behind: int | None = None
    # leaders' month
    month_days: int | None = None
    month_households: int | None = None
    month_days_target: int | None = None
    month_households_target: int | None = None

    @property
    def percent(self):
        return round(100 * self.visited / self.assigned) if self.assigned else 0

    @property
    def half_due(self):
        """The households the half-year rule holds him to now (taken over, undone, in grace: not yet)."""
        return self.assigned - self.half_excused

    @property
    def sweep_due(self):
        return self.assigned - self.sweep_excused

    @property
    def leader_behind(self):
        return MONTH in self.reasons


def cadre_targets(cadre, campaign, *, today, households=None) -> CadreTargets:
    """The cadre's figures against the targets of his tier, in one aggregate query (two for leaders).

    ``households``: the (scoped) households to count; by default those assigned to him."""
    households = assigned_households(cadre, campaign) if households is None else households
    day = campaign_day(campaign, today)
    qs = annotate_progress(households, cadre=cadre, campaign=campaign, today=today)
    current = _current_field(day)
    figures = qs.aggregate(
        assigned=Count("pk"),
        visited=Count("pk", filter=Q(visited_for_me=True)),
        focus_total=Count("pk", filter=Q(tagged=True)),
        focus_unvisited=Count("pk", filter=Q(tagged=True, visited_for_me=False)),
        taken_over=Count("pk", filter=Q(taken_over_on__isnull=False)),
        half_excused=Count("pk", filter=Q(**{current: False}, in_grace=True)),
        sweep_excused=Count("pk", filter=Q(visited_by_me_this_year=False, in_grace=True)),
        behind=Count("pk", filter=behind_q(cadre, day)),
        half_done=Count("pk", filter=Q(**{current: True})),
        year_done=Count("pk", filter=Q(my_first_half=True, my_second_half=True)),
        sweep_done=Count("pk", filter=Q(visited_by_me_this_year=True)),
        weekly_total=Count("pk", filter=Q(weekly_focus=True)),
        weekly_behind=Count("pk", filter=Q(weekly_focus=True, weekly_ok=False)),
    )
    targets = CadreTargets(
        assigned=figures["assigned"],
        visited=figures["visited"],
        focus_total=figures["focus_total"],
        focus_unvisited=figures["focus_unvisited"],
        behind=figures["behind"],
        tier=cadre.tier,
        half_label=half_label(day),
        taken_over=figures["taken_over"],
    )
    mine = targets_of(cadre.tier)
    if HALF_YEAR in mine:
        targets.half_done, targets.year_done = figures["half_done"], figures["year_done"]
        targets.half_excused = figures["half_excused"]
    if SWEEP in mine:
        targets.sweep_done, targets.sweep_excused = figures["sweep_done"], figures["sweep_excused"]
    if WEEKLY in mine:
        targets.weekly_total, targets.weekly_behind = figures["weekly_total"], figures["weekly_behind"]
    month = {}
    if MONTH in mine:
        month = leader_months([cadre.pk], day).get(cadre.pk, {"month_days": 0, "month_households": 0})
        targets.month_days, targets.month_households = month["month_days"], month["month_households"]
        targets.month_days_target = campaign.leader_days_per_month
        targets.month_households_target = campaign.leader_households_per_month
    targets.reasons = behind_on(cadre.tier, campaign=campaign, assigned=figures["assigned"], half_done=figures["half_done"],
                                sweep_done=figures["sweep_done"], weekly_behind=figures["weekly_behind"],
                                half_excused=figures["half_excused"], sweep_excused=figures["sweep_excused"], **month)  # fmt: skip
    return targets


# ------------------------------------------------------------------------------ every cadre at once


def leader_months(cadres, day) -> dict:
    """{cadre id: {"month_days", "month_households"}}: days with visits and households visited by
    each of ``cadres`` (ids or a Cadre queryset) in ``day``'s calendar month, up to ``day``. One
    query over the visits (the leaders are few, and their visits too); a cadre without visits has
    no entry."""
    rows = (
        Visit.objects.counted()
        .filter(cadre__in=cadres, visited_on__range=(day.replace(day=1), day))
        .values("cadre_id")
        .annotate(month_days=Count("visited_on", distinct=True), month_households=Count("household_id", distinct=True))
        .order_by()
    )
    return {r.pop("cadre_id"): r for r in rows}


def tallied_figures(assignments, *, campaign, today) -> dict:
    """{cadre id: counts} for the cadres of ``assignments`` (the campaign's, scoped by the caller)
    held to a household target: ``assigned``, ``half_done`` (visited for him in the current
    half-year), ``year_done`` (in both), ``sweep_done`` (at all: the campaign lies in its year),
    ``taken_over``, ``half_excused`` / ``sweep_excused`` (taken over, undone, in grace), and for
    community cadres ``weekly_total`` / ``weekly_behind`` — the figures ``cadre_targets`` counts
    over the visits, here from the tallies of visits/tally.py in GROUP BY queries: one over every
    assignment (his own visits of the households he did not take over), one over the few taken
    over (``_tallied_taken_over``), one for the weekly focus households. The counts named like
    ``behind_on``'s arguments are ready for it."""
    day = campaign_day(campaign, today)
    held = assignments.filter(cadre__tier__in=tiers_with(*HOUSEHOLD_TARGETS))
    span, in_half = _span_in_half(campaign)
    own = Q(taken_over_on__isnull=True)
    rows = (
        held.alias(span=span)
        .values("cadre_id")
        .annotate(assigned=Count("pk"), taken_over=Count("pk", filter=~own), sweep_done=Count("span__pk", filter=own),
                  half_done=Count("pk", filter=own & in_half[current_half(day)]),
                  year_done=Count("pk", filter=own & in_half[0] & in_half[1]))
        .order_by()
    )  # fmt: skip
    figures = {
        r.pop("cadre_id"): {**r, "half_excused": 0, "sweep_excused": 0, "weekly_total": 0, "weekly_behind": 0}
        for r in rows
    }
    for r in _tallied_taken_over(held, campaign=campaign, day=day):
        counts = figures[r.pop("cadre_id")]
        for key, n in r.items():
            counts[key] += n
    for r in _tallied_weekly(assignments, campaign=campaign, day=day):
        figures[r["cadre_id"]].update(weekly_total=r["weekly_total"], weekly_behind=r["weekly_behind"])
    return figures


def _span_in_half(campaign):
    """The assignment's cadre's span of its household (a FilteredRelation to alias as ``span``),
    and the conditions "he visited it in 1–6月" / "in 7–12月": his first visit is in 1–6月 iff it
    is on or before 30 June; his last in 7–12月 iff on or after 1 July."""
    h1, h2 = half_years(campaign.year)
    span = FilteredRelation(
        "household__cadre_spans",
        condition=Q(household__cadre_spans__campaign=campaign, household__cadre_spans__cadre=F("cadre_id")),
    )
    return span, (Q(span__first_on__lte=h1[1]), Q(span__last_on__gte=h2[0]))


def _tallied_taken_over(held, *, campaign, day):
    """Per cadre, over the households he took over (a partial index finds them: a few per
    thousand): those done for him (his span, or anyone's counted visit on or before the takeover
    — read from the visits, for these rows only) per half-year and at all, and those still in
    their grace days and undone (module docstring)."""
    span, in_half = _span_in_half(campaign)

    def before(half):
        visits = Visit.objects.counted().filter(campaign=campaign, household=OuterRef("household_id"),
                                                visited_on__range=half, visited_on__lte=OuterRef("taken_over_on"))  # fmt: skip
        return Q(Exists(visits))

    h1, h2 = half_years(campaign.year)
    done = (in_half[0] | before(h1), in_half[1] | before(h2))
    done_any = Q(span__pk__isnull=False) | before(h1) | before(h2)
    now = done[current_half(day)]
    grace = in_grace_q(day)
    return (
        held.filter(taken_over_on__isnull=False)
        .alias(span=span)
        .values("cadre_id")
        .annotate(half_done=Count("pk", filter=now), year_done=Count("pk", filter=done[0] & done[1]),
                  sweep_done=Count("pk", filter=done_any), half_excused=Count("pk", filter=grace & ~now),
                  sweep_excused=Count("pk", filter=grace & ~done_any))
        .order_by()
    )  # fmt: skip


def _tallied_weekly(assignments, *, campaign, day):
    """Per community cadre: his weekly focus households, and those without a community cadre's
    visit this week. A cadre span (first, last) holds a visit in the week when it starts by ``day``
    and ends in the week: no visit is dated after today, and ``day`` is today or the end of the
    campaign's year. Only the weekly focus households' assignments are read (a few percent)."""
    week_first, _ = week_of(day)
    weekly = Household.tags.through.objects.filter(household_id=OuterRef("household_id"), focusgroup__weekly_visit=True)
    this_week = CadreSpan.objects.filter(campaign=campaign, household_id=OuterRef("household_id"),
                                         cadre__tier__in=COMMUNITY_TIERS, first_on__lte=day, last_on__gte=week_first)  # fmt: skip
    return (
        assignments.filter(Exists(weekly), cadre__tier__in=TARGET_TIERS[WEEKLY])
        .values("cadre_id")
        .annotate(weekly_total=Count("pk"), weekly_behind=Count("pk", filter=~Exists(this_week)))
        .order_by()
    )
