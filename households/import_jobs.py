"""The register import as jobs (core.jobs): the check (试导入, the preview) and the import.

One path for every upload: the view records a job, and ``run_register_job`` does the work —
inline in the request for a file of up to IMPORT_BACKGROUND_ROWS rows (the template file stays
instant), in the Celery task ``households.tasks.register_job_task`` for a larger one, so a
200,000-row register neither holds a request for many seconds nor renders a page listing every
error. Either way the rules are households.register's (``import_register``), the import is all
or nothing, and the report goes into the job's result; the bad rows go into an error file
(households.import_errors) that only the job's user may download.

The job re-checks, when it runs, that its user may still import into the street (the permission
and the scope may have changed since the upload).
"""

import logging
import os
import re
import zipfile
from pathlib import Path

from django.conf import settings

from core.jobs import ProgressReporter, job_claim, job_create, job_fail, job_finish
from core.models import BackgroundJob
from core.tables import detect_format

from .import_errors import ErrorFileWriter
from .levels import for_street, for_user
from .models import Node, NodeKind
from .register import ImportReport, import_register

logger = logging.getLogger(__name__)

CHECK = "households.register_check"  # the trial run behind the preview (dry run)
IMPORT = "households.register_import"  # 确认导入
KINDS = (CHECK, IMPORT)

# Importing adds households and changes existing ones.
IMPORT_PERMISSIONS = ("households.add_household", "households.change_household")
# The preview lists this many errors; the error file has every bad row.
ERRORS_SHOWN = 200

UPLOAD_SUBDIR = "imports"  # under MEDIA_ROOT: the uploads between preview and import, and the error files


class JobRefused(Exception):
    """The job may not run (any more); the message is for the user."""


def importable_streets(user):
    """Streets the user may import into: inside the user's scope, not merely above it.

    An import can touch every household of the street, so seeing a street only as the
    ancestor of one's community is not enough.
    """
    return Node.objects.visible_to(user, ancestors=False).filter(kind=NodeKind.STREET)


def may_import(user) -> bool:
    return user.is_active and user.is_staff and user.has_perms(IMPORT_PERMISSIONS)


# Files -----------------------------------------------------------------------------------------


def upload_dir() -> Path:
    return Path(settings.MEDIA_ROOT) / UPLOAD_SUBDIR


def upload_path(token) -> Path:
    return upload_dir() / f"{token}.xlsx"


def error_file_name(token) -> str:
    """The error file of an upload, relative to MEDIA_ROOT (BackgroundJob.result_file). It ends
    in .xlsx like the upload, so that the stale uploads' purge deletes it too."""
    return f"{UPLOAD_SUBDIR}/{token}-errors.xlsx"


# A rough size of one row of an .xls, to guess its row count without parsing it.
XLS_BYTES_PER_ROW = 150
# Bytes of sheet XML read at a time while counting rows.
COUNT_CHUNK = 1 << 20
# A <row> tag (with or without a namespace prefix), not <rowBreaks>.
_ROW_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s/>]")


def count_sheet_rows(path, *, stop_after: int | None = None) -> int:
    """Data rows of a register file, as far as a glance tells: the <row> tags of the largest
    worksheet of an .xlsx, the lines of a .csv, a guess from an .xls's size; less the header.
    Counting stops once past ``stop_after``.

    For deciding inline or background and for sizing the progress bar only (blank rows count,
    the reader skips them). Streams the sheet's XML: no parser, memory flat. Only for a file
    that core.xlsx_guard has passed.
    """
    count, tail = 0, b""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
        if detect_format(head) == "csv":
            return _count_lines(path, stop_after)
        if detect_format(head) == "xls":
            # An .xls holds at most 65,536 rows; about 150 bytes a row is the usual size.
            return os.path.getsize(path) // XLS_BYTES_PER_ROW
        with zipfile.ZipFile(path) as archive:
            sheets = [
                e for e in archive.infolist() if re.fullmatch(r"xl/worksheets/[^/]+\.xml", e.filename, re.IGNORECASE)
            ]
            if not sheets:
                return 0
            with archive.open(max(sheets, key=lambda e: e.file_size)) as part:
                while chunk := part.read(COUNT_CHUNK):
                    # A tag cut between two chunks is whole in tail + chunk; those in tail alone were counted.
                    window = tail + chunk
                    count += len(_ROW_TAG.findall(window)) - len(_ROW_TAG.findall(tail))
                    tail = chunk[-32:]
                    if stop_after is not None and count - 1 > stop_after:
                        break
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):
        return 0  # the reader says what is wrong with the file, in the user's words
    return max(0, count - 1)


def read_options(options) -> dict:
    """The reading options an import job accepts, as plain JSON (import_register's ``mapping``,
    ``sheet`` and ``defaults``)."""
    options = options or {}
    mapping = {str(k): str(v) for k, v in (options.get("mapping") or {}).items()}
    defaults = {
        k: str(v).strip() for k, v in (options.get("defaults") or {}).items() if k in ("community", "grid") and v
    }
    sheet = str(options.get("sheet") or "") or None
    return {"mapping": mapping, "sheet": sheet, "defaults": defaults}


def _count_lines(path, stop_after):
    lines = 0
    with open(path, "rb") as f:
        while chunk := f.read(COUNT_CHUNK):
            lines += chunk.count(b"\n")
            if stop_after is not None and lines - 1 > stop_after:
                break
    return max(0, lines - 1)


