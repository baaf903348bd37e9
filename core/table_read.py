"""Reading an office's spreadsheet into a table, inside core.sandbox's child process: no Django here.

``read_file(path, fmt, …)`` runs in the rlimited child (core.sandbox.run_limited) after
core.tables has measured the file (the size; core.xlsx_guard for an .xlsx) and found its format
by content: "xlsx" and "xls" are read with python-calamine, "csv" with the standard library. It
opens the sheets, finds the header row of each in its first ``header_rows`` rows by the
caller's ``lookup`` (normalized header text → field key, or "" for a column to ignore), picks the
sheet, and returns only what the caller uses: the header found, and the data rows as
(Excel row number, values in ``keys`` order). core.tables turns that into a Table and the
caller's messages.

Coordinates: python-calamine yields a sheet's rows from row 1 but the cells of a row only from
the first used column (``sheet.start``, 0-based (row, column)); its merged ranges are absolute
0-based ((first row, first column), (last row, last column)). Here every column number is
absolute (column A is 0) and every row number is Excel's (1-based).

Merged cells fill every cell they span with the top-left value: over data rows in full, over the
rows above the header only down the range's first column (a header cell merged down over a
two-row header; a title merged across stays in its first cell, so that it cannot look like
several columns). A row whose only values are such copies is blank (社区 merged down past the
last household).

This module also holds what the parent and the child share: ``normalize_header``, TableError and
the messages the child raises.
"""

import array
import csv
import io
import itertools
import re
import struct
import sys
import unicodedata
from operator import itemgetter

# Rows at the top of a sheet searched for the header, and columns read (absolute: A is 0).
HEADER_ROWS = 20
MAX_COLUMNS = 64

PASSWORD = "文件设置了密码，请在 Excel/WPS 中取消密码后再上传"
ACCEPTED = "只接受 Excel 工作簿（.xlsx、.xls）或 CSV 文本文件（.csv）"
UNSUPPORTED = f"文件无法识别：{ACCEPTED}；请在 Excel/WPS 中打开后另存为其中一种格式再上传"
NOT_EXCEL_OLE = (
    f"文件是 Office 文档，但不是 Excel 工作簿（可能是 Word 文档或 WPS 表格专有格式）；{ACCEPTED}，"
    "请在 Excel/WPS 中打开后另存为“Excel 工作簿(*.xlsx)”再上传"
)
HTML_FILE = (
    "文件是网页（HTML/XML）格式，只是扩展名像 Excel 文件（一些系统导出的 .xls 就是这样）；"
    "请在 Excel/WPS 中打开后另存为“Excel 工作簿(*.xlsx)”再上传"
)
EMPTY = "文件是空的，没有任何内容"
DAMAGED = "文件无法读取，可能已损坏（{reason}）；请在 Excel/WPS 中打开后另存为“Excel 工作簿(*.xlsx)”再上传"
TOO_MANY_ROWS = "数据超过 {limit} 行的上限，请按社区拆分成几个文件分别导入"
TOO_MANY_LINES = (
    "{where}超过了 {lines} 行（{limit} 行数据，另加表头以上 {header_rows} 行和 {blank} 个空行），超过了上限；"
    "请删除表格下方多余的空行，或按社区拆分成几个文件分别导入"
)
NO_SHEET = "找不到名为“{sheet}”的工作表（文件中的工作表：{names}）"


class TableError(Exception):
    """The file cannot be read as the caller's table; ``message`` is the sentence for the user.

    ``row`` is the Excel row number the problem is on (the header's, say), ``column`` the column
    it names, ``sheet_choices`` the sheets the admin may pick from (several sheets match, or the
    sheet asked for is not there), ``header_cells`` the header-like row's texts.
    """

    def __init__(self, message, *, row=None, column="", sheet_choices=(), header_cells=()):
        super().__init__(message)
        self.message = message
        self.row = row
        self.column = column
        self.sheet_choices = tuple(sheet_choices)
        # The texts of the row that looks most like the header (when that row lacks a required
        # column): what the admin maps to fields.
        self.header_cells = tuple(header_cells)

    def __str__(self):
        return self.message


