"""core.tables.read_table on the corpus of office spreadsheets (core/tests/corpus/README.md): the
format found by content, the sheet, the header row, the mapping, the ignored columns, merged cells
filled, the exact values and Excel row numbers; and every refusal with its message."""

import datetime
import io
import random
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import xlsxwriter
from django.core.files.uploadedfile import SimpleUploadedFile

from core.table_read import biff_has_filepass, column_letter, normalize_header
from core.tables import Column, Field, TableError, build_lookup, detect_format, read_table
from households.validators import id_number_error

CORPUS = Path(__file__).resolve().parent / "corpus"
ROOT = Path(__file__).resolve().parents[2]

# What the register import will read (households/register/layout.py), with the names offices use.
REGISTER = (
    Field("community", "社区", ("社区名称", "所属社区", "村居"), required=True),
    Field("grid", "网格", ("网格名称", "所属网格"), required=True),
    Field("building", "楼栋", ("楼号", "楼栋号", "栋号")),
    Field("unit", "单元", ("单元号",)),
    Field("room", "门牌号", ("房号", "门牌", "房间号", "室号"), required=True),
    Field("head_name", "户主姓名", ("户主", "姓名"), required=True),
    Field("id_number", "身份证号", ("身份证号码", "公民身份号码", "身份证"), required=True),
    Field("phone", "联系电话", ("电话", "手机号", "手机号码", "联系方式")),
    Field("size", "家庭人口", ("人口数", "家庭人数", "人数"), required=True),
    Field("tags", "重点人群", ("人群类别",)),
    Field("notes", "备注", ("说明",)),
)
REGISTER_KEYS = tuple(f.key for f in REGISTER)

PERSONS = (
    Field("household_no", "户号", ("户编号",)),
    Field("community", "社区"),
    Field("grid", "网格"),
    Field("building", "楼栋"),
    Field("unit", "单元"),
    Field("room", "门牌号"),
    Field("address", "住址", ("家庭住址", "现住址", "居住地址")),
    Field("name", "姓名", required=True),
    Field("relation", "与户主关系", ("关系", "与户主的关系"), required=True),
    Field("id_number", "身份证号", ("身份证号码",), required=True),
    Field("birth", "出生日期"),
    Field("phone", "联系电话"),
)

# The cadre roster of visitplan/sheets/roster.py.
ROSTER = (
    Field("name", "姓名", ("干部姓名",), required=True),
    Field("tier", "层级", ("类别", "干部层级"), required=True),
    Field("unit", "工作单位", ("单位",)),
    Field("department", "所属部门", ("部门",)),
    Field("position", "职务", ("职务/岗位",)),
    Field("phone", "联系电话", ("手机号码",)),
    Field("scope", "工作范围", ("包联范围",), required=True),
    Field("user", "登录账号", ("系统账号", "账号")),
    Field("active", "在岗", ("是否在岗",)),
    Field("takes_households", "参与包户", ("是否包户",)),
)

# The households of the corpus (README.md), as the template's cells in REGISTER order.
ZHANG = ["湖田社区", "第1网格", "3号楼", "2单元", "501", "张建国", "370102195603129917", "13800000001", 3, "老党员", ""]
LI = ["湖田社区", "第1网格", "3号楼", "2单元", "502", "李秀英", "370102194807059928", "13800000002", 1,
      "孤寡老人、高龄老人", "独居，子女在外地"]  # fmt: skip
WANG = ["湖田社区", "第2网格", "18号楼", "1单元", "1204", "王志强", "370102197809219933", "13800000003", 4, "", ""]
LIU = [
    "湖田社区",
    "第2网格",
    "18号楼",
    "1单元",
    "1205",
    "刘芳",
    "370102198502149947",
    "0532-82345678",
    2,
    "困难群众",
    "",
]
CHEN = ["青山社区", "第1网格", "5号楼", "", "302", "陈德明", "370102196208309955", "13800000005", 2, "残疾人", ""]
ZHOU = ["青山社区", "第1网格", "5号楼", "", "401", "周玉兰", "370102195904179969", "13800000006", 2, "", ""]
ZHAO = ["青山社区", "第2网格", "", "", "张家村3组15号", "赵长生", "37010219510101997X", "13800000007", 5, "低保户", ""]
SUN = ["青山社区", "第2网格", "", "", "张家村3组16号", "孙桂芝", "370102195809239986", "13800000008", 3, "", ""]

SIZE = REGISTER_KEYS.index("size")
ROOM = REGISTER_KEYS.index("room")
PHONE = REGISTER_KEYS.index("phone")
NOTES = REGISTER_KEYS.index("notes")


