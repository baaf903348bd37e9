"""The office's own spreadsheets import as they are (core/tests/corpus): title rows, other column
names and orders, merged cells, one row per person, .xls and .csv — to the same households and
members, all or nothing, with row errors as for the template."""

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from openpyxl import Workbook

from households.column_aliases import header_mapping
from households.models import ColumnAlias, Household, Member, Street
from households.register import import_register

CORPUS = Path(__file__).resolve().parents[2] / "core" / "tests" / "corpus"

# The households of the corpus (its README): head → (community, grid, building, unit, room, ID, phone, size).
HOUSEHOLDS = {
    "张建国": ("湖田社区", "第1网格", "3号楼", "2单元", "501", "370102195603129917", "13800000001", 3),
    "李秀英": ("湖田社区", "第1网格", "3号楼", "2单元", "502", "370102194807059928", "13800000002", 1),
    "王志强": ("湖田社区", "第2网格", "18号楼", "1单元", "1204", "370102197809219933", "13800000003", 4),
    "刘芳": ("湖田社区", "第2网格", "18号楼", "1单元", "1205", "370102198502149947", "0532-82345678", 2),
    "陈德明": ("青山社区", "第1网格", "5号楼", "", "302", "370102196208309955", "13800000005", 2),
    "周玉兰": ("青山社区", "第1网格", "5号楼", "", "401", "370102195904179969", "13800000006", 2),
    "赵长生": ("青山社区", "第2网格", "", "", "张家村3组15号", "37010219510101997X", "13800000007", 5),
    "孙桂芝": ("青山社区", "第2网格", "", "", "张家村3组16号", "370102195809239986", "13800000008", 3),
}

# missing-columns.xlsx has no 楼栋, 单元 and 联系电话 columns.
NO_BUILDING = ("湖田社区", "第1网格", "", "", "501", "370102195603129917", "", 3)

FILES = {
    "template-like.xlsx": ["张建国", "李秀英", "王志强", "刘芳", "陈德明"],
    "title-row.xlsx": ["张建国", "李秀英", "王志强"],
    "serial-reordered.xlsx": ["张建国", "李秀英", "王志强", "陈德明"],
    "aliases.xlsx": ["陈德明", "周玉兰", "赵长生"],
    "merged-community.xlsx": ["张建国", "李秀英", "王志强", "刘芳", "陈德明", "周玉兰"],
    "register.xls": ["张建国", "李秀英", "王志强"],
    "combo.xls": ["陈德明", "周玉兰", "赵长生", "孙桂芝"],
    "offset.xlsx": ["张建国", "李秀英", "王志强"],
    "offset.xls": ["张建国", "李秀英", "王志强"],
    "register-gbk.csv": ["张建国", "李秀英", "王志强"],
    "register-utf8-bom.csv": ["陈德明", "周玉兰", "赵长生"],
    "register-utf8.csv": ["王志强", "刘芳", "陈德明"],
}


@pytest.fixture
def street(db):
    return Street.objects.create(name="湖田街道")


def households_of(street):
    return {
        h.head_name: (
            h.community.name,
            h.grid.name,
            h.building.name if h.building else "",
            h.unit,
            h.room,
            h.id_number,
            h.phone,
            h.size,
        )
        for h in Household.objects.filter(street=street).select_related("community", "grid", "building")
    }


@pytest.mark.django_db
@pytest.mark.parametrize("name", FILES)
def test_each_kind_of_office_file_imports_to_the_expected_households(street, name):
    report = import_register(street=street, source=CORPUS / name)
    assert report.ok, report.summary()
    assert households_of(street) == {head: HOUSEHOLDS[head] for head in FILES[name]}
    # importing it again changes nothing
    again = import_register(street=street, source=CORPUS / name)
    assert (again.created, again.updated, again.unchanged) == (0, 0, len(FILES[name]))


@pytest.mark.django_db
def test_what_was_found_is_reported_for_the_preview(street):
    report = import_register(street=street, source=CORPUS / "combo.xls", dry_run=True)
    found = report.found
    assert (found["format"], found["sheet_name"], found["header_row"], found["layout"]) == (
        "xls",
        "Sheet1",
        4,
        "household",
    )
    assert found["ignored"] == ["序号"]
    columns = {header: key for _letter, header, key, _label in found["columns"]}
    assert columns["序号"] == "" and columns["户主"] == "head_name" and columns["人口数"] == "size"
    assert not Household.objects.exists()


