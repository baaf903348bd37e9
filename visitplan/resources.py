"""The small staff-maintained lists as Excel sheets, with django-import-export.

- 责任单位 (``DepartmentResource``): import and export; natural key 名称.
- 干部名册 (``CadreResource``): import and export; natural key 登录账号 when given, else
  (姓名, 工作范围). 工作范围 is resolved only among the nodes the importing user may hand out
  (``Node.objects.visible_to(user, ancestors=False)``), so nobody files a cadre outside his scope.
- 包户名单 (``AssignmentResource``): export only; no resident ID numbers or phones.

The household register has its own fast path (households/register.py); this module is for lists of
a few hundred or thousand rows, where import-export's row-by-row path is fast enough.

Import rules, the same for both lists:

- every bad cell is reported as "第 5 行【联系电话】：原因" (Excel row numbers: the header is row 1);
- the file is checked as a whole first (duplicated rows, missing columns), and an import with any
  error writes nothing (``use_transactions``; the admin also rolls back on validation errors);
- importing the same file twice changes nothing the second time (``skip_unchanged``);
- a column missing from the file leaves that field alone; a blank cell clears a text field, while a
  blank 在岗 / 参与包户 / 类别 keeps the current value (the default for new rows) and a blank
  登录账号 never unlinks an account.

Exports write the same columns as the import reads, so export → import round-trips. The formats
below write text as text: a name starting with "=" never becomes a live formula in the xlsx, and
the CSV export prefixes such cells with an apostrophe.
"""

import re
from dataclasses import dataclass, field
from io import BytesIO

import tablib
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from import_export import resources
from import_export.fields import Field
from import_export.formats import base_formats
from import_export.results import RowResult

from core.sandbox import SandboxFailed, run_limited
from households.models import Node
from households.register import csv_safe, safe_cell
from households.roles import ALL_ROLES, CADRE, LEADER, SECRETARY, sync_role_groups
from households.validators import normalize_phone, phone_error
from households.xlsx_guard import XlsxRejected, inspect_xlsx
from households.xlsx_read import openpyxl_first_sheet

from .models import Assignment, Cadre, Department, Tier

# Bounds of a staff-list upload: a street's roster is a few hundred rows; openpyxl has no bounds of
# its own (DESIGN.md: 2 million cells took 47 s and 768 MB).
MAX_UPLOAD_MB = getattr(settings, "STAFF_LIST_MAX_UPLOAD_MB", 5)
MAX_ROWS = getattr(settings, "STAFF_LIST_MAX_ROWS", 5000)
MAX_COLUMNS = 30
# Formatted but empty rows after the data: stop reading after this many blank rows in a row.
MAX_BLANK_RUN = 1000

YES, NO = "是", "否"
_YES_VALUES = {"是", "1", "true", "y", "yes", "√"}
_NO_VALUES = {"否", "0", "false", "n", "no", "×"}

# Accepted spellings of each tier besides its number (1-6) and its label.
TIER_ALIASES = {
    Tier.LEADER: ("街道班子成员", "班子成员"),
    Tier.DEPARTMENT: ("市/区直部门挂包单位", "部门挂包单位", "挂包单位", "部门干部"),
    Tier.STREET_STAFF: ("街道干部（包村居组）", "街道干部(包村居组)", "街道干部"),
    Tier.SECRETARY: ("社区书记",),
    Tier.COMMITTEE: ("两委成员/社区工作者", "两委成员", "社区工作者"),
    Tier.GRID_WORKER: ("网格员",),
}

# The role (Django group) a cadre's login account gets for the tier (households/roles.py).
ROLE_OF_TIER = {Tier.LEADER: LEADER, Tier.SECRETARY: SECRETARY}
DEFAULT_ROLE = CADRE


def role_for_tier(tier) -> str:
    return ROLE_OF_TIER.get(tier, DEFAULT_ROLE)


class SheetFileError(Exception):
    """The file as a whole cannot be imported (unreadable, too large, wrong header)."""


# ---------------------------------------------------------------------------------------------
# Formats: what the admin offers


