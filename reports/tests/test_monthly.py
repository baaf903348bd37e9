"""The 月度大走访活动入户表 (reports/monthly.py): the rows counted by hand, rebuilt the same twice,
the Celery task and the command, the export and its scope. (Every cadre's row, zeros included, and
the month's targets: test_monthly_zero_rows.py.)

October 2026 in the ``lw`` world (reports/tests/conftest.py), counted visits only (no 未遇, no 回头看):

    grid_a  湖田社区  v2, v3 (10-09), v7 (10-21): 2 days, 2 households (ha, hb), 3 visits;
            raised i3, i4 (10-09) = 2; solved i1 (answered 10-05) and i3 (on the spot 10-09) = 2
            (i2 was answered in September: it counts there, not again when closed in October)
    grid_b  湖田社区  v4 (10-12): 1, 1, 1; raised i5 = 1; solved 0
    dept1   (street)  v8 (10-12): 1, 1, 1; raised 0; solved 0

and the street's other six active cadres (admin, leader, sec1, lw_c1, staff_c1, staff_c2) with zeros.
"""

import datetime
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from households.models import AccessLog, Node, NodeKind
from households.roles import CADRE
from reports import monthly
from reports.models import MonthlyCadreRow, MonthlyReport
from reports.tasks import build_monthly_report_task
from reports.tests.factories import make_visit
from reports.tests.workbooks import as_dicts, header_of, rows_of, workbook_of
from tests.support.world import make_household, make_user
from visitplan.models import Cadre, Tier
from visits import tally

D = datetime.date
OCTOBER = D(2026, 10, 1)
MONTHLY_HEADERS = [
    "序号",
    "社区",
    "姓名",
    "层级",
    "工作单位",
    "职务",
    "走访天数",
    "走访户数",
    "走访次数",
    "收集诉求",
    "解决诉求",
    "月度任务",
    "完成情况",
    "差天数",
    "差户数",
    "待走访户数",
]


def stored_rows(month=OCTOBER):
    rows = MonthlyCadreRow.objects.filter(report__month=month).order_by("cadre__name")
    return [
        (r.cadre.name, r.community.name if r.community else None, r.days_visited, r.households_visited, r.visits,
         r.issues_raised, r.issues_solved)
        for r in rows.select_related("cadre", "community")
    ]  # fmt: skip


# The cadres of the street who did not visit: (name, community), a row of zeros each.
IDLE = {"admin": None, "leader": None, "lw_c1": "湖田社区", "sec1": "湖田社区", "staff_c1": "湖田社区",
        "staff_c2": "南纬社区"}  # fmt: skip


def with_idle(rows, idle=IDLE):
    """``rows`` and the zero rows of ``idle``, by name (as ``stored_rows`` orders them)."""
    zeros = [(name, community, 0, 0, 0, 0, 0) for name, community in idle.items()]
    return sorted([*rows, *zeros])


OCTOBER_ROWS = with_idle([
    ("dept1", None, 1, 1, 1, 0, 0),
    ("grid_a", "湖田社区", 2, 2, 3, 2, 2),
    ("grid_b", "湖田社区", 1, 1, 1, 1, 0),
])  # fmt: skip


@pytest.mark.django_db
def test_it_counts_each_cadres_month_by_hand(lw):
    (report,) = monthly.build_monthly_report(month=D(2026, 10, 17))  # any day of the month: its 1st
    assert (report.street, report.month) == (lw.street, OCTOBER)
    assert stored_rows() == OCTOBER_ROWS
    monthly.build_monthly_report(month=D(2026, 9, 1))
    # September: v1 only; i1 and i2 raised, i2 answered on 9-30.
    assert stored_rows(D(2026, 9, 1)) == with_idle(
        [("grid_a", "湖田社区", 1, 1, 1, 2, 1), ("dept1", None, 0, 0, 0, 0, 0), ("grid_b", "湖田社区", 0, 0, 0, 0, 0)]
    )


@pytest.mark.django_db
def test_running_it_twice_gives_the_same_rows(lw):
    monthly.build_monthly_report(month=OCTOBER)
    first = stored_rows()
    monthly.build_monthly_report(month=OCTOBER)
    assert stored_rows() == first == OCTOBER_ROWS
    assert MonthlyReport.objects.count() == 1 and MonthlyCadreRow.objects.count() == 9


