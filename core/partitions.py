"""Yearly partitions of the two large append-only tables, on PostgreSQL (decision 0019):
``visits_visit`` by ``visited_on`` (a date) and ``issues_issueevent`` by ``at`` (a timestamptz,
cut at midnight of 1 January in settings.TIME_ZONE: ``'2026-01-01 00:00+08'``). Each has one
partition a year, ``<table>_y<year>``, and a DEFAULT one, ``<table>_default``, so that an insert
never fails for want of a partition.

- ``partition_table`` / ``unpartition_table``: the migrations' conversion of a plain table into a
  partitioned one with the same rows, ids, sequence, constraints and index names, and back
  (visits 0015, issues 0009). The primary key and the unique constraints get the partition column
  added (PostgreSQL requires it) and a comment saying so, which the way back reads to take it out
  again. Used by migrations: a change here changes what those do on a database not yet migrated.
- ``ensure_partitions`` keeps the partitions ahead of the data: it creates the missing years, and
  moves into the new partition the rows the DEFAULT partition holds for that year (PostgreSQL
  refuses to create a partition whose range has rows in DEFAULT). ``ensure_all`` does it for both
  tables: the monthly ``core.tasks.ensure_partitions_task`` (this year and the next) and a
  campaign saved for a year without them (visits/signals.py) call it; the migrations create the
  years of the data, this year and the next themselves.

Nothing here runs on SQLite (the embedded default for demos): the tables stay plain there.
"""

from __future__ import annotations

import datetime
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

from core import clock

logger = logging.getLogger(__name__)

# The comment on a primary key or unique constraint whose partition column was added by
# ``partition_table``: ``unpartition_table`` takes the column out again.
ADDED_KEY_COMMENT = "partition key added (docs/decisions/0019-partitioned-visits-and-events.md)"
# Years further apart than this from the data's and this year are not filled in between (a mistyped
# 1926 makes one partition, not a hundred).
MAX_SPAN = 50


@dataclass(frozen=True)
class Yearly:
    """A table partitioned by year on ``column``, of ``kind`` "date" or "timestamptz"."""

    table: str
    column: str
    kind: str


# Named, not imported: core sits below the apps whose tables these are. Their migrations make them
# partitioned; until then (or on SQLite) ``ensure_all`` leaves them alone.
PARTITIONED = (
    Yearly("visits_visit", "visited_on", "date"),
    Yearly("issues_issueevent", "at", "timestamptz"),
)


def partition_name(table: str, year: int) -> str:
    return f"{table}_y{year}"


def default_name(table: str) -> str:
    return f"{table}_default"


def year_start(kind: str, year: int) -> str:
    """The lower bound of ``year``'s partition as an SQL literal's text: a date, or midnight of
    1 January in the office's time zone with its offset."""
    if kind == "date":
        return datetime.date(year, 1, 1).isoformat()
    if kind == "timestamptz":
        return datetime.datetime(year, 1, 1, tzinfo=ZoneInfo(settings.TIME_ZONE)).isoformat()
    raise ValueError(f"unknown partition kind {kind!r}")


def _year_sql(kind: str, column: str, qn) -> tuple[str, list]:
    """SQL for the year of ``column`` (in the office's time zone for a timestamptz), and its params."""
    if kind == "date":
        return f"extract(year FROM {qn(column)})::int", []
    return f"extract(year FROM {qn(column)} AT TIME ZONE %s)::int", [settings.TIME_ZONE]


def years_to_cover(data_years: Iterable[int], today: datetime.date | None = None) -> list[int]:
    """The data's years, this year and the next; the years between them too unless they lie more
    than MAX_SPAN years apart."""
    this = (today or clock.today()).year
    years = {*data_years, this, this + 1}
    if max(years) - min(years) <= MAX_SPAN:
        years = set(range(min(years), max(years) + 1))
    return sorted(years)


def is_partitioned(cursor, table: str) -> bool:
    cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s))", [table])
    return cursor.fetchone()[0]


def _exists(cursor, name: str) -> bool:
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
    return cursor.fetchone()[0]


def _columns(cursor, table: str) -> list[str]:
    """The table's stored columns in order (generated ones left out: they are computed again)."""
    cursor.execute(
        "SELECT attname::text FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
        "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
        [table],
    )
    return [r[0] for r in cursor.fetchall()]


