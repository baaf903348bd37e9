#!/usr/bin/env python
"""Writes the test corpus of office spreadsheets beside this file, and its README.md.

    .venv/bin/python core/tests/corpus/make_corpus.py

The files are committed; the tests read them and never run this. Needs the dev packages
xlsxwriter (runtime), xlwt (.xls with merged cells) and msoffcrypto-tool (an encrypted .xlsx),
all in requirements-dev.txt. The .xlsx files are written with fixed document dates, so that a
re-run gives the same bytes (password.xlsx excepted: its encryption salt is random).

Every ID number is made up (region 370102, sequence 9xx) with a correct GB 11643 check digit;
every mobile number is 1380000xxxx.
"""

import datetime
import shutil
import struct
import sys
import tempfile
from pathlib import Path

import xlsxwriter
import xlwt

HERE = Path(__file__).resolve().parent
CREATED = datetime.datetime(2026, 3, 1, 9, 0, 0)

TEMPLATE_HEADERS = (
    "社区",
    "网格",
    "楼栋",
    "单元",
    "门牌号",
    "户主姓名",
    "身份证号",
    "联系电话",
    "家庭人口",
    "重点人群",
    "备注",
)

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(birth: str, sequence: str) -> str:
    """A made-up GB 11643 number: region 370102, ``birth`` (YYYYMMDD), ``sequence`` (3 digits,
    odd for a man), and the check character."""
    first17 = "370102" + birth + sequence
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, _WEIGHTS)) % 11]


def household(community, grid, building, unit, room, head, birth, sequence, phone, size, tags="", notes=""):
    return {
        "社区": community,
        "网格": grid,
        "楼栋": building,
        "单元": unit,
        "门牌号": room,
        "户主姓名": head,
        "身份证号": id_number(birth, sequence),
        "联系电话": phone,
        "家庭人口": size,
        "重点人群": tags,
        "备注": notes,
    }


HUTIAN = [
    household("湖田社区", "第1网格", "3号楼", "2单元", "501", "张建国", "19560312", "991", "13800000001", 3, "老党员"),
    household(
        "湖田社区", "第1网格", "3号楼", "2单元", "502", "李秀英", "19480705", "992", "13800000002", 1,
        "孤寡老人、高龄老人", "独居，子女在外地",
    ),
    household("湖田社区", "第2网格", "18号楼", "1单元", "1204", "王志强", "19780921", "993", "13800000003", 4),
    household("湖田社区", "第2网格", "18号楼", "1单元", "1205", "刘芳", "19850214", "994", "0532-82345678", 2, "困难群众"),
]  # fmt: skip
QINGSHAN = [
    household("青山社区", "第1网格", "5号楼", "", "302", "陈德明", "19620830", "995", "13800000005", 2, "残疾人"),
    household("青山社区", "第1网格", "5号楼", "", "401", "周玉兰", "19590417", "996", "13800000006", 2),
    household("青山社区", "第2网格", "", "", "张家村3组15号", "赵长生", "19510101", "997", "13800000007", 5, "低保户"),
]  # fmt: skip

# The fourth household of combo.xls.
SUN = household("青山社区", "第2网格", "", "", "张家村3组16号", "孙桂芝", "19580923", "998", "13800000008", 3)

README_FILES = []  # (file, what it is, which households/people)


def note(name, what, holds):
    README_FILES.append((name, what, holds))


def names(rows):
    return "、".join(f"{r['户主姓名']}（{r['社区']}{r['楼栋']}{r['单元']}{r['门牌号']}）" for r in rows)


# ---------------------------------------------------------------------------------------------
# Writers


def new_workbook(name):
    workbook = xlsxwriter.Workbook(str(HERE / name))
    workbook.set_properties({"created": CREATED, "author": "湖田街道办事处"})
    workbook.set_custom_property("generator", "make_corpus.py")
    return workbook


