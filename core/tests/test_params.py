"""core.params: what a user typed becomes a value the database and the date arithmetic can take, or None."""

import datetime

import pytest
from django.http import QueryDict
from django.test import RequestFactory

from core.params import (
    MAX_DATE,
    MIN_DATE,
    choice_param,
    date_param,
    db_integer_range,
    int_param,
    month_param,
    parse_int,
    parse_text,
    text_param,
)

D = datetime.date


def _request(query):
    return RequestFactory().get("/", QueryDict(query, mutable=False))


@pytest.mark.parametrize("text, expected", [("12", 12), (" 7 ", 7), ("007", 7), ("1", 1)])
def test_int_param_reads_a_positive_id(text, expected):
    assert int_param(_request(f"grid={text}"), "grid") == expected


@pytest.mark.parametrize(
    "text",
    ["", "0", "-1", "abc", "1.5", "1e3", "²", "١٢", "1\x00", "\x00", "99999999999999999999", "9223372036854775808",
     "-99999999999999999999", "1" * 5000, "(", "0x10", "+5"],
)  # fmt: skip
def test_int_param_ignores_what_is_no_id(text):
    assert int_param(RequestFactory().get("/", {"grid": text}), "grid") is None


def test_int_param_stops_at_the_databases_integer_range(db):
    low, high = db_integer_range()
    assert high == 2**63 - 1  # a bigint on SQLite and on PostgreSQL
    assert parse_int(str(high)) == high
    assert parse_int(str(high + 1)) is None
    assert parse_int(str(low), minimum=None) == low
    assert parse_int(str(low - 1), minimum=None) is None


def test_int_param_takes_bounds():
    assert parse_int("-3", minimum=-5) == -3
    assert parse_int("61", maximum=60) is None
    assert parse_int("60", maximum=60) == 60


def test_a_repeated_parameter_counts_by_its_last_value():
    assert int_param(_request("grid=abc&grid=5"), "grid") == 5
    assert int_param(_request("grid=5&grid=99999999999999999999"), "grid") is None


@pytest.mark.parametrize(
    "text, expected", [("2026-10-12", D(2026, 10, 12)), ("1900-01-01", MIN_DATE), ("2024-02-29", D(2024, 2, 29))]
)
def test_date_param_reads_an_iso_date(text, expected):
    assert date_param(_request(f"from={text}"), "from") == expected


@pytest.mark.parametrize(
    "text",
    ["", "2026-13-45", "0000-00-00", "99999-01-01", "0001-01-01", "9999-12-31", "2025-02-29", "2026-1-5", "20261012",
     "2026-10-12T00:00", "２０２６-10-12", "2026-10-12\x00", "1899-12-31"],
)  # fmt: skip
def test_date_param_ignores_impossible_and_out_of_range_dates(text):
    assert date_param(RequestFactory().get("/", {"from": text}), "from") is None


def test_the_date_range_leaves_room_for_date_arithmetic():
    assert MAX_DATE + datetime.timedelta(days=3 * 366) <= D.max
    assert MIN_DATE - datetime.timedelta(days=3 * 366) >= D.min


@pytest.mark.parametrize(
    "text, expected", [("2026-10", D(2026, 10, 1)), ("1900-01", D(1900, 1, 1)), ("2999-01", D(2999, 1, 1))]
)
def test_month_param_reads_a_month(text, expected):
    assert month_param(_request(f"month={text}"), "month") == expected


@pytest.mark.parametrize(
    "text", ["", "2026-13", "2026-00", "0000-01", "0001-01", "9999-12", "10/2026", "2026-1", "2026-10-01"]
)
def test_month_param_ignores_what_is_no_month(text):
    assert month_param(RequestFactory().get("/", {"month": text}), "month") is None


def test_text_param_drops_nul_and_over_long_text():
    assert text_param(_request("q=+%E5%BC%A0+"), "q") == "张"
    assert text_param(RequestFactory().get("/", {"q": "张\x00"}), "q") == ""
    assert text_param(RequestFactory().get("/", {"q": "张" * 201}), "q") == ""
    assert parse_text("张" * 300, max_length=300) == "张" * 300
    assert parse_text(None) == ""


def test_choice_param_takes_only_the_pages_values():
    choices = [("", "全部"), ("unvisited", "未走访")]
    assert choice_param(_request("show=unvisited"), "show", choices) == "unvisited"
    assert choice_param(_request("show=%00"), "show", choices) == ""
    assert choice_param(_request("show=__class__"), "show", ("all",), default="open") == "open"