# ---------------------------------------------------------------------------------------------
# Header text

_INVISIBLE = re.compile(r"[\s\u200b-\u200f\u2060\ufeff]+")
# A required/optional mark before or after the name: *, （必填）, (选填), 【必填】…
_MARK = re.compile(
    r"^(?:\*+|[(\[【](?:必填|选填|必录|可选)[)\]】])+|(?:\*+|:+|[(\[【](?:必填|选填|必录|可选)[)\]】])+$"
)


def cell_text(value) -> str:
    """A cell as text: stripped; a whole float (Excel's 1204.0) as "1204"; None as ""."""
    if value is None:
        return ""
    if value.__class__ is str:
        return value.strip()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def normalize_header(value) -> str:
    """Header text as matched: full-width forms folded (NFKC: （）＊ＡＢ１ → ()*AB1), every space
    and line break removed, a leading or trailing * or (必填)/(选填) mark dropped, letters folded
    to lower case. "＊户主姓名\\n（必填）" and "户主 姓名" both give "户主姓名"."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", cell_text(value)))
    while True:
        stripped = _MARK.sub("", text)
        if stripped == text:
            return text.casefold()
        text = stripped


def column_letter(index: int) -> str:
    """0 → "A", 25 → "Z", 26 → "AA"."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def match_header(cells, lookup):
    """What a row of header texts maps to: ({field key: [columns]}, [ignored columns]).

    A column is ignored when its text is blank-free but unknown, or mapped to "" by ``lookup``.
    """
    found = {}
    ignored = []
    for column, text in enumerate(cells):
        if not text:
            continue
        key = lookup.get(normalize_header(text))
        if key:
            found.setdefault(key, []).append(column)
        else:
            ignored.append(column)
    return found, ignored


def _score(cells, lookup, required):
    found, _ignored = match_header(cells, lookup)
    return (required.issubset(found), len(found)), found


# ---------------------------------------------------------------------------------------------
# Sheets


class _Sheet:
    """One sheet being read: its name, its rows (an iterator of lists, cells from ``start_column``)
    and its merged ranges."""

    def __init__(self, name, rows, *, start_column=0, merged=(), visible=True):
        self.name = name
        self.rows = rows
        self.start_column = start_column
        self.merged = list(merged or ())
        self.visible = visible
        self.head = []  # the first rows as read (cells from start_column)
        self.texts = []  # the same rows as text, absolute columns, merged down, MAX_COLUMNS wide
        self.header_index = None  # 0-based row of the best header candidate
        self.found = {}
        self.complete = False

    def scan(self, lookup, required, *, header_rows, max_columns):
        self.head = list(itertools.islice(self.rows, header_rows))
        pad = [""] * self.start_column
        width = max(max_columns - self.start_column, 0)
        grid = [pad + row[:width] if pad else row[:width] for row in self.head]
        for (r0, c0), (r1, _c1) in self.merged:
            if r0 < len(grid) and c0 < max_columns:
                value = grid[r0][c0] if c0 < len(grid[r0]) else ""
                for r in range(r0 + 1, min(r1, len(grid) - 1) + 1):
                    if c0 < len(grid[r]):
                        grid[r][c0] = value
        self.texts = [[cell_text(v) for v in row] for row in grid]
        best = None
        for index, cells in enumerate(self.texts):
            score, found = _score(cells, lookup, required)
            if score[1] and (best is None or score > best):
                best = score
                self.header_index, self.found = index, found
        self.complete = bool(best and best[0])

    def header_cells(self):
        if self.header_index is None:
            return []
        cells = list(self.texts[self.header_index])
        while cells and not cells[-1]:
            cells.pop()
        return cells

    def summary(self):
        return {
            "name": self.name,
            "header_row": None if self.header_index is None else self.header_index + 1,
            "header_cells": self.header_cells(),
            "found": sorted(self.found),
            "complete": self.complete,
        }


