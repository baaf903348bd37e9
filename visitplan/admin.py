"""Admin of the plan: departments, cadres, campaigns (with 包户到人), stages, quotas, assignments.

Every list goes through the scoping entry points (``visible_to``); the rules of 包户到人 live
in ``visitplan/allocation.py`` and are only called from here. 责任单位 and 干部名册 are imported and
exported as Excel sheets, 包户名单 exported, with django-import-export (rules in
``visitplan/sheets/``); exports are the list's own scoped queryset and are logged (AccessLog).

Long work runs as background jobs with a progress page (core/admin_jobs.py, the jobs in
visitplan/admin_jobs.py and visits/admin_jobs.py): 包户到人 and 重新计算统计数据 of a campaign, and
the confirmation of a 干部名册 import of more than ROSTER_BACKGROUND_ROWS rows. The campaign and
cadre lists each have a job page (``job/?job=N``), for the job's user only.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import content_disposition_header
from django.utils.safestring import mark_safe
from import_export.admin import ExportMixin, ImportExportMixin
from import_export.forms import ImportForm, SelectableFieldsExportForm

from core import admin_jobs
from core.admin import SafeAdminMixin, SafeModelAdmin, SafeTabularInline
from core.models import BackgroundJob
from core.params import parse_int
from core.spreadsheets import SafeCSV
from households.access_log import access_log_record
from households.levels import for_node as levels_for_node
from households.masking import can_view_full_pii
from households.models import Household, Node, NodeKind
from households.paginator import EstimatedCountPaginator
from households.search import identifier_terms

from . import accounts
from .admin_jobs import (
    ALLOCATE,
    ROSTER_IMPORT,
    can_allocate,
    can_rebuild_tallies,
    covers_street,
    roster_runs_in_background,
    start_allocation,
    start_roster_import,
)
from .allocation import allocate, coverage, reassign_cadre
from .choices import cadre_choices
from .models import Assignment, Cadre, Campaign, Department, DepartmentQuota, Stage, assignments_changed
from .rulebook import PRESET_CHOICES, apply_preset
from .rulebook_pages.presets import DOCUMENTS, preset_of
from .sheets import (
    ACCEPTED,
    MAX_UPLOAD_MB,
    SUFFIXES,
    AssignmentResource,
    CadreResource,
    DepartmentResource,
    SheetFile,
    SheetFileError,
    SheetXLSX,
    check_upload,
    import_error_message,
    read_sheet,
)

UNCOVERED_ON_PAGE = 2000
RECENT_JOBS_SHOWN = 3
# 重新计算统计数据 (visits/admin_jobs.py): started by its kind's name, the plan does not import visits.
REBUILD_TALLIES = "visits.rebuild_tallies"


def visible_nodes(request, kind=None):
    qs = Node.objects.visible_to(request.user)
    return qs.filter(kind=kind) if kind else qs


def visible_campaigns(request):
    return Campaign.objects.visible_to(request.user)


def _lines_html(lines):
    return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines))


class CampaignFilter(admin.SimpleListFilter):
    """走访活动, limited to the campaigns the user may see."""

    title = "走访活动"
    parameter_name = "campaign"

    def lookups(self, request, model_admin):
        return [(c.pk, str(c)) for c in visible_campaigns(request)]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(campaign_id=self.value())
        return queryset


# --------------------------------------------------------------------------- import / export of the staff lists
#
# django-import-export on the small lists (责任单位, 干部名册, 包户名单); the rules of each sheet
# live in visitplan/sheets/. The resource gets the request user (its scope); exports start
# from the change list's queryset, i.e. this admin's get_queryset (visible_to) with the list's
# filters, and every export writes an AccessLog row.


class _RequestUserResourceMixin:
    def get_resource_kwargs(self, request, *args, **kwargs):
        kwargs = super().get_resource_kwargs(request, *args, **kwargs)
        kwargs["user"] = request.user
        return kwargs


class SheetExportForm(SelectableFieldsExportForm):
    def _get_field_label(self, resource, field_name):
        # The column's Chinese header, not import-export's "Name (姓名)".
        field = resource.fields.get(field_name)
        return field.column_name if field is not None else field_name


class LoggedExportMixin(_RequestUserResourceMixin):
    """Export of a scoped admin list: xlsx (or csv), the list's own queryset, logged. Before ExportMixin."""

    export_formats = [SheetXLSX, SafeCSV]
    export_form_class = SheetExportForm
    to_encoding = "utf-8-sig"  # CSV: Excel reads UTF-8 only with the BOM
    export_what = ""  # AccessLog.what and the file name

    def has_export_permission(self, request):
        return self.has_view_permission(request)

    def get_export_queryset(self, request):
        # import-export builds the change list, whose root queryset is self.get_queryset(request)
        # (scoped by visible_to), then applies the list's filters and search: never wider than the list.
        return super().get_export_queryset(request)

    def get_valid_export_item_pks(self, request):
        # Replaces import-export's deprecated default (every pk of the table).
        return self.get_queryset(request).values_list("pk", flat=True)

    def get_data_for_export(self, request, queryset, **kwargs):
        data = super().get_data_for_export(request, queryset, **kwargs)
        access_log_record(request, what=f"{self.export_what}（后台导出）", rows=len(data))
        return data

    def get_export_filename(self, request, queryset, file_format):
        return f"{self.export_what}_{timezone.localdate():%Y%m%d}.{file_format.get_extension()}"

    def _do_file_export(self, file_format, request, queryset, export_form=None):
        response = super()._do_file_export(file_format, request, queryset, export_form=export_form)
        # import-export writes filename="…" as is; a Chinese name needs RFC 5987 (filename*=UTF-8'').
        response["Content-Disposition"] = content_disposition_header(
            as_attachment=True, filename=self.get_export_filename(request, queryset, file_format)
        )
        return response


