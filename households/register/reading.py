"""Reading a register file as an office keeps it: the table found, its layout told, the rows.

``read_register`` reads .xlsx, .xls and .csv through core.tables (by content, through the xlsx
guard and the rlimited child process; the header row found under title rows, columns in any
order, merged cells filled) with the register's fields and their names (``layout.FIELDS``, plus
those the street admin stored: households.column_aliases). Then it tells the layout:

- **one row per household** (the template's, and most ledgers'): each row is a household;
- **one row per person** (人口底册: 姓名 + 与户主关系 on each row): rows are grouped into
  households by 户号 when the file has it, else by address; the 户主 row gives the household,
  the other rows its members (家庭成员), and 家庭人口 is counted when the file has no such column.
  A household without a 户主 row, or with two, is an error naming its rows.

The building's 经度 / 纬度 (optional columns, not the template's) come with each household as
written, per Excel row (``RegisterLine.coordinates``); rules.clean_coordinates reads them.

An address in one column (住址: "3号楼2单元501", "张家村3组15号") fills 楼栋, 单元 and 门牌号 when
the file has no such columns (core.addresses); what cannot be split is the 门牌号 as written.

The rows come out in ``HEADERS`` order, as the row rules (rules.clean_row) take them, each with
its members (None in a household layout: the members in the database are left alone).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from core.addresses import split_address
from core.table_read import column_letter
from core.tables import Column, Table, TableError, normalize_header

from ..column_aliases import read_office_table, table_lookup
from .layout import FIELDS, HEAD_RELATIONS, SHEET_NAME, TEMPLATE_KEYS, URBAN_LAYOUT, RegisterLayout
from .rules import RowError, as_text

TABLE = "register"
if tuple(f.key for f in FIELDS[: len(TEMPLATE_KEYS)]) != TEMPLATE_KEYS:  # _household_lines slices on it
    raise RuntimeError("layout.FIELDS must start with the template's fields, in the template's order")
# Fields a file may lack when the import says what they are for every row.
DEFAULTABLE = ("community", "grid")
_INDEX = {f.key: i for i, f in enumerate(FIELDS)}


class RegisterFileError(Exception):
    """The file as a whole cannot be imported (unreadable, no header, a column missing, too many rows)."""

    def __init__(self, message, *, row=None, column="", sheet_choices=()):
        super().__init__(message)
        self.errors = [RowError(row, column, message)]
        self.sheet_choices = tuple(sheet_choices)
        # What was found of the file before the problem (RegisterRead.summary()'s keys), so that
        # the admin can map the columns: the header row and its columns, when known.
        self.found = {}


class MemberRow(NamedTuple):
    """A family member as read from a person row (checked by rules.clean_member)."""

    row: int
    name: object
    relation: object
    id_number: object
    health: object
    work: object


class RegisterLine(NamedTuple):
    """One household as read: its Excel row, its cells in HEADERS order, its members (None: the
    file does not list them), the errors found while grouping (a 户主 missing or repeated), and
    its building's 经度 / 纬度 as written: (Excel row, longitude, latitude) for each of its rows
    that gives either (one per person in a person layout; none when the file has no such column)."""

    row: int
    cells: list
    members: list[MemberRow] | None
    errors: list[RowError]
    coordinates: tuple = ()


@dataclass
class RegisterRead:
    """What was found in the file, for the preview, and the households."""

    format: str
    sheet_name: str | None
    sheet_names: tuple[str, ...]
    header_row: int
    columns: list[Column]
    ignored: list[str]
    layout: str  # "household" or "person"
    address_split: bool  # 楼栋/单元/门牌号 taken from a 住址 column
    lines: list[RegisterLine] = field(default_factory=list, repr=False)
    labels: dict = field(default_factory=lambda: URBAN_LAYOUT.labels, repr=False)  # field key → name shown

    @property
    def layout_label(self) -> str:
        return "每人一行（按户汇总）" if self.layout == "person" else "每户一行"

    def __iter__(self) -> Iterator[RegisterLine]:
        return iter(self.lines)

    def summary(self) -> dict:
        """What the preview shows (JSON)."""
        return {
            "format": self.format,
            "sheet_name": self.sheet_name,
            "sheet_names": list(self.sheet_names),
            "header_row": self.header_row,
            "columns": _columns_summary(self.columns, self.labels),
            "ignored": list(self.ignored),
            "layout": self.layout,
            "layout_label": self.layout_label,
            "address_split": self.address_split,
        }


def _columns_summary(columns, labels) -> list[list[str]]:
    """[letter, header as written, field key ("" ignored), field label] per column."""
    return [[c.letter, c.header, c.key or "", labels.get(c.key, "")] for c in columns]


def read_register(
    source,
    *,
    inspected: bool = False,
    street=None,
    mapping: Mapping[str, str] | None = None,
    sheet: str | None = None,
    defaults: Mapping[str, str] | None = None,
    layout: RegisterLayout = URBAN_LAYOUT,
) -> RegisterRead:
    """The households of a register file. ``street``: whose stored column names apply;
    ``mapping``: the admin's choices for this file ({header: field key, "" to ignore}); ``sheet``:
    the sheet to read when several could be; ``defaults``: {"community": name, "grid": name} for
    a file without that column (a grid's own list), its value for every row; ``layout``
    (layout.register_layout): the names of the columns, a 镇's (村(居), 村民小组) or a 街道's.
    Raises RegisterFileError (with ``sheet_choices`` when the admin must pick a sheet).

    A 镇 or 乡's file (``layout.fields`` is not a 街道's): 村民小组 is the grid level; a file
    without 门牌号 (and 住址) takes each house's 户号 as its 门牌号; a 住址 like "张家村3组15号"
    gives the 村民小组 when the row has none."""
    rural = layout.fields is not FIELDS
    labels = layout.labels
    try:
        table = read_office_table(
            source,
            TABLE,
            street=street,
            mapping=mapping,
            sheet=sheet,
            prefer_sheet=SHEET_NAME,
            inspected=inspected,
            fields=layout.fields,
        )
    except TableError as exc:
        error = RegisterFileError(exc.message, row=exc.row, column=exc.column, sheet_choices=exc.sheet_choices)
        if exc.header_cells:
            lookup = table_lookup(TABLE, street=street, mapping=mapping, fields=layout.fields)
            columns = [
                Column(column_letter(i), text, lookup.get(normalize_header(text)) or None)
                for i, text in enumerate(exc.header_cells)
                if text
            ]
            error.found = {"header_row": exc.row, "columns": _columns_summary(columns, labels)}
        raise error from None
    found = table.field_columns
    person = "relation" in found
    defaults = {k: v.strip() for k, v in (defaults or {}).items() if k in DEFAULTABLE and v and v.strip()}
    _check_columns(table, person, defaults, layout, rural=rural)
    if defaults:
        _apply_defaults(table, defaults)
    address_split = "address" in found and "room" not in found
    how = _How(
        address_split=address_split,
        rural=rural,
        room_from_number=rural and not address_split and "room" not in found and "household_no" in found,
    )
    read = RegisterRead(
        format=table.format,
        sheet_name=table.sheet_name,
        sheet_names=table.sheet_names,
        header_row=table.header_row,
        columns=table.columns,
        ignored=table.ignored,
        layout="person" if person else "household",
        address_split=address_split,
        labels=labels,
    )
    read.lines = _person_lines(table, how) if person else _household_lines(table, how)
    return read


class _How(NamedTuple):
    """How the rows of a file become households' cells."""

    address_split: bool  # 楼栋/单元/门牌号 from the 住址 column
    rural: bool  # a 镇's file: a 住址's 村民小组 is the grid level
    room_from_number: bool  # no 门牌号 column: the 户号 is the house's number


