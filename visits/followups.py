"""回头看: the daily job that builds each cadre's follow-up list (the campaign plan, "follow-up").

Run by Celery beat every morning (``visits.tasks.build_followups_task``) and by
``python manage.py build_followups --date YYYY-MM-DD``; both call ``build_followups``.

And what the ledger asks of the 回头看 without knowing it (``connect_ledger``, called once from
``VisitsConfig.ready()``): may a cadre reopen an issue, and the export's 回访结果 column.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q

from issues import workdays
from issues.exporting import LedgerColumn, add_ledger_column
from issues.models import Issue, Status
from issues.services import grant_reopen
from visitplan.allocation import LINK_TIERS
from visitplan.models import Assignment, Campaign, StageKind, Tier

from . import rollups
from .models import FollowUp, FollowUpStatus, Satisfaction

# A follow-up listed late in the stage (or after it) still gets this many working days to be made.
FOLLOW_UP_WORKING_DAYS = 5

# Issues a resident should be asked about again: those that were handled — answered by the
# department (办结, awaiting 销号) or closed (solved, on the spot, explained). Not those still
# waiting for 审核, 交办 or an answer: the daily job lists them the day they are answered. Not
# returned or merged ones: those were never the ledger's to solve (a merged one is followed up
# through its target).
CHECKED_STATUSES = (Status.RESOLVED, Status.CLOSED)

# Who takes a follow-up when the cadre who raised the issue is gone: the household's 包户 cadre,
# the one nearest the household first (网格员, 两委, 街道干部, 部门), then the community secretary.
FALLBACK_TIERS = sorted(LINK_TIERS, reverse=True) + [Tier.SECRETARY]


@dataclass
class BuildReport:
    day: datetime.date
    created: int = 0
    already_listed: int = 0
    campaigns: list = field(default_factory=list)
    without_cadre: list = field(default_factory=list)  # issue ids nobody can follow up

    def lines(self):
        out = [f"{self.day:%Y-%m-%d}：新列入回头看 {self.created} 条，已在名单上 {self.already_listed} 条"]
        for campaign in self.campaigns:
            out.append(f"  {campaign}")
        if self.without_cadre:
            ids = "、".join(f"#{pk}" for pk in self.without_cadre[:20])
            more = "等" if len(self.without_cadre) > 20 else ""
            out.append(
                f"  {len(self.without_cadre)} 条诉求找不到回访干部（登记干部已离岗且该户无包户干部）：{ids}{more}"
            )
        return out


def listed_q():
    """The follow-ups a cadre's 回头看 list shows: those of handled issues (``CHECKED_STATUSES``), and
    those already made (whatever the issue became since, e.g. reopened). A row listed under an
    older rule for an issue nobody has handled yet stays off the list until it is answered."""
    return Q(status=FollowUpStatus.DONE) | Q(issue__status__in=CHECKED_STATUSES)


def stage_starts_on(campaign, day) -> datetime.date | None:
    """The day the campaign's 整改回头看 stage starts, when that is after ``day``; else None."""
    stage = campaign.stage(StageKind.FOLLOW_UP) if campaign is not None else None
    if stage is not None and stage.starts_on > day:
        return stage.starts_on
    return None


def due_date(stage, day) -> datetime.date:
    """The stage's last day, but at least FOLLOW_UP_WORKING_DAYS working days after ``day``."""
    at_least = workdays.add_working_days(day, FOLLOW_UP_WORKING_DAYS).date
    return max(stage.ends_on, at_least)


