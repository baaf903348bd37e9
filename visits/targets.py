"""The visit targets, counted: the one module that says who is behind (the campaign plan, "a visit" and
"Who visits whom"). The cadre's page (我的包户) and the leaders' dashboard both ask it. Every number
and list is the campaign's rulebook's (``visitplan.rulebook.rules_for``); ``held(campaign)`` says
which tiers hold which target under it.

- **包户干部** (tiers 2, 3, 5, 6 — ``visitplan.allocation.LINK_TIERS``): each linked household one
  counted visit from its cadre in each period of ``rules.link_period``: each half-year (001: "每年
  不少于2次(上半年、下半年至少各1次)"), the year, or the whole campaign (002 / 000: 全覆盖 by the end
  of 集中走访). "Done" = a visit counted for him in the current period (``period``).
- **社区书记** (tier 4) when ``rules.secretary_sweep`` (002: 户户到): every household of the
  community at least once in the year.
- **Weekly focus households** (``rules.weekly_groups``; 004: 高龄老人、孤寡老人、卧床病人、单亲儿童):
  a visit every ``rules.weekly_days`` days from a cadre of ``rules.weekly_tiers`` by one of
  ``rules.weekly_methods`` (004: "两委干部每周至少上门") — held by those tiers.
- **Leaders** (tier 1): ``rules.leader_days_per_month`` days with visits and
  ``rules.leader_households_per_month`` households in the calendar month, by ``rules.leader_methods``
  (003: "每月至少安排10天时间进村入户,走访不少于50户").

What counts at all is ``Visit.objects.counted()``: a visit that reached the household, by a method
the rulebook counts (``Visit.counts``, set by ``visits/rules.py``: 002's phone, WeChat and SMS count
only for households marked 长期在外).

"Behind" is prorated to the day (``prorated``): a cadre is behind a period target when he has done
less than its share of the days gone — on the 6th of a 30-day month a leader owes 2 days and 10
households, not 10 and 50; the linked target of a whole campaign is paced over its 集中走访 stage.
A household still to visit in the period is marked 待走访 (``behind`` per household) all the same.

Households taken over (转给: ``visitplan.allocation.reassign_cadre`` records
``Assignment.taken_over_on`` and ``taken_over_from``). A visit belongs to the household and the
campaign, not to the cadre who made it:

1. **The visits stay with the household.** Every counted visit of the campaign made on or before the
   day he took the household over — by the cadre who left or by any other cadre of the campaign —
   counts for the new holder as his own: for the half-year rule, for 户户到 and for his page's
   已走访. From that day on only his own visits count, as for every other household of his.
2. **Time for the rest.** A household taken over and not yet done for a target (half-year rule: no
   visit counted in the current half-year; 户户到: none this year) stays out of that target —
   neither due nor behind — for ``rules.takeover_grace_days`` (30) days from the day he took it
   over; then it is due like any other (``in_grace``). A household taken over in the last month of a
   half-year thus never makes him 落后 in that half-year, and one taken over earlier gives him a
   month to get round to it — the time a street office gives a newcomer.

The weekly focus visit is the household's whoever holds it (any weekly-tier cadre's visit counts),
and the leaders' month counts the leader's own visits: a takeover changes neither.

Each rule is here once, in two forms that give the same figures:

- per cadre, over the visits (``annotate_progress`` / ``cadre_targets``: the cadre's own page, which
  also marks each household);
- for every cadre at once, over the tallies of ``visits/tally.py`` (``tallied_figures``: the
  leaders' dashboard, at district size) — a cadre's first and last visit of a household answer
  "visited in this half-year" because visits are never dated in the future (``visits/rules.py``);
  the weekly visit, which depends on the method, is read from the few weekly households' visits.
  The dashboard's panel reads its main count from a rollup of those spans per cadre and grid
  (``rolled_up_figures``; visits/rollups.py keeps it, decision 0018).

Both end in ``behind_on``, which turns a cadre's counts into the targets he falls short of.
Everything is computed by the database: annotations and GROUP BY aggregates, never a query per
household or per cadre.
"""

from __future__ import annotations

import datetime
import math
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
    Sum,
    Value,
    When,
)

from households.models import FocusGroup, Household
from visitplan.allocation import LINK_TIERS
from visitplan.models import Assignment, StageKind, Tier
from visitplan.rulebook import METHODS, rules_for

