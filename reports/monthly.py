"""月度大走访活动入户表: per street and month, one row per active cadre of the street (003: "及时填写
大走访活动入户表,每月底报") — a cadre who did not visit that month is a row of zeros, not missing.

A row counts, for one active cadre in one street and month: the distinct days visited, the
distinct households visited and the visits (``Visit.objects.counted()``: no 未遇, no 回头看
contact), the requests the cadre raised that month and those of the cadre's requests solved that
month. And against the month's target of the campaign's rulebook (``month_targets``; the campaign
is the street's campaign of that month, ``month_campaign``; none — no target columns):

- a leader (tier 1): ``rules.leader_days_per_month`` days and ``rules.leader_households_per_month``
  households — his month as ``visits.targets.leader_months`` counts it (the methods the rulebook
  counts for the leaders' month), 达标 or not (``visits.targets.month_short``, the whole month's
  target) and the shortfall in days and households;
- the others held to a household target: his households still due — the target's households
  (his assigned ones, less those taken over and still in their grace days) not yet done in its
  current period, as ``visits.targets.tallied_figures`` counts them from the tallies (the linked
  cadres' period, else the secretary's 户户到), on the month's last day (today for the running
  month). The tallies stand as they are when the month is built: a month rebuilt later also
  counts the visits made since in the same period.

Built on the 1st for the month before (``reports.tasks``), or by
``manage.py build_monthly_report --month YYYY-MM``, or by the export when the month is missing.

Rebuilding is idempotent: the street's rows of the month are deleted and written fresh in one
transaction, so running twice gives the same rows.
"""

from __future__ import annotations

import datetime

from django.db import transaction
from django.db.models import Count, Q

from core import clock
from households.models import Node, NodeKind, subtree_q
from issues.models import Closure, Issue
from visitplan.models import Assignment, Cadre, Campaign
from visitplan.rulebook import rules_for
from visits import targets
from visits.models import Visit

from .models import MonthlyCadreRow, MonthlyReport

# Closures that count as 解决诉求: solved, answered on the spot, or explained (解疑释惑).
SOLVED_CLOSURES = (Closure.SOLVED, Closure.ON_THE_SPOT, Closure.EXPLAINED)