def write_rows(sheet, first_row, rows, formats=None):
    """``rows`` from Excel row ``first_row`` (1-based); a value may be None (left empty)."""
    formats = formats or {}
    for r, row in enumerate(rows, start=first_row - 1):
        for c, value in enumerate(row):
            if value is None or value == "":
                continue
            fmt = formats.get(c)
            if isinstance(value, str):
                sheet.write_string(r, c, value, fmt)
            elif isinstance(value, datetime.date):
                sheet.write_datetime(r, c, datetime.datetime.combine(value, datetime.time()), fmt)
            else:
                sheet.write_number(r, c, value, fmt)


def template_rows(rows, *, room_as_number=False, size_as_number=True):
    out = []
    for h in rows:
        values = [h[k] for k in TEMPLATE_HEADERS]
        if room_as_number and h["门牌号"].isdigit():
            values[4] = int(h["门牌号"])
        if not size_as_number:
            values[8] = str(h["家庭人口"])
        out.append(values)
    return out


def template_like():
    workbook = new_workbook("template-like.xlsx")
    bold = workbook.add_format({"bold": True})
    sheet = workbook.add_worksheet("居民底册")
    write_rows(sheet, 1, [TEMPLATE_HEADERS], {c: bold for c in range(11)})
    write_rows(sheet, 2, template_rows(HUTIAN + QINGSHAN[:1]))
    instructions = workbook.add_worksheet("填写说明")
    write_rows(
        instructions,
        1,
        [
            ("列", "必填", "说明"),
            ("社区", "是", "社区/村居全称，如“湖田社区”"),
            ("网格", "是", "网格名称，如“第3网格”"),
            ("门牌号", "是", "房号或门牌，如“1204”"),
            ("户主姓名", "是", ""),
            ("身份证号", "是", "18位居民身份证号"),
            ("家庭人口", "是", "正整数"),
        ],
    )
    workbook.close()
    note(
        "template-like.xlsx",
        "our template: sheet 居民底册 with the 11 template headers in row 1, and a sheet 填写说明 "
        "(its rows name columns in column A, one per row: never a header). 家庭人口 as numbers.",
        f"rows 2-6: {names(HUTIAN + QINGSHAN[:1])}",
    )


def title_row():
    workbook = new_workbook("title-row.xlsx")
    sheet = workbook.add_worksheet("2026年底册")
    title = workbook.add_format({"bold": True, "font_size": 16, "align": "center"})
    wrap = workbook.add_format({"bold": True, "text_wrap": True})
    sheet.merge_range("A1:K1", "湖田街道居民底册（2026年）", title)
    headers = (
        "*社区", "*网格", "楼栋", "单元", "*门牌号", "户主姓名\n（必填）", "身份证号\n(必填)",
        "联系电话", "家庭人口*", "重点人群", "备 注",
    )  # fmt: skip
    write_rows(sheet, 3, [headers], {c: wrap for c in range(11)})
    write_rows(sheet, 4, template_rows(HUTIAN[:3]))
    workbook.close()
    note(
        "title-row.xlsx",
        "sheet 2026年底册: title 湖田街道居民底册（2026年） merged over A1:K1, row 2 blank, the header in "
        "row 3 with marks (*社区, 户主姓名 + line break + （必填）, 家庭人口*, 备 注 with a space).",
        f"rows 4-6: {names(HUTIAN[:3])}",
    )


SERIAL_HEADERS = (
    "序号", "户主姓名", "身份证号", "家庭人口", "联系电话", "社区", "网格", "楼栋", "单元", "门牌号", "重点人群", "备注", "备注2",
)  # fmt: skip