from .models import CadreGridCount, FollowUp, FollowUpStatus, Visit
from .rules import visit_window

# Who visits whom, tier 1: the leaders' month is theirs whatever the rulebook.
LEADER_TIERS = frozenset({Tier.LEADER})

# The targets (see the module docstring); which tiers hold each is the campaign's rulebook's (``held``).
HALF_YEAR, SWEEP, WEEKLY, MONTH = "half_year", "sweep", "weekly", "month"
TARGETS = (HALF_YEAR, SWEEP, WEEKLY, MONTH)
# The targets counted over the cadre's assigned households (the leaders' month counts his visits).
HOUSEHOLD_TARGETS = (HALF_YEAR, SWEEP, WEEKLY)
HALF_LABELS = ("上半年", "下半年")

# How the page colours "last visited" (days since): the forgotten ones stand out.
AGE_BANDS = [(30, "fresh", "近30天"), (90, "aging", "30–90天"), (None, "stale", "超过90天")]


def held(campaign) -> dict[str, frozenset]:
    """{target: the tiers held to it} under the campaign's rulebook."""
    rules = rules_for(campaign)
    return {
        HALF_YEAR: LINK_TIERS,
        SWEEP: frozenset({Tier.SECRETARY}) if rules.secretary_sweep else frozenset(),
        WEEKLY: frozenset(rules.weekly_tiers) if rules.weekly_groups and rules.weekly_days else frozenset(),
        MONTH: LEADER_TIERS if rules.leader_days_per_month or rules.leader_households_per_month else frozenset(),
    }


def targets_of(tier, campaign) -> frozenset[str]:
    """The targets a cadre of ``tier`` is held to in ``campaign``."""
    return frozenset(target for target, tiers in held(campaign).items() if tier in tiers)


def tiers_with(campaign, *targets) -> frozenset[int]:
    """The tiers held to any of ``targets`` (for ``cadre__tier__in`` filters)."""
    tiers = held(campaign)
    return frozenset().union(*(tiers[t] for t in targets))


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


def campaign_day(campaign, today: datetime.date) -> datetime.date:
    """``today`` clamped into the campaign's year, so a past campaign is judged at its end."""
    if today.year > campaign.year:
        return datetime.date(campaign.year, 12, 31)
    if today.year < campaign.year:
        return datetime.date(campaign.year, 1, 1)
    return today