def runs_in_background(rows: int) -> bool:
    return rows > settings.IMPORT_BACKGROUND_ROWS


# Jobs --------------------------------------------------------------------------------------------


def start_register_job(*, kind, user, street, token, filename, rows, options=None) -> BackgroundJob:
    """Record a check or import job of the upload ``token`` and run it: inline when it has at
    most IMPORT_BACKGROUND_ROWS rows (the job comes back finished), else in the background
    (queued when the request's transaction commits). ``options``: how to read the file —
    {"mapping": {header: field}, "sheet": name, "defaults": {"community": …, "grid": …}}."""
    params = {"street": street.pk, "token": token, "filename": filename, "options": read_options(options)}
    job = job_create(kind=kind, user=user, params=params)
    if runs_in_background(rows):
        from .tasks import register_job_task

        register_job_task.delay_on_commit(job.pk)
    else:
        run_register_job(job.pk)
        job.refresh_from_db()
    return job


class _JobProgress:
    """import_register's progress in two steps: checking every row (a bar over the rows), then
    writing (a trial run writes and rolls back). The writing happens in one transaction, whose
    progress nobody else could see: it is announced before it starts, with a bar without a value."""

    def __init__(self, job, *, rows, dry_run):
        self.reporter = ProgressReporter(job)
        self.rows = rows
        self.dry_run = dry_run

    def __call__(self, step, done, total):
        if step == "check":
            rows = max(self.rows, done)
            where = f"正在检查第 {done} 行" if done else "正在检查各行"
            self.reporter(done, rows, f"第 1 步（共 2 步）：{where}，共约 {rows} 行", force=not done)
        elif done == 0:
            what = "正在试导入（写入后撤销，不会保存）" if self.dry_run else "正在写入数据库"
            self.reporter(0, 0, f"第 2 步（共 2 步）：各行检查无误，{what}，共 {total} 户，请稍候", force=True)


def run_register_job(job_id: int) -> BackgroundJob | None:
    """Run a register check or import job; the body of the task, and of small uploads inline.

    Steps: claim the job (None when it is not there to take); check again that its user may
    import into its street; run import_register on the stored upload (a dry run for a check),
    the bad rows going into the error file; finish the job with the report (its first
    ERRORS_SHOWN errors) and the error file, or fail it with a message. The upload is deleted
    once it is of no more use: after an import, after a failure, after a check that found errors
    unless the file can still be read another way (``remappable``).
    """
    job = job_claim(job_id)
    if job is None:
        return None
    dry_run = job.kind == CHECK
    token = job.params.get("token", "")
    source = upload_path(token)
    errors_name = error_file_name(token)
    try:
        street = _street_for(job)
        if not token or not source.is_file():
            raise JobRefused("上传的文件已不在服务器上（已取消、已导入或已超过 24 小时），请重新上传")
        progress = _JobProgress(job, rows=count_sheet_rows(source), dry_run=dry_run)
        progress("check", 0, None)
        with ErrorFileWriter(Path(settings.MEDIA_ROOT) / errors_name, levels=for_street(street)) as error_file:
            report = import_register(
                street=street,
                source=source,
                dry_run=dry_run,
                # The upload form has passed this very file through the guard; the import checks it again.
                inspected=dry_run,
                max_errors=ERRORS_SHOWN,
                on_bad_row=error_file.add,
                **read_options(job.params.get("options")),
                progress=progress,
            )
    except JobRefused as exc:
        source.unlink(missing_ok=True)
        job_fail(job, message=str(exc))
        return job
    except Exception:
        logger.exception("register job %s (%s) failed", job.pk, job.kind)
        source.unlink(missing_ok=True)
        job_fail(
            job,
            message=f"{'检查' if dry_run else '导入'}时发生意外错误，未写入任何数据。请重新上传再试；"
            f"如果再次出现，请联系系统管理员（任务编号 {job.pk}）",
        )
        return job
    if not dry_run or (not report.ok and not remappable(report)):
        source.unlink(missing_ok=True)
    job_finish(
        job,
        result={**report.as_dict(), "filename": job.params.get("filename", "")},
        result_file=errors_name if error_file.rows else "",
        message=headline(report),
    )
    return job


def remappable(report: ImportReport) -> bool:
    """A check refused for the file as a whole that the admin may still read another way (pick a
    sheet, map a column): its upload is kept, like a preview's, until the stale uploads' purge.
    Bad rows are corrected in the file: that upload is deleted at once, as it holds their data."""
    return not report.bad_rows and bool(report.sheet_choices or (report.found or {}).get("columns"))


def _street_for(job):
    user = job.user
    if not may_import(user):
        raise JobRefused("你已没有导入居民底册的权限，未导入任何数据")
    street = importable_streets(user).filter(pk=job.params.get("street")).first()
    if street is None:
        raise JobRefused(for_user(user).rewrite("你已无权导入到所选街道，未导入任何数据"))
    return street


def headline(report: ImportReport) -> str:
    """One line on the report, for the job's message."""
    if not report.ok:
        return report.summary().splitlines()[0]
    if report.dry_run:
        return f"检查通过：共 {report.total_rows} 行，确认后才会导入"
    return f"已导入：共 {report.total_rows} 行，新增 {report.created} 户，更新 {report.updated} 户，未变 {report.unchanged} 户"
