"""Who must act next after each workflow step, and the notification that tells them.

``issues.services`` calls ``notify_step(event, issue)`` for every event it writes, inside the
step's transaction: a step that rolls back leaves no notification, and the outside deliveries
(email now; SMS / 企业微信 plug in as channels, ``issues.channels``) are queued after commit.

The step → whoever must act next:

=====================  ==================================================================
step (event)           recipients
=====================  ==================================================================
登记 / 补充后重新提交  the reviewers (审核): the community's secretaries; none → the street
                       admins covering the issue; only the street admins when the issue's
                       campaign leaves the review to the street (rulebook ``review_by``, 002).
                       A resubmission goes first to whoever returned it (if he still reviews).
退回登记人             the registrar (to complete and resubmit)
交办                   the named responsible person (责任人) of the department; none named →
                       the department's handlers (部门经办人)
退办                   whoever routed it (to route it again); gone → who routes (交办): the
                       community's secretaries, else the street admins
申请延期               the approvers: the street admins covering the issue
批准 / 驳回延期        whoever asked for the extension
办结                   the street admins covering the issue (销号)
销号 / 解疑释惑        the registrar (who tells the resident)
重新办理               the department (responsible person, else its handlers); an issue
                       without a department → who routes it
提级办理               the named 分包责任人
=====================  ==================================================================

Rules for every step: the actor is not told about his own step; inactive users and users whose
cadre is 不在岗 are skipped; a recipient must be able to see the issue
(``Issue.objects.visible_to``) — a notification never points at what its reader may not open.
Once per (event, recipient): the unique constraint on ``Notification(event, user)``.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Q

from households.roles import DEPARTMENT_HANDLER, SECRETARY, STREET_ADMIN, user_roles

from ..deadlines import format_deadline, street_reviews
from ..models import EventKind, ExtensionRequest, Issue, IssueEvent, Status
from ..reminders import issue_path
from .services import notify

# What the recipient is asked to do, per step: (title word, the ask).
ASKS = {
    EventKind.REGISTERED: ("待审核", "有新登记的诉求等待审核（审核通过、退回或合并）。"),
    EventKind.RESUBMITTED: ("待审核", "退回的诉求已补充后重新提交，请再次审核。"),
    EventKind.RETURNED: ("被退回", "您登记的诉求被退回，请按退回理由补充后重新提交。"),
    EventKind.ROUTED: ("新交办", "有诉求交办到您的部门，请在时限内上报解决方案并办结。"),
    EventKind.MISROUTED: ("被退办", "责任单位退办了诉求，请重新交办。"),
    EventKind.EXTENSION_REQUESTED: ("延期待审批", "责任单位申请延期，请审批。"),
    EventKind.EXTENSION_APPROVED: ("延期已批准", "您的延期申请已批准，请按新时限办结。"),
    EventKind.EXTENSION_REJECTED: ("延期被驳回", "您的延期申请被驳回，请按原时限办结。"),
    EventKind.RESOLVED: ("待销号", "责任单位已办结并答复居民，请核实后销号。"),
    EventKind.CLOSED: ("已销号", "您登记的诉求已销号，请将办理结果告知居民。"),
    EventKind.EXPLAINED: ("已解疑释惑", "您登记的诉求已解疑释惑办结，请将解释告知居民。"),
    EventKind.REOPENED: ("重新办理", "回头看发现诉求未解决，已重新办理，请按新时限办理。"),
    EventKind.ESCALATED: ("提级办理", "诉求已提级办理，您是分包责任人，请牵头办理。"),
}


def _users_with(role: str, extra: Q):
    return get_user_model().objects.filter(extra, is_active=True, groups__name=role, cadre__active=True).distinct()


def _covering(role: str, path: str) -> list:
    """Users of ``role`` whose cadre's work node is ``path`` or above it (one indexed query: the
    node paths from the root down to ``path``)."""
    parts = path.split(".")
    above = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return list(_users_with(role, Q(cadre__scope__path__in=above)).order_by("pk"))


def street_admins_for(issue: Issue) -> list:
    return _covering(STREET_ADMIN, issue.path)


def routers_for(issue: Issue) -> list:
    """Who routes (交办) the issue: its community's secretaries, else the street admins."""
    return _covering(SECRETARY, issue.path) or street_admins_for(issue)


def reviewers_for(issue: Issue) -> list:
    """Who reviews (审核) the issue: as who routes it, or only the street admins when its campaign
    leaves the review to the street (the rule of ``services._role_allows``)."""
    if street_reviews(issue):
        return street_admins_for(issue)
    return routers_for(issue)


