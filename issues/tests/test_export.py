"""The ledger export (问题整改台账 layout): columns, dates, 暂定, formula-safe text, scope, filters, the log."""

import datetime
import io

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from households.masking import mask_room
from households.models import AccessLog
from issues import exporting
from issues.models import Category, Issue, Status
from issues.tests.factories import make_issue

HEADERS = [
    "序号", "社区", "户主", "地址", "诉求内容", "类别", "等级", "登记日期",
    "方案时限", "办结时限", "时限暂定", "责任单位", "责任人", "办理情况", "状态", "是否逾期", "回访结果",
]  # fmt: skip


def days_ago(n):
    return timezone.localdate() - datetime.timedelta(days=n)


@pytest.fixture
def w(world):
    world.routed = make_issue(
        world.ha,
        text="楼道灯不亮，晚上出行不便",
        status=Status.PLANNED,
        registered_on=days_ago(60),
        department=world.dept,
        assignee=world.handler,
    )
    world.formula = make_issue(world.hb, text='=HYPERLINK("http://x","点我")', registered_on=days_ago(1))
    world.other = make_issue(world.hc, text="-南纬社区加装电梯", category=Category.HOUSING, registered_on=days_ago(2))
    return world


def export(client, user, **params):
    client.force_login(user)
    response = client.get(reverse("issues:export"), params)
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"] == exporting.XLSX
    assert "attachment" in response["Content-Disposition"]
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    return workbook[exporting.SHEET_NAME]


def rows_of(sheet):
    return [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]


@pytest.mark.django_db
def test_it_writes_exactly_the_ledger_header(client, w):
    sheet = export(client, w.admin)
    assert [c.value for c in sheet[1]] == HEADERS
    assert len(rows_of(sheet)) == 3


@pytest.mark.django_db
def test_it_writes_a_row_per_issue_with_real_dates(client, w):
    sheet = export(client, w.admin, q="楼道灯")
    (row,) = list(sheet.iter_rows(min_row=2))
    values = dict(zip(HEADERS, [c.value for c in row]))
    issue = Issue.objects.get(pk=w.routed.pk)
    assert values["序号"] == 1
    assert values["社区"] == "湖田社区" and values["户主"] == "张甲"
    assert values["地址"] == "第1网格1号楼1单元101"  # the street admin sees residents' data in full
    assert values["类别"] == issue.get_category_display()
    assert values["等级"] == "一般问题"  # the class as the product default's rulebook names it
    assert values["状态"] == "方案已报"
    assert values["责任单位"] == "区民政局" and values["责任人"] == "dept1"
    assert values["办理情况"].startswith("方案：")
    assert values["是否逾期"] == "是" and values["回访结果"] is None  # not on a 回头看 list yet
    registered = dict(zip(HEADERS, row))["登记日期"]
    assert registered.is_date and registered.value.date() == issue.registered_on
    assert dict(zip(HEADERS, row))["办结时限"].value.date() == issue.due_on


@pytest.mark.django_db
def test_it_marks_provisional_deadlines_in_the_sheet(client, w):
    Issue.objects.filter(pk=w.routed.pk).update(due_provisional=True)
    sheet = export(client, w.admin, q="楼道灯")
    values = dict(zip(HEADERS, rows_of(sheet)[0]))
    due = Issue.objects.get(pk=w.routed.pk).due_on
    # The deadline stays a date cell; 暂定 is said in its own column.
    assert values["办结时限"].date() == due and values["时限暂定"] == "办结时限暂定"


@pytest.mark.django_db
def test_it_writes_formula_like_text_as_text(client, w):
    sheet = export(client, w.admin)
    cells = {c.value: c for row in sheet.iter_rows(min_row=2) for c in row if isinstance(c.value, str)}
    for text in ('=HYPERLINK("http://x","点我")', "-南纬社区加装电梯"):
        assert text in cells, text
        assert cells[text].data_type != "f"
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "who,expected",
    [
        ("admin", {"楼道灯不亮，晚上出行不便", '=HYPERLINK("http://x","点我")', "-南纬社区加装电梯"}),
        ("secretary", {"楼道灯不亮，晚上出行不便", '=HYPERLINK("http://x","点我")'}),
        ("worker_b", {'=HYPERLINK("http://x","点我")'}),
        ("handler", {"楼道灯不亮，晚上出行不便"}),
    ],
)
def test_it_exports_only_what_the_user_may_see_and_logs_it(client, w, who, expected):
    user = getattr(w, who)
    sheet = export(client, user)
    texts = {row[4] for row in rows_of(sheet)}
    assert texts == expected
    log = AccessLog.objects.get()
    assert (log.user, log.rows, log.ip) == (user, len(expected), "127.0.0.1")
    assert "问题整改台账" in log.what


@pytest.mark.django_db
def test_it_exports_the_current_filtered_ledger(client, w):
    sheet = export(client, w.admin, status="registered", community=w.c1.pk)
    assert [row[4] for row in rows_of(sheet)] == ['=HYPERLINK("http://x","点我")']
    assert AccessLog.objects.get().rows == 1
    overdue = export(client, w.admin, due="overdue")
    assert [row[4] for row in rows_of(overdue)] == ["楼道灯不亮，晚上出行不便"]


@pytest.mark.django_db
def test_it_masks_the_door_number_for_users_without_full_access(client, w):
    sheet = export(client, w.secretary, q="楼道灯")
    address = rows_of(sheet)[0][3]
    assert address == "第1网格1号楼1单元1**"


@pytest.mark.django_db
def test_it_sends_anonymous_visitors_to_login_and_logs_nothing(client, w):
    response = client.get(reverse("issues:export"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert not AccessLog.objects.exists()


@pytest.mark.django_db
def test_it_rescopes_whatever_queryset_it_is_given(rf, w):
    request = rf.get("/issues/export/")
    request.user = w.worker_b
    response = exporting.ledger_export_response(request, Issue.objects.all())
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content)))[exporting.SHEET_NAME]
    assert [row[4] for row in rows_of(sheet)] == ['=HYPERLINK("http://x","点我")']


def test_it_masks_half_the_door_number():
    assert mask_room("1204") == "12**"
    assert mask_room("5") == "*"
    assert mask_room("") == ""


@pytest.mark.django_db
def test_it_flags_overdue_rows_by_the_models_own_rule(w):
    today = timezone.localdate()
    plan_late = make_issue(w.hb, status=Status.ROUTED, department=w.dept, registered_on=days_ago(9))
    Issue.objects.filter(pk=plan_late.pk).update(due_on=today + datetime.timedelta(days=9))  # only the plan is late
    make_issue(w.hb, status=Status.CLOSED, department=w.dept, registered_on=days_ago(90))  # closed: never overdue
    flagged = {i.pk for i in exporting.with_overdue_flag(Issue.objects.all(), today=today) if i.overdue_now}
    assert flagged == set(Issue.objects.overdue(on=today).values_list("pk", flat=True))
    assert plan_late.pk in flagged and w.routed.pk in flagged and len(flagged) == 2
