"""Register import in the admin: upload → trial run with a preview → 确认导入.

The rules live in households.register, the running of them in households.import_jobs; these
views only take the file, keep it between the two steps, start the jobs and show them. A small
file is checked and imported within the request; a large one (over IMPORT_BACKGROUND_ROWS rows)
in the background, while its page shows the progress (static/js/job-progress.js polls the
job's status; without JavaScript the page refreshes itself) and then the preview or the result.

URLs (HouseholdAdmin.get_urls() adds ``get_import_urls(self)``): import/ (the form, and the
upload), import/confirm/ (确认导入 or 取消), import/template/ (the blank template),
import/job/?job=N (a job's progress, preview or result; ``&format=json``: its status),
import/errors/?job=N (the job's error file, logged in the access log). A job is its user's
only: anybody else gets 404.
"""

import functools
import secrets
import time

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import content_disposition_header

from core.jobs import get_job_for_user, job_delays, job_status
from core.models import BackgroundJob, JobStatus
from core.params import int_param
from core.tables import detect_format
from core.xlsx_guard import inspect_xlsx

from ..access_log import access_log_record
from ..column_aliases import IGNORE, office_table, remember_mapping
from ..import_errors import REASON_HEADER
from ..import_jobs import (
    CHECK,
    ERRORS_SHOWN,
    IMPORT,
    IMPORT_PERMISSIONS,
    KINDS,
    count_sheet_rows,
    importable_streets,
    start_register_job,
    upload_dir,
    upload_path,
)
from ..levels import for_node, for_user
from ..models import Household, Node
from ..register import ImportReport, register_layout, write_register

__all__ = ["IMPORT_PERMISSIONS", "get_import_urls", "importable_streets"]

SESSION_KEY = "households_register_import"
# An upload left behind at the preview (the user walked away) is deleted after this long, and
# so is an error file: both hold residents' ID numbers.
STALE_UPLOAD_SECONDS = 24 * 3600
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ACCEPTED = ",".join((".xlsx", ".xls", ".csv", XLSX_CONTENT_TYPE, "application/vnd.ms-excel", "text/csv"))
# The table whose stored column names apply (households.column_aliases).
TABLE = "register"
RECENT_JOBS_SHOWN = 5
# The header columns the mapping form takes (core.tables reads at most 64).
MAX_MAPPED_COLUMNS = 64


