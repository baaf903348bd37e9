"""core.xlsx_guard: every Excel upload is measured before a parser touches it.

Each malicious file is built here (zipfile, by hand), then refused three ways: by
``inspect_xlsx`` directly (under 2 s, tracemalloc peak under 200 MB), through the household
register import in the admin as the street admin (nothing stored, no Household written, the
parser never called), and through the cadre roster import (no Cadre written). The real template
in shared/samples/ still passes.

Further down: files that point a parser, through the package's relationships, content types or
zip directory, at a part the guard would otherwise not measure as what the parser reads it as
(PACKAGE_CASES, and a differential check against python-calamine); the collections openpyxl
makes objects of; and files the guard is switched off for, which cost only the child process
the parsers run in (core.sandbox), never the test process.
"""

import io
import struct
import time
import tracemalloc
import zipfile
import zlib

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core import xlsx_guard
from core.xlsx_guard import XlsxRejected, inspect_xlsx
from households import register
from households.apps import check_defusedxml
from households.models import Household
from visitplan.models import Cadre

from .xlsx import SAMPLE

pytestmark = pytest.mark.django_db

MAX_SECONDS = 2
MAX_PEAK_BYTES = 200 * 1024 * 1024
MACRO_TYPE = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
SHEET = "xl/worksheets/sheet1.xml"


# --- building files --------------------------------------------------------------------------


def sample_parts():
    with zipfile.ZipFile(SAMPLE) as z:
        return {name: z.read(name) for name in z.namelist()}


def pack(parts, compression=zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return out.getvalue()


def sample_with(**changes) -> bytes:
    """The real template with parts replaced (name → bytes, or a function of the old bytes)."""
    parts = sample_parts()
    for key, change in changes.items():
        name = {"sheet": SHEET, "content_types": "[Content_Types].xml"}.get(key, key)
        parts[name] = change(parts.get(name, b"")) if callable(change) else change
    return pack(parts)


def in_sheet(xml: bytes):
    """Cells added at the end of the template's sheetData."""
    return lambda sheet: sheet.replace(b"</sheetData>", xml + b"</sheetData>")


def billion_laughs(levels=10) -> bytes:
    entities = [b'<!ENTITY lol0 "lollollollollollollollollollol">']
    entities += [b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, levels)]
    return b'<?xml version="1.0"?>\n<!DOCTYPE lolz [' + b"".join(entities) + b"]>\n"


def laughing_sheet(sheet: bytes) -> bytes:
    head = billion_laughs()
    return head + sheet.replace("<t>社区</t>".encode(), b"<t>&lol9;</t>", 1)


def laughing_shared_strings(prolog=None, text=b"&lol9;") -> bytes:
    """A workbook whose sharedStrings.xml is the billion laughs (and the sheet uses it)."""
    parts = sample_parts()
    parts["xl/sharedStrings.xml"] = (billion_laughs() if prolog is None else prolog) + (
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">'
        b"<si><t>%s</t></si></sst>" % text
    )
    parts[SHEET] = parts[SHEET].replace('t="inlineStr"><is><t>社区</t></is>'.encode(), b't="s"><v>0</v>', 1)
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>",
        b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
        b'officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
    )
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>",
        b'<Relationship Id="rIdSst" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        b'sharedStrings" Target="sharedStrings.xml"/></Relationships>',
    )
    return pack(parts)


def with_zero_entry(size, name="xl/media/zeros.bin") -> bytes:
    """The template plus an entry of ``size`` zero bytes, compressed ~1000:1 (written in pieces)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for part, data in sample_parts().items():
            z.writestr(part, data)
        with z.open(name, "w", force_zip64=False) as w:
            block = b"\0" * (1 << 20)
            for _ in range(size >> 20):
                w.write(block)
    return out.getvalue()


def patch_sizes(data: bytes, name: str, *, size: int, crc: int | None = None) -> bytes:
    """Rewrite the declared unpacked size (and CRC) of entry ``name``, local header and directory."""
    data = bytearray(data)
    encoded = name.encode()
    for signature, crc_at, size_at, name_at in ((b"PK\x03\x04", 14, 22, 30), (b"PK\x01\x02", 16, 24, 46)):
        at = data.find(signature)
        while at >= 0:
            if data[at + name_at : at + name_at + len(encoded)] == encoded:
                struct.pack_into("<L", data, at + size_at, size)
                if crc is not None:
                    struct.pack_into("<L", data, at + crc_at, crc)
            at = data.find(signature, at + 4)
    return bytes(data)


def declared_gigabyte() -> bytes:
    """A few KB that declare an entry of 1 GiB (nothing to unpack: the directory says it)."""
    return patch_sizes(sample_with(), SHEET, size=1 << 30)


def lying_entry() -> bytes:
    """An entry that declares 1,000 bytes (CRC of those 1,000) but unpacks to 50 MiB.

    Python's zipfile reads it happily (it stops at the declared size and the CRC matches); a
    reader that trusts the stream (the Rust zip crate under calamine) would unpack it all.
    """
    data = with_zero_entry(50 << 20, name="xl/media/lies.bin")
    return patch_sizes(data, "xl/media/lies.bin", size=1000, crc=zlib.crc32(b"\0" * 1000))


def many_entries(count=600) -> bytes:
    parts = sample_parts()
    parts.update({f"xl/media/image{i}.png": b"\x89PNG" for i in range(count)})
    return pack(parts)


def zip64_entries(count=70_000) -> bytes:
    """More entries than a plain zip holds: the end record says 0xFFFF and the zip64 record the rest
    (6 MB: the upload goes to a temporary file, not memory)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for part, data in sample_parts().items():
            z.writestr(part, data)
        for i in range(count):
            z.writestr(f"customXml/item{i}.xml", b"")
    return out.getvalue()


