"""Finding the caller's table in an office's spreadsheet: ``read_table(source, fields, …) -> Table``.

Offices keep their household register and their cadre roster in spreadsheets of their own: a
title row merged across, a blank row, notes above the header, a 序号 column, columns in their own
order and under their own names, 社区 merged down over a community's rows, one sheet of several,
an Excel 97-2003 file, a CSV saved by WPS in GBK. This layer reads any of them into the fields the
caller describes (``Field``), or says in Chinese what stands in the way (TableError):

1. the format by content, never by the file's name: a zip archive is an .xlsx, and goes through
   core.xlsx_guard (zip, XML and cell bombs, macros) with the caller's bounds; an OLE2 Compound
   File is an .xls, refused when encrypted (an encrypted .xlsx is such a file too); anything
   else that decodes as text (UTF-8 with or without BOM, UTF-16 with BOM, else GB18030, a
   superset of GBK) is a CSV whose delimiter is sniffed among , \\t ;. What is none of these is
   refused naming the accepted formats;
2. the file is parsed in a child process with memory and CPU limits (core.sandbox), by
   core.table_read.read_file, which returns at most ``max_rows`` data rows of at most
   MAX_COLUMNS columns: a huge file costs that child, never this process;
3. the header row is the row of the first HEADER_ROWS that names the most fields, all the
   required ones among them; its texts are matched after ``normalize_header`` (spaces, line
   breaks, full-width forms, a * or (必填) mark), to a field's label or aliases, the caller's
   extra ``aliases``, or the admin's remembered ``mapping``, which wins over both;
4. the sheet: ``sheet`` when given, else ``prefer_sheet`` when its header matches, else the one
   sheet whose header matches; several → TableError with ``sheet_choices``.

The rows come back as (Excel row number, values in the order of ``fields``), as python-calamine
gives them (str, int, float, bool, date, datetime, time, timedelta; a blank cell is ""), CSV
values as str, None for a field whose column the file lacks. Blank rows are skipped.

Measured (2 CPUs shared with other work), a 100,000-row register in the template layout (4.5 MB
.xlsx): 2.3-3.2 s end to end, of which core.xlsx_guard 1.0-1.6 s and the child 1.4 s, the same as
households.register.reading.read_register (2.4-3.7 s; 1.3-1.4 s each without the guard); the same
rows as a GBK CSV 0.7 s; 65,000 rows of an .xls 0.6-0.7 s.
"""

import contextlib
import dataclasses
import io
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import NamedTuple

from django.conf import settings

from core.sandbox import SandboxFailed, run_limited
from core.table_read import (
    DAMAGED,
    HEADER_ROWS,
    MAX_COLUMNS,
    OLE_MAGIC,
    TableError,
    column_letter,
    normalize_header,
    read_file,
)
from core.xlsx_guard import BLANK_ROW_ALLOWANCE, XlsxRejected, inspect_xlsx

logger = logging.getLogger(__name__)

__all__ = [
    "Column",
    "Field",
    "Table",
    "TableError",
    "build_lookup",
    "detect_format",
    "normalize_header",
    "read_table",
]

SUFFIXES = {"xlsx": ".xlsx", "xls": ".xls", "csv": ".csv"}
TOO_LARGE = "文件有 {size:.1f} MB，超过了 {limit} MB 的上限；请按社区拆分成几个文件分别导入"


@dataclasses.dataclass(frozen=True)
class Field:
    """A field the caller reads: ``key`` (what the rows are keyed by), ``label`` (the header of
    our own template, named in messages), other ``aliases`` accepted as its header, and whether
    the file must have its column."""

    key: str
    label: str
    aliases: tuple[str, ...] = ()
    required: bool = False

    def names(self) -> tuple[str, ...]:
        return (self.label, *self.aliases)


class Column(NamedTuple):
    """A column of the header row: its letter ("A"), its header text as written, and the field
    key it was mapped to (None: ignored)."""

    letter: str
    header: str
    key: str | None