def period(campaign, day: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The linked cadres' current period (``rules.link_period``): the half-year of ``day``, the
    campaign's year, or the whole campaign (its visit window)."""
    rules = rules_for(campaign)
    if rules.link_period == "half_year":
        return half_years(campaign.year)[current_half(day)]
    if rules.link_period == "campaign":
        return visit_window(campaign)
    return datetime.date(campaign.year, 1, 1), datetime.date(campaign.year, 12, 31)


def period_label(campaign, day: datetime.date) -> str:
    link = rules_for(campaign).link_period
    if link == "half_year":
        return HALF_LABELS[current_half(day)]
    return "本次活动" if link == "campaign" else "本年度"


half_label = period_label


def pace_span(campaign, day: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The days the linked target is prorated over: its period, or for a whole-campaign target the
    集中走访 stage (the document's "6月底前 … 全覆盖") when the campaign has one."""
    if rules_for(campaign).link_period == "campaign":
        stage = campaign.stage(StageKind.VISIT)
        if stage is not None:
            return stage.starts_on, stage.ends_on
    return period(campaign, day)


def prorated(target: int, span: tuple[datetime.date, datetime.date], day: datetime.date) -> int:
    """What ``target`` asks by ``day`` when it is due by the end of ``span``: its share of the days
    gone (``day`` included), rounded to the nearest whole (half up) — none before the span, all of it
    from its last day. On the 6th of a 31-day month 10 days ask 2 (1.9) and 50 households 10 (9.7);
    one household due by 31 December is due from mid-October on."""
    first, last = span
    if day >= last:
        return target
    if day < first:
        return 0
    return math.floor(target * ((day - first).days + 1) / ((last - first).days + 1) + 0.5)


def month_span(day: datetime.date) -> tuple[datetime.date, datetime.date]:
    first = day.replace(day=1)
    return first, (first + datetime.timedelta(days=32)).replace(day=1) - datetime.timedelta(days=1)


def week_of(campaign, day: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The last ``rules.weekly_days`` days up to ``day``, both ends included."""
    return day - datetime.timedelta(days=rules_for(campaign).weekly_days - 1), day


def month_short(campaign, days: int, households: int, day: datetime.date | None = None) -> bool:
    """A leader's month below the campaign's days or households, prorated to ``day`` (the whole
    month's target when no day is given)."""
    rules = rules_for(campaign)
    if not rules.pace_targets:
        day = None
    span = month_span(day) if day else None
    want_days = prorated(rules.leader_days_per_month, span, day) if day else rules.leader_days_per_month
    want_households = (
        prorated(rules.leader_households_per_month, span, day) if day else rules.leader_households_per_month
    )
    return days < want_days or households < want_households


def staff_share_short(campaign, visited: int, total: int) -> bool:
    """A community whose households visited by 街道干部 (包村居组) are under the campaign's share
    (tier 3: "at least 30% of the community's households"): a target of the community's street
    staff together, so the dashboard shows it per community."""
    return visited * 100 < rules_for(campaign).street_staff_share * total


def behind_on(tier, *, campaign, day, assigned=0, half_done=0, sweep_done=0, weekly_behind=0, month_days=0,
              month_households=0, half_excused=0, sweep_excused=0) -> list[str]:  # fmt: skip
    """The targets of ``tier`` that a cadre's counts fall short of on ``day``, in ``TARGETS`` order:
    the one test of "behind", for the cadre's page and the leaders' dashboard alike. The counts are
    over his assigned households (``half_done``: visited for him in the current period of the
    linked target, ``sweep_done``: this year, ``weekly_behind``: weekly focus households without a
    weekly visit; ``half_excused`` / ``sweep_excused``: taken over, not yet done and still in their
    grace days, so not due) and his visits this month. Period targets are prorated to ``day``
    (``prorated``): a cadre is behind when he is below the pace, not merely unfinished."""
    year = (datetime.date(campaign.year, 1, 1), datetime.date(campaign.year, 12, 31))
    if not rules_for(campaign).pace_targets:
        day = datetime.date.max  # the whole target, whatever the day
    short = {
        HALF_YEAR: half_done < prorated(assigned - half_excused, pace_span(campaign, day), day),
        SWEEP: sweep_done < prorated(assigned - sweep_excused, year, day),
        WEEKLY: weekly_behind > 0,
        MONTH: month_short(campaign, month_days, month_households, day),
    }
    mine = targets_of(tier, campaign)
    return [target for target in TARGETS if target in mine and short[target]]


def target_words(campaign) -> dict[str, str]:
    """Each target in a cadre's words, under the campaign's rulebook (the cadre's page, the 待办)."""
    rules = rules_for(campaign)
    methods = "、".join(METHODS.get(m, m) for m in rules.weekly_methods)
    leader = "、".join(METHODS.get(m, m) for m in rules.leader_methods)
    return {
        HALF_YEAR: {
            "half_year": "每户每年至少走访2次、上下半年各1次",
            "year": "每户每年至少走访1次",
            "campaign": "本次活动每户至少走访1次（集中走访阶段全覆盖）",
        }[rules.link_period],
        SWEEP: "书记户户到（年内每户至少1次）",
        WEEKLY: f"重点户每周走访（{'、'.join(rules.weekly_groups)}，每{rules.weekly_days}天至少1次，{methods}）",
        MONTH: f"班子成员每月走访{rules.leader_days_per_month}天、{rules.leader_households_per_month}户（{leader}）",
    }


def age_band(last_visit_on, today):
    """(css class, label) for the days since the last visit; never visited is its own band."""
    if last_visit_on is None:
        return "never", "从未走访"
    days = (today - last_visit_on).days
    for limit, css, label in AGE_BANDS:
        if limit is None or days <= limit:
            return css, label
    return AGE_BANDS[-1][1:]  # pragma: no cover - the last band has no limit


def grace_ends_on(campaign, taken_over_on: datetime.date) -> datetime.date:
    """The last day a household taken over on ``taken_over_on`` may still be undone without being due."""
    return taken_over_on + datetime.timedelta(days=rules_for(campaign).takeover_grace_days - 1)


def in_grace_q(campaign, day: datetime.date, field: str = "taken_over_on") -> Q:
    """Taken over less than ``rules.takeover_grace_days`` days before ``day`` (the date at ``field``)."""
    return Q(**{f"{field}__gt": day - datetime.timedelta(days=rules_for(campaign).takeover_grace_days)})


def weekly_groups_q(campaign, field: str = "pk") -> Q:
    """The households in a focus group visited weekly under the rulebook (``rules.weekly_groups``)."""
    groups = FocusGroup.objects.filter(name__in=rules_for(campaign).weekly_groups, households=OuterRef(field))
    return Q(Exists(groups))


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
    rules = rules_for(campaign)
    year = campaign.year
    h1, h2 = half_years(year)
    holding = FilteredRelation("assignments", condition=Q(assignments__campaign=campaign, assignments__cadre=cadre))
    qs = households.alias(holding=holding).annotate(
        taken_over_on=F("holding__taken_over_on"),
        taken_over_from=F("holding__taken_over_from__name"),
    )
    qs = qs.annotate(
        in_grace=Case(
            When(in_grace_q(campaign, day), then=Value(True)), default=Value(False), output_field=BooleanField()
        ),  # fmt: skip
        last_visit_on=Subquery(_counted().order_by("-visited_on").values("visited_on")[:1]),
        my_last_visit_on=Subquery(_counted(cadre=cadre).order_by("-visited_on").values("visited_on")[:1]),
        visited_by_me=Exists(_counted(cadre=cadre, campaign=campaign)),
        visited_by_anyone=Exists(_counted(campaign=campaign)),
        visited_for_me=_for_holder(cadre, campaign),
        my_first_half=_for_holder(cadre, campaign, visited_on__range=h1),
        my_second_half=_for_holder(cadre, campaign, visited_on__range=h2),
        period_done=_for_holder(cadre, campaign, visited_on__range=period(campaign, day)),
        visited_by_me_this_year=_for_holder(cadre, campaign, visited_on__year=year),
        tagged=Exists(FocusGroup.objects.filter(households=OuterRef("pk"))),
        weekly_focus=ExpressionWrapper(weekly_groups_q(campaign), output_field=BooleanField()),
        weekly_ok=Exists(
            _counted(
                campaign=campaign,
                cadre__tier__in=rules.weekly_tiers,
                method__in=rules.weekly_methods,
                visited_on__range=week_of(campaign, day),
            )
        ),  # fmt: skip
        followup_due=Exists(FollowUp.objects.filter(household=OuterRef("pk"), cadre=cadre, status=FollowUpStatus.DUE)),
    )
    return qs.annotate(
        behind=ExpressionWrapper(behind_q(cadre, campaign), output_field=BooleanField()),
        waiting=ExpressionWrapper(waiting_q(cadre, campaign), output_field=BooleanField()),
    )


def behind_q(cadre, campaign):
    """A household still to visit for a household target of the cadre's tier (待走访: not done in
    the current period, not in its grace days; a weekly focus household without its weekly visit),
    over the annotations of ``annotate_progress``; aggregates filter on this Q itself rather than
    on the ``behind`` annotation. A tier without household targets (leaders) has none."""
    mine = targets_of(cadre.tier, campaign)
    parts = []
    if HALF_YEAR in mine:
        parts.append(Q(period_done=False, in_grace=False))
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


def waiting_q(cadre, campaign):
    """A household taken over, not yet done for a household target of the cadre's tier (the linked
    target's period, 户户到) and still in its grace days: not due yet (``annotate_progress``'s ``waiting``)."""
    mine = targets_of(cadre.tier, campaign)
    undone = Q(pk__isnull=True)  # never true
    if HALF_YEAR in mine:
        undone |= Q(period_done=False)
    if SWEEP in mine:
        undone |= Q(visited_by_me_this_year=False)
    return Q(in_grace=True) & undone


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
    # the targets he falls short of (``behind_on``), and each target in words (``target_words``)
    reasons: list = field(default_factory=list)
    words: dict = field(default_factory=dict)
    week_days: int = 7
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
    # what the month asks by today (prorated)
    month_days_pace: int | None = None
    month_households_pace: int | None = None

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
    current = "period_done"
    figures = qs.aggregate(
        assigned=Count("pk"),
        visited=Count("pk", filter=Q(visited_for_me=True)),
        focus_total=Count("pk", filter=Q(tagged=True)),
        focus_unvisited=Count("pk", filter=Q(tagged=True, visited_for_me=False)),
        taken_over=Count("pk", filter=Q(taken_over_on__isnull=False)),
        half_excused=Count("pk", filter=Q(**{current: False}, in_grace=True)),
        sweep_excused=Count("pk", filter=Q(visited_by_me_this_year=False, in_grace=True)),
        behind=Count("pk", filter=behind_q(cadre, campaign)),
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
        half_label=period_label(campaign, day),
        taken_over=figures["taken_over"],
        words=target_words(campaign),
        week_days=rules_for(campaign).weekly_days,
    )
    mine = targets_of(cadre.tier, campaign)
    if HALF_YEAR in mine:
        targets.half_done, targets.year_done = figures["half_done"], figures["year_done"]
        targets.half_excused = figures["half_excused"]
    if SWEEP in mine:
        targets.sweep_done, targets.sweep_excused = figures["sweep_done"], figures["sweep_excused"]
    if WEEKLY in mine:
        targets.weekly_total, targets.weekly_behind = figures["weekly_total"], figures["weekly_behind"]
    month = {}
    if MONTH in mine:
        month = leader_months([cadre.pk], day, campaign).get(cadre.pk, {"month_days": 0, "month_households": 0})
        targets.month_days, targets.month_households = month["month_days"], month["month_households"]
        rules = rules_for(campaign)
        targets.month_days_target = rules.leader_days_per_month
        targets.month_households_target = rules.leader_households_per_month
        span = month_span(day)
        pace_day = day if rules.pace_targets else span[1]
        targets.month_days_pace = prorated(rules.leader_days_per_month, span, pace_day)
        targets.month_households_pace = prorated(rules.leader_households_per_month, span, pace_day)
    targets.reasons = behind_on(cadre.tier, campaign=campaign, day=day, assigned=figures["assigned"], half_done=figures["half_done"],
                                sweep_done=figures["sweep_done"], weekly_behind=figures["weekly_behind"],
                                half_excused=figures["half_excused"], sweep_excused=figures["sweep_excused"], **month)  # fmt: skip
    return targets


# ------------------------------------------------------------------------------ every cadre at once


def leader_months(cadres, day, campaign) -> dict:
    """{cadre id: {"month_days", "month_households"}}: days with visits and households visited by
    each of ``cadres`` (ids or a Cadre queryset) in ``day``'s calendar month, up to ``day``, by the
    methods the rulebook counts for the leaders' month (003: 进村入户 — not a phone call). One
    query over the visits (the leaders are few, and their visits too); a cadre without visits has
    no entry."""
    rows = (
        Visit.objects.counted()
        .filter(
            cadre__in=cadres, visited_on__range=(day.replace(day=1), day), method__in=rules_for(campaign).leader_methods
        )  # fmt: skip
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
    ``behind_on``'s arguments are ready for it. ``rolled_up_figures`` gives the same for the
    dashboard's panel with the first query read from the rollup per cadre and grid."""
    day = campaign_day(campaign, today)
    holding = assignments.filter(cadre__tier__in=tiers_with(campaign, *HOUSEHOLD_TARGETS))
    span, in_half = _span_in_half(campaign)
    now = _in_period(campaign, day, in_half)
    own = Q(taken_over_on__isnull=True)
    rows = (
        holding.alias(span=span)
        .values("cadre_id")
        .annotate(assigned=Count("pk"), taken_over=Count("pk", filter=~own), sweep_done=Count("span__pk", filter=own),
                  half_done=Count("pk", filter=own & now),
                  year_done=Count("pk", filter=own & in_half[0] & in_half[1]))
        .order_by()
    )  # fmt: skip
    return _with_counted(rows, assignments, holding, campaign=campaign, day=day)


def rolled_up_figures(campaign, cadres, communities, *, today) -> dict:
    """``tallied_figures`` of every assignment of the campaign held by ``cadres`` (a Cadre queryset)
    for a household of ``communities`` (ids) — the dashboard's cadre-targets panel — with its main
    count read from the per-grid rollup (``CadreGridCount``, visits/rollups.py; a grid's community
    is its parent): a row per (cadre, grid) instead of every assignment against the spans. The same
    figures; the households taken over and the weekly focus households are counted as there."""
    day = campaign_day(campaign, today)
    tiers = tiers_with(campaign, *HOUSEHOLD_TARGETS)
    assignments = Assignment.objects.filter(
        campaign=campaign, cadre__in=cadres, household__community_id__in=communities
    )
    rows = (
        CadreGridCount.objects.filter(
            campaign=campaign, cadre__in=cadres, cadre__tier__in=tiers, grid__parent_id__in=communities, assigned__gt=0
        )
        .values("cadre_id")
        .annotate(assigned=Sum("assigned"), taken_over=Sum("taken_over"), sweep_done=Sum("sweep"),
                  half_done=Sum(_rolled_up_period(campaign, day)), year_done=Sum("both"))
        .order_by()
    )  # fmt: skip
    return _with_counted(rows, assignments, assignments.filter(cadre__tier__in=tiers), campaign=campaign, day=day)


def _rolled_up_period(campaign, day) -> str:
    """The ``CadreGridCount`` column of "done in the linked target's current period" (``_in_period``)."""
    if rules_for(campaign).link_period == "half_year":
        return ("h1", "h2")[current_half(day)]
    return "sweep"


def _with_counted(rows, assignments, holding, *, campaign, day) -> dict:
    """``tallied_figures``' dict from its main count per cadre (``rows``: the assignments not taken
    over, from the spans or their rollup), with the households taken over and the weekly focus
    households of ``holding`` / ``assignments`` counted from the raw rows."""
    more = {"half_excused": 0, "sweep_excused": 0, "weekly_total": 0, "weekly_behind": 0}
    empty = {"assigned": 0, "taken_over": 0, "sweep_done": 0, "half_done": 0, "year_done": 0, **more}
    figures = {r.pop("cadre_id"): {**r, **more} for r in rows}
    for r in _tallied_taken_over(holding, campaign=campaign, day=day):
        counts = figures.setdefault(r.pop("cadre_id"), dict(empty))
        for key, n in r.items():
            counts[key] += n
    for r in _tallied_weekly(assignments, campaign=campaign, day=day):
        figures.setdefault(r["cadre_id"], dict(empty)).update(
            weekly_total=r["weekly_total"], weekly_behind=r["weekly_behind"]
        )
    return figures


def _in_period(campaign, day, in_half, anything=None):
    """Over the cadre span aliased ``span``: "he visited it in the linked target's current period".
    A half-year by the span's ends (``in_half``); a year or the whole campaign is any visit at all
    (the campaign lies in its year and its visits in its window)."""
    if rules_for(campaign).link_period == "half_year":
        return in_half[current_half(day)]
    return anything if anything is not None else Q(span__pk__isnull=False)


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


def _tallied_taken_over(holding, *, campaign, day):
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
    now = _in_period(campaign, day, done, anything=done_any)
    grace = in_grace_q(campaign, day)
    return (
        holding.filter(taken_over_on__isnull=False)
        .alias(span=span)
        .values("cadre_id")
        .annotate(half_done=Count("pk", filter=now), year_done=Count("pk", filter=done[0] & done[1]),
                  sweep_done=Count("pk", filter=done_any), half_excused=Count("pk", filter=grace & ~now),
                  sweep_excused=Count("pk", filter=grace & ~done_any))
        .order_by()
    )  # fmt: skip


def _tallied_weekly(assignments, *, campaign, day):
    """Per cadre held to the weekly target: his weekly focus households (``rules.weekly_groups``),
    and those without a weekly visit — a counted visit in the last ``weekly_days`` days, by a
    cadre of ``weekly_tiers`` and a method of ``weekly_methods`` (004: 上门, not a WeChat message),
    read from the visits: only the weekly focus households' assignments are read (a few percent)."""
    rules = rules_for(campaign)
    tiers = held(campaign)[WEEKLY]
    if not tiers:
        return []
    this_week = Visit.objects.counted().filter(
        campaign=campaign, household_id=OuterRef("household_id"), cadre__tier__in=rules.weekly_tiers,
        method__in=rules.weekly_methods, visited_on__range=week_of(campaign, day),
    )  # fmt: skip
    return (
        assignments.filter(weekly_groups_q(campaign, "household_id"), cadre__tier__in=tiers)
        .values("cadre_id")
        .annotate(weekly_total=Count("pk"), weekly_behind=Count("pk", filter=~Exists(this_week)))
        .order_by()
    )