def _calamine_sheets(path, *, sheet, prefer_sheet):
    """(workbook, sheet names, an iterator of the _Sheet objects to examine, in order)."""
    from python_calamine import CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

    workbook = CalamineWorkbook.from_path(path)
    metadata = [m for m in workbook.sheets_metadata if m.typ == SheetTypeEnum.WorkSheet]
    names = [m.name for m in metadata]
    if sheet is not None:
        if sheet not in names:
            raise TableError(NO_SHEET.format(sheet=sheet, names="、".join(names)), sheet_choices=names)
        metadata = [m for m in metadata if m.name == sheet]
    elif prefer_sheet in names:
        metadata.sort(key=lambda m: m.name != prefer_sheet)

    def load():
        for m in metadata:
            loaded = workbook.get_sheet_by_name(m.name)
            start = loaded.start
            yield _Sheet(
                m.name,
                iter(loaded.iter_rows()),
                start_column=start[1] if start else 0,
                merged=loaded.merged_cell_ranges,
                visible=m.visible == SheetVisibleEnum.Visible,
            )

    return workbook, names, load()


def read_file(
    path,
    fmt,
    *,
    keys,
    lookup,
    required=(),
    sheet=None,
    prefer_sheet=None,
    max_rows,
    max_columns=MAX_COLUMNS,
    header_rows=HEADER_ROWS,
    blank_allowance=1000,
):
    """The table in the file at ``path`` (format ``fmt``: "xlsx", "xls" or "csv"), as a dict:

    - ``format``, ``encoding`` and ``delimiter`` (csv), ``sheet_names`` (workbook order);
    - ``scans``: each sheet examined (``name``, ``header_row``, ``header_cells``, ``found``
      field keys, ``complete``: every required key found);
    - ``matching``: the names of the sheets whose header is complete;
    - ``sheet``: the sheet chosen (None when none or several match, or for a csv), with
      ``header_row`` (Excel's number), ``header_cells`` (texts, absolute columns),
      ``field_columns`` {key: column}, ``duplicates`` {key: [columns]} and ``ignored`` [columns];
    - ``rows``: [(Excel row number, [value of each of ``keys``])] — the data rows below the
      header, blank ones skipped; None for a field the header lacks.

    ``sheet`` reads that sheet only; else ``prefer_sheet`` is taken when its header is complete;
    else the one sheet whose header is complete (of several, the one visible sheet among them).
    Raises TableError: password, not a spreadsheet, damaged, no such sheet, more than
    ``max_rows`` data rows, more than ``header_rows + max_rows + blank_allowance`` rows.
    """
    required = set(required)
    result = {"format": fmt, "encoding": None, "delimiter": None, "sheet_names": [], "scans": []}
    result.update(matching=[], sheet=None, rows=[])
    workbook = None
    try:
        if fmt == "csv":
            text, result["encoding"] = _decode(_read_bytes(path))
            result["delimiter"] = delimiter = _sniff_delimiter(text)
            reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
            sheets = iter([_Sheet(None, reader)])
        elif fmt in ("xlsx", "xls"):
            if fmt == "xls":
                check_ole(_read_bytes(path))
            workbook, result["sheet_names"], sheets = _calamine_sheets(path, sheet=sheet, prefer_sheet=prefer_sheet)
        else:
            raise TableError(UNSUPPORTED)
        chosen = _choose(sheets, result, lookup, required, prefer_sheet, header_rows, max_columns)
        if chosen is None:
            return result
        found, ignored = match_header(chosen.header_cells(), lookup)
        result.update(
            sheet=chosen.name,
            header_row=chosen.header_index + 1,
            header_cells=chosen.header_cells(),
            field_columns={key: columns[0] for key, columns in found.items()},
            duplicates={key: columns for key, columns in found.items() if len(columns) > 1},
            ignored=ignored,
        )
        if not result["duplicates"]:
            limit = header_rows + max_rows + blank_allowance
            result["rows"] = _data_rows(
                chosen, keys, result["field_columns"], max_rows=max_rows, max_lines=limit, max_columns=max_columns
            )
            if next(chosen.rows, None) is not None:
                where = f"工作表“{chosen.name}”" if chosen.name else "文件"
                raise TableError(
                    TOO_MANY_LINES.format(
                        where=where, lines=limit, limit=max_rows, header_rows=header_rows, blank=blank_allowance
                    )
                )
        return result
    except csv.Error as exc:
        raise TableError(DAMAGED.format(reason=f"CSV 格式错误：{exc}")) from None
    except Exception as exc:
        _reraise_calamine(exc)
        raise
    finally:
        if workbook is not None:
            workbook.close()


