"""Shared helpers to build issues in tests (importable by every issues test module).

- ``make_issue(household, ...)`` writes one Issue straight through the ORM, in any status, with the
  deadlines computed by ``issues.deadlines.apply_deadlines`` (never typed here). Fast; no events.
- ``advance(issue, to=..., admin=..., handler=..., department=...)`` walks an issue through the real
  services (``issues.services``) up to a status, so the timeline and version are what production writes.
- ``register(household, raised_by, ...)`` is ``issue_register`` with test defaults.
"""

from datetime import date

from issues.models import Category, Closure, Issue, Severity, Status

# A Monday well inside chinesecalendar's data (2004–2026) and clear of holidays.
DEFAULT_DAY = date(2026, 3, 2)

_ANSWERED = (Status.RESOLVED, Status.CLOSED)
_ROUTED = (Status.ROUTED, Status.PLANNED, Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED)


def make_issue(
    household,
    *,
    raised_by=None,
    text="楼道灯不亮，晚上出行不便",
    category=Category.LIVING,
    severity=Severity.GENERAL,
    status=Status.REGISTERED,
    registered_on=DEFAULT_DAY,
    department=None,
    assignee=None,
    deadlines=True,
    **fields,
) -> Issue:
    """An issue of ``household`` in ``status``, saved; plausible fields filled for that status.

    ``fields`` go to the model as they are (e.g. ``hotline_ticket``, ``level``, ``plan_text``,
    ``version``); they win over the defaults set here.
    """
    issue = Issue(
        household=household,
        community_id=household.community_id,
        path=household.path,
        raised_by=raised_by,
        raised_by_cadre=getattr(raised_by, "cadre", None) if raised_by is not None else None,
        text=text,
        category=category,
        severity=severity,
        status=status,
        registered_on=registered_on,
        department=department,
        assignee=assignee,
    )
    if status in (Status.PLANNED, Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED):
        issue.plan_text = "联系物业三日内更换灯具"
        issue.plan_posted_on = registered_on
    if status in _ANSWERED:
        issue.answer = "已更换灯具，已电话告知居民"
        issue.answered_on = registered_on
        issue.closure = Closure.SOLVED
    if status == Status.CLOSED:
        issue.closed_on = registered_on
    for name, value in fields.items():
        setattr(issue, name, value)
    if deadlines:
        from issues.deadlines import apply_deadlines  # imported late: the calendar helper owns it

        apply_deadlines(issue)
    issue.save()
    return issue


def register(household, raised_by, **kwargs) -> Issue:
    """``issue_register`` with test defaults (text, category, registered_on=DEFAULT_DAY)."""
    from issues.services import issue_register

    kwargs.setdefault("text", "楼道灯不亮，晚上出行不便")
    kwargs.setdefault("category", Category.LIVING)
    kwargs.setdefault("registered_on", DEFAULT_DAY)
    return issue_register(household=household, raised_by=raised_by, **kwargs)


def advance(issue, *, to, admin, handler=None, department=None) -> Issue:
    """Walk ``issue`` through the services from where it is up to ``to`` (registered → … → closed).

    ``admin`` does the street steps (accept, route, close); ``handler`` (a department handler of
    ``department``) does the department steps (plan, progress, resolve).
    """
    from issues import services

    order = [
        Status.REGISTERED,
        Status.ACCEPTED,
        Status.ROUTED,
        Status.PLANNED,
        Status.IN_PROGRESS,
        Status.RESOLVED,
        Status.CLOSED,
    ]
    if to not in order:
        raise ValueError(f"advance() cannot reach {to}")
    if to in _ROUTED and (handler is None or department is None) and order.index(to) > order.index(Status.ROUTED):
        raise ValueError("advance() past routed needs handler and department")
    if to == Status.ROUTED and department is None:
        raise ValueError("advance() to routed needs department")
    issue.refresh_from_db()
    while order.index(issue.status) < order.index(to):
        v = issue.version
        if issue.status == Status.REGISTERED:
            issue = services.issue_accept(issue=issue, by=admin, version=v)
        elif issue.status == Status.ACCEPTED:
            issue = services.issue_route(issue=issue, by=admin, version=v, department=department, assignee=handler)
        elif issue.status == Status.ROUTED:
            issue = services.issue_post_plan(issue=issue, by=handler, version=v, plan="联系物业三日内更换灯具")
        elif issue.status == Status.PLANNED:
            issue = services.issue_add_progress(issue=issue, by=handler, version=v, text="已联系物业，等待材料")
        elif issue.status == Status.IN_PROGRESS:
            issue = services.issue_resolve(issue=issue, by=handler, version=v, answer="已更换灯具，已电话告知居民")
        elif issue.status == Status.RESOLVED:
            issue = services.issue_close(issue=issue, by=admin, version=v)
        else:  # pragma: no cover - statuses off the main path
            raise ValueError(f"advance() cannot leave {issue.status}")
    return issue