def with_(row, **changes):
    out = list(row)
    for key, value in changes.items():
        out[REGISTER_KEYS.index(key)] = value
    return out


def as_float(row):
    """python-calamine reads a number of an .xlsx as a float: 家庭人口 3 → 3.0."""
    return with_(row, size=float(row[SIZE]))


def as_text(row):
    """A CSV holds text only."""
    return with_(row, size=str(row[SIZE]))


def read(name, fields=REGISTER, **kwargs):
    return read_table(CORPUS / name, fields, **kwargs)


def refusal(source, fields=REGISTER, **kwargs) -> TableError:
    with pytest.raises(TableError) as caught:
        read_table(source, fields, **kwargs)
    return caught.value


TEMPLATE_COLUMNS = [
    Column(column_letter(i), header, key)
    for i, (header, key) in enumerate(zip((f.label for f in REGISTER), REGISTER_KEYS, strict=True))
]


# ---------------------------------------------------------------------------------------------
# The corpus, file by file


def test_template_like_xlsx():
    table = read("template-like.xlsx", prefer_sheet="居民底册")
    assert (table.format, table.encoding, table.delimiter) == ("xlsx", None, None)
    assert (table.sheet_name, table.sheet_names, table.header_row) == ("居民底册", ("居民底册", "填写说明"), 1)
    assert table.columns == TEMPLATE_COLUMNS
    assert table.ignored == []
    assert table.field_columns == {key: i for i, key in enumerate(REGISTER_KEYS)}
    assert table.keys == REGISTER_KEYS
    assert table.rows == [(2, as_float(ZHANG)), (3, as_float(LI)), (4, as_float(WANG)), (5, as_float(LIU)),
                          (6, as_float(CHEN))]  # fmt: skip


def test_the_instructions_sheet_is_no_candidate_without_prefer_sheet():
    """填写说明 names one column a row: never a complete header, so 居民底册 is the one sheet."""
    table = read("template-like.xlsx")
    assert table.sheet_name == "居民底册"
    assert len(table) == 5


def test_title_row_blank_row_and_marked_headers():
    table = read("title-row.xlsx")
    assert (table.format, table.sheet_name, table.header_row) == ("xlsx", "2026年底册", 3)
    assert table.columns[0] == Column("A", "*社区", "community")
    assert table.columns[5] == Column("F", "户主姓名\n（必填）", "head_name")
    assert table.columns[6] == Column("G", "身份证号\n(必填)", "id_number")
    assert table.columns[8] == Column("I", "家庭人口*", "size")
    assert table.columns[10] == Column("K", "备 注", "notes")
    assert table.ignored == []
    assert table.rows == [(4, as_float(ZHANG)), (5, as_float(LI)), (6, as_float(WANG))]
    assert table.header_of("head_name") == "户主姓名\n（必填）"


def test_serial_number_first_columns_reordered_extra_columns_ignored():
    table = read("serial-reordered.xlsx")
    assert (table.sheet_name, table.header_row) == ("Sheet1", 1)
    assert table.ignored == ["序号", "备注2"]
    assert table.columns[0] == Column("A", "序号", None)
    assert table.columns[-1] == Column("M", "备注2", None)
    assert table.field_columns == {
        "head_name": 1, "id_number": 2, "size": 3, "phone": 4, "community": 5, "grid": 6, "building": 7,
        "unit": 8, "room": 9, "tags": 10, "notes": 11,
    }  # fmt: skip
    # Values still in REGISTER order; 门牌号 typed as numbers; row 5 holds only its 序号: skipped.
    rooms = [(2, 501.0), (3, 502.0), (4, 1204.0), (6, 302.0)]
    expected = [ZHANG, LI, WANG, CHEN]
    assert table.rows == [(n, with_(as_float(row), room=room)) for (n, room), row in zip(rooms, expected)]


def test_aliases():
    table = read("aliases.xlsx")
    assert (table.sheet_name, table.sheet_names, table.header_row) == ("人口信息", ("人口信息",), 1)
    assert [c.header for c in table.columns] == [
        "社区名称", "网格名称", "楼号", "单元号", "房号", "户主", "身份证号码", "手机号", "人口数", "人群类别", "说明",
    ]  # fmt: skip
    assert [c.key for c in table.columns] == list(REGISTER_KEYS)
    assert table.ignored == []
    # A mobile number typed as a number comes as calamine gives it.
    assert table.rows == [
        (2, with_(as_float(CHEN), phone=13800000005.0)),
        (3, with_(as_float(ZHOU), phone=13800000006.0)),
        (4, with_(as_float(ZHAO), phone=13800000007.0)),
    ]