def _reraise_calamine(exc):
    from python_calamine import CalamineError, PasswordError

    if isinstance(exc, PasswordError):
        raise TableError(PASSWORD) from None
    if isinstance(exc, CalamineError):
        raise TableError(DAMAGED.format(reason=str(exc) or type(exc).__name__)) from None


def _choose(sheets, result, lookup, required, prefer_sheet, header_rows, max_columns):
    """The sheet to read (its head scanned), or None with ``result["matching"]`` telling why.

    Only the sheets that may still be chosen are kept loaded (the first match and the first
    visible one), whatever the number of sheets examined."""
    matching = result["matching"]
    first = first_visible = None
    visible = 0
    for candidate in sheets:
        candidate.scan(lookup, required, header_rows=header_rows, max_columns=max_columns)
        result["scans"].append(candidate.summary())
        if not candidate.complete:
            continue
        matching.append(candidate.name)
        if candidate.name is not None and candidate.name == prefer_sheet:
            return candidate
        first = first or candidate
        if candidate.visible:
            visible += 1
            first_visible = first_visible or candidate
    if len(matching) == 1:
        return first
    if len(matching) > 1 and visible == 1:
        return first_visible
    return None


def _data_rows(sheet, keys, field_columns, *, max_rows, max_lines, max_columns):
    """[(Excel row number, values in ``keys`` order)] of the rows below the header, blank ones
    skipped, merged ranges filled. Stops at ``max_lines`` rows of the sheet in all (the caller
    checks whether more follow)."""
    start = sheet.start_column
    header_index = sheet.header_index
    order = [field_columns.get(key) for key in keys]
    present = [column for column in order if column is not None]
    relative = [column - start for column in present]
    need = max(relative) + 1
    getter = itemgetter(*relative) if len(relative) > 1 else (lambda row, i=relative[0]: (row[i],))
    # Where each key's value sits in what getter returns (-1: the header lacks it).
    layout = []
    seen = 0
    for column in order:
        layout.append(-1 if column is None else seen)
        seen += column is not None
    complete = -1 not in layout

    # Merged ranges below the header that reach a field column: activated at their first row.
    pending = {}
    for (r0, c0), (r1, c1) in sheet.merged:
        if r0 <= header_index or c0 >= max_columns:
            continue
        spans = [position for position, column in enumerate(order) if column is not None and c0 <= column <= c1]
        if not spans:
            continue
        first = [p for p in spans if order[p] != c0]
        pending.setdefault(r0, []).append((r1, c0 - start, spans, first))
    active = []

    rows = itertools.chain(sheet.head[header_index + 1 :], sheet.rows)
    rows = itertools.islice(rows, max(max_lines - header_index - 1, 0))
    out = []
    append = out.append
    count = 0
    for index, row in enumerate(rows, start=header_index + 1):
        if len(row) < need:
            row = row + [""] * (need - len(row))
        values = getter(row)
        if pending and index in pending:
            for r1, c0, spans, first in pending.pop(index):
                value = row[c0] if 0 <= c0 < len(row) else ""
                if value != "" and value is not None:
                    active.append((index, r1, value, spans, first))
        if active:
            active = [a for a in active if a[1] >= index]
        for value in values:
            if value.__class__ is str:
                if value and not value.isspace():
                    break
            elif value is not None:
                break
        else:
            continue  # blank (merged copies alone do not count)
        count += 1
        if count > max_rows:
            raise TableError(TOO_MANY_ROWS.format(limit=max_rows))
        values = list(values) if complete else [values[i] if i >= 0 else None for i in layout]
        if active:
            for r0, _r1, value, spans, first in active:
                for position in first if index == r0 else spans:
                    values[position] = value
        append((index + 1, values))
    return out


