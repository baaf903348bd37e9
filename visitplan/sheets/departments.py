"""责任单位 as a sheet: import and export; natural key 名称.

``FIELDS`` are the columns as an office's list names them (office table "departments"): the
template's header, then the usual other names.
"""

from core.tables import Field

from ..models import Department
from .base import Column, SheetResource
from .reading import as_text

TABLE = "departments"

FIELDS = (
    Field("name", "名称", ("单位名称", "部门名称", "责任单位", "单位", "部门", "挂包单位"), required=True),
    Field("level", "类别", ("单位类别", "级别", "层级", "单位级别")),
    Field("head_name", "负责人", ("负责人姓名", "联系人", "主要负责人")),
    Field("phone", "联系电话", ("手机号", "电话", "联系方式", "手机号码", "手机", "电话号码", "联系手机")),
)  # fmt: skip

LEVEL_LABELS = dict(Department._meta.get_field("level").choices)  # code → label


class DepartmentResource(SheetResource):
    name = Column("name", "名称")
    level = Column("level", "类别")
    head_name = Column("head_name", "负责人")
    phone = Column("phone", "联系电话")

    TABLE = TABLE
    FIELDS = FIELDS
    TITLE = "责任单位"

    class Meta:
        model = Department
        name = "责任单位"
        fields = ("name", "level", "head_name", "phone")
        import_id_fields = ("name",)
        use_transactions = True
        skip_unchanged = True
        report_skipped = True

    def value_name(self, obj):
        return obj.name

    def value_level(self, obj):
        return LEVEL_LABELS.get(obj.level, obj.level or "")

    def value_head_name(self, obj):
        return obj.head_name

    def value_phone(self, obj):
        return obj.phone

    def prepare(self, dataset, user):
        self.existing = {d.name: d for d in Department.objects.all()}

    def check_row(self, checked, row):
        name = self.text(checked, row, "名称", "name", required=True)
        checked.instance = self.existing.get(name) if name else None
        if "类别" in row:
            value = as_text(row["类别"])
            codes = {label: code for code, label in LEVEL_LABELS.items()}
            if not value:
                if checked.instance is None:
                    checked.values["level"] = Department._meta.get_field("level").default
            elif value in codes or value in LEVEL_LABELS:
                checked.values["level"] = codes.get(value, value)
            else:
                checked.error("类别", f"类别“{value}”无法识别，可填：{'、'.join(codes)}")
        self.text(checked, row, "负责人", "head_name")
        self.phone(checked, row)

    def check_duplicates(self, rows):
        first = {}
        for c in rows:
            name = c.values.get("name")
            if not name:
                continue
            if name in first:
                c.error("名称", f"与第 {first[name]} 行是同一个责任单位，每个单位只能出现一次")
            else:
                first[name] = c.number

    def get_queryset(self):
        return Department.objects.all()