def test_merged_community_grid_building_unit_fill_their_rows():
    table = read("merged-community.xlsx")
    assert (table.sheet_name, table.header_row) == ("居民底册", 1)
    # Row 8 lies under the 青山社区 range only: nothing of its own, so blank.
    assert table.rows == [
        (2, as_float(ZHANG)),
        (3, as_float(LI)),
        (4, as_float(WANG)),
        (5, as_float(LIU)),
        (6, as_float(CHEN)),
        (7, as_float(ZHOU)),
    ]


def test_a_two_row_header_and_a_row_merged_across(tmp_path):
    """A header cell merged down over a two-row header (地址 above 楼栋, 单元, 门牌号) is found in the
    second row; a data cell merged across fills each column it spans."""
    path = tmp_path / "two-row-header.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet("底册")
    for column, header in enumerate(("社区", "网格")):
        sheet.merge_range(0, column, 1, column, header)
    sheet.merge_range("C1:E1", "地址")
    sheet.write_row("C2", ("楼栋", "单元", "门牌号"))
    for column, header in enumerate(("户主姓名", "身份证号", "家庭人口"), start=5):
        sheet.merge_range(0, column, 1, column, header)
    sheet.write_row("A3", ["青山社区", "第2网格"])
    sheet.merge_range("C3:D3", "平房")
    sheet.write_row("E3", ["15号", "赵长生", "37010219510101997X", 5])
    workbook.close()
    table = read_table(path, REGISTER)
    assert (table.header_row, table.ignored) == (2, [])
    assert [c.letter for c in table.columns] == list("ABCDEFGH")
    assert table.rows == [(3, ["青山社区", "第2网格", "平房", "平房", "15号", "赵长生", "37010219510101997X", None, 5.0,
                               None, None])]  # fmt: skip


def test_of_two_matching_sheets_the_visible_one(tmp_path):
    path = tmp_path / "hidden.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    for name in ("底册", "旧底册"):
        sheet = workbook.add_worksheet(name)
        sheet.write_row("A1", [f.label for f in REGISTER])
        sheet.write_row("A2", ZHANG if name == "底册" else LI)
    sheet.hide()
    workbook.close()
    table = read_table(path, REGISTER)
    assert (table.sheet_name, table.sheet_names) == ("底册", ("底册", "旧底册"))
    assert table.rows == [(2, as_float(ZHANG))]


def test_an_empty_sheet_beside_the_table(tmp_path):
    path = tmp_path / "empty-sheet.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    workbook.add_worksheet("Sheet1")
    sheet = workbook.add_worksheet("Sheet2")
    sheet.write_row("A1", [f.label for f in REGISTER])
    sheet.write_row("A2", ZHANG)
    workbook.close()
    assert read_table(path, REGISTER).sheet_name == "Sheet2"
    empty = tmp_path / "empty.xlsx"
    workbook = xlsxwriter.Workbook(str(empty))
    workbook.add_worksheet("Sheet1")
    workbook.close()
    assert refusal(empty).message.startswith("在工作表“Sheet1”的前 20 行中找不到表头")


def test_register_xls():
    table = read("register.xls")
    assert (table.format, table.sheet_name, table.sheet_names, table.header_row) == (
        "xls",
        "居民底册",
        ("居民底册",),
        1,
    )
    assert table.columns == TEMPLATE_COLUMNS
    # An .xls number that is whole comes as an int.
    assert table.rows == [(2, ZHANG), (3, LI), (4, WANG)]
    assert all(type(values[SIZE]) is int for _n, values in table.rows)


def test_combo_xls_title_serial_aliases_and_merged_cells():
    table = read("combo.xls")
    assert (table.format, table.sheet_name, table.sheet_names) == ("xls", "Sheet1", ("Sheet1", "填表说明"))
    assert table.header_row == 4
    assert table.ignored == ["序号"]
    assert table.field_columns["community"] == 1
    assert table.field_columns["notes"] == 11
    assert table.rows == [(5, CHEN), (6, ZHOU), (7, ZHAO), (8, SUN)]


@pytest.mark.parametrize("name", ["offset.xlsx", "offset.xls"])
def test_a_table_that_starts_in_column_c_keeps_excel_columns_and_rows(name):
    """python-calamine gives the cells of a row from the first used column, the merged ranges in
    absolute coordinates: both land on the right columns."""
    table = read(name)
    assert table.header_row == 3
    assert table.columns[0] == Column("C", "社区", "community")
    assert table.columns[-1] == Column("M", "备注", "notes")
    assert table.field_columns == {key: i + 2 for i, key in enumerate(REGISTER_KEYS)}
    convert = as_float if name.endswith(".xlsx") else list
    assert table.rows == [(4, convert(ZHANG)), (5, convert(LI)), (6, convert(WANG))]


