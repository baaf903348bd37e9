"""The row rules of the register: what a valid row is, and how a cell is read.

``clean_row`` checks one data row and returns the cleaned ``RegisterRow`` or every ``RowError``
it has, each naming the Excel row, the column and the reason in Chinese. A household's natural
key within a street is its ``address_key`` (社区+网格+楼栋+单元+门牌号). ``clean_coordinates``
reads a row's 经度 / 纬度 (its building's place); importing.clean_register checks that the rows of
one building agree.
"""

import datetime
import decimal
import functools
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import NamedTuple

from ..models import FocusGroup, Household, Member, Node
from ..validators import id_number_error, normalize_id_number, normalize_phone, phone_error
from .layout import ADDRESS_HEADERS, TAG_SEPARATOR, TEMPLATE_KEYS, URBAN_LAYOUT, RegisterLayout

# "、" is the rule; full- and half-width commas are the usual slips and mean the same.
_TAG_SPLIT = re.compile(r"[、，,]")


def address_key(community, grid, building, unit, room):
    return "|".join(str(p or "").strip() for p in (community, grid, building, unit, room))


class RowError(NamedTuple):
    """One problem of the file: Excel row number as the user sees it (header = 1), column header, reason."""

    row: int | None
    column: str
    message: str

    def __str__(self):
        if self.row is None:
            return self.message
        if not self.column:
            return f"第 {self.row} 行：{self.message}"
        return f"第 {self.row} 行【{self.column}】：{self.message}"


class RegisterRow(NamedTuple):
    """A valid row of the register, cleaned."""

    row: int
    community: str
    grid: str
    building: str
    unit: str
    room: str
    head_name: str
    id_number: str
    phone: str
    size: int
    tags: frozenset  # FocusGroup ids
    notes: str
    # The family members (MemberValues) when the file lists them (one row per person), else None.
    members: tuple | None = None
    # The building's (longitude, latitude) when a row of the household gives them, else None.
    coordinates: tuple | None = None

    @property
    def key(self):
        return address_key(self.community, self.grid, self.building, self.unit, self.room)


def as_text(value) -> str:
    """A cell as text. Excel stores a typed-in number as a float: 1204 → 1204.0 → "1204"."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@functools.cache
def _max_lengths():
    """Column → longest text the database column takes (PostgreSQL refuses longer; SQLite would not)."""
    node = Node._meta.get_field("name").max_length
    household = {f: Household._meta.get_field(f).max_length for f in ("unit", "room", "head_name", "address_key")}
    return {
        "community": node,
        "grid": node,
        "building": node,
        "unit": household["unit"],
        "room": household["room"],
        "head_name": household["head_name"],
        "address_key": household["address_key"],
    }


# Household.size is a PositiveSmallIntegerField: 32767 is what every database backend accepts.
_MAX_SIZE = 32767


def focus_group_lookup() -> dict[str, int]:
    """Focus-group name or alias → FocusGroup id, in the vocabulary's order."""
    lookup = {}
    for pk, name, aliases in FocusGroup.objects.values_list("pk", "name", "aliases"):
        lookup[name.strip()] = pk
        for alias in _TAG_SPLIT.split(aliases):
            if alias.strip():
                lookup.setdefault(alias.strip(), pk)
    return lookup


