"""干部名册 and 责任单位 imported from the office's own spreadsheets: a title above
the header, columns in another order and under other names, cells merged down, .xls and .csv
(GBK or UTF-8), the names stored as 表头对照, every message in the file's own row numbers."""

import csv
import io
import time
import zipfile
from pathlib import Path

import pytest
import xlwt
from django.contrib.auth.models import User
from openpyxl import Workbook

from households.column_aliases import office_table
from households.models import ColumnAlias, Node, NodeKind
from households.roles import LEADER, SECRETARY
from visitplan.models import Cadre, Department, Tier
from visitplan.sheets import CadreResource, DepartmentResource, SheetFileError, read_sheet, reading
from visitplan.sheets import departments as department_sheet
from visitplan.sheets import roster as roster_sheet

from .test_roster import export, import_through_admin, login, messages_of, snapshot, upload

pytestmark = pytest.mark.django_db

CORPUS = Path(__file__).resolve().parents[2] / "core" / "tests" / "corpus"

# The roster of core/tests/corpus/roster-aliases.xlsx, by field.
CADRES = [
    {
        "name": "周明",
        "tier": "街道班子成员",
        "unit": "湖田街道办事处",
        "department": "",
        "position": "副主任",
        "phone": "13800000101",
        "scope": "",  # a street leader: the whole street
        "user": "zhouming",
        "active": "是",
        "takes_households": "否",
    },
    {
        "name": "吴婷",
        "tier": "市/区直部门挂包单位",
        "unit": "区民政局",
        "department": "社会救助科",
        "position": "科员",
        "phone": "13800000102",
        "scope": "湖田社区",
        "user": "",
        "active": "是",
        "takes_households": "是",
    },
    {
        "name": "郑海",
        "tier": "社区书记",
        "unit": "湖田社区居委会",
        "department": "",
        "position": "党委书记",
        "phone": "13800000103",
        "scope": "湖田社区",
        "user": "zhenghai",
        "active": "是",
        "takes_households": "否",
    },
    {
        "name": "冯丽",
        "tier": "网格员",
        "unit": "湖田社区居委会",
        "department": "",
        "position": "网格员",
        "phone": 13800000104,  # typed as a number
        "scope": "湖田社区/第1网格",
        "user": "",
        "active": "是",
        "takes_households": "是",
    },
]

# Another office's names for the same columns, in its own order, with a 序号 first.
OFFICE_HEADERS = {
    "name": "姓名",
    "phone": "手机号",
    "tier": "干部层级",
    "unit": "工作单位",
    "department": "部门",
    "position": "职位",
    "scope": "包联社区",
    "user": "账号",
    "active": "状态",
    "takes_households": "是否参与包户",
}
TITLE = "湖田街道2026年包户干部名单"


def expected(world):
    """What the roster above becomes: name → (tier, unit, department, position, phone, scope,
    account, active, takes households)."""
    return {
        "周明": (Tier.LEADER, "湖田街道办事处", None, "副主任", "13800000101", world.street, "zhouming", True, False),
        "吴婷": (Tier.DEPARTMENT, "区民政局", "社会救助科", "科员", "13800000102", world.c1, None, True, True),
        "郑海": (Tier.SECRETARY, "湖田社区居委会", None, "党委书记", "13800000103", world.c1, "zhenghai", True, False),
        "冯丽": (Tier.GRID_WORKER, "湖田社区居委会", None, "网格员", "13800000104", world.grid_a, None, True, True),
    }


def imported(names):
    cadres = Cadre.objects.filter(name__in=names).select_related("department", "scope", "user")
    return {
        c.name: (
            c.tier,
            c.unit,
            c.department.name if c.department_id else None,
            c.position,
            c.phone,
            c.scope,
            c.user.username if c.user_id else None,
            c.active,
            c.takes_households,
        )
        for c in cadres
    }


def office_rows(rows=CADRES, headers=OFFICE_HEADERS):
    """(header row, data rows) as the office writes them: 序号 first, then its columns."""
    keys = list(headers)
    header = ["序号", *(headers[k] for k in keys)]
    body = [[n, *(row[k] for k in keys)] for n, row in enumerate(rows, start=1)]
    return header, body


