"""The working-day calendar: China's 2026 holidays and make-up days, overrides, provisional years.

Expected dates are worked out by hand from the State Council's 2026 schedule; the first test checks
that the installed chinesecalendar agrees with that schedule, so a data change shows up there first.
"""

import datetime

import chinese_calendar
import pytest

from issues import workdays
from issues.models import HolidayOverride
from issues.workdays import WorkCalendar, WorkingDay, add_working_days, working_days_between

D = datetime.date


@pytest.fixture(autouse=True)
def _fresh_calendar():
    # A rolled-back test transaction sends no signal: never let a snapshot outlive its test.
    workdays.clear_cache()
    yield
    workdays.clear_cache()


def naive_add(calendar, start, days):
    """The rule walked one day at a time: the reference the fast tables must agree with."""
    day, left, provisional = start, days, False
    while left:
        day += datetime.timedelta(days=1)
        provisional = provisional or calendar.day_is_provisional(day)
        if calendar.is_workday(day):
            left -= 1
    return WorkingDay(day, provisional)


@pytest.mark.django_db
def test_it_finds_the_2026_schedule_in_the_package():
    off = [
        D(2026, 1, 1),
        D(2026, 1, 2),
        D(2026, 1, 3),
        *[D(2026, 2, d) for d in range(15, 24)],
        D(2026, 5, 1),
        D(2026, 5, 2),
        D(2026, 5, 3),
        D(2026, 5, 4),
        D(2026, 5, 5),
        D(2026, 9, 25),
        D(2026, 9, 26),
        D(2026, 9, 27),
        *[D(2026, 10, d) for d in range(1, 8)],
    ]
    # 调休上班: all on a Saturday or Sunday.
    make_up = [D(2026, 1, 4), D(2026, 2, 14), D(2026, 2, 28), D(2026, 5, 9), D(2026, 9, 20), D(2026, 10, 10)]
    for day in off:
        assert not chinese_calendar.is_workday(day), day
        assert not workdays.is_workday(day), day
    for day in make_up:
        assert day.weekday() >= 5
        assert chinese_calendar.is_workday(day), day
        assert workdays.is_workday(day), day
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(D(2027, 1, 4))
    assert 2026 in workdays.package_years() and 2027 not in workdays.package_years()


@pytest.mark.django_db
def test_it_counts_national_day_and_the_make_up_saturday():
    # 09-30 Wed; 10-01..07 off; 10-08 Thu 1, 10-09 Fri 2, 10-10 Sat (调休上班) 3, 10-12 Mon 4, 10-13 Tue 5.
    assert add_working_days(D(2026, 9, 30), 5) == WorkingDay(D(2026, 10, 13), False)
    # 10-14 6, 15 7, 16 8, 19 9, 20 10, 21 11, 22 12, 23 13, 26 14, 27 15.
    assert add_working_days(D(2026, 9, 30), 15) == WorkingDay(D(2026, 10, 27), False)
    # Without the make-up Saturday the fifth day would be 10-14.
    assert add_working_days(D(2026, 10, 9), 1) == WorkingDay(D(2026, 10, 10), False)


@pytest.mark.django_db
def test_it_counts_mid_autumn_then_national_day():
    # 09-24 Thu; 25..27 off; 28 Mon 1, 29 2, 30 3; 10-01..07 off; 10-08 4, 10-09 5.
    assert add_working_days(D(2026, 9, 24), 5) == WorkingDay(D(2026, 10, 9), False)
    # 09-19 Sat registered: 09-20 Sun is a make-up working day and counts first.
    assert add_working_days(D(2026, 9, 19), 1) == WorkingDay(D(2026, 9, 20), False)


@pytest.mark.django_db
def test_it_counts_the_spring_festival():
    # 02-12 Thu; 13 Fri 1, 14 Sat (调休) 2; 15..23 off; 24 3, 25 4, 26 5.
    assert add_working_days(D(2026, 2, 12), 5) == WorkingDay(D(2026, 2, 26), False)
    # 27 6, 28 Sat (调休) 7, 03-02 8, 3 9, 4 10, 5 11, 6 12, 9 13, 10 14, 11 15.
    assert add_working_days(D(2026, 2, 12), 15) == WorkingDay(D(2026, 3, 11), False)
    # Registered on the festival's first day: nothing counts until 02-24.
    assert add_working_days(D(2026, 2, 15), 1) == WorkingDay(D(2026, 2, 24), False)


