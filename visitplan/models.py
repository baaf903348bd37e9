"""People and the plan: departments, cadres, the campaign with its stages and targets, 包户到人."""

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.dispatch import Signal

from core.scope import scope_of
from core.versioning import VersionedModel
from households.models import Household, Node, subtree_q_any
from households.validators import validate_phone


class Tier(models.IntegerChoices):
    """Who visits whom, highest first (the campaign plan, 'who visits whom')."""

    LEADER = 1, "街道班子成员"
    DEPARTMENT = 2, "市/区直部门挂包单位"
    STREET_STAFF = 3, "街道干部（包村居组）"
    SECRETARY = 4, "社区书记"
    COMMITTEE = 5, "两委成员/社区工作者"
    GRID_WORKER = 6, "网格员"


class Department(VersionedModel):
    name = models.CharField("名称", max_length=100, unique=True)
    level = models.CharField(
        "类别",
        max_length=16,
        choices=[("city", "市直"), ("district", "区直"), ("street", "街道科室")],
        default="district",
    )
    head_name = models.CharField("负责人", max_length=50, blank=True)
    head_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="负责人账号",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="headed_departments",
        help_text="逾期诉求升级提醒发给此账号",
    )
    phone = models.CharField("联系电话", max_length=20, blank=True, validators=[validate_phone])

    class Meta:
        verbose_name = verbose_name_plural = "责任单位"
        ordering = ["level", "name"]

    def __str__(self):
        return self.name


class CadreQuerySet(models.QuerySet):
    def active(self):
        return self.filter(active=True)

    def visible_to(self, who):
        scope = scope_of(who)
        if scope.everything:
            return self
        user = scope.user
        paths = scope.paths
        q = Q(user=user) if user.is_authenticated else Q(pk__in=[])
        return self.filter(q | subtree_q_any(paths, "scope__path"))


class Cadre(VersionedModel):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name="登录账号",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cadre",
    )
    name = models.CharField("姓名", max_length=50)
    unit = models.CharField("工作单位", max_length=100, blank=True)
    department = models.ForeignKey(
        Department, verbose_name="所属部门", null=True, blank=True, on_delete=models.PROTECT, related_name="cadres"
    )
    position = models.CharField("职务", max_length=50, blank=True)
    phone = models.CharField("联系电话", max_length=20, blank=True, validators=[validate_phone])
    tier = models.PositiveSmallIntegerField("层级", choices=Tier.choices)
    scope = models.ForeignKey(Node, verbose_name="工作范围", on_delete=models.PROTECT, related_name="cadres")
    active = models.BooleanField("在岗", default=True)
    takes_households = models.BooleanField(
        "参与包户", default=True, help_text="活动办等只做管理、不入户的人员取消勾选，自动分配时跳过"
    )

    objects = CadreQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "干部"
        ordering = ["tier", "scope__path", "name"]
        indexes = [models.Index(fields=["tier", "active"], name="cadre_tier_active")]

    def __str__(self):
        return f"{self.name}（{self.get_tier_display()}）"

    def clean(self):
        from django.core.exceptions import ValidationError

        if self.tier == Tier.DEPARTMENT and not self.department_id:
            raise ValidationError({"department": "部门挂包干部必须选择所属部门"})


class CampaignQuerySet(models.QuerySet):
    def visible_to(self, who):
        """Campaigns of the street the user works in (or every campaign, for superusers)."""
        scope = scope_of(who)
        if scope.everything:
            return self
        user, paths = scope.user, scope.paths
        if not user.is_authenticated:
            return self.none()
        streets = {p.split(".")[0] for p in paths}
        mine = Assignment.objects.filter(cadre__user=user).values("campaign_id")
        return self.filter(Q(street__path__in=streets) | Q(pk__in=mine))

    def current(self, on):
        """The campaign running on ``on`` (the latest of them), else the latest one; None if there is none."""
        campaigns = list(self.prefetch_related("stages")[:50])
        return running_on([(c, *c.span()) for c in campaigns], on)


def span_of(year, first_start=None, last_end=None) -> tuple[datetime.date, datetime.date]:
    """A campaign's span: from its first stage's start to its last stage's end, or its year when it
    has no stages (``Campaign.span``, and the ledger's in-memory copy of it)."""
    if first_start is None or last_end is None:
        return datetime.date(year, 1, 1), datetime.date(year, 12, 31)
    return first_start, last_end


def running_on(spans, day):
    """Of ``spans`` ([(campaign, first day, last day)], the latest campaign first), the campaign
    running on ``day`` (the latest of them), else the latest; None when there is none. The one
    choice of "the campaign of that day": ``CampaignQuerySet.current`` and the ledger's rulebooks."""
    if day is not None:
        for campaign, first, last in spans:
            if first <= day <= last:
                return campaign
    return spans[0][0] if spans else None


