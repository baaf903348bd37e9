"""Importing a register file into a street: every row checked, then all rows written or none.

An import is all-or-nothing and idempotent: a household is found again by its natural key
(street, address_key), so importing the same file twice changes nothing the second time.

The optional 经度 / 纬度 columns place each household's building (Node.longitude / latitude, the
民情地图): the rows of one building that give them agree, rows that leave them blank say nothing,
and a file without them leaves the stored places alone.
"""

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

from django.db import connection, transaction
from django.db.models import F
from django.dispatch import Signal
from django.utils import timezone

from .. import levels as level_names
from ..models import Household, Member, Node, NodeKind, Street, TownshipKind
from .layout import RegisterLayout, register_layout
from .reading import RegisterFileError, read_register
from .rules import (
    COORDINATE_TOLERANCE,
    RegisterRow,
    RowError,
    as_text,
    clean_coordinates,
    clean_member,
    clean_row,
    coordinates_text,
    focus_group_lookup,
    raw_address_key,
)

# Rows per bulk INSERT/UPDATE: bounds memory and statement size on both databases.
BATCH_SIZE = 2000
# Sent inside an import's transaction after its writes, with ``grid_ids``: the grids of its rows.
households_imported = Signal()
# A long import reports its progress every this many rows checked (and after every batch written).
PROGRESS_ROWS = 1000
# Rows named in the note on 经度 / 纬度 given without a 楼栋.
NOTE_ROWS = 10