@pytest.mark.django_db
def test_one_row_per_person_groups_into_households_with_members(street):
    report = import_register(street=street, source=CORPUS / "persons.xlsx")
    assert report.ok, report.summary()
    assert report.found["layout"] == "person"
    assert households_of(street) == {head: HOUSEHOLDS[head] for head in ("张建国", "李秀英", "王志强")}
    members = {
        h.head_name: sorted((m.name, m.relation, m.id_number, m.birth_year) for m in h.members.all())
        for h in Household.objects.filter(street=street)
    }
    assert members == {
        "张建国": [("张伟", "子女", "370102198301159719", 1983), ("王桂兰", "配偶", "370102195806209829", 1958)],
        "李秀英": [],
        "王志强": [
            ("王子涵", "子女", "370102201209089521", 2012),
            ("王德福", "父母", "370102195002279418", 1950),
            ("赵敏", "配偶", "370102198004039622", 1980),
        ],
    }
    assert report.members_written == 5
    # the same file again: nothing changes, no member twice
    again = import_register(street=street, source=CORPUS / "persons.xlsx")
    assert (again.created, again.updated, again.unchanged, again.members_written) == (0, 0, 3, 0)
    assert Member.objects.count() == 5


@pytest.mark.django_db
def test_an_address_in_one_column_is_split_and_a_grid_list_takes_its_community_and_grid(street):
    source = CORPUS / "persons-address.xlsx"
    refused = import_register(street=street, source=source)
    assert "缺少列：社区" in refused.errors[0].message and "填写所属社区和网格" in refused.errors[0].message
    report = import_register(street=street, source=source, defaults={"community": "湖田社区", "grid": "第1网格"})
    assert report.ok, report.summary()
    assert report.found["address_split"]
    places = {
        h.head_name: (h.building.name if h.building else "", h.unit, h.room, h.size)
        for h in Household.objects.filter(street=street).select_related("building")
    }
    assert places == {
        "张建国": ("幸福小区3号楼", "2单元", "501", 3),
        "王志强": ("18栋", "1单元", "1204", 2),
        "赵长生": ("张家村3组", "", "15号", 2),
        "陈德明": ("5号楼", "2单元", "302", 1),
        "李秀英": ("3号楼", "2单元", "502", 1),
    }


def persons_file(path, rows, headers=("社区", "网格", "楼栋", "门牌号", "姓名", "与户主关系", "身份证号")):
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "人口底册"
    sheet.append(["湖田街道人口底册"])
    sheet.append(list(headers))
    for row in rows:
        sheet.append(list(row))
    workbook.save(path)
    return path


PLACE = ("湖田社区", "第1网格", "3号楼")


@pytest.mark.django_db
def test_a_household_without_a_head_or_with_two_is_an_error_naming_its_rows(street, tmp_path):
    path = persons_file(
        tmp_path / "p.xlsx",
        [
            (*PLACE, "501", "张建国", "户主", "370102195603129917"),
            (*PLACE, "501", "王桂兰", "户主", "370102195806209829"),
            (*PLACE, "502", "张伟", "子女", "370102198301159719"),
            (*PLACE, "503", "李秀英", "户主", "370102194807059928"),
        ],
    )
    report = import_register(street=street, source=path)
    messages = [str(e) for e in report.errors]
    assert (
        "第 4 行【与户主关系】：第 3、4 行是地址“湖田社区第1网格3号楼501”同一户的2位户主，同一户只能有一位户主"
        in messages
    )
    assert (
        "第 5 行【与户主关系】：地址“湖田社区第1网格3号楼502”的一户（第 5 行）没有与户主关系为“户主”的人，请标明户主"
        in messages
    )
    assert report.bad_rows == 2 and not Household.objects.exists()  # all or nothing


@pytest.mark.django_db
def test_a_bad_member_stops_the_whole_import_and_is_named_by_its_own_row(street, tmp_path):
    path = persons_file(
        tmp_path / "p.xlsx",
        [
            (*PLACE, "501", "张建国", "户主", "370102195603129917"),
            (*PLACE, "501", "王桂兰", "配偶", "370102195806209820"),
            (*PLACE, "503", "李秀英", "户主", "370102194807059928"),
        ],
    )
    report = import_register(street=street, source=path)
    (error,) = report.errors
    assert (error.row, error.column) == (4, "身份证号") and "校验码" in error.message
    assert not Household.objects.exists() and not Member.objects.exists()