class Campaign(VersionedModel):
    # Targets from the campaign documents; defaults are the numbers of the 湖田街道 2022 plan.
    year = models.PositiveSmallIntegerField("年度")
    name = models.CharField("活动名称", max_length=100)
    street = models.ForeignKey(Node, verbose_name="街道", on_delete=models.PROTECT, related_name="campaigns")
    min_visit_minutes = models.PositiveSmallIntegerField("每次走访不少于（分钟）", default=30)
    street_staff_share = models.PositiveSmallIntegerField("街道干部覆盖社区户数不低于（%）", default=30)
    leader_days_per_month = models.PositiveSmallIntegerField("班子成员每月走访天数", default=10)
    leader_households_per_month = models.PositiveSmallIntegerField("班子成员每月走访户数", default=50)
    # 活动规则 (visitplan/rulebook.py): the document the campaign follows, and the rules changed since.
    preset = models.CharField("依据文件", max_length=8, blank=True, default="")
    rules = models.JSONField("活动规则（与所依据文件不同的）", default=dict, blank=True, editable=False)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    objects = CampaignQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "走访活动"
        ordering = ["-year", "-id"]

    def __str__(self):
        return f"{self.year}年{self.name}"

    def clean(self):
        # Its visits lie in its year (and are tallied by day of it, visits/tally.py).
        if self.pk and self.visits.exists():
            before = Campaign.objects.filter(pk=self.pk).values_list("year", flat=True).first()
            if before is not None and before != self.year:
                raise ValidationError({"year": f"该活动已有走访记录，不能把年度从 {before} 年改为 {self.year} 年"})

    def stage(self, kind):
        return next((s for s in self.stages.all() if s.kind == kind), None)

    def span(self):
        """(first day, last day): from the first stage's start to the last stage's end; a campaign
        without stages spans its year. Visits must fall inside it."""
        stages = list(self.stages.all())
        if stages:
            return span_of(self.year, min(s.starts_on for s in stages), max(s.ends_on for s in stages))
        return span_of(self.year)


class RuleChangeQuerySet(models.QuerySet):
    def visible_to(self, who):
        """The changes to the rulebooks of the campaigns the user may see (``Campaign.visible_to``)."""
        if scope_of(who).everything:
            return self
        return self.filter(campaign__in=Campaign.objects.visible_to(who))


class RuleChange(models.Model):
    """A change to a campaign's rulebook: who, when, which rule, from what to what (in words)."""

    campaign = models.ForeignKey(
        Campaign, verbose_name="走访活动", on_delete=models.CASCADE, related_name="rule_changes"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="修改人",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    at = models.DateTimeField("时间", auto_now_add=True)
    rule = models.CharField("规则", max_length=40)
    label = models.CharField("规则名称", max_length=60)
    before = models.TextField("原规则")
    after = models.TextField("新规则")

    objects = RuleChangeQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "活动规则修改记录"
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.campaign} {self.label}"


class StageKind(models.TextChoices):
    MOBILISE = "mobilise", "组织部署"
    VISIT = "visit", "集中走访"
    RECTIFY = "rectify", "集中整改"
    FOLLOW_UP = "follow_up", "整改回头看"
    EVALUATE = "evaluate", "总结评估"


STAGE_ORDER = [k for k, _ in StageKind.choices]


class Stage(VersionedModel):
    campaign = models.ForeignKey(Campaign, verbose_name="走访活动", on_delete=models.CASCADE, related_name="stages")
    kind = models.CharField("阶段", max_length=16, choices=StageKind.choices)
    starts_on = models.DateField("开始日期")
    ends_on = models.DateField("结束日期")

    class Meta:
        verbose_name = verbose_name_plural = "活动阶段"
        ordering = ["campaign", "starts_on"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "kind"], name="stage_unique_kind"),
            models.CheckConstraint(condition=Q(ends_on__gte=models.F("starts_on")), name="stage_ends_after_start"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.starts_on:%m-%d}~{self.ends_on:%m-%d}"

    def clean(self):
        # A campaign is a year's (its visits are tallied by day of that year, visits/tally.py).
        campaign = getattr(self, "campaign", None)
        year = campaign.year if campaign is not None else None
        if year and any(d and d.year != year for d in (self.starts_on, self.ends_on)):
            raise ValidationError(f"活动阶段须在活动年度（{year}年）之内")


class DepartmentQuota(VersionedModel):
    """安排表: how many households of a community a department must take in a campaign."""

    campaign = models.ForeignKey(Campaign, verbose_name="走访活动", on_delete=models.CASCADE, related_name="quotas")
    department = models.ForeignKey(Department, verbose_name="责任单位", on_delete=models.CASCADE, related_name="quotas")
    community = models.ForeignKey(
        Node,
        verbose_name="社区",
        on_delete=models.CASCADE,
        related_name="quotas",
        limit_choices_to={"kind": "community"},
    )
    households = models.PositiveIntegerField("包户数")

    class Meta:
        verbose_name = verbose_name_plural = "部门包户安排表"
        constraints = [
            models.UniqueConstraint(fields=["campaign", "department", "community"], name="quota_unique"),
        ]

    def __str__(self):
        return f"{self.department} → {self.community}：{self.households}户"


