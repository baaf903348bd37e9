"""The layout of the register file: the one of shared/samples/households-template.xlsx.

A sheet 居民底册 with the columns of ``COLUMNS`` in that order, and a sheet 填写说明 that explains
them; the export writes both, the import reads the first.
"""

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
