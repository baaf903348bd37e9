"""core.addresses.split_address: the forms offices write a one-column address in, and the ones it
must not guess at."""

from pathlib import Path

import pytest

from core.addresses import split_address
from core.tables import Field, read_table

CORPUS = Path(__file__).resolve().parent / "corpus"


def parts(building=None, unit=None, room=None, compound=None, village=None, group=None):
    found = {"compound": compound, "village": village, "group": group, "building": building, "unit": unit, "room": room}
    return {key: value for key, value in found.items() if value is not None}


SPLITS = [
    # building, unit, room
    ("3号楼2单元501", parts("3号楼", "2单元", "501")),
    ("3号楼2单元501室", parts("3号楼", "2单元", "501")),
    ("3号楼2单元501号", parts("3号楼", "2单元", "501")),
    ("18栋1单元1204室", parts("18栋", "1单元", "1204")),
    ("18幢2单元301户", parts("18幢", "2单元", "301")),
    ("A座1单元1201", parts("A座", "1单元", "1201")),
    ("b栋3单元602", parts("B栋", "3单元", "602")),
    ("3号楼 2单元 501室", parts("3号楼", "2单元", "501")),
    ("3号楼第2单元501", parts("3号楼", "2单元", "501")),
    ("3号楼2单元B302", parts("3号楼", "2单元", "B302")),
    ("12号楼3单元0501", parts("12号楼", "3单元", "0501")),
    # building marks written otherwise
    ("3#楼2单元501", parts("3号楼", "2单元", "501")),
    ("3#2单元501", parts("3号楼", "2单元", "501")),
    ("3号2单元501", parts("3号楼", "2单元", "501")),
    ("3号栋2单元501", parts("3号栋", "2单元", "501")),
    # Chinese numerals and full-width forms
    ("三号楼二单元501", parts("3号楼", "2单元", "501")),
    ("十二号楼二十三单元1101", parts("12号楼", "23单元", "1101")),
    ("十号楼两单元101", parts("10号楼", "2单元", "101")),
    ("３号楼２单元５０１", parts("3号楼", "2单元", "501")),
    ("１８栋１单元１２０４室", parts("18栋", "1单元", "1204")),
    ("Ａ座１单元１２０１", parts("A座", "1单元", "1201")),
    # building and room, unit and room
    ("5号楼302", parts("5号楼", room="302")),
    ("5栋302室", parts("5栋", room="302")),
    ("2单元501", parts(unit="2单元", room="501")),
    ("第3单元501", parts(unit="3单元", room="501")),
    # building-unit-room with dashes
    ("3-2-501", parts("3号楼", "2单元", "501")),
    ("3－2－501", parts("3号楼", "2单元", "501")),
    ("3—2—501", parts("3号楼", "2单元", "501")),
    ("18-1-1204室", parts("18号楼", "1单元", "1204")),
    ("3栋-2-501", parts("3栋", "2单元", "501")),
    ("3#-2-501", parts("3号楼", "2单元", "501")),
    ("3-2单元-501", parts("3号楼", "2单元", "501")),
    ("3号楼2-501", parts("3号楼", "2单元", "501")),
    # a compound (or other place) before the building
    ("幸福小区3号楼2单元501", parts("3号楼", "2单元", "501", compound="幸福小区")),
    ("幸福小区13号楼2单元501", parts("13号楼", "2单元", "501", compound="幸福小区")),
    ("幸福小区 3号楼 2单元 501", parts("3号楼", "2单元", "501", compound="幸福小区")),
    ("幸福小区3-2-501", parts("3号楼", "2单元", "501", compound="幸福小区")),
    ("阳光花园18栋1单元1204室", parts("18栋", "1单元", "1204", compound="阳光花园")),
    ("金色家园二期12号楼3单元1602", parts("12号楼", "3单元", "1602", compound="金色家园二期")),
    ("万科城3期5栋2单元801", parts("5栋", "2单元", "801", compound="万科城3期")),
    ("湖田新村5号楼201", parts("5号楼", room="201", compound="湖田新村")),
    ("人民路18号3号楼2单元501", parts("3号楼", "2单元", "501", compound="人民路18号")),
    ("2号院3号楼1单元101", parts("3号楼", "1单元", "101", compound="2号院")),
    ("幸福小区三号楼二单元501", parts("3号楼", "2单元", "501", compound="幸福小区")),
    # villages
    ("张家村3组15号", parts(village="张家村", group="3组", room="15号")),
    ("张家村三组15号", parts(village="张家村", group="3组", room="15号")),
    ("张家村第3组15号", parts(village="张家村", group="3组", room="15号")),
    ("李家庄第2村民小组8号", parts(village="李家庄", group="2组", room="8号")),
    ("李家庄二小组8号", parts(village="李家庄", group="2组", room="8号")),
    ("王家屯5队12号", parts(village="王家屯", group="5队", room="12号")),
    ("石门寨十一组3号", parts(village="石门寨", group="11组", room="3号")),
    ("张家村3组15", parts(village="张家村", group="3组", room="15")),
    ("张家村3组", parts(village="张家村", group="3组")),
    ("张家村15号", parts(village="张家村", room="15号")),
    ("张家村15-1号", parts(village="张家村", room="15-1号")),
    ("张家村３组１５号", parts(village="张家村", group="3组", room="15号")),
]


@pytest.mark.parametrize(("text", "expected"), SPLITS, ids=[text for text, _ in SPLITS])
def test_it_splits(text, expected):
    assert split_address(text) == expected


UNSURE = [
    "",
    "   ",
    "3号楼",  # no room
    "3号楼2单元",
    "幸福小区",
    "张家村",
    "人民路18号",  # a road address: no building
    "湖田社区302",  # a room without building or unit
    "501",
    "5-302",  # building-room or unit-room?
    "3-2-501-1",
    "3号楼2单元5层501",  # a floor
    "3楼501",  # the 3rd floor, or building 3?
    "3号楼2单元501附1",
    "3号楼2单元五零一",
    "幸福小区3号楼2单元",
    "3号楼2单元501号楼",
    "一百号楼1单元101",  # numerals past 99
    "某某小区3号楼2单元501号4号楼1单元101",
]


@pytest.mark.parametrize("text", UNSURE)
def test_it_does_not_guess(text):
    assert split_address(text) is None


@pytest.mark.parametrize("value", [None, 501, 501.0, b"3-2-501", ["3号楼2单元501"]])
def test_only_text_is_split(value):
    assert split_address(value) is None


def test_every_address_of_the_persons_corpus_file_splits():
    fields = (Field("name", "姓名", required=True), Field("address", "住址", required=True))
    table = read_table(CORPUS / "persons-address.xlsx", fields)
    found = {d["address"]: split_address(d["address"]) for _n, d in table.dicts()}
    assert found == {
        "幸福小区3号楼2单元501": parts("3号楼", "2单元", "501", compound="幸福小区"),
        "18栋1单元1204室": parts("18栋", "1单元", "1204"),
        "张家村3组15号": parts(village="张家村", group="3组", room="15号"),
        "5-2-302": parts("5号楼", "2单元", "302"),
        "３号楼２单元５０２": parts("3号楼", "2单元", "502"),
    }
