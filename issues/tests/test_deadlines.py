"""Deadlines of issues, and recomputing them when the office changes the calendar (also via the admin)."""

import datetime

import pytest
from django.urls import reverse

import issues.signals  # noqa: F401  the signal handlers (IssuesConfig.ready connects them too)
from issues import deadlines, workdays
from issues.admin.holidays import coverage_rows, parse_schedule
from issues.deadlines import (
    DUE_SOON_WORKING_DAYS,
    apply_deadlines,
    format_deadline,
    plan_working_days_left,
    recompute_open_deadlines,
    working_days_left,
)
from issues.models import Category, EventKind, HolidayOverride, Issue, IssueEvent, Severity, Status

D = datetime.date


@pytest.fixture(autouse=True)
def _fresh_calendar():
    workdays.clear_cache()
    yield
    workdays.clear_cache()


def make_issue(
    world, registered_on, *, severity=Severity.GENERAL, status=Status.ROUTED, extension_days=0, household=None
):
    household = household or world.ha
    issue = Issue(
        household=household,
        community=household.community,
        path=household.path,
        text="楼道灯不亮",
        category=Category.URBAN,
        severity=severity,
        status=status,
        registered_on=registered_on,
        extension_days=extension_days,
    )
    apply_deadlines(issue)
    issue.save()
    return issue


def test_it_reads_the_rule_numbers_from_the_rulebook():
    # No campaign: the product default (the numbers of the 湖田街道 plan); a class per severity code.
    rules = deadlines.Rulebooks().rules("", D(2026, 3, 2))
    assert rules.plan_days == 5
    assert {code: rules.class_days(code) for code in Severity.values} == {"general": 15, "major": 30, "grave": 60}
    assert DUE_SOON_WORKING_DAYS == 2  # a reminder setting, not a campaign rule


@pytest.mark.django_db
def test_it_applies_deadlines_across_national_day(world):
    issue = make_issue(world, D(2026, 9, 30))
    assert (issue.plan_due_on, issue.plan_due_provisional) == (D(2026, 10, 13), False)
    assert (issue.due_on, issue.due_provisional) == (D(2026, 10, 27), False)


@pytest.mark.django_db
def test_it_applies_deadlines_by_severity_and_extension(world):
    # Spring Festival: 02-12 + 5 = 02-26; + 15 = 03-11 (02-14 and 02-28 are make-up days).
    general = make_issue(world, D(2026, 2, 12))
    assert (general.plan_due_on, general.due_on) == (D(2026, 2, 26), D(2026, 3, 11))
    # + 30: 03-12 16 … 03-31 29 (Mon–Fri), 04-01 30.
    major = make_issue(world, D(2026, 2, 12), severity=Severity.MAJOR)
    assert major.due_on == D(2026, 4, 1)
    # + 60: 04-02 31, 04-03 32; 04-04..06 清明 off; 04-07 33 … 04-30 50; 05-01..05 off; 05-06 51, 07 52,
    # 08 53, 09 Sat (调休) 54, 11 55 … 15 59, 18 60.
    grave = make_issue(world, D(2026, 2, 12), severity=Severity.GRAVE)
    assert grave.due_on == D(2026, 5, 18)
    assert grave.plan_due_on == D(2026, 2, 26)
    # An approved extension of 3 working days on a general issue: 03-11 + 3 = 03-16.
    extended = make_issue(world, D(2026, 2, 12), extension_days=3)
    assert extended.due_on == D(2026, 3, 16)
    assert extended.plan_due_on == D(2026, 2, 26)  # the plan deadline does not move


@pytest.mark.django_db
def test_it_applies_deadlines_across_labour_day(world):
    issue = make_issue(world, D(2026, 4, 29))
    assert issue.plan_due_on == D(2026, 5, 9)  # a make-up Saturday is the deadline
    # 05-11 6, 12 7, 13 8, 14 9, 15 10, 18 11, 19 12, 20 13, 21 14, 22 15.
    assert issue.due_on == D(2026, 5, 22)