@pytest.mark.django_db
def test_it_counts_labour_day_with_the_deadline_on_the_make_up_saturday():
    # 04-29 Wed; 30 Thu 1; 05-01..05 off; 6 2, 7 3, 8 4, 9 Sat (调休) 5.
    assert add_working_days(D(2026, 4, 29), 5) == WorkingDay(D(2026, 5, 9), False)


@pytest.mark.django_db
def test_it_counts_new_year_2026_from_new_years_eve():
    # 2025-12-31; 01-01..03 off; 01-04 Sun (调休) 1, 5 2, 6 3, 7 4, 8 5.
    assert add_working_days(D(2025, 12, 31), 5) == WorkingDay(D(2026, 1, 8), False)


@pytest.mark.django_db
def test_it_does_not_count_the_start_day_and_zero_days_is_the_start():
    monday = D(2026, 3, 2)
    assert add_working_days(monday, 1) == WorkingDay(D(2026, 3, 3), False)
    assert add_working_days(monday, 0) == WorkingDay(monday, False)
    assert add_working_days(D(2026, 3, 7), 0) == WorkingDay(D(2026, 3, 7), False)  # a Saturday stays
    assert add_working_days(D(2027, 3, 3), 0) == WorkingDay(D(2027, 3, 3), False)
    # Friday + 1 skips the weekend.
    assert add_working_days(D(2026, 3, 6), 1) == WorkingDay(D(2026, 3, 9), False)
    with pytest.raises(ValueError):
        add_working_days(monday, -1)


@pytest.mark.django_db
def test_it_falls_back_to_monday_to_friday_in_2027_and_marks_it_provisional():
    assert workdays.is_workday(D(2027, 1, 1)) is True  # a Friday; really 元旦, but nobody knows yet
    assert workdays.is_workday(D(2027, 1, 2)) is False
    assert workdays.day_is_provisional(D(2027, 1, 1)) is True
    assert workdays.day_is_provisional(D(2026, 12, 31)) is False
    # 12-20 Sun; 21..25 5, 28..31 9, 2027-01-01 10, 01-04..08 15.
    assert add_working_days(D(2026, 12, 20), 15) == WorkingDay(D(2027, 1, 8), True)
    # Entirely inside 2026: not provisional even though 2027 is near.
    assert add_working_days(D(2026, 12, 20), 5) == WorkingDay(D(2026, 12, 25), False)
    # Starting on the last day of 2026 walks only 2027 days.
    assert add_working_days(D(2026, 12, 31), 1) == WorkingDay(D(2027, 1, 1), True)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "day",
    [D(1, 1, 1), D(1900, 2, 28), D(2003, 12, 31), D(2004, 1, 1), D(2099, 12, 31), D(9999, 12, 1), datetime.date.max],
)
def test_it_never_raises_for_any_date(day):
    workdays.is_workday(day)
    workdays.day_is_provisional(day)
    result = add_working_days(day, 60)
    assert result.date >= day
    working_days_between(day, result.date)
    working_days_between(D(2026, 6, 1), day)
    # datetimes are taken as their date
    workdays.is_workday(datetime.datetime(day.year, day.month, day.day, 12, 0))


@pytest.mark.django_db
def test_it_lets_an_override_beat_the_package():
    # The office declares 2026-10-08 off and 2026-10-11 (Sunday) on.
    HolidayOverride.objects.create(date=D(2026, 10, 8), is_workday=False, note="测试：延长假期")
    HolidayOverride.objects.create(date=D(2026, 10, 11), is_workday=True, note="测试：周日上班")
    assert workdays.is_workday(D(2026, 10, 8)) is False
    assert workdays.is_workday(D(2026, 10, 11)) is True
    # 09-30: 10-09 1, 10-10 2, 10-11 3, 10-12 4, 10-13 5.
    assert add_working_days(D(2026, 9, 30), 5) == WorkingDay(D(2026, 10, 13), False)
    # 09-30 + 2 = 10-10 (instead of 10-09); + 3 = 10-11 (instead of 10-12).
    assert add_working_days(D(2026, 9, 30), 2).date == D(2026, 10, 10)
    assert add_working_days(D(2026, 9, 30), 3).date == D(2026, 10, 11)
    # A package holiday made a working day counts.
    HolidayOverride.objects.create(date=D(2026, 10, 7), is_workday=True, note="测试")
    assert add_working_days(D(2026, 9, 30), 1) == WorkingDay(D(2026, 10, 7), False)