class SheetXLSX(base_formats.XLSX):
    """xlsx, read with openpyxl read-only and bounded; written with text cells that are never formulas."""

    def create_dataset(self, in_stream):
        return read_sheet(in_stream)

    def export_data(self, dataset, **kwargs):
        # Not super(): IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT would strip the "=" (data loss) and
        # leave "+", "-", "@" alone. Here every text is written as text instead.
        return write_xlsx(dataset)


class SafeCSV(base_formats.CSV):
    """CSV for export only: a text that a spreadsheet would run as a formula gets a leading apostrophe."""

    def can_import(self):
        return False

    def export_data(self, dataset, **kwargs):
        escaped = tablib.Dataset(headers=dataset.headers, title=dataset.title)
        for row in dataset:
            escaped.append([csv_safe(value) for value in row])
        return escaped.export("csv")


def check_upload(file):
    """households.xlsx_guard with the staff lists' bounds (raises XlsxRejected, a ValidationError).

    openpyxl reads every cell of a row, also past MAX_COLUMNS: the rectangle of cells is bounded
    at twice what read_sheet can use, so that a sheet of 5,000 rows × 16,384 columns is refused
    before openpyxl spends minutes on it.
    """
    inspect_xlsx(file, max_cells=(MAX_ROWS + MAX_BLANK_RUN + 1) * MAX_COLUMNS * 2, max_upload_mb=MAX_UPLOAD_MB)


def read_sheet(data: bytes) -> tablib.Dataset:
    """The first sheet as a Dataset; blank rows inside the data are kept so rows keep their Excel numbers.

    The file goes through the upload guard first, whoever calls this (the admin's form has
    checked the upload already; this also covers the confirmation, which reads the stored copy).
    openpyxl then reads it in a child process (core.sandbox) within IMPORT_PARSE_MEMORY_MB and
    IMPORT_PARSE_CPU_SECONDS: a file the guard misses costs that child, never this process.
    """
    try:
        check_upload(data)
    except XlsxRejected as exc:
        raise SheetFileError(exc.message) from None
    try:
        # The rows as far as the loop below reads them (the same blank-run and row limits).
        rows = run_limited(
            openpyxl_first_sheet,
            bytes(data),
            max_columns=MAX_COLUMNS,
            max_rows=MAX_ROWS,
            max_blank_run=MAX_BLANK_RUN,
            memory_mb=settings.IMPORT_PARSE_MEMORY_MB,
            cpu_seconds=settings.IMPORT_PARSE_CPU_SECONDS,
        )
    except SandboxFailed as exc:
        raise SheetFileError(exc.message) from None
    except Exception:
        raise SheetFileError(
            "文件无法读取：请上传 .xlsx 格式的 Excel 工作簿（.xls、.csv 或设置了密码的文件请先在 Excel 中另存为“Excel 工作簿(*.xlsx)”）"
        ) from None
    rows = iter(rows)
    header = [_text(v) for v in next(rows, ())]
    while header and not header[-1]:
        header.pop()
    if not header:
        raise SheetFileError("第一个工作表的第 1 行没有表头")
    width = len(header)
    body, blanks = [], []
    for values in rows:
        # Blank cells as "" (not None): the admin's table of invalid rows shows the raw values.
        values = ["" if v is None else v for v in values[:width]] + [""] * (width - len(values))
        if _is_blank(values):
            blanks.append(values)
            if len(blanks) > MAX_BLANK_RUN:
                break
            continue
        body.extend(blanks)
        blanks = []
        body.append(values)
        if len(body) > MAX_ROWS:
            raise SheetFileError(f"数据超过 {MAX_ROWS} 行的上限，请分成几个文件导入")
    return tablib.Dataset(*body, headers=header)