def clean_row(
    row: int, cells: Sequence, *, focus_groups: Mapping[str, int], layout: RegisterLayout = URBAN_LAYOUT
) -> RegisterRow | list[RowError]:
    """Check one data row (cells in ``HEADERS`` order); the cleaned row, or every error it has.
    ``layout`` (layout.register_layout): the names the errors give the columns (村民小组 in a 镇)."""
    errors = []
    values = dict(zip(TEMPLATE_KEYS, cells, strict=False))
    labels = layout.labels
    max_lengths = _max_lengths()

    def error(column, message):
        errors.append(RowError(row, column, message))

    def text(key, *, required=False):
        column = labels[key]
        value = values.get(key)
        if isinstance(value, (datetime.date, datetime.time, datetime.timedelta)):
            error(column, f"{column}被 Excel 识别成了日期/时间，请把该列设置为“文本”格式后重新填写")
            return ""
        result = as_text(value)
        limit = max_lengths.get(key)
        if required and not result:
            error(column, f"{column}不能为空")
        elif limit and len(result) > limit:
            error(column, f"{column}不能超过 {limit} 个字（现有 {len(result)} 个）")
        return result

    community = text("community", required=True)
    grid = text("grid", required=True)
    building = text("building")
    unit = text("unit")
    room = text("room", required=True)
    head_name = text("head_name", required=True)

    if _is_number(values.get("id_number")):
        # Excel keeps 15 significant digits: an 18-digit number has already lost its last digits.
        error("身份证号", "身份证号被 Excel 存成了数字，末几位已丢失；请把该列设置为“文本”格式后重新填写身份证号")
        id_number = ""
    else:
        id_number = normalize_id_number(text("id_number", required=True))
        reason = id_number and id_number_error(id_number)
        if reason:
            error("身份证号", reason)

    phone = normalize_phone(text("phone"))
    reason = phone and phone_error(phone)
    if reason:
        if _is_number(values.get("phone")):
            reason += "；该单元格是数字格式，区号开头的 0 会丢失，请把该列设置为“文本”格式"
        error("联系电话", reason)

    size = _positive_int(values.get("size"))
    if size is None:
        raw = as_text(values.get("size"))
        error("家庭人口", "家庭人口不能为空" if not raw else f"家庭人口应为正整数，现为“{raw}”")
    elif size > _MAX_SIZE:
        error("家庭人口", f"家庭人口不能超过 {_MAX_SIZE}")

    tags = set()
    unknown = []
    for name in _TAG_SPLIT.split(text("tags")):
        name = name.strip()
        if not name:
            continue
        if name in focus_groups:
            tags.add(focus_groups[name])
        elif name not in unknown:
            unknown.append(name)
    if unknown:
        choices = TAG_SEPARATOR.join(focus_groups)
        error("重点人群", f"没有名为“{TAG_SEPARATOR.join(unknown)}”的重点人群，可填：{choices}")

    notes = text("notes")

    key_limit = max_lengths["address_key"]
    if not errors and len(address_key(community, grid, building, unit, room)) > key_limit:
        error("门牌号", f"地址（{layout.address_words}）合计不能超过 {key_limit - 4} 个字")

    if errors:
        return errors
    return RegisterRow(
        row, community, grid, building, unit, room, head_name, id_number, phone, size, frozenset(tags), notes
    )


# --- a building's place: 经度 / 纬度 ---------------------------------------------------------------

# Decimal degrees (WGS-84) within China, and the places Node.longitude / latitude keep.
LONGITUDE_RANGE = (Decimal(73), Decimal(136))
LATITUDE_RANGE = (Decimal(3), Decimal(54))
COORDINATE_PLACES = Decimal("0.000001")
# Two rows of one building may differ by this much (rounding of the sixth decimal); more is an error.
COORDINATE_TOLERANCE = Decimal("0.000001")
_DEGREES = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)", re.ASCII)


def _degrees(value) -> Decimal | str | None:
    """A 经度 / 纬度 cell as decimal degrees rounded to six places; None when blank; the text as
    written when it is not a number. Full-width digits and points ("１１６．３９７１２８") are read as
    their ASCII forms, a trailing ° is dropped."""
    if value is None or isinstance(value, bool):
        return None if value is None else str(value)
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            return str(value)
        text = repr(value) if isinstance(value, float) else str(value)
    else:
        text = as_text(value)
        if not text:
            return None
        text = unicodedata.normalize("NFKC", text).replace(" ", "").rstrip("°º")
        if not _DEGREES.fullmatch(text):
            return as_text(value)
    try:
        return Decimal(text).quantize(COORDINATE_PLACES, rounding=decimal.ROUND_HALF_UP)
    except decimal.InvalidOperation:
        return as_text(value)