@pytest.mark.django_db
def test_it_marks_deadlines_in_2027_provisional(world):
    issue = make_issue(world, D(2026, 12, 20))
    assert (issue.plan_due_on, issue.plan_due_provisional) == (D(2026, 12, 25), False)
    assert (issue.due_on, issue.due_provisional) == (D(2027, 1, 8), True)
    assert format_deadline(issue.due_on, issue.due_provisional) == "2027-01-08（暂定）"
    assert format_deadline(issue.plan_due_on, issue.plan_due_provisional) == "2026-12-25"
    assert format_deadline(None, False) == ""


@pytest.mark.django_db
def test_it_counts_working_days_left(world):
    issue = make_issue(world, D(2026, 9, 30))  # due 10-27 (Tue), plan 10-13
    assert working_days_left(issue, on=D(2026, 10, 27)) == 0
    assert working_days_left(issue, on=D(2026, 10, 26)) == 1
    assert working_days_left(issue, on=D(2026, 10, 23)) == 2  # Friday: the weekend does not count
    assert working_days_left(issue, on=D(2026, 10, 28)) == -1
    assert working_days_left(issue, on=D(2026, 11, 2)) == -4  # 28, 29, 30, 11-02
    assert working_days_left(issue, on=D(2026, 9, 30)) == 15
    assert plan_working_days_left(issue, on=D(2026, 10, 9)) == 3  # 10-10 (调休), 10-12, 10-13
    issue.plan_posted_on = D(2026, 10, 9)
    assert plan_working_days_left(issue, on=D(2026, 10, 9)) is None
    issue.status = Status.CLOSED
    assert working_days_left(issue, on=D(2026, 10, 27)) is None
    issue.status, issue.due_on = Status.ROUTED, None
    assert working_days_left(issue, on=D(2026, 10, 27)) is None


@pytest.mark.django_db
def test_it_recomputes_open_deadlines_when_the_office_enters_2027(world, django_capture_on_commit_callbacks):
    open_issue = make_issue(world, D(2026, 12, 20))
    closed_issue = make_issue(world, D(2026, 12, 20), status=Status.CLOSED)
    certain = make_issue(world, D(2026, 9, 30))  # nothing to do with 2027
    before_versions = {i.pk: i.version for i in (open_issue, closed_issue, certain)}

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        HolidayOverride.objects.create(date=D(2027, 1, 1), is_workday=False, note="元旦")
    assert callbacks, "the save must schedule the recompute after commit"

    open_issue.refresh_from_db()
    assert (open_issue.due_on, open_issue.due_provisional) == (D(2027, 1, 11), False)
    assert (open_issue.plan_due_on, open_issue.plan_due_provisional) == (D(2026, 12, 25), False)
    assert open_issue.version == before_versions[open_issue.pk] + 1
    event = IssueEvent.objects.get(issue=open_issue)
    assert event.kind == EventKind.DEADLINE_RECOMPUTED
    assert event.text == "节假日调整后重算时限：办结时限 2027-01-08（暂定） → 2027-01-11"
    assert event.data["new"]["due_on"] == "2027-01-11"

    closed_issue.refresh_from_db()
    assert (closed_issue.due_on, closed_issue.due_provisional) == (D(2027, 1, 8), True)
    assert closed_issue.version == before_versions[closed_issue.pk]
    assert not IssueEvent.objects.filter(issue=closed_issue).exists()
    certain.refresh_from_db()
    assert certain.version == before_versions[certain.pk]
    assert not IssueEvent.objects.filter(issue=certain).exists()

    # Nothing left to move: a second run writes nothing.
    assert recompute_open_deadlines(years={2027}) == 0
    assert IssueEvent.objects.count() == 1


@pytest.mark.django_db
def test_it_recomputes_certain_deadlines_when_a_2026_day_changes(world, django_user_model):
    inside = make_issue(world, D(2026, 9, 30))  # window 09-30 … 10-27
    elsewhere = make_issue(world, D(2026, 3, 2))  # window 03-02 … 03-23, unaffected by October
    untouched_year = make_issue(world, D(2025, 3, 3))  # open and long overdue, all in 2025
    admin_user = world.admin
    HolidayOverride.objects.create(date=D(2026, 10, 8), is_workday=False, note="测试")
    # Without years only provisional deadlines are looked at: nothing moves.
    assert recompute_open_deadlines() == 0
    assert recompute_open_deadlines(by=admin_user, years={2026}) == 1
    inside.refresh_from_db()
    assert (inside.plan_due_on, inside.due_on) == (D(2026, 10, 14), D(2026, 10, 28))
    event = inside.events.get()
    assert event.actor == admin_user
    assert event.text == "节假日调整后重算时限：方案时限 2026-10-13 → 2026-10-14；办结时限 2026-10-27 → 2026-10-28"
    assert event.data["years"] == [2026]
    for other in (elsewhere, untouched_year):
        version = other.version
        other.refresh_from_db()
        assert other.version == version and not other.events.exists()


