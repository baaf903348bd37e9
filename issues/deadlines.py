"""Deadlines of an issue (诉求): the plan due date and the close due date, in China's working days,
and the rest of the ledger's reading of its campaign's rulebook.

The numbers are the campaign's rules (``visitplan.rulebook``): days to a plan (``plan_days``), the
three classes of issue (``classes``: the codes general / major / grave stored in ``Issue.severity``,
each with the document's own name and its days to close). An issue has no campaign of its own: it
follows its street's campaign running on the day it was registered, else the street's latest
(``visitplan.rulebook.campaign_on``), or the product default when the street has none. ``Rulebooks``
resolves that in memory after reading a street's campaigns once, so lists and recomputes cost no
query per issue; ``issue_rules`` is the one way to the rules of one issue (cached on it).

The counting itself lives in ``issues/workdays.py``; this module applies the rules to it.
Deadlines are counted from ``registered_on`` (the start day not counted) and are never typed by hand,
unless a step restarted a clock (``restart_deadlines``): a resubmission after 退回 and a reopening
restart both from that day, a re-route after 退办 restarts the plan's for the new department.
A deadline that walked through a day no calendar source covers is provisional (暂定) until the
office enters that year; entering it (or correcting any day) recomputes the open deadlines it moved
(``recompute_open_deadlines``, called by the admin and, after commit, by the HolidayOverride signal
receivers in ``issues/signals.py``). Changing ``plan_days`` or ``classes`` of a campaign recomputes
the open issues of that campaign the same way (``rules_changed``, registered with
``visitplan.rulebook.on_rules_changed`` in ``IssuesConfig.ready``).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone

from households.models import subtree_q, subtree_q_any
from visitplan.models import running_on, span_of
from visitplan.rulebook import PRODUCT_DEFAULT, Rules, rules_for

from . import rollups, workdays
from .workdays import WorkCalendar

if TYPE_CHECKING:
    from collections.abc import Iterable

    from django.contrib.auth.base_user import AbstractBaseUser

    from visitplan.models import Campaign
from .models import OPEN_STATUSES, EventKind, Issue, IssueEvent, Severity

# The reminder rule (send_reminders): "due in ≤2 working days → reminder to the responsible person".
# A reminder setting of the product, not a campaign rule.
DUE_SOON_WORKING_DAYS = 2

PROVISIONAL_LABEL = "暂定"

# Moved issues written per transaction when recomputing.
_BATCH = 500

_FIELDS = ("plan_due_on", "plan_due_provisional", "due_on", "due_provisional")

# The rules the deadlines follow: a change to one of them recomputes the open issues' deadlines.
DEADLINE_RULES = frozenset({"plan_days", "classes"})


# ---------------------------------------------------------------------- the rulebook of an issue


def _street(path: str | None) -> str:
    return (path or "").split(".")[0]


class Rulebooks:
    """The rulebooks of issues' campaigns, resolved in memory.

    The campaigns of a street (with the bounds of their stages) are read once, in one query, however
    many issues of it ask; ``load(paths)`` reads the streets of a whole page at once, ``Rulebooks(every_street=True)``
    every street on first use (campaigns are few). The choice is ``visitplan.models.running_on``: the
    street's campaign running on the day (the latest of them), else its latest; none → product default.
    """

    def __init__(self, *, every_street: bool = False):
        self._streets: dict[str, list[tuple]] = {}  # street path → [(campaign, first, last)], latest first
        self._every_street = every_street
        self._loaded_all = False

    def load(self, paths: Iterable[str] | None = None) -> Rulebooks:
        """Read the campaigns of the streets of ``paths`` not read yet (every street when None)."""
        from visitplan.models import Campaign, Stage

        if self._loaded_all:
            return self
        # One query: each campaign with its street and the bounds of its stages (``Campaign.span``).
        stages = Stage.objects.filter(campaign=OuterRef("pk"))
        campaigns = Campaign.objects.annotate(
            street_path=F("street__path"),
            first_day=Subquery(stages.order_by("starts_on").values("starts_on")[:1]),
            last_day=Subquery(stages.order_by("-ends_on").values("ends_on")[:1]),
        ).order_by("-year", "-id")
        if paths is None:
            wanted = None
            self._loaded_all = True
        else:
            wanted = {_street(p) for p in paths} - set(self._streets) - {""}
            if not wanted:
                return self
            campaigns = campaigns.filter(street__path__in=wanted)
        found: dict[str, list[tuple]] = {street: [] for street in wanted or ()}
        for campaign in campaigns:
            first, last = span_of(campaign.year, campaign.first_day, campaign.last_day)
            found.setdefault(campaign.street_path, []).append((campaign, first, last))
        self._streets.update(found)
        return self

    def _of(self, street: str) -> list[tuple]:
        if street not in self._streets and not self._loaded_all:
            self.load(None if self._every_street else [street])
        return self._streets.get(street, [])

    def campaign(self, path: str | None, day: datetime.date | None) -> Campaign | None:
        """The campaign an issue at ``path`` registered on ``day`` follows (None: the street has none)."""
        street = _street(path)
        return running_on(self._of(street) if street else [], day)

    def rules(self, path: str | None, day: datetime.date | None) -> Rules:
        return rules_for(self.campaign(path, day))

    def where(self, test: Callable[[Rules], bool]) -> Q | None:
        """The issues whose rulebook passes ``test``, as a condition on their path and registration
        day (reads every street's campaigns once); None when no issue can pass."""
        self.load()
        q, any_match = Q(pk__in=[]), False
        streets = [street for street, campaigns in self._streets.items() if campaigns]
        for street in streets:
            for first, last, campaign in self._segments(street):
                if not test(rules_for(campaign)):
                    continue
                condition = subtree_q(street)
                if first is not None:
                    condition &= Q(registered_on__gte=first)
                if last is not None:
                    condition &= Q(registered_on__lte=last)
                q |= condition
                any_match = True
        if test(PRODUCT_DEFAULT):  # the streets without a campaign
            q |= ~subtree_q_any(streets)
            any_match = True
        return q if any_match else None

    def _segments(self, street: str) -> list[tuple]:
        """[(first day or None, last day or None, campaign)]: the registration days of the street cut
        where the campaign an issue follows changes (first / last None: open-ended)."""
        campaigns = self._streets[street]
        cuts = sorted(
            {first for _c, first, _l in campaigns} | {last + datetime.timedelta(days=1) for _c, _f, last in campaigns}
        )
        pieces = [(None, cuts[0] - datetime.timedelta(days=1))]
        pieces += [(cut, following - datetime.timedelta(days=1)) for cut, following in zip(cuts, cuts[1:])]
        pieces.append((cuts[-1], None))
        out = []
        for first, last in pieces:
            campaign = self.campaign(street, first if first is not None else last)
            if out and out[-1][2] is campaign:
                out[-1] = (out[-1][0], last, campaign)
            else:
                out.append((first, last, campaign))
        return out


def rules_at(path: str | None, day: datetime.date | None) -> Rules:
    """The rulebook an issue of the household at ``path`` registered on ``day`` follows (forms)."""
    return Rulebooks().rules(path, day)


def issue_rules(issue: Issue, *, rulebooks: Rulebooks | None = None) -> Rules:
    """The rulebook ``issue`` follows (cached on the instance: a list resolves its page with
    ``attach_rules`` first, so that no row asks the database)."""
    rules = issue.__dict__.get("_rules")
    if rules is None:
        rules = (rulebooks or Rulebooks()).rules(issue.path, issue.registered_on)
        issue._rules = rules
    return rules


def attach_rules(issues: Iterable[Issue], *, rulebooks: Rulebooks | None = None) -> list[Issue]:
    """Resolve the rulebook of each of ``issues`` at once (one query for the lot, none when known)."""
    issues = list(issues)
    pending = [issue for issue in issues if issue.__dict__.get("_rules") is None]
    if pending:
        rulebooks = (rulebooks or Rulebooks()).load(issue.path for issue in pending)
        for issue in pending:
            issue._rules = rulebooks.rules(issue.path, issue.registered_on)
    return issues


def class_label(issue: Issue) -> str:
    """What users read for the issue's class (``severity``): the name its campaign's document gives
    it (002: 一般问题 …; 004: 立刻办理 / 定期办理 / 做好解释工作长期推进)."""
    return issue_rules(issue).class_label(issue.severity)


def class_choices(rules: Rules | None = None) -> list[tuple[str, str]]:
    """The classes to choose from, with their days: [("general", "立刻办理（15个工作日）"), …]."""
    rules = rules or PRODUCT_DEFAULT
    return [(code, f"{rules.class_label(code)}（{rules.class_days(code)}个工作日）") for code in Severity.values]


def street_reviews(issue: Issue) -> bool:
    """Whether only the street reviews (审核: accept / return) the issue (``review_by``, 002)."""
    return issue_rules(issue).review_by == "street"


# ---------------------------------------------------------------------- computing


def compute_deadlines(
    registered_on: datetime.date,
    severity: str,
    extension_days: int = 0,
    *,
    rules: Rules,
    calendar: WorkCalendar | None = None,
    plan_from: datetime.date | None = None,
    due_from: datetime.date | None = None,
) -> dict[str, datetime.date | bool]:
    """The four deadline fields for these inputs (a dict keyed like the Issue fields) under ``rules``
    (``issue_rules`` / ``Rulebooks.rules``): ``plan_days`` to a plan, the class's days to close plus
    the approved extensions. Each deadline counts from its own start day when one is given
    (``plan_from`` / ``due_from``), else from ``registered_on``."""
    if severity not in Severity.values:
        raise ValueError(f"未知的诉求等级：{severity!r}")
    calendar = calendar or workdays.current_calendar()
    plan = calendar.add_working_days(plan_from or registered_on, rules.plan_days)
    due = calendar.add_working_days(due_from or registered_on, rules.class_days(severity) + (extension_days or 0))
    return {
        "plan_due_on": plan.date,
        "plan_due_provisional": plan.provisional,
        "due_on": due.date,
        "due_provisional": due.provisional,
    }


def apply_deadlines(issue: Issue, *, calendar: WorkCalendar | None = None, rulebooks: Rulebooks | None = None) -> None:
    """Set plan_due_on/_provisional and due_on/_provisional from registered_on (or the restart days
    plan_from / due_from), severity and extension_days, under the issue's rulebook. Does not save."""
    for field, value in compute_deadlines(
        issue.registered_on,
        issue.severity,
        issue.extension_days,
        rules=issue_rules(issue, rulebooks=rulebooks),
        calendar=calendar,
        plan_from=issue.plan_from,
        due_from=issue.due_from,
    ).items():
        setattr(issue, field, value)


def restart_deadlines(
    issue: Issue, day: datetime.date, *, plan: bool = True, close: bool = True, calendar: WorkCalendar | None = None
) -> None:
    """Start the plan clock and/or the close clock again from ``day`` and recompute. Does not save.

    The rule of the ledger: whoever must act next gets the full time from the day the issue reached
    him. A resubmission after 退回 and a reopening after 回头看 restart both (a reopening also drops
    the extensions of the round before: they were granted against the old deadline); a re-route
    after 退办 restarts only the plan's, for the new department (the resident's wait to an answer
    does not start over because the first department was the wrong one).
    """
    if plan:
        issue.plan_from = day
    if close:
        issue.due_from = day
    apply_deadlines(issue, calendar=calendar)


# 本周到期: a deadline within the next seven days, today included — the same count on any weekday.
UPCOMING_DAYS = 7


def upcoming_window(today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """(first, last) day of 本周到期 seen on ``today``: today and the six days after it."""
    return today, today + datetime.timedelta(days=UPCOMING_DAYS - 1)


def working_days_left(issue: Issue, *, on: datetime.date, calendar: WorkCalendar | None = None) -> int | None:
    """Working days after ``on`` up to and including the close deadline: 0 on the due day itself,
    negative once overdue (-1 on the first working day after it). None when the issue has no
    close deadline or no longer runs against it (not open)."""
    if issue.due_on is None or issue.status not in OPEN_STATUSES:
        return None
    return workdays.working_days_between(on, issue.due_on, calendar=calendar)


def plan_working_days_left(issue: Issue, *, on: datetime.date, calendar: WorkCalendar | None = None) -> int | None:
    """Like ``working_days_left`` for the plan deadline; None once the plan has been posted."""
    if issue.plan_due_on is None or issue.plan_posted_on is not None or issue.status not in OPEN_STATUSES:
        return None
    return workdays.working_days_between(on, issue.plan_due_on, calendar=calendar)


def format_deadline(day: datetime.date | None, provisional: bool) -> str:
    """How a deadline is shown everywhere: '2027-01-20' or '2027-01-20（暂定）'."""
    if day is None:
        return ""
    text = day.isoformat() if isinstance(day, datetime.date) else str(day)
    return f"{text}（{PROVISIONAL_LABEL}）" if provisional else text


# ---------------------------------------------------------------------- recomputing


def _affected(years):
    """Open issues whose deadlines may have moved: provisional (or missing) ones, and those whose
    window from registration to the later deadline touches one of ``years``."""
    condition = (
        Q(plan_due_provisional=True) | Q(due_provisional=True) | Q(due_on__isnull=True) | Q(plan_due_on__isnull=True)
    )
    for year in sorted(set(years or ())):
        first, last = datetime.date(year, 1, 1), datetime.date(year, 12, 31)
        condition |= Q(registered_on__lte=last) & (Q(due_on__gte=first) | Q(plan_due_on__gte=first))
    return Issue.objects.filter(status__in=OPEN_STATUSES).filter(condition)


def _describe(old: dict, new: dict, *, why: str = "节假日调整后重算时限") -> str:
    parts = []
    for label, date_field, flag_field in (
        ("方案时限", "plan_due_on", "plan_due_provisional"),
        ("办结时限", "due_on", "due_provisional"),
    ):
        if (old[date_field], old[flag_field]) != (new[date_field], new[flag_field]):
            parts.append(
                f"{label} {format_deadline(old[date_field], old[flag_field]) or '无'}"
                f" → {format_deadline(new[date_field], new[flag_field])}"
            )
    return f"{why}：" + "；".join(parts)


def _as_json(values: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, datetime.date) else v) for k, v in values.items()}


