"""The issue workflow (诉求办理流程): every step a person can take on an issue, as one service each.

Views, admin actions, management commands and tests call these functions; none of them changes
``Issue.status`` or the deadline fields any other way. Each service

1. finds the issue through ``Issue.objects.visible_to(by)`` — an issue the user cannot see is
   "没有找到该诉求", exactly as if it did not exist;
2. checks the role rule (``ACTION_ROLES`` below, plus the department / level rules noted there);
3. checks the version the caller saw (optimistic lock) and that the step is legal from the
   current status (``TRANSITIONS`` below — the one table of the workflow);
4. writes the change with ``UPDATE … WHERE pk = %s AND version = %s`` (bumping ``version``) and an
   ``IssueEvent`` (actor, kind, text, from/to status, data), all inside one transaction.
   A concurrent change makes the UPDATE match no row: ``StaleIssueError``, nothing written;
5. in the same transaction, notifies whoever must act next (``notifications.steps``: 交办 → the
   department, 退回 → the registrar, 办结 → the street admins, …); their emails go after commit.

Who may do what (superusers may do everything; 领导 only read, so they appear nowhere):

=================  ==========================================================================
action             roles
=================  ==========================================================================
register           干部/网格员, 社区书记, 街道管理员, 领导 (leaders visit focus households and
                   file what they hear) — for a household they can see; the raiser may answer on
                   the spot (现场答复/即知即办), which closes the issue at once
accept             街道管理员, 社区书记 (审核; the secretary within his community) — only 街道管理员
                   when the issue's campaign says the street reviews (rulebook ``review_by``,
                   002); the reviewer may set the severity (等级: the rulebook's class) then,
                   with a reason, and the close deadline follows it
return             街道管理员, 社区书记 (退回登记人) — as accept
resubmit           the registrar himself (干部/网格员, 社区书记, 街道管理员): completes a returned
                   issue and sends it back to 待审核
merge              街道管理员 (整合分类: duplicates may sit in two communities of the street)
route              街道管理员, 社区书记 (交办 to a department with an optional responsible person)
misroute           部门经办人 of the issue's department (退办, with a reason)
post_plan          部门经办人 of the issue's department (上报方案)
add_progress       部门经办人 of the issue's department (办理进展)
resolve            部门经办人 of the issue's department (办结: the answer to the resident)
close              街道管理员 (销号: audit, needs the answer)
explain            街道管理员 (解疑释惑: outside policy, closed with the explanation as answer)
request_extension  部门经办人 of the issue's department (申请延期)
decide_extension   街道管理员 (批准/驳回延期)
escalate           街道管理员 (to any higher level); 社区书记 only community → street
reopen             街道管理员, 社区书记; and the cadre who has the issue on his 回头看 list
                   — a follow-up that finds it unsolved reopens it (that check is the visits
                   app's, registered with ``grant_reopen``: the ledger knows no follow-ups)
=================  ==========================================================================

Besides the steps, ``issue_record_followup`` writes a 回头看 result on the timeline (no field changes).

Decisions worth knowing:

- Whoever must act next gets his full time from the day the issue reached him
  (``deadlines.restart_deadlines``): a resubmission after 退回 and a reopening restart both
  deadlines from that day (a reopening also drops the extensions of the round before, and is
  dated in ``reopened_on`` so that statistics count it as reopened, not as late since its
  registration); a re-route after 退办 restarts the plan deadline for the new department. The
  ledger's ``registered_on`` never changes. A reopening clears the old answer, closure and
  closing date (they stay on the timeline), so the issue must be answered again before it can
  be closed.
- 退办 also clears the returning department's plan (it stays on the timeline): the next
  department posts its own.
- A reopened issue without a department (closed on the spot or explained) goes back to
  待交办 (accepted) to be routed; with a department it goes to 办理中 (in_progress), or to
  已交办 (routed) when the department never posted a plan, so that it can post one.
- 退办 (misroute) also voids a pending extension request of the department that returned it.
- ``request_extension`` and the second side of a merge write an event but do not bump the
  version: no field of that issue changes, and bumping would make everybody's open form stale.
- Steps without a ``version`` argument in their signature (``issue_reopen``,
  ``issue_request_extension``) check the version of the ``issue`` instance passed in, which is
  the version the caller saw; ``version=`` may be passed explicitly too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from core.versioning import STALE_EDIT_MESSAGE
from households.models import Household
from households.roles import CADRE, DEPARTMENT_HANDLER, LEADER, SECRETARY, STREET_ADMIN, user_roles
from households.scoping import user_cadre

from . import rollups

# every deadline rule lives there, and the reading of the campaign's rulebook
from .deadlines import (
    Rulebooks,
    apply_deadlines,
    format_deadline,
    issue_rules,
    restart_deadlines,
    street_reviews,
)
from .notifications.steps import notify_step

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.db.models import QuerySet

    from visitplan.models import Department
from .models import (
    OPEN_STATUSES,
    Category,
    Closure,
    EventKind,
    ExtensionRequest,
    Issue,
    IssueEvent,
    Level,
    Severity,
    Status,
)


class IssueActionError(Exception):
    """A step the user may not take, or not now. The message is shown to the user as it is."""


class StaleIssueError(IssueActionError):
    """Someone changed the issue since the user opened it; the one stale-edit message of the product."""

    def __init__(self, message=STALE_EDIT_MESSAGE):
        super().__init__(message)


NOT_FOUND = "没有找到该诉求"
MAX_EXTENSION_DAYS = 60

S = Status
_WORKING = frozenset({S.ROUTED, S.PLANNED, S.IN_PROGRESS})

# The workflow, in one place: action -> (statuses it may start from, status it leads to).
# ``None`` as the target: the status does not change.
TRANSITIONS: dict[str, tuple[frozenset, str | None]] = {
    "accept": (frozenset({S.REGISTERED}), S.ACCEPTED),
    "return": (frozenset({S.REGISTERED}), S.RETURNED),
    "resubmit": (frozenset({S.RETURNED}), S.REGISTERED),
    "merge": (frozenset({S.REGISTERED, S.ACCEPTED}), S.MERGED),
    "route": (frozenset({S.ACCEPTED}), S.ROUTED),
    "misroute": (_WORKING, S.ACCEPTED),
    "post_plan": (frozenset({S.ROUTED}), S.PLANNED),
    "add_progress": (frozenset({S.PLANNED, S.IN_PROGRESS}), S.IN_PROGRESS),
    "resolve": (_WORKING, S.RESOLVED),
    "close": (frozenset({S.RESOLVED}), S.CLOSED),
    "explain": (frozenset(OPEN_STATUSES), S.CLOSED),
    "request_extension": (_WORKING, None),
    "decide_extension": (_WORKING, None),
    "escalate": (frozenset(OPEN_STATUSES), None),
    # In progress again; back to accepted when there is no department to work on it (see above).
    "reopen": (frozenset({S.RESOLVED, S.CLOSED}), S.IN_PROGRESS),
}

# Who may take each step (superusers may take all). The department steps also need the
# handler's department to be the issue's; a secretary escalates only community → street.
ACTION_ROLES: dict[str, frozenset[str]] = {
    "register": frozenset({CADRE, SECRETARY, STREET_ADMIN, LEADER}),
    "accept": frozenset({STREET_ADMIN, SECRETARY}),
    "return": frozenset({STREET_ADMIN, SECRETARY}),
    # The registrar himself (see _role_allows); leaders only read the issue pages.
    "resubmit": frozenset({CADRE, SECRETARY, STREET_ADMIN}),
    "merge": frozenset({STREET_ADMIN}),
    "route": frozenset({STREET_ADMIN, SECRETARY}),
    "misroute": frozenset({DEPARTMENT_HANDLER}),
    "post_plan": frozenset({DEPARTMENT_HANDLER}),
    "add_progress": frozenset({DEPARTMENT_HANDLER}),
    "resolve": frozenset({DEPARTMENT_HANDLER}),
    "close": frozenset({STREET_ADMIN}),
    "explain": frozenset({STREET_ADMIN}),
    "request_extension": frozenset({DEPARTMENT_HANDLER}),
    "decide_extension": frozenset({STREET_ADMIN}),
    "escalate": frozenset({STREET_ADMIN, SECRETARY}),
    "reopen": frozenset({STREET_ADMIN, SECRETARY, CADRE}),
}

DEPARTMENT_ACTIONS = frozenset({"misroute", "post_plan", "add_progress", "resolve", "request_extension"})
# 审核: by the community's secretary or the street, or by the street only (the campaign's ``review_by``).
REVIEW_ACTIONS = frozenset({"accept", "return"})

ReopenCheck = Callable[["AbstractBaseUser", "Issue"], bool]

# How a cadre may come to reopen an issue: checks ``check(user, issue) -> bool`` registered by the
# apps above the ledger (visits: the issue is on his 回头看 list). None registered: he may not.
_REOPEN_GRANTS: list[ReopenCheck] = []


def grant_reopen(check: ReopenCheck) -> ReopenCheck:
    """Register ``check(user, issue) -> bool``: a cadre for whom it holds may reopen the issue."""
    if check not in _REOPEN_GRANTS:
        _REOPEN_GRANTS.append(check)
    return check


# Order of allowed_actions() (and of the buttons built from it).
ACTIONS = tuple(TRANSITIONS)

ACTION_LABELS = {
    "accept": "审核通过",
    "return": "退回",
    "resubmit": "重新提交",
    "merge": "合并",
    "route": "交办",
    "misroute": "退办",
    "post_plan": "上报方案",
    "add_progress": "办理进展",
    "resolve": "办结",
    "close": "销号",
    "explain": "解疑释惑",
    "request_extension": "申请延期",
    "decide_extension": "审批延期",
    "escalate": "提级办理",
    "reopen": "重新办理",
}

_LEVEL_ORDER = [Level.COMMUNITY, Level.STREET, Level.JOINT]

# Fields a service may change; compared before/after so the UPDATE writes only what changed.
_FIELDS = [
    f.attname
    for f in Issue._meta.concrete_fields
    if not f.primary_key and f.name not in ("version", "created_at", "updated_at")
]


# ---------------------------------------------------------------------------------------------
# Rules: role, scope, status


def _is_super(user) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_superuser)


def has_role(user, action) -> bool:
    if _is_super(user):
        return True
    if not user.is_authenticated or not user.is_active:
        return False
    return bool(user_roles(user) & ACTION_ROLES[action])


def _role_allows(user, action, issue, *, level=None) -> bool:
    """The role rule for ``action`` on a (visible) ``issue``, without the status rule."""
    if _is_super(user):
        return True
    if not has_role(user, action):
        return False
    roles = user_roles(user)
    if action in DEPARTMENT_ACTIONS:
        cadre = user_cadre(user)
        return bool(cadre and cadre.department_id and cadre.department_id == issue.department_id)
    if action == "resubmit":
        return issue.raised_by_id is not None and issue.raised_by_id == user.pk
    if action in REVIEW_ACTIONS and STREET_ADMIN not in roles:
        # A secretary reviews unless the issue's campaign leaves the review to the street (002).
        return not street_reviews(issue)
    if action == "reopen" and not roles & {STREET_ADMIN, SECRETARY}:
        # A cadre reopens only what his own 回头看 found unsolved (see grant_reopen).
        return any(check(user, issue) for check in _REOPEN_GRANTS)
    if action == "escalate" and STREET_ADMIN not in roles:
        # A secretary hands an issue up to the street; the joint meeting is the street's call.
        target = level if level is not None else Level.STREET
        return issue.level == Level.COMMUNITY and target == Level.STREET
    return True


def _status_allows(action, issue) -> bool:
    return issue.status in TRANSITIONS[action][0]


def _target_status(action, issue):
    target = TRANSITIONS[action][1]
    if action == "reopen" and not issue.department_id:
        return S.ACCEPTED
    if action == "reopen" and issue.plan_posted_on is None:
        return S.ROUTED  # closed before any plan: the department posts one first
    return target


def _visible(by, pk, *, lock=False):
    qs = Issue.objects.visible_to(by)
    if lock:
        # Lock by pk only: FOR UPDATE over the scoping joins is not allowed on PostgreSQL.
        if not qs.filter(pk=pk).exists():
            raise IssueActionError(NOT_FOUND)
        return Issue.objects.select_for_update().get(pk=pk)
    issue = qs.filter(pk=pk).first()
    if issue is None:
        raise IssueActionError(NOT_FOUND)
    return issue


def _require(action, by, issue, version, **role_kwargs):
    """The checks every step makes, in the order the user needs the answer."""
    if not _role_allows(by, action, issue, **role_kwargs):
        if not has_role(by, action):
            raise IssueActionError(f"您没有权限执行“{ACTION_LABELS[action]}”")
        if action in DEPARTMENT_ACTIONS:
            raise IssueActionError(f"该诉求未交办到您的部门，不能执行“{ACTION_LABELS[action]}”")
        if action == "reopen":
            raise IssueActionError("该诉求不在您的回头看名单上，不能重新办理")
        if action == "resubmit":
            raise IssueActionError("只有登记人可以补充后重新提交")
        if action in REVIEW_ACTIONS:
            raise IssueActionError(f"按本次活动规则，诉求只由街道审核，您不能执行“{ACTION_LABELS[action]}”")
        raise IssueActionError("社区书记只能将社区层级的诉求提级到街道")
    if version is not None and issue.version != version:
        raise StaleIssueError()
    if not _status_allows(action, issue):
        raise IssueActionError(f"诉求当前状态为“{issue.get_status_display()}”，不能执行“{ACTION_LABELS[action]}”")


def _text(value, message):
    value = (value or "").strip()
    if not value:
        raise IssueActionError(message)
    return value


def _today() -> date:
    return timezone.localdate()


# ---------------------------------------------------------------------------------------------
# Writing: the conditional UPDATE and the event


def _snapshot(issue):
    return {name: getattr(issue, name) for name in _FIELDS}


def _write(issue, version, before):
    """UPDATE the changed fields WHERE pk and version still match; bump the version."""
    changed = {name: getattr(issue, name) for name in _FIELDS if getattr(issue, name) != before[name]}
    now = timezone.now()
    rows = Issue.objects.filter(pk=issue.pk, version=version).update(
        **changed, version=F("version") + 1, updated_at=now
    )
    if rows != 1:
        raise StaleIssueError()
    issue.version = version + 1
    issue.updated_at = now
    # The dashboard's counts (issues/rollups.py): ``before`` is the row this UPDATE replaced.
    rollups.moved([(before, rollups.row(issue))])


def _event(issue, *, by, kind, text="", from_status="", to_status="", data=None, notify=True):
    """Write the event, and tell whoever must act next (``notifications.steps``, same transaction)."""
    event = IssueEvent.objects.create(
        issue=issue,
        actor=by if by is not None and by.is_authenticated else None,
        kind=kind,
        text=text,
        from_status=from_status or "",
        to_status=to_status or "",
        data=data or {},
    )
    if notify:
        notify_step(event, issue)
    return event


def _step(action, *, issue, by, version, kind, text="", data=None, change=None, role_kwargs=None):
    """Run one step: checks, the change (``change(current)`` edits the fresh copy), UPDATE, event."""
    with transaction.atomic():
        current = _visible(by, issue.pk)
        _require(action, by, current, version, **(role_kwargs or {}))
        before = _snapshot(current)
        from_status = current.status
        target = _target_status(action, current)
        if target is not None:
            current.status = target
        extra = change(current) if change else None
        _write(current, version, before)
        _event(
            current,
            by=by,
            kind=kind,
            text=text,
            from_status=from_status,
            to_status=current.status,
            data={**(data or {}), **(extra or {})},
        )
    return current


def _iso(day):
    return day.isoformat() if day else None


# ---------------------------------------------------------------------------------------------
# The services


def issue_register(
    *,
    household: Household,
    raised_by: AbstractBaseUser,
    text: str,
    category: str,
    severity: str = Severity.GENERAL,
    hotline_ticket: str = "",
    special_hardship: bool = False,
    registered_on: date | None = None,
    answer_on_the_spot: str = "",
) -> Issue:
    """登记诉求. With ``answer_on_the_spot`` the issue is closed at once (现场答复/即知即办)."""
    if not has_role(raised_by, "register"):
        raise IssueActionError("您没有权限登记诉求")
    if not Household.objects.visible_to(raised_by).filter(pk=household.pk).exists():
        raise IssueActionError("没有找到该户")
    text = _text(text, "请填写诉求内容")
    if category not in Category.values:
        raise IssueActionError("请选择正确的诉求类别")
    if severity not in Severity.values:
        raise IssueActionError("请选择正确的诉求等级")
    hotline_ticket = (hotline_ticket or "").strip()
    if len(hotline_ticket) > Issue._meta.get_field("hotline_ticket").max_length:
        raise IssueActionError("12345工单号过长")
    registered_on = registered_on or _today()
    answer = (answer_on_the_spot or "").strip()

    issue = Issue(
        household=household,
        community_id=household.community_id,
        path=household.path,
        raised_by=raised_by,
        raised_by_cadre=user_cadre(raised_by),
        text=text,
        category=category,
        severity=severity,
        status=S.REGISTERED,
        registered_on=registered_on,
        hotline_ticket=hotline_ticket,
        special_hardship=special_hardship,
    )
    apply_deadlines(issue)
    issue._rollup_later = True  # counted once, below, as it ends up (answered on the spot or not)
    with transaction.atomic():
        issue.save()
        _event(
            issue,
            by=raised_by,
            kind=EventKind.REGISTERED,
            text=text,
            to_status=S.REGISTERED,
            data={
                "registered_on": _iso(registered_on),
                "plan_due_on": _iso(issue.plan_due_on),
                "due_on": _iso(issue.due_on),
                "provisional": bool(issue.plan_due_provisional or issue.due_provisional),
            },
            notify=not answer,  # answered on the spot: nothing waits for a reviewer
        )
        if answer:
            # Answered on the spot: closed the same day, still a row of the ledger.
            Issue.objects.filter(pk=issue.pk).update(
                status=S.CLOSED,
                closure=Closure.ON_THE_SPOT,
                answer=answer,
                answered_on=registered_on,
                closed_on=registered_on,
            )
            issue.refresh_from_db()
            _event(
                issue,
                by=raised_by,
                kind=EventKind.ON_THE_SPOT,
                text=answer,
                from_status=S.REGISTERED,
                to_status=S.CLOSED,
            )
        rollups.moved([(None, rollups.row(issue))])
    return issue


def issue_accept(
    *,
    issue: Issue,
    by: AbstractBaseUser,
    version: int,
    note: str = "",
    severity: str | None = None,
    severity_reason: str = "",
) -> Issue:
    """审核通过: the issue waits to be routed.

    ``severity``: the reviewer's 等级 when it differs from the registrar's; it needs
    ``severity_reason``, recomputes the close deadline and writes a 调整等级 event with both.
    """
    if severity is not None and severity not in Severity.values:
        raise IssueActionError("请选择正确的诉求等级")
    severity_reason = (severity_reason or "").strip()
    changed = {}

    def change(current):
        if severity is None or severity == current.severity:
            return None
        if not severity_reason:
            raise IssueActionError("调整诉求等级须填写理由")
        changed.update(
            old=current.severity,
            new=severity,
            old_due=format_deadline(current.due_on, current.due_provisional),
        )
        current.severity = severity
        apply_deadlines(current)
        changed["new_due"] = format_deadline(current.due_on, current.due_provisional)
        return {"severity": severity}

    with transaction.atomic():
        current = _step(
            "accept", issue=issue, by=by, version=version, kind=EventKind.ACCEPTED, text=note.strip(), change=change
        )
        if changed:
            rules = issue_rules(current)
            _event(
                current,
                by=by,
                kind=EventKind.SEVERITY_CHANGED,
                text=(
                    f"等级由“{rules.class_label(changed['old'])}”调整为“{rules.class_label(changed['new'])}”："
                    f"{severity_reason}；办结时限 {changed['old_due']} → {changed['new_due']}"
                ),
                data={
                    "old": changed["old"],
                    "new": changed["new"],
                    "reason": severity_reason,
                    "old_due_on": changed["old_due"],
                    "due_on": changed["new_due"],
                },
            )
    return current


def issue_return(*, issue: Issue, by: AbstractBaseUser, version: int, reason: str) -> Issue:
    """退回登记人 (not a request for the ledger, or incomplete); the reason is required."""
    reason = _text(reason, "请填写退回理由")
    return _step("return", issue=issue, by=by, version=version, kind=EventKind.RETURNED, text=reason)


def issue_resubmit(*, issue: Issue, by: AbstractBaseUser, version: int, text: str, note: str = "") -> Issue:
    """补充后重新提交: the registrar completes a returned issue (its text) and sends it back to 待审核.
    The deadlines start again from today: the time it spent with him is not the department's."""
    text = _text(text, "请填写诉求内容")
    note = note.strip()
    today = _today()

    def change(current):
        old = {"old_text": current.text} if current.text != text else {}
        current.text = text
        restart_deadlines(current, today)
        return {**old, "plan_due_on": _iso(current.plan_due_on), "due_on": _iso(current.due_on)}

    return _step(
        "resubmit",
        issue=issue,
        by=by,
        version=version,
        kind=EventKind.RESUBMITTED,
        text=note or "已补充诉求内容，重新提交审核",
        change=change,
    )


