"""China's working days: the one place that knows whether a day is worked.

Sources, first match wins (the campaign plan's working days: weekends and statutory holidays off, 调休 days on):

1. ``HolidayOverride`` rows, entered by the street office in the admin (节假日调整). They win over
   everything, so the office can enter next year's schedule the day the State Council publishes it,
   or correct a day the package got wrong.
2. The ``chinesecalendar`` package (``import chinese_calendar``): weekends and statutory holidays
   off, make-up working days (调休上班) on. It only knows the years it ships data for
   (1.11.0: 2004–2026) and raises ``NotImplementedError`` for any other date.
3. Monday–Friday.

**Provisional (暂定).** A day is provisional when neither source covers it: no override for that
day, its year is not in the package, and its year was not *entered by the office*. A year counts as
entered by the office as soon as it has at least one ``HolidayOverride`` row; from then on the days
of that year without an override count Monday–Friday and are NOT provisional — the office is trusted
to have entered every holiday (放假) and every make-up working day (调休上班) of that year, and the
admin says so. Because of this rule, provisionality is a property of whole years: a day of a year
that has neither package data nor an override is provisional, every other day is not.

A deadline is provisional when any day walked to reach it (after the start, up to and including the
deadline) is provisional: the unknown day might be a holiday or a make-up day and move it.

Nothing here raises for a date: dates the package cannot answer fall through to Monday–Friday.

Speed: the reminder job and the ledger compute deadlines for tens of thousands of issues. All the
answers come from a ``WorkCalendar`` snapshot (one query for the overrides) that tabulates each year
it is asked about once — cumulative working-day counts per day of the year — so ``add_working_days``
and ``working_days_between`` cost a bisect per year crossed, with no query per day or per issue.
The module-level functions use a per-process snapshot that is dropped when a ``HolidayOverride`` is
saved or deleted (receivers below, at once and again after commit) and in any case after
``SNAPSHOT_TTL_SECONDS``, which bounds how long *another* process (a Celery worker) can go on with an
old table. Batch code may load its own snapshot (``WorkCalendar.load()``) and pass ``calendar=``.
Tests that create overrides must call ``clear_cache()`` when done: a rolled-back transaction sends
no signal.
"""

from __future__ import annotations

import datetime
import threading
import time
from bisect import bisect_left
from typing import NamedTuple

import chinese_calendar
from django.db import transaction
from django.db.models.signals import post_delete, post_save

__all__ = [
    "WorkingDay",
    "WorkCalendar",
    "is_workday",
    "day_is_provisional",
    "add_working_days",
    "working_days_between",
    "current_calendar",
    "clear_cache",
    "package_years",
]

# How long another process may keep using a table after the office changed it (seconds).
SNAPSHOT_TTL_SECONDS = 60

# Years probed for package data; the package covers a contiguous range inside this.
_PROBE_YEARS = range(1990, 2101)


class WorkingDay(NamedTuple):
    date: datetime.date
    provisional: bool


def _as_date(day) -> datetime.date:
    # The package and our tables key on date; a datetime would miss every key.
    if isinstance(day, datetime.datetime):
        return day.date()
    return day


