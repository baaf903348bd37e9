"""Writing spreadsheets safely: the one rule every Excel and CSV export of the app goes through.

A text that Excel, LibreOffice or WPS would run as a formula (CSV/formula injection) is written
as text: in an xlsx as a text cell with Excel's quote prefix (``safe_cell``), in a CSV with a
leading apostrophe (``csv_safe``). ``write_xlsx`` writes a tablib Dataset by that rule, and
``SafeCSV`` is django-import-export's CSV format with it.
"""

import re
from io import BytesIO

import tablib
from import_export.formats import base_formats
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

# Excel, LibreOffice and WPS may run a text starting with these as a formula (CSV/formula injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def is_formula_like(value) -> bool:
    """A text that Excel, LibreOffice or WPS could run as a formula (FORMULA_TRIGGERS)."""
    return isinstance(value, str) and value.startswith(FORMULA_TRIGGERS)


def safe_cell(sheet, value):
    """The one rule of every Excel export: a value as it goes into a write-only ``sheet``.

    A text that a spreadsheet could run as a formula is written as a text cell with Excel's
    quote prefix: it shows as text (with ' in the formula bar), is not run when edited, and
    reads back unchanged. Characters XML cannot hold (control characters) are dropped instead
    of failing the whole export. Other texts are text cells already (openpyxl only makes a
    formula of "=…"), so ID numbers and phones stay text; numbers, dates and cells pass as is.
    """
    if not isinstance(value, str):
        return value
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if not is_formula_like(value):
        return value
    cell = WriteOnlyCell(sheet, value)
    cell.data_type = "s"  # openpyxl would otherwise store "=…" as a live formula
    cell.quotePrefix = True
    return cell


def csv_safe(value):
    """The same rule for CSV, which has no cell types: such a text gets a leading apostrophe."""
    return "'" + value if is_formula_like(value) else value


def write_xlsx(dataset: tablib.Dataset) -> bytes:
    """Write-only openpyxl; every value through safe_cell (text stays text, quote-prefixed where a
    spreadsheet would see a formula). Bold header, frozen first row, columns sized to the text."""
    from openpyxl import Workbook
    from openpyxl.cell import Cell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    headers = list(dataset.headers or [])
    workbook = Workbook(write_only=True)
    title = re.sub(r"[\\*?:/\[\]]", "-", dataset.title or "Sheet1")[:31]
    sheet = workbook.create_sheet(title=title)
    widths = [_display_width(h) for h in headers]
    for row in dataset:
        for i, value in enumerate(row[: len(widths)]):
            widths[i] = max(widths[i], _display_width(value))
    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = min(max(width + 2, 8), 60)
    sheet.freeze_panes = "A2"

    def cell(value, bold=False):
        # safe_cell is the rule (formula-like text → quote-prefixed text cell); every value is a
        # cell here, for the header's bold font.
        c = safe_cell(sheet, value)
        if not isinstance(c, Cell):
            c = WriteOnlyCell(sheet, value=c)
        if bold:
            c.font = Font(bold=True)
        return c

    if headers:
        sheet.append([cell(h, bold=True) for h in headers])
    for row in dataset:
        sheet.append([cell(v) for v in row])
    out = BytesIO()
    workbook.save(out)
    return out.getvalue()


def _display_width(value) -> int:
    """Width of a text in a spreadsheet column: CJK characters take two columns."""
    text = "" if value is None else str(value)
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


class SafeCSV(base_formats.CSV):
    """CSV for export only: a text that a spreadsheet would run as a formula gets a leading apostrophe."""

    def can_import(self):
        return False

    def export_data(self, dataset, **kwargs):
        escaped = tablib.Dataset(headers=dataset.headers, title=dataset.title)
        for row in dataset:
            escaped.append([csv_safe(value) for value in row])
        return escaped.export("csv")