def issue_merge(*, issue: Issue, into: Issue, by: AbstractBaseUser, version: int, note: str = "") -> Issue:
    """合并: ``issue`` is a duplicate of ``into``; an event is written on both."""
    note = note.strip()
    with transaction.atomic():
        current = _visible(by, issue.pk)
        _require("merge", by, current, version)
        if into.pk == current.pk:
            raise IssueActionError("不能将诉求合并到它自身")
        # Locked, so the target cannot be closed between the check and the merge.
        target = _visible(by, into.pk, lock=True)
        if target.status not in OPEN_STATUSES:
            raise IssueActionError(f"只能合并到未办结的诉求，#{target.pk} 当前状态为“{target.get_status_display()}”")
        if target.household.street_id != current.household.street_id:
            raise IssueActionError("只能合并同一街道的诉求")
        before = _snapshot(current)
        from_status = current.status
        current.status = _target_status("merge", current)
        current.merged_into = target
        _write(current, version, before)
        _event(
            current,
            by=by,
            kind=EventKind.MERGED,
            text=note or f"作为重复诉求合并到 #{target.pk}",
            from_status=from_status,
            to_status=current.status,
            data={"into": target.pk},
        )
        _event(
            target,
            by=by,
            kind=EventKind.MERGED,
            text=note or f"合并了重复诉求 #{current.pk}",
            data={"duplicate": current.pk},
        )
    return current