# Sent by every writer of assignments that goes round ``Assignment.save`` (the allocation's bulk
# write, ``reassign_cadre``'s queryset updates, the admin's deletes), inside its transaction and after
# its writes, with ``campaign_id`` and ``grid_ids``: the grids of the households whose assignments
# changed. The apps above keep figures per cadre and grid (visits/rollups.py): they recount them.
assignments_changed = Signal()


class AssignmentQuerySet(models.QuerySet):
    def visible_to(self, who):
        scope = scope_of(who)
        if scope.everything:  # unrestricted: skip the subquery over every household
            return self
        return self.filter(household__in=Household.objects.visible_to(scope))


class Assignment(VersionedModel):
    """包户到人: one household linked to one cadre within a campaign."""

    class Source(models.TextChoices):
        AUTO = "auto", "自动分配"
        MANUAL = "manual", "手工指定"

    campaign = models.ForeignKey(
        Campaign, verbose_name="走访活动", on_delete=models.CASCADE, related_name="assignments"
    )
    household = models.ForeignKey(Household, verbose_name="户", on_delete=models.CASCADE, related_name="assignments")
    cadre = models.ForeignKey(Cadre, verbose_name="包户干部", on_delete=models.PROTECT, related_name="assignments")
    tier = models.PositiveSmallIntegerField("层级", choices=Tier.choices, blank=True, help_text="留空则取干部的层级")
    department = models.ForeignKey(
        Department, verbose_name="部门", null=True, blank=True, on_delete=models.PROTECT, related_name="assignments"
    )
    source = models.CharField("来源", max_length=8, choices=Source.choices, default=Source.MANUAL)
    created_at = models.DateTimeField("分配时间", auto_now_add=True)
    # 转给: the day this cadre took the household over from another (visitplan.allocation.reassign_cadre),
    # and from whom. The visits the household had by then count for him, and he gets time for the rest
    # (visits/targets.py, "Households taken over").
    taken_over_on = models.DateField("接手日期", null=True, blank=True, editable=False)
    taken_over_from = models.ForeignKey(
        Cadre,
        verbose_name="原包户干部",
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = AssignmentQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "包户到人"
        constraints = [
            models.UniqueConstraint(fields=["campaign", "household", "cadre"], name="assignment_unique_cadre"),
            # No household is visited twice by two units (安排表: 不重复走访).
            models.UniqueConstraint(
                fields=["campaign", "household"], condition=Q(tier=2), name="assignment_one_department_per_household"
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "cadre"], name="assignment_campaign_cadre"),
            models.Index(fields=["campaign", "household", "tier"], name="assignment_campaign_hh_tier"),
            # The few households taken over, read apart by the dashboard's targets (visits/targets.py).
            models.Index(
                fields=["campaign", "cadre"], condition=Q(taken_over_on__isnull=False), name="assignment_taken_over"
            ),
        ]

    def __str__(self):
        return f"{self.cadre.name} → {self.household}"

    def clean(self):
        # A form hands a blank 层级 over as "" (the column is not null): fill it as save() does before
        # the constraints are checked, which would otherwise compare "" with a number and fail.
        if self.tier in ("", None):
            self.tier = self.cadre.tier if self.cadre_id else None
        if self.tier == Tier.DEPARTMENT and not self.department_id and self.cadre_id:
            self.department_id = self.cadre.department_id
        errors = {}
        if self.tier is None and not self.cadre_id:
            errors["tier"] = "请选择包户干部（层级留空时取干部的层级）"
        campaign, household = getattr(self, "campaign", None), getattr(self, "household", None)
        if campaign is not None and household is not None and household.street_id != campaign.street_id:
            errors["household"] = f"该户不属于该走访活动的街道（{campaign.street.name}）"
        elif self.tier == Tier.DEPARTMENT and self.campaign_id and self.household_id:
            # 安排表: no household is visited by two units (the constraint assignment_one_department_per_household).
            taken = Assignment.objects.filter(
                campaign_id=self.campaign_id, household_id=self.household_id, tier=Tier.DEPARTMENT
            )
            other = taken.exclude(pk=self.pk).select_related("cadre").first()
            if other is not None:
                errors["tier"] = f"该户在本次活动中已有部门挂包（{other.cadre.name}），同一户不由两个单位重复走访"
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs):
        if self.cadre_id and not self.tier:
            self.tier = self.cadre.tier
        if self.tier == Tier.DEPARTMENT and not self.department_id and self.cadre_id:
            self.department_id = self.cadre.department_id
        super().save(*args, **kwargs)