def write_xlsx(dataset: tablib.Dataset) -> bytes:
    """Write-only openpyxl; every value through households.register.safe_cell (text stays text,
    quote-prefixed where a spreadsheet would see a formula)."""
    from openpyxl import Workbook
    from openpyxl.cell import Cell, WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    headers = list(dataset.headers or [])
    workbook = Workbook(write_only=True)
    title = re.sub(r"[\\*?:/\[\]]", "-", dataset.title or "Sheet1")[:31]
    sheet = workbook.create_sheet(title=title)
    widths = [_display_width(h) for h in headers]
    for row in dataset:
        for i, value in enumerate(row[: len(widths)]):
            widths[i] = max(widths[i], _display_width(value))
    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = min(max(width + 2, 8), 60)
    sheet.freeze_panes = "A2"

    def cell(value, bold=False):
        # households.register.safe_cell is the rule (formula-like text → quote-prefixed text cell);
        # every value is a cell here, for the header's bold font.
        c = safe_cell(sheet, value)
        if not isinstance(c, Cell):
            c = WriteOnlyCell(sheet, value=c)
        if bold:
            c.font = Font(bold=True)
        return c

    if headers:
        sheet.append([cell(h, bold=True) for h in headers])
    for row in dataset:
        sheet.append([cell(v) for v in row])
    out = BytesIO()
    workbook.save(out)
    return out.getvalue()


def _display_width(value) -> int:
    text = "" if value is None else str(value)
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


# ---------------------------------------------------------------------------------------------
# Cells


