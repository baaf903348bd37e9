"""The household register (居民底册) as an Excel file: the one place holding its rules.

- ``layout``: the template's sheets and columns (shared/samples/households-template.xlsx), and
  ``register_layout(levels)``: a 镇's or 乡's (村(居), 村民小组; households.levels);
- ``rules``: what a valid row is (``clean_row``), the natural key ``address_key``;
- ``reading``: the file read as the office keeps it (.xlsx, .xls, .csv; the header found, the
  columns by their names, one row per household or per person) through core.tables;
- ``importing``: ``import_register``, all rows or none, idempotent;
- ``writing``: ``write_register``, the export in the same layout.

Code outside the package imports from here.
"""

from .importing import ImportReport, clean_register, import_register, import_register_file
from .layout import (
    COLUMN_WIDTHS,
    COLUMNS,
    HEADERS,
    INSTRUCTIONS,
    INSTRUCTIONS_SHEET_NAME,
    SHEET_NAME,
    TAG_SEPARATOR,
    TEMPLATE_KEYS,
    RegisterLayout,
    register_layout,
)
from .reading import RegisterFileError, RegisterRead, read_register
from .rules import MemberValues, RegisterRow, RowError, address_key, clean_member, clean_row, focus_group_lookup
from .writing import write_register

__all__ = [
    "COLUMNS",
    "COLUMN_WIDTHS",
    "HEADERS",
    "INSTRUCTIONS",
    "INSTRUCTIONS_SHEET_NAME",
    "SHEET_NAME",
    "TAG_SEPARATOR",
    "TEMPLATE_KEYS",
    "ImportReport",
    "MemberValues",
    "RegisterFileError",
    "RegisterRead",
    "RegisterLayout",
    "RegisterRow",
    "RowError",
    "address_key",
    "clean_member",
    "clean_register",
    "clean_row",
    "focus_group_lookup",
    "import_register",
    "import_register_file",
    "read_register",
    "register_layout",
    "write_register",
]