def _package_is_workday(day: datetime.date) -> bool | None:
    """The package's answer, or None when it has no data for the day."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return None


_package_years_cache: frozenset[int] | None = None


def package_years() -> frozenset[int]:
    """Years the installed chinesecalendar has data for (probed once per process)."""
    global _package_years_cache
    if _package_years_cache is None:
        _package_years_cache = frozenset(
            y for y in _PROBE_YEARS if _package_is_workday(datetime.date(y, 6, 1)) is not None
        )
    return _package_years_cache


class WorkCalendar:
    """A snapshot of the calendar: the overrides as they were when loaded, plus the package."""

    def __init__(self, overrides: dict[datetime.date, bool] | None = None):
        self.overrides: dict[datetime.date, bool] = dict(overrides or {})
        self.office_years: frozenset[int] = frozenset(d.year for d in self.overrides)
        self.package_years: frozenset[int] = package_years()
        # year -> cumulative working days: cum[i] = working days from Jan 1 to day-of-year i (cum[0] = 0).
        self._cum: dict[int, list[int]] = {}

    @classmethod
    def load(cls) -> WorkCalendar:
        """Read all overrides (one query; the table holds a few dozen rows a year)."""
        from .models import HolidayOverride

        return cls(dict(HolidayOverride.objects.values_list("date", "is_workday")))

    # ------------------------------------------------------------------ single days

    def is_workday(self, day) -> bool:
        day = _as_date(day)
        override = self.overrides.get(day)
        if override is not None:
            return override
        if day.year in self.package_years:
            answer = _package_is_workday(day)
            if answer is not None:
                return answer
        return day.weekday() < 5

    def year_is_provisional(self, year: int) -> bool:
        return year not in self.package_years and year not in self.office_years

    def day_is_provisional(self, day) -> bool:
        day = _as_date(day)
        if day in self.overrides:
            return False
        return self.year_is_provisional(day.year)

    def year_source(self, year: int) -> str:
        """'package', 'office', 'both' or 'none' — for the admin's coverage page."""
        in_package = year in self.package_years
        in_office = year in self.office_years
        if in_package and in_office:
            return "both"
        if in_package:
            return "package"
        if in_office:
            return "office"
        return "none"

    # ------------------------------------------------------------------ year tables

    def _year_table(self, year: int) -> list[int]:
        cum = self._cum.get(year)
        if cum is None:
            first = datetime.date(year, 1, 1)
            length = 366 if (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)) else 365
            cum = [0] * (length + 1)
            running = 0
            for i in range(length):
                if self.is_workday(first + datetime.timedelta(days=i)):
                    running += 1
                cum[i + 1] = running
            self._cum[year] = cum
        return cum

    def _year_total(self, year: int) -> int:
        if year in self._cum or not self.year_is_provisional(year):
            return self._year_table(year)[-1]
        # A year nobody covers is plain Monday–Friday: 52 weeks plus the weekdays of the 1–2 extra days.
        first = datetime.date(year, 1, 1)
        extra = (datetime.date(year, 12, 31) - first).days + 1 - 364
        return 260 + sum(1 for i in range(extra) if (first.weekday() + i) % 7 < 5)

    def _count_upto(self, day: datetime.date) -> int:
        """Working days from Jan 1 of day's year up to and including day."""
        return self._year_table(day.year)[day.timetuple().tm_yday]

    # ------------------------------------------------------------------ spans

    def add_working_days(self, start, days: int) -> WorkingDay:
        """The ``days``-th working day after ``start`` (``start`` itself not counted).

        ``days == 0`` gives ``start`` back, not provisional. Provisional when any day after ``start``
        up to the result lies in a provisional year.
        """
        start = _as_date(start)
        if days < 0:
            raise ValueError("days must not be negative")
        if days == 0:
            return WorkingDay(start, False)
        year = start.year
        cum = self._year_table(year)
        base = cum[start.timetuple().tm_yday]
        while base + days > cum[-1]:
            days -= cum[-1] - base
            year += 1
            if year > datetime.MAXYEAR:
                # Past the last representable date: still no exception, just the end of time, unsure.
                return WorkingDay(datetime.date.max, True)
            cum = self._year_table(year)
            base = 0
        # The first day of the year whose running count reaches base + days.
        result = datetime.date(year, 1, 1) + datetime.timedelta(days=bisect_left(cum, base + days) - 1)
        return WorkingDay(result, self.span_is_provisional(start, result))

    def working_days_between(self, start, end) -> int:
        """Working days after ``start`` up to and including ``end``; negative when ``end`` is earlier."""
        start, end = _as_date(start), _as_date(end)
        if end < start:
            return -self.working_days_between(end, start)
        if start.year == end.year:
            return self._count_upto(end) - self._count_upto(start)
        count = self._year_table(start.year)[-1] - self._count_upto(start)
        for year in range(start.year + 1, end.year):
            count += self._year_total(year)
        return count + self._count_upto(end)

    def span_is_provisional(self, start, end) -> bool:
        """Whether any day after ``start`` up to and including ``end`` is provisional."""
        start, end = _as_date(start), _as_date(end)
        if end <= start:
            return False
        first_year = start.year if (start.month, start.day) != (12, 31) else start.year + 1
        return any(self.year_is_provisional(y) for y in range(first_year, end.year + 1))


# ---------------------------------------------------------------------- the process-wide snapshot

_lock = threading.Lock()
_snapshot: WorkCalendar | None = None
_snapshot_at = 0.0


def current_calendar() -> WorkCalendar:
    """This process's snapshot, reloaded after a change here or after SNAPSHOT_TTL_SECONDS."""
    global _snapshot, _snapshot_at
    snapshot = _snapshot
    if snapshot is not None and time.monotonic() - _snapshot_at < SNAPSHOT_TTL_SECONDS:
        return snapshot
    snapshot = WorkCalendar.load()
    with _lock:
        _snapshot, _snapshot_at = snapshot, time.monotonic()
    return snapshot


def clear_cache() -> None:
    """Forget this process's snapshot: the next question reads the overrides again."""
    global _snapshot
    with _lock:
        _snapshot = None


def is_workday(day, *, calendar: WorkCalendar | None = None) -> bool:
    return (calendar or current_calendar()).is_workday(day)


def day_is_provisional(day, *, calendar: WorkCalendar | None = None) -> bool:
    """True when neither an override, the package, nor an office-entered year covers the day."""
    return (calendar or current_calendar()).day_is_provisional(day)


def add_working_days(start, days: int, *, calendar: WorkCalendar | None = None) -> WorkingDay:
    """The ``days``-th working day after ``start`` (start not counted), and whether it is 暂定."""
    return (calendar or current_calendar()).add_working_days(start, days)


def working_days_between(start, end, *, calendar: WorkCalendar | None = None) -> int:
    """Working days after ``start`` up to and including ``end`` (negative when ``end`` < ``start``)."""
    return (calendar or current_calendar()).working_days_between(start, end)


# ---------------------------------------------------------------------- invalidation


def _overrides_changed(sender, **kwargs):
    # Drop the snapshot now (this transaction already sees the change) and again after commit, in
    # case another thread reloaded the old rows in between.
    clear_cache()
    transaction.on_commit(clear_cache)


def _connect():
    from .models import HolidayOverride

    post_save.connect(_overrides_changed, sender=HolidayOverride, dispatch_uid="workdays_overrides_saved")
    post_delete.connect(_overrides_changed, sender=HolidayOverride, dispatch_uid="workdays_overrides_deleted")


# Connected on import: whoever uses the snapshot has imported this module, so its cache is always
# invalidated, whether or not issues/signals.py has been wired into IssuesConfig.ready().
_connect()