def _text(value) -> str:
    """A cell as text. Excel stores a typed-in number as a float: 1204 → 1204.0 → "1204"."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_blank(values) -> bool:
    return all(_text(v) == "" for v in values)


def yes_no(value: bool) -> str:
    return YES if value else NO


# ---------------------------------------------------------------------------------------------
# The grid tree by name


def _normalize_scope(text: str) -> str:
    """"湖田社区 / 第1网格", "湖田社区／第1网格" and "/湖田社区/第1网格/" all mean "湖田社区/第1网格"."""
    return re.sub(r"\s*[/／]\s*", "/", text.strip()).strip("/")


class ScopeNames:
    """Node ↔ its name path: "湖田社区/第1网格" below the street, or the street's own name.

    ``nodes`` is the queryset of nodes that may be named (for an import: the nodes the user may
    hand out). The full path from the street ("湖田街道/湖田社区/第1网格") is accepted too; it is
    what tells two streets apart for someone who sees several.
    """

    def __init__(self, nodes):
        rows = list(nodes.order_by().values_list("pk", "path", "name"))
        names = {path: name for _pk, path, name in rows}
        above = {".".join(path.split(".")[:i]) for _pk, path, _name in rows for i in range(1, path.count(".") + 1)}
        above -= names.keys()
        if above:
            names.update(Node.objects.filter(path__in=above).values_list("path", "name"))
        self.streets = {path.split(".")[0] for _pk, path, _name in rows}
        self.label = {}  # pk → what an export writes
        self._by_key = {}  # normalized name path → {pk, …}
        for pk, path, _name in rows:
            parts = path.split(".")
            chain = [names.get(".".join(parts[:i]), "") for i in range(1, len(parts) + 1)]
            absolute = "/".join(chain)
            relative = "/".join(chain[1:]) or chain[0]
            self.label[pk] = absolute if len(self.streets) > 1 else relative
            for key in {absolute, relative}:
                self._by_key.setdefault(_normalize_scope(key), set()).add(pk)

    def resolve(self, text: str):
        """(node pk, None) or (None, reason)."""
        pks = self._by_key.get(_normalize_scope(text), set())
        if len(pks) == 1:
            return next(iter(pks)), None
        if pks:
            return None, f"工作范围“{text}”在多个街道中都有，请在前面加上街道名称，如“某某街道/{text}”"
        return None, (
            f"找不到工作范围“{text}”，或它不在您的管辖范围内；"
            "请填写街道名称，或“社区”“社区/网格”，如“湖田社区/第1网格”"
        )

    @classmethod
    def for_nodes(cls, pks):
        return cls(Node.objects.filter(pk__in=list(pks)))


# ---------------------------------------------------------------------------------------------
# Base of the importable lists


class Column(Field):
    """A column read and written through the resource (``value_<name>``): labels, never ids.

    Imports do not go through the field (``SheetResource.apply`` sets the instance from the
    checked row); the field still serves the export, the preview's diff and the unchanged check.
    """

    def __init__(self, name, header, readonly=False):
        super().__init__(attribute=name, column_name=header, readonly=readonly)
        self.resource = None

    def get_value(self, instance):
        return getattr(self.resource, f"value_{self.attribute}")(instance)

    def export(self, instance, **kwargs):
        return self.get_value(instance)

    def clean(self, row, **kwargs):
        return row.get(self.column_name)


@dataclass
class CheckedRow:
    """One data row after the row rules: the values to set, the errors, the existing object if any."""

    number: int  # Excel row number (header = 1)
    values: dict = field(default_factory=dict)  # attribute → value
    errors: dict = field(default_factory=dict)  # header → [reason, …]
    instance: object = None
    extra: dict = field(default_factory=dict)

    def error(self, column, message):
        self.errors.setdefault(column, []).append(message)


class SheetResource(resources.ModelResource):
    """A staff list as a sheet: one row per object, Chinese headers, every bad cell reported."""

    REQUIRED = ()  # headers that must be in the file
    TITLE = ""  # sheet title of the export

    def __init__(self, user=None, **kwargs):
        super().__init__(**kwargs)
        self.user = user
        for f in self.fields.values():
            if isinstance(f, Column):
                f.resource = self
        self._checked = {}  # data row index (1-based, as import-export counts) → CheckedRow or None
        self._file_error = None
        self._current = None

    # The columns in file order, for messages.
    def headers(self):
        return [f.column_name for f in self.get_import_fields()]

    # -- to be written by each list

    def prepare(self, dataset, user):
        """Load what the row rules look up, once per file."""

    def check_row(self, checked: CheckedRow, row: dict):
        raise NotImplementedError

    def check_duplicates(self, rows: list[CheckedRow]):
        """Mark rows that name the same object as an earlier row."""

    def apply(self, instance, checked: CheckedRow):
        for attr, value in checked.values.items():
            setattr(instance, attr, value)

    # -- import-export hooks

    def import_data(self, dataset, dry_run=False, **kwargs):
        """All rows or nothing, however it is called: an invalid row rolls the whole file back."""
        kwargs["rollback_on_validation_errors"] = True
        return super().import_data(dataset, dry_run=dry_run, **kwargs)

    def before_import(self, dataset, **kwargs):
        self._checked, self._file_error = {}, None
        dataset.headers = [_text(h) for h in (dataset.headers or [])]
        user = self.user if self.user is not None else kwargs.get("user")
        try:
            if user is None or not user.is_authenticated:
                raise SheetFileError("导入需要登录用户")
            self._check_headers(dataset.headers)
            self.prepare(dataset, user)
        except Exception as exc:
            # import-export records it as the file's error; the rows are then not looked at.
            self._file_error = exc
            raise
        self.user = user
        checked = []
        for index, values in enumerate(dataset, start=1):
            if _is_blank(values):
                self._checked[index] = None
                continue
            row = dict(zip(dataset.headers, values))
            c = CheckedRow(number=index + 1)
            self.check_row(c, row)
            self._checked[index] = c
            checked.append(c)
        self.check_duplicates(checked)

    def _check_headers(self, headers):
        known = self.headers()
        seen = set()
        for h in headers:
            if h and h in seen:
                raise SheetFileError(f"第 1 行表头中“{h}”出现了不止一次")
            seen.add(h)
        missing = [h for h in self.REQUIRED if h not in headers]
        if missing:
            raise SheetFileError(f"第 1 行表头缺少列：{'、'.join(missing)}。表头应为：{'、'.join(known)}")

    def import_row(self, row, instance_loader, **kwargs):
        number = kwargs.get("row_number")
        if self._file_error is not None:
            return self._skipped()
        if number not in self._checked:  # import_data() without before_import's pass (not used here)
            raise RuntimeError("rows are checked in before_import")
        self._current = self._checked[number]
        if self._current is None:  # a blank row
            return self._skipped()
        return super().import_row(row, instance_loader, **kwargs)

    def _skipped(self):
        result = self.get_row_result_class()()
        result.import_type = RowResult.IMPORT_TYPE_SKIP
        return result

    def get_instance(self, instance_loader, row):
        return self._current.instance

    def import_instance(self, instance, row, **kwargs):
        if self._current.errors:
            raise ValidationError({column: reasons for column, reasons in self._current.errors.items()})
        self.apply(instance, self._current)

    def after_import(self, dataset, result, **kwargs):
        super().after_import(dataset, result, **kwargs)
        # Excel row numbers everywhere (the admin's table too): import-export counts data rows from 1.
        for invalid in result.invalid_rows:
            invalid.number += 1
        for errored in result.error_rows:
            errored.number += 1

    def after_export(self, queryset, dataset, **kwargs):
        dataset.title = self.TITLE

    # Shared row rules

    def text(self, checked, row, column, attr, *, required=False):
        """Put the column's text into values[attr] (when the column is in the file)."""
        if column not in row:
            return None
        value = _text(row[column])
        limit = self._meta.model._meta.get_field(attr).max_length
        if required and not value:
            checked.error(column, f"{column}不能为空")
        elif limit and len(value) > limit:
            checked.error(column, f"{column}不能超过 {limit} 个字（现有 {len(value)} 个）")
        else:
            checked.values[attr] = value
        return value

    def phone(self, checked, row, column="联系电话", attr="phone"):
        if column not in row:
            return
        raw = row[column]
        value = normalize_phone(_text(raw))
        reason = value and phone_error(value)
        if reason:
            if _is_number(raw):
                reason += "；该单元格是数字格式，区号开头的 0 会丢失，请把该列设置为“文本”格式"
            checked.error(column, f"{reason}（现为“{_text(raw)}”）")
        else:
            checked.values[attr] = value

    def flag(self, checked, row, column, attr, *, default):
        if column not in row:
            return
        value = _text(row[column])
        if not value:
            if checked.instance is None:
                checked.values[attr] = default
            return
        if value.lower() in _YES_VALUES:
            checked.values[attr] = True
        elif value.lower() in _NO_VALUES:
            checked.values[attr] = False
        else:
            checked.error(column, f"{column}只能填“是”或“否”（现为“{value}”）")


