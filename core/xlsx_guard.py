"""Checks an uploaded .xlsx before any spreadsheet library reads it: ``inspect_xlsx(file)``.

Every Excel upload (the register import, the staff lists) calls it first; it raises
``XlsxRejected`` (a ValidationError) with a message for the user, or returns None. It reads the
zip archive itself, in 1 MiB pieces: memory stays at a few MiB, and a refusal comes as soon as
the limit is crossed, before the rest of the file is unpacked. The parsers then run in a child
process with memory and CPU limits (core/sandbox.py), for whatever this guard might miss.

It measures exactly the parts the parsers will read, found the way they find them
(``_Inspection._map_package``): python-calamine follows ``_rels/.rels`` to the workbook's folder
and the workbook's relationships to its sheets, wherever they point; openpyxl finds the workbook
and the shared strings by their content types and the styles by name. Every relationship of every
part reached is followed, and each part is scanned as what it is read as: a worksheet with the
worksheet scanner, the shared strings with theirs, the styles and the other parts openpyxl makes
objects of with their limits (PART_LIMITS). A package whose parts the guard cannot account for is
refused: a zip entry no relationship reaches (other than the package's own index parts), two
entries whose names differ only in letter case or not at all, a name that is not a plain path or
that the zip directory records twice (Unicode Path field), a relationship target that leaves the
package or an external one that names a part inside it, more than one workbook, a sheet whose
relationship is missing, and one part read as two different things (a sheet and the styles).

What is refused, and why:

- not an xlsx: not a zip archive (.xls, .csv, a text file renamed, a password-protected file,
  which Excel stores as an OLE container), or a zip without ``[Content_Types].xml`` and a
  workbook of an Excel workbook's content type (a renamed .zip, .docx, .ods, .xlsb);
- macros: .xlsm/.xltm/.xlam content types, a ``vbaProject.bin``, Excel 4 macro sheets,
  whatever the file is called;
- zip bombs: too many entries, more unpacked bytes than IMPORT_MAX_UNPACKED_MB in total, an
  entry packed more tightly than IMPORT_MAX_COMPRESSION_RATIO, an entry that unpacks to more
  than it declares (the sizes come from the archive's directory, which the sender writes),
  encryption or compression methods Excel does not use; and any layout but the one Excel
  writes (the directory right before its end record, nothing after it, each entry's header
  naming it as the directory does), which two zip readers could read as two different archives;
- XML bombs: any ``<!DOCTYPE`` or ``<!ENTITY`` in any XML part (Excel never writes one; that is
  how "billion laughs" and external entities get in), or an XML part not in UTF-8 (so that the
  scan sees what the parsers see);
- cell bombs: python-calamine loads a sheet as a dense rows × columns grid, so one cell at
  XFD1048576 costs 17 billion cells (it asks for 549 GB and aborts). The worksheets' cells are
  scanned (their ``r`` attribute, or their position when it is missing, as calamine counts them)
  and the ``<dimension>``: more rows than IMPORT_MAX_ROWS (+ the header, + BLANK_ROW_ALLOWANCE
  blank rows) or more than IMPORT_MAX_CELLS cells in the rows × columns rectangle is refused.
  Also bounded: the shared strings (one per cell at most), one text longer than 1 MiB;
- object bombs: openpyxl makes a Python object of each cell format, font, border, defined name,
  relationship… (990,000 ``<xf/>`` took it 17 s and 1.6 GB): at most 65,490 cell formats (Excel's
  own limit), 20,000 of each other collection, and so many tags a part (PART_LIMITS,
  MAX_PART_TAGS, MAX_RELATIONSHIPS).

Timings (2 shared CPUs, measured under load): every refusal of households/tests/test_upload_guard.py
takes under 150 ms and under 3 MB (tracemalloc), the 5 MB styles of 990,000 cell formats under
50 ms; the real template passes in 2 ms, a 20,000-row register in 0.2-0.4 s, a 200,000-row one
(110 MB of sheet XML) in 3.5-5.5 s, as before the package was mapped.

python-calamine does not expand entities (its XML parser reports an unknown entity and stops,
measured), and openpyxl parses through defusedxml (asserted at start-up in households/apps.py);
the DOCTYPE refusal is the guard that does not depend on either.
"""

import collections
import io
import os
import posixpath
import re
import struct
import zipfile
import zlib
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError

CHUNK = 1 << 20  # unpacked bytes handled at a time
READ_SIZE = 1 << 16  # packed bytes read at a time
# An entry smaller than this may be packed at any ratio (it cannot be a bomb).
RATIO_MIN_SIZE = 1 << 20
# The parts read whole to find the workbook: [Content_Types].xml and the relationships.
MAX_INDEX_PART = 1 << 20
# Longest text (or tag) between two "<" in a worksheet or the shared strings: Excel's limit is
# 32,767 characters a cell, about 200 KiB escaped.
MAX_TEXT_RUN = CHUNK
# A worksheet larger than this gets a quick pass over its rows before the full scan.
PRESCAN_SIZE = 16 << 20
# Tags of any other XML part (drawings, charts, themes…), which openpyxl reads only when it loads a
# workbook in full.
MAX_PART_TAGS = 1_000_000
# Blank rows inside and below the data: the readers skip them and do not count them as data
# rows, so a sheet may reach this far past the limit before the guard refuses it (the readers
# then report "数据超过 N 行" themselves, counting only rows with data).
BLANK_ROW_ALLOWANCE = 1000
EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_COLUMNS = 16_384

WORKBOOK_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
}
# Parts that are not XML: pictures, fonts, printer settings, embedded objects. They are only
# measured; a workbook relationship (sheet, shared strings, styles) must not point at one.
BINARY_EXTENSIONS = {
    "png", "jpg", "jpeg", "jpe", "jfif", "gif", "bmp", "dib", "tif", "tiff", "emf", "wmf", "emz", "wmz",
    "ico", "wdp", "hdp", "jxr", "webp", "bin", "odttf", "fntdata", "ttf", "pdf", "xlsx", "docx", "pptx",
}  # fmt: skip
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

# The package: where the parsers look.
CONTENT_TYPES = "[Content_Types].xml"
ROOT_RELS = "_rels/.rels"
SHARED_STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
# Parts openpyxl reads by these names, whatever the relationships say (reader/excel.py,
# styles/stylesheet.py), as what their relationship would call them.
OPENPYXL_BY_NAME = {
    "xl/styles.xml": "styles",
    "xl/theme/theme1.xml": "theme",
    "docProps/core.xml": "core-properties",
    "docProps/custom.xml": "custom-properties",
}
# Relationship kinds (the last segment of the Type, lower case) that the parsers read a sheet from.
SHEET_KINDS = {"worksheet", "chartsheet", "dialogsheet"}
MACRO_KINDS = {
    "macrosheet", "xlmacrosheet", "xlintlmacrosheet", "vbaproject", "vbaprojectsignature",
    "vbaprojectsignatureagile", "vbaprojectsignaturev3",
}  # fmt: skip
# What the parsers load as data: a part read as one of these is read as nothing else.
PARSED_KINDS = {"workbook", "sheet", "sharedstrings", "styles"}
KIND_LABELS = {
    "workbook": "工作簿",
    "sheet": "工作表",
    "sharedstrings": "共享字符串",
    "styles": "样式表",
    "theme": "主题",
}