def test_csv_in_gbk_with_a_title_line_and_quoted_fields():
    table = read("register-gbk.csv")
    assert (table.format, table.encoding, table.delimiter) == ("csv", "gb18030", ",")
    assert (table.sheet_name, table.sheet_names, table.header_row) == (None, (), 3)
    assert table.columns == TEMPLATE_COLUMNS
    assert table.rows == [
        (4, as_text(ZHANG)),
        (5, with_(as_text(LI), notes='独居,子女在外地（"空巢"）')),
        (6, with_(as_text(WANG), notes="腿脚不便，\n需上门走访")),
    ]


def test_csv_in_utf8_with_bom():
    table = read("register-utf8-bom.csv")
    assert (table.format, table.encoding, table.delimiter, table.header_row) == ("csv", "utf-8-sig", ",", 1)
    assert table.columns[0] == Column("A", "社区", "community")  # no BOM in the first header
    assert table.rows == [(2, as_text(CHEN)), (3, as_text(ZHOU)), (4, as_text(ZHAO))]


def test_csv_in_utf8_semicolons():
    table = read("register-utf8.csv")
    assert (table.format, table.encoding, table.delimiter, table.header_row) == ("csv", "utf-8", ";", 1)
    assert table.rows == [(2, as_text(WANG)), (3, as_text(LIU)), (4, as_text(CHEN))]


def test_csv_tab_separated_and_utf16():
    text = "序号\t户主姓名\t身份证号\t社区\t网格\t门牌号\t家庭人口\r\n1\t张建国\t370102195603129917\t湖田社区\t第1网格\t501\t3\r\n"
    for data, encoding in ((text.encode("utf-8"), "utf-8"), (b"\xff\xfe" + text.encode("utf-16-le"), "utf-16")):
        table = read_table(data, REGISTER)
        assert (table.format, table.encoding, table.delimiter) == ("csv", encoding, "\t")
        assert table.ignored == ["序号"]
        assert table.rows == [(2, ["湖田社区", "第1网格", None, None, "501", "张建国", "370102195603129917",
                                   None, "3", None, None])]  # fmt: skip


def test_format_is_found_by_content_not_by_name(tmp_path):
    """An .xls named .xlsx, a CSV named .xls: read as what they are."""
    misnamed = tmp_path / "底册.xlsx"
    misnamed.write_bytes((CORPUS / "register.xls").read_bytes())
    assert read_table(misnamed, REGISTER).format == "xls"
    misnamed = tmp_path / "底册.xls"
    misnamed.write_bytes((CORPUS / "register-gbk.csv").read_bytes())
    table = read_table(misnamed, REGISTER)
    assert (table.format, table.encoding, len(table)) == ("csv", "gb18030", 3)
    misnamed = tmp_path / "底册.csv"
    misnamed.write_bytes((CORPUS / "template-like.xlsx").read_bytes())
    assert read_table(misnamed, REGISTER).format == "xlsx"


def test_bytes_and_uploaded_files_are_read_and_left_at_the_start():
    data = (CORPUS / "template-like.xlsx").read_bytes()
    assert len(read_table(data, REGISTER)) == 5
    upload = SimpleUploadedFile("upload.bin", data)
    upload.seek(100)
    assert len(read_table(upload, REGISTER)) == 5
    assert upload.tell() == 0
    stream = io.BytesIO((CORPUS / "register.xls").read_bytes())
    assert read_table(stream, REGISTER).format == "xls"
    assert stream.tell() == 0


def test_persons_one_row_each_with_the_household_merged_down():
    table = read("persons.xlsx", PERSONS)
    assert (table.sheet_name, table.header_row) == ("人员信息", 1)
    assert table.ignored == ["性别"]
    assert table.field_columns["household_no"] == 0
    assert "address" not in table.field_columns
    hutian1 = ["湖田社区", "第1网格", "3号楼", "2单元", "501"]
    hutian2 = ["湖田社区", "第1网格", "3号楼", "2单元", "502"]
    wang = ["湖田社区", "第2网格", "18号楼", "1单元", "1204"]
    assert table.rows == [
        (2, ["HT-0001", *hutian1, None, "张建国", "户主", "370102195603129917", datetime.date(1956, 3, 12), "13800000001"]),
        (3, ["HT-0001", *hutian1, None, "王桂兰", "配偶", "370102195806209829", datetime.date(1958, 6, 20), ""]),
        (4, ["HT-0001", *hutian1, None, "张伟", "子女", "370102198301159719", datetime.date(1983, 1, 15), "13800000011"]),
        (5, ["HT-0002", *hutian2, None, "李秀英", "户主", "370102194807059928", datetime.date(1948, 7, 5), "13800000002"]),
        (6, ["HT-0003", *wang, None, "王志强", "户主", "370102197809219933", datetime.date(1978, 9, 21), "13800000003"]),
        (7, ["HT-0003", *wang, None, "赵敏", "配偶", "370102198004039622", datetime.date(1980, 4, 3), "13800000013"]),
        (8, ["HT-0003", *wang, None, "王子涵", "子女", "370102201209089521", datetime.date(2012, 9, 8), ""]),
        (9, ["HT-0003", *wang, None, "王德福", "父母", "370102195002279418", datetime.date(1950, 2, 27), ""]),
    ]  # fmt: skip
    rows = dict(table.dicts())
    assert rows[8]["name"] == "王子涵" and rows[8]["household_no"] == "HT-0003"


