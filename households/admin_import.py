"""Register import in the admin: upload → trial run with a preview → 确认导入.

The rules live in households.register; these views only take the file, keep it between the
two steps, and show the report. HouseholdAdmin.get_urls() adds ``get_import_urls(self)``.
"""

import functools
import secrets
import time
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import content_disposition_header

from .models import Household, Node, NodeKind
from .register import HEADERS, import_register, write_register
from .xlsx_guard import inspect_xlsx

# Importing adds households and changes existing ones.
IMPORT_PERMISSIONS = ("households.add_household", "households.change_household")
SESSION_KEY = "households_register_import"
UPLOAD_SUBDIR = "imports"
# An upload left behind at the preview (the user walked away) is deleted after this long:
# it holds residents' ID numbers.
STALE_UPLOAD_SECONDS = 24 * 3600
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def importable_streets(user):
    """Streets the user may import into: inside the user's scope, not merely above it.

    An import can touch every household of the street, so seeing a street only as the
    ancestor of one's community is not enough.
    """
    return Node.objects.visible_to(user, ancestors=False).filter(kind=NodeKind.STREET)


class RegisterUploadForm(forms.Form):
    street = forms.ModelChoiceField(label="导入到街道", queryset=Node.objects.none(), empty_label=None)
    file = forms.FileField(
        label="居民底册文件",
        help_text="Excel 工作簿（.xlsx），须使用居民底册模板的表头",
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx," + XLSX_CONTENT_TYPE}),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["street"].queryset = importable_streets(user)
        self.fields["file"].help_text += f"，不超过 {settings.IMPORT_MAX_UPLOAD_MB} MB"

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith(".xlsx"):
            raise forms.ValidationError(
                "只能导入 .xlsx 格式的 Excel 工作簿；.xls 或 .csv 文件请先在 Excel 中另存为“Excel 工作簿(*.xlsx)”"
            )
        limit = settings.IMPORT_MAX_UPLOAD_MB
        if upload.size > limit * 1024 * 1024:
            # Checked before the file is opened: parsing cost grows with the file, not the row count.
            raise forms.ValidationError(
                f"文件有 {upload.size / 1024 / 1024:.1f} MB，超过了 {limit} MB 的上限；请按社区拆分成几个文件分别导入"
            )
        # Zip, XML and cell bombs, macros, files that are not really xlsx: refused before the
        # file is stored or parsed (raises XlsxRejected, a ValidationError with the reason).
        inspect_xlsx(upload)
        return upload


def get_import_urls(model_admin):
    """URL patterns of the import, for HouseholdAdmin.get_urls() (put them before the default ones)."""
    wrap = model_admin.admin_site.admin_view

    def view(func):
        return wrap(functools.partial(func, model_admin=model_admin))

    return [
        path("import/", view(import_view), name=_url_name(model_admin, "import")),
        path("import/confirm/", view(import_confirm_view), name=_url_name(model_admin, "import_confirm")),
        path("import/template/", view(import_template_view), name=_url_name(model_admin, "import_template")),
    ]


def _url_name(model_admin, action):
    opts = model_admin.model._meta
    return f"{opts.app_label}_{opts.model_name}_{action}"


def _admin_url(model_admin, action):
    return reverse(f"{model_admin.admin_site.name}:{_url_name(model_admin, action)}")


def import_view(request, *, model_admin):
    """Step 1: the upload form; on upload, a trial run and its preview (step 2)."""
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
        # The form has just passed this very file through the guard (RegisterUploadForm.clean_file).
        report = import_register(street=street, source=_upload_path(token), dry_run=True, inspected=True)
        if report.ok:
            request.session[SESSION_KEY] = {"token": token, "street": street.pk, "filename": upload.name}
        else:
            _upload_path(token).unlink(missing_ok=True)
            token = None
        return _render_preview(request, model_admin, report=report, filename=upload.name, token=token)
    context = {
        **_admin_context(request, model_admin, "导入居民底册"),
        "form": form,
        "headers": HEADERS,
        "max_upload_mb": settings.IMPORT_MAX_UPLOAD_MB,
        "max_rows": settings.IMPORT_MAX_ROWS,
    }
    return render(request, "admin/households/household/import.html", context)


def import_confirm_view(request, *, model_admin):
    """Step 3: 确认导入 runs the real import of the file kept from step 1 (or 取消 discards it)."""
    _check_permission(request)
    import_url = _admin_url(model_admin, "import")
    if request.method != "POST":
        return redirect(import_url)
    pending = request.session.get(SESSION_KEY)
    if "cancel" in request.POST:
        _discard_pending(request)
        messages.info(request, "已取消导入，未写入任何数据")
        return redirect(import_url)
    source = _upload_path(pending["token"]) if pending else None
    if not pending or request.POST.get("token") != pending["token"] or not source.exists():
        messages.warning(request, "这次导入已经完成或已过期，请重新上传文件")
        return redirect(import_url)
    street = importable_streets(request.user).filter(pk=pending["street"]).first()
    if street is None:
        _discard_pending(request)
        messages.error(request, "无权导入到该街道，请重新上传文件")
        return redirect(import_url)

    report = import_register(street=street, source=source)
    _discard_pending(request)
    if not report.ok:
        # The data changed between preview and confirmation (e.g. a focus group was renamed).
        return _render_preview(request, model_admin, report=report, filename=pending["filename"], token=None)
    messages.success(request, f"“{pending['filename']}”已导入{street.name}。" + report.summary())
    return redirect(_admin_url(model_admin, "changelist"))


def import_template_view(request, *, model_admin):
    """The blank template: header row and the 填写说明 sheet, written by the same code as exports."""
    _check_permission(request)
    response = HttpResponse(content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename="居民底册模板.xlsx")
    write_register(Household.objects.none(), response)
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


def _render_preview(request, model_admin, *, report, filename, token):
    context = {
        **_admin_context(request, model_admin, "导入预览" if report.ok else "导入检查未通过"),
        "report": report,
        "filename": filename,
        "token": token,
    }
    return render(request, "admin/households/household/import_preview.html", context)


# Uploads kept between the preview and the confirmation -------------------------------------


def _upload_dir() -> Path:
    return Path(settings.MEDIA_ROOT) / UPLOAD_SUBDIR


def _upload_path(token) -> Path:
    return _upload_dir() / f"{token}.xlsx"


def _store_upload(upload) -> str:
    directory = _upload_dir()
    directory.mkdir(parents=True, exist_ok=True)
    _purge_stale_uploads(directory)
    token = secrets.token_hex(16)  # the only name the file has; it lives in the user's session
    with open(_upload_path(token), "wb") as f:
        for chunk in upload.chunks():
            f.write(chunk)
    return token


def _discard_pending(request):
    pending = request.session.pop(SESSION_KEY, None)
    if pending:
        _upload_path(pending["token"]).unlink(missing_ok=True)


def _purge_stale_uploads(directory):
    cutoff = time.time() - STALE_UPLOAD_SECONDS
    for stale in directory.glob("*.xlsx"):
        try:
            if stale.stat().st_mtime < cutoff:
                stale.unlink()
        except FileNotFoundError:  # another request purged it first
            pass