# What openpyxl builds objects of. The relationships of all the .rels parts together:
MAX_RELATIONSHIPS = 100_000
# Excel's own limit of unique cell formats and cell styles ("Excel specifications and limits").
EXCEL_MAX_FORMATS = 65_490
# The other collections openpyxl makes one object of per item: fonts, fills, borders, number
# formats, defined names, comments… (measured: 65,490 fonts cost openpyxl 3.8 s and 220 MB; this
# many about 1.2 s and 70 MB).
MAX_PART_ITEMS = 20_000
# Per kind of part openpyxl builds objects from: (tags in all, {element: most of them}).
# Measured with openpyxl 3.1.5 read-only: 65,490 cell formats take 5.5 s and 280 MB.
PART_LIMITS = {
    "styles": (
        500_000,
        {
            "xf": EXCEL_MAX_FORMATS,  # cellXfs and cellStyleXfs together
            "cellStyle": EXCEL_MAX_FORMATS,
            "font": MAX_PART_ITEMS,
            "fill": MAX_PART_ITEMS,
            "border": MAX_PART_ITEMS,
            "numFmt": MAX_PART_ITEMS,
            "dxf": MAX_PART_ITEMS,
        },
    ),
    "workbook": (200_000, {"sheet": 1000, "definedName": MAX_PART_ITEMS, "externalReference": 1000}),
    "comments": (1_000_000, {"comment": MAX_PART_ITEMS}),
    "custom-properties": (100_000, {"property": MAX_PART_ITEMS}),
    "core-properties": (10_000, {}),
    "extended-properties": (100_000, {}),
    "externallink": (200_000, {}),
}
ITEM_LABELS = {
    "xf": "单元格格式",
    "cellStyle": "单元格样式",
    "font": "字体",
    "fill": "填充样式",
    "border": "边框样式",
    "numFmt": "数字格式",
    "dxf": "条件格式样式",
    "sheet": "工作表",
    "definedName": "名称（名称管理器中的名称）",
    "externalReference": "外部链接",
    "comment": "批注",
    "property": "自定义属性",
}

SAVE_AS = "请在 Excel 中打开后“另存为”→“Excel 工作簿(*.xlsx)”，再上传另存后的文件"
NOT_XLSX = "文件不是 .xlsx 格式的 Excel 工作簿（可能是 .csv、文本文件或其他文件改了扩展名）；" + SAVE_AS
OLE_FILE = "文件是旧版 Excel 97-2003 工作簿（.xls），或设置了打开密码；" + SAVE_AS.replace(
    "再上传", "如有密码请先取消，再上传"
)
ZIP_NOT_XLSX = "文件无法读取：它是一个 zip 压缩包，但不是 Excel 工作簿（缺少 {missing}）；" + SAVE_AS
MACROS = "文件含有宏（启用宏的工作簿 .xlsm，或含 VBA 宏代码）；为安全起见不接受含宏的文件，" + SAVE_AS
DAMAGED = "文件无法读取，可能已损坏（{reason}）；" + SAVE_AS
BOMB = "文件解压后过大或压缩比异常（{reason}），可能是恶意构造的文件，已拒绝"
XML_DTD = "文件中的 {part} 含有 DOCTYPE/ENTITY 声明（Excel 从不写入，常见于 XML 炸弹攻击），已拒绝；" + SAVE_AS
XML_ENCODING = "文件中的 {part} 不是 UTF-8 编码，不是 Excel 保存的文件；" + SAVE_AS
TOO_MANY_ROWS = (
    "工作表“{sheet}”的单元格延伸到第 {rows} 行，超过了 {limit} 行数据（另加 1 行表头）的上限；"
    "请删除表格下方多余的行（包括只设置了格式的空行），或按社区拆分成几个文件分别导入"
)
TOO_MANY_CELLS = (
    "工作表“{sheet}”的单元格区域为 {rows} 行 × {columns} 列，超过了 {limit} 个单元格的上限；"
    "请删除表格右侧和下方多余的行和列（包括只设置了格式的空单元格），或拆分成几个文件分别导入"
)
XML_STRUCTURE = "文件中的 {part} 结构异常（{reason}），不是 Excel 保存的文件；" + SAVE_AS
PACKAGE = "文件的内部结构异常（{reason}），不是 Excel 保存的文件，可能是恶意构造的；" + SAVE_AS
TOO_MANY_ITEMS = (
    "文件中的 {part} 含有超过 {limit} 个{what}，超出了导入的上限；"
    "请在 Excel 中删除多余的{what}（或复制数据到新工作簿）后另存为“Excel 工作簿(*.xlsx)”，再上传"
)


class XlsxRejected(ValidationError):
    """The upload is refused; ``str()`` (and ``.message``) is the sentence for the user."""

    def __init__(self, message, code="xlsx_rejected"):
        super().__init__(message, code=code)

    def __str__(self):
        return self.message


# ---------------------------------------------------------------------------------------------


def inspect_xlsx(file, *, max_rows=None, max_cells=None, max_upload_mb=None) -> None:
    """Refuse (XlsxRejected) an upload that is not a plain .xlsx within the limits; else None.

    ``file`` is a path, bytes, or a binary file object (an UploadedFile); a file object is left
    at position 0. ``max_rows`` (data rows, the header not counted), ``max_cells`` and
    ``max_upload_mb`` default to the settings IMPORT_MAX_ROWS, IMPORT_MAX_CELLS and
    IMPORT_MAX_UPLOAD_MB. Checks are ordered cheapest first: size, zip directory, package
    index, then every part unpacked in pieces, smallest part first.
    """
    if isinstance(file, (str, os.PathLike)):
        try:
            with open(file, "rb") as f:
                return inspect_xlsx(f, max_rows=max_rows, max_cells=max_cells, max_upload_mb=max_upload_mb)
        except FileNotFoundError:
            raise XlsxRejected(f"找不到文件：{os.fspath(file)}", code="missing") from None
    if isinstance(file, (bytes, bytearray, memoryview)):
        file = io.BytesIO(file)
    checker = _Inspection(
        file,
        max_rows=settings.IMPORT_MAX_ROWS if max_rows is None else max_rows,
        max_cells=settings.IMPORT_MAX_CELLS if max_cells is None else max_cells,
        max_upload_mb=settings.IMPORT_MAX_UPLOAD_MB if max_upload_mb is None else max_upload_mb,
    )
    try:
        checker.run()
    finally:
        file.seek(0)


