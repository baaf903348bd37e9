"""The 督查通报 as an Excel file: one row per community and a 合计 row, the figures of the page.

Like the other exports (``reports/ledgers/excel.py``): openpyxl's write-only mode into a temporary
file, every text through ``core.spreadsheets.safe_cell`` (a community named "=…" stays text), and
the export logged (``households.access_log.access_log_record``). The rows are the ones the page
shows the same user (``reports.bulletin.lines_for``: scoped by ``visible_to``).
"""

from __future__ import annotations

import tempfile

from django.http import FileResponse
from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.styles import Font

from core.spreadsheets import safe_cell
from households.access_log import access_log_record
from issues.exporting import XLSX

from ..ledgers.excel import header_sheet
from ..models import FindingKind
from ..monthly import month_label
from . import totals

SHEET = "督查通报"
KIND_LABELS = dict(FindingKind.choices)
HEADERS = (
    "序号", "社区", *KIND_LABELS.values(), "督查发现合计", "当月扣分", "累计得分", "走访次数", "走访户数",
    "登记诉求", "办结诉求", "逾期诉求", "应办结", "按期办结", "按期办结率",
)  # fmt: skip
WIDTHS = (6, 16, *(max(8, 2 * len(label) + 2) for label in KIND_LABELS.values()), 12, 10, 10, 10, 10,
          10, 10, 10, 8, 10, 12)  # fmt: skip
PERCENT = "0.0%"


def _row(sheet, number, line):
    rate = None
    if line.on_time_pct is not None:
        rate = WriteOnlyCell(sheet, line.issues_closed_on_time / line.issues_close_due)
        rate.number_format = PERCENT
    values = (
        number, line.name, *(line.finding_count(kind) for kind in KIND_LABELS), line.findings_total, line.deducted,
        line.score if number != "" else "", line.visits, line.households, line.issues_registered, line.issues_closed,
        line.issues_overdue, line.issues_close_due, line.issues_closed_on_time, rate if rate is not None else "—",
    )  # fmt: skip
    return [safe_cell(sheet, v) for v in values]


def write_bulletin(lines, fileobj, *, title: str = SHEET) -> int:
    """The lines (already scoped) on a sheet named ``title``, then a bold 合计 row; returns the
    community rows written."""
    workbook = Workbook(write_only=True)
    sheet = header_sheet(workbook, title, HEADERS, WIDTHS)
    for number, line in enumerate(lines, start=1):
        sheet.append(_row(sheet, number, line))
    total = _row(sheet, "", totals(lines))
    for i, value in enumerate(total):
        cell = value if isinstance(value, Cell) else WriteOnlyCell(sheet, value)
        cell.font = Font(bold=True)
        total[i] = cell
    sheet.append(total)
    workbook.save(fileobj)
    return len(lines)


def bulletin_response(request, *, campaign, month, lines):
    """The bulletin of ``campaign`` for ``month`` (the 1st) as xlsx; logged."""
    label = month_label(month)
    spool = tempfile.TemporaryFile()
    rows = write_bulletin(lines, spool, title=f"{label}{SHEET}")
    spool.seek(0)
    access_log_record(request, what=f"督查通报（{campaign}·{label}）", rows=rows)
    return FileResponse(spool, as_attachment=True, filename=f"督查通报_{month:%Y%m}.xlsx", content_type=XLSX)
