"""督查通报: the monthly supervision bulletin of a campaign, per community (003: "镇大走访活动领导小组办公室
每月对大走访活动督查一次…每月召开一次工作例会,对大走访活动通报一次").

For one campaign and one month, each community of the campaign's street gets one row:

- 督查发现: the findings of the campaign found that month (``found_on``), by kind;
- 当月扣分 / 累计得分: the points those findings cost and the score at the month's end, by the
  campaign's rulebook (``reports/scoring.py``: ``full_score``, ``points_per_finding``,
  ``deduct_kinds``; 002 does not take points for 征求意见不实). 当月扣分 is the score at the month's
  start less the score at its end, so it never goes past 扣完为止;
- 走访: the counted visits (``Visit.objects.counted()``) of the campaign that month, and the
  households they reached;
- 诉求: registered that month; 办结 that month (answered, not merged); 逾期 that month (past the
  close deadline and unanswered at the month's end, or answered late within the month); 按期办结率
  = those 办结 that month by their deadline over 应办结 (办结 that month, plus those past their
  deadline still unanswered at the month's end) — the dashboard's 按时办结 over 应办结, for one month.

``build_bulletin(campaign, month)`` writes a ``Bulletin`` (one per campaign and month: get_or_create,
the row locked, its ``BulletinRow``s deleted and written fresh, so a second run leaves the same rows)
and tells the street admins and leaders of the street once: the notification is claimed with a
conditional UPDATE of ``Bulletin.notified_at``, in the same transaction as the notifications, so a
second run, a racing worker or a redelivered task sends nothing twice. The Celery beat task
(``reports.tasks.build_bulletin_task``, the 1st at 06:30) and ``manage.py build_bulletin --month
YYYY-MM`` build every campaign running in the month before.

The page and the Excel download (``reports.bulletin.views``) show the stored bulletin of a month once
it is built, and the month's figures as they stand while it is not (the running month); each reader
sees the rows of the communities under his node (``BulletinRow.objects.visible_to``).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, F, Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from households.models import Node, NodeKind
from households.roles import LEADER, STREET_ADMIN, user_roles
from issues.models import OPEN_STATUSES, Issue, Status
from visitplan.models import Campaign
from visitplan.rulebook import rules_for
from visits.models import Visit

from ..models import Bulletin, BulletinRow, Finding, FindingKind
from ..monthly import month_label, month_start, next_month
from ..scoring import kinds_text

READERS = (STREET_ADMIN, LEADER)
FIGURES = ("deducted", "score", "visits", "households", "issues_registered", "issues_closed",
           "issues_closed_on_time", "issues_close_due", "issues_overdue")  # fmt: skip


def may_read(user) -> bool:
    """The bulletin is the street's: its admins and leaders (and superusers) read it."""
    if not (user.is_authenticated and user.is_active):
        return False
    return user.is_superuser or bool(user_roles(user) & set(READERS))


@dataclass
class CommunityMonth:
    """One community's line of the bulletin (the fields of ``BulletinRow``)."""

    community_id: int
    name: str
    findings: dict = field(default_factory=dict)  # kind → findings of the month
    deducted: int = 0
    score: int = 0
    visits: int = 0
    households: int = 0
    issues_registered: int = 0
    issues_closed: int = 0
    issues_closed_on_time: int = 0
    issues_close_due: int = 0
    issues_overdue: int = 0

    @property
    def findings_total(self) -> int:
        return sum(self.findings.values())

    @property
    def findings_text(self) -> str:
        return kinds_text(self.findings)

    @property
    def on_time_pct(self):
        """按期办结率 in %, one decimal; None when nothing was due (shown as —)."""
        if not self.issues_close_due:
            return None
        return round(100 * self.issues_closed_on_time / self.issues_close_due, 1)

    def finding_count(self, kind) -> int:
        return self.findings.get(kind, 0)


def street_communities(campaign):
    """The communities of the campaign's street (the job's rows; the page narrows them to the reader's)."""
    return Node.objects.filter(kind=NodeKind.COMMUNITY, path__startswith=campaign.street.path + ".")


def _score(rules, deducting_findings: int) -> int:
    return max(rules.full_score - rules.points_per_finding * deducting_findings, 0)