def many_rows(count, *, with_r=True) -> bytes:
    if with_r:
        rows = b"".join(b'<row r="%d"><c r="A%d"><v>1</v></c></row>' % (n, n) for n in range(42, 42 + count))
    else:
        rows = b"<row><c><v>1</v></c></row>" * count
    return sample_with(sheet=in_sheet(rows))


def plain_zip(**parts) -> bytes:
    return pack({name.replace("__", "/"): data for name, data in parts.items()})


def ole_file() -> bytes:
    return bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 4096


# id → (the file, what the message says). Every file is named .xlsx: the name is not what is trusted.
CASES = {
    "declared 1 GiB entry": (declared_gigabyte, "解压后有 1024 MB"),
    "real 300 MB zero entry": (lambda: with_zero_entry(300 << 20), "解压后有 300 MB"),
    "compression ratio": (lambda: with_zero_entry(5 << 20), "压缩比"),
    "entry unpacks to more than declared": (lying_entry, "实际解压后的大小超过了它声明的 1000 字节"),
    "too many entries": (many_entries, "个文件，上限 500 个"),
    "too many entries (zip64)": (zip64_entries, "压缩包内有 70010 个文件，上限 500 个"),
    "dimension of 1,048,576 rows": (
        lambda: sample_with(
            sheet=lambda s: s.replace(b'<dimension ref="A1:K41" />', b'<dimension ref="A1:K1048576"/>')
        ),
        "单元格延伸到第 1048576 行",
    ),
    "one cell at XFD1048576": (
        lambda: sample_with(sheet=in_sheet(b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>')),
        "单元格延伸到第 1048576 行",
    ),
    "16,384 columns × 1,000 rows": (
        lambda: sample_with(sheet=in_sheet(b'<row r="1000"><c r="XFD1000"><v>1</v></c></row>')),
        "1000 行 × 16384 列",
    ),
    "many rows": (lambda: many_rows(2000), "单元格延伸到第 2041 行，超过了 50 行数据"),
    "many rows without r": (lambda: many_rows(2000, with_r=False), "超过了 50 行数据"),
    "cells without r, far right": (
        lambda: sample_with(sheet=in_sheet(b"<row>" + b"<c/>" * 16385 + b"</row>")),
        "16385 列",
    ),
    "billion laughs in sheet1.xml": (lambda: sample_with(sheet=laughing_sheet), "sheet1.xml 含有 DOCTYPE/ENTITY"),
    "billion laughs in sharedStrings.xml": (laughing_shared_strings, "sharedStrings.xml 含有 DOCTYPE/ENTITY"),
    "external entity in workbook.xml": (
        lambda: sample_with(
            **{"xl/workbook.xml": lambda w: b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + w}
        ),
        "workbook.xml 含有 DOCTYPE/ENTITY",
    ),
    "UTF-16 sheet": (lambda: sample_with(sheet=lambda s: s.decode().encode("utf-16")), "不是 UTF-8 编码"),
    "text file renamed": (lambda: "社区,网格\n湖田社区,第1网格\n".encode(), "文件不是 .xlsx 格式的 Excel 工作簿"),
    "csv renamed": (lambda: b"a,b\n1,2\n", "文件不是 .xlsx 格式的 Excel 工作簿"),
    "xls renamed": (ole_file, "旧版 Excel 97-2003"),
    "zip renamed": (lambda: plain_zip(hello__txt=b"hi"), "缺少 [Content_Types].xml、xl/workbook.xml"),
    "docx renamed": (
        lambda: plain_zip(
            **{"[Content_Types].xml": sample_parts()["[Content_Types].xml"], "word__document.xml": b"<w/>"}
        ),
        "缺少 xl/workbook.xml",
    ),
    "xlsm named .xlsx (content type)": (
        lambda: sample_with(content_types=lambda ct: ct.replace(XLSX_TYPE.encode(), MACRO_TYPE.encode())),
        "含有宏",
    ),
    "vbaProject.bin": (lambda: sample_with(**{"xl/vbaProject.bin": ole_file()}), "含有宏"),
    "broken zip": (lambda: b"PK\x03\x04 not really a zip", "文件无法读取"),
}


@pytest.fixture(scope="module")
def files():
    """Each file built once (the 300 MB one takes a moment)."""
    return {key: build() for key, (build, _message) in CASES.items()}


@pytest.fixture
def limits(settings):
    settings.IMPORT_MAX_ROWS = 50  # "many rows": 50 data rows + the header + 1,000 blank rows at most
    return settings


def refused(call):
    """Run ``call``; it must raise XlsxRejected within MAX_SECONDS; then once more under tracemalloc."""
    started = time.perf_counter()
    with pytest.raises(XlsxRejected) as caught:
        call()
    seconds = time.perf_counter() - started
    tracemalloc.start()
    try:
        with pytest.raises(XlsxRejected):
            call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seconds < MAX_SECONDS, f"took {seconds:.2f} s"
    assert peak < MAX_PEAK_BYTES, f"peak {peak / 1e6:.0f} MB"
    return str(caught.value)


# --- the guard on its own --------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_inspect_xlsx_refuses_it_quickly_in_little_memory(case, files, limits):
    message = refused(lambda: inspect_xlsx(io.BytesIO(files[case])))
    assert CASES[case][1] in message


def test_the_real_template_passes(tmp_path):
    inspect_xlsx(SAMPLE)
    inspect_xlsx(SAMPLE.read_bytes())
    with open(SAMPLE, "rb") as f:
        inspect_xlsx(f)
        assert f.tell() == 0  # left where a parser starts


def test_what_the_project_writes_passes(tmp_path):
    """The export (write-only openpyxl) and openpyxl's and xlsxwriter's usual files."""
    import xlsxwriter
    from openpyxl import Workbook

    from households.register import write_register

    exported = tmp_path / "export.xlsx"
    with open(exported, "wb") as f:
        write_register(Household.objects.none(), f)
    inspect_xlsx(exported)
    wb = Workbook()
    wb.active.append(["姓名", "=1+1", 3])
    wb.save(tmp_path / "o.xlsx")
    inspect_xlsx(tmp_path / "o.xlsx")
    book = xlsxwriter.Workbook(tmp_path / "x.xlsx")
    sheet = book.add_worksheet("居民底册")
    for row in range(200):
        sheet.write_row(row, 0, ["湖田社区", "第1网格", row, f'"{row}" > <'])
    book.close()
    inspect_xlsx(tmp_path / "x.xlsx")


def test_an_ordinary_sheet_in_another_form_is_read_tag_by_tag(settings):
    """Cells without r, prefixed tags, lower-case references: measured as calamine counts them."""
    settings.IMPORT_MAX_ROWS = 50
    ok = b'<x:row xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><x:c r="b60"><x:v>1</x:v></x:c></x:row>'
    inspect_xlsx(sample_with(sheet=in_sheet(ok)))
    inspect_xlsx(many_rows(1000, with_r=False))  # 41 + 1,000 rows: within 50 + 1 + 1,000
    with pytest.raises(XlsxRejected, match="单元格延伸到第 1052 行，超过了 50 行数据"):
        inspect_xlsx(many_rows(1051, with_r=False))


def test_a_quote_or_a_second_r_cannot_hide_a_cell(settings):
    """calamine takes the last r of a cell and accepts "<" inside quotes; well-formedness is required."""
    for trick in (b'<row r="42"><c r="A42" r="XFD1048576"><v>1</v></c></row>', b'<row r="42"><c x="<" r="A42"/></row>'):
        with pytest.raises(XlsxRejected, match="XML 格式错误"):
            inspect_xlsx(sample_with(sheet=in_sheet(trick)))
    with pytest.raises(XlsxRejected, match="1048576"):
        inspect_xlsx(sample_with(sheet=in_sheet(b'<row r="42"><c x=">" r="XFD1048576"><v>1</v></c></row>')))


def test_a_large_sheet_of_too_many_rows_is_refused_by_the_quick_pass(settings, monkeypatch):
    settings.IMPORT_MAX_ROWS = 50
    monkeypatch.setattr(xlsx_guard, "PRESCAN_SIZE", 0)
    full_scan = xlsx_guard._SheetScanner

    def only_the_small_sheet(name, *args):
        assert name != SHEET, "the full scan of sheet1.xml was reached"
        return full_scan(name, *args)

    monkeypatch.setattr(xlsx_guard, "_SheetScanner", only_the_small_sheet)
    with pytest.raises(XlsxRejected, match="单元格延伸到第 2041 行"):
        inspect_xlsx(many_rows(2000))


def test_the_size_limit_comes_first(settings):
    settings.IMPORT_MAX_UPLOAD_MB = 1
    big = with_zero_entry(2 << 20, name="xl/media/x.bin")
    message = refused(lambda: inspect_xlsx(big + b"\0" * (1 << 20)))
    assert "超过了 1 MB 的上限" in message


def test_calamine_does_not_expand_entities():
    """Measured: python-calamine stops at the first entity it does not know (no expansion), in
    milliseconds. The guard refuses DOCTYPE anyway, whatever the parser does."""
    from python_calamine import CalamineError, CalamineWorkbook

    def first_cell(data):
        return CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_name("居民底册").to_python()[0][0]

    assert first_cell(laughing_shared_strings(prolog=b"", text="社区".encode())) == "社区"  # the file is sound
    for data in (sample_with(sheet=laughing_sheet), laughing_shared_strings()):
        started = time.perf_counter()
        # The sheet: "unrecognized entity `&lol9;`"; the shared strings (read when the workbook
        # opens): the xlsx reader fails the same way and calamine's format detection gives up.
        with pytest.raises(CalamineError, match="entity|Cannot detect file format"):
            first_cell(data)
        assert time.perf_counter() - started < 0.5


def test_openpyxl_parses_through_defusedxml(monkeypatch):
    import openpyxl.xml

    check_defusedxml()
    assert openpyxl.xml.DEFUSEDXML is True
    monkeypatch.setattr(openpyxl.xml, "DEFUSEDXML", False)
    with pytest.raises(ImproperlyConfigured, match="defusedxml"):
        check_defusedxml()


# --- through the real upload views, as the street admin --------------------------------------


@pytest.fixture
def street_admin(client, world, settings, tmp_path, limits):
    settings.MEDIA_ROOT = tmp_path / "media"
    client.force_login(world.admin)
    return client


class Untouchable:
    """Stands in for the parsers (run_limited, which starts them): the guard refuses before any
    of them is called."""

    def __init__(self, *args, **kwargs):
        raise AssertionError("a parser was called on a refused file")

    from_object = from_path = from_filelike = classmethod(__init__)


def upload_register(client, street, content, name="register.xlsx"):
    return client.post(
        reverse("admin:households_household_import"), {"street": street.pk, "file": SimpleUploadedFile(name, content)}
    )


# Files that are no .xlsx but may be a register in another format: the register import reads
# them by content (.csv, .xls) and says in its preview what it found (test_other_formats_*).
OTHER_FORMATS = ("text file renamed", "csv renamed", "xls renamed")


@pytest.mark.parametrize("case", [c for c in CASES if c not in OTHER_FORMATS])
def test_the_register_import_refuses_it(case, files, street_admin, world, settings, monkeypatch):
    monkeypatch.setattr("core.tables.run_limited", Untouchable)
    households = Household.objects.count()
    started = time.perf_counter()
    response = upload_register(street_admin, world.street, files[case])
    assert time.perf_counter() - started < MAX_SECONDS
    assert response.status_code == 200
    errors = response.context["form"].errors["file"]
    assert CASES[case][1] in errors[0], errors
    assert "report" not in response.context
    assert Household.objects.count() == households
    assert not (settings.MEDIA_ROOT / "imports").exists()  # not even stored


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("text file renamed", "缺少必填的列：身份证号"),
        ("csv renamed", "找不到表头"),
        ("xls renamed", "文件无法读取"),
    ],
)
def test_other_formats_are_read_in_the_child_and_explained_in_the_preview(
    case, message, files, street_admin, world, settings
):
    households = Household.objects.count()
    response = upload_register(street_admin, world.street, files[case])
    assert response.status_code == 200
    assert "form" not in response.context or not response.context["form"].errors
    report = response.context["report"]
    assert not report.ok and message in report.errors[0].message, report.errors
    assert Household.objects.count() == households