@dataclasses.dataclass
class Table:
    """The caller's table found in a file.

    ``rows`` are (Excel row number, values): the values in the order of ``keys`` (the caller's
    fields), None for a field whose column the file lacks. ``field_columns`` maps each field found
    to its column (0 is column A); ``columns`` lists the header row's named columns in order,
    ``ignored`` the header texts no field took (unknown, or mapped to "" by the admin).
    """

    format: str  # "xlsx", "xls" or "csv"
    encoding: str | None  # csv: "utf-8", "utf-8-sig", "utf-16" or "gb18030"
    delimiter: str | None  # csv
    sheet_name: str | None  # None for a csv
    sheet_names: tuple[str, ...]
    header_row: int  # Excel's number (1-based)
    columns: list[Column]
    ignored: list[str]
    field_columns: dict[str, int]
    keys: tuple[str, ...]
    rows: list[tuple[int, list]]

    def __len__(self):
        return len(self.rows)

    def __iter__(self) -> Iterator[tuple[int, list]]:
        return iter(self.rows)

    def dicts(self) -> Iterator[tuple[int, dict]]:
        """The rows as (Excel row number, {key: value}): convenient, slower than ``rows``."""
        keys = self.keys
        for number, values in self.rows:
            yield number, dict(zip(keys, values, strict=True))

    def header_of(self, key) -> str:
        """The header text a field was found under ("" when the file lacks it), for messages."""
        column = self.field_columns.get(key)
        if column is None:
            return ""
        letter = column_letter(column)
        return next(c.header for c in self.columns if c.letter == letter)


# ---------------------------------------------------------------------------------------------