@pytest.mark.django_db
def test_a_rebuild_follows_the_data_and_leaves_out_inactive_cadres(lw):
    monthly.build_monthly_report(month=OCTOBER)
    Cadre.objects.filter(pk=lw.worker_b.cadre.pk).update(active=False)
    make_visit(lw, lw.hc, lw.handler, D(2026, 10, 30))
    monthly.build_monthly_report(month=OCTOBER)
    assert stored_rows() == with_idle([("dept1", None, 2, 1, 2, 0, 0), ("grid_a", "湖田社区", 2, 2, 3, 2, 2)])


@pytest.mark.django_db
def test_every_street_gets_its_own_report(lw):
    other = Node.objects.create(kind=NodeKind.STREET, name="北岭街道")
    community = Node.objects.create(kind=NodeKind.COMMUNITY, name="北岭社区", parent=other)
    grid = Node.objects.create(kind=NodeKind.GRID, name="第1网格", parent=community)
    worker = make_user("north", CADRE, scope=grid, tier=Tier.GRID_WORKER)
    make_visit(lw, make_household(grid, "901", "孙戊", 90), worker, D(2026, 10, 3))
    reports = monthly.build_monthly_report(month=OCTOBER)
    assert [(r.street.name, len(r.cadre_rows)) for r in reports] == [("湖田街道", 9), ("北岭街道", 1)]
    north = MonthlyCadreRow.objects.get(report__street=other)
    assert (north.cadre, north.community, north.visits) == (worker.cadre, community, 1)


@pytest.mark.django_db
def test_its_number_of_queries_does_not_grow_with_the_cadres(lw):
    def queries():
        with CaptureQueriesContext(connection) as q:
            monthly.build_monthly_report(month=OCTOBER)
        return len(q.captured_queries)

    queries()  # the first run also creates the report
    before = queries()
    for n in range(5):
        grid = Node.objects.create(kind=NodeKind.GRID, name=f"新网格{n}", parent=lw.c2)
        worker = make_user(f"new{n}", CADRE, scope=grid, tier=Tier.GRID_WORKER)
        make_visit(lw, make_household(grid, "101", f"新户{n}", 200 + n), worker, D(2026, 10, 2 + n))
    assert queries() == before
    assert MonthlyCadreRow.objects.count() == 14


# ------------------------------------------------------------------------------------------------ the task and the command


@pytest.mark.django_db
def test_the_task_builds_the_month_before_by_default(lw, monkeypatch):
    monkeypatch.setattr("core.clock.today", lambda: D(2026, 11, 1))
    assert build_monthly_report_task() == {"month": "2026-10", "streets": 1, "rows": 9}
    assert build_monthly_report_task.delay("2026-10").get() == {"month": "2026-10", "streets": 1, "rows": 9}
    assert stored_rows() == OCTOBER_ROWS


def test_the_beat_runs_it_on_the_first_of_the_month():
    entry = settings.CELERY_BEAT_SCHEDULE["build-monthly-report"]
    assert entry["task"] == "reports.tasks.build_monthly_report_task"
    assert entry["schedule"].day_of_month == {1} and entry["schedule"].hour == {6} and entry["schedule"].minute == {0}


@pytest.mark.django_db
def test_the_command_prints_a_line_per_street_and_gives_the_same_rows_twice(lw):
    for _ in range(2):
        out = StringIO()
        call_command("build_monthly_report", "--month", "2026-10", stdout=out)
        assert out.getvalue().strip() == "湖田街道 2026年10月：干部 9 人，走访 5 次，收集诉求 3 件，解决诉求 2 件"
        assert stored_rows() == OCTOBER_ROWS


@pytest.mark.django_db
def test_the_command_defaults_to_last_month_and_refuses_a_bad_month(lw, monkeypatch):
    monkeypatch.setattr("core.clock.today", lambda: D(2026, 11, 20))
    out = StringIO()
    call_command("build_monthly_report", stdout=out)
    assert "2026年10月" in out.getvalue()
    with pytest.raises(CommandError, match="YYYY-MM"):
        call_command("build_monthly_report", "--month", "2026-13")


# ------------------------------------------------------------------------------------------------ the export


