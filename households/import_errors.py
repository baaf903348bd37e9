"""The error file of a register import: every row with errors, as uploaded, and why.

The preview page lists the first errors only (a 200,000-row file of bad rows would make a page
of tens of megabytes); this file has them all, to correct in Excel. It holds the rows exactly as
read — the template's columns in the template's order, the header included — and one more
column, 错误原因, with every reason of the row. Its sheet is called 居民底册 like the template's:
corrected rows import again once the 错误原因 column is deleted.

Written by xlsxwriter in constant-memory mode, row by row while the import checks the file (the
rows are never held in memory), every text through the export rule against formula injection
(core.spreadsheets.safe_cell): a resident's text starting with "=" stays text.
"""

import datetime
from pathlib import Path

import xlsxwriter

from core.spreadsheets import safe_cell

from .register import COLUMN_WIDTHS, HEADERS, SHEET_NAME, TEMPLATE_KEYS, RowError, register_layout

REASON_HEADER = "错误原因"
REASON_WIDTH = 60
# Columns kept as text in the file, as in the template: Excel would drop an ID number's last
# digits and a landline's leading 0 when a corrected one is typed in.
TEXT_COLUMNS = ("身份证号", "联系电话")


def reason_text(number: int, errors) -> str:
    """The 错误原因 of one row: its Excel row number in the upload, then every reason."""
    reasons = "；".join(f"【{e.column}】{e.message}" if e.column else e.message for e in errors)
    return f"原第 {number} 行：{reasons}"


class ErrorFileWriter:
    """Collects the bad rows of one import into an xlsx at ``path``.

    Use as a context manager; ``add`` has the signature of clean_register's ``on_bad_row``. The
    file is created on the first bad row only: ``rows`` tells how many were written (0: no file).
    """

    def __init__(self, path, *, levels=None):
        """``levels`` (households.levels) of the street imported into: a 镇's file names the
        columns 村(居) and 村民小组 (its rows are in the template's order all the same)."""
        self.path = Path(path)
        self.rows = 0
        self.workbook = None
        labels = register_layout(levels).labels
        self.headers = HEADERS if levels is None else tuple(labels[k] for k in TEMPLATE_KEYS)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        if exc_type is not None:
            self.path.unlink(missing_ok=True)
        return False

    def _open(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        workbook = xlsxwriter.Workbook(
            str(self.path),
            {
                # Rows go to a temporary file as they are written: memory stays flat at any size.
                "constant_memory": True,
                # Texts stay texts: no formula, link or number made of what a resident wrote.
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        sheet = workbook.add_worksheet(SHEET_NAME)
        text = {"num_format": "@"}
        self.formats = {
            # (text column, quote prefix) → format
            (False, False): None,
            (False, True): workbook.add_format({"quote_prefix": True}),
            (True, False): workbook.add_format(text),
            (True, True): workbook.add_format({**text, "quote_prefix": True}),
        }
        self.date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
        self.time_format = workbook.add_format({"num_format": "hh:mm:ss"})
        self.datetime_format = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self.duration_format = workbook.add_format({"num_format": "[h]:mm:ss"})
        header = workbook.add_format({"bold": True})
        reason = workbook.add_format({"font_color": "#C00000", "text_wrap": True, "valign": "top"})
        headers = self.headers
        self.text_column = [h in TEXT_COLUMNS for h in headers]
        # Column formats first: constant-memory mode writes each row once, in order.
        for index, width in enumerate(COLUMN_WIDTHS):
            sheet.set_column(index, index, width, self.formats[(True, False)] if self.text_column[index] else None)
        sheet.set_column(len(headers), len(headers), REASON_WIDTH, reason)
        sheet.write_row(0, 0, (*headers, REASON_HEADER), header)
        sheet.freeze_panes(1, 0)
        self.reason_format = reason
        self.workbook, self.sheet = workbook, sheet

    def add(self, number: int, cells, errors: list[RowError]):
        """One bad row: ``cells`` as read, in HEADERS order; ``number`` its Excel row number."""
        if self.workbook is None:
            self._open()
        self.rows += 1
        row = self.rows
        for column, value in enumerate(list(cells)[: len(HEADERS)]):
            self._write(row, column, value)
        self.sheet.write_string(row, len(HEADERS), self._text(reason_text(number, errors))[0], self.reason_format)

    def _text(self, value: str):
        """(text, quote prefix) by the export rule: see core.spreadsheets.safe_cell."""
        cell = safe_cell(None, value)
        if isinstance(cell, str):
            return cell, False
        return cell.value, True

    def _write(self, row, column, value):
        sheet = self.sheet
        if value is None or value == "":
            return
        if isinstance(value, bool):
            sheet.write_boolean(row, column, value)
        elif isinstance(value, (int, float)):
            sheet.write_number(row, column, value)
        elif isinstance(value, datetime.datetime):
            sheet.write_datetime(row, column, value.replace(tzinfo=None), self.datetime_format)
        elif isinstance(value, datetime.date):
            sheet.write_datetime(row, column, value, self.date_format)
        elif isinstance(value, datetime.time):
            sheet.write_datetime(row, column, value, self.time_format)
        elif isinstance(value, datetime.timedelta):
            sheet.write_datetime(row, column, value, self.duration_format)
        else:
            text, quoted = self._text(str(value))
            if text:
                sheet.write_string(row, column, text, self.formats[(self.text_column[column], quoted)])

    def close(self):
        if self.workbook is not None:
            self.workbook.close()
            self.workbook = None
