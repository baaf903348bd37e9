"""A staff-list file: the bounds of an upload, the xlsx format the admin offers, the sheet read
into a Dataset, and how a cell is read as text.

Every upload goes through core.xlsx_guard (``check_upload``) with the bounds below; openpyxl then
reads the first sheet in a child process (core.sandbox, households.xlsx_read). Exports write every
text as text (core.spreadsheets.write_xlsx).
"""

import tablib
from django.conf import settings
from import_export.formats import base_formats

from core.sandbox import SandboxFailed, run_limited
from core.spreadsheets import write_xlsx
from core.xlsx_guard import BLANK_ROW_ALLOWANCE, XlsxRejected, inspect_xlsx
from households.xlsx_read import openpyxl_first_sheet

# Bounds of a staff-list upload (settings STAFF_LIST_MAX_UPLOAD_MB, STAFF_LIST_MAX_ROWS); openpyxl
# has no bounds of its own (measured: 2 million cells took 47 s and 768 MB).
MAX_UPLOAD_MB = settings.STAFF_LIST_MAX_UPLOAD_MB
MAX_ROWS = settings.STAFF_LIST_MAX_ROWS
MAX_COLUMNS = 30


class SheetFileError(Exception):
    """The file as a whole cannot be imported (unreadable, too large, wrong header)."""


class SheetXLSX(base_formats.XLSX):
    """xlsx, read with openpyxl read-only and bounded; written with text cells that are never formulas."""

    def create_dataset(self, in_stream):
        return read_sheet(in_stream)

    def export_data(self, dataset, **kwargs):
        # Not super(): IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT would strip the "=" (data loss) and
        # leave "+", "-", "@" alone. Here every text is written as text instead.
        return write_xlsx(dataset)


def check_upload(file):
    """core.xlsx_guard with the staff lists' bounds (raises XlsxRejected, a ValidationError).

    openpyxl reads every cell of a row, also past MAX_COLUMNS: the rectangle of cells is bounded
    at twice what read_sheet can use, so that a sheet of 5,000 rows × 16,384 columns is refused
    before openpyxl spends minutes on it.
    """
    inspect_xlsx(file, max_cells=(MAX_ROWS + BLANK_ROW_ALLOWANCE + 1) * MAX_COLUMNS * 2, max_upload_mb=MAX_UPLOAD_MB)


def read_sheet(data: bytes) -> tablib.Dataset:
    """The first sheet as a Dataset; blank rows inside the data are kept so rows keep their Excel numbers.

    The file goes through the upload guard first, whoever calls this (the admin's form has
    checked the upload already; this also covers the confirmation, which reads the stored copy).
    openpyxl then reads it in a child process (core.sandbox) within IMPORT_PARSE_MEMORY_MB and
    IMPORT_PARSE_CPU_SECONDS: a file the guard misses costs that child, never this process.
    """
    try:
        check_upload(data)
    except XlsxRejected as exc:
        raise SheetFileError(exc.message) from None
    try:
        # The rows as far as the loop below reads them (the same blank-run and row limits).
        rows = run_limited(
            openpyxl_first_sheet,
            bytes(data),
            max_columns=MAX_COLUMNS,
            max_rows=MAX_ROWS,
            max_blank_run=BLANK_ROW_ALLOWANCE,
            memory_mb=settings.IMPORT_PARSE_MEMORY_MB,
            cpu_seconds=settings.IMPORT_PARSE_CPU_SECONDS,
        )
    except SandboxFailed as exc:
        raise SheetFileError(exc.message) from None
    except Exception:
        raise SheetFileError(
            "文件无法读取：请上传 .xlsx 格式的 Excel 工作簿（.xls、.csv 或设置了密码的文件请先在 Excel 中另存为“Excel 工作簿(*.xlsx)”）"
        ) from None
    rows = iter(rows)
    header = [as_text(v) for v in next(rows, ())]
    while header and not header[-1]:
        header.pop()
    if not header:
        raise SheetFileError("第一个工作表的第 1 行没有表头")
    width = len(header)
    body, blanks = [], []
    for values in rows:
        # Blank cells as "" (not None): the admin's table of invalid rows shows the raw values.
        values = ["" if v is None else v for v in values[:width]] + [""] * (width - len(values))
        if is_blank(values):
            blanks.append(values)
            # Formatted but empty rows after the data: stop after this many blank rows in a row.
            if len(blanks) > BLANK_ROW_ALLOWANCE:
                break
            continue
        body.extend(blanks)
        blanks = []
        body.append(values)
        if len(body) > MAX_ROWS:
            raise SheetFileError(f"数据超过 {MAX_ROWS} 行的上限，请分成几个文件导入")
    return tablib.Dataset(*body, headers=header)


# ---------------------------------------------------------------------------------------------
# Cells

YES, NO = "是", "否"


def as_text(value) -> str:
    """A cell as text. Excel stores a typed-in number as a float: 1204 → 1204.0 → "1204"."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_blank(values) -> bool:
    return all(as_text(v) == "" for v in values)


def yes_no(value: bool) -> str:
    return YES if value else NO