def recompute_open_deadlines(
    *, by: AbstractBaseUser | None = None, years: Iterable[int] | None = None, calendar: WorkCalendar | None = None
) -> int:
    """Recompute the deadlines of open issues after the calendar changed; returns how many moved.

    Looks at open issues whose deadlines are provisional and, when ``years`` is given, those whose
    window (registration to the later deadline) touches one of those years. Only issues whose
    deadlines actually change are written: new dates, version bumped (anyone holding the old version
    must reload, as after any other change), and an IssueEvent (DEADLINE_RECOMPUTED, actor ``by``).

    Each write is ``UPDATE … WHERE pk = … AND version = …`` like the workflow services' writes, so a
    concurrent step (an approved extension, a closure) is never overwritten: an issue that changed
    between our read and our write is read again and recomputed from its new values.
    """
    year_list = sorted(set(years)) if years else []
    return _recompute(
        _affected(years),
        # Always a fresh snapshot: we run right after the overrides changed, maybe in the same transaction.
        calendar=calendar or workdays.WorkCalendar.load(),
        rulebooks=Rulebooks(every_street=True),
        actor_id=by.pk if by is not None and by.is_authenticated else None,
        why="节假日调整后重算时限",
        data={"years": year_list},
    )


def recompute_campaign_deadlines(campaign: Campaign, *, rules: Iterable[str] = (), actor_id: int | None = None) -> int:
    """Recompute the deadlines of the open issues that follow ``campaign`` after its rules ``rules``
    changed (``plan_days``, ``classes``); returns how many moved. As ``recompute_open_deadlines``:
    a restarted clock keeps its restart day, approved extensions stay, each moved issue gets its
    version bumped and a DEADLINE_RECOMPUTED event saying why."""
    street = campaign.street.path
    rule_list = sorted(rules)
    return _recompute(
        Issue.objects.filter(status__in=OPEN_STATUSES).filter(subtree_q(street)),
        calendar=workdays.WorkCalendar.load(),
        rulebooks=Rulebooks().load([street]),
        campaign_id=campaign.pk,
        actor_id=actor_id,
        why=f"活动规则（{'、'.join(_RULE_NAMES.get(r, r) for r in rule_list)}）调整后重算时限",
        data={"campaign": campaign.pk, "rules": rule_list},
    )