def _apply_defaults(table: Table, defaults):
    """The given 社区 / 网格 in every row of a file without that column."""
    for key, value in defaults.items():
        if key in table.field_columns:
            continue
        index = _INDEX[key]
        for _number, values in table.rows:
            values[index] = value


def _check_columns(table: Table, person: bool, defaults, layout: RegisterLayout, *, rural: bool):
    """The columns a layout cannot do without, named with the names they go by."""
    found = {*table.field_columns, *defaults}
    missing = []
    if "community" not in found:
        missing.append("community")
    if "grid" not in found and not (rural and "address" in found):
        missing.append("grid")
    if "room" not in found and "address" not in found and not (rural and "household_no" in found):
        missing.append("room")
    if person:
        if "name" not in found and "head_name" not in found:
            missing.append("name")
    else:
        if "head_name" not in found and "name" not in found:
            missing.append("head_name")
        if "size" not in found:
            missing.append("size")
    if not missing:
        return
    by_key = {f.key: f for f in layout.fields}
    named = "；".join(f"{by_key[k].label}（可写作：{'、'.join(by_key[k].names())}）" for k in missing)
    community, grid = by_key["community"].label, by_key["grid"].label
    if "room" in missing:
        if rural:
            named += "；门牌号也可以写在一列“住址”中（如“张家村3组15号”），或用“户号”一列"
        else:
            named += "；门牌号也可以和楼栋、单元一起写在一列“住址”中"
    if {"community", "grid"} & set(missing):
        named += f"；整个文件属于同一{community}、{grid}时，也可以在导入页面填写所属{community}和{grid}"
    ignored = "、".join(f"“{h}”" for h in table.ignored)
    message = f"第 {table.header_row} 行表头缺少列：{named}" + (f"。未识别的列：{ignored}" if ignored else "")
    message += "。请把列名改为可识别的写法，或在导入页面指定各列对应的字段"
    error = RegisterFileError(message, row=table.header_row, column=by_key[missing[0]].label)
    error.found = {"header_row": table.header_row, "columns": _columns_summary(table.columns, layout.labels)}
    raise error