def serial_reordered():
    workbook = new_workbook("serial-reordered.xlsx")
    sheet = workbook.add_worksheet("Sheet1")
    order = [k for k in SERIAL_HEADERS if k in TEMPLATE_HEADERS]
    rows = []
    for i, h in enumerate(HUTIAN[:3], start=1):
        room = int(h["门牌号"])
        rows.append([i] + [room if k == "门牌号" else h[k] for k in order] + ["已核实" if i == 2 else None])
    rows.append([4] + [None] * (len(SERIAL_HEADERS) - 1))  # a numbered row, nothing else: blank
    h = QINGSHAN[0]
    rows.append([5] + [int(h["门牌号"]) if k == "门牌号" else h[k] for k in order] + [None])
    write_rows(sheet, 1, [SERIAL_HEADERS])
    write_rows(sheet, 2, rows)
    workbook.close()
    note(
        "serial-reordered.xlsx",
        "sheet Sheet1: 序号 first, the template's columns in another order (户主姓名, 身份证号, 家庭人口, "
        "联系电话, 社区…), an extra 备注2 column (ignored; 已核实 in row 3). 门牌号 typed as numbers "
        "(python-calamine gives 501.0). Row 5 holds only its 序号 4: a blank row.",
        f"rows 2-4: {names(HUTIAN[:3])}; row 6: {names(QINGSHAN[:1])}",
    )


ALIAS_HEADERS = (
    "社区名称",
    "网格名称",
    "楼号",
    "单元号",
    "房号",
    "户主",
    "身份证号码",
    "手机号",
    "人口数",
    "人群类别",
    "说明",
)


def aliases():
    workbook = new_workbook("aliases.xlsx")
    sheet = workbook.add_worksheet("人口信息")
    write_rows(sheet, 1, [ALIAS_HEADERS])
    rows = template_rows(QINGSHAN)
    for row in rows:
        if row[7].isdigit():
            row[7] = int(row[7])  # a mobile number typed as a number: 13800000005.0
    write_rows(sheet, 2, rows)
    workbook.close()
    note(
        "aliases.xlsx",
        "sheet 人口信息: other names for every column (社区名称, 网格名称, 楼号, 单元号, 房号, 户主, 身份证号码, "
        "手机号, 人口数, 人群类别, 说明); mobile numbers typed as numbers (13800000005.0).",
        f"rows 2-4: {names(QINGSHAN)}",
    )


def merged_community():
    workbook = new_workbook("merged-community.xlsx")
    sheet = workbook.add_worksheet("居民底册")
    middle = workbook.add_format({"valign": "vcenter", "align": "center"})
    write_rows(sheet, 1, [TEMPLATE_HEADERS])
    rows = HUTIAN + QINGSHAN[:2]
    values = template_rows(rows)
    for row in values:
        row[0] = row[1] = row[2] = row[3] = None  # written by the merged ranges below
    write_rows(sheet, 2, values)
    sheet.merge_range("A2:A5", "湖田社区", middle)
    sheet.merge_range("A6:A8", "青山社区", middle)  # one row past the last household
    sheet.merge_range("B2:B3", "第1网格", middle)
    sheet.merge_range("B4:B5", "第2网格", middle)
    sheet.merge_range("B6:B7", "第1网格", middle)
    sheet.merge_range("C2:C3", "3号楼", middle)
    sheet.merge_range("C4:C5", "18号楼", middle)
    sheet.merge_range("C6:C7", "5号楼", middle)
    sheet.merge_range("D2:D3", "2单元", middle)
    sheet.merge_range("D4:D5", "1单元", middle)
    workbook.close()
    note(
        "merged-community.xlsx",
        "sheet 居民底册, template header; 社区 merged A2:A5 (湖田社区) and A6:A8 (青山社区, one row past the "
        "last household: row 8 holds nothing else and is blank), 网格 merged B2:B3, B4:B5, B6:B7, 楼栋 "
        "C2:C3, C4:C5, C6:C7, 单元 D2:D3, D4:D5.",
        f"rows 2-7: {names(rows)}",
    )


def xls_workbook():
    return xlwt.Workbook(encoding="utf-8")


