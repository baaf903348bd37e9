"""The household register (居民底册) as an Excel file: the one module holding its row rules.

The layout is the one of shared/samples/households-template.xlsx: a sheet 居民底册 with the
columns of ``COLUMNS`` and a sheet 填写说明. Reading uses python-calamine (fast), only after
households.xlsx_guard has measured the file (calamine loads a sheet as a dense grid: one far-off
cell is a memory bomb); writing uses openpyxl's write-only mode (constant memory), every value
through ``safe_cell``, the export rule against formula injection.

An import is all-or-nothing and idempotent. A household's natural key is
(street, address_key): importing the same file twice changes nothing the second time.
"""

import contextlib
import datetime
import functools
import itertools
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Prefetch
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils import get_column_letter
from python_calamine import CalamineError

from core.sandbox import SandboxFailed, run_limited

from .masking import mask_id_number, mask_phone
from .models import FocusGroup, Household, Node, NodeKind, Street
from .validators import id_number_error, normalize_id_number, normalize_phone, phone_error
from .xlsx_guard import XlsxRejected, inspect_xlsx
from .xlsx_read import SheetNotFound, calamine_sheet

logger = logging.getLogger(__name__)

SHEET_NAME = "居民底册"
INSTRUCTIONS_SHEET_NAME = "填写说明"

# Header → Household field, in the template's order.
COLUMNS = {
    "社区": "community",
    "网格": "grid",
    "楼栋": "building",
    "单元": "unit",
    "门牌号": "room",
    "户主姓名": "head_name",
    "身份证号": "id_number",
    "联系电话": "phone",
    "家庭人口": "size",
    "重点人群": "tags",
    "备注": "notes",
}
HEADERS = tuple(COLUMNS)
ADDRESS_HEADERS = HEADERS[:5]

# The 填写说明 sheet, row for row as in the template; the export writes it back unchanged.
INSTRUCTIONS = (
    ("列", "必填", "说明"),
    ("社区", "是", "社区/村居全称，如“湖田社区”；不存在时导入会在所选街道下新建"),
    ("网格", "是", "网格名称，如“第3网格”"),
    ("楼栋", "否", "如“18号楼”；平房/村居可留空"),
    ("单元", "否", "如“2单元”"),
    ("门牌号", "是", "房号或门牌，如“1204”；同一街道内 社区+网格+楼栋+单元+门牌号 唯一确定一户"),
    ("户主姓名", "是", ""),
    ("身份证号", "是", "18位居民身份证号（GB 11643），末位可为X，校验码必须正确"),
    ("联系电话", "否", "11位手机号或带区号的固定电话"),
    ("家庭人口", "是", "正整数"),
    (
        "重点人群",
        "否",
        "可多选，用“、”分隔：老党员、困难群众、低保户、孤寡老人、留守儿童、上访老户、残疾人、高龄老人、卧床病人、单亲儿童",
    ),
    ("备注", "否", ""),
)

TAG_SEPARATOR = "、"
# "、" is the rule; full- and half-width commas are the usual slips and mean the same.
_TAG_SPLIT = re.compile(r"[、，,]")

# Rows per bulk INSERT/UPDATE: bounds memory and statement size on both databases.
BATCH_SIZE = 2000
# A long import reports its progress every this many rows checked (and after every batch written).
PROGRESS_ROWS = 1000

# Excel, LibreOffice and WPS may run a text starting with these as a formula (CSV/formula injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def address_key(community, grid, building, unit, room):
    return "|".join(str(p or "").strip() for p in (community, grid, building, unit, room))


class RowError(NamedTuple):
    """One problem of the file: Excel row number as the user sees it (header = 1), column header, reason."""

    row: int | None
    column: str
    message: str

    def __str__(self):
        if self.row is None:
            return self.message
        if not self.column:
            return f"第 {self.row} 行：{self.message}"
        return f"第 {self.row} 行【{self.column}】：{self.message}"


