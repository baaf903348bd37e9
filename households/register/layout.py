"""The layout of the register file: the one of shared/samples/households-template.xlsx.

A sheet 居民底册 with the columns of ``COLUMNS`` in that order, and a sheet 填写说明 that explains
them; the export writes both, the import reads the first.
"""

from dataclasses import dataclass

from core.tables import Field

SHEET_NAME = "居民底册"
INSTRUCTIONS_SHEET_NAME = "填写说明"

# Header → Household field, in the template's order.
COLUMNS = {
    "社区": "community",
    "网格": "grid",
    "楼栋": "building",
    "单元": "unit",
    "门牌号": "room",
    "户主姓名": "head_name",
    "身份证号": "id_number",
    "联系电话": "phone",
    "家庭人口": "size",
    "重点人群": "tags",
    "备注": "notes",
}
HEADERS = tuple(COLUMNS)
ADDRESS_HEADERS = HEADERS[:5]

# The 填写说明 sheet, row for row as in the template; the export writes it back unchanged.
INSTRUCTIONS = (
    ("列", "必填", "说明"),
    ("社区", "是", "社区/村居全称，如“湖田社区”；不存在时导入会在所选街道下新建"),
    ("网格", "是", "网格名称，如“第3网格”"),
    ("楼栋", "否", "如“18号楼”；平房/村居可留空"),
    ("单元", "否", "如“2单元”"),
    ("门牌号", "是", "房号或门牌，如“1204”；同一街道内 社区+网格+楼栋+单元+门牌号 唯一确定一户"),
    ("户主姓名", "是", ""),
    ("身份证号", "是", "18位居民身份证号（GB 11643），末位可为X，校验码必须正确"),
    ("联系电话", "否", "11位手机号或带区号的固定电话"),
    ("家庭人口", "是", "正整数"),
    (
        "重点人群",
        "否",
        "可多选，用“、”分隔：老党员、困难群众、低保户、孤寡老人、留守儿童、上访老户、残疾人、高龄老人、卧床病人、单亲儿童",
    ),
    ("备注", "否", ""),
)

# Between the focus groups of one 重点人群 cell.
TAG_SEPARATOR = "、"

# The export's column widths, in ``HEADERS`` order (the error file of an import uses them too).
COLUMN_WIDTHS = (14, 12, 10, 8, 10, 12, 22, 16, 10, 26, 30)

# The fields an office's own register is read into (core.tables): the template's columns under
# the names offices give them, and the columns of other layouts — one row per person (姓名 and
# 与户主关系, grouped into households by 户号 or by address), an address in one column (住址),
# the members' 健康状况 and 工作/就学, the building's 经度 / 纬度. households.column_aliases adds
# the names stored by street admins. "姓名" alone (without 与户主关系) is the head of the household.
FIELDS = (
    Field("community", "社区", ("村", "居委会", "村居", "社区名称", "所属社区", "社区(村)", "村(社区)", "社区/村", "村/社区",
                               "村委会", "行政村", "村居委会", "社区居委会")),
    Field("grid", "网格", ("所属网格", "网格名称", "网格号", "网格编号")),
    Field("building", "楼栋", ("楼号", "楼栋号", "楼座", "楼幢", "幢", "栋", "楼", "组", "村民小组", "小组", "自然村")),
    Field("unit", "单元", ("单元号",)),
    Field("room", "门牌号", ("房号", "室号", "房间号", "门牌", "户室号", "门号", "房屋号")),
    Field("head_name", "户主姓名", ("户主", "户主名")),
    Field("id_number", "身份证号", ("身份证号码", "公民身份号码", "证件号码", "身份证", "证件号", "公民身份证号"),
          required=True),
    Field("phone", "联系电话", ("手机号", "电话", "联系方式", "手机", "手机号码", "电话号码", "联系手机")),
    Field("size", "家庭人口", ("人口数", "家庭人数", "户人口数", "家庭人口数", "人数", "户内人数")),
    Field("tags", "重点人群", ("人员类别", "重点人员类别", "人群类别", "重点人群类别")),
    Field("notes", "备注", ("说明",)),
    Field("name", "姓名", ("居民姓名", "成员姓名", "人员姓名")),
    Field("relation", "与户主关系", ("关系", "家庭关系", "与户主的关系", "户内关系")),
    Field("household_no", "户号", ("户编号", "户籍编号", "家庭编号")),
    Field("address", "住址", ("地址", "家庭住址", "现住址", "居住地址", "详细地址", "现居住地址", "住所")),
    Field("health", "健康状况", ("身体状况",)),
    Field("work", "工作/就学", ("工作单位", "就学", "职业", "工作单位或学校", "工作或就学")),
    Field("longitude", "经度", ("东经", "经度坐标", "楼栋经度", "lng", "lon", "longitude")),
    Field("latitude", "纬度", ("北纬", "纬度坐标", "楼栋纬度", "lat", "latitude")),
)  # fmt: skip
# The building's place (WGS-84 decimal degrees, 民情地图): optional columns of an office's own
# file, not of the template; the rows of one 楼栋 that give them agree (rules.clean_coordinates).
COORDINATE_KEYS = ("longitude", "latitude")
# Column header (of the template) → field key, the reverse of ``COLUMNS``' values.
TEMPLATE_KEYS = tuple(COLUMNS.values())
# What 与户主关系 says of the head of the household.
HEAD_RELATIONS = frozenset({"户主", "本人", "户主本人", "户主(本人)", "之户主"})