def issue_route(
    *,
    issue: Issue,
    by: AbstractBaseUser,
    version: int,
    department: Department,
    assignee: AbstractBaseUser | None = None,
    note: str = "",
) -> Issue:
    """交办 to a department, optionally to a named person of it."""
    if department is None:
        raise IssueActionError("请选择责任单位")
    if assignee is not None:
        cadre = user_cadre(assignee)
        if cadre is None or cadre.department_id != department.pk:
            raise IssueActionError(f"责任人不属于{department.name}")

    def change(current):
        current.department_id = department.pk
        current.assignee_id = assignee.pk if assignee is not None else None
        if IssueEvent.objects.filter(issue_id=current.pk, kind=EventKind.MISROUTED).exists():
            # A re-route after 退办: the new department gets its full time for a plan.
            restart_deadlines(current, _today(), close=False)
            return {"rerouted": True, "plan_due_on": _iso(current.plan_due_on)}
        return None

    text = note.strip() or f"交办{department.name}" + (f"（责任人：{_person(assignee)}）" if assignee else "")
    return _step(
        "route",
        issue=issue,
        by=by,
        version=version,
        kind=EventKind.ROUTED,
        text=text,
        data={"department": department.pk, "assignee": assignee.pk if assignee else None},
        change=change,
    )