def _value(values, key):
    return values[_INDEX[key]]


def _address_parts(values, how: _How) -> tuple:
    """(community, grid, building, unit, room) of a row, 住址 split when the file has no 门牌号 column."""
    community, grid = _value(values, "community"), _value(values, "grid")
    building, unit, room = _value(values, "building"), _value(values, "unit"), _value(values, "room")
    if how.room_from_number:
        room = _value(values, "household_no")
    if how.address_split:
        text = as_text(_value(values, "address"))
        parts = split_address(text) if text else None
        if parts and how.rural and parts.get("group"):
            # A 镇's 村民小组 is the grid level: "张家村3组15号" is 3组, house 15号.
            grid = grid if as_text(grid) else parts["group"]
            parts = {k: v for k, v in parts.items() if k != "group"}
        if parts:
            if not as_text(building):
                building = _building_of(parts, as_text(community)) if not how.rural or parts.get("building") else ""
            unit = unit if as_text(unit) else parts.get("unit", "")
            room = parts.get("room", "")
        else:
            room = text  # as written: still one household per address
    return community, grid, building, unit, room


def _building_of(parts: dict, community: str) -> str:
    """The 楼栋 level of a split address: the building, or the villagers' group (村民小组), with the
    compound or village in front when the address names one other than the 社区 column's (two
    compounds of one community may both have a 3号楼)."""
    place = parts.get("compound") or parts.get("village") or ""
    if place == community:
        place = ""
    level = parts.get("building") or parts.get("group") or ""
    return f"{place}{level}" if level else place


def _cells(values, how: _How, *, head_name=None, size=None, tags=None, phone=None) -> list:
    community, grid, building, unit, room = _address_parts(values, how)
    by_key = {
        "community": community,
        "grid": grid,
        "building": building,
        "unit": unit,
        "room": room,
        "head_name": head_name if head_name is not None else _name_of(values),
        "id_number": _value(values, "id_number"),
        "phone": phone if phone is not None else _value(values, "phone"),
        "size": size if size is not None else _value(values, "size"),
        "tags": tags if tags is not None else _value(values, "tags"),
        "notes": _value(values, "notes"),
    }
    return ["" if by_key[k] is None else by_key[k] for k in TEMPLATE_KEYS]


