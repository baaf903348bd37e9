"""A staff-list file: the bounds of an upload, the formats the admin offers, the file read into a
Dataset, and how a cell is read as text.

An upload is an .xlsx, an .xls or a .csv (UTF-8 with or without BOM, or GBK), told apart by its
content, laid out as the office keeps it: a title row above the header, notes, a 序号 column,
the columns in any order and under the usual other names (each list's ``core.tables.Field``s,
registered as an office table in VisitplanConfig.ready(), plus the names stored as
households.ColumnAlias for all streets), cells merged down, any sheet name. ``read_sheet`` finds
the list's table with core.tables (parsed in a child process within the bounds below) and hands
import-export a Dataset in the list's own terms: the template's headers, in the template's order,
for the columns the file has, and the Excel row number of every data row (``row_numbers``).

Every .xlsx goes through core.xlsx_guard (``check_upload``) with the bounds below first, also when
the confirmation reads the stored copy. Exports write every text as text (core.spreadsheets).
"""

import tablib
from django.conf import settings
from import_export.formats import base_formats

from core.spreadsheets import is_formula_like, write_xlsx
from core.tables import Table, TableError, detect_format
from core.xlsx_guard import BLANK_ROW_ALLOWANCE, XlsxRejected, inspect_xlsx
from households.column_aliases import office_table, read_office_table

# Bounds of a staff-list upload (settings STAFF_LIST_MAX_UPLOAD_MB, STAFF_LIST_MAX_ROWS), and the
# columns read (a list has about ten; a 序号 and a few notes fit).
MAX_UPLOAD_MB = settings.STAFF_LIST_MAX_UPLOAD_MB
MAX_ROWS = settings.STAFF_LIST_MAX_ROWS
MAX_COLUMNS = 30

ACCEPTED = "请上传 Excel 工作簿（.xlsx、.xls）或 CSV 文本文件（.csv）"
SUFFIXES = (".xlsx", ".xls", ".csv")
EMPTY = "文件是空的，没有任何内容"
NO_ROWS = "第 {row} 行是表头，但它下面没有任何数据行，没有可导入的内容"
MAPPING_HINT = "（或在导入时指定各列的对应关系）"  # core.tables' hint, for the register's import
ALIAS_HINT = "（或请街道管理员在“表头对照”中登记这种写法）"


class SheetFileError(Exception):
    """The file as a whole cannot be imported (unreadable, too large, wrong header)."""


class SheetXLSX(base_formats.XLSX):
    """The xlsx export: text cells that are never formulas. Imports go through ``SheetFile``."""

    def can_import(self):
        return False

    def create_dataset(self, in_stream):
        raise NotImplementedError("staff lists are imported through SheetFile")

    def export_data(self, dataset, **kwargs):
        # Not super(): IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT would strip the "=" (data loss) and
        # leave "+", "-", "@" alone. Here every text is written as text instead.
        return write_xlsx(dataset)


class SheetFile(base_formats.Format):
    """The import format of a staff list: .xlsx, .xls or .csv, told apart by content.

    ``TABLE`` names the office table (households.column_aliases) whose fields are read; one
    subclass per list (``for_table``), since import-export instantiates the format by itself.
    """

    TABLE = ""
    _by_table: dict[str, type] = {}

    def __init__(self, encoding=None):
        self.encoding = encoding

    @classmethod
    def for_table(cls, table: str) -> type:
        if table not in cls._by_table:
            cls._by_table[table] = type(f"SheetFile_{table}", (cls,), {"TABLE": table})
        return cls._by_table[table]

    def get_title(self):
        return "Excel 或 CSV（.xlsx、.xls、.csv）"

    def get_extension(self):
        return "xlsx"

    def can_import(self):
        return True

    def create_dataset(self, in_stream):
        return read_sheet(in_stream, self.TABLE)


def max_cells() -> int:
    """The guard's bound on a sheet's rows × columns: twice the rectangle read_sheet can use, so
    that a sheet of 5,000 rows × 16,384 columns is refused before a parser spends minutes on it."""
    return (MAX_ROWS + BLANK_ROW_ALLOWANCE + 1) * MAX_COLUMNS * 2


def check_upload(file) -> str:
    """What is refused before the upload is stored or parsed; returns the format by content
    ("xlsx", "xls" or "csv"). Raises SheetFileError.

    ``file`` is bytes or a binary file object (an UploadedFile, left at position 0). An empty
    file is refused; an .xlsx goes through core.xlsx_guard with the staff lists' bounds (zip,
    XML and cell bombs, macros). The rest (a password, a damaged .xls, text that is no CSV) is
    found when the file is read (read_sheet).
    """
    if isinstance(file, (bytes, bytearray, memoryview)):
        head = bytes(file[:8])
    else:
        file.seek(0)
        head = file.read(8)
        file.seek(0)
    fmt = detect_format(head)
    if fmt is None:
        raise SheetFileError(EMPTY)
    if fmt == "xlsx":
        try:
            inspect_xlsx(file, max_cells=max_cells(), max_upload_mb=MAX_UPLOAD_MB)
        except XlsxRejected as exc:
            raise SheetFileError(exc.message) from None
    return fmt


def read_sheet(data, table: str = "roster") -> tablib.Dataset:
    """The office table ``table`` ("roster", "departments") in the file ``data`` (bytes or a binary
    file object), as a Dataset with the table's template headers; raises SheetFileError.

    The Dataset holds the columns of the fields the file has, in the order of the table's fields,
    under their labels, and only the non-blank data rows; ``row_numbers`` gives each row's Excel
    row number (a CSV's record number), ``header_row`` the header's, ``ignored`` the header texts
    no field took. The file is guarded first (``check_upload``), whoever calls this: the admin's
    form has checked the upload already; this also covers the confirmation, which reads the stored
    copy. The parse runs in a child process within IMPORT_PARSE_MEMORY_MB and
    IMPORT_PARSE_CPU_SECONDS: a file the guard misses costs that child, never this process.
    """
    check_upload(data)
    try:
        found = read_office_table(
            data,
            table,
            street=None,
            max_rows=MAX_ROWS,
            max_upload_mb=MAX_UPLOAD_MB,
            max_cells=max_cells(),
            max_columns=MAX_COLUMNS,
            inspected=True,
        )
    except TableError as exc:
        # The staff lists have no column mapping at import: other names are added as 表头对照.
        raise SheetFileError(exc.message.replace(MAPPING_HINT, ALIAS_HINT)) from None
    if not found.rows:
        raise SheetFileError(NO_ROWS.format(row=found.header_row))
    return table_dataset(found, table)


def table_dataset(found: Table, table: str) -> tablib.Dataset:
    """A Table of the office table ``table`` as read_sheet's Dataset (see there)."""
    fields = office_table(table).fields
    present = [i for i, f in enumerate(fields) if f.key in found.field_columns]
    unquote = found.format == "csv"
    body = [[_cell(values[i], unquote) for i in present] for _number, values in found.rows]
    dataset = tablib.Dataset(*body, headers=[fields[i].label for i in present])
    dataset.row_numbers = [number for number, _values in found.rows]
    dataset.header_row = found.header_row
    dataset.ignored = list(found.ignored)
    return dataset


def _cell(value, unquote):
    if value is None:
        return ""
    # Our CSV export writes a formula-like text with a leading apostrophe (core.spreadsheets.csv_safe):
    # read back, it is the text itself.
    if unquote and isinstance(value, str) and value.startswith("'") and is_formula_like(value[1:]):
        return value[1:]
    return value


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