def roster_xls(path, rows=CADRES, headers=OFFICE_HEADERS, *, merge=(1, 2), gap=None):
    """An Excel 97-2003 roster: the title merged across row 1, row 2 blank, the header in row 3,
    the data from row 4 (a blank row before data row ``gap``, 0-based, when given); the 工作范围
    cells of the data rows ``merge`` (0-based) merged into one."""
    header, body = office_rows(rows, headers)
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("2026年包户干部")
    sheet.write_merge(0, 0, 0, len(header) - 1, TITLE)
    for c, text in enumerate(header):
        sheet.write(2, c, text)
    scope = header.index(headers["scope"])

    def at(r):  # the 0-based sheet row of data row r
        return 3 + r + (gap is not None and r >= gap)

    for r, values in enumerate(body):
        for c, value in enumerate(values):
            if c == scope and r in merge:
                continue
            if value != "":
                sheet.write(at(r), c, value)
    if merge:
        first, last = merge[0], merge[-1]
        sheet.write_merge(at(first), at(last), scope, scope, body[first][scope])
    book.save(str(path))
    return path


def roster_csv(path, rows=CADRES, headers=OFFICE_HEADERS, *, encoding="gbk"):
    """A CSV as WPS saves it on a Chinese Windows: the title on line 1, line 2 empty, the header on line 3."""
    header, body = office_rows(rows, headers)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([TITLE] + [""] * (len(header) - 1))
    writer.writerow([""] * len(header))
    writer.writerow(header)
    writer.writerows(body)
    path.write_bytes(out.getvalue().encode(encoding))
    return path


def xlsx(rows) -> bytes:
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(list(row))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


@pytest.fixture
def office(world):
    """The world, with the 责任单位 the roster names (责任单位 are imported before the roster)."""
    Department.objects.create(name="社会救助科", level="street")
    return world


# --------------------------------------------------------------------------- the lists' fields


def test_each_list_declares_its_columns_as_fields_registered_as_office_tables():
    assert [f.label for f in roster_sheet.FIELDS] == CadreResource().headers()
    assert [f.label for f in department_sheet.FIELDS] == DepartmentResource().headers()
    assert office_table("roster").fields == roster_sheet.FIELDS
    assert office_table("roster").label == "干部名册"
    assert office_table("departments").fields == department_sheet.FIELDS
    required = {f.label for f in roster_sheet.FIELDS if f.required}
    assert required == {"姓名", "层级", "工作范围"}


# --------------------------------------------------------------------------- the same roster, as offices keep it


def test_the_corpus_roster_imports_under_its_own_names(client, office):
    login(client, office.admin)
    content = (CORPUS / "roster-aliases.xlsx").read_bytes()

    result = import_through_admin(client, content)

    assert result.totals["new"] == 4
    assert imported(expected(office)) == expected(office)
    assert set(User.objects.get(username="zhouming").groups.values_list("name", flat=True)) == {LEADER}
    assert set(User.objects.get(username="zhenghai").groups.values_list("name", flat=True)) == {SECRETARY}


@pytest.mark.parametrize(
    ("name", "write"),
    [
        ("干部名册.xls", roster_xls),
        ("干部名册.csv", roster_csv),
        ("干部名册-utf8.csv", lambda path: roster_csv(path, encoding="utf-8-sig")),
        ("干部名册（另存）.xlsx", roster_xls),  # an .xls under an .xlsx name: read by its content
    ],
)
def test_the_same_roster_as_xls_or_csv_imports_the_same(client, office, tmp_path, name, write):
    login(client, office.admin)
    content = write(tmp_path / name).read_bytes()

    preview = upload(client, content, name=name)

    assert preview.context.get("confirm_form") is not None, messages_of(preview) or preview.context["form"].errors
    assert preview.context["result"].totals["new"] == 4
    assert not Cadre.objects.filter(name__in=expected(office)).exists()  # a preview writes nothing
    result = import_through_admin(client, content)
    assert result.totals["new"] == 4
    assert imported(expected(office)) == expected(office)


def test_read_sheet_hands_over_the_template_headers_in_template_order(office, tmp_path):
    dataset = read_sheet(roster_xls(tmp_path / "r.xls", gap=3).read_bytes(), "roster")

    assert dataset.headers == [f.label for f in roster_sheet.FIELDS]
    assert (dataset.header_row, dataset.row_numbers, dataset.ignored) == (3, [4, 5, 6, 8], ["序号"])
    rows = [dict(zip(dataset.headers, values, strict=True)) for values in dataset]
    # The merged 包联社区 cell counts for both its rows; 状态's words are read as they are.
    assert [r["工作范围"] for r in rows] == ["", "湖田社区", "湖田社区", "湖田社区/第1网格"]
    assert [r["姓名"] for r in rows] == ["周明", "吴婷", "郑海", "冯丽"]
    assert rows[0]["在岗"] == "是"