class SheetImportForm(ImportForm):
    def clean_import_file(self):
        upload = self.cleaned_data["import_file"]
        if not upload.name.lower().endswith(SUFFIXES):
            raise forms.ValidationError(ACCEPTED)
        if upload.size > MAX_UPLOAD_MB * 1024 * 1024:
            raise forms.ValidationError(f"文件超过 {MAX_UPLOAD_MB} MB，请删去多余的工作表和空行后重新上传")
        # An empty file; zip, XML and cell bombs, macros: refused here, before import-export stores
        # the upload (it keeps a file it could not read) or a parser opens it. The format is told by
        # content when the file is read (SheetFile), whatever its name says.
        try:
            check_upload(upload)
        except SheetFileError as exc:
            raise forms.ValidationError(str(exc)) from None
        return upload


class SheetImportMixin(_RequestUserResourceMixin):
    """Import of a staff list: .xlsx, .xls or .csv as the office keeps it (the resource's office
    table, visitplan.sheets.reading), add+change permission, all rows or nothing. Before ImportMixin."""

    import_form_class = SheetImportForm

    def get_import_formats(self):
        # One format, whatever the file: SheetFile tells .xlsx, .xls and .csv apart by content.
        # A list has one resource, whose office table the format reads.
        (resource,) = self.resource_classes
        return [SheetFile.for_table(resource.TABLE)]

    def has_import_permission(self, request):
        return self.has_add_permission(request) and self.has_change_permission(request)

    def add_data_read_fail_error_to_form(self, form, e):
        if isinstance(e, SheetFileError):
            form.add_error("import_file", str(e))
        else:
            form.add_error("import_file", f"文件无法读取：{ACCEPTED}")

    def import_action(self, request, **kwargs):
        response = super().import_action(request, **kwargs)
        context = getattr(response, "context_data", None) or {}
        result = context.get("result")
        if result is not None and (result.has_errors() or result.has_validation_errors()):
            file_errors = [e.error for e in result.base_errors if isinstance(e.error, SheetFileError)]
            if file_errors and context.get("form") is not None:
                # The file as a whole is wrong (header, user): say so at the upload field, no row table.
                for error in file_errors:
                    context["form"].add_error("import_file", str(error))
                del context["result"]
            else:
                self._import_error_message(request, result)
        return response

    def process_result(self, result, request):
        if result.has_errors() or result.has_validation_errors():
            # The confirmation found what the preview did not (someone changed the data meanwhile):
            # the resource rolled everything back (SheetResource.import_data); send the user back
            # to the upload page with the reasons.
            self._import_error_message(request, result)
            return redirect(reverse("admin:%s_%s_import" % self.get_model_info(), current_app=self.admin_site.name))
        return super().process_result(result, request)

    def _import_error_message(self, request, result):
        self.message_user(request, _lines_html(import_error_message(result)), messages.ERROR)


