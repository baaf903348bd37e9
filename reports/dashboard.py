"""The leaders' dashboard: every figure, computed by the database (for the leaders: the
leader reads coverage, on-time closure, overdue list, satisfaction, score per community, who is
behind). Views and the summary page call ``build``; each panel is a fixed number of queries,
whatever the number of communities, grids or cadres — aggregates with GROUP BY, never a query
per row. The rules counted here live elsewhere and are only read: the visit targets in
``visits/targets.py``, deadlines in ``issues/deadlines.py``, the score in ``reports/scoring.py``.

Scope: ``Household/Issue/FollowUp/Visit.objects.visible_to(user)`` and the communities of
``Node.objects.visible_to(user, ancestors=False)`` — a community secretary sees his community and
its grids, the street sees every community.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, F, FilteredRelation, OuterRef, Q, Sum
from django.db.models.functions import Coalesce

from households.models import FocusGroup, Household, Node, NodeKind
from issues import workdays
from issues.models import OPEN_STATUSES, Category, Closure, Issue, IssueCount, Status, Timeliness, overdue_q
from visitplan.models import Cadre, Tier
from visitplan.rulebook import rules_for
from visits import tally, targets
from visits.models import (
    DayTotal,
    FollowUpCount,
    GridCount,
    GridVisited,
    GroupCount,
    GroupVisited,
    HouseholdDays,
    Satisfaction,
    VisitMethod,
)

from . import scoring

OVERDUE_LIST = 20
BEHIND_LIST = 15


@dataclass
class Period:
    campaign: object
    first: datetime.date
    last: datetime.date

    @classmethod
    def of(cls, campaign, *, start=None, end=None, today):
        first, last = campaign.span()
        last = min(last, max(today, first))
        start = max(first, start) if start else first
        end = min(last, end) if end else last
        return cls(campaign=campaign, first=start, last=max(start, end))


def pct(part, whole):
    return round(100 * part / whole, 1) if whole else 0.0


def _seen(period, field):
    """The bit set at ``field`` (visits/tally.py) has a counted visit in the period."""
    return tally.visited_between(field, period.campaign, period.first, period.last)


def visited(period, household="pk"):
    """EXISTS a counted visit of the campaign in the period, for the household at ``household``
    (an OuterRef path): its row of visit days (visits/tally.py), not the visits."""
    days = HouseholdDays.objects.filter(campaign=period.campaign, household=OuterRef(household))
    return Exists(days.filter(_seen(period, tally.DAYS)))


# ---------------------------------------------------------------------------------------- coverage


def coverage(user, period, communities, *, groups=True):
    """不漏一户: visited / total per community and grid (with the households street staff visited,
    for their 30%) and per focus group (``groups=False``: none, as the district page reads it).

    From the grid rollups (visits/rollups.py, decision 0018) when the period holds every visit
    of the campaign — the dashboard's default period does, since visits are never dated in the
    future — so that "visited in the period" is "visited at all": a fixed number of queries over
    a few rows per grid (``_rolled_up``). A narrower period counts the households (``_counted``)."""
    if _whole_campaign(period):
        return _rolled_up(user, period, communities, groups=groups)
    return _counted(user, period, communities, groups=groups)


def _whole_campaign(period) -> bool:
    """No visit of the campaign outside the period (its day totals, visits/tally.py; one query)."""
    outside = DayTotal.objects.filter(campaign=period.campaign, visits__gt=0).exclude(
        day__range=(period.first, period.last)
    )
    return not outside.exists()


def _scoped_communities(user, communities):
    """``communities`` as far as the reader sees them (a subquery): each is wholly his, so the
    rollups of its grids are his households' (``scope_communities``)."""
    return scope_communities(user).filter(pk__in=communities).values("pk")


def _rolled_up(user, period, communities, *, groups=True):
    """``coverage`` from the grid rollups: households and visited per grid (two queries), the
    names (one), per focus group (two) and the groups' names (one) unless ``groups`` is False."""
    grids = Q(grid__parent_id__in=_scoped_communities(user, communities))
    totals = GridCount.objects.filter(grids, households__gt=0).values_list("grid_id", "grid__parent_id", "households")
    seen = {
        r[0]: r[1:]
        for r in GridVisited.objects.filter(grids, campaign=period.campaign).values_list(
            "grid_id", "visited", "by_staff"
        )
    }
    rows = [
        {"community_id": community, "grid_id": grid, "total": n, "visited": seen.get(grid, (0, 0))[0],
         "by_staff": seen.get(grid, (0, 0))[1]}
        for grid, community, n in totals
    ]  # fmt: skip
    if not groups:
        return _coverage_figures(period, rows, None)
    group_totals = GroupCount.objects.filter(grids).values("group_id").annotate(n=Sum("households")).order_by()
    group_seen = dict(
        GroupVisited.objects.filter(grids, campaign=period.campaign)
        .values("group_id")
        .annotate(n=Sum("visited"))
        .order_by()
        .values_list("group_id", "n")
    )
    counts = {
        r["group_id"]: {"total": r["n"], "visited": group_seen.get(r["group_id"], 0)} for r in group_totals if r["n"]
    }
    return _coverage_figures(period, rows, counts)


