"""The ledger's part of each user's 待办: the issues that wait for this user's step.

One definition, ``GROUPS``, says for each kind of waiting issue who it waits for and which step
it asks; ``issue_todo_counts`` counts them all in one query (the header badge), and
``issue_todo_groups`` lists them (the 待办 page, ``visits.todo``, which adds the 回头看 and the
households due a visit). The page links each row to the step on the issue page (``#act-<step>``).

Who an issue waits for (each through ``Issue.objects.visible_to``, so a secretary sees his
community's, a department handler his department's):

- 待审核 / 待交办 — whoever may accept / route (``ACTION_ROLES``: street admins, secretaries); 待审核
  not for a secretary when the issue's campaign leaves the review to the street
  (``services.review_q``, the rule of ``services._role_allows``);
- 被退回待补充 — the registrar himself (退回登记人);
- 待上报方案 / 待办结 — the handlers of the issue's department, when it is assigned to them or to
  nobody in particular; 重新办理 — the same, for issues reopened after a 回头看;
- 延期待审批 — whoever decides extensions (street admins);
- 待销号 — whoever closes (street admins);
- 提级督办 — the named 分包责任人 of an escalated open issue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.db.models import Count, Exists, OuterRef, Q

from households.scoping import user_cadre

from . import deadlines, workdays
from .exporting import with_overdue_flag
from .models import OPEN_STATUSES, ExtensionRequest, Issue, Status
from .services import has_role, review_q

_WORKING = (Status.ROUTED, Status.PLANNED, Status.IN_PROGRESS)
_PENDING_EXTENSION = Exists(
    ExtensionRequest.objects.filter(issue=OuterRef("pk"), decision=ExtensionRequest.Decision.PENDING)
)


@dataclass(frozen=True)
class Group:
    key: str
    label: str
    step: str  # the action on the issue page the row opens (``#act-<step>``)
    step_label: str
    deadline: str  # "plan" or "close": which deadline the row shows
    hint: str


GROUPS = (
    Group("review", "待审核", "accept", "审核", "plan", "新登记的诉求：审核通过、退回登记人或合并"),
    Group("route", "待交办", "route", "交办", "plan", "审核通过的诉求：交办到责任单位"),
    Group("returned", "被退回待补充", "resubmit", "补充后重新提交", "plan", "您登记的诉求被退回：按理由补充后重新提交"),
    Group("plan", "待上报方案", "post_plan", "上报方案", "plan", "交办到本部门的诉求：在方案时限内上报解决方案"),
    Group("reopened", "重新办理", "resolve", "办结", "close", "回头看未解决、已重新办理的诉求"),
    Group("close", "待办结", "resolve", "办结", "close", "已上报方案的诉求：按时限办结并答复居民"),
    Group("extension", "延期待审批", "decide_extension", "审批延期", "close", "责任单位的延期申请"),
    Group("audit", "待销号", "close", "销号", "close", "已办结的诉求：核实答复情况后销号"),
    Group("escalated", "提级督办", "", "查看", "close", "您是分包责任人的提级诉求"),
)
GROUP_KEYS = tuple(g.key for g in GROUPS)


def _conditions(user) -> dict[str, Q]:
    """{group key: the Q of the issues (among those visible to ``user``) that wait for him}; only
    the groups this user can have. Superusers are street admins here."""
    if not user.is_authenticated or not user.is_active:
        return {}
    found = {}
    review = review_q(user)
    if review is not None:
        found["review"] = Q(status=Status.REGISTERED) & review
    if has_role(user, "route"):
        found["route"] = Q(status=Status.ACCEPTED)
    if has_role(user, "resubmit"):
        found["returned"] = Q(status=Status.RETURNED, raised_by=user)
    cadre = user_cadre(user)
    if cadre is not None and cadre.department_id and has_role(user, "post_plan") and not user.is_superuser:
        mine = Q(department_id=cadre.department_id) & (Q(assignee__isnull=True) | Q(assignee=user))
        found["plan"] = mine & Q(status=Status.ROUTED, reopened_on__isnull=True)
        found["reopened"] = mine & Q(status__in=_WORKING, reopened_on__isnull=False)
        found["close"] = mine & Q(status__in=(Status.PLANNED, Status.IN_PROGRESS), reopened_on__isnull=True)
    if has_role(user, "decide_extension"):
        found["extension"] = Q(status__in=_WORKING) & _PENDING_EXTENSION
    if has_role(user, "close"):
        found["audit"] = Q(status=Status.RESOLVED)
    found["escalated"] = Q(level_person=user, status__in=OPEN_STATUSES)
    return found


def issue_todo_counts(user, *, conditions: dict[str, Q] | None = None) -> dict[str, int]:
    """{group key: how many issues wait for ``user``}, in one aggregate query."""
    conditions = _conditions(user) if conditions is None else conditions
    if not conditions:
        return {}
    return Issue.objects.visible_to(user).aggregate(**{key: Count("pk", filter=q) for key, q in conditions.items()})


@dataclass
class TodoGroup:
    group: Group
    count: int
    rows: list = field(default_factory=list)


def _order(group: Group):
    if group.deadline == "plan":
        return ("plan_due_on", "registered_on", "id")
    return ("due_on", "registered_on", "id")


def issue_todo_groups(user, *, today: date, limit: int = 20) -> list[TodoGroup]:
    """The groups with something in them, each with its first ``limit`` rows, earliest deadline first.
    Each row is an Issue with ``days_left`` / ``days_text`` / ``overdue`` for the group's deadline."""
    conditions = _conditions(user)
    counts = issue_todo_counts(user, conditions=conditions)
    calendar = workdays.current_calendar()
    rulebooks = deadlines.Rulebooks()
    visible = Issue.objects.visible_to(user)
    groups = []
    for group in GROUPS:
        count = counts.get(group.key) or 0
        if not count:
            continue
        rows = list(
            with_overdue_flag(visible.filter(conditions[group.key]), today=today)
            .select_related("community", "household", "household__grid", "household__building", "department")
            .order_by(*_order(group))[:limit]
        )
        deadlines.attach_rules(rows, rulebooks=rulebooks)  # the class labels, without a query per row
        for issue in rows:
            if group.deadline == "plan" and issue.plan_posted_on is None:
                issue.todo_due_on, issue.todo_provisional = issue.plan_due_on, issue.plan_due_provisional
                issue.days_left = deadlines.plan_working_days_left(issue, on=today, calendar=calendar)
                issue.deadline_label = "方案时限"
            else:
                issue.todo_due_on, issue.todo_provisional = issue.due_on, issue.due_provisional
                issue.days_left = deadlines.working_days_left(issue, on=today, calendar=calendar)
                issue.deadline_label = "办结时限"
            issue.days_text = days_text(issue.days_left)
        groups.append(TodoGroup(group=group, count=count, rows=rows))
    return groups


def days_text(days: int | None) -> str:
    if days is None:
        return ""
    if days > 0:
        return f"剩{days}个工作日"
    if days == 0:
        return "今日到期"
    return f"超期{-days}个工作日"
