"""Reading the workbooks the reports pages export (ledgers, monthly report, 特殊困难群体台账)."""

import io
import re

from openpyxl import load_workbook

# A full ID number or mobile number: an export shows them masked, so no cell may match.
ID_OR_PHONE = re.compile(r"\d{17}[\dX]|1\d{10}")


def workbook_of(response):
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in response["Content-Disposition"]
    return load_workbook(io.BytesIO(b"".join(response.streaming_content)))


def header_of(sheet):
    return [c.value for c in sheet[1]]


def rows_of(sheet):
    return [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]


def as_dicts(sheet):
    header = header_of(sheet)
    return [dict(zip(header, row, strict=True)) for row in rows_of(sheet)]


def all_text(workbook):
    return [
        str(c.value) for sheet in workbook.worksheets for row in sheet.iter_rows() for c in row if c.value is not None
    ]
