"""The issue ledger as an Excel file in the 问题整改台账 layout: scoped, constant memory, logged.

openpyxl's write-only mode streams rows to a temporary file, and the rows come from the database
in chunks (``iterator(chunk_size=2000)``) with every related row joined in the same query, so
memory stays flat whatever the size of the ledger. Texts that a spreadsheet would run as a
formula are written as text (``core.spreadsheets.safe_cell``).
"""

import datetime
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import BooleanField, ExpressionWrapper
from django.http import FileResponse
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from core.spreadsheets import safe_cell
from households.access_log import access_log_record
from households.levels import for_user as levels_for_user
from households.masking import can_view_full_pii, mask_room

from .deadlines import Rulebooks
from .forms import display_name
from .models import Category, Closure, Issue, Status, overdue_q

SHEET_NAME = "问题整改台账"
# The ledger's own columns of the 问题整改台账, in order; the apps above it add theirs after these
# (``add_ledger_column``: visits adds 回访结果, the issue's 回头看).
HEADERS = (
    "序号",
    "社区",
    "户主",
    "地址",
    "诉求内容",
    "类别",
    "等级",
    "登记日期",
    "方案时限",
    "办结时限",
    "时限暂定",
    "责任单位",
    "责任人",
    "办理情况",
    "状态",
    "是否逾期",
)
WIDTHS = (6, 12, 10, 22, 48, 10, 20, 12, 12, 12, 18, 16, 10, 48, 10, 9)
CHUNK_SIZE = 2000
# 时限暂定: which deadlines fall in a year without holiday data (issues/workdays.py), counted
# Monday to Friday until the schedule is entered. The deadlines themselves stay date cells.
PROVISIONAL = "暂定"
DATE_FORMAT = "yyyy-mm-dd"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def format_address(grid, building, unit, room, *, full: bool) -> str:
    """网格 + 楼栋单元门牌; the room is masked unless the user may see residents' data in full."""
    parts = (grid, building, unit, room if full else mask_room(room or ""))
    return "".join(p for p in parts if p)


def household_address(household, *, full: bool) -> str:
    return format_address(
        household.grid.name if household.grid_id else "",
        household.building.name if household.building_id else "",
        household.unit,
        household.room,
        full=full,
    )


def with_overdue_flag(queryset, *, today):
    """Annotate ``overdue_now`` (True/False), evaluated by the database."""
    return queryset.annotate(overdue_now=ExpressionWrapper(overdue_q(today), output_field=BooleanField()))


def handling_summary(*, merged_into_id, plan_text, answer, closure) -> str:
    """办理情况: the plan, the answer to the resident, or where a duplicate went."""
    parts = []
    if merged_into_id:
        parts.append(f"已合并到#{merged_into_id}")
    if plan_text:
        parts.append(f"方案：{plan_text}")
    if answer:
        parts.append(f"{CLOSURE_LABELS.get(closure) or '答复'}：{answer}")
    return "；".join(parts)


def provisional_note(*, plan_due_on, plan_provisional, due_on, due_provisional) -> str:
    """时限暂定: "方案时限暂定", "办结时限暂定", both, or empty."""
    marked = [name for name, day, mark in (("方案时限", plan_due_on, plan_provisional), ("办结时限", due_on, due_provisional))
              if day is not None and mark]  # fmt: skip
    return "、".join(marked) + PROVISIONAL if marked else ""


def _date(sheet, day):
    if day is None:
        return None
    cell = WriteOnlyCell(sheet, day)
    cell.number_format = DATE_FORMAT
    return cell


@dataclass(frozen=True)
class LedgerColumn:
    """A column an app above the ledger adds to the export, after the ledger's own."""

    header: str
    width: int
    # Lookups from Issue, read in the same query as the row: each must give one value per issue
    # (a to-many lookup would repeat the issue's row).
    fields: tuple[str, ...]
    # The cell, from those fields' values in that order.
    value: Callable[..., object]


# By header, in the order added (apps add theirs in their AppConfig.ready()).
_EXTRA_COLUMNS: dict[str, LedgerColumn] = {}


def add_ledger_column(column: LedgerColumn) -> None:
    _EXTRA_COLUMNS[column.header] = column


def columns() -> list[tuple[str, int]]:
    """(header, width) of every column of the export, in order."""
    return [*zip(HEADERS, WIDTHS, strict=True), *((c.header, c.width) for c in _EXTRA_COLUMNS.values())]