def xls_write(sheet, first_row, rows):
    for r, row in enumerate(rows, start=first_row - 1):
        for c, value in enumerate(row):
            if value is not None and value != "":
                sheet.write(r, c, value)


def register_xls():
    book = xls_workbook()
    sheet = book.add_sheet("居民底册")
    xls_write(sheet, 1, [TEMPLATE_HEADERS])
    xls_write(sheet, 2, template_rows(HUTIAN[:3]))
    book.save(str(HERE / "register.xls"))
    note(
        "register.xls",
        "Excel 97-2003 (BIFF8, written by xlwt): sheet 居民底册, template header; 家庭人口 as numbers "
        "(python-calamine gives int 3 from an .xls).",
        f"rows 2-4: {names(HUTIAN[:3])}",
    )


def combo_xls():
    book = xls_workbook()
    sheet = book.add_sheet("Sheet1")
    headers = ("序号",) + ALIAS_HEADERS
    sheet.write_merge(0, 0, 0, len(headers) - 1, "青山社区居民花名册")
    sheet.write_merge(1, 1, 0, len(headers) - 1, "（截至2026年3月，共4户）")
    xls_write(sheet, 4, [headers])
    rows = QINGSHAN + [SUN]
    values = []
    for i, row in enumerate(template_rows(rows), start=1):
        values.append([i, None, None] + row[2:])
    xls_write(sheet, 5, values)
    sheet.write_merge(4, 7, 1, 1, "青山社区")
    sheet.write_merge(4, 5, 2, 2, "第1网格")
    sheet.write_merge(6, 7, 2, 2, "第2网格")
    notes = book.add_sheet("填表说明")
    xls_write(notes, 1, [("说明",), ("户主、身份证号码、人口数必填",)])
    book.save(str(HERE / "combo.xls"))
    note(
        "combo.xls",
        "Excel 97-2003, sheet Sheet1: title 青山社区居民花名册 merged over A1:L1, a note merged over A2:L2, "
        "row 3 blank, the header in row 4: 序号 then the alias names of aliases.xlsx; 社区名称 merged B5:B8, "
        "网格名称 merged C5:C6 (第1网格) and C7:C8 (第2网格). A second sheet 填表说明 (no header).",
        f"rows 5-8: {names(rows)}",
    )


def offset():
    rows = template_rows(HUTIAN[:3])
    for row in rows:
        row[0] = None  # 社区: the merged range below
    workbook = new_workbook("offset.xlsx")
    sheet = workbook.add_worksheet("居民底册")
    sheet.merge_range("C1:M1", "湖田社区居民底册")
    write_rows(sheet, 3, [[None, None, *TEMPLATE_HEADERS]])
    write_rows(sheet, 4, [[None, None, *row] for row in rows])
    sheet.merge_range("C4:C6", "湖田社区")
    workbook.close()
    book = xls_workbook()
    sheet = book.add_sheet("居民底册")
    sheet.write_merge(0, 0, 2, 12, "湖田社区居民底册")
    xls_write(sheet, 3, [[None, None, *TEMPLATE_HEADERS]])
    xls_write(sheet, 4, [[None, None, *row] for row in rows])
    sheet.write_merge(3, 5, 2, 2, "湖田社区")
    book.save(str(HERE / "offset.xls"))
    for name in ("offset.xlsx", "offset.xls"):
        note(
            name,
            "sheet 居民底册 whose table starts in column C (A and B empty: python-calamine's rows start there): "
            "a title merged over C1:M1, row 2 blank, the template header in C3:M3, 社区 merged C4:C6.",
            f"rows 4-6: {names(HUTIAN[:3])}",
        )


