"""The tables offices import (居民底册, 干部名册), their fields and the names their columns go by.

Each importable table registers its fields once (``register_table``, from its app's ready()):
``core.tables.Field`` with the label of our template and the usual other names (aliases). On
top of those come the names a street admin adds in the admin, and the choices an admin made in
an import's column mapping, both stored as ``ColumnAlias`` rows (for one street, or for all):
``read_office_table`` reads a file with all of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.db import transaction

from core.tables import Field, Table, build_lookup, normalize_header, read_table

from .models import ColumnAlias

IGNORE = ""  # the "field" of a column to leave out


@dataclass(frozen=True)
class OfficeTable:
    name: str  # "register", "roster"
    label: str  # 居民底册
    fields: tuple[Field, ...]

    def field(self, key: str) -> Field:
        return next(f for f in self.fields if f.key == key)

    def choices(self) -> list[tuple[str, str]]:
        """(key, label) of each field, for a select; the ignore choice first."""
        return [(IGNORE, "（忽略该列）")] + [(f.key, f.label) for f in self.fields]


_TABLES: dict[str, OfficeTable] = {}


def register_table(name: str, label: str, fields: Sequence[Field]) -> OfficeTable:
    table = OfficeTable(name, label, tuple(fields))
    _TABLES[name] = table
    return table


def office_table(name: str) -> OfficeTable:
    return _TABLES[name]


def office_tables() -> list[OfficeTable]:
    return list(_TABLES.values())


def header_mapping(table: str, street=None) -> dict[str, str]:
    """Stored names → field key ("" to ignore): those for all streets, then the street's own (which win)."""
    rows = (
        ColumnAlias.objects.for_table(table, street).order_by("street_id").values_list("street_id", "header", "field")
    )
    mapping = {}
    for _street, header, field in sorted(rows, key=lambda r: r[0] is not None):
        mapping[header] = field
    return mapping


def remember_mapping(table: str, street, mapping: Mapping[str, str], *, by=None) -> int:
    """Keep an import's column choices for the street's next file; returns how many were stored."""
    known = {f.key for f in office_table(table).fields}
    stored = 0
    with transaction.atomic():
        for header, field in mapping.items():
            header = normalize_header(header)
            if not header or (field and field not in known):
                continue
            ColumnAlias.objects.update_or_create(
                table=table, street=street, header=header, defaults={"field": field, "created_by": by}
            )
            stored += 1
    return stored


def table_lookup(
    table: str, *, street=None, mapping: Mapping[str, str] | None = None, fields: Sequence[Field] | None = None
) -> dict[str, str]:
    """Normalized header → field key ("" to ignore), as ``read_office_table`` matches columns."""
    return build_lookup(fields or office_table(table).fields, mapping=_names(table, street, mapping))


def _names(table, street, mapping):
    stored = header_mapping(table, street)
    if mapping:
        stored.update({normalize_header(k): v for k, v in mapping.items()})
    return stored


def read_office_table(
    source,
    table: str,
    *,
    street=None,
    mapping: Mapping[str, str] | None = None,
    fields: Sequence[Field] | None = None,
    **options,
) -> Table:
    """``core.tables.read_table`` with the table's fields (or ``fields``: the same keys under other
    names, as a 镇's register names them), the stored names for ``street`` and the caller's
    ``mapping`` (which wins over the stored ones). Raises core.tables.TableError."""
    return read_table(source, fields or office_table(table).fields, mapping=_names(table, street, mapping), **options)