def test_the_register_import_refuses_an_oversized_file_before_reading_it(street_admin, world, settings, monkeypatch):
    settings.IMPORT_MAX_UPLOAD_MB = 1
    monkeypatch.setattr("households.admin.register_import.inspect_xlsx", Untouchable)
    monkeypatch.setattr("core.tables.run_limited", Untouchable)
    response = upload_register(street_admin, world.street, SAMPLE.read_bytes() + b"\0" * (1 << 20))
    assert "超过了 1 MB 的上限" in response.context["form"].errors["file"][0]
    assert not (settings.MEDIA_ROOT / "imports").exists()


def test_the_register_import_still_takes_the_template(street_admin, world, settings):
    settings.IMPORT_MAX_ROWS = 200_000
    preview = upload_register(street_admin, world.street, SAMPLE.read_bytes())
    assert preview.status_code == 200
    assert preview.context["report"].ok, preview.context["report"].summary()
    assert preview.context["report"].created == 40
    token = street_admin.session["households_register_import"]["token"]
    done = street_admin.post(reverse("admin:households_household_import_confirm"), {"token": token})
    assert done.status_code == 302
    assert Household.objects.filter(street=world.street).count() == 43  # 3 of the fixture + 40


def test_the_register_file_path_is_guarded_too(world, tmp_path, monkeypatch, limits):
    """import_register (the management command, the confirmation) runs the guard itself."""
    monkeypatch.setattr("core.tables.run_limited", Untouchable)
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(sample_with(sheet=in_sheet(b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>')))
    report = register.import_register(street=world.street, source=path)
    assert "单元格延伸到第 1048576 行" in report.errors[0].message
    assert Household.objects.count() == 3


@pytest.mark.parametrize("case", [c for c in CASES if c not in OTHER_FORMATS])
def test_the_cadre_roster_import_refuses_it(case, files, street_admin, world, monkeypatch):
    monkeypatch.setattr("core.tables.run_limited", Untouchable)
    cadres = Cadre.objects.count()
    started = time.perf_counter()
    response = street_admin.post(
        reverse("admin:visitplan_cadre_import"),
        {"resource": "0", "format": "0", "import_file": SimpleUploadedFile("干部名册.xlsx", files[case])},
    )
    assert time.perf_counter() - started < MAX_SECONDS
    assert response.status_code == 200
    errors = response.context["form"].errors["import_file"]
    # The staff lists bound the cells tighter (visitplan.sheets.check_upload): a narrower sheet is refused.
    expected = {
        "cells without r, far right": "42 行 × 8573 列",
        "too many entries (zip64)": "文件超过 5 MB",  # the staff lists' own size limit comes first
    }.get(case, CASES[case][1])
    assert expected in errors[0], errors
    assert Cadre.objects.count() == cadres


def test_the_roster_reader_is_guarded_too(world):
    """read_sheet (the confirmation reads the stored copy) runs the guard itself."""
    from visitplan.sheets import SheetFileError, read_sheet

    with pytest.raises(SheetFileError, match="含有宏"):
        read_sheet(sample_with(**{"xl/vbaProject.bin": ole_file()}))


def test_the_measured_rectangle_always_covers_calamines():
    """Differential check on random sheets (cells with and without r, prefixes, lower case, quotes,
    spaces, empty cells, far columns and rows), fed in random small pieces: the guard's rows ×
    columns is never smaller than the grid python-calamine builds from the same file."""
    import random

    from python_calamine import CalamineWorkbook

    def column(n):
        letters = ""
        while n:
            n, r = divmod(n - 1, 26)
            letters = chr(65 + r) + letters
        return letters

    rng = random.Random(20261201)
    parts = sample_parts()
    for _ in range(300):
        xml = ['<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
               'xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>']  # fmt: skip
        row = 0
        for _ in range(rng.randint(1, 20)):
            row += rng.choice([1, 1, 2, 5, 50])
            prefix = "x:" if rng.random() < 0.1 else ""
            r = f' r="{row}"' if rng.random() < 0.8 else ""
            xml.append(f"<{prefix}row{r}>" if rng.random() < 0.5 else f'<{prefix}row spans="1:3"{r}>')
            col = 0
            for _ in range(rng.randint(0, 8)):
                col += rng.choice([1, 1, 2, 30])
                ref = column(col) + str(row if rng.random() < 0.9 else rng.randint(1, 400))
                ref = ref.lower() if rng.random() < 0.1 else ref
                form = rng.random()
                attrs = (
                    ""
                    if form < 0.2
                    else f' t="n" r="{ref}"'
                    if form < 0.3
                    else f" r='{ref}'"
                    if form < 0.4
                    else f' r="{ref}"'
                )
                cp = "x:" if rng.random() < 0.1 else ""
                xml.append(f"<{cp}c{attrs}><{cp}v>1</{cp}v></{cp}c>" if rng.random() < 0.8 else f"<{cp}c{attrs}/>")
            xml.append(f"</{prefix}row>")
        xml.append("</sheetData></worksheet>")
        sheet_xml = "".join(xml).encode()
        parts[SHEET] = sheet_xml
        grid = CalamineWorkbook.from_filelike(io.BytesIO(pack(parts))).get_sheet_by_name("居民底册")
        scanner = xlsx_guard._SheetScanner(SHEET, "居民底册", 10**9, 10**12)
        at = 0
        while at < len(sheet_xml):
            size = rng.randint(1, 60)
            scanner.feed(sheet_xml[at : at + size])
            at += size
        scanner.close()
        if grid.end:
            assert scanner.rows >= grid.end[0] + 1 and scanner.columns >= grid.end[1] + 1, sheet_xml


# --- the package, followed the way the parsers follow it ----------------------------------------
#
# python-calamine opens the workbook through _rels/.rels (officeDocument) and its sheets through
# the workbook's relationships, wherever they point; openpyxl opens the workbook and the shared
# strings by their content types and the styles by name. Each file below points a parser at a
# part the old guard did not measure as what the parser reads it as.

REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
FAR_SHEET = (
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData></worksheet>'
)
WORKBOOK_RELS = "xl/_rels/workbook.xml.rels"


def relationship(rid, kind, target):
    return f'<Relationship Id="{rid}" Type="{REL}/{kind}" Target="{target}"/>'.encode()


def add_relationships(rels: bytes, *items: bytes) -> bytes:
    return rels.replace(b"</Relationships>", b"".join(items) + b"</Relationships>")


def retarget(parts, old: str, new: str, name=WORKBOOK_RELS):
    assert f'Target="{old}"'.encode() in parts[name]
    parts[name] = parts[name].replace(f'Target="{old}"'.encode(), f'Target="{new}"'.encode())


def moved_workbook(folder="data", sheet1="/xl/worksheets/sheet1.xml", *, decoy=False, relationships=(), parts=None):
    """The template with its workbook at ``folder``/workbook.xml (the officeDocument relationship,
    the content types and the workbook's relationships go with it), the register sheet's target
    ``sheet1``, and ``parts`` added. With ``decoy`` the content types and xl/workbook.xml stay where
    they were, for a guard that looks there."""
    p = sample_parts()
    retarget(p, "xl/workbook.xml", f"{folder}/workbook.xml", name="_rels/.rels")
    p[f"{folder}/workbook.xml"] = p["xl/workbook.xml"] if decoy else p.pop("xl/workbook.xml")
    rels = p[WORKBOOK_RELS] if decoy else p.pop(WORKBOOK_RELS)
    rels = rels.replace(b'Target="/xl/worksheets/sheet1.xml"', f'Target="{sheet1}"'.encode())
    p[f"{folder}/_rels/workbook.xml.rels"] = add_relationships(rels, *relationships)
    if not decoy:
        p["[Content_Types].xml"] = p["[Content_Types].xml"].replace(
            b"/xl/workbook.xml", f"/{folder}/workbook.xml".encode()
        )
    if sheet1 != "/xl/worksheets/sheet1.xml":
        del p[SHEET]
    p.update(parts or {})
    return pack(p)


def template_with(change=None, parts=None) -> bytes:
    p = sample_parts()
    if change:
        change(p)
    p.update(parts or {})
    return pack(p)


def with_unicode_path(name: str, claimed: str, data: bytes) -> bytes:
    """The template plus an entry called ``name`` whose Info-ZIP Unicode Path field (0x7075) says
    ``claimed``: Python's zipfile ignores the field, the Rust zip crate under calamine uses it."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for part, content in sample_parts().items():
            z.writestr(part, content)
        entry = zipfile.ZipInfo(name)
        entry.compress_type = zipfile.ZIP_DEFLATED
        path = claimed.encode()
        entry.extra = (
            struct.pack("<HHB", 0x7075, 5 + len(path), 1) + struct.pack("<L", zlib.crc32(name.encode())) + path
        )
        z.writestr(entry, data)
    return out.getvalue()


def xf_styles(count: int) -> bytes:
    """The template's styles with ``count`` more cell formats."""
    return sample_parts()["xl/styles.xml"].replace(b"</cellXfs>", b"<xf/>" * count + b"</cellXfs>")


def stored(data: bytes) -> bytes:
    """The same parts without compression: nothing for the compression-ratio check to see."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return pack({name: z.read(name) for name in z.namelist()}, zipfile.ZIP_STORED)


def far_sheet(sheet):
    return f"工作表“{sheet}”的单元格延伸到第 1048576 行"


def two_office_documents(p):
    p["_rels/.rels"] = add_relationships(p["_rels/.rels"], relationship("rId9", "officeDocument", "data/workbook.xml"))
    p["data/workbook.xml"] = p["xl/workbook.xml"]
    p["data/_rels/workbook.xml.rels"] = p[WORKBOOK_RELS].replace(b"/xl/worksheets/sheet1.xml", b"/data/sheet1.xml")
    p["data/sheet1.xml"] = FAR_SHEET


def second_workbook_type(p):
    p["[Content_Types].xml"] = p["[Content_Types].xml"].replace(
        b"</Types>", f'<Override PartName="/xl/book2.xml" ContentType="{XLSX_TYPE}"/></Types>'.encode()
    )
    p["xl/book2.xml"] = p["xl/workbook.xml"]


def local_header_renamed(data: bytes, name: str, other: str) -> bytes:
    """Rename entry ``name`` in its local header only (the zip directory keeps ``name``)."""
    assert len(name) == len(other)
    at = data.index(b"PK\x03\x04")
    while data[at + 30 : at + 30 + len(name)] != name.encode():
        at = data.index(b"PK\x03\x04", at + 4)
    return data[: at + 30] + other.encode() + data[at + 30 + len(name) :]


def case_twin_of_the_workbook_rels(p):
    p["xl/_rels/Workbook.xml.rels"] = p[WORKBOOK_RELS].replace(b"/xl/worksheets/sheet1.xml", b"/data/s.xml")
    p["data/s.xml"] = FAR_SHEET


# id → (the file, what the message says)
PACKAGE_CASES = {
    "workbook moved, a decoy xl/workbook.xml left for the guard": (
        lambda: moved_workbook(sheet1="s.xml", decoy=True, parts={"data/s.xml": FAR_SHEET}),
        "不是 _rels/.rels 指向的 data/workbook.xml",
    ),
    "sheet behind a moved workbook, absolute target": (
        lambda: moved_workbook(sheet1="/elsewhere/sheet.xml", parts={"elsewhere/sheet.xml": FAR_SHEET}),
        far_sheet("居民底册"),
    ),
    "sheet behind a moved workbook, ../ target": (
        lambda: moved_workbook(sheet1="../other/sheet.xml", parts={"other/sheet.xml": FAR_SHEET}),
        far_sheet("居民底册"),
    ),
    "a second sheet in another folder, only in the relationships": (
        lambda: moved_workbook(
            relationships=[relationship("rId9", "worksheet", "/extra/sheet9.xml")],
            parts={"extra/sheet9.xml": FAR_SHEET},
        ),
        far_sheet("sheet9.xml"),
    ),
    "a target calamine takes literally (xl/./…)": (
        lambda: template_with(
            lambda p: retarget(p, "/xl/worksheets/sheet1.xml", "./worksheets/sheet1.xml"),
            {"xl/./worksheets/sheet1.xml": FAR_SHEET},
        ),
        "文件名“xl/./worksheets/sheet1.xml”不规范",
    ),
    "a sheet relationship marked External (calamine reads it anyway)": (
        lambda: template_with(
            lambda p: retarget(p, "/xl/worksheets/sheet1.xml", '/data/s.xml" TargetMode="External'),
            {"data/s.xml": FAR_SHEET},
        ),
        "外部关系 rId1 指向压缩包内的 data/s.xml",
    ),
    "a second workbook.xml.rels in other letter case (calamine takes the last)": (
        lambda: template_with(case_twin_of_the_workbook_rels),
        "只有大小写不同",
    ),
    "an entry with a second name in its Unicode Path field": (
        lambda: with_unicode_path("xl/media/image1.bin", SHEET, FAR_SHEET),
        "还记有另一个文件名“xl/worksheets/sheet1.xml”",
    ),
    "a part nothing refers to": (
        lambda: template_with(parts={"xl/media/notes.xml": b"<notes/>"}),
        "xl/media/notes.xml 不属于工作簿",
    ),
    "two officeDocument relationships": (
        lambda: template_with(two_office_documents),
        "有多个工作簿（officeDocument）关系",
    ),
    "a second workbook in the content types": (
        lambda: template_with(second_workbook_type),
        "登记的工作簿 xl/book2.xml",
    ),
    "a sheet naming a relationship that does not exist": (
        lambda: sample_with(**{"xl/workbook.xml": lambda w: w.replace(b'r:id="rId2"', b'r:id="rId9"')}),
        "工作表“填写说明”引用的关系 rId9 不存在",
    ),
    "the styles read as a sheet as well": (
        lambda: stored(
            template_with(
                lambda p: retarget(p, "/xl/worksheets/sheet2.xml", "styles.xml"), {"xl/styles.xml": xf_styles(990_000)}
            )
        ),
        "xl/styles.xml 同时被用作工作表、样式表",
    ),
    "bytes after the zip's end record": (lambda: sample_with() + b"\0" * 10, "zip 目录记录之后还有数据"),
    "an entry whose own header gives another name": (
        lambda: local_header_renamed(sample_with(), "xl/styles.xml", "xl/styles.xmm"),
        "xl/styles.xml 的文件头与 zip 目录不符",
    ),
}


@pytest.fixture(scope="module")
def package_files():
    return {key: build() for key, (build, _message) in PACKAGE_CASES.items()}


@pytest.mark.parametrize("case", PACKAGE_CASES)
def test_a_part_reached_as_a_parser_reaches_it_is_measured(case, package_files):
    message = refused(lambda: inspect_xlsx(io.BytesIO(package_files[case])))
    assert PACKAGE_CASES[case][1] in message


@pytest.mark.parametrize("case", PACKAGE_CASES)
def test_the_cadre_roster_import_refuses_it_too(case, package_files, street_admin, monkeypatch):
    monkeypatch.setattr("core.tables.run_limited", Untouchable)
    cadres = Cadre.objects.count()
    response = street_admin.post(
        reverse("admin:visitplan_cadre_import"),
        {"resource": "0", "format": "0", "import_file": SimpleUploadedFile("干部名册.xlsx", package_files[case])},
    )
    assert response.status_code == 200
    assert PACKAGE_CASES[case][1] in response.context["form"].errors["import_file"][0]
    assert Cadre.objects.count() == cadres


def test_a_workbook_in_another_folder_is_read_where_the_parsers_read_it(tmp_path):
    """A sound package whose workbook and sheet live elsewhere passes, and the register reads it."""
    path = tmp_path / "moved.xlsx"
    path.write_bytes(
        moved_workbook("book", sheet1="/sheets/register.xml", parts={"sheets/register.xml": sample_parts()[SHEET]})
    )
    inspect_xlsx(path)
    rows = list(register.read_register(path))
    assert len(rows) == 40
    assert rows[0][1][:2] == ["湖田社区", "第3网格"]


def test_990000_cell_formats_are_refused_at_once_in_little_memory():
    """openpyxl makes an object of each <xf/> (990,000 took it 17 s and 1.6 GB); Excel itself keeps
    at most 65,490. Stored without compression, nothing else about the 5 MB file is unusual."""
    data = stored(sample_with(**{"xl/styles.xml": xf_styles(990_000)}))
    assert len(data) < 5 * 1024 * 1024  # within the staff lists' upload limit
    started = time.perf_counter()
    with pytest.raises(XlsxRejected, match="含有超过 65490 个单元格格式"):
        inspect_xlsx(data)
    assert time.perf_counter() - started < 0.5
    tracemalloc.start()
    try:
        with pytest.raises(XlsxRejected):
            inspect_xlsx(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


def _insert(before: bytes, tag: bytes, count: int):
    return lambda part: part.replace(before, tag * count + before, 1)


@pytest.mark.parametrize(
    "part, change, message",
    [
        ("xl/styles.xml", _insert(b"</fonts>", b'<font><sz val="11"/></font>', 20_001), "20000 个字体"),
        ("xl/styles.xml", _insert(b"</borders>", b"<border><left/></border>", 20_001), "20000 个边框样式"),
        ("xl/styles.xml", _insert(b"</cellStyles>", b'<cellStyle name="s" xfId="0"/>', 65_491), "65490 个单元格样式"),
        (
            "xl/styles.xml",
            _insert(b"</indexedColors>", b'<rgbColor rgb="00000000"/>', 500_001),
            "超过 500000 个 XML 标签",
        ),
        (
            "xl/workbook.xml",
            lambda w: w.replace(
                b"<definedNames />",
                b"<definedNames>" + b'<definedName name="n">A1</definedName>' * 20_001 + b"</definedNames>",
            ),
            "20000 个名称",
        ),
    ],
)
def test_what_openpyxl_builds_objects_of_is_bounded(part, change, message):
    assert message in refused(lambda: inspect_xlsx(stored(sample_with(**{part: change}))))


def test_every_part_calamine_reads_as_a_sheet_is_measured_as_one(tmp_path):
    """Differential check: relationship targets in every form (relative, absolute, ../, ./, double
    slashes, other letter case, xl/ prefixed, a fragment, percent-encoded) against a sheet placed
    where a reader might look for it. Whenever python-calamine reads that sheet, the guard has
    refused the file or measured that very part as a sheet."""
    from python_calamine import CalamineWorkbook

    targets = [
        "worksheets/s.xml", "/xl/worksheets/s.xml", "xl/worksheets/s.xml", "../xl/worksheets/s.xml",
        "./worksheets/s.xml", "worksheets//s.xml", "Worksheets/S.xml", "/XL/worksheets/s.xml", "../other/s.xml",
        "/other/s.xml", "s.xml", "worksheets/s.xml#x", "worksheets/../worksheets/s.xml", "%77orksheets/s.xml",
    ]  # fmt: skip
    places = [
        "xl/worksheets/s.xml", "xl/Worksheets/S.xml", "other/s.xml", "xl/s.xml", "xl/xl/worksheets/s.xml",
        "xl/./worksheets/s.xml", "xl/../xl/worksheets/s.xml", "xl/worksheets//s.xml", "xl/worksheets/s.xml#x",
    ]  # fmt: skip
    marker = sample_parts()[SHEET].replace("<t>社区</t>".encode(), b"<t>marker</t>", 1)
    path = tmp_path / "case.xlsx"
    read_and_measured = 0
    for target in targets:
        for place in places:
            parts = sample_parts()
            del parts[SHEET]
            retarget(parts, "/xl/worksheets/sheet1.xml", target)
            parts[place] = marker
            path.write_bytes(pack(parts))
            try:
                with CalamineWorkbook.from_path(str(path)) as workbook:
                    read = workbook.get_sheet_by_name("居民底册").to_python()[0][0] == "marker"
            except Exception:
                read = False
            checker = xlsx_guard._Inspection(
                io.BytesIO(path.read_bytes()), max_rows=10**6, max_cells=10**12, max_upload_mb=30
            )
            try:
                checker.run()
            except XlsxRejected:
                continue
            if read:
                assert "sheet" in checker.kinds.get(place, ()), (target, place)
                read_and_measured += 1
    assert read_and_measured >= 6  # the ordinary forms are accepted, not merely refused


# --- what the guard misses costs a child process, never this one --------------------------------


@pytest.fixture
def parse_limits(settings):
    settings.IMPORT_PARSE_MEMORY_MB = 512
    settings.IMPORT_PARSE_CPU_SECONDS = 10
    return settings


def test_a_register_the_guard_missed_costs_only_the_child(tmp_path, parse_limits):
    """python-calamine asks for 549 GB for a cell at XFD1048576 and aborts: a child process, here.
    The reader reports the file as unreadable (inspected=True skips the guard, as if it had
    missed the file) and this process reads on."""
    path = tmp_path / "far.xlsx"
    path.write_bytes(sample_with(sheet=in_sheet(b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>')))
    with pytest.raises(register.RegisterFileError, match="^文件无法读取：读取时所需内存超过了 512 MB 的上限"):
        list(register.read_register(path, inspected=True))
    assert len(list(register.read_register(SAMPLE))) == 40


def test_a_staff_list_the_guard_missed_costs_only_the_child(parse_limits, monkeypatch):
    """python-calamine asks for 549 GB for a cell at XFD1048576; past the guard (switched off
    here) the child hits its limit, and the reader reports the file as unreadable."""
    from visitplan.sheets import SheetFileError, read_sheet

    monkeypatch.setattr("core.tables.inspect_xlsx", lambda *args, **kwargs: None)
    monkeypatch.setattr("visitplan.sheets.reading.check_upload", lambda data: "xlsx")
    started = time.perf_counter()
    with pytest.raises(SheetFileError, match="^文件无法读取：读取时所需内存超过了 512 MB 的上限"):
        read_sheet(stored(sample_with(sheet=in_sheet(b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'))))
    assert time.perf_counter() - started < 15


def test_the_cadre_roster_import_reports_a_parser_crash(street_admin, parse_limits, monkeypatch):
    """Through the admin: a parser that dies is a message at the upload field, not a 500."""
    from core.tests import sandbox_targets

    monkeypatch.setattr("visitplan.admin.check_upload", lambda upload: "xlsx")
    monkeypatch.setattr("core.tables.read_file", sandbox_targets.abort)
    cadres = Cadre.objects.count()
    response = street_admin.post(
        reverse("admin:visitplan_cadre_import"),
        {"resource": "0", "format": "0", "import_file": SimpleUploadedFile("干部名册.xlsx", SAMPLE.read_bytes())},
    )
    assert response.status_code == 200
    assert "文件无法读取：读取程序异常退出（SIGABRT）" in response.context["form"].errors["import_file"][0]
    assert Cadre.objects.count() == cadres