class RegisterRow(NamedTuple):
    """A valid row of the register, cleaned."""

    row: int
    community: str
    grid: str
    building: str
    unit: str
    room: str
    head_name: str
    id_number: str
    phone: str
    size: int
    tags: frozenset  # FocusGroup ids
    notes: str

    @property
    def key(self):
        return address_key(self.community, self.grid, self.building, self.unit, self.room)


class RegisterFileError(Exception):
    """The file as a whole cannot be imported (not xlsx, wrong sheet or header, too many rows)."""

    def __init__(self, message, *, row=None, column=""):
        super().__init__(message)
        self.errors = [RowError(row, column, message)]


@dataclass
class ImportReport:
    """What an import found and did.

    ``errors`` keeps the first ``max_errors`` errors (all of them when None); ``error_count`` and
    ``bad_rows`` count every one. A 200,000-row file of bad rows then costs two counters, not a
    list the size of the file: the page shows the first errors, the error file has every bad row
    (households.import_errors).
    """

    street: str
    dry_run: bool = False
    total_rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    nodes_created: dict = field(default_factory=lambda: {"community": 0, "grid": 0, "building": 0})
    errors: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    error_count: int = 0  # every error found, kept in ``errors`` or not
    bad_rows: int = 0  # data rows with at least one error
    max_errors: int | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self):
        return not self.errors and not self.error_count

    @property
    def errors_not_listed(self) -> int:
        """Errors counted but not kept in ``errors`` (beyond ``max_errors``)."""
        return self.error_count - len(self.errors)

    def add_row_errors(self, row_errors: Sequence[RowError]):
        """The errors of one data row."""
        self.bad_rows += 1
        self.error_count += len(row_errors)
        room = len(row_errors) if self.max_errors is None else max(0, self.max_errors - len(self.errors))
        self.errors.extend(row_errors[:room])

    def set_file_errors(self, errors: Sequence[RowError]):
        """A problem of the whole file: the row errors found before it are beside the point."""
        self.errors = list(errors)
        self.error_count = len(self.errors)
        self.bad_rows = 0

    def summary(self) -> str:
        if not self.ok:
            if self.bad_rows:
                head = f"发现 {self.bad_rows} 行有误，未导入任何数据"
            else:
                head = "文件不符合居民底册模板，未导入任何数据"
            lines = [head] + [str(e) for e in self.errors]
            if self.errors_not_listed:
                lines.append(f"……另有 {self.errors_not_listed} 处错误未列出（共 {self.error_count} 处）")
            return "\n".join(lines)
        n = self.nodes_created
        line = (
            f"共 {self.total_rows} 行：新增 {self.created} 户，更新 {self.updated} 户，未变 {self.unchanged} 户；"
            f"新建社区 {n['community']} 个、网格 {n['grid']} 个、楼栋 {n['building']} 个"
        )
        if self.dry_run:
            line = "试导入（未写入任何数据）：" + line
        return "\n".join([line] + self.notes)

    def as_dict(self) -> dict:
        """The report as JSON (a background job's result); ``from_dict`` reads it back."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "max_errors"}
        data["errors"] = [list(e) for e in self.errors]
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> "ImportReport":
        known = {f.name for f in fields(cls)} - {"max_errors"}
        values = {k: v for k, v in data.items() if k in known}
        values["errors"] = [RowError(*e) for e in values.get("errors", ())]
        return cls(**values)


# ---------------------------------------------------------------------------------------------
# Reading


def _source_name(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return getattr(source, "name", "") or ""


_NOT_XLSX = "文件不是 .xlsx 格式的 Excel 工作簿；.xls、.csv 或设置了密码的文件请先在 Excel 中另存为“Excel 工作簿(*.xlsx)”"


def _open_sheet(source, *, inspected=False):
    """(start, rows) of the register sheet, read by python-calamine once households.xlsx_guard
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
    found = [_as_text(c) for c in cells]
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

    ``source`` is a path or a binary file-like object. Checks the file (households.xlsx_guard,
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


# ---------------------------------------------------------------------------------------------
# Row rules


def _as_text(value) -> str:
    """A cell as text. Excel stores a typed-in number as a float: 1204 → 1204.0 → "1204"."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@functools.cache
def _max_lengths():
    """Column → longest text the database column takes (PostgreSQL refuses longer; SQLite would not)."""
    node = Node._meta.get_field("name").max_length
    household = {f: Household._meta.get_field(f).max_length for f in ("unit", "room", "head_name", "address_key")}
    return {
        "社区": node,
        "网格": node,
        "楼栋": node,
        "单元": household["unit"],
        "门牌号": household["room"],
        "户主姓名": household["head_name"],
        "address_key": household["address_key"],
    }


# Household.size is a PositiveSmallIntegerField: 32767 is what every database backend accepts.
_MAX_SIZE = 32767


def focus_group_lookup() -> dict[str, int]:
    """Focus-group name or alias → FocusGroup id, in the vocabulary's order."""
    lookup = {}
    for pk, name, aliases in FocusGroup.objects.values_list("pk", "name", "aliases"):
        lookup[name.strip()] = pk
        for alias in _TAG_SPLIT.split(aliases):
            if alias.strip():
                lookup.setdefault(alias.strip(), pk)
    return lookup


def clean_row(row: int, cells: Sequence, *, focus_groups: Mapping[str, int]) -> RegisterRow | list[RowError]:
    """Check one data row (cells in ``HEADERS`` order); the cleaned row, or every error it has."""
    errors = []
    values = dict(zip(HEADERS, cells))
    max_lengths = _max_lengths()

    def error(column, message):
        errors.append(RowError(row, column, message))

    def text(column, *, required=False):
        value = values.get(column)
        if isinstance(value, (datetime.date, datetime.time, datetime.timedelta)):
            error(column, f"{column}被 Excel 识别成了日期/时间，请把该列设置为“文本”格式后重新填写")
            return ""
        result = _as_text(value)
        limit = max_lengths.get(column)
        if required and not result:
            error(column, f"{column}不能为空")
        elif limit and len(result) > limit:
            error(column, f"{column}不能超过 {limit} 个字（现有 {len(result)} 个）")
        return result

    community = text("社区", required=True)
    grid = text("网格", required=True)
    building = text("楼栋")
    unit = text("单元")
    room = text("门牌号", required=True)
    head_name = text("户主姓名", required=True)

    if _is_number(values.get("身份证号")):
        # Excel keeps 15 significant digits: an 18-digit number has already lost its last digits.
        error("身份证号", "身份证号被 Excel 存成了数字，末几位已丢失；请把该列设置为“文本”格式后重新填写身份证号")
        id_number = ""
    else:
        id_number = normalize_id_number(text("身份证号", required=True))
        reason = id_number and id_number_error(id_number)
        if reason:
            error("身份证号", reason)

    phone = normalize_phone(text("联系电话"))
    reason = phone and phone_error(phone)
    if reason:
        if _is_number(values.get("联系电话")):
            reason += "；该单元格是数字格式，区号开头的 0 会丢失，请把该列设置为“文本”格式"
        error("联系电话", reason)

    size = _positive_int(values.get("家庭人口"))
    if size is None:
        raw = _as_text(values.get("家庭人口"))
        error("家庭人口", "家庭人口不能为空" if not raw else f"家庭人口应为正整数，现为“{raw}”")
    elif size > _MAX_SIZE:
        error("家庭人口", f"家庭人口不能超过 {_MAX_SIZE}")

    tags = set()
    unknown = []
    for name in _TAG_SPLIT.split(text("重点人群")):
        name = name.strip()
        if not name:
            continue
        if name in focus_groups:
            tags.add(focus_groups[name])
        elif name not in unknown:
            unknown.append(name)
    if unknown:
        choices = TAG_SEPARATOR.join(focus_groups)
        error("重点人群", f"没有名为“{TAG_SEPARATOR.join(unknown)}”的重点人群，可填：{choices}")

    notes = text("备注")

    key_limit = max_lengths["address_key"]
    if not errors and len(address_key(community, grid, building, unit, room)) > key_limit:
        error("门牌号", f"地址（社区+网格+楼栋+单元+门牌号）合计不能超过 {key_limit - 4} 个字")

    if errors:
        return errors
    return RegisterRow(
        row, community, grid, building, unit, room, head_name, id_number, phone, size, frozenset(tags), notes
    )


def _positive_int(value) -> int | None:
    """4, 4.0 and "4" are 4; anything else that is not a positive whole number is None."""
    if _is_number(value):
        return int(value) if value >= 1 and float(value).is_integer() else None
    text = _as_text(value)
    if text.isascii() and text.isdigit() and int(text) >= 1:
        return int(text)
    return None


def _raw_address_key(cells) -> str | None:
    """The address key of a row, valid or not, so that duplicates are found in the same pass."""
    parts = [_as_text(c) for c in cells[: len(ADDRESS_HEADERS)]]
    community, grid, _building, _unit, room = parts
    if not (community and grid and room):
        return None
    return address_key(*parts)


def clean_register(source, report: ImportReport, *, inspected=False, on_bad_row=None, progress=None) -> list[RegisterRow]:
    """Read and check every row; the valid rows, cleaned.

    Every error is counted in the report (and kept there up to its ``max_errors``).
    ``on_bad_row(row number, cells as read, errors)`` is called for each row with errors, when
    all its errors are known (the error file). ``progress("check", rows read, None)`` is called
    every PROGRESS_ROWS rows (``rows read``: the Excel row reached, header not counted).
    """
    focus_groups = focus_group_lookup()
    seen = {}  # address key → first row number
    rows = []
    try:
        for number, cells in read_register(source, inspected=inspected):
            report.total_rows += 1
            if progress is not None and report.total_rows % PROGRESS_ROWS == 0:
                progress("check", number - 1, None)
            result = clean_row(number, cells, focus_groups=focus_groups)
            row_errors = result if isinstance(result, list) else []
            key = _raw_address_key(cells)
            if key in seen:
                row_errors.append(
                    RowError(
                        number,
                        "门牌号",
                        f"与第 {seen[key]} 行是同一户地址（社区+网格+楼栋+单元+门牌号相同），同一街道内每户只能出现一次",
                    )
                )
            elif key is not None:
                seen[key] = number
            if row_errors:
                report.add_row_errors(row_errors)
                if on_bad_row is not None:
                    on_bad_row(number, cells, row_errors)
            else:
                rows.append(result)
    except RegisterFileError as exc:
        # A file-level problem makes the row errors found so far beside the point.
        report.set_file_errors(exc.errors)
        return []
    if not report.total_rows and report.ok:
        report.set_file_errors([RowError(None, "", f"“{SHEET_NAME}”工作表中没有数据，请从第 2 行起每行填写一户")])
    return rows


# ---------------------------------------------------------------------------------------------
# Import


def import_register(
    *, street, source, dry_run=False, inspected=False, max_errors=None, on_bad_row=None, progress=None
) -> ImportReport:
    """Import a register file into ``street``: all rows or nothing.

    Steps: read and check every row (no database writes, no transaction: on SQLite a
    transaction holds the write lock); then, in one transaction, create the missing
    communities, grids and buildings, insert new households and update changed ones in batches.
    A dry run does the same and rolls back, so its counts are the real ones.
    ``inspected``: the caller has just passed this very file through households.xlsx_guard.
    ``max_errors``, ``on_bad_row``: see ImportReport and clean_register. ``progress(step, done,
    total)``: ("check", rows read, None) while checking, then ("write", households written, of
    how many) — the first ("write", 0, n) before the transaction starts.
    """
    if street.kind != NodeKind.STREET:
        raise ValueError(f"{street} is not a street")
    report = ImportReport(street=street.name, dry_run=dry_run, max_errors=max_errors)
    rows = clean_register(source, report, inspected=inspected, on_bad_row=on_bad_row, progress=progress)
    if report.ok:
        _write_register(street, rows, report, dry_run=dry_run, progress=progress)
    return report


def import_register_file(
    source, *, street_name, dry_run=False, max_errors=None, on_bad_row=None, progress=None
) -> ImportReport:
    """Import into the street named ``street_name``, creating it when it does not exist yet.

    The new street is created in the import's transaction: a failed or trial import leaves
    nothing behind, not even the street. The other arguments: see import_register.
    """
    name = street_name.strip()
    try:
        street = Street.objects.get(name=name)
    except Street.DoesNotExist:
        street = None
    else:
        return import_register(
            street=street, source=source, dry_run=dry_run, max_errors=max_errors, on_bad_row=on_bad_row, progress=progress
        )
    report = ImportReport(street=name, dry_run=dry_run, max_errors=max_errors)
    rows = clean_register(source, report, on_bad_row=on_bad_row, progress=progress)
    if not report.ok:
        return report
    with transaction.atomic():
        street, created = Street.objects.get_or_create(name=name)
        _write_register(street, rows, report, dry_run=dry_run, progress=progress)
        if created:
            report.notes.append(f"新建街道“{street.name}”")
        if dry_run:
            transaction.set_rollback(True)
    return report


def _write_register(street, rows, report, *, dry_run, progress=None):
    """The write step of an import, in one transaction.

    A dry run takes the same steps (the same comparisons, so the same counts) and writes
    nothing — without a transaction either: on SQLite a write transaction blocks every other
    writer of the app, which a preview of 200,000 rows would do for twenty seconds.
    """
    if progress is not None:
        progress("write", 0, len(rows))
    if dry_run:
        places = _ensure_nodes(street, rows, report, write=False)
        _write_households(street, rows, places, report, write=False, progress=progress)
        return
    with transaction.atomic():
        _lock_street(street)
        places = _ensure_nodes(street, rows, report)
        _write_households(street, rows, places, report, progress=progress)
        if dry_run:
            transaction.set_rollback(True)


def _lock_street(street):
    """Serialize imports into one street (PostgreSQL; SQLite writers are serialized anyway)."""
    list(Node.objects.select_for_update().filter(pk=street.pk).values_list("pk"))


def _ensure_nodes(street, rows, report, *, write=True) -> dict:
    """(community, grid, building) names → (community id, grid id, building id, household path).

    ``write=False`` (a dry run): missing nodes are counted, not created; each gets a stand-in
    negative id, so that its children and households are told apart as they would be.
    """
    stand_in_ids = itertools.count(-1, -1)
    existing = {
        (n.parent_id, n.name): n
        for n in Node.objects.filter(path__startswith=street.path + ".").only("id", "parent_id", "name", "path", "kind")
    }

    def child(parent, name, kind):
        node = existing.get((parent.pk, name))
        if node is None:
            # Individual saves: Node.save() owns the materialized path, and there are only a few hundred.
            node = Node(kind=kind, name=name, parent=parent)
            if write:
                node.save()
            else:
                node.pk = next(stand_in_ids)
            existing[(parent.pk, name)] = node
            report.nodes_created[kind] += 1
        return node

    places = {}
    for r in rows:
        names = (r.community, r.grid, r.building)
        if names in places:
            continue
        community = child(street, r.community, NodeKind.COMMUNITY)
        grid = child(community, r.grid, NodeKind.GRID)
        building = child(grid, r.building, NodeKind.BUILDING) if r.building else None
        places[names] = (community.pk, grid.pk, building.pk if building else None, (building or grid).path)
    return places


# The household columns an import writes, compared field by field to tell "changed" from "unchanged".
_FIELDS = ("community_id", "grid_id", "building_id", "unit", "room", "head_name", "id_number", "phone", "size", "notes", "path")


def _write_households(street, rows, places, report, *, write=True, progress=None):
    """Insert new households, update changed ones, and replace the focus groups that changed.

    Existing households of the street are loaded once, keyed by address; rows are then written
    BATCH_SIZE at a time. Household.save() is bypassed on purpose (100,000 rows): address_key
    and path are set here exactly as save() sets them. ``write=False`` (a dry run): counted only.
    """
    Tag = Household.tags.through
    existing = {
        key: (pk, tuple(values))
        for key, pk, *values in Household.objects.filter(street=street)
        .order_by()
        .values_list("address_key", "pk", *_FIELDS)
        .iterator(chunk_size=BATCH_SIZE)
    }
    tags_of = {}
    for household_id, tag_id in Tag.objects.filter(household__street=street).values_list("household_id", "focusgroup_id"):
        tags_of.setdefault(household_id, set()).add(tag_id)

    writer = _HouseholdWriter(street) if write else None
    for start in range(0, len(rows), BATCH_SIZE):
        new, changed, tags = [], [], {}  # tags: pk (or address key while the pk is unknown) → ids
        for r in rows[start : start + BATCH_SIZE]:
            community_id, grid_id, building_id, path = places[(r.community, r.grid, r.building)]
            # In _FIELDS order.
            values = (community_id, grid_id, building_id, r.unit, r.room, r.head_name, r.id_number, r.phone, r.size, r.notes, path)
            if r.key not in existing:
                new.append((r.key, values))
                if r.tags:
                    tags[r.key] = r.tags
                continue
            pk, old = existing[r.key]
            tags_differ = tags_of.get(pk, set()) != r.tags
            if old != values or tags_differ:
                changed.append((pk, values))
                if tags_differ:
                    tags[pk] = r.tags
            else:
                report.unchanged += 1

        if writer is not None:
            # Only new households with focus groups need their pk: the others are not looked up.
            new_pks = writer.insert(new, pks_for=[owner for owner in tags if isinstance(owner, str)])
            writer.update(changed)
            writer.replace_tags({new_pks.get(owner, owner): ids for owner, ids in tags.items()})
        report.created += len(new)
        report.updated += len(changed)
        if progress is not None:
            progress("write", min(start + BATCH_SIZE, len(rows)), len(rows))


class _HouseholdWriter:
    """Plain INSERT and UPDATE statements sent with executemany, for one street.

    At 100,000 rows Django's bulk_create spends most of its time building statements and
    bulk_update's CASE WHEN grows with the square of the batch; executemany of one prepared
    row statement is ten times faster on PostgreSQL (psycopg pipelines it) and SQLite alike.
    """

    def __init__(self, street):
        self.street = street
        self.now = timezone.now()
        meta = Household._meta
        qn = connection.ops.quote_name
        # Columns the import does not fill get what Django would insert (defaults, auto_now…),
        # computed once: a column added to Household later is still filled correctly.
        blank = Household(street_id=street.pk)
        constant = [
            f for f in meta.concrete_fields if not f.primary_key and f.attname not in ("street_id", "address_key", *_FIELDS)
        ]
        self.constant_values = tuple(f.get_db_prep_save(f.pre_save(blank, add=True), connection) for f in constant)
        inserted = ["street_id", "address_key", *_FIELDS]
        columns = [meta.get_field(name).column for name in inserted] + [f.column for f in constant]
        self.insert_sql = "INSERT INTO {} ({}) VALUES ({})".format(
            qn(meta.db_table), ", ".join(map(qn, columns)), ", ".join(["%s"] * len(columns))
        )
        updated = [meta.get_field(name).column for name in _FIELDS] + [meta.get_field("updated_at").column]
        # The version moves too: an edit form opened before the import cannot save over it.
        version = qn(meta.get_field("version").column)
        self.update_sql = "UPDATE {} SET {}, {} = {} + 1 WHERE {} = %s".format(
            qn(meta.db_table), ", ".join(f"{qn(c)} = %s" for c in updated), version, version, qn(meta.pk.column)
        )
        self.updated_at = meta.get_field("updated_at").get_db_prep_save(self.now, connection)
        tag = Household.tags.through._meta
        self.tag_sql = "INSERT INTO {} ({}, {}) VALUES (%s, %s)".format(
            qn(tag.db_table), qn(tag.get_field("household").column), qn(tag.get_field("focusgroup").column)
        )

    def insert(self, new, *, pks_for=()) -> dict:
        """Insert (address key, values) pairs; returns address key → new pk for the keys ``pks_for``."""
        if not new:
            return {}
        with connection.cursor() as cursor:
            cursor.executemany(self.insert_sql, [(self.street.pk, key, *values, *self.constant_values) for key, values in new])
        if not pks_for:
            return {}
        return dict(
            Household.objects.filter(street=self.street, address_key__in=pks_for).values_list("address_key", "pk")
        )

    def update(self, changed):
        if changed:
            with connection.cursor() as cursor:
                cursor.executemany(self.update_sql, [(*values, self.updated_at, pk) for pk, values in changed])

    def replace_tags(self, tags):
        """Set the focus groups of the given households (pk → FocusGroup ids), replacing any others."""
        if not tags:
            return
        Household.tags.through.objects.filter(household_id__in=list(tags)).delete()
        rows = [(pk, tag_id) for pk, ids in tags.items() for tag_id in ids]
        if rows:
            with connection.cursor() as cursor:
                cursor.executemany(self.tag_sql, rows)


# ---------------------------------------------------------------------------------------------
# Export

_COLUMN_WIDTHS = (14, 12, 10, 8, 10, 12, 22, 16, 10, 26, 30)


def write_register(queryset, fileobj, *, mask=False) -> int:
    """Write the households of ``queryset`` to ``fileobj`` in the template layout; returns the row count.

    With ``mask`` ID numbers and phones are written masked (roles without 查看完整信息); such a
    file is for reading, it does not import back.

    openpyxl's write-only mode streams rows to disk (constant memory); rows come from the database
    2,000 at a time, names by select_related and focus groups by one prefetch per chunk.
    """
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(SHEET_NAME)
    for index, width in enumerate(_COLUMN_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.append(HEADERS)

    households = (
        queryset.select_related("community", "grid", "building")
        .only(
            "community__name", "grid__name", "building__name",
            "unit", "room", "head_name", "id_number", "phone", "size", "notes",
        )
        .prefetch_related(Prefetch("tags", queryset=FocusGroup.objects.only("name", "order")))
    )
    count = 0
    for h in households.iterator(chunk_size=BATCH_SIZE):
        values = (
            h.community.name,
            h.grid.name,
            h.building.name if h.building_id else "",
            h.unit,
            h.room,
            h.head_name,
            mask_id_number(h.id_number) if mask else h.id_number,
            mask_phone(h.phone) if mask else h.phone,
            h.size,
            TAG_SEPARATOR.join(t.name for t in h.tags.all()),
            h.notes,
        )
        sheet.append([safe_cell(sheet, v) for v in values])
        count += 1

    instructions = workbook.create_sheet(INSTRUCTIONS_SHEET_NAME)
    for index, width in enumerate((10, 6, 80), start=1):
        instructions.column_dimensions[get_column_letter(index)].width = width
    for row in INSTRUCTIONS:
        instructions.append(row)
    workbook.save(fileobj)
    return count


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
