"""Writing the register: the households of a queryset as a file in the template layout.

openpyxl's write-only mode (constant memory); every value through ``core.spreadsheets.safe_cell``,
the export rule against formula injection.
"""

from django.db.models import Prefetch
from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from core.spreadsheets import safe_cell

from ..masking import mask_id_number, mask_phone
from ..models import FocusGroup
from .layout import COLUMN_WIDTHS, HEADERS, INSTRUCTIONS, INSTRUCTIONS_SHEET_NAME, SHEET_NAME, TAG_SEPARATOR

# Households fetched from the database at a time.
CHUNK_SIZE = 2000


def write_register(queryset, fileobj, *, mask=False) -> int:
    """Write the households of ``queryset`` to ``fileobj`` in the template layout; returns the row count.

    With ``mask`` ID numbers and phones are written masked (roles without 查看完整信息); such a
    file is for reading, it does not import back.

    openpyxl's write-only mode streams rows to disk (constant memory); rows come from the database
    2,000 at a time, names by select_related and focus groups by one prefetch per chunk.
    """
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(SHEET_NAME)
    for index, width in enumerate(COLUMN_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.append(HEADERS)

    households = (
        queryset.select_related("community", "grid", "building")
        .only(
            "community__name",
            "grid__name",
            "building__name",
            "unit",
            "room",
            "head_name",
            "id_number",
            "phone",
            "size",
            "notes",
        )
        .prefetch_related(Prefetch("tags", queryset=FocusGroup.objects.only("name", "order")))
    )
    count = 0
    for h in households.iterator(chunk_size=CHUNK_SIZE):
        values = (
            h.community.name,
            h.grid.name,
            h.building.name if h.building_id else "",
            h.unit,
            h.room,
            h.head_name,
            mask_id_number(h.id_number) if mask else h.id_number,
            mask_phone(h.phone) if mask else h.phone,
            h.size,
            TAG_SEPARATOR.join(t.name for t in h.tags.all()),
            h.notes,
        )
        sheet.append([safe_cell(sheet, v) for v in values])
        count += 1

    instructions = workbook.create_sheet(INSTRUCTIONS_SHEET_NAME)
    for index, width in enumerate((10, 6, 80), start=1):
        instructions.column_dimensions[get_column_letter(index)].width = width
    for row in INSTRUCTIONS:
        instructions.append(row)
    workbook.save(fileobj)
    return count