def csv_files():
    header = ",".join(TEMPLATE_HEADERS)

    def line(values):
        out = []
        for v in values:
            text = str(v)
            if any(ch in text for ch in ',"\n'):
                text = '"' + text.replace('"', '""') + '"'
            out.append(text)
        return ",".join(out)

    rows = [list(r) for r in template_rows(HUTIAN[:3])]
    rows[2][10] = "腿脚不便，\n需上门走访"  # a line break inside a quoted field
    rows[1][10] = '独居,子女在外地（"空巢"）'  # a comma and quotes inside a quoted field
    gbk_lines = ["湖田街道居民底册（2026年）" + "," * 10, "," * 10, header] + [line(r) for r in rows]
    (HERE / "register-gbk.csv").write_bytes(("\r\n".join(gbk_lines) + "\r\n").encode("gbk"))
    note(
        "register-gbk.csv",
        "CSV as WPS saves it on a Chinese Windows: GBK, CRLF, comma; line 1 a title (then 10 commas), line 2 "
        "empty fields, the template header on line 3. Row 5's 备注 holds a comma and quotes, row 6's a line "
        "break (one record over two lines).",
        f"records 4-6: {names(HUTIAN[:3])}",
    )
    rows = template_rows(QINGSHAN)
    bom_lines = [header] + [line(r) for r in rows]
    (HERE / "register-utf8-bom.csv").write_bytes(b"\xef\xbb\xbf" + ("\r\n".join(bom_lines) + "\r\n").encode("utf-8"))
    note(
        "register-utf8-bom.csv",
        "CSV as Excel saves “CSV UTF-8”: a BOM, CRLF, comma; template header on line 1.",
        f"records 2-4: {names(QINGSHAN)}",
    )
    rows = template_rows(HUTIAN[2:] + QINGSHAN[:1])
    utf8_lines = [";".join(TEMPLATE_HEADERS)] + [";".join(str(v) for v in r) for r in rows]
    (HERE / "register-utf8.csv").write_bytes(("\n".join(utf8_lines) + "\n").encode("utf-8"))
    note(
        "register-utf8.csv",
        "CSV in UTF-8 without BOM, LF, semicolon-delimited (as LibreOffice may save it); template header.",
        f"records 2-4: {names(HUTIAN[2:] + QINGSHAN[:1])}",
    )


# People, one row each: (household number, household, name, sex, relation, birth, sequence, phone)
PEOPLE = [
    ("HT-0001", HUTIAN[0], "张建国", "男", "户主", "19560312", "991", "13800000001"),
    ("HT-0001", HUTIAN[0], "王桂兰", "女", "配偶", "19580620", "982", ""),
    ("HT-0001", HUTIAN[0], "张伟", "男", "子女", "19830115", "971", "13800000011"),
    ("HT-0002", HUTIAN[1], "李秀英", "女", "户主", "19480705", "992", "13800000002"),
    ("HT-0003", HUTIAN[2], "王志强", "男", "户主", "19780921", "993", "13800000003"),
    ("HT-0003", HUTIAN[2], "赵敏", "女", "配偶", "19800403", "962", "13800000013"),
    ("HT-0003", HUTIAN[2], "王子涵", "女", "子女", "20120908", "952", ""),
    ("HT-0003", HUTIAN[2], "王德福", "男", "父母", "19500227", "941", ""),
]
PERSON_HEADERS = (
    "户号",
    "社区",
    "网格",
    "楼栋",
    "单元",
    "门牌号",
    "姓名",
    "性别",
    "与户主关系",
    "身份证号",
    "出生日期",
    "联系电话",
)


def birth_date(text):
    return datetime.date(int(text[:4]), int(text[4:6]), int(text[6:]))


