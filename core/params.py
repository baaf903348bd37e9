"""Reading what a user typed into a query string or a form: a value, or None — never a 500.

Filters are bookmarked, shared and edited by hand, so a page meets ``?grid=99999999999999999999``,
``?from=2026-13-45`` or a NUL byte sooner or later. Each parser answers the value when it is one the
database and Python's date arithmetic can take, else the default (None, or ""): the page ignores
the filter. A page that must say why (a download) checks for None and answers in Chinese.

- numbers: ASCII digits only (``"²".isdigit()`` is true, ``int("²")`` fails), within the
  database's integer range (SQLite raises OverflowError beyond 64 bits, PostgreSQL a DataError);
- dates: ``YYYY-MM-DD`` between ``MIN_DATE`` and ``MAX_DATE``; months: ``YYYY-MM``;
- text: no NUL (PostgreSQL refuses it in a string), at most ``max_length`` characters;
- choices: one of the page's own values.

The ``*_param(request, name)`` helpers read ``request.GET``; the ``parse_*`` ones take any string
(a POST value, a path segment). A repeated parameter counts by its last value (``QueryDict.get``).
Page numbers need none of them: ``Paginator.get_page`` takes any string (junk: the first page, too
large: the last). Forms parse their own fields (Django's fields and the forms' clean methods).
"""

from __future__ import annotations

import datetime
import re

from django.db import connection

# The dates a user may give: none of the register, a campaign or the ledger lies before 1900, and
# the upper bound stays years short of datetime's 9999-12-31, so that no date arithmetic of the app
# (a deadline, a month step, a year's span) overflows.
MIN_DATE = datetime.date(1900, 1, 1)
MAX_DATE = datetime.date(9990, 12, 31)

TEXT_MAX_LENGTH = 200  # a search term or a filter value; longer is not something a person typed

_INTEGER = re.compile(r"-?[0-9]{1,20}")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


def date_in_range(day: datetime.date) -> bool:
    """Whether a date a user gave (here or through a form's DateField) is one the app can compute with."""
    return MIN_DATE <= day <= MAX_DATE


def db_integer_range() -> tuple[int, int]:
    """The range of a big integer column (every id of ours) on the database in use."""
    return connection.ops.integer_field_range("BigIntegerField")


def parse_int(value, *, minimum: int | None = 1, maximum: int | None = None) -> int | None:
    """``value`` as an int within [minimum, maximum] (default: a positive id), else None.

    Both bounds are clipped to the database's integer range, so the result can always be sent in a query.
    """
    if not isinstance(value, str):
        value = "" if value is None else str(value)
    value = value.strip()
    if not _INTEGER.fullmatch(value):
        return None
    number = int(value)
    low, high = db_integer_range()
    low = low if minimum is None else max(low, minimum)
    high = high if maximum is None else min(high, maximum)
    return number if low <= number <= high else None


def parse_date(value) -> datetime.date | None:
    """``YYYY-MM-DD`` (a real day between MIN_DATE and MAX_DATE) as a date, else None."""
    match = _DATE.fullmatch((value or "").strip()) if isinstance(value, str) else None
    if match is None:
        return None
    try:
        day = datetime.date(*(int(part) for part in match.groups()))
    except ValueError:  # 2026-13-45, 0000-00-00
        return None
    return day if date_in_range(day) else None


def parse_month(value) -> datetime.date | None:
    """``YYYY-MM`` as the first day of that month (between MIN_DATE and MAX_DATE), else None."""
    match = _MONTH.fullmatch((value or "").strip()) if isinstance(value, str) else None
    if match is None:
        return None
    year, month = (int(part) for part in match.groups())
    if not 1 <= month <= 12 or not MIN_DATE.year <= year <= MAX_DATE.year:
        return None
    return datetime.date(year, month, 1)


def parse_text(value, *, max_length: int = TEXT_MAX_LENGTH) -> str:
    """``value`` stripped; "" when it holds a NUL or is longer than ``max_length``."""
    if not isinstance(value, str):
        return ""
    value = value.strip()
    if "\x00" in value or len(value) > max_length:
        return ""
    return value


def parse_choice(value, choices, default=""):
    """``value`` when it is one of ``choices`` (strings, or (value, label) pairs), else ``default``."""
    allowed = {c[0] if isinstance(c, (tuple, list)) else c for c in choices}
    return value if isinstance(value, str) and value in allowed else default


# ---------------------------------------------------------------------------------- the query string


def int_param(request, name, **bounds) -> int | None:
    """``?name=`` as an int (see ``parse_int``: by default a positive id), else None."""
    return parse_int(request.GET.get(name), **bounds)


def date_param(request, name) -> datetime.date | None:
    return parse_date(request.GET.get(name))


def month_param(request, name) -> datetime.date | None:
    return parse_month(request.GET.get(name))


def text_param(request, name, *, max_length: int = TEXT_MAX_LENGTH) -> str:
    return parse_text(request.GET.get(name), max_length=max_length)


def choice_param(request, name, choices, default=""):
    return parse_choice(request.GET.get(name), choices, default)
