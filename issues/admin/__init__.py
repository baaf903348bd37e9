"""Admin pages of the issue ledger; the working-day calendar's (节假日调整) are ``holidays``'s.

Every list goes through ``Issue.objects.visible_to``. The admin never changes an issue's status
or deadlines itself: those fields are read-only here, and the review steps are admin actions that
call ``issues.services`` (the same code the pages use). Issues are registered on the pages
(or by ``services.issue_register``), never typed into the admin, and never deleted.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.html import format_html

from core.admin import ReadOnlyAdmin, SafeModelAdmin, SafeTabularInline
from households.roles import STREET_ADMIN, user_roles
from visitplan.models import Department

from .. import services
from ..models import Delivery, ExtensionRequest, Issue, IssueEvent, Notification, Reminder
from ..reminders import issue_path
from . import holidays  # noqa: F401  (节假日调整, registered on import)


def _is_street_admin(user) -> bool:
    return user.is_active and (user.is_superuser or STREET_ADMIN in user_roles(user))


def _run_service(modeladmin, request, items, call):
    """Call ``call(item)`` for each selected row; one message per outcome, never a 500."""
    done, failed = 0, []
    for item in items:
        try:
            call(item)
            done += 1
        except services.IssueActionError as exc:
            failed.append(f"#{getattr(item, 'issue_id', None) or item.pk}：{exc}")
    if done:
        modeladmin.message_user(request, f"已处理{done}条", messages.SUCCESS)
    for line in failed:
        modeladmin.message_user(request, line, messages.ERROR)


class IssueActionForm(ActionForm):
    """Extra inputs beside the action menu, used by the actions that need them."""

    department = forms.ModelChoiceField(Department.objects.all(), label="责任单位", required=False)
    note = forms.CharField(label="备注", required=False, max_length=500)


class OverdueFilter(admin.SimpleListFilter):
    title = "是否逾期"
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", "已逾期"), ("no", "未逾期")]

    def queryset(self, request, queryset):
        overdue = Issue.objects.overdue(on=timezone.localdate()).values("pk")
        if self.value() == "yes":
            return queryset.filter(pk__in=overdue)
        if self.value() == "no":
            return queryset.exclude(pk__in=overdue)
        return queryset


class IssueEventInline(SafeTabularInline):
    model = IssueEvent
    verbose_name = verbose_name_plural = "办理记录"
    fields = ("at", "actor", "kind", "from_status", "to_status", "text")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("at", "id")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Issue)
class IssueAdmin(SafeModelAdmin):
    list_display = (
        "id",
        "community",
        "household",
        "short_text",
        "category",
        "severity",
        "status",
        "department",
        "assignee",
        "plan_due",
        "due",
        "overdue_flag",
    )
    list_display_links = ("id", "short_text")
    list_filter = ("status", OverdueFilter, "severity", "category", "level", "department", "special_hardship")
    search_fields = ("text", "hotline_ticket")
    list_select_related = ("community", "household", "household__building", "department", "assignee")
    date_hierarchy = "registered_on"
    inlines = [IssueEventInline]
    action_form = IssueActionForm
    actions = ["accept_action", "route_action", "close_action"]
    fieldsets = (
        (
            "诉求",
            {
                "fields": (
                    "household",
                    "community",
                    "raised_by",
                    "text",
                    "category",
                    "severity",
                    "hotline_ticket",
                    "special_hardship",
                )
            },
        ),
        ("办理", {"fields": ("status", "closure", "level", "level_person", "department", "assignee", "merged_into")}),
        (
            "时限",
            {
                "fields": (
                    "registered_on",
                    "plan_due_on",
                    "plan_due_provisional",
                    "due_on",
                    "due_provisional",
                    "extension_days",
                )
            },
        ),
        ("方案与答复", {"fields": ("plan_text", "plan_posted_on", "answer", "answered_on", "closed_on")}),
        ("记录", {"fields": ("version", "created_at", "updated_at")}),
    )

    def get_queryset(self, request):
        today = timezone.localdate()
        return (
            Issue.objects.visible_to(request.user)
            # The overdue rule is IssueQuerySet.overdue; the column only asks it.
            .annotate(is_overdue=Exists(Issue.objects.overdue(on=today).filter(pk=OuterRef("pk"))))
        )

    def get_readonly_fields(self, request, obj=None):
        # Everything: status and deadlines change only through the services (the actions below).
        return [f for fs in self.fieldsets for f in fs[1]["fields"]]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Nothing on the form is editable, so no save buttons: the actions are the way to act.
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        # A full-row save would bypass the version check and could undo a concurrent step.
        return

    def save_related(self, request, form, formsets, change):
        return

    def has_add_permission(self, request):
        return False  # registered on the pages through services.issue_register

    def has_delete_permission(self, request, obj=None):
        return False  # a ledger row is never deleted; merge or return it instead

    @admin.display(description="诉求内容")
    def short_text(self, obj):
        return obj.text if len(obj.text) <= 30 else obj.text[:30] + "…"

    @admin.display(description="方案时限", ordering="plan_due_on")
    def plan_due(self, obj):
        return _due(obj.plan_due_on, obj.plan_due_provisional)

    @admin.display(description="办结时限", ordering="due_on")
    def due(self, obj):
        return _due(obj.due_on, obj.due_provisional)

    @admin.display(description="逾期", boolean=True)
    def overdue_flag(self, obj):
        return bool(getattr(obj, "is_overdue", False))

    @admin.action(description="审核通过所选诉求", permissions=["change"])
    def accept_action(self, request, queryset):
        note = request.POST.get("note", "")
        _run_service(
            self,
            request,
            queryset,
            lambda issue: services.issue_accept(issue=issue, by=request.user, version=issue.version, note=note),
        )

    @admin.action(description="交办所选诉求到所选责任单位", permissions=["change"])
    def route_action(self, request, queryset):
        department = Department.objects.filter(pk=_int(request.POST.get("department"))).first()
        if department is None:
            self.message_user(request, "请先在动作菜单旁选择责任单位", messages.ERROR)
            return
        note = request.POST.get("note", "")
        _run_service(
            self,
            request,
            queryset,
            lambda issue: services.issue_route(
                issue=issue, by=request.user, version=issue.version, department=department, note=note
            ),
        )

    @admin.action(description="销号所选诉求", permissions=["change"])
    def close_action(self, request, queryset):
        note = request.POST.get("note", "")
        _run_service(
            self,
            request,
            queryset,
            lambda issue: services.issue_close(issue=issue, by=request.user, version=issue.version, note=note),
        )


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _due(day, provisional):
    if day is None:
        return "—"
    return f"{day:%Y-%m-%d}（暂定）" if provisional else f"{day:%Y-%m-%d}"


@admin.register(IssueEvent)
class IssueEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "issue", "kind", "actor", "from_status", "to_status", "text")
    list_filter = ("kind",)
    search_fields = ("text",)
    list_select_related = ("issue", "actor")
    date_hierarchy = "at"

    def get_queryset(self, request):
        return IssueEvent.objects.filter(issue__in=Issue.objects.visible_to(request.user).values("pk"))


@admin.register(ExtensionRequest)
class ExtensionRequestAdmin(ReadOnlyAdmin):
    list_display = ("issue", "days", "reason", "requested_by", "created_at", "decision", "decided_by", "decided_at")
    list_filter = ("decision",)
    list_select_related = ("issue", "requested_by", "decided_by")
    actions = ["approve_action", "reject_action"]

    def get_queryset(self, request):
        return ExtensionRequest.objects.filter(issue__in=Issue.objects.visible_to(request.user).values("pk"))

    def has_decide_permission(self, request):
        return _is_street_admin(request.user)

    @admin.action(description="批准所选延期申请", permissions=["decide"])
    def approve_action(self, request, queryset):
        _run_service(
            self,
            request,
            queryset,
            lambda r: services.issue_decide_extension(request=r, by=request.user, approve=True),
        )

    @admin.action(description="驳回所选延期申请", permissions=["decide"])
    def reject_action(self, request, queryset):
        _run_service(
            self,
            request,
            queryset,
            lambda r: services.issue_decide_extension(request=r, by=request.user, approve=False),
        )


class StreetAdminReadOnly(ReadOnlyAdmin):
    """The reminder records: street admins (and superusers) read them; nobody edits them here."""

    def has_view_permission(self, request, obj=None):
        return _is_street_admin(request.user) or super().has_view_permission(request, obj)

    def has_module_permission(self, request):
        return _is_street_admin(request.user) or super().has_module_permission(request)


@admin.register(Reminder)
class ReminderAdmin(StreetAdminReadOnly):
    list_display = ("day", "kind", "issue", "created_at")
    list_filter = ("kind",)
    list_select_related = ("issue",)
    date_hierarchy = "day"

    def get_queryset(self, request):
        return Reminder.objects.filter(issue__in=Issue.objects.visible_to(request.user).values("pk"))


def _notification_scope(user, prefix=""):
    """Notifications about issues the user can see, and the user's own."""
    return Q(**{f"{prefix}issue__in": Issue.objects.visible_to(user).values("pk")}) | Q(**{f"{prefix}user": user})