def issue_misroute(*, issue: Issue, by: AbstractBaseUser, version: int, reason: str) -> Issue:
    """退办: the department says the issue is not theirs; back to 待交办, department cleared."""
    reason = _text(reason, "请填写退办理由")

    def change(current):
        old = {"department": current.department_id, "assignee": current.assignee_id}
        if current.plan_posted_on is not None:
            # The department's plan leaves with it (its PLAN_POSTED event stays on the timeline).
            old.update(old_plan=current.plan_text, old_plan_posted_on=_iso(current.plan_posted_on))
        current.department = None
        current.assignee = None
        current.plan_text = ""
        current.plan_posted_on = None
        voided = ExtensionRequest.objects.filter(issue=current, decision=ExtensionRequest.Decision.PENDING).update(
            decision=ExtensionRequest.Decision.REJECTED, decided_by=by, decided_at=timezone.now()
        )
        return {**old, "extension_voided": bool(voided)}

    return _step("misroute", issue=issue, by=by, version=version, kind=EventKind.MISROUTED, text=reason, change=change)


def issue_post_plan(*, issue: Issue, by: AbstractBaseUser, version: int, plan: str) -> Issue:
    """上报方案 (due within the campaign's ``plan_days`` working days of registration)."""
    plan = _text(plan, "请填写解决方案")
    today = _today()

    def change(current):
        current.plan_text = plan
        current.plan_posted_on = today
        return {
            "plan_due_on": _iso(current.plan_due_on),
            "late": bool(current.plan_due_on and today > current.plan_due_on),
        }

    return _step("post_plan", issue=issue, by=by, version=version, kind=EventKind.PLAN_POSTED, text=plan, change=change)


