"""Deadlines of an issue (诉求): the plan due date and the close due date, in China's working days.

The counting itself lives in ``issues/workdays.py``; this module holds the numbers and applies them.
Deadlines are counted from ``registered_on`` (the start day not counted) and are never typed by hand,
unless a step restarted a clock (``restart_deadlines``): a resubmission after 退回 and a reopening
restart both from that day, a re-route after 退办 restarts the plan's for the new department.
A deadline that walked through a day no calendar source covers is provisional (暂定) until the
office enters that year; entering it (or correcting any day) recomputes the open deadlines it moved
(``recompute_open_deadlines``, called by the admin and, after commit, by the HolidayOverride signal
receivers in ``issues/signals.py``).
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from . import workdays
from .workdays import WorkCalendar

if TYPE_CHECKING:
    from collections.abc import Iterable

    from django.contrib.auth.base_user import AbstractBaseUser
from .models import OPEN_STATUSES, EventKind, Issue, IssueEvent, Severity

# The campaign plan (湖田街道 2022), the ledger: "a plan (解决方案) is due within 5 working days".
PLAN_WORKING_DAYS = 5

# The same plan, same rule: "closed with an answer to the resident within 15 working days (一般),
# 30 (较大) or 60 (特别重大 / 涉及面大)". Approved extensions (extension_days) add to these.
CLOSE_WORKING_DAYS = {
    Severity.GENERAL: 15,
    Severity.MAJOR: 30,
    Severity.GRAVE: 60,
}

# The reminder rule (send_reminders): "due in ≤2 working days → reminder to the responsible person".
DUE_SOON_WORKING_DAYS = 2

PROVISIONAL_LABEL = "暂定"

# Moved issues written per transaction when recomputing.
_BATCH = 500

_FIELDS = ("plan_due_on", "plan_due_provisional", "due_on", "due_provisional")


def close_working_days(severity: str) -> int:
    """Working days to close an issue of this severity (before extensions)."""
    try:
        return CLOSE_WORKING_DAYS[Severity(severity)]
    except ValueError:
        raise ValueError(f"未知的诉求等级：{severity!r}") from None


def compute_deadlines(
    registered_on: datetime.date,
    severity: str,
    extension_days: int = 0,
    *,
    calendar: WorkCalendar | None = None,
    plan_from: datetime.date | None = None,
    due_from: datetime.date | None = None,
) -> dict[str, datetime.date | bool]:
    """The four deadline fields for these inputs (a dict keyed like the Issue fields). Each deadline
    counts from its own start day when one is given (``plan_from`` / ``due_from``), else from
    ``registered_on``."""
    calendar = calendar or workdays.current_calendar()
    plan = calendar.add_working_days(plan_from or registered_on, PLAN_WORKING_DAYS)
    due = calendar.add_working_days(due_from or registered_on, close_working_days(severity) + (extension_days or 0))
    return {
        "plan_due_on": plan.date,
        "plan_due_provisional": plan.provisional,
        "due_on": due.date,
        "due_provisional": due.provisional,
    }


def apply_deadlines(issue: Issue, *, calendar: WorkCalendar | None = None) -> None:
    """Set plan_due_on/_provisional and due_on/_provisional from registered_on (or the restart days
    plan_from / due_from), severity and extension_days. Does not save."""
    for field, value in compute_deadlines(
        issue.registered_on,
        issue.severity,
        issue.extension_days,
        calendar=calendar,
        plan_from=issue.plan_from,
        due_from=issue.due_from,
    ).items():
        setattr(issue, field, value)


def restart_deadlines(
    issue: Issue, day: datetime.date, *, plan: bool = True, close: bool = True, calendar: WorkCalendar | None = None
) -> None:
    """Start the plan clock and/or the close clock again from ``day`` and recompute. Does not save.

    The rule of the ledger: whoever must act next gets the full time from the day the issue reached
    him. A resubmission after 退回 and a reopening after 回头看 restart both (a reopening also drops
    the extensions of the round before: they were granted against the old deadline); a re-route
    after 退办 restarts only the plan's, for the new department (the resident's wait to an answer
    does not start over because the first department was the wrong one).
    """
    if plan:
        issue.plan_from = day
    if close:
        issue.due_from = day
    apply_deadlines(issue, calendar=calendar)


# 本周到期: a deadline within the next seven days, today included — the same count on any weekday.
UPCOMING_DAYS = 7


def upcoming_window(today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """(first, last) day of 本周到期 seen on ``today``: today and the six days after it."""
    return today, today + datetime.timedelta(days=UPCOMING_DAYS - 1)


def working_days_left(issue: Issue, *, on: datetime.date, calendar: WorkCalendar | None = None) -> int | None:
    """Working days after ``on`` up to and including the close deadline: 0 on the due day itself,
    negative once overdue (-1 on the first working day after it). None when the issue has no
    close deadline or no longer runs against it (not open)."""
    if issue.due_on is None or issue.status not in OPEN_STATUSES:
        return None
    return workdays.working_days_between(on, issue.due_on, calendar=calendar)


def plan_working_days_left(issue: Issue, *, on: datetime.date, calendar: WorkCalendar | None = None) -> int | None:
    """Like ``working_days_left`` for the plan deadline; None once the plan has been posted."""
    if issue.plan_due_on is None or issue.plan_posted_on is not None or issue.status not in OPEN_STATUSES:
        return None
    return workdays.working_days_between(on, issue.plan_due_on, calendar=calendar)


def format_deadline(day: datetime.date | None, provisional: bool) -> str:
    """How a deadline is shown everywhere: '2027-01-20' or '2027-01-20（暂定）'."""
    if day is None:
        return ""
    text = day.isoformat() if isinstance(day, datetime.date) else str(day)
    return f"{text}（{PROVISIONAL_LABEL}）" if provisional else text


# ---------------------------------------------------------------------- recomputing after a calendar change


def _affected(years):
    """Open issues whose deadlines may have moved: provisional (or missing) ones, and those whose
    window from registration to the later deadline touches one of ``years``."""
    condition = (
        Q(plan_due_provisional=True) | Q(due_provisional=True) | Q(due_on__isnull=True) | Q(plan_due_on__isnull=True)
    )
    for year in sorted(set(years or ())):
        first, last = datetime.date(year, 1, 1), datetime.date(year, 12, 31)
        condition |= Q(registered_on__lte=last) & (Q(due_on__gte=first) | Q(plan_due_on__gte=first))
    return Issue.objects.filter(status__in=OPEN_STATUSES).filter(condition)


def _describe(old: dict, new: dict) -> str:
    parts = []
    for label, date_field, flag_field in (
        ("方案时限", "plan_due_on", "plan_due_provisional"),
        ("办结时限", "due_on", "due_provisional"),
    ):
        if (old[date_field], old[flag_field]) != (new[date_field], new[flag_field]):
            parts.append(
                f"{label} {format_deadline(old[date_field], old[flag_field]) or '无'}"
                f" → {format_deadline(new[date_field], new[flag_field])}"
            )
    return "节假日调整后重算时限：" + "；".join(parts)


def _as_json(values: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, datetime.date) else v) for k, v in values.items()}


def recompute_open_deadlines(
    *, by: AbstractBaseUser | None = None, years: Iterable[int] | None = None, calendar: WorkCalendar | None = None
) -> int:
    """Recompute the deadlines of open issues after the calendar changed; returns how many moved.

    Looks at open issues whose deadlines are provisional and, when ``years`` is given, those whose
    window (registration to the later deadline) touches one of those years. Only issues whose
    deadlines actually change are written: new dates, version bumped (anyone holding the old version
    must reload, as after any other change), and an IssueEvent (DEADLINE_RECOMPUTED, actor ``by``).

    Each write is ``UPDATE … WHERE pk = … AND version = …`` like the workflow services' writes, so a
    concurrent step (an approved extension, a closure) is never overwritten: an issue that changed
    between our read and our write is read again and recomputed from its new values.
    """
    # Always a fresh snapshot: we run right after the overrides changed, maybe in the same transaction.
    calendar = calendar or workdays.WorkCalendar.load()
    year_list = sorted(set(years)) if years else []
    changed = 0
    rows = _affected(years).values_list(*_READ).iterator(chunk_size=2000)
    for _attempt in range(3):
        moves = _moves(rows, calendar)
        raced = []
        # Short transactions: an UPDATE per moved issue and its events commit together.
        for offset in range(0, len(moves), _BATCH):
            with transaction.atomic():
                events = []
                for issue_id, version, old, new in moves[offset : offset + _BATCH]:
                    written = Issue.objects.filter(pk=issue_id, version=version).update(
                        **new, version=F("version") + 1, updated_at=timezone.now()
                    )
                    if not written:
                        raced.append(issue_id)
                        continue
                    events.append(
                        IssueEvent(
                            issue_id=issue_id,
                            actor=by,
                            kind=EventKind.DEADLINE_RECOMPUTED,
                            text=_describe(old, new),
                            data={"old": _as_json(old), "new": _as_json(new), "years": year_list},
                        )
                    )
                IssueEvent.objects.bulk_create(events)
                changed += len(events)
        if not raced:
            break
        # Someone changed these between our read and our write: read them again, recompute from now.
        rows = Issue.objects.filter(pk__in=raced).values_list(*_READ)
    return changed


_READ = ("id", "version", "status", "registered_on", "plan_from", "due_from", "severity", "extension_days", *_FIELDS)


def _moves(rows, calendar) -> list[tuple[int, int, dict, dict]]:
    """(id, version seen, old deadlines, new deadlines) of the open issues whose deadlines move."""
    moves = []
    for row in rows:
        current = dict(zip(_READ, row))
        if current["status"] not in OPEN_STATUSES:
            continue
        new = compute_deadlines(
            current["registered_on"],
            current["severity"],
            current["extension_days"],
            calendar=calendar,
            plan_from=current["plan_from"],
            due_from=current["due_from"],
        )
        old = {f: current[f] for f in _FIELDS}
        if old != new:
            moves.append((current["id"], current["version"], old, new))
    return moves