@dataclass
class ImportReport:
    """What an import found and did.

    ``errors`` keeps the first ``max_errors`` errors (all of them when None); ``error_count`` and
    ``bad_rows`` count every one. A 200,000-row file of bad rows then costs two counters, not a
    list the size of the file: the page shows the first errors, the error file has every bad row
    (households.import_errors).
    """

    street: str
    dry_run: bool = False
    township: str = TownshipKind.STREET  # the street's kind: 街道, or 镇 / 乡 (村(居), 村民小组 in the summary)
    total_rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    nodes_created: dict = field(default_factory=lambda: {"community": 0, "grid": 0, "building": 0})
    errors: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    error_count: int = 0  # every error found, kept in ``errors`` or not
    bad_rows: int = 0  # data rows with at least one error
    found: dict = field(default_factory=dict)  # what the file holds: reading.RegisterRead.summary()
    sheet_choices: list = field(default_factory=list)  # several sheets could be the register: pick one
    members_written: int = 0
    buildings_located: int = 0  # buildings whose 经度 / 纬度 the import set or changed
    max_errors: int | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self):
        return not self.errors and not self.error_count

    @property
    def errors_not_listed(self) -> int:
        """Errors counted but not kept in ``errors`` (beyond ``max_errors``)."""
        return self.error_count - len(self.errors)

    def add_row_errors(self, row_errors: Sequence[RowError]):
        """The errors of one data row."""
        self.bad_rows += 1
        self.error_count += len(row_errors)
        room = len(row_errors) if self.max_errors is None else max(0, self.max_errors - len(self.errors))
        self.errors.extend(row_errors[:room])

    def set_file_errors(self, errors: Sequence[RowError]):
        """A problem of the whole file: the row errors found before it are beside the point."""
        self.errors = list(errors)
        self.error_count = len(self.errors)
        self.bad_rows = 0

    def summary(self) -> str:
        if not self.ok:
            if self.bad_rows:
                head = f"发现 {self.bad_rows} 行有误，未导入任何数据"
            else:
                head = "文件无法按居民底册读取，未导入任何数据"
            lines = [head] + [str(e) for e in self.errors]
            if self.errors_not_listed:
                lines.append(f"……另有 {self.errors_not_listed} 处错误未列出（共 {self.error_count} 处）")
            return "\n".join(lines)
        n = self.nodes_created
        levels = self.levels
        created = f"新建{levels.community} {n['community']} 个、{levels.grid} {n['grid']} 个"
        if not levels.rural or n["building"]:
            created += f"、楼栋 {n['building']} 个"
        line = (
            f"共 {self.total_rows} 行：新增 {self.created} 户，更新 {self.updated} 户，未变 {self.unchanged} 户；"
            + created
        )
        if self.members_written:
            line += f"；写入 {self.members_written} 位家庭成员"
        if self.buildings_located:
            line += f"；写入楼栋经纬度 {self.buildings_located} 个"
        if self.dry_run:
            line = "试导入（未写入任何数据）：" + line
        return "\n".join([line] + self.notes)

    @property
    def levels(self):
        """The level words of the street imported into (households.levels)."""
        return level_names.of_township(self.township)

    def as_dict(self) -> dict:
        """The report as JSON (a background job's result); ``from_dict`` reads it back."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "max_errors"}
        data["errors"] = [list(e) for e in self.errors]
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> "ImportReport":
        known = {f.name for f in fields(cls)} - {"max_errors"}
        values = {k: v for k, v in data.items() if k in known}
        values["errors"] = [RowError(*e) for e in values.get("errors", ())]
        return cls(**values)


def clean_register(
    source,
    report: ImportReport,
    *,
    inspected=False,
    on_bad_row=None,
    progress=None,
    street=None,
    mapping=None,
    sheet=None,
    defaults=None,
    layout: RegisterLayout | None = None,
) -> list[RegisterRow]:
    """Read and check every household (and member); the valid households, cleaned.

    Every error is counted in the report (and kept there up to its ``max_errors``); what was
    found in the file (format, sheet, header row, columns, layout) goes into ``report.found``.
    ``on_bad_row(row number, cells as read, errors)`` is called for each household with errors,
    when all its errors are known (the error file). ``progress("check", rows read, None)`` is
    called every PROGRESS_ROWS households. ``street``, ``mapping``, ``sheet``: see read_register.
    ``layout``: the register of the street's kind (default: ``street``'s, or a 街道's without one);
    a 镇's errors name its columns 村(居) and 村民小组.
    """
    if layout is None:
        layout = register_layout(level_names.for_street(street))
    focus_groups = focus_group_lookup()
    seen = {}  # address key → first row number
    places = _Places(layout)
    rows = []
    try:
        found = read_register(
            source, inspected=inspected, street=street, mapping=mapping, sheet=sheet, defaults=defaults, layout=layout
        )
    except RegisterFileError as exc:
        # A file-level problem makes the row errors found so far beside the point.
        report.set_file_errors(exc.errors)
        report.sheet_choices = list(exc.sheet_choices)
        report.found = exc.found
        return []
    report.found = found.summary()
    for number, cells, members, row_errors, coordinates in found:
        report.total_rows += 1
        if progress is not None and report.total_rows % PROGRESS_ROWS == 0:
            progress("check", number - 1, None)
        result = clean_row(number, cells, focus_groups=focus_groups, layout=layout)
        row_errors = list(row_errors) + (result if isinstance(result, list) else [])
        cleaned_members = None
        if members is not None:
            cleaned_members = []
            for member in members:
                checked = clean_member(member)
                if isinstance(checked, list):
                    row_errors.extend(checked)
                else:
                    cleaned_members.append(checked)
        place = places.check(cells, coordinates, row_errors) if coordinates else None
        key = raw_address_key(cells)
        if key in seen:
            row_errors.append(
                RowError(
                    number,
                    "门牌号",
                    f"与第 {seen[key]} 行是同一户地址（{layout.address_words}相同），"
                    f"同一{layout.street}内每户只能出现一次",
                )
            )
        elif key is not None:
            seen[key] = number
        if row_errors:
            report.add_row_errors(row_errors)
            if on_bad_row is not None:
                on_bad_row(number, cells, row_errors)
        else:
            if cleaned_members is not None:
                result = result._replace(members=tuple(cleaned_members))
            if place is not None:
                result = result._replace(coordinates=place)
            rows.append(result)
    if places.unplaced:
        shown = "、".join(str(n) for n in places.unplaced[:NOTE_ROWS])
        more = f"等 {len(places.unplaced)} 行" if len(places.unplaced) > NOTE_ROWS else ""
        building = layout.labels["building"]
        report.notes.append(f"第 {shown} 行{more}没有{building}，其经纬度未导入（经纬度是{building}的位置）")
    if not report.total_rows and report.ok:
        report.set_file_errors(
            [RowError(None, "", f"第 {found.header_row} 行表头以下没有数据，请在表头下每行填写一户")]
        )
    return rows


class _Places:
    """The 经度 / 纬度 of the rows read so far, by building (社区, 网格, 楼栋 as written): the rows
    of one building that give them agree; a row without a 楼栋 has no place to give them."""

    def __init__(self, layout: RegisterLayout):
        self.layout = layout
        self.first = {}  # building's names → (first row giving its place, (longitude, latitude))
        self.unplaced = []  # rows giving 经度 / 纬度 without a 楼栋

    def check(self, cells, coordinates, row_errors) -> tuple | None:
        """The building's place given by a household's rows ((Excel row, 经度, 纬度) each), its
        errors added to ``row_errors``; None when its rows give none (or only wrong ones)."""
        names = tuple(as_text(c) for c in cells[:3])
        place = None
        for at, longitude, latitude in coordinates:
            checked = clean_coordinates(at, longitude, latitude, layout=self.layout)
            if isinstance(checked, list):
                row_errors.extend(checked)
                continue
            if checked is None:
                continue
            if not names[2]:
                self.unplaced.append(at)
                continue
            first = self.first.setdefault(names, (at, checked))
            if first[0] != at and not _same_place(first[1], checked):
                row_errors.append(self._conflict(names[2], first, at, checked))
                continue
            place = place or first[1]
        return place

    def _conflict(self, building, first, at, place) -> RowError:
        labels = self.layout.labels
        row, earlier = first
        column = labels["longitude"] if abs(earlier[0] - place[0]) > COORDINATE_TOLERANCE else labels["latitude"]
        return RowError(
            at,
            column,
            f"与第 {row} 行同属{labels['building']}“{building}”，经纬度却不同（第 {row} 行 "
            f"{coordinates_text(earlier)}，第 {at} 行 {coordinates_text(place)}）；"
            f"同一{labels['building']}的各行须填写相同的经纬度，或只在一行填写",
        )


def _same_place(a, b) -> bool:
    return abs(a[0] - b[0]) <= COORDINATE_TOLERANCE and abs(a[1] - b[1]) <= COORDINATE_TOLERANCE


def import_register(
    *,
    street,
    source,
    dry_run=False,
    inspected=False,
    max_errors=None,
    on_bad_row=None,
    progress=None,
    mapping=None,
    sheet=None,
    defaults=None,
) -> ImportReport:
    """Import a register file into ``street``: all rows or nothing.

    Steps: read and check every row (no database writes, no transaction: on SQLite a
    transaction holds the write lock); then, in one transaction, create the missing
    communities, grids and buildings, insert new households and update changed ones in batches.
    A dry run does the same and rolls back, so its counts are the real ones.
    ``inspected``: the caller has just passed this very file through core.xlsx_guard.
    ``max_errors``, ``on_bad_row``: see ImportReport and clean_register. ``progress(step, done,
    total)``: ("check", rows read, None) while checking, then ("write", households written, of
    how many) — the first ("write", 0, n) before the transaction starts. ``mapping`` (the admin's
    column choices for this file) and ``sheet``: see reading.read_register.
    """
    if street.kind != NodeKind.STREET:
        raise ValueError(f"{street} is not a street")
    report = ImportReport(street=street.name, dry_run=dry_run, max_errors=max_errors, township=street.township)
    rows = clean_register(
        source,
        report,
        inspected=inspected,
        on_bad_row=on_bad_row,
        progress=progress,
        street=street,
        mapping=mapping,
        sheet=sheet,
        defaults=defaults,
    )
    if report.ok:
        _write_register(street, rows, report, dry_run=dry_run, progress=progress)
    return report


def import_register_file(
    source,
    *,
    street_name,
    dry_run=False,
    max_errors=None,
    on_bad_row=None,
    progress=None,
    mapping=None,
    sheet=None,
    defaults=None,
) -> ImportReport:
    """Import into the street named ``street_name``, creating it when it does not exist yet.

    The new street is created in the import's transaction: a failed or trial import leaves
    nothing behind, not even the street. The other arguments: see import_register.
    """
    name = street_name.strip()
    try:
        street = Street.objects.get(name=name)
    except Street.DoesNotExist:
        street = None
    else:
        return import_register(
            street=street,
            source=source,
            dry_run=dry_run,
            max_errors=max_errors,
            on_bad_row=on_bad_row,
            progress=progress,
            mapping=mapping,
            sheet=sheet,
            defaults=defaults,
        )
    report = ImportReport(street=name, dry_run=dry_run, max_errors=max_errors)
    rows = clean_register(
        source, report, on_bad_row=on_bad_row, progress=progress, mapping=mapping, sheet=sheet, defaults=defaults
    )
    if not report.ok:
        return report
    with transaction.atomic():
        street, created = Street.objects.get_or_create(name=name)
        _write_register(street, rows, report, dry_run=dry_run, progress=progress)
        if created:
            report.notes.append(f"新建街道“{street.name}”")
        if dry_run:
            transaction.set_rollback(True)
    return report


def _write_register(street, rows, report, *, dry_run, progress=None):
    """The write step of an import, in one transaction.

    A dry run takes the same steps (the same comparisons, so the same counts) and writes
    nothing — without a transaction either: on SQLite a write transaction blocks every other
    writer of the app, which a preview of 200,000 rows would do for twenty seconds.
    """
    if progress is not None:
        progress("write", 0, len(rows))
    if dry_run:
        places = _ensure_nodes(street, rows, report, write=False)
        _write_households(street, rows, places, report, write=False, progress=progress)
        return
    with transaction.atomic():
        _lock_street(street)
        places = _ensure_nodes(street, rows, report)
        _write_households(street, rows, places, report, progress=progress)
        # The apps above keep figures per grid (visits/rollups.py): they recount these grids here.
        households_imported.send(sender=Household, grid_ids=sorted({place[1] for place in places.values()}))
        if dry_run:
            transaction.set_rollback(True)


def _lock_street(street):
    """Serialize imports into one street (PostgreSQL; SQLite writers are serialized anyway)."""
    list(Node.objects.select_for_update().filter(pk=street.pk).values_list("pk"))


def _ensure_nodes(street, rows, report, *, write=True) -> dict:
    """(community, grid, building) names → (community id, grid id, building id, household path).

    ``write=False`` (a dry run): missing nodes are counted, not created; each gets a stand-in
    negative id, so that its children and households are told apart as they would be.
    """
    stand_in_ids = itertools.count(-1, -1)
    existing = {
        (n.parent_id, n.name): n
        for n in Node.objects.filter(path__startswith=street.path + ".").only(
            "id", "parent_id", "name", "path", "kind", "longitude", "latitude"
        )
    }
    # A building's place (经度, 纬度) from the first of its rows that gives one (they all agree).
    located = {}
    for r in rows:
        if r.coordinates is not None and r.building:
            located.setdefault((r.community, r.grid, r.building), r.coordinates)

    def child(parent, name, kind, place=None):
        node = existing.get((parent.pk, name))
        if node is None:
            # Individual saves: Node.save() owns the materialized path, and there are only a few hundred.
            node = Node(kind=kind, name=name, parent=parent)
            if place is not None:
                node.longitude, node.latitude = place
                report.buildings_located += 1
            if write:
                node.save()
            else:
                node.pk = next(stand_in_ids)
            existing[(parent.pk, name)] = node
            report.nodes_created[kind] += 1
        elif place is not None and (node.longitude, node.latitude) != place:
            # Not a person's edit: the version moves so that an open edit form cannot save over it.
            if write:
                Node.objects.filter(pk=node.pk).update(longitude=place[0], latitude=place[1], version=F("version") + 1)
            node.longitude, node.latitude = place
            report.buildings_located += 1
        return node

    places = {}
    for r in rows:
        names = (r.community, r.grid, r.building)
        if names in places:
            continue
        community = child(street, r.community, NodeKind.COMMUNITY)
        grid = child(community, r.grid, NodeKind.GRID)
        building = child(grid, r.building, NodeKind.BUILDING, located.get(names)) if r.building else None
        places[names] = (community.pk, grid.pk, building.pk if building else None, (building or grid).path)
    return places


# The household columns an import writes, compared field by field to tell "changed" from "unchanged".
_FIELDS = (
    "community_id",
    "grid_id",
    "building_id",
    "unit",
    "room",
    "head_name",
    "id_number",
    "phone",
    "size",
    "notes",
    "path",
)


def _write_households(street, rows, places, report, *, write=True, progress=None):
    """Insert new households, update changed ones, and replace the focus groups that changed.

    Existing households of the street are loaded once, keyed by address; rows are then written
    BATCH_SIZE at a time. Household.save() is bypassed on purpose (100,000 rows): address_key
    and path are set here exactly as save() sets them. ``write=False`` (a dry run): counted only.
    """
    Tag = Household.tags.through
    existing = {
        key: (pk, tuple(values))
        for key, pk, *values in Household.objects.filter(street=street)
        .order_by()
        .values_list("address_key", "pk", *_FIELDS)
        .iterator(chunk_size=BATCH_SIZE)
    }
    tags_of = {}
    for household_id, tag_id in Tag.objects.filter(household__street=street).values_list(
        "household_id", "focusgroup_id"
    ):
        tags_of.setdefault(household_id, set()).add(tag_id)

    members_of = _existing_members(street) if any(r.members is not None for r in rows) else {}

    writer = _HouseholdWriter(street) if write else None
    for start in range(0, len(rows), BATCH_SIZE):
        new, changed, tags = [], [], {}  # tags: pk (or address key while the pk is unknown) → ids
        members = {}  # pk (or address key) → the members to write in place of the old ones
        for r in rows[start : start + BATCH_SIZE]:
            key = r.key  # computed from the address: once a row
            community_id, grid_id, building_id, path = places[(r.community, r.grid, r.building)]
            # In _FIELDS order.
            values = (
                community_id,
                grid_id,
                building_id,
                r.unit,
                r.room,
                r.head_name,
                r.id_number,
                r.phone,
                r.size,
                r.notes,
                path,
            )
            if key not in existing:
                new.append((key, values))
                if r.tags:
                    tags[key] = r.tags
                if r.members:
                    members[key] = r.members
                continue
            pk, old = existing[key]
            tags_differ = tags_of.get(pk, set()) != r.tags
            members_differ = r.members is not None and members_of.get(pk, ()) != _member_key(r.members)
            if old != values or tags_differ or members_differ:
                changed.append((pk, values))
                if tags_differ:
                    tags[pk] = r.tags
                if members_differ:
                    members[pk] = r.members
            else:
                report.unchanged += 1

        if writer is not None:
            # Only new households with focus groups need their pk: the others are not looked up.
            wanted = {owner for owner in (*tags, *members) if isinstance(owner, str)}
            new_pks = writer.insert(new, pks_for=sorted(wanted))
            writer.update(changed)
            writer.replace_tags({new_pks.get(owner, owner): ids for owner, ids in tags.items()})
            writer.replace_members({new_pks.get(owner, owner): people for owner, people in members.items()})
        report.members_written += sum(len(people) for people in members.values())
        report.created += len(new)
        report.updated += len(changed)
        if progress is not None:
            progress("write", min(start + BATCH_SIZE, len(rows)), len(rows))


def _member_key(members) -> tuple:
    """Members compared regardless of order: an import that lists the same people changes nothing."""
    return tuple(sorted((m.name, m.relation, m.id_number, m.health, m.work) for m in members))


def _existing_members(street) -> dict:
    """Household pk → its members as ``_member_key`` gives them, for the street's households."""
    people = {}
    for household_id, *values in (
        Member.objects.filter(household__street=street)
        .order_by()
        .values_list("household_id", "name", "relation", "id_number", "health", "work")
        .iterator(chunk_size=BATCH_SIZE)
    ):
        people.setdefault(household_id, []).append(tuple(values))
    return {pk: tuple(sorted(values)) for pk, values in people.items()}