def build_followups(*, day: datetime.date) -> BuildReport:
    """Put every issue that needs a 回头看 on a cadre's list, once.

    Steps:
    1. the campaigns whose 整改回头看 stage has begun on or before ``day`` (during it and after);
    2. per campaign, its issues still without a follow-up: households of the campaign's street,
       registered between the campaign's first day and ``day`` (and within the campaign), in one
       of ``CHECKED_STATUSES``;
    3. the cadre: the one who raised the issue while he is active, else the household's 包户 cadre
       in the campaign (``FALLBACK_TIERS`` order); an issue with neither is reported;
    4. the due date (``due_date``);
    5. one bulk insert that skips rows already there: the unique constraint on the issue means a
       second run, a retried task or two racing workers list each issue once and never twice.
    """
    report = BuildReport(day=day)
    campaigns = Campaign.objects.filter(stages__kind=StageKind.FOLLOW_UP, stages__starts_on__lte=day).distinct()
    for campaign in campaigns.select_related("street").prefetch_related("stages"):
        stage = campaign.stage(StageKind.FOLLOW_UP)
        first, last = campaign.span()
        candidates = Issue.objects.filter(
            household__street=campaign.street,
            registered_on__range=(first, min(last, day)),
            status__in=CHECKED_STATUSES,
        )
        report.already_listed += candidates.filter(followups__isnull=False).count()
        rows = list(candidates.filter(followups__isnull=True).values_list("pk", "household_id", "raised_by_cadre_id"))
        if not rows:
            report.campaigns.append(f"{campaign}：无新增")
            continue
        cadres = _pick_cadres(campaign, rows)
        due_on = due_date(stage, day)
        listed = [
            FollowUp(campaign=campaign, household_id=household_id, issue_id=issue_id, cadre_id=cadres[issue_id],
                     listed_on=day, due_on=due_on)
            for issue_id, household_id, _raiser in rows
            if cadres.get(issue_id)
        ]  # fmt: skip
        report.without_cadre.extend(issue_id for issue_id, _h, _r in rows if not cadres.get(issue_id))
        with transaction.atomic():
            before = FollowUp.objects.filter(campaign=campaign).count()
            FollowUp.objects.bulk_create(listed, batch_size=2000, ignore_conflicts=True)
            created = FollowUp.objects.filter(campaign=campaign).count() - before
            if created:  # the dashboard's counts of their grids (visits/rollups.py)
                rollups.followups_changed([campaign.pk], {f.household_id for f in listed})
        report.created += created
        report.already_listed += len(listed) - created  # a racing run listed them a moment ago
        report.campaigns.append(f"{campaign}：新列入 {created} 条，回访时限 {due_on:%Y-%m-%d}")
    return report


def _pick_cadres(campaign, rows) -> dict[int, int]:
    """issue id -> cadre id (see step 3 of ``build_followups``)."""
    from visitplan.models import Cadre

    raisers = {r for _i, _h, r in rows if r}
    active = set(Cadre.objects.filter(pk__in=raisers, active=True).values_list("pk", flat=True))
    orphans = {h for _i, h, r in rows if r not in active}
    fallback = {}
    if orphans:
        rank = {tier: n for n, tier in enumerate(FALLBACK_TIERS)}
        links = Assignment.objects.filter(
            campaign=campaign, household_id__in=orphans, cadre__active=True, tier__in=FALLBACK_TIERS
        ).values_list("household_id", "cadre_id", "tier")
        for household_id, cadre_id, _tier in sorted(links, key=lambda t: (t[0], rank[t[2]], t[1])):
            fallback.setdefault(household_id, cadre_id)
    return {
        issue_id: (raiser if raiser in active else fallback.get(household_id))
        for issue_id, household_id, raiser in rows
    }


# ---------------------------------------------------------------------------------------------- the ledger


def on_cadres_list(user, issue) -> bool:
    """The reopen rule for a cadre (issues.services.grant_reopen): the issue is on his 回头看 list."""
    return FollowUp.objects.filter(issue_id=issue.pk, cadre__user=user).exists()


def followup_summary(status, solved, satisfaction, reopened) -> str:
    """回访结果: '已解决·满意', '未解决·不满意（已重新办理）', '待回访', or '' when not on a list."""
    if not status:
        return ""
    if status == FollowUpStatus.DUE:
        return "待回访"
    text = ("已解决" if solved else "未解决") + (f"·{Satisfaction(satisfaction).label}" if satisfaction else "")
    return text + ("（已重新办理）" if reopened else "")


# The 问题整改台账's last column. One follow-up per issue at most (unique), so its LEFT JOIN never
# repeats a row.
RESULT_COLUMN = LedgerColumn(
    header="回访结果",
    width=12,
    fields=("followups__status", "followups__solved", "followups__satisfaction", "followups__reopened"),
    value=followup_summary,
)


def connect_ledger():
    grant_reopen(on_cadres_list)
    add_ledger_column(RESULT_COLUMN)
