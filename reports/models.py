"""Supervision (督导检查) and the monthly report: findings that cost a community points, the phone
checks (电话调查) that find them, the monthly 大走访活动入户表 per cadre, and the monthly 督查通报
per campaign (``reports/bulletin/``).

The scoring rules are in ``reports/scoring.py``; the dashboard's figures in ``reports/dashboard.py``;
the Excel ledgers in ``reports/ledgers/``.
"""

from django.conf import settings
from django.db import models

from core.scope import scope_of
from households.models import Household, Node, subtree_q_any
from visitplan.models import Cadre, Campaign
from visits.models import Satisfaction, Visit


class CheckMethod(models.TextChoices):
    ONLINE = "online", "网上抽查"
    PHONE = "phone", "电话调查"
    ONSITE = "onsite", "实地巡查"


class FindingKind(models.TextChoices):
    NOT_VISITED = "not_visited", "不入户"
    FAKE_VISIT = "fake_visit", "虚假入户"
    FAKE_OPINIONS = "fake_opinions", "征求意见不实"
    NOT_RECTIFIED = "not_rectified", "不整改"
    FAKE_RECTIFICATION = "fake_rectification", "虚假整改"
    INCOMPLETE = "incomplete", "整改不彻底"


class FindingQuerySet(models.QuerySet):
    def visible_to(self, who):
        """The one scoping entry point for findings: street admins, leaders and secretaries see those
        of the communities under their node; nobody else sees any."""
        scope = scope_of(who)
        paths = scope.paths
        if paths is None:
            return self
        if not scope.node_wide or not paths:
            return self.none()
        return self.filter(subtree_q_any(paths, "community__path"))


class Finding(models.Model):
    """督查发现: one spot-check result against a visit, an issue or a cadre; costs its community points."""

    campaign = models.ForeignKey(Campaign, verbose_name="走访活动", on_delete=models.CASCADE, related_name="findings")
    community = models.ForeignKey(Node, verbose_name="社区", on_delete=models.PROTECT, related_name="findings")
    method = models.CharField("检查方式", max_length=16, choices=CheckMethod.choices)
    kind = models.CharField("问题类型", max_length=24, choices=FindingKind.choices)
    # db_constraint=False: the visits table is partitioned by year (decision 0019); on_delete still runs in the ORM.
    visit = models.ForeignKey(
        Visit,
        verbose_name="走访记录",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="findings",
        db_constraint=False,
    )
    issue = models.ForeignKey("issues.Issue", verbose_name="诉求", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="findings")  # fmt: skip
    cadre = models.ForeignKey(
        Cadre, verbose_name="责任干部", null=True, blank=True, on_delete=models.SET_NULL, related_name="findings"
    )
    evidence = models.TextField("情况说明")
    found_on = models.DateField("发现日期")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="记录人", null=True, on_delete=models.SET_NULL,
                                    related_name="+")  # fmt: skip
    created_at = models.DateTimeField("记录时间", auto_now_add=True)

    objects = FindingQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "督查发现"
        ordering = ["-found_on", "-id"]
        indexes = [models.Index(fields=["campaign", "community"], name="finding_campaign_community")]

    def __str__(self):
        return f"{self.community} {self.get_kind_display()} {self.found_on}"


class PhoneCheckQuerySet(models.QuerySet):
    def visible_to(self, who):
        return self.filter(household__in=Household.objects.visible_to(who))