def issue_add_progress(*, issue: Issue, by: AbstractBaseUser, version: int, text: str) -> Issue:
    """办理进展: a note of what was done; the first one puts the issue 办理中."""
    text = _text(text, "请填写办理进展")
    return _step("add_progress", issue=issue, by=by, version=version, kind=EventKind.PROGRESS, text=text)


def issue_resolve(*, issue: Issue, by: AbstractBaseUser, version: int, answer: str) -> Issue:
    """办结: the answer given to the resident is recorded; the street office then closes (销号)."""
    answer = _text(answer, "请填写答复居民情况")
    today = _today()

    def change(current):
        current.answer = answer
        current.answered_on = today
        current.closure = Closure.SOLVED
        return {"due_on": _iso(current.due_on), "late": bool(current.due_on and today > current.due_on)}

    return _step("resolve", issue=issue, by=by, version=version, kind=EventKind.RESOLVED, text=answer, change=change)


def issue_close(*, issue: Issue, by: AbstractBaseUser, version: int, note: str = "") -> Issue:
    """销号: only with the answer given to the resident."""
    today = _today()

    def change(current):
        if not (current.answer or "").strip():
            raise IssueActionError("尚未录入答复居民情况，不能销号")
        current.closed_on = today
        if not current.closure:
            current.closure = Closure.SOLVED
        return None

    return _step("close", issue=issue, by=by, version=version, kind=EventKind.CLOSED, text=note.strip(), change=change)


