"""What core/tests/test_sandbox.py runs in the sandbox's child: importable without Django."""

import datetime
import io
import os
import signal
import sys
import time
import zipfile


def rows(count):
    return [[f"第{i}行", i, i / 2, datetime.date(2026, 12, 1), None, True] for i in range(count)]


def echo(*args, **kwargs):
    return args, kwargs, "django" in sys.modules


def fail(message):
    raise LookupError(message)


def allocate(megabytes):
    return len(bytearray(megabytes * 1024 * 1024))


def spin():
    while True:
        pass


def sleep(seconds):
    time.sleep(seconds)


def abort(*args, **kwargs):
    os.abort()


def segfault():
    os.kill(os.getpid(), signal.SIGSEGV)


def unpicklable():
    return lambda: None


def far_cell_workbook() -> bytes:
    """An xlsx of a cell at A1 and one at XFD1048576: python-calamine asks for the 17 billion cells
    between them (549 GB)."""
    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    parts = {
        "[Content_Types].xml": '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>',
        "_rels/.rels": '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<workbook xmlns="{ns}" xmlns:r="{rel}"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": f'<worksheet xmlns="{ns}"><sheetData><row r="1"><c r="A1"><v>1</v></c></row>'
        '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData></worksheet>',
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, text in parts.items():
            z.writestr(name, text)
    return out.getvalue()


def read_with_calamine(path):
    from python_calamine import CalamineWorkbook

    with CalamineWorkbook.from_path(path) as workbook:
        return workbook.get_sheet_by_name("S").to_python()
