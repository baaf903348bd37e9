"""Writing the register: the households of a queryset as a file in the template layout.

openpyxl's write-only mode (constant memory); every value through ``core.spreadsheets.safe_cell``,
the export rule against formula injection.
"""

from django.db.models import Prefetch, Q
from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from core.spreadsheets import safe_cell

from ..masking import mask_id_number, mask_phone
from ..models import FocusGroup
from .layout import INSTRUCTIONS_SHEET_NAME, SHEET_NAME, TAG_SEPARATOR, TEMPLATE_KEYS, register_layout

# Households fetched from the database at a time.
CHUNK_SIZE = 2000


def write_register(queryset, fileobj, *, mask=False, levels=None, progress=None) -> int:
    """Write the households of ``queryset`` to ``fileobj`` in the template layout; returns the row count.

    With ``mask`` ID numbers and phones are written masked (roles without 查看完整信息); such a
    file is for reading, it does not import back. ``levels`` (households.levels; None: a 街道's):
    a 镇 or 乡's file names its columns 村(居) and 村民小组, and has the 楼栋 and 单元 columns only
    when one of its households has a building or a unit (the blank template has none).

    openpyxl's write-only mode streams rows to disk (constant memory); rows come from the database
    2,000 at a time, names by select_related and focus groups by one prefetch per chunk.
    ``progress(rows)`` is called after every row (a background export's progress bar).
    """
    buildings = True
    if levels is not None and levels.rural:
        buildings = queryset.filter(Q(building__isnull=False) | ~Q(unit="")).exists()
    layout = register_layout(levels, buildings=buildings)
    kept = [TEMPLATE_KEYS.index(key) for key in layout.keys]
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(SHEET_NAME)
    for index, width in enumerate(layout.widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.append(layout.headers)

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
        )  # in TEMPLATE_KEYS order
        sheet.append([safe_cell(sheet, values[i]) for i in kept])
        count += 1
        if progress is not None:
            progress(count)

    instructions = workbook.create_sheet(INSTRUCTIONS_SHEET_NAME)
    for index, width in enumerate((10, 6, 80), start=1):
        instructions.column_dimensions[get_column_letter(index)].width = width
    for row in layout.instructions:
        instructions.append(row)
    workbook.save(fileobj)
    return count