class _Rel(NamedTuple):
    """One relationship of a .rels part, resolved."""

    id: str
    kind: str  # the last segment of its Type, lower case ("worksheet", "styles", …)
    target: str  # as written
    part: str | None  # the zip entry it reaches; None when external or missing
    external: bool


class _Inspection:
    def __init__(self, file, *, max_rows, max_cells, max_upload_mb):
        self.file = file
        self.max_rows = max_rows
        self.max_cells = max_cells
        self.max_upload = max_upload_mb * 1024 * 1024
        self.max_unpacked = settings.IMPORT_MAX_UNPACKED_MB * 1024 * 1024
        self.max_entries = settings.IMPORT_MAX_ZIP_ENTRIES
        self.max_ratio = settings.IMPORT_MAX_COMPRESSION_RATIO

    def run(self):
        size = self._size()
        if size > self.max_upload:
            raise XlsxRejected(
                f"文件有 {size / 1024 / 1024:.1f} MB，超过了 {self.max_upload // (1024 * 1024)} MB 的上限；"
                "请按社区拆分成几个文件分别导入",
                code="too_large",
            )
        self.file.seek(0)
        head = self.file.read(8)
        if head.startswith(OLE_MAGIC[:4]):
            raise XlsxRejected(OLE_FILE, code="not_xlsx")
        if not head.startswith(b"PK\x03\x04"):
            raise XlsxRejected(NOT_XLSX, code="not_xlsx")
        self._check_directory_record(size)
        try:
            archive = zipfile.ZipFile(self.file)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, NotImplementedError) as exc:
            raise XlsxRejected(DAMAGED.format(reason=f"zip 目录无法解析：{exc}"), code="damaged") from None
        with archive:
            entries = archive.infolist()
            self._check_entries(entries)
            self._check_names(entries)
            self.by_name = {e.filename: e for e in entries}
            self._map_package()
            for entry in sorted(entries, key=lambda e: (e.filename not in self.index_parts, e.file_size)):
                self._scan_entry(entry)
            # Last, so that a lying or oversized entry is reported as such first.
            for entry in entries:
                if entry.filename not in self.kinds and entry.filename not in self.index_parts and not entry.is_dir():
                    self.refuse_package(f"{entry.filename} 不属于工作簿（没有任何关系引用它）")

    def _size(self):
        size = getattr(self.file, "size", None)  # UploadedFile
        if isinstance(size, int):
            return size
        here = self.file.tell()
        end = self.file.seek(0, io.SEEK_END)
        self.file.seek(here)
        return end

    @staticmethod
    def refuse_package(reason):
        raise XlsxRejected(PACKAGE.format(reason=reason), code="package")

    # -- the zip directory

    def _check_directory_record(self, size):
        """The end-of-directory record, before zipfile reads the directory: bound its size, and
        require the one layout Excel writes (the directory right before its end record, nothing
        after it): a zip with room for a second directory may be read one way by Python's
        zipfile and another by the Rust zip crate under python-calamine."""
        tail_size = min(size, 22 + 0xFFFF)
        tail_start = size - tail_size
        self.file.seek(tail_start)
        tail = self.file.read(tail_size)
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            raise XlsxRejected(DAMAGED.format(reason="找不到 zip 目录"), code="damaged")
        _sig, _disk, _cd_disk, _on_disk, count, cd_size, cd_offset, comment = struct.unpack(
            "<4s4H2LH", tail[at : at + 22]
        )
        directory_end = tail_start + at
        if count == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
            count, cd_size, cd_offset, directory_end = self._zip64_directory_record(size, tail, at)
        if count > self.max_entries:
            raise XlsxRejected(
                BOMB.format(reason=f"压缩包内有 {count} 个文件，上限 {self.max_entries} 个"), code="zip_entries"
            )
        # zipfile reads cd_size bytes of directory whatever the count says: ~1 KiB an entry at most.
        if cd_size > self.max_entries * 1024:
            raise XlsxRejected(
                BOMB.format(reason=f"zip 目录有 {cd_size} 字节，文件数超过上限 {self.max_entries} 个"),
                code="zip_entries",
            )
        if at + 22 + comment != len(tail):
            raise XlsxRejected(DAMAGED.format(reason="zip 目录记录之后还有数据"), code="damaged")
        if cd_offset + cd_size != directory_end:
            raise XlsxRejected(DAMAGED.format(reason="zip 目录的位置与目录记录不符"), code="damaged")

    def _zip64_directory_record(self, size, tail, at):
        """(entries, directory size, directory offset, record offset) from the zip64 end record,
        which a zip64 archive has instead."""
        locator = tail[at - 20 : at] if at >= 20 else b""
        if not locator.startswith(b"PK\x06\x07"):
            raise XlsxRejected(DAMAGED.format(reason="zip64 目录记录缺失"), code="damaged")
        _sig, _disk, offset, _disks = struct.unpack("<4sLQL", locator)
        if offset > size - 56:
            raise XlsxRejected(DAMAGED.format(reason="zip64 目录记录位置错误"), code="damaged")
        self.file.seek(offset)
        record = self.file.read(56)
        if not record.startswith(b"PK\x06\x06"):
            raise XlsxRejected(DAMAGED.format(reason="zip64 目录记录错误"), code="damaged")
        _sig, _size, _made, _needed, _disk, _cd_disk, _on_disk, count, cd_size, cd_offset = struct.unpack(
            "<4sQ2H2L4Q", record
        )
        return count, cd_size, cd_offset, offset

    def _check_entries(self, entries):
        if len(entries) > self.max_entries:
            raise XlsxRejected(
                BOMB.format(reason=f"压缩包内有 {len(entries)} 个文件，上限 {self.max_entries} 个"), code="zip_entries"
            )
        names = set()
        total = 0
        limit_mb = self.max_unpacked // (1024 * 1024)
        for e in entries:
            if e.filename in names:
                raise XlsxRejected(DAMAGED.format(reason=f"压缩包内有重名的文件 {e.filename}"), code="damaged")
            names.add(e.filename)
            if e.flag_bits & 0x1:
                raise XlsxRejected(OLE_FILE, code="encrypted")
            if e.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise XlsxRejected(DAMAGED.format(reason=f"{e.filename} 使用了 Excel 不用的压缩方式"), code="damaged")
            if e.file_size > self.max_unpacked:
                raise XlsxRejected(
                    BOMB.format(reason=f"{e.filename} 解压后有 {e.file_size / 1024 / 1024:.0f} MB，上限 {limit_mb} MB"),
                    code="zip_bomb",
                )
            if e.file_size > RATIO_MIN_SIZE and e.file_size > self.max_ratio * max(e.compress_size, 1):
                ratio = e.file_size / max(e.compress_size, 1)
                raise XlsxRejected(
                    BOMB.format(reason=f"{e.filename} 的压缩比为 {ratio:.0f} 倍，上限 {self.max_ratio} 倍"),
                    code="zip_bomb",
                )
            total += e.file_size
        if total > self.max_unpacked:
            raise XlsxRejected(
                BOMB.format(reason=f"解压后共 {total / 1024 / 1024:.0f} MB，上限 {limit_mb} MB"), code="zip_bomb"
            )

    def _check_names(self, entries):
        """Every entry has one plain name, the same to every reader.

        python-calamine finds a part by its name in any letter case and takes relationship targets
        literally ("xl/./a.xml"), openpyxl by the exact, normalized name; the Rust zip crate also
        takes the name from an Info-ZIP Unicode Path field, which Python's zipfile ignores. With
        names that are plain paths, unique in any case, and no second name in that field, a part
        is the same part for the guard and both parsers.
        """
        lower = {}
        for e in entries:
            name = e.filename
            path = name[:-1] if e.is_dir() else name
            if (
                not path
                or path.startswith("/")
                or "\\" in path
                or any(segment in ("", ".", "..") for segment in path.split("/"))
                or any(ord(ch) < 32 for ch in path)
            ):
                self.refuse_package(f"压缩包内的文件名“{name}”不规范")
            if name.lower() in lower:
                self.refuse_package(f"压缩包内的 {lower[name.lower()]} 与 {name} 只有大小写不同")
            lower[name.lower()] = name
            other = _unicode_path(e.extra)
            if other is not None and other != name:
                self.refuse_package(f"{name} 在 zip 目录中还记有另一个文件名“{other}”")

    # -- the package: which parts the parsers read, and as what

    def _map_package(self):
        """Follow the package as the parsers do, and note every part they read and as what.

        python-calamine 0.9.1 (measured with crafted files): ``_rels/.rels`` → the last
        officeDocument relationship (TargetMode ignored) → its folder's ``workbook.xml`` (whatever
        the target's file name), that folder's ``_rels/workbook.xml.rels``, ``sharedStrings.xml``
        and ``styles.xml``; each ``<sheet>`` → its relationship's target, relative to the folder
        or absolute, taken literally; every name in any letter case.
        openpyxl 3.1.5 (reader/excel.py): the workbook and the shared strings by their content
        types in ``[Content_Types].xml``; ``xl/styles.xml``, ``xl/theme/theme1.xml``,
        ``docProps/core.xml`` and ``docProps/custom.xml`` by name; everything else through the
        relationships (packaging/relationship.py: relative to the source's folder, normalized).

        So: one officeDocument relationship, to a part called workbook.xml, which is also the one
        workbook of the content types; every relationship of every part reached is followed; a
        part reached as a worksheet, the shared strings, the styles or the workbook is reached as
        nothing else. Each part then gets the scanner of what it is read as (``_scanner``).
        """
        by_name = self.by_name
        self.lower = {name.lower(): name for name in by_name}
        self.index_parts = set()
        self.scanned = set()
        self.kinds = {}  # part → what the parsers read it as ({"sheet"}, {"styles"}, {"theme"}…)
        self.references = {}  # part → how many relationships reach it
        self.rels = {}  # part → its relationships, by id
        self.sheet_names = {}  # part → the sheet's name in the workbook, for messages
        self.relationship_count = 0
        for name in by_name:
            if posixpath.basename(name).lower() in ("vbaproject.bin", "vbaprojectsignature.bin", "vbadata.xml"):
                raise XlsxRejected(MACROS, code="macros")

        missing = [] if CONTENT_TYPES in by_name else [CONTENT_TYPES]
        root_rels = self.lower.get(ROOT_RELS)
        root = self._relationships("", root_rels) if root_rels else {}
        documents = [r for r in root.values() if r.kind == "workbook"]
        if not documents:
            missing.append("xl/workbook.xml")
        elif documents[0].part is None and not documents[0].external:
            missing.append(documents[0].target.lstrip("/"))
        if missing:
            raise XlsxRejected(ZIP_NOT_XLSX.format(missing="、".join(missing)), code="not_xlsx")
        if len(documents) > 1:
            self.refuse_package("_rels/.rels 中有多个工作簿（officeDocument）关系")
        if documents[0].external:
            self.refuse_package("工作簿（officeDocument）关系指向外部文件")
        workbook = documents[0].part
        self._check_content_types(workbook)
        if posixpath.basename(workbook).lower() != "workbook.xml":
            # python-calamine would read the folder's workbook.xml instead: another part, or none.
            self.refuse_package(f"工作簿部件应名为 workbook.xml，此文件中为 {workbook}")
        sheets = self._read_workbook(by_name[workbook])

        # Parts read by their names rather than through a relationship.
        folder = posixpath.dirname(workbook)
        for name, kind in (
            (posixpath.join(folder, "sharedStrings.xml"), "sharedstrings"),  # calamine
            (posixpath.join(folder, "styles.xml"), "styles"),  # calamine
        ):
            if name.lower() in self.lower:
                self._read_as(self.lower[name.lower()], kind)
        for name, kind in OPENPYXL_BY_NAME.items():
            if name in by_name:
                self._read_as(name, kind)
        for name in self.shared_strings_types:
            if name in by_name:
                self._read_as(name, "sharedstrings")  # openpyxl: the first of these

        # Every relationship of every part reached, breadth first.
        queue = collections.deque(self.kinds)
        seen = set(queue)
        while queue:
            part = queue.popleft()
            rels_name = self.lower.get(_rels_path(part).lower())
            if rels_name is None:
                continue
            self.rels[part] = self._relationships(part, rels_name)
            for rel in self.rels[part].values():
                if rel.part is not None and rel.part not in seen:
                    seen.add(rel.part)
                    queue.append(rel.part)

        workbook_rels = self.rels.get(workbook, {})
        for sheet, ids in sheets:
            label = f"工作表“{sheet}”"
            for rid in ids:
                rel = workbook_rels.get(rid)
                if rel is None:
                    self.refuse_package(f"{label}引用的关系 {rid} 不存在")
                if rel.external:
                    self.refuse_package(f"{label}指向外部文件 {rel.target}")
                if rel.part is None:
                    self.refuse_package(f"{label}的部件 {rel.target} 不存在")
                if rel.part in self.sheet_names:
                    self.refuse_package(f"{rel.part} 被用作多个工作表")
                self.sheet_names[rel.part] = sheet
                self._read_as(rel.part, "sheet")

        for part in sorted(self.index_parts & self.kinds.keys()):
            self.refuse_package(f"关系指向了索引部件 {part}")
        for part, kinds in self.kinds.items():
            parsed = kinds & PARSED_KINDS
            if parsed and len(kinds) > 1:
                self.refuse_package(f"{part} 同时被用作{'、'.join(sorted(KIND_LABELS.get(k, k) for k in kinds))}")
            if parsed and _is_binary(part):
                self.refuse_package(f"{part} 被用作{KIND_LABELS[next(iter(parsed))]}，但它不是 XML")
            if "sheet" in kinds and self.references.get(part, 0) > 1:
                self.refuse_package(f"{part} 被多个关系引用为工作表")

    def _read_as(self, part, kind):
        self.kinds.setdefault(part, set()).add(kind)

    def _check_content_types(self, workbook):
        """[Content_Types].xml: no macro content type, and one workbook, the officeDocument's."""
        defaults, overrides = {}, []
        for element in self._index_xml(CONTENT_TYPES):
            tag = _local(element.tag)
            content_type = (element.get("ContentType") or "").strip()
            if tag == "Default":
                defaults[(element.get("Extension") or "").lower()] = content_type
            elif tag == "Override":
                overrides.append(((element.get("PartName") or "").lstrip("/"), content_type))
        for content_type in [*defaults.values(), *(t for _part, t in overrides)]:
            lowered = content_type.lower()
            if "macroenabled" in lowered or "vbaproject" in lowered or "macrosheet" in lowered:
                raise XlsxRejected(MACROS, code="macros")
        # openpyxl opens the part of the first workbook content type, or xl/workbook.xml.
        others = {part for part, t in overrides if t in WORKBOOK_TYPES and part.lower() != workbook.lower()}
        if others:
            self.refuse_package(
                f"[Content_Types].xml 登记的工作簿 {'、'.join(sorted(others))} 不是 _rels/.rels 指向的 {workbook}"
            )
        own = [t for part, t in overrides if part.lower() == workbook.lower()]
        extension = posixpath.splitext(workbook)[1].lstrip(".").lower()
        if (own[0] if own else defaults.get(extension, "")) not in WORKBOOK_TYPES:
            raise XlsxRejected(ZIP_NOT_XLSX.format(missing=f"Excel 工作簿类型的 {workbook}"), code="not_xlsx")
        if not own and workbook != "xl/workbook.xml":
            self.refuse_package(f"[Content_Types].xml 中没有登记工作簿 {workbook}")
        self.shared_strings_types = [
            self.lower.get(part.lower(), part) for part, t in overrides if t == SHARED_STRINGS_TYPE
        ]

    def _relationships(self, source, rels_name):
        """The relationships of ``source`` (a part, "" for the package) from ``rels_name``, resolved;
        each part reached is noted as read as the relationship's kind."""
        self.index_parts.add(rels_name)
        folder = posixpath.dirname(source)
        found = {}
        for element in self._index_xml(rels_name, iterate=True):
            if _local(element.tag) != "Relationship":
                continue
            self.relationship_count += 1
            if self.relationship_count > MAX_RELATIONSHIPS:
                self.refuse_package(f"关系超过 {MAX_RELATIONSHIPS} 个")
            if any("}" in key for key in element.attrib):
                self.refuse_package(f"{rels_name} 中的关系带有命名空间前缀的属性")
            rid, target = element.get("Id"), element.get("Target")
            if not rid or target is None:
                self.refuse_package(f"{rels_name} 中有缺少 Id 或 Target 的关系")
            if rid in found:
                self.refuse_package(f"{rels_name} 中的关系 {rid} 重复")
            kind = (element.get("Type") or "").rstrip("/").rsplit("/", 1)[-1].lower()
            if kind in MACRO_KINDS:
                raise XlsxRejected(MACROS, code="macros")
            if kind in SHEET_KINDS:
                kind = "sheet"
            elif kind == "officedocument" and not source:
                kind = "workbook"  # the package's own: the one the parsers open
            if (element.get("TargetMode") or "").strip().lower() == "external":
                inside = self._inside(folder, target)
                if inside is not None:
                    self.refuse_package(f"{rels_name} 中的外部关系 {rid} 指向压缩包内的 {inside}")
                found[rid] = _Rel(rid, kind, target, None, True)
                continue
            part = self.lower.get(self._resolve(rels_name, folder, target).lower())
            found[rid] = _Rel(rid, kind, target, part, False)
            if part is not None:
                self._read_as(part, kind)
                self.references[part] = self.references.get(part, 0) + 1
        return found

    def _resolve(self, rels_name, folder, target):
        """The part name a target means (openpyxl's get_dependents; python-calamine takes it
        literally, which names no entry unless it is already normal: see _check_names)."""
        path = target[1:] if target.startswith("/") else posixpath.join(folder, target)
        normal = posixpath.normpath(path) if path else ""
        if not target.strip() or normal in ("", ".", "..") or normal.startswith(("../", "/")):
            self.refuse_package(f"{rels_name} 中的关系目标“{target}”无效")
        return normal

    def _inside(self, folder, target):
        """The entry an external target would name if a parser took it as a part, or None."""
        stripped = target.lstrip("/")
        for candidate in (target, stripped, posixpath.join(folder, target), posixpath.join(folder, stripped)):
            for name in (candidate, posixpath.normpath(candidate) if candidate else candidate):
                if name and name.lower() in self.lower:
                    return self.lower[name.lower()]
        return None

    def _read_workbook(self, entry):
        """Scan and parse the workbook part: its ``<sheet>`` elements as (name, [relationship ids])."""
        sheets = _SheetList()
        scanner = _WorkbookScanner(entry.filename, sheets)
        self.scanned.add(entry.filename)
        for piece in self._unpack(entry):
            scanner.feed(piece)
        scanner.close()
        return sheets.sheets

    def _index_xml(self, name, iterate=False):
        """A small index part, checked like any XML part, then parsed (no DTD allowed): its
        children, or with ``iterate`` all its elements."""
        from defusedxml import DefusedXmlException
        from defusedxml.ElementTree import fromstring

        self.index_parts.add(name)
        entry = self.by_name[name]
        if entry.file_size > MAX_INDEX_PART:
            raise XlsxRejected(XML_STRUCTURE.format(part=name, reason="过大"), code="damaged")
        data = b"".join(self._scan_entry(entry, keep=True))
        try:
            root = fromstring(data, forbid_dtd=True)
        except DefusedXmlException:
            raise XlsxRejected(XML_DTD.format(part=name), code="xml_dtd") from None
        except Exception as exc:  # ParseError and whatever a broken part raises
            raise XlsxRejected(XML_STRUCTURE.format(part=name, reason=f"XML 格式错误：{exc}"), code="damaged") from None
        return list(root.iter()) if iterate else list(root)

    # -- the parts

    def _scanner(self, entry):
        """The scanner of what the parsers read the entry as."""
        name = entry.filename
        kinds = self.kinds.get(name)
        if name in self.index_parts:
            return _XmlScanner(name)
        if kinds is None:
            return _Scanner(name)  # read by no parser, and refused once its sizes are checked
        if "sheet" in kinds:
            sheet = self.sheet_names.get(name)
            if entry.file_size > PRESCAN_SIZE:
                # A quick pass over the rows alone first: a sheet of too many rows is refused in
                # well under a second, not after the full scan of its first 200,000 rows.
                prescan = _RowPrescan(name, sheet, self.max_rows, self.max_cells)
                for piece in self._unpack(entry):
                    prescan.feed(piece)
            return _SheetScanner(name, sheet, self.max_rows, self.max_cells)
        if "sharedstrings" in kinds:
            return _SharedStringsScanner(name, self.max_cells)
        limited = [kind for kind in kinds if kind in PART_LIMITS]
        if limited:
            return _PartScanner(name, limited[0])
        if _is_binary(name):
            return _Scanner(name)  # sizes only
        return _XmlScanner(name)

    def _scan_entry(self, entry, keep=False):
        """Unpack one entry in pieces through its scanner (once); with ``keep`` return the pieces."""
        name = entry.filename
        if name in self.scanned:
            return []
        self.scanned.add(name)
        scanner = self._scanner(entry)
        kept = []
        for piece in self._unpack(entry):
            scanner.feed(piece)
            if keep:
                kept.append(piece)
        scanner.close()
        return kept

    def _unpack(self, entry):
        """The entry's bytes in pieces of at most CHUNK, never more than it declares; CRC checked."""
        f = self.file
        f.seek(entry.header_offset)
        header = f.read(30)
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            raise XlsxRejected(DAMAGED.format(reason=f"{entry.filename} 的文件头错误"), code="damaged")
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        raw_name = f.read(name_length)
        extra = f.read(extra_length)
        encoding = "utf-8" if entry.flag_bits & 0x800 else "cp437"
        local_name = raw_name.decode(encoding, errors="replace")
        other = _unicode_path(extra)
        if local_name != entry.orig_filename or (other is not None and other != entry.filename):
            raise XlsxRejected(DAMAGED.format(reason=f"{entry.filename} 的文件头与 zip 目录不符"), code="damaged")
        remaining = entry.compress_size
        total, crc = 0, 0
        lying = BOMB.format(reason=f"{entry.filename} 实际解压后的大小超过了它声明的 {entry.file_size} 字节")
        if entry.compress_type == zipfile.ZIP_STORED:
            while remaining > 0:
                piece = f.read(min(CHUNK, remaining))
                if not piece:
                    break
                remaining -= len(piece)
                total += len(piece)
                if total > entry.file_size:
                    raise XlsxRejected(lying, code="zip_bomb")
                crc = zlib.crc32(piece, crc)
                yield piece
        else:
            inflater = zlib.decompressobj(-15)
            pending = b""
            while True:
                if not pending and remaining > 0:
                    pending = f.read(min(READ_SIZE, remaining))
                    remaining -= len(pending)
                    if not pending:
                        break
                try:
                    piece = inflater.decompress(pending, CHUNK)
                except zlib.error as exc:
                    raise XlsxRejected(
                        DAMAGED.format(reason=f"{entry.filename} 无法解压：{exc}"), code="damaged"
                    ) from None
                pending = inflater.unconsumed_tail
                if piece:
                    total += len(piece)
                    if total > entry.file_size:
                        raise XlsxRejected(lying, code="zip_bomb")
                    crc = zlib.crc32(piece, crc)
                    yield piece
                if inflater.eof or (not piece and not pending and remaining <= 0):
                    break
            if not inflater.eof:
                raise XlsxRejected(DAMAGED.format(reason=f"{entry.filename} 的压缩数据不完整"), code="damaged")
        if total != entry.file_size or crc != entry.CRC:
            raise XlsxRejected(DAMAGED.format(reason=f"{entry.filename} 的大小或校验和与 zip 目录不符"), code="damaged")


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def _is_binary(name):
    return posixpath.splitext(name)[1].lstrip(".").lower() in BINARY_EXTENSIONS


