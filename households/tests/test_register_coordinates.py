"""The register's optional 经度 / 纬度 columns: the place of each household's building (民情地图)."""

from decimal import Decimal

import pytest

from households.models import Household, Node, NodeKind, Street
from households.register import HEADERS, import_register

from .xlsx import SAMPLE, register_row, write_register_file

pytestmark = pytest.mark.django_db

LOCATED = (*HEADERS, "经度", "纬度")


@pytest.fixture
def street():
    return Street.objects.create(name="湖田街道")


def located_row(n, building, longitude="", latitude="", **values):
    row = register_row(n, building=building, **values)
    row["经度"], row["纬度"] = longitude, latitude
    return row


def place_of(street, name):
    node = Node.objects.get(path__startswith=street.path + ".", kind=NodeKind.BUILDING, name=name)
    return node.longitude, node.latitude


def test_coordinates_land_on_the_buildings(street, tmp_path):
    path = write_register_file(
        tmp_path / "located.xlsx",
        [
            located_row(1, "1号楼", "116.397128", "39.916527"),
            located_row(2, "1号楼", "", ""),  # blank: says nothing
            located_row(3, "1号楼", 116.3971281, 39.9165269),  # a number cell, within rounding
            located_row(4, "2号楼", "１１６．３９７５", "３９．９１７０"),  # full-width, as some offices type
            located_row(5, "3号楼"),  # no place
        ],
        headers=LOCATED,
    )

    report = import_register(street=street, source=path)

    assert report.ok, report.summary()
    assert report.buildings_located == 2
    assert report.summary().endswith("；写入楼栋经纬度 2 个")
    assert place_of(street, "1号楼") == (Decimal("116.397128"), Decimal("39.916527"))
    assert place_of(street, "2号楼") == (Decimal("116.397500"), Decimal("39.917000"))
    assert place_of(street, "3号楼") == (None, None)
    assert Household.objects.filter(street=street).count() == 5


def test_the_names_offices_give_the_columns(street, tmp_path):
    headers = (*HEADERS, "LNG", "北纬")
    row = register_row(1, building="5号楼")
    row.update({"LNG": "116.4", "北纬": "39.91°"})
    path = write_register_file(tmp_path / "aliases.xlsx", [row], headers=headers)

    report = import_register(street=street, source=path)

    assert report.ok, report.summary()
    assert place_of(street, "5号楼") == (Decimal("116.4"), Decimal("39.91"))


def test_two_places_for_one_building_name_both_rows(street, tmp_path):
    path = write_register_file(
        tmp_path / "conflict.xlsx",
        [
            located_row(1, "1号楼", "116.397128", "39.916527"),
            located_row(2, "2号楼", "116.3980", "39.9170"),
            located_row(3, "1号楼", "116.397128", "39.916700"),
        ],
        headers=LOCATED,
    )

    report = import_register(street=street, source=path)

    assert not report.ok
    [error] = report.errors
    assert (error.row, error.column) == (4, "纬度")
    assert "与第 2 行同属楼栋“1号楼”" in error.message
    assert "第 2 行 116.397128, 39.916527，第 4 行 116.397128, 39.9167" in error.message
    assert not Household.objects.filter(street=street).exists()
    assert not Node.objects.filter(kind=NodeKind.BUILDING).exists()


@pytest.mark.parametrize(
    ("longitude", "latitude", "column", "reason"),
    [
        ("16.397128", "39.916527", "经度", "经度应在 73～136 度之间（中国境内），现为 16.397128"),
        ("116.397128", "89.5", "纬度", "纬度应在 3～54 度之间（中国境内），现为 89.5"),
        ("39.916527", "116.397128", "经度", "可能填反了"),
        ("116°23′50″", "39.916527", "经度", "经度应为十进制度数，如 116.397128，现为“116°23′50″”"),
        ("116.397128", "", "纬度", "填写了经度就须同时填写纬度"),
    ],
)
def test_a_wrong_place_is_an_error_of_its_row_and_column(street, tmp_path, longitude, latitude, column, reason):
    path = write_register_file(
        tmp_path / "wrong.xlsx",
        [located_row(1, "1号楼"), located_row(2, "2号楼", longitude, latitude)],
        headers=LOCATED,
    )

    report = import_register(street=street, source=path)

    assert not report.ok
    assert [(e.row, e.column) for e in report.errors][0] == (3, column)
    assert reason in report.errors[0].message
    assert f"第 3 行【{column}】" in report.summary()
    assert not Household.objects.filter(street=street).exists()