def _counted(user, period, communities, *, groups=True):
    """``coverage`` counted over the households: per community and grid (one query, which also
    counts the households street staff visited), per focus group (one, unless ``groups`` is False),
    and the names (two).

    Grouped by ids and named afterwards: grouping by the nodes' names and paths sorted all
    100,000 households on disk before aggregating them (bench/bench_reports.py)."""
    households = Household.objects.visible_to(user).filter(community_id__in=communities)
    campaign = period.campaign
    rows = list(
        households.alias(tally=FilteredRelation("visit_days", condition=Q(visit_days__campaign=campaign)))
        .values("community_id", "grid_id")
        .annotate(total=Count("pk"), visited=Count("pk", filter=_seen(period, "tally__" + tally.DAYS)),
                  by_staff=Count("pk", filter=_seen(period, "tally__" + tally.STAFF)))
        .order_by()
    )  # fmt: skip
    if not groups:
        return _coverage_figures(period, rows, None)
    tagged = Household.tags.through.objects.filter(household__in=households).annotate(
        was_visited=visited(period, household="household_id")
    )
    counts = {
        r["focusgroup_id"]: r
        for r in tagged.values("focusgroup_id").annotate(
            total=Count("pk"), visited=Count("pk", filter=Q(was_visited=True))
        )
    }
    return _coverage_figures(period, rows, counts)


def _coverage_figures(period, rows, counts):
    """The coverage panel from the per grid rows (community, grid, total, visited, by_staff) and
    the per focus group counts ({group id: {total, visited}}; None: no groups, no query for them)."""
    nodes = Node.objects.in_bulk({r["community_id"] for r in rows} | {r["grid_id"] for r in rows})
    rows.sort(key=lambda r: (nodes[r["community_id"]].path, nodes[r["grid_id"]].path))
    by_community = {}
    for r in rows:
        community = nodes[r["community_id"]]
        c = by_community.setdefault(community.pk, {"id": community.pk, "name": community.name, "path": community.path,
                                                   "total": 0, "visited": 0, "by_staff": 0, "grids": []})  # fmt: skip
        c["total"] += r["total"]
        c["visited"] += r["visited"]
        c["by_staff"] += r["by_staff"]
        c["grids"].append({"id": r["grid_id"], "name": nodes[r["grid_id"]].name, "total": r["total"], "visited": r["visited"],
                           "unvisited": r["total"] - r["visited"], "pct": pct(r["visited"], r["total"])})  # fmt: skip
    for c in by_community.values():
        c["pct"] = pct(c["visited"], c["total"])
        c["unvisited"] = c["total"] - c["visited"]
    total = sum(c["total"] for c in by_community.values())
    done = sum(c["visited"] for c in by_community.values())
    # the groups the campaign's leaders visit first (its rulebook: 002's 五个重点访, 000's list …)
    first = set(rules_for(period.campaign).leader_groups)
    groups = [
        {"id": g["id"], "name": g["name"], "key": g["name"] in first, "total": counts[g["id"]]["total"],
         "visited": counts[g["id"]]["visited"]}
        for g in (FocusGroup.objects.order_by("order", "id").values("id", "name") if counts is not None else ())
        if g["id"] in counts
    ]  # fmt: skip
    for g in groups:
        g["pct"] = pct(g["visited"], g["total"])
        g["unvisited"] = g["total"] - g["visited"]
    return {"total": total, "visited": done, "pct": pct(done, total), "unvisited": total - done,
            "communities": list(by_community.values()), "groups": groups}  # fmt: skip


# ---------------------------------------------------------------------------------------- visits