def test_persons_with_a_single_address_column():
    table = read("persons-address.xlsx", PERSONS)
    assert (table.sheet_name, table.header_row) == ("Sheet1", 1)
    assert table.ignored == ["序号", "性别"]
    assert set(table.field_columns) == {"name", "relation", "id_number", "address", "phone"}
    assert [(n, d["name"], d["relation"], d["address"]) for n, d in table.dicts()] == [
        (2, "张建国", "户主", "幸福小区3号楼2单元501"),
        (3, "王桂兰", "配偶", "幸福小区3号楼2单元501"),
        (4, "张伟", "子女", "幸福小区3号楼2单元501"),
        (5, "王志强", "户主", "18栋1单元1204室"),
        (6, "赵敏", "配偶", "18栋1单元1204室"),
        (7, "赵长生", "户主", "张家村3组15号"),
        (8, "赵秀梅", "父母", "张家村3组15号"),
        (9, "陈德明", "户主", "5-2-302"),
        (10, "李秀英", "户主", "３号楼２单元５０２"),
    ]
    assert all(d["building"] is None and d["household_no"] is None for _n, d in table.dicts())  # no such columns


def test_roster_under_other_names():
    table = read("roster-aliases.xlsx", ROSTER)
    assert (table.sheet_name, table.header_row) == ("包户干部", 2)
    assert table.ignored == ["序号"]
    assert table.rows == [
        (3, ["周明", "街道班子成员", "湖田街道办事处", "", "副主任", "13800000101", "", "zhouming", "是", "否"]),
        (4, ["吴婷", "市/区直部门挂包单位", "区民政局", "社会救助科", "科员", "13800000102", "湖田社区", "", "是", "是"]),
        (5, ["郑海", "社区书记", "湖田社区居委会", "", "党委书记", "13800000103", "湖田社区", "zhenghai", "是", "否"]),
        (6, ["冯丽", "网格员", "湖田社区居委会", "", "网格员", 13800000104.0, "湖田社区/第1网格", "", "是", "是"]),
    ]  # fmt: skip


def test_every_id_number_of_the_corpus_is_valid():
    numbers = []
    for name, fields in [
        *((n, REGISTER) for n in ("template-like.xlsx", "aliases.xlsx", "combo.xls", "register-gbk.csv")),
        ("persons.xlsx", PERSONS),
        ("persons-address.xlsx", PERSONS),
    ]:
        table = read(name, fields)
        numbers += [dict(zip(table.keys, values))["id_number"] for _n, values in table.rows]
    assert len(numbers) == 5 + 3 + 4 + 3 + 8 + 9
    assert {n: id_number_error(n) for n in numbers} == {n: None for n in numbers}


# ---------------------------------------------------------------------------------------------
# Sheets


def test_two_matching_sheets_are_the_admins_choice():
    error = refusal(CORPUS / "two-sheets.xlsx")
    assert error.message == "文件中有 2 个工作表都含有可识别的表头：湖田社区、青山社区；请选择要导入的工作表"
    assert error.sheet_choices == ("湖田社区", "青山社区")


def test_the_sheet_argument_picks_one():
    table = read("two-sheets.xlsx", sheet="青山社区")
    assert (table.sheet_name, table.sheet_names) == ("青山社区", ("湖田社区", "青山社区"))
    assert table.rows == [(2, as_float(CHEN)), (3, as_float(ZHOU))]


def test_prefer_sheet_is_taken_when_it_matches():
    table = read("two-sheets.xlsx", prefer_sheet="湖田社区")
    assert table.sheet_name == "湖田社区"
    assert table.rows == [(2, as_float(ZHANG)), (3, as_float(LI))]
    # A preferred sheet that is not there changes nothing.
    assert refusal(CORPUS / "two-sheets.xlsx", prefer_sheet="居民底册").sheet_choices == ("湖田社区", "青山社区")