@pytest.mark.django_db
def test_it_makes_a_year_certain_once_the_office_enters_it():
    assert add_working_days(D(2026, 12, 20), 15) == WorkingDay(D(2027, 1, 8), True)
    HolidayOverride.objects.create(date=D(2027, 1, 1), is_workday=False, note="元旦")
    # Saving dropped the snapshot: the new row is seen at once.
    assert add_working_days(D(2026, 12, 20), 15) == WorkingDay(D(2027, 1, 11), False)
    # Other days of the entered year count Monday–Friday, no longer provisional.
    assert workdays.day_is_provisional(D(2027, 7, 5)) is False
    assert workdays.is_workday(D(2027, 7, 5)) is True
    assert workdays.is_workday(D(2027, 7, 3)) is False
    # 2028 stays unknown.
    assert workdays.day_is_provisional(D(2028, 1, 3)) is True
    assert add_working_days(D(2027, 12, 20), 15).provisional is True
    # Deleting the year's only row makes it provisional again.
    HolidayOverride.objects.filter(date=D(2027, 1, 1)).get().delete()
    assert add_working_days(D(2026, 12, 20), 15) == WorkingDay(D(2027, 1, 8), True)


@pytest.mark.django_db
def test_it_counts_working_days_between():
    assert working_days_between(D(2026, 9, 30), D(2026, 10, 13)) == 5
    assert working_days_between(D(2026, 10, 13), D(2026, 9, 30)) == -5
    assert working_days_between(D(2026, 10, 13), D(2026, 10, 13)) == 0
    assert working_days_between(D(2026, 10, 1), D(2026, 10, 7)) == 0  # the whole holiday
    assert working_days_between(D(2026, 2, 13), D(2026, 2, 14)) == 1  # the make-up Saturday
    assert working_days_between(D(2026, 12, 20), D(2027, 1, 8)) == 15
    # Whole 2026: 365 days less weekends and holidays plus make-up days, by a plain count.
    plain = sum(chinese_calendar.is_workday(D(2026, 1, 1) + datetime.timedelta(days=i)) for i in range(365))
    assert working_days_between(D(2025, 12, 31), D(2026, 12, 31)) == plain


@pytest.mark.django_db
def test_it_agrees_with_a_day_by_day_walk_everywhere():
    HolidayOverride.objects.create(date=D(2026, 11, 2), is_workday=False, note="测试")
    HolidayOverride.objects.create(date=D(2026, 11, 7), is_workday=True, note="测试")
    calendar = WorkCalendar.load()
    start = D(2025, 11, 1)
    while start < D(2027, 3, 1):
        for days in (0, 1, 2, 5, 15, 30, 60, 75):
            expected = naive_add(calendar, start, days)
            assert calendar.add_working_days(start, days) == expected, (start, days)
            assert calendar.working_days_between(start, expected.date) == days, (start, days)
        start += datetime.timedelta(days=1)


@pytest.mark.django_db
def test_it_reads_the_overrides_once_for_many_deadlines(django_assert_max_num_queries):
    HolidayOverride.objects.create(date=D(2026, 10, 8), is_workday=False, note="测试")
    workdays.clear_cache()
    with django_assert_max_num_queries(1):
        for i in range(2000):
            add_working_days(D(2026, 1, 1) + datetime.timedelta(days=i % 500), 60)
            working_days_between(D(2026, 1, 1), D(2026, 1, 1) + datetime.timedelta(days=i % 700))


def test_it_counts_whole_unknown_years_like_their_tables():
    calendar = WorkCalendar({D(2030, 5, 6): False})
    for year in range(2027, 2060):
        assert calendar._year_total(year) == WorkCalendar({D(2030, 5, 6): False})._year_table(year)[-1], year
    assert calendar._year_total(2030) == 260  # 2030 has 261 weekdays, one made a holiday