def persons():
    workbook = new_workbook("persons.xlsx")
    sheet = workbook.add_worksheet("人员信息")
    date = workbook.add_format({"num_format": "yyyy-mm-dd"})
    middle = workbook.add_format({"valign": "vcenter"})
    write_rows(sheet, 1, [PERSON_HEADERS])
    rows = []
    for number, h, name, sex, relation, birth, sequence, phone in PEOPLE:
        rows.append(
            [number, h["社区"], h["网格"], h["楼栋"], h["单元"], h["门牌号"], name, sex, relation,
             id_number(birth, sequence), birth_date(birth), phone]
        )  # fmt: skip
    write_rows(sheet, 2, rows, {10: date})
    # 户号 and the address merged down over each household's members (first row keeps the value).
    first = 2
    for number in ("HT-0001", "HT-0002", "HT-0003"):
        count = sum(1 for p in PEOPLE if p[0] == number)
        if count > 1:
            top = rows[first - 2]
            for c in range(6):
                sheet.merge_range(first - 1, c, first + count - 2, c, top[c], middle)
        first += count
    workbook.close()
    note(
        "persons.xlsx",
        "one row per person, sheet 人员信息: 户号, 社区, 网格, 楼栋, 单元, 门牌号 merged down over each "
        "household's members (A2:F4, A6:F9), then 姓名, 性别, 与户主关系, 身份证号, 出生日期 (date cells), "
        "联系电话 (some empty).",
        "rows 2-9: " + "；".join(f"{p[0]} {p[2]}（{p[4]}）" for p in PEOPLE),
    )


ADDRESS_PEOPLE = [
    ("幸福小区3号楼2单元501", "张建国", "男", "户主", "19560312", "991", "13800000001"),
    ("幸福小区3号楼2单元501", "王桂兰", "女", "配偶", "19580620", "982", ""),
    ("幸福小区3号楼2单元501", "张伟", "男", "子女", "19830115", "971", "13800000011"),
    ("18栋1单元1204室", "王志强", "男", "户主", "19780921", "993", "13800000003"),
    ("18栋1单元1204室", "赵敏", "女", "配偶", "19800403", "962", "13800000013"),
    ("张家村3组15号", "赵长生", "男", "户主", "19510101", "997", "13800000007"),
    ("张家村3组15号", "赵秀梅", "女", "父母", "19290612", "942", ""),
    ("5-2-302", "陈德明", "男", "户主", "19620830", "995", "13800000005"),
    ("３号楼２单元５０２", "李秀英", "女", "户主", "19480705", "992", "13800000002"),
]


def persons_address():
    workbook = new_workbook("persons-address.xlsx")
    sheet = workbook.add_worksheet("Sheet1")
    write_rows(sheet, 1, [("序号", "姓名", "性别", "与户主关系", "身份证号", "住址", "联系电话")])
    rows = [
        [i, name, sex, relation, id_number(birth, sequence), address, phone]
        for i, (address, name, sex, relation, birth, sequence, phone) in enumerate(ADDRESS_PEOPLE, start=1)
    ]
    write_rows(sheet, 2, rows)
    workbook.close()
    note(
        "persons-address.xlsx",
        "one row per person, no 户号, sheet Sheet1: 序号, 姓名, 性别, 与户主关系, 身份证号, a single 住址 column "
        "(幸福小区3号楼2单元501, 18栋1单元1204室, 张家村3组15号, 5-2-302, full-width ３号楼２单元５０２), 联系电话.",
        "rows 2-10: " + "；".join(f"{p[1]}（{p[3]}，{p[0]}）" for p in ADDRESS_PEOPLE),
    )