def import_error_lines(result) -> list[str]:
    """Every problem of an import result as "第 5 行【联系电话】：原因" (rows already in Excel numbers)."""
    lines = [str(e.error) for e in result.base_errors]
    for invalid in result.invalid_rows:
        for column, reasons in invalid.error_dict.items():
            for reason in reasons:
                if column == NON_FIELD_ERRORS:
                    lines.append(f"第 {invalid.number} 行：{reason}")
                else:
                    lines.append(f"第 {invalid.number} 行【{column}】：{reason}")
    for errored in result.error_rows:
        for e in errored.errors:
            lines.append(f"第 {errored.number} 行：保存时出错（{e.error}），请重试")
    return lines


def import_error_summary(result) -> str:
    bad = len(result.invalid_rows) + len(result.error_rows)
    if bad:
        return f"发现 {bad} 行有误，未导入任何数据"
    return "文件无法导入，未导入任何数据"


# ---------------------------------------------------------------------------------------------
# 责任单位


LEVEL_LABELS = dict(Department._meta.get_field("level").choices)  # code → label


class DepartmentResource(SheetResource):
    name = Column("name", "名称")
    level = Column("level", "类别")
    head_name = Column("head_name", "负责人")
    phone = Column("phone", "联系电话")

    REQUIRED = ("名称",)
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
            value = _text(row["类别"])
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


# ---------------------------------------------------------------------------------------------
# 干部名册


def _tier_lookup():
    lookup = {}
    for tier in Tier:
        lookup[str(tier.value)] = tier
        lookup[tier.label] = tier
        for alias in TIER_ALIASES.get(tier, ()):
            lookup[alias] = tier
    return lookup