# ---------------------------------------------------------------------------------------------
# CSV


def _read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_MARKUP = re.compile(r"<\s*(?:!doctype\s+html|html|table|\?xml|workbook)\b", re.IGNORECASE)


def _decode(data: bytes):
    """(text, encoding) of a text file: UTF-16 or UTF-8 by its BOM, else UTF-8, else GB18030
    (a superset of GBK, which WPS and Excel of a Chinese Windows save CSV in). Raises TableError
    for what is not text (binary, a web page saved as .xls)."""
    if not data.strip():
        raise TableError(EMPTY)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ("utf-16",)
    elif data.startswith(b"\xef\xbb\xbf"):
        candidates = ("utf-8-sig",)
    else:
        candidates = ("utf-8", "gb18030")
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        sample = text[:65536]
        if "\x00" in sample or len(_CONTROL.findall(sample)) > len(sample) // 100 + 2:
            break
        if _MARKUP.match(sample.lstrip()):
            raise TableError(HTML_FILE)
        return text, encoding
    raise TableError(UNSUPPORTED)


def _sniff_delimiter(text, delimiters=(",", "\t", ";")):
    """The delimiter that splits the first lines most consistently into more than one field:
    the one with the most lines sharing a field count above 1; "," when none splits."""
    lines = [line for line in text[:65536].splitlines()[:50] if line.strip()]
    best, best_score = ",", (0, 0)
    for delimiter in delimiters:
        try:
            counts = [len(fields) for fields in csv.reader(lines, delimiter=delimiter)]
        except csv.Error:
            continue
        tally = {}
        for count in counts:
            if count > 1:
                tally[count] = tally.get(count, 0) + 1
        if not tally:
            continue
        width, lines_of_width = max(tally.items(), key=lambda item: (item[1], item[0]))
        if (lines_of_width, width) > best_score:
            best, best_score = delimiter, (lines_of_width, width)
    return best


# ---------------------------------------------------------------------------------------------
# OLE2 / Compound File Binary: an .xls, or an encrypted .xlsx


OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENDOFCHAIN = 0xFFFFFFFE
_MAX_REGULAR = 0xFFFFFFFA
_BIFF_FILEPASS = 0x002F
_BIFF_EOF = 0x000A
_BIFF_BOUNDSHEET = 0x0085


class _CfbError(Exception):
    pass