def visit_activity(user, period, communities):
    """Visits per day by method, with the length figures: the day totals of the communities
    (visits/tally.py), one GROUP BY (day, method), summed here (a few hundred rows). The
    communities are the user's (``scope_communities``)."""
    minimum = rules_for(period.campaign).min_visit_minutes
    rows = list(
        DayTotal.objects.filter(
            campaign=period.campaign, community_id__in=communities, day__range=(period.first, period.last)
        )
        .values("day", "method")
        .annotate(n=Sum("visits"), timed=Sum("timed"), minutes=Sum("minutes"), short=Sum("short"), cards=Sum("cards"))
        .order_by("day", "method")
    )
    for r in rows:
        r["visited_on"] = r["day"]
    days = sorted({r["visited_on"] for r in rows})
    methods = [m for m, _ in VisitMethod.choices]
    index = {d: i for i, d in enumerate(days)}
    series = {m: [0] * len(days) for m in methods}
    for r in rows:
        series[r["method"]][index[r["visited_on"]]] = r["n"]
    timed_count = sum(r["timed"] for r in rows)
    short = sum(r["short"] for r in rows)
    return {
        "days": [d.isoformat() for d in days],
        "series": [{"method": m, "label": VisitMethod(m).label, "data": series[m]} for m in methods if any(series[m])],
        "count": sum(r["n"] for r in rows),
        "not_home": sum(r["n"] for r in rows if r["method"] == VisitMethod.NOT_HOME),
        "cards": sum(r["cards"] for r in rows),
        "avg_minutes": round(sum(r["minutes"] or 0 for r in rows) / timed_count, 1) if timed_count else 0,
        "short": short,
        "short_pct": pct(short, timed_count),
        "min_minutes": minimum,
    }


# ---------------------------------------------------------------------------------------- targets


def cadre_targets(user, period, communities, *, today, covered=None):
    """Who is behind, by name: street staff' 30% per community, and every cadre against the targets
    of his tier — the linked cadres' half-year visit, secretaries' 户户到, community cadres' weekly
    focus visits, leaders' month. The rules and the counting are ``visits.targets``' (the cadre's
    own page asks the same): here they are only laid out. A fixed number of queries. ``covered`` is
    the coverage panel when the caller has it (its rows count the street staff' households too)."""
    campaign = period.campaign
    day = targets.campaign_day(campaign, today)
    cadres = Cadre.objects.visible_to(user).filter(active=True)

    # 街道干部 ≥ 30% of each community: households visited by tier-3 cadres this campaign (the
    # coverage query counts them).
    staff_rows = (covered or coverage(user, period, communities))["communities"]
    staff_names = {}
    for c in cadres.filter(tier=Tier.STREET_STAFF, takes_households=True).values("name", "scope__path"):
        staff_names.setdefault(".".join(c["scope__path"].split(".")[:2]), []).append(c["name"])
    street_staff = []
    for r in staff_rows:
        street_staff.append({"community": r["name"], "community_id": r["id"], "pct": pct(r["by_staff"], r["total"]),
                             "visited": r["by_staff"], "total": r["total"],
                             "behind": targets.staff_share_short(campaign, r["by_staff"], r["total"]),
                             "names": staff_names.get(r["path"], [])})  # fmt: skip

    # Every cadre: his households' figures from the rollup per cadre and grid and the few taken over
    # (visits/rollups.py, decision 0018; three queries), the leaders' month from their visits (one),
    # the names (one). The households are those of ``communities``.
    counts = targets.rolled_up_figures(campaign, cadres, communities, today=today)
    leaders = cadres.filter(tier__in=targets.LEADER_TIERS)
    months = targets.leader_months(leaders, day, campaign)
    secretaries = cadres.filter(tier__in=targets.tiers_with(campaign, targets.SWEEP), scope_id__in=communities)
    named = cadres.filter(Q(pk__in=list(counts)) | Q(pk__in=leaders) | Q(pk__in=secretaries)).values(
        "pk", "name", "tier", "unit", "position", "department__name", "scope_id", "scope__name"
    )
    rows = [
        _cadre_row(c, campaign, day, counts.get(c["pk"], {}), months.get(c["pk"], {})) for c in named
    ]  # by tier, scope
    linked = [r for r in rows if targets.HALF_YEAR in r["targets"]]
    behind = sorted(
        (r for r in rows if r["reasons"]), key=lambda r: (r["pct"], -r["assigned"], r["cadre__name"], r["cadre_id"])
    )
    rules = rules_for(campaign)
    return {
        "share": rules.street_staff_share,
        "street_staff": street_staff,
        "secretaries": [r for r in rows if targets.SWEEP in r["targets"]],
        "leaders": [r for r in rows if targets.is_leader(r["cadre__tier"])],
        "leader_days": rules.leader_days_per_month,
        "leader_households": rules.leader_households_per_month,
        "half_label": targets.period_label(campaign, day),
        "link_period": rules.link_period,
        "linked_total": sum(r["assigned"] for r in linked),
        "linked_now": sum(r["now"] for r in linked),
        "linked_both": sum(r["both"] for r in linked),
        "weekly_cadres": sum(1 for r in rows if targets.WEEKLY in r["reasons"]),
        "behind": behind,
        "behind_count": len(behind),
        "week_days": rules.weekly_days,
        "grace_days": rules.takeover_grace_days,
    }