def build_lookup(
    fields: Sequence[Field],
    aliases: Mapping[str, Iterable[str]] | None = None,
    mapping: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Normalized header text → field key ("" for a column to ignore).

    The fields' labels and aliases first (a name given to two fields is a programming error:
    ValueError); then ``aliases`` {key: [names]}, the street admin's additions, which do not take
    a name from another field; then ``mapping`` {header text: key or ""}, the admin's remembered
    choices, which win over all. Entries naming a key that is not a field are skipped (a stale
    remembered choice).
    """
    keys = {f.key for f in fields}
    lookup = {}
    for f in fields:
        for name in f.names():
            normalized = normalize_header(name)
            if not normalized:
                continue
            if lookup.get(normalized, f.key) != f.key:
                raise ValueError(f"header {name!r} is given to both {lookup[normalized]!r} and {f.key!r}")
            lookup[normalized] = f.key
    for key, names in (aliases or {}).items():
        if key not in keys:
            continue
        for name in names:
            normalized = normalize_header(name)
            if normalized:
                lookup.setdefault(normalized, key)
    for name, key in (mapping or {}).items():
        normalized = normalize_header(name)
        if normalized and (key == "" or key in keys):
            lookup[normalized] = key
    return lookup


def detect_format(head: bytes) -> str | None:
    """ "xlsx" (a zip archive), "xls" (an OLE2 Compound File: an .xls, or an encrypted .xlsx),
    "csv" (perhaps text: the child decodes it), or None for an empty file."""
    if not head:
        return None
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return "xlsx"
    if head.startswith(OLE_MAGIC[:4]):
        return "xls"
    return "csv"


def read_table(
    source,
    fields: Sequence[Field],
    *,
    mapping: Mapping[str, str] | None = None,
    aliases: Mapping[str, Iterable[str]] | None = None,
    sheet: str | None = None,
    prefer_sheet: str | None = None,
    max_rows: int | None = None,
    max_upload_mb: int | None = None,
    max_cells: int | None = None,
    max_columns: int = MAX_COLUMNS,
    header_rows: int = HEADER_ROWS,
    inspected: bool = False,
) -> Table:
    """The table of ``fields`` in ``source`` (a path, bytes, or a binary file object such as an
    UploadedFile; a file object is left at position 0). Raises TableError.

    ``mapping`` and ``aliases``: see build_lookup. ``sheet`` reads that sheet; ``prefer_sheet`` is
    taken when its header matches. ``max_rows`` (data rows), ``max_upload_mb`` and ``max_cells``
    default to IMPORT_MAX_ROWS, IMPORT_MAX_UPLOAD_MB and IMPORT_MAX_CELLS; the last two and
    ``max_rows`` bound core.xlsx_guard too, which ``inspected`` skips when the caller has just run
    it on the same file. The parse runs within IMPORT_PARSE_MEMORY_MB and IMPORT_PARSE_CPU_SECONDS.
    """
    fields = tuple(fields)
    keys = tuple(f.key for f in fields)
    if len(set(keys)) != len(keys):
        raise ValueError(f"field keys repeat: {keys}")
    lookup = build_lookup(fields, aliases, mapping)
    max_rows = settings.IMPORT_MAX_ROWS if max_rows is None else max_rows
    max_upload_mb = settings.IMPORT_MAX_UPLOAD_MB if max_upload_mb is None else max_upload_mb
    max_cells = settings.IMPORT_MAX_CELLS if max_cells is None else max_cells

    with _local_copy(source, max_upload_mb) as (path, fmt):
        if fmt is None:
            raise TableError("文件是空的，没有任何内容")
        if fmt == "xlsx" and not inspected:
            try:
                inspect_xlsx(path, max_rows=max_rows, max_cells=max_cells, max_upload_mb=max_upload_mb)
            except XlsxRejected as exc:
                raise TableError(exc.message) from None
        try:
            found = run_limited(
                read_file,
                path,
                fmt,
                keys=keys,
                lookup=lookup,
                required=tuple(f.key for f in fields if f.required),
                sheet=sheet,
                prefer_sheet=prefer_sheet,
                max_rows=max_rows,
                max_columns=max_columns,
                header_rows=header_rows,
                blank_allowance=BLANK_ROW_ALLOWANCE,
                memory_mb=settings.IMPORT_PARSE_MEMORY_MB,
                cpu_seconds=settings.IMPORT_PARSE_CPU_SECONDS,
            )
        except TableError:
            raise
        except SandboxFailed as exc:
            raise TableError(exc.message) from None
        except Exception as exc:  # whatever else a damaged file makes the parser raise
            logger.warning("table file unreadable (%s)", fmt, exc_info=True)
            raise TableError(DAMAGED.format(reason=f"{type(exc).__name__}: {exc}")) from None
    return _table(found, fields, lookup, header_rows)


@contextlib.contextmanager
def _local_copy(source, max_upload_mb):
    """(path, format) of ``source``, refused first when larger than ``max_upload_mb``: the path
    itself when its name ends as its format does (the child's python-calamine picks its reader by
    the name) or for a text file, else a temporary copy so named."""
    limit = max_upload_mb * 1024 * 1024
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        try:
            f = open(path, "rb")  # closed below, after the copy if any
        except FileNotFoundError:
            raise TableError(f"找不到文件：{path}") from None
        with f:
            _check_size(os.fstat(f.fileno()).st_size, max_upload_mb)
            fmt = detect_format(f.read(8))
            if fmt not in (None, "csv") and not path.lower().endswith(SUFFIXES[fmt]):
                f.seek(0)
                with _temporary(f, fmt, limit) as name:
                    yield name, fmt
                return
        yield path, fmt
        return
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    size = getattr(source, "size", None)  # an UploadedFile
    if not isinstance(size, int):
        size = source.seek(0, io.SEEK_END)
    _check_size(size, max_upload_mb)
    try:
        source.seek(0)
        fmt = detect_format(source.read(8))
        source.seek(0)
        with _temporary(source, fmt, limit) as name:
            yield name, fmt
    finally:
        source.seek(0)


def _check_size(size, max_upload_mb):
    if size > max_upload_mb * 1024 * 1024:
        raise TableError(TOO_LARGE.format(size=size / 1024 / 1024, limit=max_upload_mb))


@contextlib.contextmanager
def _temporary(f, fmt, limit):
    """A temporary copy of the file object ``f``, named as ``fmt`` is; at most ``limit`` bytes
    are copied (a file object that reported a smaller size than it has is refused)."""
    with tempfile.NamedTemporaryFile(suffix=SUFFIXES.get(fmt, "")) as copy:
        copied = 0
        while chunk := f.read(1 << 20):
            copied += len(chunk)
            if copied > limit:
                _check_size(copied, limit // (1024 * 1024))
            copy.write(chunk)
        copy.flush()
        yield copy.name


# ---------------------------------------------------------------------------------------------
# From what the child found to a Table, or to the reason there is none


def _accepted(field: Field, lookup) -> str:
    names = [field.label, *field.aliases]
    names += [name for name, key in lookup.items() if key == field.key and name not in map(normalize_header, names)]
    return "、".join(dict.fromkeys(names))


def _where(sheet_name, several) -> str:
    return f"工作表“{sheet_name}”" if sheet_name and several else ""


def _table(found, fields, lookup, header_rows) -> Table:
    by_key = {f.key: f for f in fields}
    names = tuple(found["sheet_names"])
    if "header_row" not in found:
        _raise_no_header(found, fields, lookup, header_rows)
    cells = found["header_cells"]
    where = _where(found["sheet"], len(names) > 1)
    row = found["header_row"]
    for key, columns in found["duplicates"].items():
        named = "和 ".join(f"{column_letter(c)} 列“{cells[c]}”" for c in columns)
        raise TableError(
            f"{where}第 {row} 行表头中 {named}都对应“{by_key[key].label}”，无法确定用哪一列；"
            "请删除或改名其中多余的列后再上传（或在导入时指定各列的对应关系）",
            row=row,
            column=cells[columns[1]],
            header_cells=cells,
        )
    key_of = {column: key for key, column in found["field_columns"].items()}
    columns = [Column(column_letter(c), text, key_of.get(c)) for c, text in enumerate(cells) if text]
    return Table(
        format=found["format"],
        encoding=found["encoding"],
        delimiter=found["delimiter"],
        sheet_name=found["sheet"],
        sheet_names=names,
        header_row=row,
        columns=columns,
        ignored=[c.header for c in columns if c.key is None],
        field_columns=dict(found["field_columns"]),
        keys=tuple(f.key for f in fields),
        rows=found["rows"],
    )


def _raise_no_header(found, fields, lookup, header_rows):
    scans = found["scans"]
    names = found["sheet_names"]
    matching = found["matching"]
    if len(matching) > 1:
        raise TableError(
            f"文件中有 {len(matching)} 个工作表都含有可识别的表头：{'、'.join(matching)}；请选择要导入的工作表",
            sheet_choices=matching,
        )
    required = [f for f in fields if f.required]
    expected = "、".join(f.label for f in (required or fields))
    # A row that names one optional field only (a note "说明") does not look like a header.
    required_keys = {f.key for f in required}
    candidates = [s for s in scans if len(s["found"]) >= 2 or required_keys & set(s["found"])]
    if not candidates:
        if found["format"] == "csv":
            where = "文件"
        elif len(scans) == 1:
            where = f"工作表“{scans[0]['name']}”"
        else:
            where = "任何工作表"
        raise TableError(
            f"在{where}的前 {header_rows} 行中找不到表头：没有一行含有 {expected} 等列名；"
            "请确认表头（列名）所在的行在表格前部，列名与模板一致或为常用写法"
        )
    best = max(candidates, key=lambda s: len(s["found"]))
    where = _where(best["name"], len(names) > 1)
    missing = [f for f in required if f.key not in best["found"]]
    cells = best["header_cells"]
    parts = ["缺少必填的列：" + "；".join(f"{f.label}（可写作：{_accepted(f, lookup)}）" for f in missing)]
    unknown = [
        f"{column_letter(c)} 列“{text}”"
        for c, text in enumerate(cells)
        if text and normalize_header(text) not in lookup
    ]
    if unknown:
        parts.append("无法识别的列：" + "、".join(unknown))
    raise TableError(
        f"{where}第 {best['header_row']} 行最像表头，但{'；'.join(parts)}。"
        "请把列名改为可识别的写法（或在导入时指定各列的对应关系）后再上传",
        row=best["header_row"],
        column=missing[0].label if missing else "",
        header_cells=cells,
    )