@pytest.mark.django_db
def test_it_recomputes_in_one_pass_after_a_year_is_entered_in_one_transaction(
    world, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    issues = [make_issue(world, D(2026, 12, 1) + datetime.timedelta(days=i)) for i in range(20)]
    entries, errors = parse_schedule(
        "2027-01-01~2027-01-03 放假 元旦\n2027-02-06~2027-02-13 放假 春节\n2027-02-14 上班 调休"
    )
    assert not errors
    from django.db import transaction

    from issues.admin.holidays import save_schedule

    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            save_schedule(entries)
    moved = IssueEvent.objects.filter(kind=EventKind.DEADLINE_RECOMPUTED).count()
    assert moved == sum(1 for i in issues if Issue.objects.get(pk=i.pk).due_on != i.due_on or i.due_provisional)
    assert not Issue.objects.filter(due_provisional=True).exists()
    # One event per moved issue, however many override rows were written.
    assert IssueEvent.objects.values("issue").distinct().count() == moved
    # The recompute itself is a handful of queries, not one per issue or per day.
    with django_assert_max_num_queries(4):
        assert recompute_open_deadlines(years={2027}) == 0


@pytest.mark.django_db
def test_it_parses_a_published_schedule():
    entries, errors = parse_schedule(
        "# 2027年\n2027-01-01 放假 元旦\n2027/2/6~2027/2/8 放假 春节\n2027年2月14日 上班 春节调休\n\n2027-10-09，班"
    )
    assert not errors
    assert entries == [
        (D(2027, 1, 1), False, "元旦"),
        (D(2027, 2, 6), False, "春节"),
        (D(2027, 2, 7), False, "春节"),
        (D(2027, 2, 8), False, "春节"),
        (D(2027, 2, 14), True, "春节调休"),
        (D(2027, 10, 9), True, ""),
    ]
    _, errors = parse_schedule("2027-02-30 放假\n2027-01-01 不知道\n2027-01-05\n2027-03-01 放假\n2027-03-01 上班\nabc")
    assert errors == [
        "第1行：日期不存在。",
        "第2行：请写明“放假”或“上班”。",
        "第3行：请写明“放假”或“上班”。",
        "第5行：2027-03-01 与第4行重复。",
        "第6行：无法识别“abc”，应为“2027-01-01 放假 元旦”的格式。",
    ]
    _, errors = parse_schedule("2027-01-01~2027-03-01 放假")
    assert errors == ["第1行：一行最多录入 31 天。"]


@pytest.mark.django_db
def test_it_enters_a_year_through_the_admin_and_reports_the_recompute(world, client):
    issue = make_issue(world, D(2026, 12, 20))
    client.force_login(world.admin)
    url = reverse("admin:issues_holidayoverride_bulk")
    assert client.get(url).status_code == 200
    response = client.post(url, {"lines": "2027-01-01 放假 元旦\n2027-01-02 上班 测试"}, follow=True)
    assert response.status_code == 200
    texts = [str(m) for m in response.context["messages"]]
    assert any("新增 2 天" in t and "已重算 1 条未办结诉求的时限" in t for t in texts), texts
    issue.refresh_from_db()
    # 2027-01-02 (Sat) is now a working day, 01-01 off: 12-21..25 5, 28..31 9, 01-02 10, 01-04..08 15.
    assert (issue.due_on, issue.due_provisional) == (D(2027, 1, 8), False)
    event = issue.events.get()
    assert event.actor == world.admin
    assert event.text == "节假日调整后重算时限：办结时限 2027-01-08（暂定） → 2027-01-08"

    # A bad line saves nothing.
    response = client.post(url, {"lines": "2027-05-01 放假\n2027-13-01 放假"})
    assert response.status_code == 200
    assert "第2行：日期不存在。" in response.content.decode()
    assert not HolidayOverride.objects.filter(date=D(2027, 5, 1)).exists()

    # Deleting through the admin recomputes too: 2027 is back to provisional.
    override = HolidayOverride.objects.get(date=D(2027, 1, 2))
    response = client.post(
        reverse("admin:issues_holidayoverride_delete", args=[override.pk]), {"post": "yes"}, follow=True
    )
    texts = [str(m) for m in response.context["messages"]]
    assert any("已重算 1 条" in t for t in texts), texts
    issue.refresh_from_db()
    # Still entered (01-01 remains), so certain; 01-02 is a Saturday again.
    assert (issue.due_on, issue.due_provisional) == (D(2027, 1, 11), False)


@pytest.mark.django_db
def test_it_saves_one_override_in_the_admin_and_reports(world, client):
    issue = make_issue(world, D(2026, 9, 30))
    client.force_login(world.admin)
    response = client.post(
        reverse("admin:issues_holidayoverride_add"),
        {"date": "2026-10-08", "is_workday": "", "note": "测试"},
        follow=True,
    )
    assert response.status_code == 200
    texts = [str(m) for m in response.context["messages"]]
    assert any("已重算 1 条未办结诉求的时限" in t for t in texts), texts
    issue.refresh_from_db()
    assert issue.due_on == D(2026, 10, 28)
    # The change list, filtered by year, shows it with the package's answer beside it.
    page = client.get(reverse("admin:issues_holidayoverride_changelist") + "?year=2026").content.decode()
    assert "测试" in page and "上班" in page and "批量录入" in page


@pytest.mark.django_db
def test_it_shows_which_years_are_covered(world, client):
    make_issue(world, D(2026, 12, 20))
    rows = {row["year"]: row for row in coverage_rows(D(2026, 11, 15))}
    assert rows[2026]["source"] == "package"
    assert rows[2027]["source"] == "none" and rows[2027]["provisional"]
    assert rows[2027]["open_provisional"] == 1
    HolidayOverride.objects.create(date=D(2027, 1, 1), is_workday=False, note="元旦")
    HolidayOverride.objects.create(date=D(2026, 10, 8), is_workday=False, note="测试")
    rows = {row["year"]: row for row in coverage_rows(D(2026, 11, 15))}
    assert rows[2027]["source"] == "office" and not rows[2027]["provisional"]
    assert rows[2026]["source"] == "both" and rows[2026]["off"] == 1
    client.force_login(world.admin)
    page = client.get(reverse("admin:issues_holidayoverride_coverage")).content.decode()
    assert "2027" in page and "街道录入" in page and "chinesecalendar" in page
    # Leaders have no calendar permissions: no page.
    client.force_login(world.leader)
    assert client.get(reverse("admin:issues_holidayoverride_coverage")).status_code == 403


@pytest.mark.django_db
def test_it_never_overwrites_a_change_made_while_recomputing(world, monkeypatch):
    issue = make_issue(world, D(2026, 12, 20))  # due 2027-01-08 (暂定)
    HolidayOverride.objects.create(date=D(2027, 1, 1), is_workday=False, note="元旦")
    real_moves = deadlines._moves
    calls = []

    def moves_then_someone_extends(rows, calendar, *args, **kwargs):
        found = real_moves(rows, calendar, *args, **kwargs)
        if not calls:
            # Between our read and our write an extension of 3 days is approved (services bump version).
            from django.db.models import F

            Issue.objects.filter(pk=issue.pk).update(extension_days=3, due_on=D(2027, 1, 13), version=F("version") + 1)
        calls.append(len(found))
        return found

    monkeypatch.setattr(deadlines, "_moves", moves_then_someone_extends)
    assert recompute_open_deadlines(years={2027}) == 1
    assert calls == [1, 1]  # read, lost the race, read again
    issue.refresh_from_db()
    # 2027-01-11 + 3 working days, with 2027 now entered: the extension survives.
    assert (issue.extension_days, issue.due_on, issue.due_provisional) == (3, D(2027, 1, 14), False)
    assert issue.version == 3
    assert issue.events.get().text == "节假日调整后重算时限：办结时限 2027-01-13（暂定） → 2027-01-14"