def test_a_sheet_that_is_not_there():
    error = refusal(CORPUS / "two-sheets.xlsx", sheet="居民底册")
    assert error.message == "找不到名为“居民底册”的工作表（文件中的工作表：湖田社区、青山社区）"
    assert error.sheet_choices == ("湖田社区", "青山社区")


def test_a_chosen_sheet_without_the_header():
    error = refusal(CORPUS / "combo.xls", sheet="填表说明")
    assert error.message.startswith(
        "在工作表“填表说明”的前 20 行中找不到表头：没有一行含有 社区、网格、门牌号、户主姓名、身份证号、家庭人口 等列名"
    )


# ---------------------------------------------------------------------------------------------
# The header


def test_two_columns_of_one_field():
    error = refusal(CORPUS / "duplicate-columns.xlsx")
    assert error.message == (
        "第 1 行表头中 D 列“户主”和 E 列“户主姓名”都对应“户主姓名”，无法确定用哪一列；"
        "请删除或改名其中多余的列后再上传（或在导入时指定各列的对应关系）"
    )
    assert (error.row, error.column) == (1, "户主姓名")


def test_the_admins_mapping_settles_two_columns_of_one_field():
    table = read("duplicate-columns.xlsx", mapping={"户主": ""})
    assert table.ignored == ["户主"]
    assert table.field_columns["head_name"] == 4
    assert table.rows[0][1][REGISTER_KEYS.index("head_name")] == "张建国"


def test_missing_required_columns_name_the_row_the_columns_and_the_unknown_ones():
    error = refusal(CORPUS / "missing-columns.xlsx")
    assert error.message == (
        "第 2 行最像表头，但缺少必填的列：门牌号（可写作：门牌号、房号、门牌、房间号、室号）；"
        "身份证号（可写作：身份证号、身份证号码、公民身份号码、身份证）；"
        "无法识别的列：A 列“序号”、D 列“房间”、F 列“证件号码”、H 列“备注2”。"
        "请把列名改为可识别的写法（或在导入时指定各列的对应关系）后再上传"
    )
    assert (error.row, error.column) == (2, "门牌号")


def test_the_admins_mapping_and_aliases_extend_the_names():
    mapping = {"房间": "room", "证件 号码": "id_number", "备注2": ""}
    table = read("missing-columns.xlsx", mapping=mapping)
    assert (table.header_row, table.ignored) == (2, ["序号", "备注2"])
    assert table.rows == [(3, ["湖田社区", "第1网格", None, None, "501", "张建国", "370102195603129917", None, 3.0,
                               None, None])]  # fmt: skip
    table = read("missing-columns.xlsx", aliases={"room": ["房间"], "id_number": ["证件号码"]})
    assert table.ignored == ["序号", "备注2"]
    assert table.field_columns["room"] == 3
    # The names the admin added are offered in the message of the next refusal.
    error = refusal(CORPUS / "missing-columns.xlsx", aliases={"room": ["房间"]})
    assert "缺少必填的列：身份证号（可写作：身份证号、身份证号码、公民身份号码、身份证）；" in error.message
    assert "D 列“房间”" not in error.message


def test_a_mapping_wins_over_the_aliases():
    table = read("aliases.xlsx", mapping={"说明": "", "户主": "head_name"})
    assert table.ignored == ["说明"]
    assert all(values[NOTES] is None for _n, values in table.rows)


def test_a_file_with_no_header_at_all():
    error = refusal("姓名,年龄\n张三,30\n".encode())
    assert error.message.startswith(
        "第 1 行最像表头，但缺少必填的列：社区（可写作：社区、社区名称、所属社区、村居）；网格"
    )
    assert "身份证号（可写作：身份证号、身份证号码、公民身份号码、身份证）" in error.message
    assert "户主姓名（" not in error.message
    assert "无法识别的列：B 列“年龄”。" in error.message
    assert error.row == 1
    error = refusal("甲,乙\n1,2\n".encode())
    assert error.message.startswith(
        "在文件的前 20 行中找不到表头：没有一行含有 社区、网格、门牌号、户主姓名、身份证号、家庭人口 等列名"
    )