def month_figures(campaign, month: datetime.date, communities) -> list[CommunityMonth]:
    """The bulletin's lines for ``communities`` (a Node queryset of communities) in the month
    starting ``month``, in tree order. Four queries whatever the number of communities."""
    first, end = month_start(month), next_month(month_start(month))
    rules = rules_for(campaign)
    lines = {
        pk: CommunityMonth(community_id=pk, name=name)
        for pk, name in communities.filter(kind=NodeKind.COMMUNITY).order_by("path").values_list("pk", "name")
    }
    ids = list(lines)
    if not ids:
        return []

    # Findings: the month's by kind, and those before it (the score at the month's start).
    before, during = {}, {}
    found = (
        Finding.objects.filter(campaign=campaign, community_id__in=ids, found_on__lt=end)
        .values("community_id", "kind")
        .annotate(month=Count("pk", filter=Q(found_on__gte=first)), before=Count("pk", filter=Q(found_on__lt=first)))
        .order_by()
    )
    for r in found:
        if r["month"]:
            lines[r["community_id"]].findings[r["kind"]] = r["month"]
        if r["kind"] in rules.deduct_kinds:
            before[r["community_id"]] = before.get(r["community_id"], 0) + r["before"]
            during[r["community_id"]] = during.get(r["community_id"], 0) + r["month"]
    for pk, line in lines.items():
        start_score = _score(rules, before.get(pk, 0))
        line.score = _score(rules, before.get(pk, 0) + during.get(pk, 0))
        line.deducted = start_score - line.score
        line.findings = {k: line.findings[k] for k in FindingKind.values if line.findings.get(k)}

    # Visits: counted visits of the campaign in the month, and the households they reached.
    visits = (
        Visit.objects.counted()
        .filter(campaign=campaign, household__community_id__in=ids, visited_on__gte=first, visited_on__lt=end)
        .values("household__community_id")
        .annotate(n=Count("pk"), households=Count("household_id", distinct=True))
        .order_by()
    )
    for r in visits:
        line = lines[r["household__community_id"]]
        line.visits, line.households = r["n"], r["households"]

    # Issues of the communities: registered, 办结, overdue in the month, and the on-time rate.
    not_merged = ~Q(status=Status.MERGED)
    closed = not_merged & Q(answered_on__gte=first, answered_on__lt=end)
    unanswered_at_end = Q(answered_on__gte=end) | Q(answered_on__isnull=True, status__in=OPEN_STATUSES)
    late_open = not_merged & Q(due_on__lt=end) & unanswered_at_end
    issues = (
        Issue.objects.filter(community_id__in=ids)
        .filter(Q(registered_on__gte=first, registered_on__lt=end) | closed | late_open)
        .values("community_id")
        .annotate(
            registered=Count("pk", filter=Q(registered_on__gte=first, registered_on__lt=end)),
            closed=Count("pk", filter=closed),
            on_time=Count("pk", filter=closed & Q(answered_on__lte=F("due_on"))),
            due=Count("pk", filter=closed | late_open),
            overdue=Count("pk", filter=late_open | (closed & Q(answered_on__gt=F("due_on")))),
        )
        .order_by()
    )
    for r in issues:
        line = lines[r["community_id"]]
        line.issues_registered, line.issues_closed = r["registered"], r["closed"]
        line.issues_closed_on_time, line.issues_close_due, line.issues_overdue = r["on_time"], r["due"], r["overdue"]
    return list(lines.values())


def totals(lines: list[CommunityMonth]) -> CommunityMonth:
    """The 合计 line (the score is not summed: it is left at 0 and not shown)."""
    total = CommunityMonth(community_id=0, name="合计")
    for line in lines:
        for kind, n in line.findings.items():
            total.findings[kind] = total.findings.get(kind, 0) + n
        for name in FIGURES:
            if name != "score":
                setattr(total, name, getattr(total, name) + getattr(line, name))
    total.findings = {k: total.findings[k] for k in FindingKind.values if total.findings.get(k)}
    return total


# ------------------------------------------------------------------------------------------------ building


def build_bulletin(campaign, month: datetime.date, *, notify_readers: bool = True) -> Bulletin:
    """Build (or rebuild) the bulletin of ``campaign`` for ``month`` and, the first time only, tell
    the street admins and leaders. Returns it, with ``lines`` and ``notified`` (how many were told
    by this call)."""
    from issues.notifications.services import notify

    first = month_start(month)
    with transaction.atomic():
        bulletin, _created = Bulletin.objects.get_or_create(campaign=campaign, month=first)
        bulletin = Bulletin.objects.select_for_update().get(pk=bulletin.pk)  # a second run waits here
        lines = month_figures(campaign, first, street_communities(campaign))
        bulletin.rows.all().delete()
        BulletinRow.objects.bulk_create(
            BulletinRow(bulletin=bulletin, community_id=line.community_id, findings=line.findings,
                        **{name: getattr(line, name) for name in FIGURES})
            for line in lines
        )  # fmt: skip
        bulletin.save(update_fields=["built_at"])
        told = 0
        users = recipients(campaign) if notify_readers else []
        # The claim: only the run that sets notified_at sends, and a rollback releases it. Nobody to
        # tell yet (no admin or leader in post): not claimed, so the next run tells them.
        unclaimed = Bulletin.objects.filter(pk=bulletin.pk, notified_at__isnull=True)
        if users and unclaimed.update(notified_at=timezone.now()):
            title, body = message(campaign, first, lines)
            told = notify(users, title=title, body=body)
    bulletin.refresh_from_db()
    bulletin.lines = lines
    bulletin.notified = told
    return bulletin