def _cadre_row(cadre, campaign, day, counts, month):
    """One cadre's line: his counts, the targets he falls short of (``visits.targets.behind_on``),
    and ``pct``, how far along his main target is (the behind list puts the lowest first)."""
    tier = cadre["tier"]
    mine = targets.targets_of(tier, campaign)
    f = {"assigned": 0, "half_done": 0, "year_done": 0, "sweep_done": 0, "weekly_total": 0, "weekly_behind": 0,
         "month_days": 0, "month_households": 0, "taken_over": 0, "half_excused": 0, "sweep_excused": 0, **counts,
         **month}  # fmt: skip
    reasons = targets.behind_on(tier, campaign=campaign, day=day, assigned=f["assigned"], half_done=f["half_done"],
                                sweep_done=f["sweep_done"], weekly_behind=f["weekly_behind"], month_days=f["month_days"],
                                month_households=f["month_households"], half_excused=f["half_excused"],
                                sweep_excused=f["sweep_excused"])  # fmt: skip
    # Households taken over and still in their grace days are not due yet (visits/targets.py).
    half_due, sweep_due = f["assigned"] - f["half_excused"], f["assigned"] - f["sweep_excused"]
    if targets.HALF_YEAR in mine:
        done = pct(f["half_done"], half_due) if half_due or not f["assigned"] else 100.0
    elif targets.SWEEP in mine:
        done = pct(f["sweep_done"], sweep_due) if sweep_due or not f["assigned"] else 100.0
    elif targets.MONTH in mine:
        rules = rules_for(campaign)
        done = min(pct(f["month_days"], rules.leader_days_per_month),
                   pct(f["month_households"], rules.leader_households_per_month), 100.0)  # fmt: skip
    else:
        done = 100.0
    return {"cadre_id": cadre["pk"], "cadre__name": cadre["name"], "name": cadre["name"], "cadre__tier": tier,
            "tier_label": Tier(tier).label, "cadre__unit": cadre["unit"], "cadre__department__name": cadre["department__name"],
            "position": cadre["position"], "community": cadre["scope__name"], "targets": mine,
            "assigned": f["assigned"], "now": f["half_done"], "both": f["year_done"], "visited": f["sweep_done"],
            "half_due": half_due, "sweep_due": sweep_due, "taken_over": f["taken_over"],
            "half_excused": f["half_excused"], "sweep_excused": f["sweep_excused"],
            "weekly_total": f["weekly_total"], "weekly_behind": f["weekly_behind"], "days": f["month_days"],
            "households": f["month_households"], "pct": done, "reasons": reasons, "behind": bool(reasons)}  # fmt: skip


# ---------------------------------------------------------------------------------------- issues


# The issue figures by name: each is a filter over the period's issues (``period_issues``); the
# dashboard counts them and the rows page behind each figure lists them, so a figure and its rows
# cannot disagree.
ISSUE_FIGURES = {
    "total": "收集诉求",
    "open": "在办诉求",
    "overdue": "逾期诉求",
    "plan_due": "应报方案",
    "plan_on_time": "按时上报方案",
    "close_due": "应办结",
    "close_on_time": "按时办结",
    "merged": "合并重复诉求",
    "on_the_spot": "现场答复",
}
# A rate's rows: the figure it divides by, and the figure of the rows on time.
ISSUE_RATES = {"plan_due": "plan_on_time", "close_due": "close_on_time"}


def answered_q():
    """Closed with the answer to the resident (办结; merged ones are their target's): what the
    on-time closure divides by (also reports/evaluation.py)."""
    return Q(answered_on__isnull=False) & ~Q(status=Status.MERGED)