class CadreResource(SheetResource):
    name = Column("name", "姓名")
    tier = Column("tier", "层级")
    unit = Column("unit", "工作单位")
    department = Column("department", "所属部门")
    position = Column("position", "职务")
    phone = Column("phone", "联系电话")
    scope = Column("scope", "工作范围")
    user = Column("user", "登录账号")
    active = Column("active", "在岗")
    takes_households = Column("takes_households", "参与包户")

    REQUIRED = ("姓名", "层级", "工作范围")
    TITLE = "干部名册"

    class Meta:
        model = Cadre
        name = "干部名册"
        fields = (
            "name",
            "tier",
            "unit",
            "department",
            "position",
            "phone",
            "scope",
            "user",
            "active",
            "takes_households",
        )
        # The real lookup is CadreResource.find: 登录账号 when given, else (姓名, 工作范围).
        import_id_fields = ("name", "scope")
        use_transactions = True
        skip_unchanged = True
        report_skipped = True

    def __init__(self, user=None, **kwargs):
        super().__init__(user=user, **kwargs)
        self.scope_names = None
        self._memberships = set()  # (user id, role) already held
        self._with_roles = set()  # user ids holding any role
        self._groups = {}

    # -- values, for export, the preview and the unchanged check

    def value_name(self, obj):
        return obj.name

    def value_tier(self, obj):
        return Tier(obj.tier).label if obj.tier else ""

    def value_unit(self, obj):
        return obj.unit

    def value_department(self, obj):
        return obj.department.name if obj.department_id else ""

    def value_position(self, obj):
        return obj.position

    def value_phone(self, obj):
        return obj.phone

    def value_scope(self, obj):
        if not obj.scope_id:
            return ""
        label = self.scope_names.label.get(obj.scope_id) if self.scope_names else None
        if label is None:  # a node outside the names loaded (not in a normal import or export)
            label = ScopeNames.for_nodes([obj.scope_id]).label.get(obj.scope_id, "")
        return label

    def value_user(self, obj):
        if obj.user_id:
            return obj.user.username
        return getattr(obj, "_pending_username", "")

    def value_active(self, obj):
        return yes_no(obj.active)

    def value_takes_households(self, obj):
        return yes_no(obj.takes_households)

    # -- export

    def get_queryset(self):
        qs = Cadre.objects.all() if self.user is None else Cadre.objects.visible_to(self.user)
        return qs

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("user", "department")

    def export(self, queryset=None, **kwargs):
        if queryset is None:
            queryset = self.get_queryset()
        scope_ids = set(queryset.order_by().values_list("scope_id", flat=True).distinct())
        self.scope_names = ScopeNames.for_nodes(scope_ids)
        return super().export(queryset=queryset, **kwargs)

    # -- import

    def prepare(self, dataset, user):
        User = get_user_model()
        self.scope_names = ScopeNames(Node.objects.visible_to(user, ancestors=False))
        self.departments = {d.name: d for d in Department.objects.all()}
        self.tiers = _tier_lookup()
        cadres = list(Cadre.objects.visible_to(user).select_related("user", "department"))
        self.by_username = {c.user.username: c for c in cadres if c.user_id}
        self.by_name_scope = {}
        for c in cadres:
            self.by_name_scope.setdefault((c.name, c.scope_id), []).append(c)
        usernames = set()
        if "登录账号" in dataset.headers:
            usernames = {_text(v) for v in dataset["登录账号"]} - {""}
        # Accounts in the file that are not (yet) a visible cadre's: new, unlinked, or someone else's.
        self.accounts = {
            u.username: u for u in User.objects.filter(username__in=usernames - self.by_username.keys())
        }
        self.cadre_of_account = dict(
            Cadre.objects.filter(user__in=self.accounts.values()).values_list("user__username", "pk")
        )
        user_ids = [c.user_id for c in self.by_username.values()] + [u.pk for u in self.accounts.values()]
        self._memberships = set(
            User.groups.through.objects.filter(user_id__in=user_ids, group__name__in=ALL_ROLES).values_list(
                "user_id", "group__name"
            )
        )
        self._with_roles = {user_id for user_id, _role in self._memberships}

    def check_row(self, checked, row):
        name = self.text(checked, row, "姓名", "name", required=True)

        tier = None
        raw_tier = row.get("层级")
        tier_text = _text(raw_tier)
        if not tier_text:
            checked.error("层级", "层级不能为空")
        else:
            tier = self.tiers.get(tier_text) or self.tiers.get(re.sub(r"\s+", "", tier_text))
            if tier is None:
                choices = "、".join(f"{t.value} {t.label}" for t in Tier)
                checked.error("层级", f"层级“{tier_text}”无法识别，可填：{choices}（填名称或数字均可）")
            else:
                checked.values["tier"] = tier

        self.text(checked, row, "工作单位", "unit")
        if "所属部门" in row:
            dept_name = _text(row["所属部门"])
            if not dept_name:
                checked.values["department"] = None
            elif dept_name in self.departments:
                checked.values["department"] = self.departments[dept_name]
            else:
                checked.error("所属部门", f"没有名为“{dept_name}”的责任单位，请先在“责任单位”中添加或改正名称")
        self.text(checked, row, "职务", "position")
        self.phone(checked, row)

        scope_id = None
        scope_text = _text(row.get("工作范围"))
        if not scope_text:
            checked.error("工作范围", "工作范围不能为空")
        else:
            scope_id, reason = self.scope_names.resolve(scope_text)
            if reason:
                checked.error("工作范围", reason)
            else:
                checked.values["scope_id"] = scope_id

        username = self._check_username(checked, row)
        checked.extra.update(username=username, name=name, scope_id=scope_id)
        if name and scope_id is not None:
            self.find(checked, username, name, scope_id)

        # After find(): a blank 在岗/参与包户 keeps an existing cadre's value.
        self.flag(checked, row, "在岗", "active", default=True)
        self.flag(checked, row, "参与包户", "takes_households", default=True)

        department = checked.values.get("department", checked.instance.department if checked.instance else None)
        if tier == Tier.DEPARTMENT and department is None and "所属部门" not in checked.errors:
            checked.error("所属部门", f"层级为“{Tier.DEPARTMENT.label}”时必须填写所属部门")

    def _check_username(self, checked, row):
        if "登录账号" not in row:
            return ""
        username = _text(row["登录账号"])
        if not username:
            return ""
        User = get_user_model()
        limit = User._meta.get_field(User.USERNAME_FIELD).max_length
        if len(username) > limit:
            checked.error("登录账号", f"登录账号不能超过 {limit} 个字符")
            return ""
        try:
            User.username_validator(username)
        except ValidationError:
            checked.error("登录账号", f"登录账号“{username}”只能包含字母、数字、汉字和 @ . + - _")
            return ""
        if username in self.cadre_of_account:
            checked.error("登录账号", f"登录账号“{username}”已属于您管辖范围以外的干部，不能在此导入")
            return ""
        return username

    def find(self, checked, username, name, scope_id):
        """The existing cadre of the row: by 登录账号 when given, else by (姓名, 工作范围)."""
        if username:
            cadre = self.by_username.get(username)
            if cadre is None:
                # An account not linked yet: the same person may be on the list without one.
                unlinked = [c for c in self.by_name_scope.get((name, scope_id), []) if not c.user_id]
                cadre = unlinked[0] if len(unlinked) == 1 else None
            checked.instance = cadre
            checked.extra["account"] = self.accounts.get(username)
            return
        same = self.by_name_scope.get((name, scope_id), [])
        if len(same) > 1:
            checked.error("姓名", f"该工作范围内有 {len(same)} 名干部叫“{name}”，请填写登录账号以区分")
        elif same:
            checked.instance = same[0]

    def check_duplicates(self, rows):
        first_account, first_name = {}, {}
        for c in rows:
            username, name, scope_id = (c.extra.get(k) for k in ("username", "name", "scope_id"))
            if username:
                if username in first_account:
                    c.error("登录账号", f"与第 {first_account[username]} 行的登录账号相同，每个账号只能出现一次")
                else:
                    first_account[username] = c.number
            if name and scope_id is not None:
                key = (name, scope_id)
                if not username and key in first_name:
                    c.error("姓名", f"与第 {first_name[key]} 行是同一工作范围内的同名干部；如确是两人，请填写登录账号以区分")
                first_name.setdefault(key, c.number)

    def apply(self, instance, checked):
        # What the account's role depends on, before the row changes it (see _role_missing).
        instance._tier_before, instance._user_before = instance.tier, instance.user_id
        super().apply(instance, checked)
        username = checked.extra.get("username")
        if username and not instance.user_id:
            account = checked.extra.get("account")
            if account is not None:
                instance.user = account
            else:
                instance._pending_username = username

    def skip_row(self, instance, original, row, import_validation_errors=None):
        return super().skip_row(instance, original, row, import_validation_errors) and not self._role_missing(instance)

    def before_save_instance(self, instance, row, **kwargs):
        username = getattr(instance, "_pending_username", "")
        if username and not instance.user_id:
            account = get_user_model()(username=username)
            account.set_unusable_password()
            account.save()
            instance.user = account

    def after_save_instance(self, instance, row, **kwargs):
        role = self._role_missing(instance)
        if role:
            instance.user.groups.add(self._group(role))
            self._memberships.add((instance.user_id, role))
            self._with_roles.add(instance.user_id)

    def _role_missing(self, instance):
        """The role the cadre's account should get now for its tier, or None.

        An account gets the tier's role when it holds no role yet (a new account, or one linked
        now), or when the row changes the tier (a grid worker made 社区书记). An account that
        already has its roles keeps them as they are: re-importing an exported roster changes no
        one's role (a 部门经办人 listed as 部门挂包 cadre does not also become 干部/网格员).
        Roles are only added, never taken away, and the importing user's own account is left
        alone: nobody raises his own role by importing a file.
        """
        if not instance.tier:
            return None
        if instance.user_id:
            user_id = instance.user_id
        elif getattr(instance, "_pending_username", ""):
            user_id = None  # a new account holds nothing yet
        else:
            return None
        if user_id is not None and self.user is not None and user_id == self.user.pk:
            return None
        role = role_for_tier(instance.tier)
        if (user_id, role) in self._memberships:
            return None
        has_roles = user_id in self._with_roles
        tier_changed = getattr(instance, "_tier_before", instance.tier) != instance.tier
        if not has_roles or tier_changed:
            return role
        return None

    def _group(self, role):
        if role not in self._groups:
            group = Group.objects.filter(name=role).first()
            if group is None:
                sync_role_groups()
                group = Group.objects.get(name=role)
            self._groups[role] = group
        return self._groups[role]