def campaigns_of_month(month: datetime.date):
    """The campaigns running in the month (a stage or, without stages, the year overlapping it)."""
    first, end = month_start(month), next_month(month_start(month))
    last = end - datetime.timedelta(days=1)
    running = []
    for campaign in Campaign.objects.select_related("street").prefetch_related("stages").order_by("street__path", "pk"):
        start, stop = campaign.span()
        if start <= last and stop >= first:
            running.append(campaign)
    return running


def build_bulletins(month: datetime.date) -> list[Bulletin]:
    """The job of the 1st (and of ``manage.py build_bulletin``): every campaign running in ``month``."""
    return [build_bulletin(campaign, month) for campaign in campaigns_of_month(month)]


def recipients(campaign) -> list:
    """The street admins and leaders of the campaign's street (active, cadre 在岗), once each."""
    users = get_user_model().objects.filter(
        is_active=True, groups__name__in=READERS, cadre__active=True, cadre__scope__path=campaign.street.path
    )
    return list(users.distinct().order_by("pk"))


def page_path(campaign, first) -> str:
    try:
        return f"{reverse('reports:bulletin')}?campaign={campaign.pk}&month={first:%Y-%m}"
    except NoReverseMatch:
        return ""


def message(campaign, first, lines) -> tuple[str, str]:
    """The notification: a title and one line per community (findings, points, visits, issues)."""
    title = f"【督查通报】{campaign} {month_label(first)}"
    body = [f"{month_label(first)}大走访活动督查通报已生成（{campaign}）。", ""]
    for line in lines:
        found = f"督查发现 {line.findings_total} 条（{line.findings_text}）" if line.findings_total else "督查发现 0 条"
        rate = f"{line.on_time_pct}%" if line.on_time_pct is not None else "—"
        body.append(
            f"{line.name}：{found}，当月扣 {line.deducted} 分，累计得分 {line.score}；走访 {line.visits} 次 "
            f"{line.households} 户；诉求登记 {line.issues_registered} 件、办结 {line.issues_closed} 件、"
            f"逾期 {line.issues_overdue} 件，按期办结率 {rate}"
        )
    path = page_path(campaign, first)
    if path:
        body += ["", f"查看：{path}"]
    return title, "\n".join(body)


# ------------------------------------------------------------------------------------------------ reading


def stored_lines(bulletin, rows) -> list[CommunityMonth]:
    """The lines of a built bulletin, from its rows (already scoped by the caller)."""
    return [
        CommunityMonth(community_id=r.community_id, name=r.community.name, findings=dict(r.findings or {}),
                       **{name: getattr(r, name) for name in FIGURES})
        for r in rows.select_related("community").order_by("community__path")
    ]  # fmt: skip


def is_final(bulletin) -> bool:
    """Built after its month ended (the job of the 1st): what was announced. One built while the
    month was running (a command run by hand) is already out of date."""
    return timezone.localtime(bulletin.built_at).date() >= next_month(bulletin.month)


def lines_for(user, campaign, month) -> tuple[list[CommunityMonth], Bulletin | None]:
    """What ``user`` reads of the bulletin of ``campaign`` for ``month``: the stored rows of the
    communities under his node once it is built after the month, else the month's figures as they
    stand (and no bulletin)."""
    first = month_start(month)
    bulletin = Bulletin.objects.visible_to(user).filter(campaign=campaign, month=first).first()
    if bulletin is not None and is_final(bulletin):
        return stored_lines(bulletin, BulletinRow.objects.visible_to(user).filter(bulletin=bulletin)), bulletin
    communities = Node.objects.visible_to(user, ancestors=False).filter(
        kind=NodeKind.COMMUNITY, path__startswith=campaign.street.path + "."
    )
    return month_figures(campaign, first, communities), None