def monthly_sheet(client, user, month="2026-10"):
    client.force_login(user)
    book = workbook_of(client.get(reverse("reports:ledger_monthly"), {"month": month}))
    return book[book.sheetnames[0]]


@pytest.mark.django_db
def test_the_export_builds_a_missing_month_and_ends_with_the_totals(client, lw):
    # The households still due are read from the tallies (the world's visits are not tallied).
    tally.rebuild(lw.campaign)
    assert not MonthlyReport.objects.exists()
    sheet = monthly_sheet(client, lw.admin)
    assert MonthlyReport.objects.filter(month=OCTOBER).count() == 1
    assert sheet.title == "2026年10月入户表"
    assert header_of(sheet) == MONTHLY_HEADERS
    none = [None] * 4  # no leader's month
    assert rows_of(sheet) == [
        # street-level cadres (the street's name), by tier: the leader against the campaign's 10 days / 50 households
        [1, "湖田街道", "leader", "街道班子成员", None, None, 0, 0, 0, 0, 0, "10天/50户", "未达标", 10, 50, None],
        [2, "湖田街道", "dept1", "市/区直部门挂包单位", None, None, 1, 1, 1, 0, 0, *none, 0],
        [3, "湖田街道", "admin", "街道干部（包村居组）", None, None, 0, 0, 0, 0, 0, *none, 0],
        [4, "湖田社区", "staff_c1", "街道干部（包村居组）", None, None, 0, 0, 0, 0, 0, *none, 0],
        [5, "湖田社区", "sec1", "社区书记", None, None, 0, 0, 0, 0, 0, *none, 0],
        [6, "湖田社区", "lw_c1", "两委成员/社区工作者", None, None, 0, 0, 0, 0, 0, *none, 0],
        [7, "湖田社区", "grid_a", "网格员", None, None, 2, 2, 3, 2, 2, *none, 0],
        [8, "湖田社区", "grid_b", "网格员", None, None, 1, 1, 1, 1, 0, *none, 0],
        [9, "南纬社区", "staff_c2", "街道干部（包村居组）", None, None, 0, 0, 0, 0, 0, *none, 0],
        ["合计", None, "9人", None, None, None, 4, 4, 5, 3, 2, None, "未达标1人", None, None, 0],
    ]
    log = AccessLog.objects.get()
    assert (log.user, log.rows, log.what, log.ip) == (lw.admin, 9, "月度大走访活动入户表（2026年10月）", "127.0.0.1")


@pytest.mark.django_db
def test_the_export_reads_a_finished_month_as_it_was_built(client, lw):
    monthly.build_monthly_report(month=OCTOBER)
    make_visit(lw, lw.hc, lw.handler, D(2026, 10, 30))  # entered late: shows after the next rebuild only
    rows = as_dicts(monthly_sheet(client, lw.admin))
    assert [r["走访次数"] for r in rows if r["姓名"] == "dept1"] == [1]


@pytest.mark.django_db
@pytest.mark.parametrize("who,names", [
    ("leader", ["leader", "dept1", "admin", "staff_c1", "sec1", "lw_c1", "grid_a", "grid_b", "staff_c2"]),
    ("secretary", ["staff_c1", "sec1", "lw_c1", "grid_a", "grid_b"]),  # the cadres of his community
    ("worker_a", ["grid_a"]),  # everyone else: his own row
    ("handler", ["dept1"]),
])  # fmt: skip
def test_the_export_is_scoped_to_the_cadres_the_user_may_see(client, lw, who, names):
    rows = as_dicts(monthly_sheet(client, getattr(lw, who)))
    assert [r["姓名"] for r in rows[:-1]] == names
    assert rows[-1]["序号"] == "合计" and rows[-1]["姓名"] == f"{len(names)}人"
    assert AccessLog.objects.get().rows == len(names)


@pytest.mark.django_db
def test_the_export_refuses_a_bad_or_future_month(client, lw):
    client.force_login(lw.admin)
    url = reverse("reports:ledger_monthly")
    assert "月份格式应为" in client.get(url, {"month": "10/2026"}, follow=True).content.decode()
    assert "所选月份还没有开始" in client.get(url, {"month": "2999-01"}, follow=True).content.decode()
    assert not AccessLog.objects.exists() and not MonthlyReport.objects.exists()
