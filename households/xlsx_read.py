"""Reading an uploaded workbook, inside core.sandbox's child process: no Django here.

These functions run with memory and CPU limits (core.sandbox.run_limited), after
core.xlsx_guard has passed the file, and return plain Python data, pickled back to the
caller: households.register reads the register with python-calamine, visitplan.sheets the staff
lists with openpyxl. The child does not set Django up, so this module imports no model.
"""

import io
import os


class SheetNotFound(Exception):
    """The workbook has no sheet of the name asked for; ``sheet_names`` are the ones it has."""

    def __init__(self, sheet_names):
        super().__init__(list(sheet_names))
        self.sheet_names = list(sheet_names)


def calamine_sheet(path, sheet_name):
    """(start, rows) of the sheet named ``sheet_name``, as python-calamine gives them: rows from
    row 1, cells from the first used column, which ``start`` (row, column, from 0) tells."""
    from python_calamine import CalamineWorkbook, WorksheetNotFound

    # By path, so that the .xlsx reader is used (from_filelike guesses the format from the content).
    with CalamineWorkbook.from_path(os.fspath(path)) as workbook:
        try:
            sheet = workbook.get_sheet_by_name(sheet_name)
        except WorksheetNotFound:
            raise SheetNotFound(workbook.sheet_names) from None
    return sheet.start, list(sheet.iter_rows())


def _blank(value):
    return value is None or (isinstance(value, str) and not value.strip())


def openpyxl_first_sheet(data: bytes, *, max_columns, max_rows, max_blank_run):
    """The rows of the first sheet (values, at most ``max_columns`` of a row), as far as a reader
    that stops after more than ``max_blank_run`` blank rows in a row, or more than ``max_rows``
    rows with data, needs: the header, then the rows up to that point. A cell beyond the header's
    last title does not count (the caller reads as many columns as the header has)."""
    import openpyxl

    # keep_links=False: external links hold cached copies of other workbooks' sheets.
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    try:
        rows = workbook.worksheets[0].iter_rows(max_col=max_columns, values_only=True)
        header = next(rows, ())
        width = len(header)
        while width and _blank(header[width - 1]):
            width -= 1
        kept = [header]
        blank_run = data_rows = 0
        for values in rows:
            kept.append(values)
            if all(_blank(v) for v in values[:width]):
                blank_run += 1
                if blank_run > max_blank_run:
                    break
            else:
                blank_run = 0
                data_rows += 1
                if data_rows > max_rows:
                    break
        return kept
    finally:
        workbook.close()