class _HouseholdWriter:
    """Plain INSERT and UPDATE statements sent with executemany, for one street.

    At 100,000 rows Django's bulk_create spends most of its time building statements and
    bulk_update's CASE WHEN grows with the square of the batch; executemany of one prepared
    row statement is ten times faster on PostgreSQL (psycopg pipelines it) and SQLite alike.
    """

    def __init__(self, street):
        self.street = street
        self.now = timezone.now()
        meta = Household._meta
        qn = connection.ops.quote_name
        # Columns the import does not fill get what Django would insert (defaults, auto_now…),
        # computed once: a column added to Household later is still filled correctly.
        blank = Household(street_id=street.pk)
        constant = [
            f
            for f in meta.concrete_fields
            if not f.primary_key and f.attname not in ("street_id", "address_key", *_FIELDS)
        ]
        self.constant_values = tuple(f.get_db_prep_save(f.pre_save(blank, add=True), connection) for f in constant)
        inserted = ["street_id", "address_key", *_FIELDS]
        columns = [meta.get_field(name).column for name in inserted] + [f.column for f in constant]
        self.insert_sql = "INSERT INTO {} ({}) VALUES ({})".format(
            qn(meta.db_table), ", ".join(map(qn, columns)), ", ".join(["%s"] * len(columns))
        )
        updated = [meta.get_field(name).column for name in _FIELDS] + [meta.get_field("updated_at").column]
        # The version moves too: an edit form opened before the import cannot save over it.
        version = qn(meta.get_field("version").column)
        self.update_sql = "UPDATE {} SET {}, {} = {} + 1 WHERE {} = %s".format(
            qn(meta.db_table), ", ".join(f"{qn(c)} = %s" for c in updated), version, version, qn(meta.pk.column)
        )
        self.updated_at = meta.get_field("updated_at").get_db_prep_save(self.now, connection)
        tag = Household.tags.through._meta
        self.tag_sql = "INSERT INTO {} ({}, {}) VALUES (%s, %s)".format(
            qn(tag.db_table), qn(tag.get_field("household").column), qn(tag.get_field("focusgroup").column)
        )

    def insert(self, new, *, pks_for=()) -> dict:
        """Insert (address key, values) pairs; returns address key → new pk for the keys ``pks_for``."""
        if not new:
            return {}
        with connection.cursor() as cursor:
            cursor.executemany(
                self.insert_sql, [(self.street.pk, key, *values, *self.constant_values) for key, values in new]
            )
        if not pks_for:
            return {}
        return dict(
            Household.objects.filter(street=self.street, address_key__in=pks_for).values_list("address_key", "pk")
        )

    def update(self, changed):
        if changed:
            with connection.cursor() as cursor:
                cursor.executemany(self.update_sql, [(*values, self.updated_at, pk) for pk, values in changed])

    def replace_members(self, members):
        """Set the family members of the given households (pk → MemberValues), replacing the old ones."""
        if not members:
            return
        Member.objects.filter(household_id__in=list(members)).delete()
        Member.objects.bulk_create(
            [
                Member(
                    household_id=pk,
                    name=m.name,
                    relation=m.relation,
                    id_number=m.id_number,
                    birth_year=m.birth_year,
                    health=m.health,
                    work=m.work,
                )
                for pk, people in members.items()
                for m in people
            ],
            batch_size=BATCH_SIZE,
        )

    def replace_tags(self, tags):
        """Set the focus groups of the given households (pk → FocusGroup ids), replacing any others."""
        if not tags:
            return
        Household.tags.through.objects.filter(household_id__in=list(tags)).delete()
        rows = [(pk, tag_id) for pk, ids in tags.items() for tag_id in ids]
        if rows:
            with connection.cursor() as cursor:
                cursor.executemany(self.tag_sql, rows)