def row_fields() -> list[str]:
    """What ``values()`` reads per issue: ``ROW_FIELDS``, then the added columns' lookups."""
    fields = list(ROW_FIELDS)
    for column in _EXTRA_COLUMNS.values():
        fields += [name for name in column.fields if name not in fields]
    return fields


# The export reads plain values, not model instances: at 50,000 rows building the objects (and
# their related objects) costs more than the query.
ROW_FIELDS = (
    "community__name",
    "household__head_name",
    "household__grid__name",
    "household__building__name",
    "household__unit",
    "household__room",
    "text",
    "category",
    "severity",
    "path",
    "registered_on",
    "plan_due_on",
    "plan_due_provisional",
    "due_on",
    "due_provisional",
    "department__name",
    "assignee__cadre__name",
    "assignee__first_name",
    "assignee__last_name",
    "assignee__username",
    "plan_text",
    "answer",
    "closure",
    "merged_into_id",
    "status",
    "overdue_now",
)
CATEGORY_LABELS = dict(Category.choices)
STATUS_LABELS = dict(Status.choices)
CLOSURE_LABELS = dict(Closure.choices)


def ledger_row(sheet, number, r, *, full_address, rulebooks: Rulebooks):
    """One sheet row from one ``values(*row_fields())`` dict. 等级 is the class as the issue's
    campaign names it (``rulebooks``: each street's campaigns read once for the whole export)."""
    values = (
        number,
        r["community__name"],
        r["household__head_name"],
        format_address(
            r["household__grid__name"],
            r["household__building__name"],
            r["household__unit"],
            r["household__room"],
            full=full_address,
        ),
        r["text"],
        CATEGORY_LABELS.get(r["category"], r["category"]),
        rulebooks.rules(r["path"], r["registered_on"]).class_label(r["severity"]),
        _date(sheet, r["registered_on"]),
        _date(sheet, r["plan_due_on"]),
        _date(sheet, r["due_on"]),
        provisional_note(
            plan_due_on=r["plan_due_on"],
            plan_provisional=r["plan_due_provisional"],
            due_on=r["due_on"],
            due_provisional=r["due_provisional"],
        ),  # fmt: skip
        r["department__name"] or "",
        display_name(
            r["assignee__cadre__name"], r["assignee__first_name"], r["assignee__last_name"], r["assignee__username"]
        ),
        handling_summary(
            merged_into_id=r["merged_into_id"], plan_text=r["plan_text"], answer=r["answer"], closure=r["closure"]
        ),
        STATUS_LABELS.get(r["status"], r["status"]),
        "是" if r["overdue_now"] else "否",
        *(column.value(*(r[name] for name in column.fields)) for column in _EXTRA_COLUMNS.values()),
    )
    return [safe_cell(sheet, v) for v in values]


def write_ledger(queryset, fileobj, *, today: datetime.date, full_address: bool, levels=None) -> int:
    """Write the rows of ``queryset`` (already scoped and filtered) to ``fileobj``; returns the row count.
    ``levels`` (households.levels) name the level columns: 村(居) in a 镇's ledger."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(SHEET_NAME)
    layout = columns()
    for index, (_title, width) in enumerate(layout, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for title, _width in layout:
        cell = WriteOnlyCell(sheet, title if levels is None else levels.rewrite(title))
        cell.font = bold
        cell.alignment = Alignment(horizontal="center")
        header.append(cell)
    sheet.append(header)
    count = 0
    rulebooks = Rulebooks()
    rows = with_overdue_flag(queryset, today=today).values(*row_fields())
    for row in rows.iterator(chunk_size=CHUNK_SIZE):
        count += 1
        sheet.append(ledger_row(sheet, count, row, full_address=full_address, rulebooks=rulebooks))
    workbook.save(fileobj)
    return count


def ledger_export_response(request, queryset, *, what="问题整改台账（页面导出）"):
    """Stream the ledger of ``queryset`` as xlsx; the user's scope is applied again here and the export logged."""
    # Re-scoped whatever the caller passed: an export never reaches past visible_to.
    scoped = queryset & Issue.objects.visible_to(request.user)
    today = timezone.localdate()
    spool = tempfile.TemporaryFile()
    full = can_view_full_pii(request.user)
    rows = write_ledger(scoped, spool, today=today, full_address=full, levels=levels_for_user(request.user))
    spool.seek(0)
    access_log_record(request, what=what, rows=rows)
    return FileResponse(spool, as_attachment=True, filename=f"问题整改台账_{today:%Y%m%d}.xlsx", content_type=XLSX)
