"""Visits (入户走访台账) and follow-ups (回头看).

A ``Visit`` is one contact with a household: a regular visit, or the contact that records a
follow-up (``purpose``). A ``FollowUp`` is one issue of a household on a cadre's 回头看 list; the
contact that settles it is a Visit of purpose 回头看.

The rules live beside the models: what a valid visit is in ``visits/rules.py``, the targets
(2 a year, weekly focus visits, leaders' month) in ``visits/targets.py``, writing in
``visits/services.py``, the 回头看 list in ``visits/followups.py``. The ledger knows nothing of
visits (it also takes issues from the 12345 hotline): which visit an issue was raised on is kept
here (``RaisedIssue``).
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.scope import scope_of
from households.models import Household
from issues.models import Issue
from visitplan.models import Cadre, Campaign


class VisitMethod(models.TextChoices):
    IN_PERSON = "in_person", "入户"
    PHONE = "phone", "电话"
    WECHAT = "wechat", "微信"
    SMS = "sms", "短信"
    MEETING = "meeting", "座谈"
    NOT_HOME = "not_home", "未遇"


# How a follow-up is made (second visit / phone / WeChat / SMS).
FOLLOW_UP_METHODS = [
    (VisitMethod.IN_PERSON.value, "再次入户"),
    (VisitMethod.PHONE.value, "电话回访"),
    (VisitMethod.WECHAT.value, "微信回访"),
    (VisitMethod.SMS.value, "短信回访"),
]


class Purpose(models.TextChoices):
    VISIT = "visit", "入户走访"
    FOLLOW_UP = "follow_up", "回头看"


class Satisfaction(models.TextChoices):
    SATISFIED = "satisfied", "满意"
    BASIC = "basic", "基本满意"
    UNSATISFIED = "unsatisfied", "不满意"


class VisitQuerySet(models.QuerySet):
    def visible_to(self, who):
        """The one scoping entry point for visits: those of households the user may see."""
        scope = scope_of(who)
        if scope.everything:
            return self
        return self.filter(household__in=Household.objects.visible_to(scope))

    def counted(self):
        """Visits that count toward the targets: real visits that reached the household (not 未遇,
        not a 回头看 contact) by a method the campaign's rulebook counts for that household
        (``Visit.counts``, set by ``visits.rules.counts_toward``)."""
        return self.filter(counts=True)


def is_counted(visit) -> bool:
    """``VisitQuerySet.counted`` for one visit in memory (visits/tally.py keeps the tallies by it)."""
    return bool(visit.counts)


class Visit(models.Model):
    campaign = models.ForeignKey(Campaign, verbose_name="走访活动", on_delete=models.PROTECT, related_name="visits")
    household = models.ForeignKey(Household, verbose_name="户", on_delete=models.PROTECT, related_name="visits")
    cadre = models.ForeignKey(Cadre, verbose_name="走访干部", on_delete=models.PROTECT, related_name="visits")
    purpose = models.CharField("类型", max_length=16, choices=Purpose.choices, default=Purpose.VISIT)
    method = models.CharField("走访方式", max_length=16, choices=VisitMethod.choices, default=VisitMethod.IN_PERSON)
    visited_on = models.DateField("走访日期")
    started_at = models.TimeField("开始时间", null=True, blank=True)
    ended_at = models.TimeField("结束时间", null=True, blank=True)
    duration_minutes = models.PositiveSmallIntegerField("时长（分钟）", null=True, blank=True, editable=False)
    # Whether it counts toward the targets under the campaign's rulebook (visits.rules.counts_toward):
    # set on every save, recomputed for the campaign when its rules change (visits/signals.py).
    # db_default: raw INSERTs (the benchmarks' COPY) get False until the tallies' rebuild recounts them.
    counts = models.BooleanField("计入走访任务", default=False, db_default=False, editable=False)
    short_reason = models.CharField("时长不足的原因", max_length=200, blank=True)
    companions = models.CharField("同行人员", max_length=200, blank=True)
    # 入户必问: {question code: {"answer": text, "needs_help": bool, …}} for the questions answered; the
    # questions are the campaign rulebook's (``Rules.question_list()``; the product default's codes are
    # the domains' of issues/domains.py).
    answers = models.JSONField("入户必问", default=dict, blank=True)
    other_difficulties = models.TextField("其他困难", blank=True)
    suggestions = models.TextField("意见建议", blank=True)
    # 三了解 / 四掌握 / 五到位: the codes ticked (the rulebook's ``checklist_groups()``).
    checklist = models.JSONField("三了解四掌握五到位", default=list, blank=True)
    card_given = models.BooleanField("发放亲情卡", default=False)
    satisfaction = models.CharField("群众满意度", max_length=16, choices=Satisfaction.choices, blank=True)
    notes = models.TextField("民情日记", blank=True)
    # Generated when the form opens: a double tap, a retry after a timeout or the back button saves once.
    key = models.UUIDField("提交标识", default=uuid.uuid4, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="录入人",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField("录入时间", auto_now_add=True)
    # Recorded on a phone without signal and sent later by the field app: when it was recorded
    # there (the device's clock, kept only if not in the future). Blank for a visit sent at once.
    recorded_at = models.DateTimeField("本机记录时间", null=True, blank=True, editable=False)
    # The issues the resident raised in this contact (one row of RaisedIssue each).
    issues = models.ManyToManyField(Issue, through="RaisedIssue", related_name="+", verbose_name="诉求")

    objects = VisitQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "走访记录"
        ordering = ["-visited_on", "-id"]
        indexes = [
            models.Index(fields=["campaign", "household"], name="visit_campaign_household"),
            models.Index(fields=["household", "visited_on"], name="visit_household_day"),
            # "Has this cadre visited this household in this period?" — the targets ask it per household.
            models.Index(fields=["household", "cadre", "visited_on"], name="visit_household_cadre_day"),
            models.Index(fields=["cadre", "visited_on"], name="visit_cadre_day"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(started_at__isnull=True)
                | Q(ended_at__isnull=True)
                | Q(ended_at__gte=models.F("started_at")),
                name="visit_ends_after_start",
            ),
        ]

    def __str__(self):
        return f"{self.visited_on} {self.cadre.name} → {self.household}"

    def save(self, *args, **kwargs):
        from .rules import counts_toward

        self.counts = counts_toward(self)
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "counts"}
        super().save(*args, **kwargs)

    @property
    def needs_help_questions(self):
        """The codes of the questions answered with 需要帮助 ticked."""
        return [code for code, a in (self.answers or {}).items() if isinstance(a, dict) and a.get("needs_help")]


class RaisedIssue(models.Model):
    """An issue raised in a visit (its 来源走访): at most one visit per issue, none for an issue from
    the 12345 hotline. Written with the issue, in the same transaction (visits/services.py).
    ``issue.raised_on.visit`` from the issue, ``visit.issues`` from the visit."""

    issue = models.OneToOneField(
        Issue, verbose_name="诉求", primary_key=True, on_delete=models.CASCADE, related_name="raised_on"
    )
    # db_constraint=False: the visits table is partitioned by year (decision 0019); on_delete still runs in the ORM.
    visit = models.ForeignKey(
        Visit, verbose_name="来源走访", on_delete=models.CASCADE, related_name="raised", db_constraint=False
    )

    class Meta:
        verbose_name = verbose_name_plural = "诉求来源走访"

    def __str__(self):
        return f"#{self.issue_id} ← 走访#{self.visit_id}"


class FollowUpStatus(models.TextChoices):
    DUE = "due", "待回访"
    DONE = "done", "已回访"


class FollowUpQuerySet(models.QuerySet):
    def visible_to(self, who):
        """The one scoping entry point for follow-ups: those of households the user may see."""
        scope = scope_of(who)
        if scope.everything:
            return self
        return self.filter(household__in=Household.objects.visible_to(scope))

    def due(self):
        return self.filter(status=FollowUpStatus.DUE)


class FollowUp(models.Model):
    """回头看: one issue of one household on one cadre's list, once (built by visits/followups.py)."""

    campaign = models.ForeignKey(Campaign, verbose_name="走访活动", on_delete=models.CASCADE, related_name="followups")
    household = models.ForeignKey(Household, verbose_name="户", on_delete=models.CASCADE, related_name="followups")
    issue = models.ForeignKey(Issue, verbose_name="诉求", on_delete=models.CASCADE, related_name="followups")
    cadre = models.ForeignKey(Cadre, verbose_name="回访干部", on_delete=models.PROTECT, related_name="followups")
    listed_on = models.DateField("列入日期")
    due_on = models.DateField("回访时限")
    status = models.CharField("状态", max_length=8, choices=FollowUpStatus.choices, default=FollowUpStatus.DUE)
    # db_constraint=False: the visits table is partitioned by year (decision 0019); on_delete still runs in the ORM.
    visit = models.ForeignKey(
        Visit,
        verbose_name="回访记录",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="followups",
        db_constraint=False,
    )
    solved = models.BooleanField("是否解决", null=True, blank=True)
    satisfaction = models.CharField("满意度", max_length=16, choices=Satisfaction.choices, blank=True)
    note = models.TextField("回访情况", blank=True)
    reopened = models.BooleanField("已重新办理", default=False)
    done_on = models.DateField("回访日期", null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="回访人",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = FollowUpQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "回头看"
        ordering = ["due_on", "id"]
        constraints = [
            # Once per household and issue, never twice (a second run of the job finds it there).
            models.UniqueConstraint(fields=["issue"], name="followup_once_per_issue"),
        ]
        indexes = [
            models.Index(fields=["cadre", "status", "due_on"], name="followup_cadre_status_due"),
            models.Index(fields=["household", "status"], name="followup_household_status"),
        ]

    def __str__(self):
        return f"回头看 #{self.issue_id} → {self.cadre.name}"


class CardIssuedQuerySet(models.QuerySet):
    def visible_to(self, who):
        """The one scoping entry point for the cards given: those of households the user may see."""
        scope = scope_of(who)
        if scope.everything:
            return self
        return self.filter(household__in=Household.objects.visible_to(scope))


class CardIssued(models.Model):
    """亲情卡 handed to a household, marked on the cards page (已发放) after printing: when, by whom,
    and whose card it was (the cadre printed on it). Not edited: a second mark of the same card
    keeps the first. Whether a household has a card (this or a visit's ``card_given``) is
    ``visits.cards.has_card``."""

    campaign = models.ForeignKey(Campaign, verbose_name="走访活动", on_delete=models.CASCADE, related_name="+")
    household = models.ForeignKey(Household, verbose_name="户", on_delete=models.CASCADE, related_name="cards_issued")
    cadre = models.ForeignKey(Cadre, verbose_name="卡上干部", on_delete=models.PROTECT, related_name="+")
    given_on = models.DateField("发放日期")
    given_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="登记人", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField("登记时间", auto_now_add=True)

    objects = CardIssuedQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "亲情卡发放"
        constraints = [
            models.UniqueConstraint(fields=["campaign", "household", "cadre"], name="card_issued_once"),
        ]

    def __str__(self):
        return f"{self.given_on} 亲情卡 {self.cadre.name} → {self.household}"


# ---------------------------------------------------------------------------------------------- 走访汇总
# Kept by visits/tally.py as each visit is written, rebuilt from the visits by
# ``manage.py rebuild_tallies`` (and nightly): the dashboard counts these instead of 300,000 visits.

YEAR_DAYS = 366
# A household's visit days are a bit set over the days of the campaign's year, 1 January = bit 0,
# kept in WORDS integers of WORD_BITS bits (both databases' 64-bit signed integers, sign bit unused).
WORD_BITS = 61
WORDS = 6  # 6 × 61 = 366


class HouseholdDays(models.Model):
    """On which days of the campaign's year a household had a counted visit (``days_0`` …
    ``days_5``; ``staff_0`` … the same for visits by 街道干部). "Visited between a and b" is
    then a few bitwise ANDs on one row per household, for any date range, instead of a
    semi-join over every visit (visits/tally.py)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="visit_days")
    days_0 = models.BigIntegerField(default=0)
    days_1 = models.BigIntegerField(default=0)
    days_2 = models.BigIntegerField(default=0)
    days_3 = models.BigIntegerField(default=0)
    days_4 = models.BigIntegerField(default=0)
    days_5 = models.BigIntegerField(default=0)
    staff_0 = models.BigIntegerField(default=0)
    staff_1 = models.BigIntegerField(default=0)
    staff_2 = models.BigIntegerField(default=0)
    staff_3 = models.BigIntegerField(default=0)
    staff_4 = models.BigIntegerField(default=0)
    staff_5 = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = verbose_name_plural = "走访日历（按户）"
        constraints = [models.UniqueConstraint(fields=["campaign", "household"], name="household_days_once")]


class CadreSpan(models.Model):
    """A cadre's first and last counted visit of a household in a campaign: the half-year rule
    (first on or before 30 June, last on or after 1 July) and the secretaries' 户户到."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="cadre_spans")
    cadre = models.ForeignKey(Cadre, on_delete=models.CASCADE, related_name="+")
    first_on = models.DateField()
    last_on = models.DateField()

    class Meta:
        verbose_name = verbose_name_plural = "干部走访起止（按户）"
        constraints = [models.UniqueConstraint(fields=["campaign", "household", "cadre"], name="cadre_span_once")]
        indexes = [models.Index(fields=["campaign", "cadre"], name="cadre_span_campaign_cadre")]


class DayTotal(models.Model):
    """The visits (purpose 入户走访, 未遇 included) of a community on a day by one method, with
    their length figures: the visits-per-day chart and the 30-minute share. ``short`` counts
    the timed ones under the campaign's minimum (a rebuild follows a change of it)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    community = models.ForeignKey("households.Node", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    method = models.CharField(max_length=16, choices=VisitMethod.choices)
    visits = models.PositiveIntegerField(default=0)
    timed = models.PositiveIntegerField(default=0)
    minutes = models.PositiveIntegerField(default=0)
    short = models.PositiveIntegerField(default=0)
    cards = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = verbose_name_plural = "每日走访汇总"
        constraints = [
            models.UniqueConstraint(fields=["campaign", "community", "day", "method"], name="day_total_once")
        ]


# ---------------------------------------------------------------------------------------------- 按网格汇总
# The coverage panel's figures per grid (visits/rollups.py keeps them; decision 0018): the dashboard
# sums a hundred rows per street instead of counting 100,000 households. A grid's community is its
# parent node (a grid moved to another community takes its rows along).


class GridCount(models.Model):
    """The households of a grid, whatever the campaign."""

    grid = models.OneToOneField("households.Node", on_delete=models.CASCADE, related_name="+")
    households = models.IntegerField(default=0)

    class Meta:
        verbose_name = verbose_name_plural = "网格户数汇总"


class GroupCount(models.Model):
    """The households of a grid in one focus group (重点人群)."""

    grid = models.ForeignKey("households.Node", on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey("households.FocusGroup", on_delete=models.CASCADE, related_name="+")
    households = models.IntegerField(default=0)

    class Meta:
        verbose_name = verbose_name_plural = "网格重点人群户数汇总"
        constraints = [models.UniqueConstraint(fields=["grid", "group"], name="group_count_once")]


class GridVisited(models.Model):
    """The households of a grid with a counted visit in the campaign (a HouseholdDays row with a
    day), and those with one by 街道干部 (its staff bits): the coverage and the 30% share."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    grid = models.ForeignKey("households.Node", on_delete=models.CASCADE, related_name="+")
    visited = models.IntegerField(default=0)
    by_staff = models.IntegerField(default=0)

    class Meta:
        verbose_name = verbose_name_plural = "网格已走访户数汇总"
        constraints = [models.UniqueConstraint(fields=["campaign", "grid"], name="grid_visited_once")]


class GroupVisited(models.Model):
    """The households of a grid in one focus group with a counted visit in the campaign."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    grid = models.ForeignKey("households.Node", on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey("households.FocusGroup", on_delete=models.CASCADE, related_name="+")
    visited = models.IntegerField(default=0)

    class Meta:
        verbose_name = verbose_name_plural = "网格重点人群已走访户数汇总"
        constraints = [models.UniqueConstraint(fields=["campaign", "grid", "group"], name="group_visited_once")]


# ---------------------------------------------------------------------------------------------- 按干部网格汇总
# The cadre-targets panel's figures per cadre and grid (visits/rollups.py keeps them; decision 0018):
# the dashboard sums a row per (cadre, grid) instead of grouping every assignment against the spans.


class CadreGridCount(models.Model):
    """A cadre's assignments (包户到人) of the campaign in one grid, and of those not taken over
    (``Assignment.taken_over_on`` empty) the ones his own spans (``CadreSpan``) mark done: at all
    (``sweep``), in 1–6月 (``h1``: first visit on or before 30 June), in 7–12月 (``h2``: last visit
    on or after 1 July), in both. ``taken_over``: the assignments he took over, counted apart from
    the visits at query time (visits/targets.py)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    cadre = models.ForeignKey(Cadre, on_delete=models.CASCADE, related_name="+")
    grid = models.ForeignKey("households.Node", on_delete=models.CASCADE, related_name="+")
    assigned = models.IntegerField(default=0)
    taken_over = models.IntegerField(default=0)
    sweep = models.IntegerField(default=0)
    h1 = models.IntegerField(default=0)
    h2 = models.IntegerField(default=0)
    both = models.IntegerField(default=0)

    class Meta:
        verbose_name = verbose_name_plural = "干部网格包户汇总"
        # (campaign, grid, cadre): its index also serves a recount of some grids and the read by community.
        constraints = [models.UniqueConstraint(fields=["campaign", "grid", "cadre"], name="cadre_grid_count_once")]


# ---------------------------------------------------------------------------------------------- 回头看汇总
# The follow-up panel's figures per campaign and grid (visits/rollups.py keeps them; decision 0018).


class FollowUpCount(models.Model):
    """The 回头看 of a campaign on the households of a grid: listed (``total``), done, done and
    solved, reopened, and done per satisfaction (one column per ``Satisfaction`` value)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    grid = models.ForeignKey("households.Node", on_delete=models.CASCADE, related_name="+")
    total = models.IntegerField(default=0)
    done = models.IntegerField(default=0)
    solved = models.IntegerField(default=0)
    reopened = models.IntegerField(default=0)
    satisfied = models.IntegerField(default=0)
    basic = models.IntegerField(default=0)
    unsatisfied = models.IntegerField(default=0)

    class Meta:
        verbose_name = verbose_name_plural = "网格回头看汇总"
        constraints = [models.UniqueConstraint(fields=["campaign", "grid"], name="followup_count_once")]