@pytest.mark.django_db
def test_several_matching_sheets_ask_which_and_a_chosen_sheet_imports(street):
    source = CORPUS / "two-sheets.xlsx"
    report = import_register(street=street, source=source)
    assert report.sheet_choices == ["湖田社区", "青山社区"] and "请选择要导入的工作表" in report.errors[0].message
    chosen = import_register(street=street, source=source, sheet="青山社区")
    assert chosen.ok and set(households_of(street)) == {"陈德明", "周玉兰"}


@pytest.mark.django_db
def test_a_column_mapping_imports_unknown_names_and_is_remembered_for_the_street(street):
    source = CORPUS / "missing-columns.xlsx"
    refused = import_register(street=street, source=source)
    assert not refused.ok and "证件号码" not in refused.errors[0].message.split("无法识别的列")[0]
    assert {c[1] for c in refused.found["columns"]} >= {"房间", "证件号码"}

    mapping = {"房间": "room", "证件号码": "id_number", "备注2": ""}
    from households.column_aliases import remember_mapping

    report = import_register(street=street, source=source, mapping=mapping)
    assert report.ok, report.summary()
    assert households_of(street) == {"张建国": NO_BUILDING}

    remember_mapping("register", street, mapping)
    assert header_mapping("register", street) == {"房间": "room", "证件号码": "id_number", "备注2": ""}
    assert import_register(street=street, source=source).ok  # the next file of the street: no mapping needed
    other = Street.objects.create(name="青山街道")
    assert not import_register(street=other, source=source).ok  # another street's names are its own


@pytest.mark.django_db
def test_the_command_takes_the_same_mapping_and_defaults(street, capsys):
    call_command(
        "import_households",
        str(CORPUS / "missing-columns.xlsx"),
        "--street",
        "湖田街道",
        "--map",
        "房间=room",
        "--map",
        "证件号码=id_number",
    )
    assert "新增 1 户" in capsys.readouterr().out
    call_command(
        "import_households",
        str(CORPUS / "persons-address.xlsx"),
        "--street",
        "湖田街道",
        "--community",
        "湖田社区",
        "--grid",
        "第1网格",
    )
    assert Household.objects.filter(street=street).count() == 6


@pytest.mark.django_db
def test_the_admin_maps_the_columns_checks_again_and_imports(client, street, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    client.force_login(User.objects.create_superuser("boss", password="x"))
    content = (CORPUS / "missing-columns.xlsx").read_bytes()
    preview = client.post(
        reverse("admin:households_household_import"),
        {"street": street.pk, "file": SimpleUploadedFile("本社区底册.xlsx", content)},
    )
    html = preview.content.decode()
    assert "文件识别结果" in html and "表头所在行" in html and "按此重新检查" in html and "确认导入" not in html
    pending = client.session["households_register_import"]
    columns = preview.context["found"]["columns"]
    posted = {"token": pending["token"], "remember": "1"}
    wanted = {"房间": "room", "证件号码": "id_number"}
    for index, (_letter, header, key, _label) in enumerate(columns):
        posted[f"header-{index}"] = header
        posted[f"field-{index}"] = wanted.get(header, key)
    checked = client.post(reverse("admin:households_household_import_columns"), posted)
    html = checked.content.decode()
    assert checked.context["report"].ok, checked.context["report"].summary()
    assert "确认导入" in html and "第 2 行" in html
    assert ColumnAlias.objects.filter(street=street, table="register").count() == len(columns)
    done = client.post(
        reverse("admin:households_household_import_confirm"),
        {"token": client.session["households_register_import"]["token"]},
    )
    assert done.status_code == 302
    assert households_of(street) == {"张建国": NO_BUILDING}


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["password.xlsx", "password.xls"])
def test_a_password_protected_file_says_so(street, name):
    (error,) = import_register(street=street, source=CORPUS / name).errors
    assert error.message == "文件设置了密码，请在 Excel/WPS 中取消密码后再上传"