def month_start(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


def next_month(first: datetime.date) -> datetime.date:
    return (first.replace(day=1) + datetime.timedelta(days=32)).replace(day=1)


def previous_month(day: datetime.date) -> datetime.date:
    """The first day of the month before ``day``'s month: what the job of the 1st builds."""
    return (day.replace(day=1) - datetime.timedelta(days=1)).replace(day=1)


def parse_month(text: str) -> datetime.date:
    """'2026-10' → 2026-10-01; a ValueError with a message the user can read otherwise."""
    try:
        return datetime.datetime.strptime((text or "").strip(), "%Y-%m").date()
    except ValueError:
        raise ValueError(f"月份格式应为 YYYY-MM（如 2026-10）：{text!r}") from None


def month_label(first: datetime.date) -> str:
    return f"{first.year}年{first.month}月"


def build_monthly_report(*, month: datetime.date) -> list[MonthlyReport]:
    """Build (or rebuild) the report of ``month`` for every street; returns them, each with
    ``cadre_rows`` (the rows just written).

    Steps, per street, in one transaction:
    1. get or create the street's MonthlyReport of the month and lock it (a second run waits);
    2. aggregate the month's counted visits in the street by cadre (active cadres only), and list
       every active cadre of the street (a row of zeros for one who did not visit);
    3. aggregate the issues those cadres raised in the month, and those solved in the month;
    4. find each cadre's community from the first two segments of the scope path;
    5. set each cadre against the month's target of the campaign's rulebook (``month_targets``);
    6. delete the report's rows and insert the fresh ones.
    """
    first = month_start(month)
    return [_build_street(street, first) for street in Node.objects.filter(kind=NodeKind.STREET).order_by("path")]


def _build_street(street, first) -> MonthlyReport:
    with transaction.atomic():
        report, _created = MonthlyReport.objects.get_or_create(street=street, month=first)
        report = MonthlyReport.objects.select_for_update().get(pk=report.pk)
        rows = [MonthlyCadreRow(report=report, **values) for values in cadre_rows(street, first)]
        report.rows.all().delete()
        MonthlyCadreRow.objects.bulk_create(rows)
        report.save(update_fields=["built_at"])
    report.street = street
    report.cadre_rows = rows
    return report


def cadre_rows(street, first) -> list[dict]:
    """The rows of ``street`` for the month starting ``first``, as MonthlyCadreRow field values:
    every active cadre of the street (his work node under it), and any other active cadre who
    visited its households that month, zeros included.

    A fixed number of queries whatever the number of cadres: every figure is an aggregate grouped
    by cadre (``month_targets`` adds its own few).
    """
    end = next_month(first)
    counted = (
        Visit.objects.counted()
        .filter(household__street=street, cadre__active=True, visited_on__gte=first, visited_on__lt=end)
        .order_by()
    )
    stats = {
        r["cadre_id"]: r
        for r in counted.values("cadre_id").annotate(
            days=Count("visited_on", distinct=True), households=Count("household_id", distinct=True), n=Count("pk")
        )
    }
    cadres = {
        pk: (tier, path)
        for pk, tier, path in Cadre.objects.filter(subtree_q(street.path, "scope__path") | Q(pk__in=list(stats)))
        .filter(active=True)
        .values_list("pk", "tier", "scope__path")
    }
    if not cadres:
        return []
    # The issue's path is its household's: the street's own requests only, grouped by cadre.
    mine = Issue.objects.filter(path__startswith=street.path + ".", raised_by_cadre__isnull=False).order_by()
    raised = dict(
        mine.filter(registered_on__gte=first, registered_on__lt=end)
        .values_list("raised_by_cadre_id")
        .annotate(n=Count("pk"))
    )
    # Solved on the day answered; an issue closed without an answer date counts on its 销号 day.
    # Either way each issue counts in one month only.
    solved_in_month = Q(answered_on__gte=first, answered_on__lt=end) | Q(
        answered_on__isnull=True, closed_on__gte=first, closed_on__lt=end
    )
    solved = dict(
        mine.filter(solved_in_month, closure__in=SOLVED_CLOSURES)
        .values_list("raised_by_cadre_id")
        .annotate(n=Count("pk"))
    )
    # The street is the root of the tree, so a community's path is the first two segments.
    community_paths = {pk: ".".join(path.split(".")[:2]) for pk, (_tier, path) in cadres.items() if "." in path}
    communities = dict(
        Node.objects.filter(kind=NodeKind.COMMUNITY, path__in=set(community_paths.values())).values_list("path", "pk")
    )
    against = month_targets(street, first, {pk: tier for pk, (tier, _path) in cadres.items()})
    zero = {"days": 0, "households": 0, "n": 0}
    return [
        {
            "cadre_id": cadre_id,
            "community_id": communities.get(community_paths.get(cadre_id)),
            "days_visited": stats.get(cadre_id, zero)["days"],
            "households_visited": stats.get(cadre_id, zero)["households"],
            "visits": stats.get(cadre_id, zero)["n"],
            "issues_raised": raised.get(cadre_id, 0),
            "issues_solved": solved.get(cadre_id, 0),
            **against.get(cadre_id, {}),
        }
        for cadre_id in sorted(cadres)
    ]


def month_campaign(street, first):
    """The street's campaign of the month starting ``first``: the latest one of that year whose
    span (its stages; its year without them) overlaps the month; None when there is none."""
    last = next_month(first) - datetime.timedelta(days=1)
    for campaign in Campaign.objects.filter(street=street, year=first.year).prefetch_related("stages"):
        begins, ends = campaign.span()
        if begins <= last and ends >= first:
            return campaign
    return None


def month_targets(street, first, tiers: dict) -> dict:
    """{cadre id: the target columns of his row} for the cadres of ``tiers`` ({id: tier}) against
    the month's target of the campaign's rulebook (module docstring). Leaders: ``target_days``,
    ``target_households``, ``target_met``, ``short_days``, ``short_households``; the others held to
    the linked target or 户户到: ``households_due``. No campaign that month: nothing."""
    campaign = month_campaign(street, first)
    if campaign is None:
        return {}
    rules = rules_for(campaign)
    last = next_month(first) - datetime.timedelta(days=1)
    out = {}
    leaders = [pk for pk, tier in tiers.items() if targets.MONTH in targets.targets_of(tier, campaign)]
    if leaders:
        months = targets.leader_months(leaders, last, campaign)
        want_days, want_households = rules.leader_days_per_month, rules.leader_households_per_month
        for pk in leaders:
            month = months.get(pk, {"month_days": 0, "month_households": 0})
            days, households = month["month_days"], month["month_households"]
            out[pk] = {
                "target_days": want_days,
                "target_households": want_households,
                "target_met": not targets.month_short(campaign, days, households),
                "short_days": max(0, want_days - days),
                "short_households": max(0, want_households - households),
            }
    held = {
        pk: mine
        for pk, tier in tiers.items()
        if pk not in out and (mine := targets.targets_of(tier, campaign) & {targets.HALF_YEAR, targets.SWEEP})
    }
    if held:
        day = min(last, clock.today())
        assignments = Assignment.objects.filter(campaign=campaign, cadre_id__in=list(held))
        figures = targets.tallied_figures(assignments, campaign=campaign, today=day)
        for pk, mine in held.items():
            f = figures.get(pk)
            if f is None:  # no household assigned to him
                due = 0
            elif targets.HALF_YEAR in mine:
                due = f["assigned"] - f["half_excused"] - f["half_done"]
            else:
                due = f["assigned"] - f["sweep_excused"] - f["sweep_done"]
            out[pk] = {"households_due": max(0, due)}
    return out


def ensure_monthly_report(*, month: datetime.date, today: datetime.date) -> None:
    """Build the month's report if it is missing, or if the month is still running (its figures
    change every day); a finished month already built is left as the job of the 1st wrote it."""
    first = month_start(month)
    if first >= month_start(today) or not MonthlyReport.objects.filter(month=first).exists():
        build_monthly_report(month=first)


def summary_line(report) -> str:
    """One line per street for the command's output: '湖田街道 2026年10月：干部 3 人，……'."""
    rows = getattr(report, "cadre_rows", None)
    if rows is None:
        rows = list(report.rows.all())
    visits, raised, solved = (
        sum(getattr(r, name) for r in rows) for name in ("visits", "issues_raised", "issues_solved")
    )
    return (
        f"{report.street.name} {month_label(report.month)}：干部 {len(rows)} 人，走访 {visits} 次，"
        f"收集诉求 {raised} 件，解决诉求 {solved} 件"
    )