def passwords():
    from msoffcrypto.format.ooxml import OOXMLFile

    with open(HERE / "template-like.xlsx", "rb") as plain, open(HERE / "password.xlsx", "wb") as out:
        OOXMLFile(plain).encrypt("1234", out)
    note(
        "password.xlsx",
        "template-like.xlsx encrypted with the password 1234 (msoffcrypto-tool, ECMA-376 agile encryption): an "
        "OLE2 Compound File with EncryptionInfo and EncryptedPackage streams, as Excel and WPS save it.",
        "as template-like.xlsx, unreadable without the password",
    )
    # An .xls with an open password: Excel writes a FILEPASS record right after the workbook's BOF.
    # xlwt cannot encrypt, so FILEPASS (XOR obfuscation, 6 bytes) replaces the records at the same
    # place (INTERFACEHDR, MMS, INTERFACEEND: 16 bytes, then a 6-byte MMS again) in a copy of
    # register.xls; the stream keeps its length. The cells after it are not really obfuscated.
    import olefile

    with tempfile.TemporaryDirectory() as directory:
        copy = Path(directory) / "password.xls"
        shutil.copy(HERE / "register.xls", copy)
        ole = olefile.OleFileIO(str(copy), write_mode=True)
        stream = bytearray(ole.openstream("Workbook").read())
        kinds = [struct.unpack_from("<HH", stream, offset) for offset in (20, 26, 32)]
        assert kinds == [(0xE1, 2), (0xC1, 2), (0xE2, 0)], kinds
        stream[20:36] = struct.pack("<HHHHH", 0x002F, 6, 0, 0x4A3B, 0xC1D2) + struct.pack("<HHH", 0xC1, 2, 0)
        ole.write_stream("Workbook", bytes(stream))
        ole.close()
        shutil.copy(copy, HERE / "password.xls")
    note(
        "password.xls",
        "register.xls with a FILEPASS record (XOR obfuscation) right after the workbook's BOF, where Excel "
        "writes it for an .xls with an open password (the cells themselves are not obfuscated: xlwt cannot "
        "encrypt).",
        "as register.xls, refused",
    )


def two_sheets():
    workbook = new_workbook("two-sheets.xlsx")
    for name, rows in (("湖田社区", HUTIAN[:2]), ("青山社区", QINGSHAN[:2])):
        sheet = workbook.add_worksheet(name)
        write_rows(sheet, 1, [TEMPLATE_HEADERS])
        write_rows(sheet, 2, template_rows(rows))
    workbook.close()
    note(
        "two-sheets.xlsx",
        "two sheets, 湖田社区 and 青山社区, both with the template header: which one is meant is the admin's "
        "choice (the ambiguity case).",
        f"湖田社区 rows 2-3: {names(HUTIAN[:2])}; 青山社区 rows 2-3: {names(QINGSHAN[:2])}",
    )


def duplicate_and_missing():
    workbook = new_workbook("duplicate-columns.xlsx")
    sheet = workbook.add_worksheet("Sheet1")
    write_rows(sheet, 1, [("社区", "网格", "门牌号", "户主", "户主姓名", "身份证号", "家庭人口")])
    h = HUTIAN[0]
    write_rows(sheet, 2, [(h["社区"], h["网格"], h["门牌号"], "张建国", "张建国", h["身份证号"], 3)])
    workbook.close()
    note(
        "duplicate-columns.xlsx",
        "sheet Sheet1: both 户主 (D) and 户主姓名 (E) in the header, two names of one field.",
        f"row 2: {names(HUTIAN[:1])}",
    )
    workbook = new_workbook("missing-columns.xlsx")
    sheet = workbook.add_worksheet("Sheet1")
    sheet.merge_range("A1:H1", "湖田社区住户登记表")
    write_rows(sheet, 2, [("序号", "社区", "网格", "房间", "户主姓名", "证件号码", "家庭人口", "备注2")])
    write_rows(sheet, 3, [(1, h["社区"], h["网格"], h["门牌号"], h["户主姓名"], h["身份证号"], 3, "")])
    workbook.close()
    note(
        "missing-columns.xlsx",
        "sheet Sheet1: a title merged over A1:H1, the header in row 2 with 房间 and 证件号码 (names no field "
        "knows) for 门牌号 and 身份证号, and 序号 and 备注2.",
        f"row 3: {names(HUTIAN[:1])}",
    )


