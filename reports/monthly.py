"""月度大走访活动入户表: per street and month, one row per cadre who visited that month.

A row counts, for one active cadre in one street and month: the distinct days visited, the
distinct households visited and the visits (``Visit.objects.counted()``: no 未遇, no 回头看
contact), the requests the cadre raised that month and those of the cadre's requests solved that
month. Built on the 1st for the month before (``reports.tasks``), or by
``manage.py build_monthly_report --month YYYY-MM``, or by the export when the month is missing.

Rebuilding is idempotent: the street's rows of the month are deleted and written fresh in one
transaction, so running twice gives the same rows.
"""

from __future__ import annotations

import datetime

from django.db import transaction
from django.db.models import Count, Q

from households.models import Node, NodeKind
from issues.models import Closure, Issue
from visitplan.models import Cadre
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
    2. aggregate the month's counted visits in the street by cadre (active cadres only);
    3. aggregate the issues those cadres raised in the month, and those solved in the month;
    4. find each cadre's community from the first two segments of the scope path;
    5. delete the report's rows and insert the fresh ones.
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
    """The rows of ``street`` for the month starting ``first``, as MonthlyCadreRow field values.

    Five queries whatever the number of cadres: every figure is an aggregate grouped by cadre.
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
    if not stats:
        return []
    # The issue's path is its household's: the street's own requests only. Grouped by cadre for
    # every cadre; only those with visits are kept below.
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
    scopes = dict(Cadre.objects.filter(pk__in=counted.values("cadre_id")).values_list("pk", "scope__path"))
    # The street is the root of the tree, so a community's path is the first two segments.
    community_paths = {pk: ".".join(path.split(".")[:2]) for pk, path in scopes.items() if "." in path}
    communities = dict(
        Node.objects.filter(kind=NodeKind.COMMUNITY, path__in=set(community_paths.values())).values_list("path", "pk")
    )
    return [
        {
            "cadre_id": cadre_id,
            "community_id": communities.get(community_paths.get(cadre_id)),
            "days_visited": s["days"],
            "households_visited": s["households"],
            "visits": s["n"],
            "issues_raised": raised.get(cadre_id, 0),
            "issues_solved": solved.get(cadre_id, 0),
        }
        for cadre_id, s in sorted(stats.items())
    ]


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
