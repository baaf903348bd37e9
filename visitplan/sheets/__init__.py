"""The small staff-maintained lists as Excel sheets, with django-import-export.

- 责任单位 (``DepartmentResource``, ``departments``): import and export; natural key 名称.
- 干部名册 (``CadreResource``, ``roster``): import and export; natural key 登录账号 when given, else
  (姓名, 工作范围). 工作范围 is resolved only among the nodes the importing user may hand out
  (``Node.objects.visible_to(user, ancestors=False)``), so nobody files a cadre outside his scope.
- 包户名单 (``AssignmentResource``, ``assignments``): export only; no resident ID numbers or phones.

``reading`` reads an upload (bounded, sandboxed, through core.tables) into a Dataset under the
list's template headers; ``base`` is what the importable lists share (``SheetResource``). The
household register has its own fast path (households.register); this package is for lists of a
few hundred or thousand rows, where import-export's row-by-row path is fast enough.

Import rules, the same for both lists:

- a file is read as the office keeps it (``reading``: .xlsx, .xls or .csv; a title above the
  header, the columns in any order and under the usual other names, cells merged down), and
  every bad cell is reported as "第 5 行【联系电话】：原因" (the file's own Excel row numbers);
- the file is checked as a whole first (its header: missing or doubled columns; then duplicated
  rows), and an import with any
  error writes nothing (``use_transactions``; the admin also rolls back on validation errors);
- importing the same file twice changes nothing the second time (``skip_unchanged``);
- a column missing from the file leaves that field alone; a blank cell clears a text field, while a
  blank 在岗 / 参与包户 / 类别 keeps the current value (the default for new rows) and a blank
  登录账号 never unlinks an account.

Exports write the same columns as the import reads, so export → import round-trips. The formats
write text as text: a name starting with "=" never becomes a live formula in the xlsx, and the CSV
export (core.spreadsheets.SafeCSV) prefixes such cells with an apostrophe.

Code outside the package imports from here.
"""

from .assignments import AssignmentResource
from .base import import_error_lines, import_error_message, import_error_summary
from .departments import DepartmentResource
from .reading import ACCEPTED, MAX_UPLOAD_MB, SUFFIXES, SheetFile, SheetFileError, SheetXLSX, check_upload, read_sheet
from .roster import CadreResource

__all__ = [
    "ACCEPTED",
    "MAX_UPLOAD_MB",
    "SUFFIXES",
    "AssignmentResource",
    "CadreResource",
    "DepartmentResource",
    "SheetFile",
    "SheetFileError",
    "SheetXLSX",
    "check_upload",
    "import_error_lines",
    "import_error_message",
    "import_error_summary",
    "read_sheet",
]