def _coordinates_of(rows, located: bool) -> tuple:
    """(Excel row, longitude, latitude) of the ``rows`` ((number, values)) that give either."""
    if not located:
        return ()
    i, j = _INDEX["longitude"], _INDEX["latitude"]
    return tuple((n, v[i], v[j]) for n, v in rows if as_text(v[i]) or as_text(v[j]))


def _located(table: Table) -> bool:
    """Whether the file has a 经度 or 纬度 column."""
    return "longitude" in table.field_columns or "latitude" in table.field_columns


def _name_of(values):
    head = _value(values, "head_name")
    return head if as_text(head) else _value(values, "name")


def _household_lines(table: Table, how: _How) -> list[RegisterLine]:
    slow = how.address_split or how.room_from_number
    located = _located(table)
    if slow or ("head_name" not in table.field_columns and "name" in table.field_columns):
        return [
            RegisterLine(number, _cells(values, how), None, [], _coordinates_of(((number, values),), located))
            for number, values in table.rows
        ]
    # The usual case, 100,000 rows at a time: the template's fields lead ``FIELDS``, in its order;
    # only the columns the file lacks read as None.
    width = len(TEMPLATE_KEYS)
    missing = [i for i, key in enumerate(TEMPLATE_KEYS) if key not in table.field_columns]
    lines = []
    for number, values in table.rows:
        cells = values[:width]
        for i in missing:
            cells[i] = ""
        lines.append(RegisterLine(number, cells, None, [], _coordinates_of(((number, values),), located)))
    return lines


def _person_lines(table: Table, how: _How) -> list[RegisterLine]:
    """Persons grouped into households: by 户号 when the row has one, else by address."""
    groups: dict[tuple, list] = {}
    by_number = "household_no" in table.field_columns
    for number, values in table.rows:
        household_no = as_text(_value(values, "household_no")) if by_number else ""
        key = ("户号", household_no) if household_no else ("地址", *map(as_text, _address_parts(values, how)))
        groups.setdefault(key, []).append((number, values))
    has_size = "size" in table.field_columns
    located = _located(table)
    lines = []
    for key, persons in groups.items():
        heads = [(n, v) for n, v in persons if as_text(_value(v, "relation")) in HEAD_RELATIONS]
        errors = []
        rows_text = "、".join(str(n) for n, _ in persons)
        what = f"户号“{key[1]}”" if key[0] == "户号" else "地址“" + "".join(p for p in key[1:] if p) + "”"
        if not heads:
            errors.append(
                RowError(
                    persons[0][0],
                    "与户主关系",
                    f"{what}的一户（第 {rows_text} 行）没有与户主关系为“户主”的人，请标明户主",
                )
            )
            head_number, head = persons[0]
        else:
            head_number, head = heads[0]
            if len(heads) > 1:
                rows = "、".join(str(n) for n, _ in heads)
                errors.append(
                    RowError(
                        heads[1][0],
                        "与户主关系",
                        f"第 {rows} 行是{what}同一户的{len(heads)}位户主，同一户只能有一位户主",
                    )
                )
        tags = "、".join(dict.fromkeys(t for _, v in persons if (t := as_text(_value(v, "tags")))))
        phone = _value(head, "phone")
        if not as_text(phone):
            phone = next((p for _, v in persons if as_text(p := _value(v, "phone"))), "")
        size = None if has_size else len(persons)
        cells = _cells(head, how, head_name=_name_of(head), size=size, tags=tags, phone=phone)
        members = [
            MemberRow(
                n,
                _name_of(v),
                _value(v, "relation"),
                _value(v, "id_number"),
                _value(v, "health"),
                _value(v, "work"),
            )
            for n, v in persons
            if n != head_number
        ]
        lines.append(RegisterLine(head_number, cells, members, errors, _coordinates_of(persons, located)))
    return lines