# --------------------------------------------------------------------------- departments


@admin.register(Department)
class DepartmentAdmin(SheetImportMixin, LoggedExportMixin, ImportExportMixin, SafeModelAdmin):
    list_display = ("name", "level", "head_name", "phone")
    list_filter = ("level",)
    search_fields = ("name", "head_name")
    resource_classes = [DepartmentResource]
    export_what = "责任单位"


# --------------------------------------------------------------------------- cadres


class ReassignForm(forms.Form):
    to_cadre = forms.ModelChoiceField(
        label="转给",
        queryset=Cadre.objects.none(),
        empty_label=None,
        widget=forms.Select(attrs={"size": 12}),
        error_messages={"required": "请选择接收包户的干部", "invalid_choice": "所选干部不在可选范围内，请重新选择"},
    )
    campaign = forms.ModelChoiceField(
        label="走访活动", queryset=Campaign.objects.none(), required=False, empty_label="全部走访活动"
    )

    def __init__(self, *args, request, exclude=(), **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["to_cadre"]
        # Active cadres of the admin's scope, not the ones whose households are handed over.
        field.queryset = (
            Cadre.objects.visible_to(request.user).filter(active=True).exclude(pk__in=exclude).select_related("scope")
        )
        field.choices = [(c.pk, label) for c, label in cadre_choices(field.queryset)]
        self.fields["campaign"].queryset = visible_campaigns(request)


class _PasswordFields(forms.Form):
    """A password typed by the admin, or none: then one is generated (and shown once)."""

    password1 = forms.CharField(
        label="密码",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="留空则由系统生成一个，只在本页显示一次，请当面或电话告知本人",
    )
    password2 = forms.CharField(
        label="再次输入密码",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        data = super().clean()
        if data.get("password1", "") != data.get("password2", ""):
            self.add_error("password2", "两次输入的密码不一致")
        return data


class AccountCreateForm(_PasswordFields):
    username = forms.CharField(
        label="登录账号",
        max_length=150,
        help_text="字母、数字、汉字和 @ . + - _，如姓名拼音或手机号",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    field_order = ["username", "password1", "password2"]


class AccountPasswordForm(_PasswordFields):
    pass


@admin.register(Cadre)
class CadreAdmin(SheetImportMixin, LoggedExportMixin, ImportExportMixin, SafeModelAdmin):
    list_display = ("name", "tier", "unit", "position", "scope", "department", "active")
    resource_classes = [CadreResource]
    export_what = "干部名册"
    list_filter = ("tier", "active", "takes_households", "department")
    search_fields = ("name",)
    search_help_text = "输入姓名（或姓名的一部分）；有查看完整信息权限的，也可输入完整电话号码"
    raw_id_fields = ("user",)
    autocomplete_fields = ("scope",)
    list_select_related = ("scope", "department", "user")
    actions = ["reassign_action", "print_cards_action", "deactivate_logins_action", "reactivate_logins_action"]
    readonly_fields = ("account_link",)
    fieldsets = (
        (None, {"fields": ("name", "tier", "scope", "active", "takes_households")}),
        ("单位与联系方式", {"fields": ("unit", "department", "position", "phone")}),
        ("登录", {"fields": ("user", "account_link")}),
    )

    def get_list_display(self, request):
        return (*super().get_list_display(request), "login_status")

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and self.has_change_permission(request, obj):
            return fieldsets
        # The account page is for those who may change the cadre (and only once he exists).
        return [
            (name, {**opts, "fields": [f for f in opts["fields"] if f != "account_link"]}) for name, opts in fieldsets
        ]

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if obj is not None and obj.user_id is not None and obj.user_id == request.user.pk:
            # Marking oneself 不在岗 would end one's own login (accounts.end_login).
            fields = (*fields, "active")
        return fields

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # The departure rule: a cadre 不在岗 cannot log in (visitplan/accounts.py).
        if not obj.active and accounts.end_login(obj, by=request.user):
            self.message_user(
                request,
                f"{obj.name} 不在岗：其登录账号已停用，不能再登录。回岗后如需恢复登录，请在“登录账号”页选择“恢复登录”。",
                messages.WARNING,
            )
        elif obj.active and "active" in form.changed_data:
            account = accounts.account_of(obj)
            if account is not None and not account.is_active:
                self.message_user(
                    request,
                    f"{obj.name} 已改为在岗；其登录账号“{account.get_username()}”仍为停用状态，"
                    "如需恢复登录，请在“登录账号”页选择“恢复登录”。",
                    messages.WARNING,
                )

    @admin.display(description="登录")
    def login_status(self, obj):
        if not obj.user_id:
            return "未开通"
        if not obj.user.is_active:
            return "已停用"
        return "可登录" if obj.user.has_usable_password() else "未设密码"

    @admin.display(description="登录账号")
    def account_link(self, obj):
        if obj is None or obj.pk is None:
            return "保存后可在“登录账号”页开通账号"
        url = reverse("admin:visitplan_cadre_account", args=[obj.pk])
        return format_html(
            '{}　<a href="{}">管理登录账号（开通、重置密码、停用或恢复登录）</a>', self.login_status(obj), url
        )

    def get_search_results(self, request, queryset, search_term):
        # A phone by its digits would be an oracle: only in full, and only for 查看完整信息.
        queryset, duplicates = super().get_search_results(request, queryset, search_term)
        _, phone = identifier_terms(search_term)
        if phone and can_view_full_pii(request.user):
            queryset |= self.get_queryset(request).filter(phone=phone)
        return queryset, duplicates

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "scope":
            kwargs["queryset"] = Node.objects.visible_to(request.user, ancestors=False)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_reassign_permission(self, request):
        return request.user.has_perm("visitplan.change_assignment") and request.user.has_perm(
            "visitplan.delete_assignment"
        )

    def get_urls(self):
        urls = [
            *admin_jobs.job_urls(self, kinds=[ROSTER_IMPORT]),
            path(
                "<path:object_id>/account/",
                self.admin_site.admin_view(self.account_view),
                name="visitplan_cadre_account",
            ),
        ]
        return urls + super().get_urls()

    # -- 确认导入 of a large roster: a background job (visitplan/admin_jobs.py)

    def process_import(self, request, **kwargs):
        """确认导入: a file of more than ROSTER_BACKGROUND_ROWS rows is imported by a background job,
        whose page the user is sent to; a smaller one (and a form that is not valid) as before."""
        if request.method != "POST" or not self.has_import_permission(request):
            return super().process_import(request, **kwargs)
        confirm_form = self.create_confirm_form(request)
        if not confirm_form.is_valid():
            return super().process_import(request, **kwargs)
        input_format = self.get_import_formats()[int(confirm_form.cleaned_data["format"])](encoding=self.from_encoding)
        tmp_storage = self.get_tmp_storage_class()(
            name=confirm_form.cleaned_data["import_file_name"],
            encoding=None if input_format.is_binary() else self.from_encoding,
            read_mode=input_format.get_read_mode(),
            **self.get_tmp_storage_class_kwargs(),
        )
        try:
            data = tmp_storage.read()
            rows = len(read_sheet(data, CadreResource.TABLE))
        except (OSError, SheetFileError):
            return super().process_import(request, **kwargs)  # it says what is wrong, as before
        if not roster_runs_in_background(rows):
            return super().process_import(request, **kwargs)
        job = start_roster_import(
            user=request.user, data=data, filename=confirm_form.cleaned_data["original_file_name"], rows=rows
        )
        tmp_storage.remove()
        return redirect(admin_jobs.job_url(self, job))

    # -- 亲情卡

    @admin.action(description="打印所选干部的亲情卡", permissions=["view"])
    def print_cards_action(self, request, queryset):
        count = queryset.count()
        if count != 1:
            self.message_user(
                request,
                f"亲情卡一次打印一名干部的：请只勾选一名干部（现在勾选了 {count} 名）。"
                "整个社区或网格的亲情卡，请在“社区”或“网格”列表中勾选后打印。",
                messages.WARNING,
            )
            return None
        return redirect(f"{reverse('visits:cards')}?cadre={queryset.get().pk}")

    # -- login accounts (the rules: visitplan/accounts.py)

    @admin.action(description="停用所选干部的登录账号", permissions=["change"])
    def deactivate_logins_action(self, request, queryset):
        self._accounts_in_bulk(request, queryset, accounts.deactivate, "已停用登录", "原已停用")

    @admin.action(description="恢复所选干部的登录账号", permissions=["change"])
    def reactivate_logins_action(self, request, queryset):
        self._accounts_in_bulk(request, queryset, accounts.reactivate, "已恢复登录", "原本就可登录")

    def _accounts_in_bulk(self, request, queryset, change, done_text, unchanged_text):
        done, unchanged, without = [], [], []
        for cadre in queryset.order_by("name"):
            if not cadre.user_id:
                without.append(cadre.name)
                continue
            try:
                (done if change(cadre, by=request.user) else unchanged).append(cadre.name)
            except accounts.AccountError as exc:
                self.message_user(request, f"{cadre.name}：{exc.message}", messages.ERROR)
        if done:
            self.message_user(request, f"{done_text}：{'、'.join(done)}", messages.SUCCESS)
        if unchanged:
            self.message_user(request, f"{unchanged_text}：{'、'.join(unchanged)}", messages.INFO)
        if without:
            self.message_user(
                request,
                f"还没有登录账号（未作改动）：{'、'.join(without)}；请在干部的“登录账号”页开通",
                messages.WARNING,
            )

    def account_view(self, request, object_id):
        """One cadre's login: open an account, set a new password, stop or restore the login."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        pk = parse_int(object_id)
        cadre = self.get_queryset(request).select_related("scope").filter(pk=pk).first() if pk else None
        if cadre is None:
            raise Http404("没有找到该干部")
        if not self.has_change_permission(request, cadre):
            raise PermissionDenied
        create_form = AccountCreateForm(prefix="create")
        password_form = AccountPasswordForm(prefix="password")
        shown = None  # (account name, password): shown once, on this response only
        if request.method == "POST":
            op = request.POST.get("op")
            try:
                if op == "create":
                    create_form = AccountCreateForm(request.POST, prefix="create")
                    if create_form.is_valid():
                        shown = self._create_account(request, cadre, create_form)
                elif op == "password":
                    password_form = AccountPasswordForm(request.POST, prefix="password")
                    if password_form.is_valid():
                        shown = self._set_password(request, cadre, password_form)
                elif op in ("deactivate", "reactivate"):
                    change = accounts.deactivate if op == "deactivate" else accounts.reactivate
                    if change(cadre, by=request.user):
                        text = "登录账号已停用，该干部不能再登录" if op == "deactivate" else "已恢复登录"
                        self.message_user(request, f"{cadre.name}：{text}", messages.SUCCESS)
                    else:
                        self.message_user(request, f"{cadre.name}：登录账号状态未变", messages.INFO)
                    return redirect(request.path)
                else:
                    self.message_user(request, "请选择要进行的操作", messages.ERROR)
                    return redirect(request.path)
            except accounts.AccountError as exc:
                self.message_user(request, f"{cadre.name}：{exc.message}", messages.ERROR)
                return redirect(request.path)
        account = accounts.account_of(cadre)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{cadre.name} · 登录账号",
            "opts": self.model._meta,
            "original": cadre,
            "cadre": cadre,
            "cadre_label": cadre_choices([cadre])[0][1],
            "account": account,
            "roles": sorted(account.groups.values_list("name", flat=True)) if account else [],
            "blocked": accounts.may_manage(request.user, cadre),
            "create_form": create_form,
            "password_form": password_form,
            "shown": shown,
            "history": accounts.account_history(cadre),
        }
        return TemplateResponse(request, "admin/visitplan/cadre/account.html", context)

    def _create_account(self, request, cadre, form):
        try:
            user, password, generated = accounts.create_account(
                cadre, by=request.user, username=form.cleaned_data["username"], password=form.cleaned_data["password1"]
            )
        except ValidationError as exc:  # the password validators
            form.add_error("password1", exc)
            return None
        except accounts.UsernameError as exc:
            form.add_error("username", exc.message)
            return None
        self.message_user(request, f"已为 {cadre.name} 开通登录账号“{user.get_username()}”", messages.SUCCESS)
        return {"username": user.get_username(), "password": password if generated else None}

    def _set_password(self, request, cadre, form):
        try:
            password, generated = accounts.set_password(cadre, by=request.user, password=form.cleaned_data["password1"])
        except ValidationError as exc:
            form.add_error("password1", exc)
            return None
        self.message_user(
            request, f"已重置 {cadre.name} 的登录密码；他已登录的设备需用新密码重新登录", messages.SUCCESS
        )
        return {"username": accounts.account_of(cadre).get_username(), "password": password if generated else None}

    @admin.action(description="将所选干部的包户转给…", permissions=["reassign"])
    def reassign_action(self, request, queryset):
        leaving = list(queryset.select_related("scope"))
        form = ReassignForm(
            request.POST if "apply" in request.POST else None, request=request, exclude=[c.pk for c in leaving]
        )
        if "apply" in request.POST and form.is_valid():
            to_cadre, campaign = form.cleaned_data["to_cadre"], form.cleaned_data["campaign"]
            for cadre in leaving:
                try:
                    report = reassign_cadre(from_cadre=cadre, to_cadre=to_cadre, campaign=campaign)
                except ValueError as exc:
                    self.message_user(request, f"{cadre.name}：{exc}", messages.ERROR)
                    continue
                level = messages.WARNING if report.skipped else messages.SUCCESS
                self.message_user(request, _lines_html(report.summary_lines()), level)
            return None
        counts = {
            row["cadre_id"]: row["n"]
            for row in Assignment.objects.visible_to(request.user)
            .filter(cadre__in=leaving)
            .order_by()
            .values("cadre_id")
            .annotate(n=Count("pk"))
        }
        for cadre, label in cadre_choices(leaving):
            cadre.assignment_count = counts.get(cadre.pk, 0)
            cadre.label = label
        context = {
            **self.admin_site.each_context(request),
            "title": "将所选干部的包户转给其他干部",
            "opts": self.model._meta,
            "cadres": leaving,
            "form": form,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "action": "reassign_action",
        }
        return TemplateResponse(request, "admin/visitplan/cadre/reassign.html", context)


# --------------------------------------------------------------------------- campaigns


class StageInline(SafeTabularInline):
    model = Stage
    extra = 0


class DepartmentQuotaInline(SafeTabularInline):
    model = DepartmentQuota
    extra = 0

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "community":
            kwargs["queryset"] = visible_nodes(request, NodeKind.COMMUNITY).select_related("parent")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Campaign)
class CampaignAdmin(SafeModelAdmin):
    list_display = ("__str__", "year", "street", "allocation_link")
    list_filter = ("year",)
    search_fields = ("name",)
    list_select_related = ("street",)
    inlines = [StageInline, DepartmentQuotaInline]
    actions = ["allocate_action", "rebuild_tallies_action"]
    change_form_template = "admin/visitplan/campaign/change_form.html"
    # The rules (the minutes, the 30 %, the leaders' month …) are edited on the rulebook's page
    # (visitplan:rulebook_edit), where each change is logged; here the campaign is created from
    # one of the documents (依据文件) and shows it.
    fieldsets = (
        (None, {"fields": ("year", "name", "street")}),
        ("活动规则", {"fields": ("preset_shown", "rulebook_links")}),
    )
    add_fieldsets = ((None, {"fields": ("year", "name", "street", "preset")}),)
    readonly_fields = ("preset_shown", "rulebook_links")

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.add_fieldsets
        return super().get_fieldsets(request, obj)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "preset":
            return forms.ChoiceField(
                label="依据文件",
                choices=PRESET_CHOICES,
                initial="002",
                required=False,
                help_text="活动规则（走访方式、时长、任务、整改时限、考核等）按所选文件填好，每条注明文件原文；"
                "创建后可在“活动规则”页逐项修改",
                error_messages={"invalid_choice": "“依据文件”的选项无效，请从列表中选择"},
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if not change:
            apply_preset(obj, form.cleaned_data.get("preset") or "")
        super().save_model(request, obj, form, change)

    @admin.display(description="依据文件")
    def preset_shown(self, obj):
        preset = preset_of(obj)
        title = DOCUMENTS.get(preset.code)
        return format_html("{}<br>《{}》", preset.label, title) if title else preset.label

    @admin.display(description="活动规则")
    def rulebook_links(self, obj):
        if not obj.pk:
            return "—"
        changes = obj.rule_changes.count()
        return format_html(
            '<a href="{}">查看活动规则</a> · <a href="{}">修改活动规则</a>（街道管理员） · <a href="{}#log">修改记录 {} 条</a>',
            reverse("visitplan:rulebook", args=[obj.pk]),
            reverse("visitplan:rulebook_edit", args=[obj.pk]),
            reverse("visitplan:rulebook", args=[obj.pk]),
            changes,
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "street":
            kwargs["queryset"] = visible_nodes(request, NodeKind.STREET)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_urls(self):
        urls = [
            *admin_jobs.job_urls(self, kinds=[ALLOCATE, REBUILD_TALLIES]),
            path(
                "<int:pk>/allocation/",
                self.admin_site.admin_view(self.allocation_view),
                name="visitplan_campaign_allocation",
            ),
        ]
        return urls + super().get_urls()

    @admin.display(description="包户到人")
    def allocation_link(self, obj):
        return format_html('<a href="{}">分配报告</a>', reverse("admin:visitplan_campaign_allocation", args=[obj.pk]))

    def _started(self, request, jobs, what):
        """To the page of the one job started, or the list with a link to each job's page."""
        if len(jobs) == 1:
            return redirect(admin_jobs.job_url(self, jobs[0][1]))
        for campaign, job in jobs:
            self.message_user(
                request,
                format_html(
                    '{}：已开始在后台{}，<a href="{}">查看进度和结果</a>', campaign, what, admin_jobs.job_url(self, job)
                ),
                messages.INFO,
            )
        return None

    @admin.action(description="自动分配包户（包户到人）", permissions=["change"])
    def allocate_action(self, request, queryset):
        jobs = []
        for campaign in queryset.select_related("street"):
            if not can_allocate(request.user, campaign):
                self.message_user(
                    request, f"{campaign}：您的工作范围不是整个街道，不能为该活动自动分配", messages.ERROR
                )
                continue
            jobs.append((campaign, start_allocation(user=request.user, campaign=campaign)))
        return self._started(request, jobs, "自动分配包户")

    @admin.action(description="重新计算统计数据", permissions=["change"])
    def rebuild_tallies_action(self, request, queryset):
        jobs = []
        for campaign in queryset.select_related("street"):
            if not can_rebuild_tallies(request.user, campaign):
                self.message_user(
                    request, f"{campaign}：您的工作范围不是整个街道，不能重新计算该活动的统计数据", messages.ERROR
                )
                continue
            job = admin_jobs.start(REBUILD_TALLIES, user=request.user, params={"campaign": campaign.pk})
            jobs.append((campaign, job))
        return self._started(request, jobs, "重新计算统计数据")

    def allocation_view(self, request, pk):
        campaign = self.get_queryset(request).select_related("street").filter(pk=pk).first()
        if campaign is None:
            raise Http404("没有找到该走访活动")
        if not self.has_view_permission(request, campaign):
            raise PermissionDenied
        allowed = self.has_change_permission(request, campaign) and can_allocate(request.user, campaign)
        report = None
        if request.method == "POST":
            if not allowed:
                raise PermissionDenied
            # 执行自动分配: a background job, whose page shows the progress and then the report.
            return redirect(admin_jobs.job_url(self, start_allocation(user=request.user, campaign=campaign)))
        if request.GET.get("preview"):
            report = allocate(campaign, dry_run=True)
        whole_street = covers_street(request.user, campaign)
        rows = coverage(campaign)
        uncovered = report.uncovered if report else []
        if not whole_street:
            # A community's secretary (or anyone with part of the street) sees her communities'
            # figures and her households only; the street-wide summary is not hers to read.
            mine = set(visible_nodes(request, NodeKind.COMMUNITY).values_list("pk", flat=True))
            rows = {pk: row for pk, row in rows.items() if pk in mine}
            if uncovered:
                visible = set(Household.objects.visible_to(request.user).values_list("pk", flat=True))
                uncovered = [u for u in uncovered if u[0] in visible]
        rows = list(rows.values())
        totals = {
            key: sum(r[key] for r in rows) for key in ("total", "linked", "unlinked", "street_staff", "secretary")
        }
        context = {
            **self.admin_site.each_context(request),
            "title": f"{campaign} · 包户到人",
            "opts": self.model._meta,
            "original": campaign,
            "campaign": campaign,
            "coverage": rows,
            "totals": totals,
            "report": report,
            "whole_street": whole_street,
            "uncovered_total": len(uncovered),
            "uncovered": uncovered[:UNCOVERED_ON_PAGE],
            "uncovered_more": max(0, len(uncovered) - UNCOVERED_ON_PAGE),
            "can_allocate": allowed,
            "levels": levels_for_node(campaign.street),  # the campaign's 街道 or 镇 names its levels
            # The user's own runs of 执行自动分配 on this campaign (background jobs), newest first.
            "recent_jobs": [
                (job, admin_jobs.job_url(self, job))
                for job in BackgroundJob.objects.visible_to(request.user).filter(
                    kind=ALLOCATE, params__campaign=campaign.pk
                )[:RECENT_JOBS_SHOWN]
            ],
        }
        return TemplateResponse(request, "admin/visitplan/campaign/allocation.html", context)


@admin.register(Stage)
class StageAdmin(SafeModelAdmin):
    list_display = ("campaign", "kind", "starts_on", "ends_on")
    list_filter = (CampaignFilter, "kind")
    list_select_related = ("campaign",)

    def get_queryset(self, request):
        return super().get_queryset(request).filter(campaign__in=visible_campaigns(request))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "campaign":
            kwargs["queryset"] = visible_campaigns(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(DepartmentQuota)
class DepartmentQuotaAdmin(SafeModelAdmin):
    list_display = ("campaign", "department", "community", "households")
    list_filter = (CampaignFilter, "department")
    list_select_related = ("campaign", "department", "community")
    search_fields = ("department__name", "community__name")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(campaign__in=visible_campaigns(request), community__in=visible_nodes(request))
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "campaign":
            kwargs["queryset"] = visible_campaigns(request)
        elif db_field.name == "community":
            kwargs["queryset"] = visible_nodes(request, NodeKind.COMMUNITY)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


# --------------------------------------------------------------------------- assignments


@admin.register(Assignment)
class AssignmentAdmin(LoggedExportMixin, ExportMixin, SafeModelAdmin):
    list_display = ("household", "cadre", "tier", "department", "campaign", "source", "created_at")
    resource_classes = [AssignmentResource]
    export_what = "包户名单"
    list_select_related = ("household__building", "cadre", "campaign", "department")
    list_filter = (CampaignFilter, "tier", "source")
    raw_id_fields = ("household", "cadre")
    search_fields = ("cadre__name", "household__head_name")
    search_help_text = "按干部姓名或户主姓名搜索"
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    fields = ("campaign", "household", "cadre", "tier", "department", "source", "created_at")
    readonly_fields = ("created_at",)

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "campaign":
            kwargs["queryset"] = visible_campaigns(request)
        elif db_field.name == "cadre":
            kwargs["queryset"] = Cadre.objects.visible_to(request.user)
        elif db_field.name == "household":
            kwargs["queryset"] = Household.objects.visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # An add or a change goes through Assignment.save (its post_save keeps the figures per cadre and
    # grid); a delete does not: it tells them which grids lost assignments (``assignments_changed``).
    def delete_model(self, request, obj):
        with transaction.atomic():
            grid_id = obj.household.grid_id
            super().delete_model(request, obj)
            assignments_changed.send(sender=Assignment, campaign_id=obj.campaign_id, grid_ids=[grid_id])

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            grids = {}
            for campaign_id, grid_id in queryset.order_by().values_list("campaign_id", "household__grid_id").distinct():
                grids.setdefault(campaign_id, []).append(grid_id)
            super().delete_queryset(request, queryset)
            for campaign_id, grid_ids in sorted(grids.items()):
                assignments_changed.send(sender=Assignment, campaign_id=campaign_id, grid_ids=sorted(grid_ids))


# --------------------------------------------------------------------------- login accounts


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class ScopedUserAdmin(SafeAdminMixin, UserAdmin):
    """Login accounts, scoped like the cadres they belong to: the accounts of the cadres the user
    may see, and accounts that belong to no cadre yet (a new login, to be linked to a cadre).
    Every form's user field (a cadre's 登录账号, a department's 负责人账号) offers only these."""

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(
            Q(cadre__in=Cadre.objects.visible_to(request.user)) | Q(cadre__isnull=True, is_superuser=False)
        )
