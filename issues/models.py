"""The issue ledger (问题整改台账): requests, their timeline, the working-day calendar overrides,
extension requests, and the reminders and notifications sent about them.

Rules live beside the models: deadlines in ``issues/deadlines.py`` (on top of the calendar in
``issues/workdays.py``), the workflow in ``issues/services.py``, reminders in
``issues/reminders.py``. Deadlines are computed there and never typed by hand.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.versioning import VersionedModel
from households.models import Household, Node
from visitplan.models import Cadre, Department

from .domains import SERVICE_DOMAINS


class HolidayOverride(VersionedModel):
    """An office-entered day that wins over the chinesecalendar package (e.g. next year's schedule)."""

    date = models.DateField("日期", unique=True)
    is_workday = models.BooleanField("是否上班", help_text="勾选 = 上班（含调休上班）；不勾选 = 放假")
    note = models.CharField("说明", max_length=100, blank=True, help_text="如：2027年春节、国庆调休上班")
    created_at = models.DateTimeField("录入时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "节假日调整"
        ordering = ["-date"]

    def __str__(self):
        return f"{self.date} {'上班' if self.is_workday else '放假'} {self.note}"


class Category(models.TextChoices):
    # The nine service domains of the questionnaire, then the ledger's own categories.
    CHILDCARE = SERVICE_DOMAINS[0]
    EDUCATION = SERVICE_DOMAINS[1]
    EMPLOYMENT = SERVICE_DOMAINS[2]
    HEALTH = SERVICE_DOMAINS[3]
    ELDERLY = SERVICE_DOMAINS[4]
    LIVING = SERVICE_DOMAINS[5]
    WELFARE = SERVICE_DOMAINS[6]
    CULTURE = SERVICE_DOMAINS[7]
    SAFETY = SERVICE_DOMAINS[8]
    URBAN = "urban", "城市建设"
    HOUSING = "housing", "住房保障"
    MUNICIPAL = "municipal", "市政管理"
    TRANSPORT = "transport", "交通出行"
    DISPUTE = "dispute", "矛盾纠纷"
    OTHER = "other", "其他"


class Severity(models.TextChoices):
    # The codes of the campaign rulebook's three classes (visitplan/rulebook.py ``classes``); what users
    # read and the days to close are the issue's campaign's (``Issue.class_label``, issues/deadlines.py).
    GENERAL = "general", "一般"
    MAJOR = "major", "较大"
    GRAVE = "grave", "特别重大"


class Status(models.TextChoices):
    REGISTERED = "registered", "待审核"
    ACCEPTED = "accepted", "待交办"
    RETURNED = "returned", "已退回"
    MERGED = "merged", "已合并"
    ROUTED = "routed", "已交办"
    PLANNED = "planned", "方案已报"
    IN_PROGRESS = "in_progress", "办理中"
    RESOLVED = "resolved", "已办结"
    CLOSED = "closed", "已销号"


# Statuses in which the issue still runs against its deadlines.
OPEN_STATUSES = (Status.REGISTERED, Status.ACCEPTED, Status.ROUTED, Status.PLANNED, Status.IN_PROGRESS)


def open_issue_count():
    """Annotation for a household queryset (``households.annotate(open_issues=open_issue_count())``):
    the number of its open issues, 0 when none. A correlated subquery: counts only, no rows, over
    households the caller has already scoped (我的包户, the 民情地图)."""
    from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
    from django.db.models.functions import Coalesce

    counts = (
        Issue.objects.filter(household=OuterRef("pk"), status__in=OPEN_STATUSES)
        .order_by()
        .values("household")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


class Closure(models.TextChoices):
    SOLVED = "solved", "已解决"
    ON_THE_SPOT = "on_the_spot", "现场答复/即知即办"
    EXPLAINED = "explained", "解疑释惑"


class Level(models.TextChoices):
    COMMUNITY = "community", "社区"
    STREET = "street", "街道"
    JOINT = "joint", "联席会议"


def overdue_q(on):
    """Overdue on day ``on``: open and past the close deadline, or still without a plan past the
    plan deadline. A condition on the issue row alone, so lists can annotate it for free."""
    return Q(status__in=OPEN_STATUSES) & (Q(due_on__lt=on) | Q(plan_due_on__lt=on, plan_posted_on__isnull=True))


class IssueQuerySet(models.QuerySet):
    def visible_to(self, who):
        """The one scoping entry point for issues (see issues/scoping.py)."""
        from .scoping import issues_visible_to

        return issues_visible_to(self, who)

    def open(self):
        return self.filter(status__in=OPEN_STATUSES)

    def overdue(self, *, on):
        return self.filter(overdue_q(on))


class Issue(VersionedModel):
    household = models.ForeignKey(Household, verbose_name="户", on_delete=models.PROTECT, related_name="issues")
    # Copied from the household when registered: scoping and ledger filters need no join.
    community = models.ForeignKey(Node, verbose_name="社区", on_delete=models.PROTECT, related_name="+")
    path = models.CharField("路径", max_length=64, editable=False, db_index=True)
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="登记人", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    raised_by_cadre = models.ForeignKey(
        Cadre, verbose_name="登记干部", null=True, blank=True, on_delete=models.SET_NULL, related_name="raised_issues"
    )
    text = models.TextField("诉求内容")
    category = models.CharField("类别", max_length=16, choices=Category.choices)
    severity = models.CharField("等级", max_length=16, choices=Severity.choices, default=Severity.GENERAL)
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.REGISTERED, db_index=True)
    closure = models.CharField("办结方式", max_length=16, choices=Closure.choices, blank=True)

    department = models.ForeignKey(
        Department, verbose_name="责任单位", null=True, blank=True, on_delete=models.PROTECT, related_name="issues"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="责任人",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_issues",
    )
    level = models.CharField("办理层级", max_length=16, choices=Level.choices, default=Level.COMMUNITY)
    level_person = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="分包责任人",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="escalated_issues",
    )

    registered_on = models.DateField("登记日期")
    # The days the two deadlines count from (issues/deadlines.py); empty = the registration day. A
    # resubmission after 退回 and a reopening restart both, a re-route after 退办 restarts the plan's.
    plan_from = models.DateField("方案时限起算日", null=True, blank=True, editable=False)
    due_from = models.DateField("办结时限起算日", null=True, blank=True, editable=False)
    reopened_on = models.DateField("重新办理日期", null=True, blank=True, editable=False)
    plan_due_on = models.DateField("方案时限", null=True, blank=True, editable=False)
    plan_due_provisional = models.BooleanField("方案时限暂定", default=False, editable=False)
    due_on = models.DateField("办结时限", null=True, blank=True, editable=False)
    due_provisional = models.BooleanField("办结时限暂定", default=False, editable=False)
    extension_days = models.PositiveSmallIntegerField("已延期（工作日）", default=0, editable=False)

    plan_text = models.TextField("解决方案", blank=True)
    plan_posted_on = models.DateField("方案上报日期", null=True, blank=True)
    answer = models.TextField("答复居民情况", blank=True)
    answered_on = models.DateField("办结日期", null=True, blank=True)
    closed_on = models.DateField("销号日期", null=True, blank=True)

    hotline_ticket = models.CharField("12345工单号", max_length=32, blank=True, db_index=True)
    special_hardship = models.BooleanField("特殊困难群体", default=False)
    merged_into = models.ForeignKey(
        "self", verbose_name="合并到", null=True, blank=True, on_delete=models.PROTECT, related_name="duplicates"
    )

    # ``version`` (VersionedModel): every service call checks and bumps it (issues/services.py), and a
    # full-row save() of an existing issue is refused when the row moved on since it was loaded.
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    objects = IssueQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "诉求（问题整改台账）"
        ordering = ["-registered_on", "-id"]
        indexes = [
            # The ledger's default order: a page is a top-N index scan.
            models.Index(fields=["-registered_on", "-id"], name="issue_ledger_order"),
            models.Index(fields=["status", "due_on"], name="issue_status_due"),
            models.Index(fields=["status", "plan_due_on"], name="issue_status_plan_due"),
            models.Index(fields=["department", "status"], name="issue_department_status"),
            models.Index(fields=["community", "status"], name="issue_community_status"),
            # The open issues by deadline: the dashboard's overdue list is a top-N scan of it, and its
            # today-dependent figures read the open issues only (reports/dashboard.py).
            models.Index(
                fields=["due_on", "plan_due_on", "id"], condition=Q(status__in=OPEN_STATUSES), name="issue_open_due"
            ),
            # The open issues by community: the today-dependent figures of the dashboard and of each
            # street of the district page read these rows only, with what they test (PostgreSQL's
            # INCLUDE; SQLite keeps the two columns).
            models.Index(
                fields=["community", "registered_on"],
                include=[
                    "id",
                    "status",
                    "due_on",
                    "plan_due_on",
                    "plan_posted_on",
                    "answered_on",
                    "department",
                    "assignee",
                    "level_person",
                    "path",
                ],
                condition=Q(status__in=OPEN_STATUSES),
                name="issue_open_figures",
            ),  # fmt: skip
        ]

    def __str__(self):
        return f"#{self.pk} {self.text[:20]}"

    @property
    def is_open(self):
        return self.status in OPEN_STATUSES

    @property
    def class_label(self):
        """The class (``severity``) as the issue's campaign names it (``issues.deadlines.class_label``)."""
        from .deadlines import class_label

        return class_label(self)

    @property
    def shows_class(self):
        """Whether lists mark the class: any but 一般 — and every class when the campaign names its
        own (004's 立刻办理 is the most urgent, not the ordinary)."""
        from visitplan.rulebook import PRODUCT_DEFAULT

        from .deadlines import issue_rules

        return self.severity != Severity.GENERAL or issue_rules(self).classes != PRODUCT_DEFAULT.classes


class EventKind(models.TextChoices):
    REGISTERED = "registered", "登记"
    ACCEPTED = "accepted", "审核通过"
    RETURNED = "returned", "退回"
    MERGED = "merged", "合并"
    ROUTED = "routed", "交办"
    MISROUTED = "misrouted", "退办"
    PLAN_POSTED = "plan_posted", "上报方案"
    PROGRESS = "progress", "办理进展"
    RESOLVED = "resolved", "办结"
    CLOSED = "closed", "销号"
    ON_THE_SPOT = "on_the_spot", "现场答复"
    EXPLAINED = "explained", "解疑释惑"
    EXTENSION_REQUESTED = "extension_requested", "申请延期"
    EXTENSION_APPROVED = "extension_approved", "批准延期"
    EXTENSION_REJECTED = "extension_rejected", "驳回延期"
    ESCALATED = "escalated", "提级办理"
    REOPENED = "reopened", "重新办理"
    RESUBMITTED = "resubmitted", "补充后重新提交"
    SEVERITY_CHANGED = "severity_changed", "调整等级"
    FOLLOWED_UP = "followed_up", "回头看"
    DEADLINE_RECOMPUTED = "deadline_recomputed", "时限重算"
    NOTE = "note", "备注"


class IssueEvent(models.Model):
    """One step on an issue's timeline: who, when, what, the text."""

    issue = models.ForeignKey(Issue, verbose_name="诉求", on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField("时间", auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="操作人",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    kind = models.CharField("事项", max_length=24, choices=EventKind.choices)
    text = models.TextField("内容", blank=True)
    from_status = models.CharField("原状态", max_length=16, choices=Status.choices, blank=True)
    to_status = models.CharField("新状态", max_length=16, choices=Status.choices, blank=True)
    data = models.JSONField("数据", default=dict, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "办理记录"
        ordering = ["issue", "at", "id"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.get_kind_display()}"


class ExtensionRequest(models.Model):
    class Decision(models.TextChoices):
        PENDING = "pending", "待审批"
        APPROVED = "approved", "已批准"
        REJECTED = "rejected", "已驳回"

    issue = models.ForeignKey(Issue, verbose_name="诉求", on_delete=models.CASCADE, related_name="extensions")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="申请人", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    days = models.PositiveSmallIntegerField("延期（工作日）")
    reason = models.TextField("理由")
    decision = models.CharField("审批", max_length=16, choices=Decision.choices, default=Decision.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="审批人",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField("审批时间", null=True, blank=True)
    created_at = models.DateTimeField("申请时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "延期申请"
        ordering = ["-created_at"]
        constraints = [
            # One open request at a time per issue.
            models.UniqueConstraint(fields=["issue"], condition=Q(decision="pending"), name="one_pending_extension"),
        ]


class ReminderKind(models.TextChoices):
    PLAN_DUE_SOON = "plan_due_soon", "方案即将到期"
    PLAN_OVERDUE = "plan_overdue", "方案逾期"
    DUE_SOON = "due_soon", "办结即将到期"
    OVERDUE = "overdue", "办结逾期"
    ESCALATION = "escalation", "逾期升级"


class Reminder(models.Model):
    """The claim that a reminder of one kind about one issue went out on one day.

    The unique constraint is the idempotence: whoever inserts the row first sends, everyone
    else (a second run, a racing worker, a retried task) finds it there and sends nothing.
    """

    issue = models.ForeignKey(Issue, verbose_name="诉求", on_delete=models.CASCADE, related_name="reminders")
    kind = models.CharField("类型", max_length=16, choices=ReminderKind.choices)
    day = models.DateField("日期")
    created_at = models.DateTimeField("生成时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "提醒记录"
        constraints = [models.UniqueConstraint(fields=["issue", "kind", "day"], name="reminder_once_per_day")]
        indexes = [models.Index(fields=["day"], name="reminder_day")]


class Notification(models.Model):
    """An in-app message to one user (the bell in the page header): a deadline reminder
    (``reminder``) or a workflow step that now waits for the user (``event``: 交办, 退办, …, see
    issues/notifications/steps.py). Once per (reminder, user) and once per (event, user)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="接收人", on_delete=models.CASCADE, related_name="notifications"
    )
    reminder = models.ForeignKey(
        Reminder, verbose_name="提醒", null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    # db_constraint=False: the events table is partitioned by year (decision 0019); on_delete still runs in the ORM.
    event = models.ForeignKey(
        IssueEvent,
        verbose_name="办理记录",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
    )
    issue = models.ForeignKey(
        Issue, verbose_name="诉求", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    title = models.CharField("标题", max_length=200)
    body = models.TextField("内容", blank=True)
    created_at = models.DateTimeField("时间", auto_now_add=True)
    read_at = models.DateTimeField("已读时间", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "站内通知"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["reminder", "user"], name="notification_once_per_reminder_user"),
            models.UniqueConstraint(fields=["event", "user"], name="notification_once_per_event_user"),
        ]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_user_unread")]


class Delivery(models.Model):
    """One notification sent through one outside channel (email now; SMS plugs in the same way)."""

    class State(models.TextChoices):
        PENDING = "pending", "待发送"
        SENT = "sent", "已发送"
        FAILED = "failed", "发送失败"

    notification = models.ForeignKey(
        Notification, verbose_name="通知", on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.CharField("渠道", max_length=16)
    address = models.CharField("地址", max_length=200)
    state = models.CharField("状态", max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField("尝试次数", default=0)
    error = models.TextField("错误", blank=True)
    sent_at = models.DateTimeField("发送时间", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "外发记录"
        constraints = [models.UniqueConstraint(fields=["notification", "channel"], name="delivery_once_per_channel")]


# ---------------------------------------------------------------------------------------------- 诉求汇总
# The dashboard's issue panel per campaign and community (issues/rollups.py keeps it; decision 0018):
# the panel sums a few hundred rows per street instead of aggregating every issue of the campaign.


class Timeliness(models.IntegerChoices):
    """A step against its deadline: a plan posted (``plan_posted_on`` against ``plan_due_on``) or an
    answer given (``answered_on`` against ``due_on``); late when the deadline is missing."""

    NONE = 0, "未完成"
    ON_TIME = 1, "按时"
    LATE = 2, "逾期"


class IssueCount(models.Model):
    """The issues of a community registered within a campaign's span (``Campaign.span``), the
    campaign being one of the community's street's, per status, category, closure and the plan's
    and the answer's timeliness; ``close_days``: the working days from registration to the answer,
    summed over those answered (the panel's 平均办结用时)."""

    # No foreign key constraint: the upkeep's upserts must not take a share lock on the campaign
    # row, which the nightly rebuild holds FOR UPDATE (visits/tally.py). A deleted campaign's rows
    # still go with it (Django's cascade).
    campaign = models.ForeignKey(
        "visitplan.Campaign", on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    community = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices)
    category = models.CharField(max_length=16, choices=Category.choices)
    closure = models.CharField(max_length=16, choices=Closure.choices, blank=True)
    plan_state = models.PositiveSmallIntegerField(choices=Timeliness.choices)
    answer_state = models.PositiveSmallIntegerField(choices=Timeliness.choices)
    n = models.IntegerField(default=0)
    close_days = models.IntegerField(default=0)

    class Meta:
        verbose_name = verbose_name_plural = "诉求汇总"
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "community", "status", "category", "closure", "plan_state", "answer_state"],
                name="issue_count_once",
            )
        ]
