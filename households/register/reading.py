"""Reading a register file: the file checked, the sheet opened, the header matched, the rows.

The file goes through core.xlsx_guard first, then python-calamine reads the sheet (fast) in a
child process (core.sandbox, households.xlsx_read): calamine loads a sheet as a dense grid, so one
far-off cell is a memory bomb, and a file the guard misses costs that child, never this process.
"""

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator

from django.conf import settings
from python_calamine import CalamineError

from core.sandbox import SandboxFailed, run_limited
from core.xlsx_guard import XlsxRejected, inspect_xlsx

from ..xlsx_read import SheetNotFound, calamine_sheet
from .layout import COLUMNS, HEADERS, SHEET_NAME
from .rules import RowError, as_text

logger = logging.getLogger(__name__)


class RegisterFileError(Exception):
    """The file as a whole cannot be imported (not xlsx, wrong sheet or header, too many rows)."""

    def __init__(self, message, *, row=None, column=""):
        super().__init__(message)
        self.errors = [RowError(row, column, message)]


def _source_name(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return getattr(source, "name", "") or ""


_NOT_XLSX = (
    "文件不是 .xlsx 格式的 Excel 工作簿；.xls、.csv 或设置了密码的文件请先在 Excel 中另存为“Excel 工作簿(*.xlsx)”"
)


def _open_sheet(source, *, inspected=False):
    """(start, rows) of the register sheet, read by python-calamine once core.xlsx_guard
    has passed the file (zip, XML and cell bombs, macros, files that are not xlsx): calamine loads
    a sheet as a dense grid and must never see a file the guard has not measured. ``inspected``
    skips the guard when the caller has just run it on the same file (the admin's upload form).

    calamine runs in a child process (core.sandbox) within IMPORT_PARSE_MEMORY_MB and
    IMPORT_PARSE_CPU_SECONDS: a file the guard misses costs that child, never this process.
    """
    name = _source_name(source)
    if name and not str(name).lower().endswith(".xlsx"):
        raise RegisterFileError(_NOT_XLSX)
    try:
        if not inspected:
            inspect_xlsx(source)
    except XlsxRejected as exc:
        raise RegisterFileError(exc.message) from None
    try:
        with _as_path(source) as path:
            return run_limited(
                calamine_sheet,
                path,
                SHEET_NAME,
                memory_mb=settings.IMPORT_PARSE_MEMORY_MB,
                cpu_seconds=settings.IMPORT_PARSE_CPU_SECONDS,
            )
    except SheetNotFound as exc:
        found = "、".join(exc.sheet_names)
        raise RegisterFileError(
            f"找不到名为“{SHEET_NAME}”的工作表（文件中的工作表：{found}），请使用居民底册模板"
        ) from None
    except SandboxFailed as exc:
        raise RegisterFileError(exc.message) from None
    except FileNotFoundError:
        raise RegisterFileError(f"找不到文件：{name}") from None
    except Exception as exc:  # CalamineError, or whatever else a damaged file makes the parser raise
        if not isinstance(exc, (CalamineError, OSError)):
            logger.warning("register file %s unreadable", name, exc_info=True)
        raise RegisterFileError(f"文件无法读取，可能已损坏（{exc}）") from None


@contextlib.contextmanager
def _as_path(source):
    """A path to the file: ``source`` itself, or a temporary copy of a file object (the child
    process opens it by name, as .xlsx)."""
    if isinstance(source, (str, os.PathLike)):
        yield os.fspath(source)
        return
    source.seek(0)
    with tempfile.NamedTemporaryFile(suffix=".xlsx") as copy:
        shutil.copyfileobj(source, copy)
        copy.flush()
        source.seek(0)
        yield copy.name


def _header_error(cells) -> RegisterFileError | None:
    found = [as_text(c) for c in cells]
    while found and not found[-1]:
        found.pop()
    if tuple(found) == HEADERS:
        return None
    missing = [h for h in HEADERS if h not in found]
    unknown = [h for h in found if h not in COLUMNS]
    problems = []
    if missing:
        problems.append("缺少列：" + "、".join(missing))
    if unknown:
        problems.append("无法识别的列：" + "、".join(h or "（空白表头）" for h in unknown))
    if not problems:
        problems.append("列的顺序与模板不一致或有重复的列")
    expected = "、".join(HEADERS)
    return RegisterFileError(f"第 1 行表头与模板不符（{'；'.join(problems)}）。表头应依次为：{expected}", row=1)


def read_register(source, *, inspected=False) -> Iterator[tuple[int, list]]:
    """The data rows of a register file as (Excel row number, cells in ``HEADERS`` order).

    ``source`` is a path or a binary file-like object. Checks the file (core.xlsx_guard,
    unless ``inspected``), the sheet and the header at once (raising RegisterFileError); skips
    blank rows; raises RegisterFileError while iterating once there are more than
    settings.IMPORT_MAX_ROWS data rows.
    """
    start, rows = _open_sheet(source, inspected=inspected)
    # calamine yields rows from row 1 but columns only from the first used one: put blank
    # columns back so that a sheet whose column A is empty is reported as a bad header.
    pad = [""] * (start[1] if start else 0)
    rows = iter(rows)
    header = next(rows, [])
    error = _header_error(pad + list(header))
    if error:
        raise error
    return _data_rows(rows, pad)


def _data_rows(rows, pad):
    width = len(HEADERS)
    limit = settings.IMPORT_MAX_ROWS
    count = 0
    for index, cells in enumerate(rows, start=2):
        cells = (pad + cells)[:width] if pad else cells[:width]
        if all(c == "" or c is None or (isinstance(c, str) and not c.strip()) for c in cells):
            continue
        count += 1
        if count > limit:
            raise RegisterFileError(f"数据超过 {limit} 行的上限，请按社区拆分成几个文件分别导入")
        yield index, cells + [""] * (width - len(cells))