@pytest.mark.parametrize(
    ("written", "normalized"),
    [
        ("户主姓名", "户主姓名"),
        (" 户主 姓名 ", "户主姓名"),
        ("户主\u3000姓名", "户主姓名"),
        ("户主姓名\n（必填）", "户主姓名"),
        ("户主姓名(必填)", "户主姓名"),
        ("*户主姓名", "户主姓名"),
        ("＊户主姓名＊", "户主姓名"),
        ("户主姓名*（必填）", "户主姓名"),
        ("【必填】身份证号", "身份证号"),
        ("联系电话（选填）", "联系电话"),
        ("联系电话(手机)", "联系电话(手机)"),
        ("联系电话（手机）", "联系电话(手机)"),
        ("姓名：", "姓名"),
        ("ＩＤ号", "id号"),
        (1204.0, "1204"),
        (None, ""),
    ],
)
def test_header_text_is_normalized(written, normalized):
    assert normalize_header(written) == normalized


def test_a_name_given_to_two_fields_is_a_programming_error():
    with pytest.raises(ValueError, match="姓名"):
        build_lookup([Field("a", "姓名"), Field("b", "名字", ("姓名",))])
    # The admin's additions take no name from another field; a stale mapping entry is skipped.
    lookup = build_lookup(REGISTER, aliases={"phone": ["户主"], "gone": ["某列"]}, mapping={"某列": "gone"})
    assert lookup["户主"] == "head_name"
    assert "某列" not in lookup


def test_columns_past_the_limit_are_not_read():
    header = ",".join(f"列{i}" for i in range(70)) + ",户主姓名,身份证号,社区,网格,门牌号,家庭人口"
    error = refusal((header + "\n").encode())
    assert error.message.startswith("在文件的前 20 行中找不到表头")
    table = read_table((header + "\n" + ",".join(["x"] * 76) + "\n").encode(), REGISTER, max_columns=80)
    assert table.field_columns["head_name"] == 70


def test_the_header_may_be_at_row_20_not_21():
    body = "户主姓名,身份证号,社区,网格,门牌号,家庭人口\n张建国,370102195603129917,湖田社区,第1网格,501,3\n"
    assert read_table(("填表说明\n" * 19 + body).encode(), REGISTER).header_row == 20
    error = refusal(("填表说明\n" * 20 + body).encode())
    assert error.message.startswith("在文件的前 20 行中找不到表头")


# ---------------------------------------------------------------------------------------------
# Refusals


def test_an_encrypted_xlsx():
    error = refusal(CORPUS / "password.xlsx")
    assert error.message == "文件设置了密码，请在 Excel/WPS 中取消密码后再上传"


def test_an_xls_with_an_open_password():
    assert refusal(CORPUS / "password.xls").message == "文件设置了密码，请在 Excel/WPS 中取消密码后再上传"
    assert not biff_has_filepass(b"\x09\x08\x10\x00" + bytes(16) + b"\xe1\x00\x02\x00\xb0\x04\x0a\x00\x00\x00")
    assert biff_has_filepass(b"\x09\x08\x10\x00" + bytes(16) + b"\x2f\x00\x06\x00" + bytes(6))


def test_an_office_file_that_is_not_a_workbook():
    data = (CORPUS / "register.xls").read_bytes()
    name = "Workbook".encode("utf-16-le")
    assert data.count(name) == 1
    error = refusal(data.replace(name, "Workfile".encode("utf-16-le")))
    assert error.message.startswith("文件是 Office 文档，但不是 Excel 工作簿")


def test_a_damaged_ole_file():
    data = (CORPUS / "register.xls").read_bytes()
    assert refusal(data[:600]).message.startswith("文件无法读取，可能已损坏（Office 文件结构异常：扇区")
    # A sector size no file has.
    broken = bytearray(data)
    struct.pack_into("<H", broken, 0x1E, 15)
    assert refusal(bytes(broken)).message.startswith("文件无法读取，可能已损坏（Office 文件结构异常：扇区大小异常")
    # A directory whose chain of sectors comes back to its start: read a bounded number of times.
    broken = bytearray(data)
    (first_directory,) = struct.unpack_from("<I", broken, 0x30)
    (first_fat,) = struct.unpack_from("<I", broken, 0x4C)
    struct.pack_into("<I", broken, (first_fat + 1) * 512 + 4 * first_directory, first_directory)
    assert refusal(bytes(broken)).message.startswith("文件无法读取，可能已损坏（Office 文件结构异常：扇区链异常")


@pytest.mark.parametrize(
    "data",
    [
        random.Random(7).randbytes(4096),
        b"\x89PNG\r\n\x1a\n" + random.Random(8).randbytes(2000),
        b"%PDF-1.7\n" + bytes(range(256)) * 8,
        "户主姓名,身份证号\n".encode() + b"\x00\x01\x02" * 50,
    ],
    ids=["random", "png", "pdf", "nul"],
)
def test_binary_junk_names_the_accepted_formats(data):
    error = refusal(data)
    assert error.message == (
        "文件无法识别：只接受 Excel 工作簿（.xlsx、.xls）或 CSV 文本文件（.csv）；请在 Excel/WPS 中打开后另存为其中一种格式再上传"
    )