def issue_figure_q(figure, *, today) -> Q:
    """The filter of one figure of ``ISSUE_FIGURES`` (``Q()`` for every issue of the period)."""
    if figure == "total":
        return Q()
    if figure == "open":
        return Q(status__in=OPEN_STATUSES)
    if figure == "overdue":
        return overdue_q(today)
    if figure == "plan_due":
        # Those that needed a plan (routed to a department) and whose plan is posted or late.
        return Q(plan_posted_on__isnull=False) | Q(
            plan_due_on__lt=today, status__in=OPEN_STATUSES, department__isnull=False
        )
    if figure == "plan_on_time":
        return Q(plan_posted_on__isnull=False, plan_posted_on__lte=F("plan_due_on"))
    if figure == "close_due":
        return answered_q() | Q(due_on__lt=today, status__in=OPEN_STATUSES)
    if figure == "close_on_time":
        return answered_q() & Q(answered_on__lte=F("due_on"))
    if figure == "merged":
        return Q(status=Status.MERGED)
    if figure == "on_the_spot":
        return Q(closure=Closure.ON_THE_SPOT)
    raise ValueError(f"unknown issue figure: {figure}")


def period_issues(user, period, communities):
    """The issues every issue figure counts: registered in the period, in the reader's communities."""
    return Issue.objects.visible_to(user).filter(
        registered_on__range=(period.first, period.last), community_id__in=communities
    )


def issue_rows(user, period, communities, figure, *, today, status=None, category=None):
    """The issues behind one figure (``ISSUE_FIGURES``), narrowed to a status or a category as the
    charts are; for a rate (``ISSUE_RATES``) each row carries ``on_time``."""
    rows = period_issues(user, period, communities).filter(issue_figure_q(figure, today=today))
    if status:
        rows = rows.filter(status=status)
    if category:
        rows = rows.filter(category=category)
    if figure in ISSUE_RATES:
        on_time = issue_figure_q(ISSUE_RATES[figure], today=today)
        rows = rows.annotate(on_time=ExpressionWrapper(on_time, output_field=BooleanField()))
    return rows


def issue_figures(user, period, communities, *, today, listed=True):
    """Issues of the period: by category and status, on time, overdue now, working days to close.

    From the issue counts per campaign and community (issues/rollups.py, decision 0018) when the
    period holds every issue its campaign counts (``_issues_in_campaign``) — the default period
    does, since issues are never registered in the future — plus what depends on ``today`` counted
    over the open issues only (``_open_figures``): a fixed number of queries whose cost follows the
    communities and the open issues, not the history. Otherwise counted over the period's issues
    (``_counted_issues``): exact, and as slow as it was. Either way one query lists the overdue
    (``listed=False``: no list, as the district page reads it)."""
    issues = period_issues(user, period, communities)
    calendar = workdays.current_calendar()
    if _issues_in_campaign(period, communities):
        f, by_status, by_category, spent, weight = _rolled_up_issues(user, period, communities)
        _add_late(f, _open_figures(issues, today=today))
    else:
        f, by_status, by_category, spent, weight = _counted_issues(issues, today=today, calendar=calendar)
    overdue = (
        list(
            issues.filter(overdue_q(today))
            .select_related("community", "household", "department")
            .order_by("due_on", "plan_due_on", "id")[:OVERDUE_LIST]
        )
        if listed
        else []
    )
    for issue in overdue:
        deadline = issue.due_on if issue.due_on and issue.due_on < today else issue.plan_due_on
        issue.days_over = -calendar.working_days_between(today, deadline) if deadline else 0
    return _issue_panel(f, by_status, by_category, spent, weight, overdue)


def _add_late(f, late):
    """The rolled-up figures ``f`` with what ``_open_figures`` counted on the day (``late``)."""
    f["overdue"] = late["overdue"]
    f["plan_due"] += late["plan_late"]
    f["close_due"] += late["close_late"]
    return f


def _issue_panel(f, by_status, by_category, spent, weight, overdue):
    """The issue panel from its counts (``_rolled_up_issues`` / ``_counted_issues``)."""
    order = {k: n for n, k in enumerate(Category.values)}
    return {
        **f,
        "plan_pct": pct(f["plan_on_time"], f["plan_due"]),
        "close_pct": pct(f["close_on_time"], f["close_due"]),
        "avg_days": round(spent / weight, 1) if weight else 0,
        "by_status": [
            {"key": k, "label": Status(k).label, "n": by_status[k]} for k, _ in Status.choices if by_status.get(k)
        ],
        "by_category": sorted(
            ({"key": k, "label": Category(k).label, "n": n} for k, n in by_category.items() if n),
            key=lambda c: (-c["n"], order[c["key"]]),
        ),
        "overdue_list": overdue,
    }