# ---------------------------------------------------------------------------------------------
# 包户名单 (export only)


class AssignmentResource(resources.ModelResource):
    """包户名单: who visits which household. No resident ID numbers or phones."""

    campaign = Field(column_name="走访活动", readonly=True)
    community = Field(column_name="社区", readonly=True)
    grid = Field(column_name="网格", readonly=True)
    address = Field(column_name="地址", readonly=True)
    head_name = Field(column_name="户主姓名", readonly=True)
    cadre = Field(column_name="包户干部", readonly=True)
    tier = Field(column_name="层级", readonly=True)
    unit = Field(column_name="工作单位", readonly=True)
    cadre_phone = Field(column_name="联系电话(干部)", readonly=True)
    source = Field(column_name="来源", readonly=True)

    TITLE = "包户名单"

    class Meta:
        model = Assignment
        name = "包户名单"
        fields = (
            "campaign",
            "community",
            "grid",
            "address",
            "head_name",
            "cadre",
            "tier",
            "unit",
            "cadre_phone",
            "source",
        )

    def __init__(self, user=None, **kwargs):
        super().__init__(**kwargs)
        self.user = user

    def get_queryset(self):
        qs = Assignment.objects.all() if self.user is None else Assignment.objects.visible_to(self.user)
        return qs.order_by("campaign", "household__path", "household__unit", "household__room", "tier", "pk")

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related(
            "campaign", "household__community", "household__grid", "household__building", "cadre"
        )

    def after_export(self, queryset, dataset, **kwargs):
        dataset.title = self.TITLE

    def import_data(self, *args, **kwargs):
        raise NotImplementedError("包户名单只能导出；包户到人请在“走访活动”中分配")

    def dehydrate_campaign(self, obj):
        return str(obj.campaign)

    def dehydrate_community(self, obj):
        return obj.household.community.name

    def dehydrate_grid(self, obj):
        return obj.household.grid.name

    def dehydrate_address(self, obj):
        return obj.household.address

    def dehydrate_head_name(self, obj):
        return obj.household.head_name

    def dehydrate_cadre(self, obj):
        return obj.cadre.name

    def dehydrate_tier(self, obj):
        return obj.get_tier_display()

    def dehydrate_unit(self, obj):
        return obj.cadre.unit

    def dehydrate_cadre_phone(self, obj):
        return obj.cadre.phone

    def dehydrate_source(self, obj):
        return obj.get_source_display()
