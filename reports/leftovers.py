"""阶段遗留: what a stage should have finished and did not — the one rule, for the dashboard's panel and
the job that tells the street and the communities the day after the stage ends.

- **集中走访** (``StageKind.VISIT``): the households of the campaign's street still without a counted
  visit in the campaign (不漏一户) — the dashboard's coverage, counted over the campaign's period
  up to ``today`` (``dashboard.Period`` / ``dashboard.visited``): exactly the rows of the 未走访户
  page for that community, which the panel links to.
- **集中整改** (``StageKind.RECTIFY``): the issues registered in the campaign up to the stage's last
  day that are still open (``OPEN_STATUSES``: not yet answered to the resident) — the rows of the
  dashboard's 在办诉求 with the period ending on the stage's last day (``?issues=open&to=…``).

Both are counted per community, in one GROUP BY each; "still" means as the data stand on ``today``
(what was visited or answered after the stage ended is no longer owed).

The job (``notify_stage_leftovers``; ``manage.py notify_stage_leftovers --date``, the Celery task
``reports.tasks.notify_stage_leftovers_task``, beat daily): on the day after a stage of those kinds
ends it tells the street admins of its street (every community) and the secretaries of the
communities with something left (their own community) through ``issues.notifications.services.notify``.
A stage nobody was told about yet is caught up for ``CATCH_UP_DAYS`` days (the beat did not run). Once
per stage and person: the ``StageNotice`` row is the claim, inserted with the notification in one
transaction; a stage with nothing left tells nobody.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Q
from django.urls import reverse

from households.models import Household, Node
from households.roles import SECRETARY, STREET_ADMIN
from issues.models import OPEN_STATUSES, Issue
from issues.notifications.services import notify
from visitplan.models import Stage, StageKind

from .dashboard import Period, visited
from .models import StageNotice

KINDS = (StageKind.VISIT, StageKind.RECTIFY)
WHAT = {StageKind.VISIT: ("户", "未走访"), StageKind.RECTIFY: ("件", "诉求未办结")}
CATCH_UP_DAYS = 7


@dataclass
class CommunityLeft:
    id: int
    name: str
    path: str
    count: int
    url: str


@dataclass
class StageLeft:
    stage: object
    kind: str
    label: str
    ends_on: datetime.date
    ended: bool
    unit: str  # 户 / 件
    what: str  # 未走访 / 诉求未办结
    communities: list[CommunityLeft] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(c.count for c in self.communities)

    def describe(self) -> str:
        """'湖田社区 2 户、南纬社区 1 户'."""
        return "、".join(f"{c.name} {c.count} {self.unit}" for c in self.communities)


def households_left(stage, households, *, today):
    """Of ``households``, those of the campaign's street without a counted visit in the campaign's
    period up to ``today`` (the 未走访户 page's rule)."""
    period = Period.of(stage.campaign, today=today)
    return (
        households.filter(street_id=stage.campaign.street_id)
        .annotate(was_visited=visited(period))
        .filter(was_visited=False)
    )


def issues_left(stage, issues):
    """Of ``issues``, those of the campaign's street registered in the campaign up to the stage's
    last day and still open (the dashboard's 在办诉求 over that period)."""
    campaign = stage.campaign
    first, _last = campaign.span()
    street = campaign.street.path
    return issues.filter(
        Q(path__startswith=street + "."), registered_on__range=(first, stage.ends_on), status__in=OPEN_STATUSES
    )


def _link(stage, community_id) -> str:
    campaign = stage.campaign
    if stage.kind == StageKind.VISIT:
        return f"{reverse('reports:unvisited')}?campaign={campaign.pk}&community={community_id}"
    return f"{reverse('reports:issues')}?campaign={campaign.pk}&community={community_id}&to={stage.ends_on:%Y-%m-%d}&issues=open"


def stage_leftovers(stage, *, today, user=None, communities=None) -> StageLeft:
    """What ``stage`` left undone, per community with something left (by path): the households
    not visited or the issues still open (module docstring). ``user``: only what he may see
    (``visible_to``); none — the job — everything. ``communities``: only those ids. Two queries."""
    left = StageLeft(stage=stage, kind=stage.kind, label=stage.get_kind_display(), ends_on=stage.ends_on,
                     ended=stage.ends_on < today, unit=WHAT[stage.kind][0], what=WHAT[stage.kind][1])  # fmt: skip
    if stage.kind == StageKind.VISIT:
        rows = households_left(
            stage, Household.objects.visible_to(user) if user else Household.objects.all(), today=today
        )
    else:
        rows = issues_left(stage, Issue.objects.visible_to(user) if user else Issue.objects.all())
    if communities is not None:
        rows = rows.filter(community_id__in=communities)
    counts = dict(rows.order_by().values_list("community_id").annotate(n=Count("pk")))
    nodes = Node.objects.filter(pk__in=counts).values("pk", "name", "path").order_by("path")
    left.communities = [CommunityLeft(id=n["pk"], name=n["name"], path=n["path"], count=counts[n["pk"]],
                                      url=_link(stage, n["pk"])) for n in nodes]  # fmt: skip
    return left


def dashboard_panel(user, campaign, communities, *, today, covered=None) -> list[StageLeft]:
    """The dashboard's 阶段遗留事项: for the campaign's 集中走访 and 集中整改 stages, what each left
    in the reader's ``communities`` once it has ended (a stage still running is listed with its last
    day and nothing counted). ``covered``: the dashboard's coverage panel over the campaign's
    period up to ``today`` when the caller has it — its unvisited households per community are the
    集中走访 stage's leftovers (``households_left``'s rule), read from the grid rollups instead of
    counted over the households again."""
    panel = []
    for kind in KINDS:
        stage = campaign.stage(kind)
        if stage is None:
            continue
        stage.campaign = campaign
        if stage.ends_on < today and kind == StageKind.VISIT and covered is not None:
            panel.append(_from_coverage(stage, covered, today=today))
        elif stage.ends_on < today:
            panel.append(stage_leftovers(stage, today=today, user=user, communities=communities))
        else:
            panel.append(StageLeft(stage=stage, kind=kind, label=stage.get_kind_display(), ends_on=stage.ends_on,
                                   ended=False, unit=WHAT[kind][0], what=WHAT[kind][1]))  # fmt: skip
    return panel


def _from_coverage(stage, covered, *, today) -> StageLeft:
    """The 集中走访 stage's leftovers from the coverage panel's communities (in path order)."""
    kind = StageKind.VISIT
    left = StageLeft(stage=stage, kind=kind, label=stage.get_kind_display(), ends_on=stage.ends_on,
                     ended=stage.ends_on < today, unit=WHAT[kind][0], what=WHAT[kind][1])  # fmt: skip
    left.communities = [
        CommunityLeft(id=c["id"], name=c["name"], path=c["path"], count=c["unvisited"], url=_link(stage, c["id"]))
        for c in covered["communities"]
        if c["unvisited"]
    ]
    return left


# ------------------------------------------------------------------------------------------------ the job


@dataclass
class NoticeReport:
    day: datetime.date
    sent: int = 0
    already: int = 0
    stages: list = field(default_factory=list)  # lines, one per stage looked at

    def lines(self):
        return [f"{self.day:%Y-%m-%d}：阶段遗留事项通知 {self.sent} 条，此前已通知 {self.already} 条", *self.stages]


def _recipients(stage, left: StageLeft) -> dict:
    """{user: community ids he is told about (None: every community)}: the street admins of the
    stage's street, then the secretaries of the communities with something left."""
    users = get_user_model().objects.filter(is_active=True, cadre__active=True)
    street = stage.campaign.street
    out = {u: None for u in users.filter(groups__name=STREET_ADMIN, cadre__scope=street).distinct().order_by("pk")}
    mine = users.filter(groups__name=SECRETARY, cadre__scope_id__in=[c.id for c in left.communities])
    for user in mine.select_related("cadre").distinct().order_by("pk"):
        out.setdefault(user, {user.cadre.scope_id})
    return out


def message(stage, left: StageLeft, communities=None) -> tuple[str, str]:
    """(title, body) of the notice: the counts of ``communities`` (None: all of them)."""
    shown = [c for c in left.communities if communities is None or c.id in communities]
    shown_left = StageLeft(stage=stage, kind=left.kind, label=left.label, ends_on=left.ends_on, ended=left.ended,
                           unit=left.unit, what=left.what, communities=shown)  # fmt: skip
    title = f"{left.label}阶段已结束：仍有 {shown_left.total} {left.unit}{left.what}"
    ask = "请尽快安排走访，做到不漏一户" if stage.kind == StageKind.VISIT else "请督促责任单位尽快办结并答复居民"
    lists = "；".join(f"{c.name}：{c.url}" for c in shown)
    ends = f"{left.ends_on.year}年{left.ends_on.month}月{left.ends_on.day}日"
    body = (
        f"{stage.campaign}的{left.label}阶段已于{ends}结束，仍有{left.what}：{shown_left.describe()}。{ask}。"
        f"名单见统计看板“阶段遗留事项”（{lists}）。"
    )
    return title, body


def notify_stage_leftovers(*, day: datetime.date) -> NoticeReport:
    """Tell the street admins and the secretaries concerned what each 集中走访 / 集中整改 stage that
    ended in the ``CATCH_UP_DAYS`` days before ``day`` left undone; once per stage and person."""
    report = NoticeReport(day=day)
    stages = (
        Stage.objects.filter(kind__in=KINDS, ends_on__lt=day, ends_on__gte=day - datetime.timedelta(days=CATCH_UP_DAYS))
        .select_related("campaign", "campaign__street")
        .order_by("ends_on", "pk")
    )
    for stage in stages:
        left = stage_leftovers(stage, today=day)
        if not left.total:
            report.stages.append(f"  {stage.campaign} {left.label}（{left.ends_on:%m-%d}结束）：没有遗留")
            continue
        sent = 0
        for user, communities in _recipients(stage, left).items():
            title, body = message(stage, left, communities)
            with transaction.atomic():
                _notice, claimed = StageNotice.objects.get_or_create(stage=stage, user=user, defaults={"sent_on": day})
                if not claimed:
                    report.already += 1
                    continue
                notify([user], title=title, body=body)
                sent += 1
        report.sent += sent
        report.stages.append(
            f"  {stage.campaign} {left.label}（{left.ends_on:%m-%d}结束）：遗留 {left.total} {left.unit}，通知 {sent} 人"
        )
    return report