def issue_explain(*, issue: Issue, by: AbstractBaseUser, version: int, explanation: str) -> Issue:
    """解疑释惑: outside policy or law; closed with the explanation, which is the answer to the resident."""
    explanation = _text(explanation, "请填写向居民解释的情况")
    today = _today()

    def change(current):
        current.closure = Closure.EXPLAINED
        current.answer = explanation
        current.answered_on = today
        current.closed_on = today
        return None

    return _step(
        "explain", issue=issue, by=by, version=version, kind=EventKind.EXPLAINED, text=explanation, change=change
    )


def issue_request_extension(
    *, issue: Issue, by: AbstractBaseUser, days: int, reason: str, version: int | None = None
) -> ExtensionRequest:
    """申请延期 by the department; one pending request per issue at a time."""
    reason = _text(reason, "请填写延期理由")
    try:
        days = int(days)
    except (TypeError, ValueError):
        raise IssueActionError("延期天数必须是整数") from None
    if not 1 <= days <= MAX_EXTENSION_DAYS:
        raise IssueActionError(f"延期天数应在1至{MAX_EXTENSION_DAYS}个工作日之间")
    version = issue.version if version is None else version
    with transaction.atomic():
        current = _visible(by, issue.pk)
        _require("request_extension", by, current, version)
        try:
            # A savepoint, so the unique-pending constraint can fail without breaking the outer transaction.
            with transaction.atomic():
                request = ExtensionRequest.objects.create(issue=current, requested_by=by, days=days, reason=reason)
        except IntegrityError:
            raise IssueActionError("该诉求已有待审批的延期申请") from None
        _event(
            current,
            by=by,
            kind=EventKind.EXTENSION_REQUESTED,
            text=reason,
            data={"request": request.pk, "days": days},
        )
    return request