def _issues_in_campaign(period, communities) -> bool:
    """The period's issues of ``communities`` are the rows of its campaign in the issue counts:
    every community is of the campaign's street, and none of their issues registered within the
    campaign's span lies outside the period (one query)."""
    campaign = period.campaign
    first, last = campaign.span()
    foreign = Node.objects.filter(pk__in=communities).exclude(parent_id=campaign.street_id)
    found = Q(Exists(foreign))
    # The days of the span outside the period, as ranges on the registration day (index scans):
    # after the day read while the campaign runs, before the period's start when one is chosen.
    for days in ((first, period.first - datetime.timedelta(days=1)), (period.last + datetime.timedelta(days=1), last)):
        if days[0] <= days[1]:
            found |= Q(Exists(Issue.objects.filter(community_id__in=communities, registered_on__range=days)))
    return not Node.objects.filter(pk=campaign.street_id).filter(found).exists()


def _rolled_up_issues(user, period, communities):
    """(figures, by status, by category, working days to close, answered) of the period from the
    issue counts (one query), ``overdue`` and the late part of 应报方案 / 应办结 left to
    ``_open_figures``: each figure is ``issue_figure_q`` read on the counts' key."""
    rows = (
        IssueCount.objects.filter(campaign=period.campaign, community_id__in=_scoped_communities(user, communities))
        .values("status", "category", "closure", "plan_state", "answer_state")
        .annotate(n=Sum("n"), days=Sum("close_days"))
        .order_by()
    )
    return _fold_issue_counts(rows)


def _fold_issue_counts(rows):
    """``_rolled_up_issues``' figures from the issue counts' rows (status, category, closure,
    plan_state, answer_state, n, days)."""
    f = dict.fromkeys(ISSUE_FIGURES, 0)
    by_status, by_category = {}, {}
    spent = weight = 0
    for r in rows:
        n = r["n"]
        by_status[r["status"]] = by_status.get(r["status"], 0) + n
        by_category[r["category"]] = by_category.get(r["category"], 0) + n
        f["total"] += n
        f["open"] += n if r["status"] in OPEN_STATUSES else 0
        f["merged"] += n if r["status"] == Status.MERGED else 0
        f["on_the_spot"] += n if r["closure"] == Closure.ON_THE_SPOT else 0
        # 应报方案 / 按时上报方案: those with a plan posted (and the late ones still without one, later).
        f["plan_due"] += n if r["plan_state"] != Timeliness.NONE else 0
        f["plan_on_time"] += n if r["plan_state"] == Timeliness.ON_TIME else 0
        # 应办结 / 按时办结 and the working days to close: those answered (``answered_q``).
        if r["answer_state"] != Timeliness.NONE and r["status"] != Status.MERGED:
            f["close_due"] += n
            f["close_on_time"] += n if r["answer_state"] == Timeliness.ON_TIME else 0
            spent += r["days"]
            weight += n
    return f, by_status, by_category, spent, weight


def _open_figures(issues, *, today):
    """What of the figures depends on ``today``, over the open issues of ``issues`` (one query):
    ``overdue``; ``plan_late``: routed, past the plan deadline without a plan (the part of
    ``plan_due`` without a plan posted); ``close_late``: past the close deadline without an answer
    (the part of ``close_due`` not answered)."""
    return issues.filter(status__in=OPEN_STATUSES).aggregate(**_late_counts(today))


def _late_counts(today):
    """``_open_figures``' three counts, as aggregates."""
    return {
        "overdue": Count("pk", filter=overdue_q(today)),
        "plan_late": Count(
            "pk", filter=Q(plan_posted_on__isnull=True, plan_due_on__lt=today, department__isnull=False)
        ),
        "close_late": Count("pk", filter=Q(answered_on__isnull=True, due_on__lt=today)),
    }


def _counted_issues(issues, *, today, calendar):
    """(figures, by status, by category, working days to close, answered) counted over ``issues``
    (four queries)."""
    by_status = dict(issues.values("status").annotate(n=Count("pk")).values_list("status", "n"))
    by_category = dict(issues.values("category").annotate(n=Count("pk")).values_list("category", "n"))
    counts = {}
    for figure in ISSUE_FIGURES:
        q = issue_figure_q(figure, today=today)
        counts[figure] = Count("pk", filter=q) if q else Count("pk")
    f = issues.aggregate(**counts)
    # Working days to close: the distinct (registered, answered) pairs, counted on the calendar.
    pairs = issues.filter(answered_q()).values("registered_on", "answered_on").annotate(n=Count("pk"))
    spent = weight = 0
    for p in pairs:
        spent += max(0, calendar.working_days_between(p["registered_on"], p["answered_on"])) * p["n"]
        weight += p["n"]
    return f, by_status, by_category, spent, weight


# ---------------------------------------------------------------------------------------- follow-ups


# 满意率 as government satisfaction figures count it: 满意 and 基本满意 over every answer.
SATISFIED = (Satisfaction.SATISFIED, Satisfaction.BASIC)