def test_a_reimport_without_the_columns_keeps_the_places(street, tmp_path):
    located = write_register_file(
        tmp_path / "located.xlsx",
        [located_row(1, "1号楼", "116.397128", "39.916527"), located_row(2, "2号楼", "116.3975", "39.917")],
        headers=LOCATED,
    )
    assert import_register(street=street, source=located).ok

    plain = write_register_file(
        tmp_path / "plain.xlsx", [register_row(1, building="1号楼"), register_row(2, building="2号楼")]
    )
    report = import_register(street=street, source=plain)
    assert report.ok and report.buildings_located == 0
    blank = write_register_file(
        tmp_path / "blank.xlsx", [located_row(1, "1号楼"), located_row(2, "2号楼")], headers=LOCATED
    )
    assert import_register(street=street, source=blank).ok

    assert place_of(street, "1号楼") == (Decimal("116.397128"), Decimal("39.916527"))
    assert place_of(street, "2号楼") == (Decimal("116.3975"), Decimal("39.917"))


def test_a_new_place_moves_the_building_and_its_version(street, tmp_path):
    first = write_register_file(
        tmp_path / "first.xlsx", [located_row(1, "1号楼", "116.397128", "39.916527")], headers=LOCATED
    )
    import_register(street=street, source=first)
    node = Node.objects.get(kind=NodeKind.BUILDING, name="1号楼")
    moved = write_register_file(
        tmp_path / "moved.xlsx", [located_row(1, "1号楼", "116.398", "39.9161")], headers=LOCATED
    )

    assert import_register(street=street, source=moved, dry_run=True).buildings_located == 1
    assert place_of(street, "1号楼") == (Decimal("116.397128"), Decimal("39.916527"))  # a trial writes nothing
    report = import_register(street=street, source=moved)

    assert report.ok and report.buildings_located == 1 and report.unchanged == 1
    assert place_of(street, "1号楼") == (Decimal("116.398"), Decimal("39.9161"))
    assert Node.objects.get(pk=node.pk).version == node.version + 1
    again = import_register(street=street, source=moved)
    assert again.buildings_located == 0 and "经纬度" not in again.summary()


def test_a_row_without_a_building_has_no_place_to_give(street, tmp_path):
    path = write_register_file(
        tmp_path / "bungalow.xlsx",
        [located_row(1, "", "116.397128", "39.916527"), located_row(2, "2号楼", "116.3975", "39.917")],
        headers=LOCATED,
    )

    report = import_register(street=street, source=path)

    assert report.ok, report.summary()
    assert "第 2 行没有楼栋，其经纬度未导入" in report.summary()
    assert report.buildings_located == 1
    assert Node.objects.filter(longitude__isnull=False).count() == 1


def test_person_rows_of_one_building_agree(street, tmp_path):
    headers = ("社区", "网格", "楼栋", "门牌号", "姓名", "与户主关系", "身份证号", "经度", "纬度")
    base = {"社区": "湖田社区", "网格": "第1网格", "楼栋": "1号楼", "门牌号": "101"}
    head = {**base, "姓名": "张三", "与户主关系": "户主", "身份证号": register_row(1)["身份证号"]}
    spouse = {**base, "姓名": "李四", "与户主关系": "配偶", "身份证号": register_row(2)["身份证号"]}
    path = write_register_file(
        tmp_path / "persons.xlsx",
        [{**head, "经度": "116.3971", "纬度": "39.9165"}, {**spouse, "经度": "116.5", "纬度": "39.9165"}],
        headers=headers,
    )

    report = import_register(street=street, source=path)

    assert not report.ok
    assert [(e.row, e.column) for e in report.errors] == [(3, "经度")]
    assert "与第 2 行同属楼栋“1号楼”" in report.errors[0].message


def test_the_sample_template_still_imports_without_places(street):
    report = import_register(street=street, source=SAMPLE)

    assert report.ok, report.summary()
    assert (report.created, report.buildings_located) == (40, 0)
    assert not Node.objects.filter(longitude__isnull=False).exists()