CADRES = [
    (1, "周明", "街道班子成员", "湖田街道办事处", "", "副主任", "13800000101", "", "zhouming", "是", "否"),
    (2, "吴婷", "市/区直部门挂包单位", "区民政局", "社会救助科", "科员", "13800000102", "湖田社区", "", "是", "是"),
    (3, "郑海", "社区书记", "湖田社区居委会", "", "党委书记", "13800000103", "湖田社区", "zhenghai", "是", "否"),
    (4, "冯丽", "网格员", "湖田社区居委会", "", "网格员", 13800000104, "湖田社区/第1网格", "", "是", "是"),
]
ROSTER_HEADERS = (
    "序号",
    "干部姓名",
    "类别",
    "单位",
    "部门",
    "职务/岗位",
    "手机号码",
    "包联范围",
    "系统账号",
    "是否在岗",
    "是否包户",
)


def roster_aliases():
    workbook = new_workbook("roster-aliases.xlsx")
    sheet = workbook.add_worksheet("包户干部")
    sheet.merge_range("A1:K1", "湖田街道包户干部名单", workbook.add_format({"bold": True, "align": "center"}))
    write_rows(sheet, 2, [ROSTER_HEADERS])
    write_rows(sheet, 3, CADRES)
    workbook.close()
    note(
        "roster-aliases.xlsx",
        "a cadre roster (the fields of visitplan/sheets/roster.py) under other names: sheet 包户干部, title "
        "merged over A1:K1, header in row 2: 序号, 干部姓名 (姓名), 类别 (层级), 单位 (工作单位), 部门 (所属部门), "
        "职务/岗位 (职务), 手机号码 (联系电话; one typed as a number), 包联范围 (工作范围), 系统账号 (登录账号), "
        "是否在岗 (在岗), 是否包户 (参与包户).",
        "rows 3-6: " + "；".join(f"{c[1]}（{c[2]}，{c[7] or '全街道'}）" for c in CADRES),
    )


def readme():
    lines = [
        "# Test corpus: office spreadsheets",
        "",
        "Written by `make_corpus.py` (`.venv/bin/python core/tests/corpus/make_corpus.py`, which rewrites this",
        "README too); read by core/tests/test_tables.py. Row numbers are Excel's (a CSV's are its records').",
        "ID numbers are made up (region 370102, sequence 9xx) with correct GB 11643 check digits; mobile",
        "numbers are 1380000xxxx.",
        "",
        "| file | what it is | households / people |",
        "| --- | --- | --- |",
    ]
    for name, what, holds in README_FILES:
        lines.append(f"| {name} | {what} | {holds} |")
    lines += ["", "## Households", "", "| 户主 | 身份证号 | 社区 | 网格 | 楼栋 | 单元 | 门牌号 | 联系电话 | 家庭人口 |"]
    lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for h in HUTIAN + QINGSHAN + [SUN]:
        lines.append(
            "| "
            + " | ".join(
                str(h[k])
                for k in ("户主姓名", "身份证号", "社区", "网格", "楼栋", "单元", "门牌号", "联系电话", "家庭人口")
            )
            + " |"
        )
    lines += ["", "## People (persons.xlsx, persons-address.xlsx)", "", "| 姓名 | 身份证号 |", "| --- | --- |"]
    seen = set()
    for p in PEOPLE + [(None, None, a[1], a[2], a[3], a[4], a[5], a[6]) for a in ADDRESS_PEOPLE]:
        if p[2] not in seen:
            seen.add(p[2])
            lines.append(f"| {p[2]} | {id_number(p[5], p[6])} |")
    (HERE / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main():
    template_like()
    title_row()
    serial_reordered()
    aliases()
    merged_community()
    register_xls()
    combo_xls()
    offset()
    csv_files()
    persons()
    persons_address()
    passwords()
    two_sheets()
    duplicate_and_missing()
    roster_aliases()
    readme()
    print(f"wrote {len(README_FILES)} files to {HERE}", file=sys.stderr)


if __name__ == "__main__":
    main()