def _create_partitions(cursor, qn, table: str, kind: str, years: Iterable[int]) -> list[str]:
    created = []
    for year in sorted(set(years)):
        name = partition_name(table, year)
        if _exists(cursor, name):
            continue
        cursor.execute(
            f"CREATE TABLE {qn(name)} PARTITION OF {qn(table)} "
            f"FOR VALUES FROM ('{year_start(kind, year)}') TO ('{year_start(kind, year + 1)}')"
        )
        created.append(name)
    return created


# ---------------------------------------------------------------------------------------------- upkeep


def ensure_partitions(
    table: str, column: str, kind: str, years: Iterable[int], *, using: str = DEFAULT_DB_ALIAS, lock_timeout="5s"
) -> list[str]:
    """Create the yearly partitions of ``table`` missing for ``years``; the names created.

    Rows of those years that sit in the DEFAULT partition are moved into them, in the same
    transaction: taken out of DEFAULT (into a temporary table), the partitions created, the rows
    inserted again through the parent. The parent is locked (ACCESS EXCLUSIVE, as creating a
    partition does anyway) for that time, waiting at most ``lock_timeout`` for the lock (None: as
    long as it takes) — a report reading the visits for minutes fails this run, not every visit
    queued behind it. Nothing on SQLite or on a table that is not partitioned (yet).
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    qn = connection.ops.quote_name
    years = sorted(set(years))
    with connection.cursor() as cursor:
        if not is_partitioned(cursor, table) or all(_exists(cursor, partition_name(table, y)) for y in years):
            return []
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if lock_timeout:
            cursor.execute("SELECT current_setting('lock_timeout')")
            before = cursor.fetchone()[0]
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [str(lock_timeout)])
        cursor.execute(f"LOCK TABLE {qn(table)} IN ACCESS EXCLUSIVE MODE")
        if lock_timeout:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [before])
        # Under the lock: another run may have created them while this one waited.
        missing = [y for y in years if not _exists(cursor, partition_name(table, y))]
        if not missing:
            return []
        cursor.execute(
            "SELECT partdefid::regclass::text FROM pg_partitioned_table WHERE partrelid = %s::regclass", [table]
        )
        default = cursor.fetchone()[0]
        moved = 0
        if default != "-":  # partdefid 0 (no DEFAULT partition) reads as "-"
            columns = ", ".join(qn(c) for c in _columns(cursor, table))
            ranges = " OR ".join([f"({qn(column)} >= %s::{kind} AND {qn(column)} < %s::{kind})"] * len(missing))
            params = [b for y in missing for b in (year_start(kind, y), year_start(kind, y + 1))]
            cursor.execute(f"CREATE TEMPORARY TABLE _partition_moving (LIKE {qn(table)}) ON COMMIT DROP")
            cursor.execute(
                f"WITH moved AS (DELETE FROM {default} WHERE {ranges} RETURNING {columns}) "
                f"INSERT INTO _partition_moving ({columns}) SELECT {columns} FROM moved",
                params,
            )
            moved = cursor.rowcount
        created = _create_partitions(cursor, qn, table, kind, missing)
        if default != "-":
            # After every partition is created: the inserts leave deferred foreign-key checks
            # pending, and no ALTER of the table may follow them in this transaction.
            cursor.execute(f"INSERT INTO {qn(table)} ({columns}) SELECT {columns} FROM _partition_moving")
            cursor.execute("DROP TABLE _partition_moving")
    logger.info("partitions created", extra={"table": table, "partitions": created, "rows_moved": moved})
    return created


def ensure_all(years: Iterable[int], *, using: str = DEFAULT_DB_ALIAS, lock_timeout="5s") -> list[str]:
    """``ensure_partitions`` of every partitioned table (PARTITIONED) for ``years``."""
    years = list(years)
    created = []
    for spec in PARTITIONED:
        created += ensure_partitions(spec.table, spec.column, spec.kind, years, using=using, lock_timeout=lock_timeout)
    return created


def ensure_all_or_log(years: Iterable[int], *, using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """``ensure_all`` in a savepoint of the caller's transaction; a database error (the lock not had
    within its timeout) is logged, not raised: the caller's work goes on, rows of that year wait in
    DEFAULT, and the monthly task tries again."""
    try:
        with transaction.atomic(using=using):
            return ensure_all(years, using=using)
    except DatabaseError:
        logger.exception("partitions not created", extra={"years": list(years)})
        return []


# ---------------------------------------------------------------------------------------------- conversion


def partition_table(schema_editor, table: str, column: str, kind: str, *, years: Iterable[int] = ()) -> None:
    """A migration's step: rebuild the plain ``table`` as partitioned by year on ``column``, with its
    rows, ids and sequence, its constraints and indexes under their names; partitions for the
    data's years, this year, the next (``years_to_cover``) and ``years``, and DEFAULT.

    Nothing may reference the table by a foreign key any more (those become ``db_constraint=False``
    first): refused with their names otherwise. Done already or on SQLite: nothing."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        if is_partitioned(cursor, table):
            return
        _rebuild(cursor, connection.ops.quote_name, table, partitioned=(column, kind), years=years)


