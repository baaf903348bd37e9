"""Register files for tests, built with openpyxl (a different writer from the export's code path)."""

from pathlib import Path

from django.conf import settings
from openpyxl import Workbook, load_workbook

from households.register import COLUMNS, HEADERS, SHEET_NAME
from households.validators import id_check_char

# A byte-for-byte copy of ../shared/samples/households-template.xlsx, so a clone anywhere can test it.
SAMPLE = Path(settings.BASE_DIR) / "households/samples/households-template.xlsx"


def valid_id_number(seq=1, *, birth="19800101", region="370302"):
    """A GB 11643 number with the right check character; seq tells people apart."""
    first17 = f"{region}{birth}{seq:03d}"
    return first17 + id_check_char(first17)


def register_row(n=1, **values):
    """A valid row (header → value) for household n; keyword arguments override columns by field name."""
    row = {
        "社区": "湖田社区",
        "网格": "第1网格",
        "楼栋": "1号楼",
        "单元": "1单元",
        "门牌号": str(100 + n),
        "户主姓名": f"住户{n}",
        "身份证号": valid_id_number(n),
        "联系电话": f"138{n:08d}",
        "家庭人口": 3,
        "重点人群": "",
        "备注": "",
    }
    header_of = {name: header for header, name in COLUMNS.items()}
    for name, value in values.items():
        row[header_of[name]] = value
    return row


def write_register_file(path, rows, *, headers=HEADERS, sheet=SHEET_NAME, text_columns=("身份证号", "联系电话")):
    """Write rows (dicts by header, or lists) under ``headers``; ID and phone columns as text like the template."""
    workbook = Workbook()
    ws = workbook.active
    ws.title = sheet
    ws.append(list(headers))
    for row in rows:
        values = [row.get(h, "") for h in headers] if isinstance(row, dict) else list(row)
        ws.append([None if v == "" else v for v in values])
    for index, header in enumerate(headers, start=1):
        if header in text_columns:
            for (cell,) in ws.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = "@"
    workbook.save(path)
    return Path(path)


def read_sheet(path, sheet=SHEET_NAME):
    """All rows of a sheet as tuples of values (openpyxl, so the check does not share the import's reader)."""
    workbook = load_workbook(path)
    return [tuple(r) for r in workbook[sheet].iter_rows(values_only=True)]


# A village register (村级户籍底册) as a 镇's offices keep it: no 楼栋 or 单元 column, the village
# and its 村民小组, the house by its 门牌号. households.register reads 村民小组 as the grid level
# when the register goes into a 镇 (Node.township), as a 楼栋 into a 街道.
VILLAGE_HEADERS = ("村", "村民小组", "门牌号", "户主姓名", "身份证号", "联系电话", "家庭人口", "重点人群", "备注")
VILLAGES = (("张家村", "第1村民小组"), ("张家村", "第2村民小组"), ("李庄村", "第1村民小组"))


def village_row(n=1, **values):
    """A valid row (header → value) of household n of a village register; keyword arguments
    override columns by header ("村民小组", "门牌号"…)."""
    village, group = VILLAGES[(n - 1) % len(VILLAGES)]
    row = {
        "村": village,
        "村民小组": group,
        "门牌号": f"{n}号",
        "户主姓名": f"村民{n}",
        "身份证号": valid_id_number(500 + n, region="350821"),
        "联系电话": f"139{n:08d}",
        "家庭人口": 4,
        "重点人群": "",
        "备注": "",
    }
    row.update(values)
    return row


def write_village_register(path, rows=None, *, headers=VILLAGE_HEADERS, title="平川镇村级户籍底册"):
    """A village register of ``rows`` (default: six households over three 村民小组 of two villages),
    under a title row as offices make them."""
    rows = [village_row(n) for n in range(1, 7)] if rows is None else rows
    workbook = Workbook()
    ws = workbook.active
    ws.title = "户籍底册"
    ws.append([title])
    ws.append(list(headers))
    for row in rows:
        values = [row.get(h, "") for h in headers]
        ws.append([None if v == "" else v for v in values])
    for index, header in enumerate(headers, start=1):
        if header in ("身份证号", "联系电话"):
            for (cell,) in ws.iter_rows(min_row=3, min_col=index, max_col=index):
                cell.number_format = "@"
    workbook.save(path)
    return Path(path)