class PhoneCheck(models.Model):
    """电话调查: one visited household drawn at random for a call, and what the resident said."""

    campaign = models.ForeignKey(
        Campaign, verbose_name="走访活动", on_delete=models.CASCADE, related_name="phone_checks"
    )
    community = models.ForeignKey(Node, verbose_name="社区", on_delete=models.PROTECT, related_name="phone_checks")
    household = models.ForeignKey(Household, verbose_name="户", on_delete=models.CASCADE, related_name="phone_checks")
    # db_constraint=False: the visits table is partitioned by year (decision 0019); on_delete still runs in the ORM.
    visit = models.ForeignKey(
        Visit, verbose_name="被核查的走访", on_delete=models.CASCADE, related_name="phone_checks", db_constraint=False
    )
    drawn_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="抽取人", null=True, on_delete=models.SET_NULL,
                                 related_name="+")  # fmt: skip
    drawn_on = models.DateField("抽取日期")
    called_on = models.DateField("调查日期", null=True, blank=True)
    reached = models.BooleanField("已接通", null=True, blank=True)
    was_visited = models.BooleanField("居民确认被走访", null=True, blank=True)
    reported_minutes = models.PositiveSmallIntegerField("居民所说时长（分钟）", null=True, blank=True)
    satisfaction = models.CharField("满意度", max_length=16, choices=Satisfaction.choices, blank=True)
    note = models.TextField("通话记录", blank=True)
    finding = models.OneToOneField(Finding, verbose_name="形成的督查发现", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="phone_check")  # fmt: skip

    objects = PhoneCheckQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "电话调查"
        ordering = ["-drawn_on", "id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "household"], name="phone_check_once_per_household")]


class MonthlyReport(models.Model):
    """大走访活动入户表 of one month for one street, built on the 1st for the month before."""

    street = models.ForeignKey(Node, verbose_name="街道", on_delete=models.CASCADE, related_name="monthly_reports")
    month = models.DateField("月份", help_text="该月1日")
    built_at = models.DateTimeField("生成时间", auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "月度入户表"
        ordering = ["-month"]
        constraints = [models.UniqueConstraint(fields=["street", "month"], name="monthly_report_once")]

    def __str__(self):
        return f"{self.street} {self.month:%Y年%m月}"


class MonthlyCadreRow(models.Model):
    report = models.ForeignKey(MonthlyReport, verbose_name="月报", on_delete=models.CASCADE, related_name="rows")
    cadre = models.ForeignKey(Cadre, verbose_name="干部", on_delete=models.CASCADE, related_name="+")
    community = models.ForeignKey(
        Node, verbose_name="社区", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    days_visited = models.PositiveSmallIntegerField("走访天数")
    households_visited = models.PositiveIntegerField("走访户数")
    visits = models.PositiveIntegerField("走访次数")
    issues_raised = models.PositiveIntegerField("收集诉求")
    issues_solved = models.PositiveIntegerField("解决诉求")
    # Against the month's target of the campaign's rulebook (reports/monthly.py): a leader's days and
    # households (the target, met or not, the shortfall); the others' households still due.
    target_days = models.PositiveSmallIntegerField("月度任务（天）", null=True, blank=True)
    target_households = models.PositiveIntegerField("月度任务（户）", null=True, blank=True)
    target_met = models.BooleanField("是否达标", null=True, blank=True)
    short_days = models.PositiveSmallIntegerField("差天数", null=True, blank=True)
    short_households = models.PositiveIntegerField("差户数", null=True, blank=True)
    households_due = models.PositiveIntegerField("待走访户数", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "月度入户表明细"
        constraints = [models.UniqueConstraint(fields=["report", "cadre"], name="monthly_row_once")]


class StageNotice(models.Model):
    """The claim that one person was told what a stage left undone (reports/leftovers.py): once per
    stage and person, inserted with the notification in one transaction."""

    stage = models.ForeignKey("visitplan.Stage", verbose_name="活动阶段", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="接收人", on_delete=models.CASCADE, related_name="+"
    )
    sent_on = models.DateField("通知日期")

    class Meta:
        verbose_name = verbose_name_plural = "阶段遗留通知"
        constraints = [models.UniqueConstraint(fields=["stage", "user"], name="stage_notice_once")]


class BulletinQuerySet(models.QuerySet):
    def visible_to(self, who):
        """The bulletins of the street the user works in, for the node-wide roles (its rows are
        ``BulletinRow.objects.visible_to``'s: a secretary's community only); nobody else's."""
        scope = scope_of(who)
        paths = scope.paths
        if paths is None:
            return self
        if not scope.node_wide or not paths:
            return self.none()
        return self.filter(campaign__street__path__in={p.split(".")[0] for p in paths})


class Bulletin(models.Model):
    """督查通报 of one campaign for one month (003: "每月对大走访活动督查一次…每月召开一次工作例会,对大走访活动
    通报一次"): built on the 1st for the month before (``reports.bulletin.build_bulletin``), one row per
    community; the street admins and leaders are told once (``notified_at`` is the claim)."""

    campaign = models.ForeignKey(Campaign, verbose_name="走访活动", on_delete=models.CASCADE, related_name="bulletins")
    month = models.DateField("月份", help_text="该月1日")
    built_at = models.DateTimeField("生成时间", auto_now=True)
    notified_at = models.DateTimeField("通知时间", null=True, blank=True)

    objects = BulletinQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "督查通报"
        ordering = ["-month", "campaign_id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "month"], name="bulletin_once")]

    def __str__(self):
        return f"{self.campaign} {self.month:%Y年%m月}督查通报"


class BulletinRowQuerySet(models.QuerySet):
    def visible_to(self, who):
        """Like findings: the rows of the communities under the reader's node, for node-wide roles."""
        scope = scope_of(who)
        paths = scope.paths
        if paths is None:
            return self
        if not scope.node_wide or not paths:
            return self.none()
        return self.filter(subtree_q_any(paths, "community__path"))


class BulletinRow(models.Model):
    """One community in a 督查通报: the month's findings by kind, the points they cost and the score at
    the month's end, the month's visits, and the month's issues (registered, 办结, overdue)."""

    bulletin = models.ForeignKey(Bulletin, verbose_name="督查通报", on_delete=models.CASCADE, related_name="rows")
    community = models.ForeignKey(Node, verbose_name="社区", on_delete=models.CASCADE, related_name="+")
    findings = models.JSONField("当月督查发现（按问题类型）", default=dict, blank=True)
    deducted = models.PositiveIntegerField("当月扣分")
    score = models.PositiveIntegerField("月末累计得分")
    visits = models.PositiveIntegerField("当月走访次数")
    households = models.PositiveIntegerField("当月走访户数")
    issues_registered = models.PositiveIntegerField("当月登记诉求")
    issues_closed = models.PositiveIntegerField("当月办结诉求")
    issues_closed_on_time = models.PositiveIntegerField("当月按期办结")
    issues_close_due = models.PositiveIntegerField("当月应办结")
    issues_overdue = models.PositiveIntegerField("当月逾期诉求")

    objects = BulletinRowQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "督查通报明细"
        constraints = [models.UniqueConstraint(fields=["bulletin", "community"], name="bulletin_row_once")]