def test_a_web_page_saved_as_xls():
    error = refusal("<html><body><table><tr><td>户主姓名</td></tr></table></body></html>".encode())
    assert error.message.startswith("文件是网页（HTML/XML）格式，只是扩展名像 Excel 文件")


def test_an_empty_file():
    assert refusal(b"").message == "文件是空的，没有任何内容"
    assert refusal(b"\r\n\r\n").message == "文件是空的，没有任何内容"


def test_a_zip_that_is_no_workbook_goes_through_the_xlsx_guard():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    error = refusal(buffer.getvalue())
    assert error.message.startswith("文件无法读取：它是一个 zip 压缩包，但不是 Excel 工作簿")


def test_a_missing_file():
    assert refusal(CORPUS / "nowhere.xlsx").message.startswith("找不到文件：")


def test_the_upload_size_limit(tmp_path):
    data = b"\xef\xbb\xbf" + "户主姓名,身份证号\n".encode() + b"x" * (1024 * 1024)
    message = "文件有 1.0 MB，超过了 1 MB 的上限；请按社区拆分成几个文件分别导入"
    assert refusal(data, max_upload_mb=1).message == message
    assert refusal(SimpleUploadedFile("big.csv", data), max_upload_mb=1).message == message
    (tmp_path / "big.xls").write_bytes(data)
    assert refusal(tmp_path / "big.xls", max_upload_mb=1).message == message


def test_the_row_limit_counts_data_rows_only():
    assert len(read("template-like.xlsx", max_rows=5)) == 5
    for name in ("template-like.xlsx", "register.xls"):
        limit = 2
        error = refusal(CORPUS / name, max_rows=limit)
        assert error.message == "数据超过 2 行的上限，请按社区拆分成几个文件分别导入"
    # Blank rows are not data: 序号 4 alone does not count.
    assert len(read("serial-reordered.xlsx", max_rows=4)) == 4


def test_rows_far_below_the_data_are_refused_not_read():
    head = "户主姓名,身份证号,社区,网格,门牌号,家庭人口\n张建国,370102195603129917,湖田社区,第1网格,501,3\n"
    # 20 header rows + 5 data rows + 1000 blank rows at most.
    fits = head + ",,,,,\n" * 1020 + "李秀英,370102194807059928,湖田社区,第1网格,502,1\n"
    assert [n for n, _v in read_table(fits.encode(), REGISTER, max_rows=5).rows] == [2, 1023]
    too_far = head + ",,,,,\n" * 1030 + "李秀英,370102194807059928,湖田社区,第1网格,502,1\n"
    error = refusal(too_far.encode(), max_rows=5)
    assert error.message == (
        "文件超过了 1025 行（5 行数据，另加表头以上 20 行和 1000 个空行），超过了上限；"
        "请删除表格下方多余的空行，或按社区拆分成几个文件分别导入"
    )


def test_detect_format():
    assert detect_format(b"PK\x03\x04") == "xlsx"
    assert detect_format("PK编号,姓名".encode()) == "csv"
    assert detect_format(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") == "xls"
    assert detect_format("社区".encode("gbk")) == "csv"
    assert detect_format(b"") is None


def test_column_letters():
    assert [column_letter(i) for i in (0, 25, 26, 51, 52, 701, 702)] == ["A", "Z", "AA", "AZ", "BA", "ZZ", "AAA"]


def test_every_format_is_parsed_in_the_limited_child(monkeypatch, settings):
    import core.tables

    calls = []
    real = core.tables.run_limited

    def spy(func, *args, **kwargs):
        calls.append((func.__module__, func.__name__, args[1], kwargs["memory_mb"], kwargs["cpu_seconds"]))
        return real(func, *args, **kwargs)

    monkeypatch.setattr(core.tables, "run_limited", spy)
    settings.IMPORT_PARSE_MEMORY_MB = 700
    settings.IMPORT_PARSE_CPU_SECONDS = 9
    for name in ("template-like.xlsx", "register.xls", "register-gbk.csv", "password.xlsx"):
        try:
            read(name)
        except TableError:
            pass
    assert calls == [("core.table_read", "read_file", fmt, 700, 9) for fmt in ("xlsx", "xls", "csv", "xls")]


def test_the_child_side_imports_no_django():
    code = "import sys, core.table_read; print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.strip() == "[]"