def _rels_path(part):
    """Where a part's relationships are: xl/_rels/workbook.xml.rels for xl/workbook.xml."""
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", f"{name}.rels")


def _unicode_path(extra: bytes):
    """The name in an Info-ZIP Unicode Path field (0x7075) of a zip extra block, or None."""
    at = 0
    while at + 4 <= len(extra):
        kind, size = struct.unpack_from("<HH", extra, at)
        if kind == 0x7075:
            data = extra[at + 4 : at + 4 + size]
            return data[5:].decode("utf-8", errors="replace") if len(data) > 5 else ""
        at += 4 + size
    return None


# ---------------------------------------------------------------------------------------------
# Scanners: fed the pieces of one part in order, then closed.

_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_DTD_OVERLAP = 8  # len("<!ENTITY") - 1: a declaration cut between two pieces is still found
_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([^"']*)["']""")
_UTF8 = {b"utf-8", b"utf8", b"us-ascii", b"ascii"}


class _Scanner:
    """Sizes only (pictures and other binary parts: _unpack measures them)."""

    def __init__(self, name):
        self.name = name

    def feed(self, piece):
        pass

    def close(self):
        pass

    def refuse(self, reason, code="damaged"):
        raise XlsxRejected(XML_STRUCTURE.format(part=self.name, reason=reason), code=code)


class _XmlScanner(_Scanner):
    """Any XML part: UTF-8, no DOCTYPE or ENTITY declaration, at most ``max_tags`` tags."""

    max_tags = MAX_PART_TAGS

    def __init__(self, name):
        super().__init__(name)
        self.started = False
        self.tail = b""
        self.tags = 0

    def feed(self, piece):
        if not self.started:
            self.started = True
            self._check_start(piece)
        window = self.tail + piece[:4096] if self.tail else piece
        if _DTD.search(window) or (window is not piece and _DTD.search(piece)):
            raise XlsxRejected(XML_DTD.format(part=self.name), code="xml_dtd")
        self.tail = piece[-_DTD_OVERLAP:]
        if self.max_tags is not None:
            self.tags += piece.count(b"<")
            if self.tags > self.max_tags:
                self.refuse(f"超过 {self.max_tags} 个 XML 标签", code="xml_size")

    def _check_start(self, piece):
        head = piece[:4]
        if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
            raise XlsxRejected(XML_ENCODING.format(part=self.name), code="xml_encoding")
        if head.startswith(b"\xef\xbb\xbf"):
            piece = piece[3:]
        declared = _ENCODING.match(piece[:512])
        if declared and declared.group(1).lower() not in _UTF8:
            raise XlsxRejected(XML_ENCODING.format(part=self.name), code="xml_encoding")


class _MarkupScanner(_XmlScanner):
    """A part python-calamine reads (worksheets, shared strings): on top of the XML checks, no
    text longer than MAX_TEXT_RUN, and the markup handed to ``segment()`` cut before the last "<"
    of each piece (that tag is carried to the next piece, so no tag is ever cut in two)."""

    max_tags = None

    def __init__(self, name):
        super().__init__(name)
        self.carry = b""
        self.run = 0  # bytes since the last "<"

    def feed(self, piece):
        super().feed(piece)
        # Pieces are at most MAX_TEXT_RUN long, so only a run across pieces can be too long.
        first = piece.find(b"<")
        if first < 0:
            self.run += len(piece)
        else:
            if self.run + first > MAX_TEXT_RUN:
                self._too_long()
            self.run = len(piece) - piece.rfind(b"<") - 1
        if self.run > MAX_TEXT_RUN:
            self._too_long()
        buffer = self.carry + piece if self.carry else piece
        last = buffer.rfind(b"<")
        if last <= 0:
            self.carry = buffer if last == 0 else b""
            if last < 0:
                self.segment(buffer)
            return
        self.carry = buffer[last:]
        self.segment(buffer[:last])

    def close(self):
        if self.carry:
            self.segment(self.carry)
            self.carry = b""

    def _too_long(self):
        self.refuse(f"有一段文字超过 {MAX_TEXT_RUN // 1024} KB", code="xml_size")

    def segment(self, segment):
        raise NotImplementedError

    def parse(self, step, *args):
        """One step of an lxml parser fed the same pieces (well-formedness, or what a target keeps)."""
        from lxml import etree

        try:
            step(*args)
        except etree.XMLSyntaxError as exc:
            self.refuse(f"XML 格式错误：{getattr(exc, 'msg', None) or exc}")


class _SharedStringsScanner(_MarkupScanner):
    """Shared strings: at most one per cell (calamine and openpyxl load them all)."""

    _SI = re.compile(rb"<(?:[^\s/<>:]+:)?si(?=[\s/>])")

    def __init__(self, name, max_cells):
        super().__init__(name)
        self.max_cells = max_cells
        self.count = 0

    def segment(self, segment):
        self.count += len(self._SI.findall(segment))
        if self.count > self.max_cells:
            self.refuse(f"共享字符串超过 {self.max_cells} 个", code="cell_bomb")


class _PartScanner(_MarkupScanner):
    """A part openpyxl makes an object of per element (the styles, the workbook, comments…): at
    most ``max_tags`` tags in all, and at most so many elements of each name in PART_LIMITS."""

    _PREFIXED_TAG = re.compile(rb"<[^\s/<>:!?]+:")

    def __init__(self, name, kind):
        super().__init__(name)
        self.max_tags, self.limits = PART_LIMITS[kind]
        self.counts = dict.fromkeys(self.limits, 0)

    def segment(self, segment):
        # "<xf" also counts "<xfs…", "<font" "<fonts": a few too many, on the safe side. Counting
        # bytes keeps a segment of 200,000 tags at no memory and a few milliseconds.
        prefixed = self._PREFIXED_TAG.search(segment) is not None
        for item, limit in self.limits.items():
            needle = b"<" + item.encode()
            count = segment.count(needle)
            if prefixed:
                count += sum(1 for _ in re.finditer(rb"<[^\s/<>:!?]+:" + needle[1:], segment))
            self.counts[item] += count
            if self.counts[item] > limit:
                raise XlsxRejected(
                    TOO_MANY_ITEMS.format(part=self.name, limit=limit, what=ITEM_LABELS.get(item, item)),
                    code="part_size",
                )


class _SheetList:
    """An lxml parser target that keeps the workbook's ``<sheet>`` elements and nothing else (no
    tree): (name, [the value of every attribute called id, in any namespace]) — calamine takes
    r:id and relationships:id by their prefix, openpyxl the id of the relationships namespace."""

    def __init__(self):
        self.sheets = []

    def start(self, tag, attrib):
        if _local(tag) == "sheet":
            self.sheets.append((attrib.get("name", ""), [v for k, v in attrib.items() if _local(k) == "id"]))

    def close(self):
        return None


class _WorkbookScanner(_PartScanner):
    """The workbook part: bounded like any part openpyxl builds objects from, and parsed
    (streaming, with lxml) for the sheets it lists."""

    def __init__(self, name, target):
        from lxml import etree

        super().__init__(name, "workbook")
        self.parser = etree.XMLParser(target=target, resolve_entities=False, no_network=True, load_dtd=False)

    def feed(self, piece):
        super().feed(piece)  # the DTD check comes first: lxml never sees a DOCTYPE
        self.parse(self.parser.feed, piece)

    def close(self):
        super().close()
        self.parse(self.parser.close)


_CELL_REF = re.compile(rb"\s*([A-Za-z]{1,3})([0-9]{1,9})\s*\Z")
_DIMENSION = re.compile(rb"""<(?:[^\s/<>:]+:)?dimension\s[^>]*?\bref\s*=\s*["']([^"']*)["']""")


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ch - 64
    return n


def _cell_ref(value: bytes):
    """(row, column), both from 1, of b"K12"; None when it is not a cell reference."""
    m = _CELL_REF.match(value)
    if not m:
        return None
    return int(m.group(2)), _column_number(m.group(1))


def _greater_than(n: int) -> bytes:
    """A pattern for the decimal numbers above ``n`` (longer ones all count as above)."""
    digits = str(n)
    options = [b"[0-9]{%d,}" % (len(digits) + 1)]
    for i, d in enumerate(digits):
        if d != "9":
            rest = len(digits) - i - 1
            options.append(digits[:i].encode() + b"[%d-9]" % (int(d) + 1) + (b"[0-9]{%d}" % rest if rest else b""))
    return b"(?:" + b"|".join(options) + b")"


class _RowPrescan:
    """The quick pass: row tags counted and ``<row r=`` numbers, nothing else (the full scan
    decides; this only refuses sooner). A sheet Excel writes has each row once, in order, so its
    count and its highest number are both at most its last row."""

    _ROW_TAG = re.compile(rb"<(?:[^\s/<>:]+:)?row(?=[\s/>])")
    _ROW_NUMBER = re.compile(rb'<row r="([0-9]{1,9})"')

    def __init__(self, name, sheet, max_rows, max_cells):
        self.sheet = sheet or posixpath.basename(name)
        self.max_rows = max_rows
        self.max_cells = max_cells
        self.tail = b""
        self.count = 0
        self.highest = 0

    def feed(self, piece):
        # A tag cut by the piece boundary is whole with the bytes carried over; those found in the
        # carried bytes alone were counted with the piece before.
        window = self.tail + piece
        self.count += len(self._ROW_TAG.findall(window)) - len(self._ROW_TAG.findall(self.tail))
        numbers = self._ROW_NUMBER.findall(window)
        if numbers:
            self.highest = max(self.highest, max(map(int, numbers)))
        self.tail = piece[-32:]
        _check_extent(self.sheet, max(self.count, self.highest), 1, self.max_rows, self.max_cells)


class _Silent:
    """An lxml parser target without events: the parser only checks that the XML is well-formed."""

    def close(self):
        return None


class _SheetScanner(_MarkupScanner):
    """A worksheet: the rows × columns rectangle of its cells, as python-calamine will size it.

    lxml checks that the part is well-formed XML (streaming, no tree): so "<" only ever starts a
    tag, an attribute appears once in a tag (calamine would take the last ``r``), and a tag ends
    where XML says. Then the cells:

    - a piece in the form Excel, WPS, openpyxl and xlsxwriter write (every ``<row r="N"`` and
      ``<c r="A1"`` with one capital letter, r first) is measured with a few pattern searches:
      the rows are the highest ``<row r=`` (empty rows count too, on the safe side), checked to
      cover every cell's own row, the columns the highest letter;
    - any other piece (cells without r, prefixes, lower-case or long references) is read tag by
      tag, positions counted as calamine counts them: a cell without r is the next column of
      its row, a row without r the next row. Cells without a value count too (calamine skips
      them: this errs on the safe side).
    """

    _ROW_NUMBER = re.compile(rb'<row r="([0-9]{1,9})"')
    _COLUMN_LETTER = re.compile(rb'<c r="([A-Z])')
    _CELL_ROW = re.compile(rb'<c r="[A-Z]([0-9]{1,9})"')
    # Tags not in that form (each pattern starts with a literal: fast searches).
    _UNUSUAL_CELL = re.compile(rb'<c(?=[\s/>])(?! r="[A-Z][0-9]{1,7}")')
    _UNUSUAL_ROW = re.compile(rb'<row(?=[\s/>])(?! r="[0-9]{1,7}")')
    _PREFIXED = re.compile(rb":(?:c|row)[\s/>]")
    _TAG = re.compile(rb"""<(?:[^\s/<>:]+:)?(row|c)(?=[\s/>])((?:[^>"']|"[^"]*"|'[^']*')*)>""")
    _ATTRIBUTE = re.compile(rb"""([^\s=]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")

    def __init__(self, name, sheet, max_rows, max_cells):
        from lxml import etree

        super().__init__(name)
        self.sheet = sheet or posixpath.basename(name)
        self.max_rows = max_rows
        self.max_cells = max_cells
        self.rows = 0  # extent: highest row (from 1)
        self.columns = 0  # extent: highest column (from 1)
        self.row = 0  # the current <row>, for a cell or row without r
        self.column = 0  # the last cell's column in the current row
        self.in_data = False
        self.parser = etree.XMLParser(
            target=_Silent(), resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
        )

    def feed(self, piece):
        super().feed(piece)  # the DTD check comes first: lxml never sees a DOCTYPE
        self.parse(self.parser.feed, piece)

    def close(self):
        super().close()
        self.parse(self.parser.close)

    def segment(self, segment):
        if not self.in_data:
            for m in _DIMENSION.finditer(segment):
                ref = _cell_ref(m.group(1).split(b":")[-1])
                if ref is not None:
                    self.check(*ref)
            self.in_data = b"sheetData" in segment
        if self._UNUSUAL_CELL.search(segment) or self._UNUSUAL_ROW.search(segment) or self._PREFIXED.search(segment):
            self._tag_by_tag(segment)
        else:
            self._quick(segment)
        self.check()

    def _quick(self, segment):
        numbers = self._ROW_NUMBER.findall(segment)
        if numbers:
            self.rows = max(self.rows, max(map(int, numbers)))
            self.check()
        beyond = [b'<c r="[A-Z]' + _greater_than(self.rows) + b'"']
        if self.columns < 26:
            beyond.append(b'<c r="[%c-Z]' % (65 + self.columns))
        if re.search(b"|".join(beyond), segment):
            letters = self._COLUMN_LETTER.findall(segment)
            self.columns = max(self.columns, max(letters)[0] - 64)
            self.rows = max(self.rows, max(map(int, self._CELL_ROW.findall(segment))))
        # Where the piece leaves off, for a later piece read tag by tag.
        last_row, last_cell = segment.rfind(b'<row r="'), segment.rfind(b'<c r="')
        if last_row >= 0:
            self.row = int(self._ROW_NUMBER.match(segment, last_row).group(1))
            self.column = 0
        if last_cell > last_row:
            self.column = segment[last_cell + 6] - 64

    def _tag_by_tag(self, segment):
        for m in self._TAG.finditer(segment):
            refs = [a.group(2) if a.group(2) is not None else a.group(3)
                    for a in self._ATTRIBUTE.finditer(m.group(2)) if a.group(1) == b"r"]  # fmt: skip
            if m.group(1) == b"row":
                if refs and not refs[-1].strip().isdigit():
                    self.refuse(f"行号“{refs[-1].decode(errors='replace')}”无效")
                self.row = int(refs[-1]) if refs else self.row + 1
                self.column = 0
                self.rows = max(self.rows, self.row)
                continue
            if refs:
                ref = _cell_ref(refs[-1])
                if ref is None:
                    self.refuse(f"单元格地址“{refs[-1].decode(errors='replace')}”无效")
                row, self.column = ref
            else:
                row, self.column = max(self.row, 1), self.column + 1
            if row > self.rows:
                self.rows = row
            if self.column > self.columns:
                self.columns = self.column
            if self.rows > self.max_rows + 1 + BLANK_ROW_ALLOWANCE or self.rows * self.columns > self.max_cells:
                self.check()

    def check(self, rows=None, columns=None):
        rows = self.rows if rows is None else rows
        columns = self.columns if columns is None else columns
        _check_extent(self.sheet, rows, columns, self.max_rows, self.max_cells)


def _check_extent(sheet, rows, columns, max_rows, max_cells):
    if rows > max_rows + 1 + BLANK_ROW_ALLOWANCE:
        raise XlsxRejected(TOO_MANY_ROWS.format(sheet=sheet, rows=rows, limit=max_rows), code="too_many_rows")
    if rows * columns > max_cells or columns > EXCEL_MAX_COLUMNS or rows > EXCEL_MAX_ROWS:
        raise XlsxRejected(
            TOO_MANY_CELLS.format(sheet=sheet, rows=rows, columns=columns, limit=max_cells), code="too_many_cells"
        )