def test_a_column_the_file_lacks_is_left_alone(client, office, tmp_path):
    login(client, office.admin)
    import_through_admin(client, (CORPUS / "roster-aliases.xlsx").read_bytes())
    headers = {k: v for k, v in OFFICE_HEADERS.items() if k not in ("phone", "department")}
    rows = [dict(r, position="主任") if r["name"] == "郑海" else r for r in CADRES]
    path = roster_csv(tmp_path / "r.csv", rows, headers)

    dataset = read_sheet(path.read_bytes(), "roster")
    assert "联系电话" not in dataset.headers and "所属部门" not in dataset.headers

    result = import_through_admin(client, path.read_bytes())
    assert (result.totals["update"], result.totals["skip"]) == (1, 3)
    zheng = Cadre.objects.get(name="郑海")
    assert (zheng.position, zheng.phone) == ("主任", "13800000103")
    assert Cadre.objects.get(name="吴婷").department.name == "社会救助科"


def test_a_status_column_may_say_on_duty_in_words(client, office, tmp_path):
    login(client, office.admin)
    rows = [dict(CADRES[3], active="离岗"), dict(CADRES[2], active="在岗")]
    import_through_admin(client, roster_csv(tmp_path / "r.csv", rows).read_bytes())
    assert Cadre.objects.get(name="冯丽").active is False
    assert Cadre.objects.get(name="郑海").active is True

    lines = messages_of(upload(client, roster_csv(tmp_path / "bad.csv", [dict(CADRES[3], active="请假")]).read_bytes()))
    assert "第 4 行【在岗】：在岗只能填“是”或“否”（现为“请假”）" in lines


# --------------------------------------------------------------------------- row numbers, all or nothing


def test_bad_rows_are_named_by_their_excel_numbers_and_nothing_is_written(client, office, tmp_path):
    login(client, office.admin)
    before = snapshot()
    rows = [dict(r) for r in CADRES]
    rows[1]["scope"] = rows[2]["scope"] = "湖田社区/第9网格"  # the merged cell over rows 5 and 6
    rows[3]["phone"] = "12345"
    content = roster_xls(tmp_path / "r.xls", rows, gap=3).read_bytes()  # row 7 blank: 冯丽 on row 8

    response = upload(client, content, name="r.xls")

    assert response.context.get("confirm_form") is None
    lines = messages_of(response)
    assert "发现 3 行有误，未导入任何数据" in lines
    assert "第 5 行【工作范围】：找不到工作范围“湖田社区/第9网格”" in lines
    assert "第 6 行【工作范围】：找不到工作范围“湖田社区/第9网格”" in lines
    assert "第 8 行【联系电话】" in lines
    assert "第 4 行" not in lines and "第 7 行" not in lines  # 周明's row is good, row 7 blank
    assert [r.number for r in response.context["result"].invalid_rows] == [5, 6, 8]
    assert snapshot() == before

    # The resource on its own (a shell, a command): the same numbers, the good row not written either.
    result = CadreResource(user=office.admin).import_data(read_sheet(content, "roster"), dry_run=False)
    assert result.has_validation_errors()
    assert [r.number for r in result.invalid_rows] == [5, 6, 8]
    assert snapshot() == before


def test_duplicates_are_named_by_their_excel_numbers(client, office, tmp_path):
    login(client, office.admin)
    rows = [CADRES[3], CADRES[2], CADRES[3]]
    lines = messages_of(upload(client, roster_csv(tmp_path / "r.csv", rows).read_bytes(), name="r.csv"))
    assert "第 6 行【姓名】：与第 4 行是同一工作范围内的同名干部" in lines


# --------------------------------------------------------------------------- names the office uses