def clean_coordinates(
    row: int, longitude, latitude, *, layout: RegisterLayout = URBAN_LAYOUT
) -> tuple[Decimal, Decimal] | None | list[RowError]:
    """The (longitude, latitude) of a row's 经度 and 纬度 cells: decimal degrees within China
    (longitude 73–136, latitude 3–54), both or neither; None when both are blank; else every error."""
    labels = layout.labels
    columns = (labels["longitude"], labels["latitude"])
    values = (_degrees(longitude), _degrees(latitude))
    if values == (None, None):
        return None
    errors = []
    for column, other, value in ((*columns, values[0]), (columns[1], columns[0], values[1])):
        if value is None:
            errors.append(RowError(row, column, f"填写了{other}就须同时填写{column}（楼栋的位置，十进制度数）"))
        elif isinstance(value, str):
            errors.append(RowError(row, column, f"{column}应为十进制度数，如 116.397128，现为“{value}”"))
    if errors:
        return errors
    lng, lat = values
    in_range = (LONGITUDE_RANGE[0] <= lng <= LONGITUDE_RANGE[1], LATITUDE_RANGE[0] <= lat <= LATITUDE_RANGE[1])
    if in_range == (True, True):
        return lng, lat
    swapped = LATITUDE_RANGE[0] <= lng <= LATITUDE_RANGE[1] and LONGITUDE_RANGE[0] <= lat <= LONGITUDE_RANGE[1]
    hint = f"；{columns[0]}和{columns[1]}可能填反了" if swapped else ""
    for column, value, (low, high), ok in (
        (columns[0], lng, LONGITUDE_RANGE, in_range[0]),
        (columns[1], lat, LATITUDE_RANGE, in_range[1]),
    ):
        if not ok:
            errors.append(
                RowError(row, column, f"{column}应在 {low}～{high} 度之间（中国境内），现为 {_plain(value)}{hint}")
            )
    return errors


def _plain(value: Decimal) -> str:
    """116.397128, not 1.16397128E+2; trailing zeros of the rounding dropped (39.9 for 39.900000)."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def coordinates_text(place) -> str:
    """(longitude, latitude) as a message writes it: "116.397128, 39.916527"."""
    return ", ".join(_plain(v) for v in place)


class MemberValues(NamedTuple):
    """A family member, cleaned: what the import writes (Member fields)."""

    name: str
    relation: str
    id_number: str
    birth_year: int | None
    health: str
    work: str


def _member_limits():
    return {f: Member._meta.get_field(f).max_length for f in ("name", "relation", "health", "work")}


def clean_member(member) -> MemberValues | list[RowError]:
    """Check one family member read from a person row (reading.MemberRow); the cleaned values, or
    every error, each naming the member's own row."""
    errors = []
    limits = _member_limits()
    values = {}
    for key, column in (("name", "姓名"), ("relation", "与户主关系"), ("health", "健康状况"), ("work", "工作/就学")):
        text = as_text(getattr(member, key))
        if len(text) > limits[key]:
            errors.append(RowError(member.row, column, f"{column}不能超过 {limits[key]} 个字（现有 {len(text)} 个）"))
        values[key] = text
    if not values["name"]:
        errors.append(RowError(member.row, "姓名", "家庭成员的姓名不能为空"))
    raw = member.id_number
    if _is_number(raw):
        errors.append(
            RowError(
                member.row,
                "身份证号",
                "身份证号被 Excel 存成了数字，末几位已丢失；请把该列设置为“文本”格式后重新填写身份证号",
            )
        )
        id_number = ""
    else:
        id_number = normalize_id_number(as_text(raw))
        reason = id_number and id_number_error(id_number)
        if reason:
            errors.append(RowError(member.row, "身份证号", reason))
    if errors:
        return errors
    birth_year = int(id_number[6:10]) if len(id_number) == 18 else None
    return MemberValues(values["name"], values["relation"], id_number, birth_year, values["health"], values["work"])


def _positive_int(value) -> int | None:
    """4, 4.0 and "4" are 4; anything else that is not a positive whole number is None."""
    if _is_number(value):
        return int(value) if value >= 1 and float(value).is_integer() else None
    text = as_text(value)
    if text.isascii() and text.isdigit() and int(text) >= 1:
        return int(text)
    return None


def raw_address_key(cells) -> str | None:
    """The address key of a row, valid or not, so that duplicates are found in the same pass."""
    parts = [as_text(c) for c in cells[: len(ADDRESS_HEADERS)]]
    community, grid, _building, _unit, room = parts
    if not (community and grid and room):
        return None
    return address_key(*parts)