# --- a 镇 / 乡's register ----------------------------------------------------------------------
# The same fields, named as villages name them: 村(居) for the community level, 村民小组 for the
# grid level (in a 街道's file 村民小组 is a 楼栋, as in "张家村3组15号"); a village register has
# no 楼栋 or 单元 column: a house is its 门牌号 (or 户号) within its 村民小组.

_RURAL_NAMES = {
    "community": ("村(居)", ("社区", *next(f for f in FIELDS if f.key == "community").aliases, "村(居)委会")),
    "grid": ("村民小组", ("网格", *next(f for f in FIELDS if f.key == "grid").aliases, "组", "小组", "村民组",
                         "村小组", "自然村", "村民小组名称", "所属小组", "所属村民小组")),
}  # fmt: skip
_GROUP_WORDS = frozenset({"组", "村民小组", "小组", "自然村"})
RURAL_FIELDS = tuple(
    Field(f.key, _RURAL_NAMES[f.key][0], _RURAL_NAMES[f.key][1], f.required)
    if f.key in _RURAL_NAMES
    else Field(f.key, f.label, tuple(a for a in f.aliases if a not in _GROUP_WORDS), f.required)
    if f.key == "building"
    else f
    for f in FIELDS
)


def _rural_instructions(street, *, buildings):
    rows = [
        INSTRUCTIONS[0],
        ("村(居)", "是", f"村（居）委会全称，如“张家村”；不存在时导入会在所选{street}下新建"),
        ("村民小组", "是", "村民小组名称，如“第3村民小组”或“3组”"),
    ]
    if buildings:
        rows += [("楼栋", "否", "集镇小区的楼栋，如“18号楼”；农户留空"), ("单元", "否", "如“2单元”；农户留空")]
    rows.append(
        (
            "门牌号",
            "是",
            f"门牌号或户号，如“15号”；同一{street}内 村(居)+村民小组+门牌号 唯一确定一户；没有门牌号一列时按“户号”列",
        ),
    )
    rows += INSTRUCTIONS[6:]  # 户主姓名 on: as in a 街道's
    return tuple(rows)


@dataclass(frozen=True)
class RegisterLayout:
    """The register of one kind of street: its columns (header, field key, width), the 填写说明,
    the fields an import reads it with, and the level words its messages use."""

    headers: tuple[str, ...]
    keys: tuple[str, ...]  # field key of each column
    widths: tuple[int, ...]
    instructions: tuple[tuple[str, str, str], ...]
    fields: tuple[Field, ...]
    street: str  # 街道 / 镇 / 乡
    address_words: str  # what makes a household's address: 社区+网格+楼栋+单元+门牌号

    @property
    def labels(self) -> dict[str, str]:
        """Field key → the column's name in messages (every field, in or out of ``headers``)."""
        return {f.key: f.label for f in self.fields}


URBAN_LAYOUT = RegisterLayout(
    HEADERS, TEMPLATE_KEYS, COLUMN_WIDTHS, INSTRUCTIONS, FIELDS, "街道", "社区+网格+楼栋+单元+门牌号"
)


def register_layout(levels=None, *, buildings=True) -> RegisterLayout:
    """The layout of a street's register (households.levels.Levels; None: a 街道's). A 镇 or 乡's
    file has no 楼栋 and 单元 columns unless ``buildings`` (its export when some household has one)."""
    if levels is None or not levels.rural:
        return URBAN_LAYOUT
    width = dict(zip(TEMPLATE_KEYS, COLUMN_WIDTHS, strict=True))
    keys = tuple(k for k in TEMPLATE_KEYS if buildings or k not in ("building", "unit"))
    label = {f.key: f.label for f in RURAL_FIELDS}
    return RegisterLayout(
        headers=tuple(label[k] for k in keys),
        keys=keys,
        widths=tuple(width[k] for k in keys),
        instructions=_rural_instructions(levels.street, buildings=buildings),
        fields=RURAL_FIELDS,
        street=levels.street,
        address_words="村(居)+村民小组+门牌号",
    )