def test_a_stored_common_name_makes_an_unknown_column_import(client, office, tmp_path):
    login(client, office.admin)
    headers = dict(OFFICE_HEADERS, name="包干人员")
    content = roster_csv(tmp_path / "r.csv", CADRES, headers).read_bytes()

    errors = upload(client, content, name="r.csv").context["form"].errors["import_file"]
    assert "第 3 行最像表头，但缺少必填的列：姓名（可写作：姓名、干部姓名" in errors[0]
    assert "无法识别的列：A 列“序号”、B 列“包干人员”" in errors[0]
    assert "表头对照" in errors[0] and "在导入时指定" not in errors[0]

    # A street's own name does not apply to the staff lists: only the names for all streets do.
    ColumnAlias.objects.create(table="roster", street=office.street, header="包干人员", field="name")
    assert "B 列“包干人员”" in upload(client, content, name="r.csv").context["form"].errors["import_file"][0]
    assert not Cadre.objects.filter(name__in=expected(office)).exists()

    ColumnAlias.objects.create(table="roster", street=None, header="包干人员", field="name")
    result = import_through_admin(client, content)
    assert result.totals["new"] == 4
    assert imported(expected(office)) == expected(office)


def test_a_missing_column_is_named_with_the_header_row_and_the_columns(client, office):
    login(client, office.admin)
    content = xlsx(
        [
            ["湖田街道干部名单"],
            ["序号", "姓名", "级别", "工作范围"],
            [1, "甲", "网格员", "湖田社区/第1网格"],
        ]
    )
    errors = upload(client, content).context["form"].errors["import_file"]
    assert "第 2 行最像表头，但缺少必填的列：层级（可写作：层级、干部层级、类别" in errors[0]
    assert "无法识别的列：A 列“序号”、C 列“级别”" in errors[0]

    content = xlsx([["湖田街道干部名单"], ["姓名", "干部姓名", "层级", "工作范围"], ["甲", "甲", 6, "湖田社区"]])
    errors = upload(client, content).context["form"].errors["import_file"]
    assert "第 2 行表头中 A 列“姓名”和 B 列“干部姓名”都对应“姓名”" in errors[0]
    assert not Cadre.objects.filter(name="甲").exists()


def test_a_leaders_blank_scope_is_the_street_only_when_it_is_one_street(client, office, tmp_path):
    login(client, office.admin)
    rows = [dict(CADRES[3], scope="")]  # a grid worker: no scope is no scope
    lines = messages_of(upload(client, roster_csv(tmp_path / "r.csv", rows).read_bytes(), name="r.csv"))
    assert "第 4 行【工作范围】：工作范围不能为空" in lines

    Node.objects.create(kind=NodeKind.STREET, name="八大峡街道")
    root = User.objects.create_superuser("root", password="x")
    login(client, root)  # sees two streets: which one a blank means is not known
    lines = messages_of(upload(client, roster_csv(tmp_path / "r.csv", CADRES[:1]).read_bytes(), name="r.csv"))
    assert "第 4 行【工作范围】：工作范围不能为空" in lines
    assert not Cadre.objects.filter(name="周明").exists()


# --------------------------------------------------------------------------- files refused


def test_password_junk_and_empty_files_are_refused_at_the_upload_field(client, office):
    login(client, office.admin)
    before = snapshot()
    cases = [
        ("password.xlsx", (CORPUS / "password.xlsx").read_bytes(), "文件设置了密码"),
        ("password.xls", (CORPUS / "password.xls").read_bytes(), "文件设置了密码"),
        ("r.csv", bytes(range(256)) * 8, "文件无法识别：只接受 Excel 工作簿（.xlsx、.xls）或 CSV 文本文件（.csv）"),
        ("r.xlsx", xlsx([["姓名", "层级", "工作范围"]]), "第 1 行是表头，但它下面没有任何数据行"),
        ("r.docx", xlsx([["姓名", "层级", "工作范围"]]), "请上传 Excel 工作簿（.xlsx、.xls）或 CSV 文本文件（.csv）"),
    ]
    for name, content, message in cases:
        response = upload(client, content, name=name)
        assert response.status_code == 200
        errors = response.context["form"].errors["import_file"]
        assert message in errors[0], (name, errors)
        assert response.context.get("confirm_form") is None
    assert snapshot() == before


def test_the_bounds_apply_to_every_format(office, tmp_path, monkeypatch):
    content = roster_csv(tmp_path / "r.csv").read_bytes()
    monkeypatch.setattr(reading, "MAX_ROWS", 3)
    with pytest.raises(SheetFileError, match="数据超过 3 行的上限"):
        read_sheet(content, "roster")
    with pytest.raises(SheetFileError, match="数据超过 3 行的上限"):
        read_sheet(roster_xls(tmp_path / "r.xls").read_bytes(), "roster")
    monkeypatch.setattr(reading, "MAX_ROWS", 4)
    assert len(read_sheet(content, "roster")) == 4

    monkeypatch.setattr(reading, "MAX_UPLOAD_MB", 0)
    with pytest.raises(SheetFileError, match="超过了 0 MB 的上限"):
        read_sheet(content, "roster")

    monkeypatch.setattr(reading, "MAX_UPLOAD_MB", 5)
    monkeypatch.setattr(reading, "MAX_COLUMNS", 3)  # 姓名 in B and 层级 in D: 层级 is past the columns read
    with pytest.raises(SheetFileError, match="缺少必填的列：层级"):
        read_sheet(content, "roster")