def issue_decide_extension(*, request: ExtensionRequest, by: AbstractBaseUser, approve: bool, note: str = "") -> Issue:
    """批准 / 驳回延期. Approval adds the working days and recomputes the close deadline."""
    note = note.strip()
    with transaction.atomic():
        # Lock the issue first, then claim the request, so approval and a concurrent step serialise.
        current = _visible(by, request.issue_id, lock=True)
        version = current.version
        if not has_role(by, "decide_extension"):
            raise IssueActionError("您没有权限审批延期申请")
        if approve:
            _require("decide_extension", by, current, version)
        now = timezone.now()
        decision = ExtensionRequest.Decision.APPROVED if approve else ExtensionRequest.Decision.REJECTED
        claimed = ExtensionRequest.objects.filter(
            pk=request.pk, issue_id=current.pk, decision=ExtensionRequest.Decision.PENDING
        ).update(decision=decision, decided_by=by, decided_at=now)
        if claimed != 1:
            raise StaleIssueError("该延期申请已被他人处理，请刷新后重试")
        request.refresh_from_db()
        if not approve:
            _event(
                current,
                by=by,
                kind=EventKind.EXTENSION_REJECTED,
                text=note,
                data={"request": request.pk, "days": request.days},
            )
            return current
        before = _snapshot(current)
        old_due, old_provisional = current.due_on, current.due_provisional
        current.extension_days = current.extension_days + request.days
        apply_deadlines(current)
        _write(current, version, before)
        _event(
            current,
            by=by,
            kind=EventKind.EXTENSION_APPROVED,
            text=note,
            from_status=current.status,
            to_status=current.status,
            data={
                "request": request.pk,
                "days": request.days,
                "extension_days": current.extension_days,
                "old_due_on": _iso(old_due),
                "old_due_provisional": old_provisional,
                "due_on": _iso(current.due_on),
                "due_provisional": current.due_provisional,
            },
        )
    return current