def followup_figures(user, period, communities):
    """回头看: done / due, solved %, satisfaction (one query). The shares of 满意 / 基本满意 / 不满意
    and the 满意率 (满意 + 基本满意) are over the follow-ups done with an answer (``answered``).

    Summed from the follow-up counts per campaign and grid (visits/rollups.py, decision 0018) of
    the grids of the reader's communities: the campaign's follow-ups of their households, whatever
    the period (as ever)."""
    grids = Q(grid__parent_id__in=_scoped_communities(user, communities))
    f = FollowUpCount.objects.filter(grids, campaign=period.campaign).aggregate(**_followup_sums())
    return _followup_panel(f)


def _followup_sums():
    return {name: Coalesce(Sum(name), 0) for name in ("total", "done", "solved", "reopened", *Satisfaction.values)}


def _followup_panel(f):
    """The follow-up panel from the follow-up counts' sums (``_followup_sums``)."""
    answered = sum(f[s] for s in Satisfaction.values)
    satisfied = sum(f[s] for s in SATISFIED)
    return {
        **f,
        "due": f["total"] - f["done"],
        "unsolved": f["done"] - f["solved"],
        "done_pct": pct(f["done"], f["total"]),
        "solved_pct": pct(f["solved"], f["done"]),
        "answered": answered,
        "satisfied": satisfied,
        "satisfied_pct": pct(satisfied, answered),
        "satisfaction": [
            {"key": s, "label": Satisfaction(s).label, "n": f[s], "pct": pct(f[s], answered)}
            for s in Satisfaction.values
        ],
    }


# ---------------------------------------------------------------------------------------- many streets


def headlines(user, parts, *, today):
    """The district page's figures of its streets (``parts``: [(scope, period, community ids)], a
    campaign each, ``scope`` the reader narrowed to its street): [(coverage, visits, issues,
    follow-ups)] in their order, as the panels count them — for the streets whose period holds their
    campaign's visits and issues (``_whole_campaign``, ``_issues_in_campaign``; the default period
    does) from the rollups, every street at once: a fixed number of queries per page plus one per
    street, whatever the households. Any other street is counted by the panels themselves. Only the
    headline figures: no grids, focus groups, days or lists (the district page shows none)."""
    if not parts:
        return []
    outside = Q(pk__in=[])
    for _scope, period, _ids in parts:
        outside |= Q(campaign=period.campaign) & ~Q(day__range=(period.first, period.last))
    partial = set(DayTotal.objects.filter(outside, visits__gt=0).values_list("campaign_id", flat=True).distinct())
    rolled = [p for p in parts if p[1].campaign.pk not in partial and _issues_in_campaign(p[1], p[2])]
    figures = _rolled_up_headlines(user, rolled, today=today) if rolled else {}
    out = []
    for scope, period, ids in parts:
        if period.campaign.pk in figures:
            out.append(figures[period.campaign.pk])
            continue
        out.append((coverage(scope, period, ids, groups=False), visit_activity(scope, period, ids),
                    issue_figures(scope, period, ids, today=today, listed=False),
                    followup_figures(scope, period, ids)))  # fmt: skip
    return out