class RegisterUploadForm(forms.Form):
    street = forms.ModelChoiceField(label="导入到街道", queryset=Node.objects.none(), empty_label=None)
    file = forms.FileField(
        label="居民底册文件",
        help_text="Excel 工作簿（.xlsx 或 97-2003 的 .xls）或 CSV 文件；可以是本单位自己的表格",
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPTED}),
    )
    community = forms.CharField(
        label="所属社区",
        required=False,
        max_length=100,
        help_text="文件中没有“社区”列时填写：整份文件的户都属于这个社区（如“湖田社区”）",
    )
    grid = forms.CharField(
        label="所属网格",
        required=False,
        max_length=100,
        help_text="文件中没有“网格”列时填写，如“第1网格”",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["street"].queryset = importable_streets(user)
        self.fields["file"].help_text += f"，不超过 {settings.IMPORT_MAX_UPLOAD_MB} MB"
        self.levels = levels = for_user(user)
        if levels.rural:  # the labels and hints in the words of the user's 镇
            community, grid = levels.community, levels.grid
            self.fields["street"].label = f"导入到{levels.street}"
            self.fields["community"].label = f"所属{community}"
            hint = f"文件中没有“{community}”列时填写：整份文件的户都属于这个{community}（如“张家村”）"
            self.fields["community"].help_text = hint
            self.fields["grid"].label = f"所属{grid}"
            self.fields["grid"].help_text = f"文件中没有“{grid}”列时填写，如“第1村民小组”"

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.IMPORT_MAX_UPLOAD_MB
        if upload.size > limit * 1024 * 1024:
            # Checked before the file is opened: parsing cost grows with the file, not the row count.
            raise forms.ValidationError(
                self.levels.rewrite(
                    f"文件有 {upload.size / 1024 / 1024:.1f} MB，超过了 {limit} MB 的上限；请按社区拆分成几个文件分别导入"
                )
            )
        # The format by content, whatever the name says. An .xlsx: zip, XML and cell bombs,
        # macros refused before the file is stored or parsed (XlsxRejected, a ValidationError).
        # An .xls or a .csv is parsed in the limited child process only, like every file.
        upload.seek(0)
        fmt = detect_format(upload.read(8))
        upload.seek(0)
        if fmt is None:
            raise forms.ValidationError("文件是空的，没有任何内容")
        if fmt == "xlsx":
            inspect_xlsx(upload)
        return upload

    def options(self) -> dict:
        defaults = {k: self.cleaned_data.get(k, "").strip() for k in ("community", "grid")}
        return {"defaults": {k: v for k, v in defaults.items() if v}}


def get_import_urls(model_admin):
    """URL patterns of the import, for HouseholdAdmin.get_urls() (put them before the default ones)."""
    wrap = model_admin.admin_site.admin_view

    def view(func):
        return wrap(functools.partial(func, model_admin=model_admin))

    return [
        path("import/", view(import_view), name=_url_name(model_admin, "import")),
        path("import/confirm/", view(import_confirm_view), name=_url_name(model_admin, "import_confirm")),
        path("import/columns/", view(import_columns_view), name=_url_name(model_admin, "import_columns")),
        path("import/template/", view(import_template_view), name=_url_name(model_admin, "import_template")),
        path("import/job/", view(import_job_view), name=_url_name(model_admin, "import_job")),
        path("import/errors/", view(import_errors_view), name=_url_name(model_admin, "import_errors")),
    ]


def _url_name(model_admin, action):
    opts = model_admin.model._meta
    return f"{opts.app_label}_{opts.model_name}_{action}"


def _admin_url(model_admin, action):
    return reverse(f"{model_admin.admin_site.name}:{_url_name(model_admin, action)}")


def _job_url(model_admin, job, action="import_job"):
    return f"{_admin_url(model_admin, action)}?job={job.pk}"


def import_view(request, *, model_admin):
    """Step 1: the upload form; on upload, the trial run (step 2): its preview at once for a
    small file, else the page of its background job."""
    _check_permission(request)
    if request.method == "POST":
        form = RegisterUploadForm(request.POST, request.FILES, user=request.user)
    else:
        form = RegisterUploadForm(user=request.user)
    if form.is_bound and form.is_valid():
        street = form.cleaned_data["street"]
        upload = form.cleaned_data["file"]
        _discard_pending(request)
        token = _store_upload(upload)
        # Counting stops past the threshold: all it has to tell is "small" or "large".
        rows = count_sheet_rows(upload_path(token), stop_after=settings.IMPORT_BACKGROUND_ROWS)
        options = form.options()
        job = start_register_job(
            kind=CHECK, user=request.user, street=street, token=token, filename=upload.name, rows=rows, options=options
        )
        request.session[SESSION_KEY] = {
            "token": token,
            "street": street.pk,
            "filename": upload.name,
            "job": job.pk,
            "options": options,
            "rows": rows,
        }
        if not job.finished:
            return redirect(_job_url(model_admin, job))
        return _render_job(request, model_admin, job)
    context = {
        **_admin_context(request, model_admin, "导入居民底册"),
        "form": form,
        "headers": register_layout(for_user(request.user), buildings=False).headers,
        "max_upload_mb": settings.IMPORT_MAX_UPLOAD_MB,
        "max_rows": settings.IMPORT_MAX_ROWS,
        "background_rows": settings.IMPORT_BACKGROUND_ROWS,
        "errors_shown": ERRORS_SHOWN,
        "check_kind": CHECK,
        "recent_jobs": BackgroundJob.objects.visible_to(request.user).filter(kind__in=KINDS)[:RECENT_JOBS_SHOWN],
    }
    return render(request, "admin/households/household/import.html", context)


def import_confirm_view(request, *, model_admin):
    """Step 3: 确认导入 imports the file kept from step 1 (or 取消 discards it): within the
    request for a small file, else in the background."""
    _check_permission(request)
    import_url = _admin_url(model_admin, "import")
    if request.method != "POST":
        return redirect(import_url)
    pending = request.session.get(SESSION_KEY)
    if "cancel" in request.POST:
        _discard_pending(request)
        messages.info(request, "已取消导入，未写入任何数据")
        return redirect(import_url)
    source = upload_path(pending["token"]) if pending else None
    if not pending or request.POST.get("token") != pending["token"] or not source.exists():
        messages.warning(request, "这次导入已经完成或已过期，请重新上传文件")
        return redirect(import_url)
    check = BackgroundJob.objects.visible_to(request.user).filter(pk=pending.get("job"), kind=CHECK).first()
    if check is None or check.status != JobStatus.DONE or not ImportReport.from_dict(check.result).ok:
        # Only a file whose trial run passed is imported (the form offers 确认导入 only then).
        messages.warning(request, "文件还没有通过检查，请等检查完成、预览无误后再确认导入")
        return redirect(_job_url(model_admin, check) if check else import_url)
    street = importable_streets(request.user).filter(pk=pending["street"]).first()
    if street is None:
        _discard_pending(request)
        messages.error(request, "无权导入到该街道，请重新上传文件")
        return redirect(import_url)

    # The import job owns the upload from here (it deletes it when done): a second click on
    # 确认导入 finds no pending upload and imports nothing twice.
    request.session.pop(SESSION_KEY, None)
    rows = ImportReport.from_dict(check.result).total_rows
    job = start_register_job(
        kind=IMPORT,
        user=request.user,
        street=street,
        token=pending["token"],
        filename=pending["filename"],
        rows=rows,
        options=check.params.get("options"),
    )
    if not job.finished:
        return redirect(_job_url(model_admin, job))
    report = ImportReport.from_dict(job.result)
    if job.status == JobStatus.DONE and report.ok:
        messages.success(request, f"“{pending['filename']}”已导入{street.name}。" + report.summary())
        return redirect(_admin_url(model_admin, "changelist"))
    # Failed, or the data changed between preview and confirmation (e.g. a focus group was renamed).
    return _render_job(request, model_admin, job)


def import_columns_view(request, *, model_admin):
    """The admin's own column mapping (and sheet) for the pending upload: checked again with it,
    and remembered for the street's next file when asked."""
    _check_permission(request)
    import_url = _admin_url(model_admin, "import")
    pending = request.session.get(SESSION_KEY)
    if request.method != "POST" or not pending or request.POST.get("token") != pending["token"]:
        messages.warning(request, "这次导入已经完成或已过期，请重新上传文件")
        return redirect(import_url)
    street = importable_streets(request.user).filter(pk=pending["street"]).first()
    if street is None or not upload_path(pending["token"]).exists():
        _discard_pending(request)
        messages.error(request, "这次导入已失效，请重新上传文件")
        return redirect(import_url)
    choices = {key for key, _label in office_table(TABLE).choices()}
    mapping = {}
    for index in range(MAX_MAPPED_COLUMNS):
        header = request.POST.get(f"header-{index}")
        if header is None:
            break
        field = request.POST.get(f"field-{index}", "")
        if header.strip() and field in choices:
            mapping[header] = field
    options = dict(pending.get("options") or {})
    options["mapping"] = mapping
    sheet = request.POST.get("sheet", "")
    if sheet:
        options["sheet"] = sheet
    if request.POST.get("remember") and mapping:
        remember_mapping(TABLE, street, mapping, by=request.user)
    job = start_register_job(
        kind=CHECK,
        user=request.user,
        street=street,
        token=pending["token"],
        filename=pending["filename"],
        rows=pending.get("rows", 0),
        options=options,
    )
    request.session[SESSION_KEY] = {**pending, "job": job.pk, "options": job.params["options"]}
    if not job.finished:
        return redirect(_job_url(model_admin, job))
    return _render_job(request, model_admin, job)


def import_job_view(request, *, model_admin):
    """A check or import job of the user: its progress while it runs, then the preview or the
    result. ``format=json``: the job's status only, for the page's polling script."""
    _check_permission(request)
    job_id = int_param(request, "job")
    if job_id is None:
        return redirect(_admin_url(model_admin, "import"))
    job = get_job_for_user(request.user, job_id, kinds=KINDS)
    if request.GET.get("format") == "json":
        response = JsonResponse(job_status(job))
        response["Cache-Control"] = "no-store"
        return response
    return _render_job(request, model_admin, job)


def import_errors_view(request, *, model_admin):
    """The error file of the user's job: the bad rows as uploaded, with 错误原因. It holds
    residents' data, so every download is written to the access log (AccessLog)."""
    _check_permission(request)
    job_id = int_param(request, "job")
    if job_id is None:
        return redirect(_admin_url(model_admin, "import"))
    job = get_job_for_user(request.user, job_id, kinds=KINDS)
    path = job.result_path
    if path is None:
        messages.warning(request, "错误文件已不在服务器上（只保留 24 小时），请重新上传文件生成")
        return redirect(_job_url(model_admin, job))
    report = ImportReport.from_dict(job.result)
    filename = job.result.get("filename") or "居民底册.xlsx"
    stem = filename[:-5] if filename.lower().endswith(".xlsx") else filename
    handle = open(path, "rb")  # noqa: SIM115 (FileResponse closes it)
    access_log_record(request, what=f"居民底册导入错误文件：{filename}", rows=report.bad_rows)
    return FileResponse(handle, as_attachment=True, filename=f"{stem}_有误的行.xlsx", content_type=XLSX_CONTENT_TYPE)


def import_template_view(request, *, model_admin):
    """The blank template: header row and the 填写说明 sheet, written by the same code as exports.
    ``?street=N``: that street's (a 镇's has 村(居) and 村民小组, no 楼栋 or 单元); else the
    user's own street's."""
    _check_permission(request)
    street_id = int_param(request, "street")
    street = importable_streets(request.user).filter(pk=street_id).first() if street_id is not None else None
    levels = for_node(street) if street is not None else for_user(request.user)
    response = HttpResponse(content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename="居民底册模板.xlsx")
    write_register(Household.objects.none(), response, levels=levels)
    return response


def _check_permission(request):
    if not request.user.has_perms(IMPORT_PERMISSIONS):
        raise PermissionDenied


def _admin_context(request, model_admin, title):
    return {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": title,
    }


def _render_job(request, model_admin, job):
    """A job's page: the progress bar while it runs, the failure, or the preview / the result."""
    pending = request.session.get(SESSION_KEY)
    is_pending = bool(pending) and pending.get("job") == job.pk
    filename = job.params.get("filename", "")
    if not job.finished:
        now = timezone.now()
        context = {
            **_admin_context(request, model_admin, "正在检查文件" if job.kind == CHECK else "正在导入"),
            "job": job,
            "is_check": job.kind == CHECK,
            "filename": filename,
            "refresh_url": _job_url(model_admin, job),
            "status_url": _job_url(model_admin, job) + "&format=json",
            **job_delays(job, now=now),
        }
        return render(request, "admin/households/household/import_job.html", context)
    if job.status == JobStatus.FAILED:
        if is_pending:
            request.session.pop(SESSION_KEY, None)  # the job deleted the upload
        context = {
            **_admin_context(request, model_admin, "导入未完成"),
            "job": job,
            "is_check": job.kind == CHECK,
            "filename": filename,
        }
        return render(request, "admin/households/household/import_job.html", context)
    report = ImportReport.from_dict(job.result)
    if not report.ok and is_pending and not upload_path(pending["token"]).exists():
        request.session.pop(SESSION_KEY, None)  # the job deleted the upload: nothing to confirm
        is_pending = False
    if report.ok and report.dry_run:
        title = "导入预览"
    elif report.ok:
        title = "导入完成"
    else:
        title = "导入检查未通过"
    found = report.found or {}
    options = job.params.get("options") or {}
    levels = report.levels  # the street imported into: a 镇's counts and columns in its words
    layout = register_layout(levels)
    context = {
        **_admin_context(request, model_admin, title),
        "levels": levels,
        "job": job,
        "report": report,
        "filename": filename,
        "found": found,
        "options": options,
        # The column mapping form, while the upload is still pending in this session.
        "columns_url": _admin_url(model_admin, "import_columns") if is_pending and job.kind == CHECK else "",
        "field_choices": [(IGNORE, "（忽略该列）")] + [(f.key, f.label) for f in layout.fields],
        "pending_token": pending["token"] if is_pending else "",
        # 确认导入 only for the upload still pending in this session (not cancelled, replaced or imported).
        "token": pending["token"] if report.ok and report.dry_run and is_pending else None,
        "errors_url": _job_url(model_admin, job, "import_errors") if job.result_file else "",
        "errors_shown": ERRORS_SHOWN,
        "reason_header": REASON_HEADER,
    }
    return render(request, "admin/households/household/import_preview.html", context)


# Uploads kept between the preview and the confirmation -------------------------------------


def _store_upload(upload) -> str:
    directory = upload_dir()
    directory.mkdir(parents=True, exist_ok=True)
    _purge_stale_uploads(directory)
    token = secrets.token_hex(16)  # the only name the file has; it lives in the user's session and job
    with open(upload_path(token), "wb") as f:
        f.writelines(upload.chunks())
    return token


def _discard_pending(request):
    pending = request.session.pop(SESSION_KEY, None)
    if pending:
        upload_path(pending["token"]).unlink(missing_ok=True)


def _purge_stale_uploads(directory):
    """Uploads and error files (``<token>-errors.xlsx``) older than STALE_UPLOAD_SECONDS."""
    cutoff = time.time() - STALE_UPLOAD_SECONDS
    for stale in directory.glob("*.xlsx"):
        try:
            if stale.stat().st_mtime < cutoff:
                stale.unlink()
        except FileNotFoundError:  # another request purged it first
            pass