_RULE_NAMES = {"plan_days": "提出解决方案时限", "classes": "问题类别与办结时限"}


def rules_changed(campaign: Campaign, changed: frozenset[str]) -> int:
    """``visitplan.rulebook.on_rules_changed`` listener: a change to the deadlines' rules moves the
    open issues of the campaign, in the same transaction as the change (the actor is whoever
    changed the rule, from the ``RuleChange`` just written)."""
    rules = set(changed) & DEADLINE_RULES
    if not rules:
        return 0
    from visitplan.models import RuleChange

    actor_id = (
        RuleChange.objects.filter(campaign_id=campaign.pk, rule__in=rules)
        .order_by("-at", "-id")
        .values_list("user_id", flat=True)
        .first()
    )
    return recompute_campaign_deadlines(campaign, rules=rules, actor_id=actor_id)


def _recompute(queryset, *, calendar, rulebooks, actor_id, why, data, campaign_id=None) -> int:
    changed = 0
    rows = queryset.values_list(*_READ).iterator(chunk_size=2000)
    for _attempt in range(3):
        moves = _moves(rows, calendar, rulebooks, campaign_id=campaign_id)
        raced = []
        # Short transactions: an UPDATE per moved issue and its events commit together.
        for offset in range(0, len(moves), _BATCH):
            with transaction.atomic():
                events, written = [], []
                for issue_id, version, old, new in moves[offset : offset + _BATCH]:
                    updated = Issue.objects.filter(pk=issue_id, version=version).update(
                        **new, version=F("version") + 1, updated_at=timezone.now()
                    )
                    if not updated:
                        raced.append(issue_id)
                        continue
                    written.append((issue_id, old))
                    events.append(
                        IssueEvent(
                            issue_id=issue_id,
                            actor_id=actor_id,
                            kind=EventKind.DEADLINE_RECOMPUTED,
                            text=_describe(old, new, why=why),
                            data={"old": _as_json(old), "new": _as_json(new), **data},
                        )
                    )
                IssueEvent.objects.bulk_create(events)
                rollups.deadlines_moved(written)  # the dashboard's counts follow (issues/rollups.py)
                changed += len(events)
        if not raced:
            break
        # Someone changed these between our read and our write: read them again, recompute from now.
        rows = Issue.objects.filter(pk__in=raced).values_list(*_READ)
    return changed


_READ = (
    "id", "version", "status", "path", "registered_on", "plan_from", "due_from", "severity", "extension_days", *_FIELDS
)  # fmt: skip


def _moves(rows, calendar, rulebooks, *, campaign_id=None) -> list[tuple[int, int, dict, dict]]:
    """(id, version seen, old deadlines, new deadlines) of the open issues whose deadlines move
    (only those following campaign ``campaign_id`` when given)."""
    moves = []
    for row in rows:
        current = dict(zip(_READ, row))
        if current["status"] not in OPEN_STATUSES:
            continue
        if campaign_id is not None:
            campaign = rulebooks.campaign(current["path"], current["registered_on"])
            if campaign is None or campaign.pk != campaign_id:
                continue
        new = compute_deadlines(
            current["registered_on"],
            current["severity"],
            current["extension_days"],
            rules=rulebooks.rules(current["path"], current["registered_on"]),
            calendar=calendar,
            plan_from=current["plan_from"],
            due_from=current["due_from"],
        )
        old = {f: current[f] for f in _FIELDS}
        if old != new:
            moves.append((current["id"], current["version"], old, new))
    return moves