def _rolled_up_headlines(user, parts, *, today):
    """{campaign id: (coverage, visits, issues, follow-ups)} of ``parts`` from the rollups: households
    and visited per community (two queries), visits in each period (one), the issue counts (one) and
    the open issues' figures of the day (one), the follow-up counts (one)."""
    campaigns = [period.campaign.pk for _scope, period, _ids in parts]
    scoped = _scoped_communities(user, [pk for _scope, _period, ids in parts for pk in ids])
    households = dict(
        GridCount.objects.filter(grid__parent_id__in=scoped)
        .values("grid__parent_id")
        .annotate(n=Sum("households"))
        .order_by()
        .values_list("grid__parent_id", "n")
    )
    visited = {
        (r[0], r[1]): r[2]
        for r in GridVisited.objects.filter(grid__parent_id__in=scoped, campaign_id__in=campaigns)
        .values("campaign_id", "grid__parent_id")
        .annotate(n=Sum("visited"))
        .order_by()
        .values_list("campaign_id", "grid__parent_id", "n")
    }
    in_periods, registered = Q(pk__in=[]), Q(pk__in=[])
    for _scope, period, ids in parts:
        in_periods |= Q(campaign=period.campaign, community_id__in=ids, day__range=(period.first, period.last))
        registered |= Q(community_id__in=ids, registered_on__range=(period.first, period.last))
    visits = dict(
        DayTotal.objects.filter(in_periods).values("campaign_id").annotate(n=Sum("visits")).order_by()
        .values_list("campaign_id", "n")
    )  # fmt: skip
    counts = {}
    for r in (
        IssueCount.objects.filter(campaign_id__in=campaigns, community_id__in=scoped)
        .values("campaign_id", "community_id", "status", "category", "closure", "plan_state", "answer_state")
        .annotate(n=Sum("n"), days=Sum("close_days"))
        .order_by()
    ):
        counts.setdefault(r["campaign_id"], []).append(r)
    late = {
        r.pop("community_id"): r
        for r in Issue.objects.visible_to(user)
        .filter(registered, status__in=OPEN_STATUSES)
        .values("community_id")
        .annotate(**_late_counts(today))
        .order_by()
    }
    followed = {
        (r.pop("campaign_id"), r.pop("grid__parent_id")): r
        for r in FollowUpCount.objects.filter(grid__parent_id__in=scoped, campaign_id__in=campaigns)
        .values("campaign_id", "grid__parent_id")
        .annotate(**_followup_sums())
        .order_by()
    }
    out = {}
    for _scope, period, ids in parts:
        c, mine = period.campaign.pk, set(ids)
        total = sum(households.get(pk, 0) for pk in ids)
        done = sum(visited.get((c, pk), 0) for pk in ids)
        covered = {"total": total, "visited": done, "pct": pct(done, total), "unvisited": total - done,
                   "communities": [], "groups": []}  # fmt: skip
        f, by_status, by_category, spent, weight = _fold_issue_counts(
            r for r in counts.get(c, []) if r["community_id"] in mine
        )
        day = {key: sum(late.get(pk, {}).get(key, 0) for pk in ids) for key in ("overdue", "plan_late", "close_late")}
        issues = _issue_panel(_add_late(f, day), by_status, by_category, spent, weight, [])
        sums = {key: sum(followed.get((c, pk), {}).get(key, 0) for pk in ids) for key in _followup_sums()}
        out[c] = (covered, {"count": visits.get(c, 0)}, issues, _followup_panel(sums))
    return out


# ---------------------------------------------------------------------------------------- all of it


@dataclass
class Dashboard:
    period: Period
    communities: list
    coverage: dict
    visits: dict
    targets: dict
    issues: dict
    followups: dict
    scores: list
    interviews: list = field(default_factory=list)
    # 阶段遗留事项: what the campaign's 集中走访 / 集中整改 stages left undone (reports/leftovers.py)
    leftovers: list = field(default_factory=list)

    @property
    def findings(self):
        return sum(s.findings for s in self.scores)

    @property
    def deducted(self):
        """The points the findings cost, by the campaign's rulebook (not every kind costs points)."""
        return sum(s.deducted for s in self.scores)


def scope_communities(user, community_id=None):
    """The communities of the reader's subtree (``Node.objects.visible_to``): every household in
    them is the reader's to see, so the panels may filter tallies and assignments by these ids."""
    communities = Node.objects.visible_to(user, ancestors=False).filter(kind=NodeKind.COMMUNITY)
    if community_id:
        communities = communities.filter(pk=community_id)
    return communities.order_by("path")


def build(user, campaign, *, today, start=None, end=None, community_id=None) -> Dashboard:
    """Every panel. The panels take the communities as a list of ids (one query here): a literal
    list lets the planner count the households right, a subquery on the tree did not."""
    period = Period.of(campaign, start=start, end=end, today=today)
    communities = scope_communities(user, community_id)
    rows = list(communities.values("pk", "name"))
    ids = [r["pk"] for r in rows]
    covered = coverage(user, period, ids)
    return Dashboard(
        period=period,
        communities=rows,
        coverage=covered,
        visits=visit_activity(user, period, ids),
        targets=cadre_targets(user, period, ids, today=today, covered=covered),
        issues=issue_figures(user, period, ids, today=today),
        followups=followup_figures(user, period, ids),
        scores=scoring.community_scores(campaign, communities),
        interviews=scoring.interview_list(campaign, communities),
        # the campaign's period up to today (no 开始 / 结束 chosen): its coverage is the 集中走访 leftovers'
        leftovers=_leftovers(user, campaign, ids, today=today, covered=covered if not (start or end) else None),
    )


def _leftovers(user, campaign, communities, *, today, covered=None):
    """The 阶段遗留事项 panel (two queries per ended stage; none for 集中走访 with ``covered``). Imported
    here: reports/leftovers.py counts with this module's ``Period`` and ``visited``."""
    from .leftovers import dashboard_panel

    return dashboard_panel(user, campaign, communities, today=today, covered=covered)