def issue_escalate(
    *, issue: Issue, by: AbstractBaseUser, version: int, level: str, person: AbstractBaseUser, note: str = ""
) -> Issue:
    """提级办理: community → street → joint meeting, each with a named responsible person."""
    if level not in _LEVEL_ORDER:
        raise IssueActionError("请选择正确的办理层级")
    if person is None:
        raise IssueActionError("提级办理必须指定分包责任人")
    if not person.is_active:
        raise IssueActionError("分包责任人账号已停用")
    level_label = Level(level).label

    def change(current):
        if _LEVEL_ORDER.index(level) <= _LEVEL_ORDER.index(current.level):
            raise IssueActionError(f"只能向上提级（社区 → 街道 → 联席会议），当前已是“{current.get_level_display()}”")
        old = {"old_level": current.level, "old_person": current.level_person_id}
        current.level = level
        current.level_person_id = person.pk
        return old

    return _step(
        "escalate",
        issue=issue,
        by=by,
        version=version,
        kind=EventKind.ESCALATED,
        text=note.strip() or f"提级到{level_label}（分包责任人：{_person(person)}）",
        data={"level": level, "person": person.pk},
        change=change,
        role_kwargs={"level": level},
    )


def issue_reopen(*, issue: Issue, by: AbstractBaseUser, reason: str, version: int | None = None) -> Issue:
    """重新办理 after a failed follow-up: new deadlines from today (see the module docstring)."""
    reason = _text(reason, "请填写重新办理的原因")
    version = issue.version if version is None else version
    today = _today()

    def change(current):
        old = {
            "old_closure": current.closure,
            "old_answer": current.answer,
            "old_answered_on": _iso(current.answered_on),
            "old_closed_on": _iso(current.closed_on),
            "old_plan_due_on": _iso(current.plan_due_on),
            "old_due_on": _iso(current.due_on),
            "old_extension_days": current.extension_days,
        }
        current.closure = ""
        current.answer = ""
        current.answered_on = None
        current.closed_on = None
        current.reopened_on = today
        current.extension_days = 0
        restart_deadlines(current, today)
        return {**old, "plan_due_on": _iso(current.plan_due_on), "due_on": _iso(current.due_on)}

    return _step("reopen", issue=issue, by=by, version=version, kind=EventKind.REOPENED, text=reason, change=change)


def issue_record_followup(
    *, issue: Issue, by: AbstractBaseUser, text: str, solved: bool, satisfaction: str
) -> IssueEvent:
    """回头看 result on the timeline. No field of the issue changes, so the version stays (as for
    ``issue_request_extension``); reopening, when needed, is ``issue_reopen``."""
    current = _visible(by, issue.pk)
    return _event(
        current, by=by, kind=EventKind.FOLLOWED_UP, text=text, data={"solved": solved, "satisfaction": satisfaction}
    )


# ---------------------------------------------------------------------------------------------
# Selectors


def allowed_actions(user: AbstractBaseUser, issue: Issue) -> list[str]:
    """The actions (keys of ``TRANSITIONS``) ``user`` may take on ``issue`` now, in workflow order."""
    if not user.is_authenticated or not user.is_active:
        return []
    candidates = [a for a in ACTIONS if has_role(user, a) and _status_allows(a, issue)]
    if not candidates or not Issue.objects.visible_to(user).filter(pk=issue.pk).exists():
        return []
    result = []
    pending = None
    for action in candidates:
        if not _role_allows(user, action, issue):
            continue
        if action in ("request_extension", "decide_extension"):
            if pending is None:
                pending = ExtensionRequest.objects.filter(
                    issue_id=issue.pk, decision=ExtensionRequest.Decision.PENDING
                ).exists()
            if (action == "decide_extension") != pending:
                continue
        if action == "escalate" and issue.level == _LEVEL_ORDER[-1]:
            continue
        result.append(action)
    return result


def review_q(user: AbstractBaseUser) -> Q | None:
    """The issues ``user`` may review (accept / return) by the rule above, as a condition for lists
    (待审核 in ``issues.todo``, the review queue): every one for the street; for a secretary, those
    whose campaign does not leave the review to the street. None: he reviews nothing."""
    if not has_role(user, "accept"):
        return None
    if _is_super(user) or STREET_ADMIN in user_roles(user):
        return Q()
    street_only = Rulebooks(every_street=True).where(lambda rules: rules.review_by == "street")
    return Q() if street_only is None else ~street_only


def issue_timeline(issue: Issue) -> QuerySet[IssueEvent]:
    """The issue's events, oldest first, with their actors."""
    return IssueEvent.objects.filter(issue_id=issue.pk).select_related("actor").order_by("at", "id")


def pending_extension(issue: Issue) -> ExtensionRequest | None:
    return ExtensionRequest.objects.filter(issue_id=issue.pk, decision=ExtensionRequest.Decision.PENDING).first()


def _person(user) -> str:
    if user is None:
        return ""
    cadre = user_cadre(user)
    if cadre is not None:
        return cadre.name
    return user.get_full_name() or user.get_username()