class _Cfb:
    """The directory of a Compound File (MS-CFB) and its streams' first bytes; every loop bounded
    by the file's size."""

    def __init__(self, data: bytes):
        if len(data) < 512 or not data.startswith(OLE_MAGIC):
            raise _CfbError("文件头不完整")
        self.data = data
        (sector_shift, mini_shift) = struct.unpack_from("<HH", data, 0x1E)
        if sector_shift not in (9, 12) or mini_shift != 6:
            raise _CfbError("扇区大小异常")
        self.sector_size = 1 << sector_shift
        self.mini_size = 1 << mini_shift
        fat_count, first_dir = struct.unpack_from("<II", data, 0x2C)
        self.mini_cutoff, first_minifat, _minifat_count, first_difat, difat_count = struct.unpack_from(
            "<IIIII", data, 0x38
        )
        self.sectors = (len(data) + self.sector_size - 1) // self.sector_size - 1  # less the header
        per_fat = self.sector_size // 4
        # More FAT sectors than it takes to map every sector of the file would map nothing real.
        fat_count = min(fat_count, self.sectors // per_fat + 1)
        fat_sectors = list(struct.unpack_from("<109I", data, 0x4C))[: min(fat_count, 109)]
        sector, hops = first_difat, 0
        per_difat = per_fat - 1
        while len(fat_sectors) < fat_count and sector < _MAX_REGULAR and hops < min(difat_count, self.sectors):
            entries = struct.unpack_from(f"<{per_fat}I", self._sector(sector))
            fat_sectors.extend(entries[:per_difat])
            sector, hops = entries[per_difat], hops + 1
        self.fat = array.array("I")
        for number in fat_sectors[:fat_count]:
            if number < _MAX_REGULAR:
                self.fat.frombytes(self._sector(number))
        if sys.byteorder != "little":
            self.fat.byteswap()
        self.entries = {}
        root = None
        for index, block in enumerate(self._chain(first_dir)):
            for offset in range(0, self.sector_size, 128):
                entry = block[offset : offset + 128]
                name_length, kind = struct.unpack_from("<HB", entry, 0x40)
                if kind not in (1, 2, 5) or not 2 <= name_length <= 64:
                    continue
                name = entry[: name_length - 2].decode("utf-16-le", "replace")
                start, size = struct.unpack_from("<IQ", entry, 0x74)
                if self.sector_size == 512:
                    size &= 0xFFFFFFFF
                if kind == 5 and index == 0 and offset == 0:
                    root = (start, size)
                elif kind == 2:
                    self.entries.setdefault(name.casefold(), (start, size))
                else:
                    self.entries.setdefault(name.casefold(), None)
        self.root = root
        self.first_minifat = first_minifat

    def _sector(self, number):
        offset = (number + 1) * self.sector_size
        if number >= _MAX_REGULAR or offset >= len(self.data):
            raise _CfbError(f"扇区 {number} 超出文件")
        block = self.data[offset : offset + self.sector_size]
        return block + b"\x00" * (self.sector_size - len(block))

    def _chain(self, sector, table=None, read=None):
        table = self.fat if table is None else table
        read = self._sector if read is None else read
        seen = 0
        while sector != _ENDOFCHAIN:
            if sector >= len(table) or seen > len(table):
                raise _CfbError("扇区链异常")
            yield read(sector)
            sector = table[sector]
            seen += 1

    def names(self):
        return set(self.entries)

    def read(self, name, limit):
        """The first ``limit`` bytes (at most) of the stream ``name``."""
        start, size = self.entries[name.casefold()]
        size = min(size, limit)
        out = bytearray()
        if size < self.mini_cutoff and self.root is not None:
            mini_stream = b"".join(self._chain(self.root[0]))
            minifat = array.array("I")
            for block in self._chain(self.first_minifat):
                minifat.frombytes(block)
            if sys.byteorder != "little":
                minifat.byteswap()

            def mini(number):
                offset = number * self.mini_size
                if offset + self.mini_size > len(mini_stream):
                    raise _CfbError("小扇区超出文件")
                return mini_stream[offset : offset + self.mini_size]

            chain = self._chain(start, minifat, mini)
        else:
            chain = self._chain(start)
        for block in chain:
            out += block
            if len(out) >= size:
                break
        return bytes(out[:size])


def check_ole(data: bytes):
    """Refuse (TableError) a Compound File that is not a readable .xls: an encrypted .xlsx
    (EncryptionInfo/EncryptedPackage streams), an .xls with a FILEPASS record (an open password),
    or another Office document."""
    try:
        cfb = _Cfb(data)
        names = cfb.names()
        if {"encryptioninfo", "encryptedpackage"} & names:
            raise TableError(PASSWORD)
        stream = next((n for n in ("workbook", "book") if cfb.entries.get(n)), None)
        if stream is None:
            raise TableError(NOT_EXCEL_OLE)
        head = cfb.read(stream, 1 << 16)
    except _CfbError as exc:
        raise TableError(DAMAGED.format(reason=f"Office 文件结构异常：{exc}")) from None
    except struct.error:
        raise TableError(DAMAGED.format(reason="Office 文件结构异常")) from None
    if biff_has_filepass(head):
        raise TableError(PASSWORD)


def biff_has_filepass(stream: bytes) -> bool:
    """Whether the workbook globals of a BIFF stream hold FILEPASS (the file is encrypted): it
    comes right after BOF, before any sheet record."""
    position = 0
    for _ in range(1000):
        if position + 4 > len(stream):
            return False
        kind, length = struct.unpack_from("<HH", stream, position)
        if kind == _BIFF_FILEPASS:
            return True
        if kind in (_BIFF_EOF, _BIFF_BOUNDSHEET):
            return False
        position += 4 + length
    return False