def _may_review(user, issue: Issue) -> bool:
    return not street_reviews(issue) or user.is_superuser or STREET_ADMIN in user_roles(user)


def department_people(issue: Issue) -> list:
    """The department's named responsible person if active, else its handlers."""
    if not issue.department_id:
        return []
    if issue.assignee_id:
        assignee = get_user_model().objects.filter(pk=issue.assignee_id, is_active=True).first()
        if assignee is not None:
            return [assignee]
    return list(_users_with(DEPARTMENT_HANDLER, Q(cadre__department_id=issue.department_id)))


def _last_actor(issue: Issue, kind: str):
    event = (
        IssueEvent.objects.filter(issue_id=issue.pk, kind=kind, actor__is_active=True)
        .select_related("actor")
        .order_by("-at", "-id")
        .first()
    )
    return [event.actor] if event is not None else []


def _registrar(issue: Issue) -> list:
    return [issue.raised_by] if issue.raised_by_id and issue.raised_by.is_active else []


def recipients(event: IssueEvent, issue: Issue) -> list:
    """Whoever must act next after ``event`` (see the table in the module docstring), unfiltered."""
    kind = event.kind
    if kind == EventKind.REGISTERED:
        return reviewers_for(issue)
    if kind == EventKind.RESUBMITTED:
        returned_by = [u for u in _last_actor(issue, EventKind.RETURNED) if _may_review(u, issue)]
        return returned_by or reviewers_for(issue)
    if kind in (EventKind.RETURNED, EventKind.CLOSED, EventKind.EXPLAINED):
        return _registrar(issue)
    if kind == EventKind.ROUTED:
        return department_people(issue)
    if kind == EventKind.MISROUTED:
        return _last_actor(issue, EventKind.ROUTED) or routers_for(issue)
    if kind in (EventKind.EXTENSION_REQUESTED, EventKind.RESOLVED):
        return street_admins_for(issue)
    if kind in (EventKind.EXTENSION_APPROVED, EventKind.EXTENSION_REJECTED):
        request = ExtensionRequest.objects.filter(pk=(event.data or {}).get("request")).select_related("requested_by")
        request = request.first()
        who = request.requested_by if request is not None else None
        return [who] if who is not None and who.is_active else []
    if kind == EventKind.REOPENED:
        if issue.status == Status.ACCEPTED or not issue.department_id:
            return routers_for(issue)
        return department_people(issue)
    if kind == EventKind.ESCALATED:
        person = issue.level_person if issue.level_person_id else None
        return [person] if person is not None and person.is_active else []
    return []


def _message(event: IssueEvent, issue: Issue) -> tuple[str, str]:
    word, ask = ASKS[event.kind]
    summary = issue.text.replace("\n", " ").strip()
    short = summary if len(summary) <= 24 else summary[:24] + "…"
    title = f"【{word}】诉求#{issue.pk} {short}"[:200]
    lines = [ask]
    if event.text and event.kind != EventKind.REGISTERED:
        lines.append(f"{event.get_kind_display()}说明：{event.text.strip()}")
    lines += [
        "",
        f"诉求编号：#{issue.pk}",
        f"诉求内容：{issue.text.strip()}",
        f"当前状态：{Status(issue.status).label}",
    ]
    if issue.status in (Status.ROUTED,) and issue.plan_due_on:
        lines.append(f"方案时限：{format_deadline(issue.plan_due_on, issue.plan_due_provisional)}")
    if issue.due_on and issue.status not in (Status.CLOSED, Status.RETURNED):
        lines.append(f"办结时限：{format_deadline(issue.due_on, issue.due_provisional)}")
    path = issue_path(issue.pk)
    if path:
        lines.append(f"查看：{path}")
    return title, "\n".join(lines)


def notify_step(event: IssueEvent, issue: Issue) -> int:
    """Notify whoever must act next after ``event`` (``issue`` as the step left it); how many were told."""
    if event.kind not in ASKS:
        return 0
    seen = set()
    users = []
    for user in recipients(event, issue):
        if user.pk in seen or user.pk == event.actor_id:
            continue
        seen.add(user.pk)
        # Scoping: only those who can open the issue hear of it.
        if Issue.objects.visible_to(user).filter(pk=issue.pk).exists():
            users.append(user)
    if not users:
        return 0
    title, body = _message(event, issue)
    return notify(users, title=title, body=body, issue=issue, event=event)