@admin.register(Notification)
class NotificationAdmin(StreetAdminReadOnly):
    list_display = ("created_at", "user", "title", "issue", "read_at")
    list_filter = ("read_at",)
    search_fields = ("title",)
    list_select_related = ("user", "issue")

    def get_queryset(self, request):
        if request.user.is_superuser:
            return Notification.objects.all()
        return Notification.objects.filter(_notification_scope(request.user))


@admin.register(Delivery)
class DeliveryAdmin(StreetAdminReadOnly):
    """外发记录: a failed one (发送失败, after every retry) is there with its error and its issue."""

    list_display = ("created", "recipient", "issue_link", "title", "channel", "address", "state", "attempts",
                    "short_error", "sent_at")  # fmt: skip
    list_display_links = ("created",)
    list_filter = ("state", "channel")
    search_fields = ("address", "notification__title")
    list_select_related = ("notification", "notification__user")
    ordering = ("-id",)

    def get_queryset(self, request):
        if request.user.is_superuser:
            return Delivery.objects.all()
        return Delivery.objects.filter(_notification_scope(request.user, "notification__"))

    @admin.display(description="接收人")
    def recipient(self, obj):
        return obj.notification.user

    @admin.display(description="时间", ordering="notification__created_at")
    def created(self, obj):
        return obj.notification.created_at

    @admin.display(description="诉求")
    def issue_link(self, obj):
        issue_id = obj.notification.issue_id
        if issue_id is None:
            return "—"
        path = issue_path(issue_id)
        return format_html('<a href="{}">#{}</a>', path, issue_id) if path else f"#{issue_id}"

    @admin.display(description="标题")
    def title(self, obj):
        title = obj.notification.title
        return title if len(title) <= 40 else title[:40] + "…"

    @admin.display(description="错误")
    def short_error(self, obj):
        return obj.error if len(obj.error) <= 60 else obj.error[:60] + "…"