# --------------------------------------------------------------------------- 责任单位, the CSV export


def test_departments_import_from_a_gbk_csv_under_other_names(client, world):
    login(client, world.admin)
    text = "责任单位名单,,,\r\n序号,单位名称,级别,联系人,电话\r\n1,区民政局,区直,张局长,0532-82345678\r\n2,市住建局,市直,,\r\n"

    result = import_through_admin(client, text.encode("gbk"), model="department")

    assert (result.totals["new"], result.totals["update"]) == (1, 1)
    dept = Department.objects.get(name="区民政局")
    assert (dept.pk, dept.level, dept.head_name, dept.phone) == (world.dept.pk, "district", "张局长", "0532-82345678")
    assert Department.objects.get(name="市住建局").level == "city"


def test_the_csv_export_imports_back_unchanged(client, world):
    login(client, world.admin)
    Cadre.objects.create(name='=HYPERLINK("http://x","点我")', tier=Tier.GRID_WORKER, scope=world.grid_a, position="-1")
    before = snapshot()

    content = export(client, "cadre", fmt=1).content
    assert content.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, as Excel reads it

    result = import_through_admin(client, content)
    assert result.totals["skip"] == Cadre.objects.count()
    assert result.totals["new"] == result.totals["update"] == 0
    assert snapshot() == before


# --------------------------------------------------------------------------- the guard and the child


def macro_xlsx() -> bytes:
    """A workbook carrying a VBA project (an .xlsm saved as .xlsx)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx([["姓名", "层级", "工作范围"], ["甲", 6, "湖田社区"]]))) as source:
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
            for item in source.infolist():
                target.writestr(item, source.read(item.filename))
            target.writestr("xl/vbaProject.bin", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504)
    return out.getvalue()


def far_cell_xlsx() -> bytes:
    """A sheet whose one cell sits at XFD1048576: python-calamine asks for 549 GB to read it."""
    wb = Workbook()
    ws = wb.active
    ws.append(["姓名", "层级", "工作范围"])
    ws.cell(row=1_048_576, column=16_384, value=1)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_the_guard_refuses_an_xlsx_before_any_parser_sees_it(client, office, monkeypatch):
    def untouchable(*args, **kwargs):
        raise AssertionError("a parser was called on a refused file")

    monkeypatch.setattr("core.tables.run_limited", untouchable)
    login(client, office.admin)
    for content, message in [(macro_xlsx(), "含有宏"), (far_cell_xlsx(), "1048576")]:
        errors = upload(client, content).context["form"].errors["import_file"]
        assert message in errors[0], errors
        with pytest.raises(SheetFileError, match=message):
            read_sheet(content, "roster")  # the confirmation's reader runs the guard itself


def test_a_file_the_guard_missed_costs_only_the_child(office, settings, monkeypatch):
    settings.IMPORT_PARSE_MEMORY_MB = 512
    settings.IMPORT_PARSE_CPU_SECONDS = 10
    monkeypatch.setattr(reading, "check_upload", lambda data: "xlsx")
    started = time.perf_counter()
    with pytest.raises(SheetFileError, match="^文件无法读取：读取时所需内存超过了 512 MB 的上限"):
        read_sheet(far_cell_xlsx(), "roster")
    assert time.perf_counter() - started < 15


def test_a_parser_crash_is_a_message_at_the_upload_field(client, office, monkeypatch):
    from core.tests import sandbox_targets

    monkeypatch.setattr("core.tables.read_file", sandbox_targets.abort)
    login(client, office.admin)
    response = upload(client, (CORPUS / "roster-aliases.xlsx").read_bytes())
    assert response.status_code == 200
    assert "文件无法读取：读取程序异常退出（SIGABRT）" in response.context["form"].errors["import_file"][0]
    assert not Cadre.objects.filter(name__in=expected(office)).exists()
