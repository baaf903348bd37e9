"""The visit targets, counted: the one module that says who is behind (DESIGN.md, "A visit" and
"Who visits whom"). The cadre's page shows these; the leaders' dashboard reads the same functions.

Targets by tier (the campaign documents):

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

What counts is ``Visit.objects.counted()``: a visit that reached the household (not 未遇, not a
回头看 contact). Everything is computed by the database: annotations with EXISTS subqueries and one
aggregate, never a query per household.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, OuterRef, Q, Subquery

from households.models import FocusGroup, Household
from visitplan.allocation import LINK_TIERS
from visitplan.models import Assignment, Tier

from .models import FollowUp, FollowUpStatus, Visit

# DESIGN.md: "each linked household gets at least 2 visits a year from its cadre, at least one in each half-year".
VISITS_PER_YEAR = 2
# DESIGN.md: "focus households (高龄, 孤寡, 卧床, 单亲儿童) are visited weekly by community cadres".
WEEKLY_DAYS = 7
COMMUNITY_TIERS = frozenset({Tier.SECRETARY, Tier.COMMITTEE, Tier.GRID_WORKER})

# How the page colours "last visited" (days since): the forgotten ones stand out.
AGE_BANDS = [(30, "fresh", "近30天"), (90, "aging", "30–90天"), (None, "stale", "超过90天")]


def half_years(year: int):
    """(1–6月, 7–12月) of ``year`` as (first, last) date pairs."""
    return (datetime.date(year, 1, 1), datetime.date(year, 6, 30)), (datetime.date(year, 7, 1), datetime.date(year, 12, 31))


def campaign_day(campaign, today: datetime.date) -> datetime.date:
    """``today`` clamped into the campaign's year, so a past campaign is judged at its end."""
    if today.year > campaign.year:
        return datetime.date(campaign.year, 12, 31)
    if today.year < campaign.year:
        return datetime.date(campaign.year, 1, 1)
    return today


def age_band(last_visit_on, today):
    """(css class, label) for the days since the last visit; never visited is its own band."""
    if last_visit_on is None:
        return "never", "从未走访"
    days = (today - last_visit_on).days
    for limit, css, label in AGE_BANDS:
        if limit is None or days <= limit:
            return css, label
    return AGE_BANDS[-1][1:]  # pragma: no cover - the last band has no limit


def _counted(**filters):
    return Visit.objects.counted().filter(household=OuterRef("pk"), **filters)


def annotate_progress(households, *, cadre, campaign, today):
    """Each household with: ``last_visit_on`` (anyone's), ``my_last_visit_on``, ``visited_by_me``
    (this campaign), ``my_first_half`` / ``my_second_half`` (this year), ``tagged`` (any focus
    group), ``weekly_focus``,
    ``weekly_ok``, ``followup_due`` (on my list) and ``behind`` (see the module docstring)."""
    day = campaign_day(campaign, today)
    year = campaign.year
    h1, h2 = half_years(year)
    week_start = day - datetime.timedelta(days=WEEKLY_DAYS - 1)
    weekly_groups = FocusGroup.objects.filter(weekly_visit=True, households=OuterRef("pk"))
    qs = households.annotate(
        last_visit_on=Subquery(_counted().order_by("-visited_on").values("visited_on")[:1]),
        my_last_visit_on=Subquery(_counted(cadre=cadre).order_by("-visited_on").values("visited_on")[:1]),
        visited_by_me=Exists(_counted(cadre=cadre, campaign=campaign)),
        my_first_half=Exists(_counted(cadre=cadre, visited_on__range=h1)),
        my_second_half=Exists(_counted(cadre=cadre, visited_on__range=h2)),
        visited_by_me_this_year=Exists(_counted(cadre=cadre, visited_on__year=year)),
        tagged=Exists(FocusGroup.objects.filter(households=OuterRef("pk"))),
        weekly_focus=Exists(weekly_groups),
        weekly_ok=Exists(_counted(cadre__tier__in=COMMUNITY_TIERS, visited_on__range=(week_start, day))),
        followup_due=Exists(FollowUp.objects.filter(household=OuterRef("pk"), cadre=cadre, status=FollowUpStatus.DUE)),
    )
    return qs.annotate(behind=ExpressionWrapper(behind_q(cadre, day), output_field=BooleanField()))


def behind_q(cadre, day):
    """Behind on a target of the cadre's tier (see the module docstring), over the annotations of
    ``annotate_progress``; aggregates filter on this Q itself rather than on the ``behind``
    annotation. A tier without household targets (leaders) is never behind per household."""
    parts = []
    if cadre.tier in LINK_TIERS:
        parts.append(Q(my_first_half=False) if day.month <= 6 else Q(my_second_half=False))
    if cadre.tier == Tier.SECRETARY:
        parts.append(Q(visited_by_me_this_year=False))
    if cadre.tier in COMMUNITY_TIERS:
        parts.append(Q(weekly_focus=True, weekly_ok=False))
    if not parts:
        return Q(pk__isnull=True)  # never true: a household always has a pk
    q = parts[0]
    for part in parts[1:]:
        q |= part
    return q


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
    def leader_behind(self):
        if self.month_days is None:
            return False
        return self.month_days < self.month_days_target or self.month_households < self.month_households_target


def cadre_targets(cadre, campaign, *, today, households=None) -> CadreTargets:
    """The cadre's figures against the targets of his tier, in one aggregate query (two for leaders).

    ``households``: the (scoped) households to count; by default those assigned to him."""
    households = assigned_households(cadre, campaign) if households is None else households
    day = campaign_day(campaign, today)
    qs = annotate_progress(households, cadre=cadre, campaign=campaign, today=today)
    current_half = "my_first_half" if day.month <= 6 else "my_second_half"
    figures = qs.aggregate(
        assigned=Count("pk"),
        visited=Count("pk", filter=Q(visited_by_me=True)),
        focus_total=Count("pk", filter=Q(tagged=True)),
        focus_unvisited=Count("pk", filter=Q(tagged=True, visited_by_me=False)),
        behind=Count("pk", filter=behind_q(cadre, day)),
        half_done=Count("pk", filter=Q(**{current_half: True})),
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
        half_label="上半年" if day.month <= 6 else "下半年",
    )
    if cadre.tier in LINK_TIERS:
        targets.half_done, targets.year_done = figures["half_done"], figures["year_done"]
    if cadre.tier == Tier.SECRETARY:
        targets.sweep_done = figures["sweep_done"]
    if cadre.tier in COMMUNITY_TIERS:
        targets.weekly_total, targets.weekly_behind = figures["weekly_total"], figures["weekly_behind"]
    if cadre.tier == Tier.LEADER:
        month = leader_month(cadre, day)
        targets.month_days, targets.month_households = month["days"], month["households"]
        targets.month_days_target = campaign.leader_days_per_month
        targets.month_households_target = campaign.leader_households_per_month
    return targets


def leader_month(cadre, day):
    """Days with visits and households visited by the cadre in ``day``'s calendar month."""
    first = day.replace(day=1)
    return Visit.objects.counted().filter(cadre=cadre, visited_on__range=(first, day)).aggregate(
        days=Count("visited_on", distinct=True), households=Count("household", distinct=True)
    )
