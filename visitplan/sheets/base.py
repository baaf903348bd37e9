"""The machinery of an importable staff list: ``SheetResource`` (one row per object, Chinese
headers, every bad cell reported, all rows or nothing), its ``Column`` and ``CheckedRow``, the
row rules the lists share, and the messages of an import result."""

from dataclasses import dataclass, field

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from import_export import resources
from import_export.fields import Field
from import_export.results import RowResult

from households.validators import normalize_phone, phone_error

from .reading import SheetFileError, as_text, is_blank, is_number

# What a 是/否 column accepts (compared lower-cased).
_YES_VALUES = {"是", "1", "true", "y", "yes", "√"}
_NO_VALUES = {"否", "0", "false", "n", "no", "×"}


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

    number: int  # Excel row number
    values: dict = field(default_factory=dict)  # attribute → value
    errors: dict = field(default_factory=dict)  # header → [reason, …]
    instance: object = None
    extra: dict = field(default_factory=dict)

    def error(self, column, message):
        self.errors.setdefault(column, []).append(message)


class SheetResource(resources.ModelResource):
    """A staff list as a sheet: one row per object, Chinese headers, every bad cell reported."""

    TABLE = ""  # the office table (households.column_aliases) an upload is read as
    FIELDS = ()  # its core.tables.Field's, labelled with the resource's headers in the same order
    TITLE = ""  # sheet title of the export
    # progress(step, done, total) of an import, for a background job's page (visitplan/admin_jobs.py):
    # ("check", rows checked, rows) while the rows are checked, ("save", rows saved, rows) while saved.
    progress = None

    def __init__(self, user=None, **kwargs):
        super().__init__(**kwargs)
        self.user = user
        for f in self.fields.values():
            if isinstance(f, Column):
                f.resource = self
        self._checked = {}  # data row index (1-based, as import-export counts) → CheckedRow or None
        self._numbers = {}  # data row index → Excel row number
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
        self._checked, self._numbers, self._file_error = {}, {}, None
        dataset.headers = [as_text(h) for h in (dataset.headers or [])]
        # A Dataset of read_sheet carries the Excel row numbers; any other has its header in row 1.
        header_row = getattr(dataset, "header_row", 1)
        numbers = getattr(dataset, "row_numbers", None) or range(header_row + 1, header_row + 1 + len(dataset))
        user = self.user if self.user is not None else kwargs.get("user")
        try:
            if user is None or not user.is_authenticated:
                raise SheetFileError("导入需要登录用户")
            self._check_headers(dataset.headers, header_row)
            self.prepare(dataset, user)
        except Exception as exc:
            # import-export records it as the file's error; the rows are then not looked at.
            self._file_error = exc
            raise
        self.user = user
        checked = []
        for index, (number, values) in enumerate(zip(numbers, dataset, strict=True), start=1):
            self._numbers[index] = number
            if is_blank(values):
                self._checked[index] = None
                continue
            row = dict(zip(dataset.headers, values, strict=False))
            c = CheckedRow(number=number)
            self.check_row(c, row)
            self._checked[index] = c
            checked.append(c)
            if self.progress is not None:
                self.progress("check", index, len(dataset))
        self.check_duplicates(checked)

    def _check_headers(self, headers, header_row=1):
        known = self.headers()
        seen = set()
        for h in headers:
            if h and h in seen:
                raise SheetFileError(f"第 {header_row} 行表头中“{h}”出现了不止一次")
            seen.add(h)
        missing = [f.label for f in self.FIELDS if f.required and f.label not in headers]
        if missing:
            raise SheetFileError(f"第 {header_row} 行表头缺少列：{'、'.join(missing)}。表头应为：{'、'.join(known)}")

    def import_row(self, row, instance_loader, **kwargs):
        number = kwargs.get("row_number")
        if self._file_error is not None:
            return self._skipped()
        if number not in self._checked:  # import_data() without before_import's pass (not used here)
            raise RuntimeError("rows are checked in before_import")
        self._current = self._checked[number]
        if self._current is None:  # a blank row
            return self._skipped()
        result = super().import_row(row, instance_loader, **kwargs)
        if self.progress is not None:
            self.progress("save", number, len(self._checked))
        return result

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
            invalid.number = self._numbers.get(invalid.number, invalid.number)
        for errored in result.error_rows:
            errored.number = self._numbers.get(errored.number, errored.number)

    def after_export(self, queryset, dataset, **kwargs):
        dataset.title = self.TITLE

    # Shared row rules

    def text(self, checked, row, column, attr, *, required=False):
        """Put the column's text into values[attr] (when the column is in the file)."""
        if column not in row:
            return None
        value = as_text(row[column])
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
        value = normalize_phone(as_text(raw))
        reason = value and phone_error(value)
        if reason:
            if is_number(raw):
                reason += "；该单元格是数字格式，区号开头的 0 会丢失，请把该列设置为“文本”格式"
            checked.error(column, f"{reason}（现为“{as_text(raw)}”）")
        else:
            checked.values[attr] = value

    def flag(self, checked, row, column, attr, *, default, yes=(), no=()):
        """A 是/否 column; ``yes`` and ``no`` are the column's own words for them besides 是/否
        (在岗: "在岗"/"离岗", as a 状态 column has them)."""
        if column not in row:
            return
        value = as_text(row[column])
        if not value:
            if checked.instance is None:
                checked.values[attr] = default
            return
        if value.lower() in _YES_VALUES or value in yes:
            checked.values[attr] = True
        elif value.lower() in _NO_VALUES or value in no:
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


# The problems a message lists; the rest are counted.
ERRORS_SHOWN = 200


def import_error_message(result) -> list[str]:
    """What the user is told of a refused import: the summary, then the first ERRORS_SHOWN problems
    (and how many there are in all)."""
    lines = import_error_lines(result)
    shown = lines[:ERRORS_SHOWN]
    if len(lines) > len(shown):
        shown.append(f"…… 共 {len(lines)} 处错误")
    return [import_error_summary(result), *shown]