def unpartition_table(schema_editor, table: str) -> None:
    """The way back: ``table`` a plain table again with its rows, an identity id continuing after
    the sequence, and its constraints as they were before ``partition_table``."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        if not is_partitioned(cursor, table):
            return
        _rebuild(cursor, connection.ops.quote_name, table, partitioned=None)


def _rebuild(cursor, qn, table: str, *, partitioned: tuple[str, str] | None, years: Iterable[int] = ()) -> None:
    old = f"{table}_unpartitioned" if partitioned else f"{table}_partitioned"
    if _exists(cursor, old):
        raise RuntimeError(f"{old} exists: an earlier conversion of {table} was left half done")
    cursor.execute(
        "SELECT conname::text, conrelid::regclass::text FROM pg_constraint "
        "WHERE contype = 'f' AND confrelid = %s::regclass ORDER BY 2, 1",
        [table],
    )
    referencing = cursor.fetchall()
    if referencing:
        names = ", ".join(f"{t}.{c}" for c, t in referencing)
        raise RuntimeError(f"{table} is referenced by foreign keys ({names}): make them db_constraint=False first")
    cursor.execute(f"LOCK TABLE {qn(table)} IN ACCESS EXCLUSIVE MODE")

    # What the table is now: its name as pg_get_indexdef prints it, columns, constraints, indexes.
    cursor.execute(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = %s::regclass",
        [table],
    )
    qualified = cursor.fetchone()[0]
    columns = _columns(cursor, table)
    cursor.execute(
        "SELECT a.attname::text FROM pg_partitioned_table p JOIN pg_attribute a "
        "ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] WHERE p.partrelid = %s::regclass",
        [table],
    )
    row = cursor.fetchone()
    key_now = row[0] if row else None  # the partition column of a partitioned table
    cursor.execute(
        "SELECT c.conname::text, c.contype::text, pg_get_constraintdef(c.oid), "
        "ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i) "
        "      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i), "
        "obj_description(c.oid, 'pg_constraint') "
        "FROM pg_constraint c WHERE c.conrelid = %s::regclass AND c.contype IN ('p', 'u', 'c', 'f', 'x') "
        "ORDER BY position(c.contype::text IN 'pucfx'), c.conname",
        [table],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = %s::regclass "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid) "
        "ORDER BY i.indexrelid::regclass::text",
        [table],
    )
    indexes = [r[0] for r in cursor.fetchall()]
    # Sequences: an identity column's (a table made by Django) or one owned by the column.
    sequences = []
    for name in columns:
        cursor.execute(
            "SELECT pg_get_serial_sequence(%s, %s), (SELECT attidentity <> '' FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attname = %s)",
            [qn(table), name, table, name],
        )
        sequence, identity = cursor.fetchone()
        if sequence:
            cursor.execute(f"SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM {sequence}")
            sequences.append((name, sequence, identity, cursor.fetchone()[0]))

    cursor.execute(f"ALTER TABLE {qn(table)} RENAME TO {qn(old)}")
    # Columns, NOT NULLs, defaults; no identity, constraints or indexes (added after the rows).
    create = (
        f"CREATE TABLE {qn(table)} (LIKE {qn(old)} INCLUDING DEFAULTS INCLUDING GENERATED "
        f"INCLUDING STORAGE INCLUDING COMMENTS INCLUDING COMPRESSION)"
    )
    if partitioned:
        column, kind = partitioned
        cursor.execute(f"{create} PARTITION BY RANGE ({qn(column)})")
        cursor.execute(f"CREATE TABLE {qn(default_name(table))} PARTITION OF {qn(table)} DEFAULT")
        year, params = _year_sql(kind, column, qn)
        cursor.execute(f"SELECT DISTINCT {year} FROM {qn(old)}", params)
        data_years = [r[0] for r in cursor.fetchall()]
        _create_partitions(cursor, qn, table, kind, {*years_to_cover(data_years), *years})
    else:
        cursor.execute(create)
    names = ", ".join(qn(c) for c in columns)
    cursor.execute(f"INSERT INTO {qn(table)} ({names}) SELECT {names} FROM {qn(old)}")
    rows = cursor.rowcount

    # The next id continues after both the old sequence and the largest id, whichever is further.
    for i, (name, sequence, identity, next_value) in enumerate(sequences):
        cursor.execute(f"SELECT max({qn(name)}) FROM {qn(table)}")
        sequences[i] = (name, sequence, identity, max(next_value, (cursor.fetchone()[0] or 0) + 1))
        if not identity:
            cursor.execute(f"ALTER SEQUENCE {sequence} OWNED BY NONE")  # kept when the old table goes
    cursor.execute(f"DROP TABLE {qn(old)}")

    for name, sequence, identity, next_value in sequences:
        if partitioned:
            # Identity columns of partitioned tables come with PostgreSQL 17: a sequence owned by the
            # column and its nextval default, as a serial column has.
            if identity:
                sequence = qn(f"{table}_{name}_seq")
                cursor.execute(f"CREATE SEQUENCE {sequence} AS bigint")
                cursor.execute(
                    f"ALTER TABLE {qn(table)} ALTER COLUMN {qn(name)} SET DEFAULT nextval('{sequence}'::regclass)"
                )
            cursor.execute(f"ALTER SEQUENCE {sequence} OWNED BY {qn(table)}.{qn(name)}")
        else:
            # As Django makes an id: GENERATED BY DEFAULT AS IDENTITY.
            if not identity:
                cursor.execute(f"ALTER TABLE {qn(table)} ALTER COLUMN {qn(name)} DROP DEFAULT")
                cursor.execute(f"DROP SEQUENCE {sequence}")
            cursor.execute(f"ALTER TABLE {qn(table)} ALTER COLUMN {qn(name)} ADD GENERATED BY DEFAULT AS IDENTITY")
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [qn(table), name])
            sequence = cursor.fetchone()[0]
        cursor.execute("SELECT setval(%s::regclass, %s, false)", [sequence, next_value])

    for name, contype, definition, keys, comment in constraints:
        if contype in ("p", "u"):
            added = False
            if partitioned and partitioned[0] not in keys:
                keys, added = [*keys, partitioned[0]], True
            elif not partitioned and comment == ADDED_KEY_COMMENT and keys[-1:] == [key_now]:
                keys = keys[:-1]
            # The first parenthesis of "PRIMARY KEY (id)", "UNIQUE NULLS NOT DISTINCT (key) DEFERRABLE …".
            definition = re.sub(r"\([^)]*\)", "(" + ", ".join(qn(k) for k in keys) + ")", definition, count=1)
            cursor.execute(f"ALTER TABLE {qn(table)} ADD CONSTRAINT {qn(name)} {definition}")
            if added:
                cursor.execute(f"COMMENT ON CONSTRAINT {qn(name)} ON {qn(table)} IS '{ADDED_KEY_COMMENT}'")
        elif contype in ("c", "f"):
            cursor.execute(f"ALTER TABLE {qn(table)} ADD CONSTRAINT {qn(name)} {definition}")
        else:
            raise RuntimeError(f"{table}: an exclusion constraint ({name}) cannot be carried over")
    for definition in indexes:
        # "CREATE INDEX name ON [ONLY] public.table USING …": on the partitioned table, it is made on
        # every partition (and on those created later). A unique one without the partition column is
        # refused by PostgreSQL, with the reason.
        definition = definition.replace(f" ON ONLY {qualified} ", f" ON {qualified} ", 1)
        if f" ON {qualified} " not in definition:
            raise RuntimeError(f"{table}: cannot read the index definition {definition!r}")
        cursor.execute(definition)
    if rows:
        # Autovacuum analyzes the partitions but never a partitioned parent: the planner's estimates
        # of the whole table come from this.
        cursor.execute(f"ANALYZE {qn(table)}")
