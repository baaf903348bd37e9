"""Demo issues for ``seed_demo``: a ledger with requests in every state, some overdue, some with
provisional deadlines (reaching into 2027, past the holiday data).

Every step goes through issues.services, as a person would take it; afterwards the dates of the
steps are moved back in time (the services stamp "today") so the timelines read like a real autumn.
"""

import datetime

from django.contrib.auth import get_user_model

from households.models import Household
from households.roles import DEPARTMENT_HANDLER, STREET_ADMIN
from visitplan.models import Department, Tier

from . import rollups, services
from .models import Category, Issue, IssueEvent, Level, Severity, Status

# (category, text): what residents tell the cadres at the door.
TEXTS = [
    (Category.LIVING, "楼道照明损坏，晚上老人上下楼不安全，希望尽快维修"),
    (Category.LIVING, "屋顶漏雨，雨天卧室墙面渗水"),
    (Category.MUNICIPAL, "小区门口路面塌陷，下雨积水严重"),
    (Category.MUNICIPAL, "垃圾分类投放点太远，老人倒垃圾不方便"),
    (Category.ELDERLY, "独居老人希望加装紧急呼叫器"),
    (Category.ELDERLY, "想了解社区助餐点的办理条件"),
    (Category.HEALTH, "慢性病长期处方续方不方便，希望社区卫生站能开"),
    (Category.WELFARE, "家中有残疾人，咨询两项补贴申领流程"),
    (Category.WELFARE, "低保复核材料不清楚怎么准备"),
    (Category.EMPLOYMENT, "孩子毕业半年没找到工作，希望推荐就业岗位"),
    (Category.EDUCATION, "孩子上学路上车辆多，希望增设护学岗"),
    (Category.CHILDCARE, "双职工家庭，希望社区开设托育服务"),
    (Category.CULTURE, "希望社区活动室晚上开放，方便居民跳舞"),
    (Category.SAFETY, "楼下电动车飞线充电，存在火灾隐患"),
    (Category.TRANSPORT, "公交站台没有遮阳棚，夏天等车太晒"),
    (Category.HOUSING, "咨询公租房申请条件"),
    (Category.URBAN, "老旧小区改造何时开始，能否加装电梯"),
    (Category.DISPUTE, "楼上住户装修噪音扰民，协商未果"),
    (Category.OTHER, "希望社区组织防诈骗宣传"),
]

# How many issues end in each state (the rest of the ledger's life is covered by the steps on the way).
PLAN = [
    ("registered", 14),
    ("accepted", 8),
    ("returned", 3),
    ("merged", 3),
    ("routed", 18),
    ("planned", 16),
    ("in_progress", 22),
    ("resolved", 10),
    ("closed", 30),
    ("on_the_spot", 12),
    ("explained", 5),
]
ORDER = ["registered", "accepted", "routed", "planned", "in_progress", "resolved", "closed"]
LABELS = {
    "registered": "待审核",
    "accepted": "待交办",
    "returned": "已退回",
    "merged": "已合并",
    "routed": "已交办",
    "planned": "方案已报",
    "in_progress": "办理中",
    "resolved": "已办结",
    "closed": "已销号",
    "on_the_spot": "现场答复",
    "explained": "解疑释惑",
}


def seed_issues(*, street, rng, today) -> dict:
    """Create the demo ledger for ``street``; returns {Chinese state label: count}."""
    User = get_user_model()
    admin = User.objects.filter(groups__name=STREET_ADMIN, cadre__scope=street).first()
    handlers = {
        d.pk: User.objects.filter(groups__name=DEPARTMENT_HANDLER, cadre__department=d).first()
        for d in Department.objects.all()
    }
    departments = [d for d in Department.objects.all() if handlers[d.pk]]
    raisers = {
        grid_id: user
        for grid_id, user in (
            (u.cadre.scope_id, u) for u in User.objects.filter(cadre__tier=Tier.GRID_WORKER).select_related("cadre")
        )
    }
    households = list(Household.objects.under(street).filter(grid_id__in=raisers).order_by("pk").only("pk", "grid_id"))
    if not (admin and departments and households):
        return {}

    counts = {}
    open_for_merge = []
    for state, n in PLAN:
        for _ in range(n):
            household = rng.choice(households)
            category, text = rng.choice(TEXTS)
            # Old enough to be overdue sometimes; grave ones registered lately run into 2027 (暂定).
            age = rng.randint(0, 75)
            severity = rng.choices([Severity.GENERAL, Severity.MAJOR, Severity.GRAVE], [70, 20, 10])[0]
            if state in ("routed", "in_progress") and rng.random() < 0.25:
                severity, age = Severity.GRAVE, rng.randint(0, 10)
            registered_on = _weekday(today - datetime.timedelta(days=age))
            issue = _walk(
                state,
                household=household,
                raiser=raisers[household.grid_id],
                admin=admin,
                department=rng.choice(departments),
                handlers=handlers,
                text=text,
                category=category,
                severity=severity,
                registered_on=registered_on,
                rng=rng,
                into=open_for_merge[-1] if open_for_merge else None,
            )
            if issue is None:
                continue
            if issue.is_open:
                open_for_merge.append(issue)
            _backdate(issue, registered_on, today, rng)
            counts[LABELS[state]] = counts.get(LABELS[state], 0) + 1

    # A few escalations and extension requests among the open ones.
    for issue in open_for_merge[:3]:
        issue.refresh_from_db()
        if issue.status in (Status.ROUTED, Status.PLANNED, Status.IN_PROGRESS):
            services.issue_escalate(issue=issue, by=admin, version=issue.version, level=Level.STREET, person=admin,
                                    note="涉及多个部门，提级到街道协调")  # fmt: skip
    for issue in open_for_merge[3:6]:
        issue.refresh_from_db()
        if issue.status in (Status.ROUTED, Status.PLANNED, Status.IN_PROGRESS) and issue.department_id:
            services.issue_request_extension(
                issue=issue, by=handlers[issue.department_id], days=10, reason="需协调施工单位，预计需延期10个工作日"
            )
    return counts


def _walk(state, *, household, raiser, admin, department, handlers, text, category, severity, registered_on, rng, into):
    """Take one issue from registration to ``state`` through the services."""
    if state == "on_the_spot":
        return services.issue_register(
            household=household, raised_by=raiser, text=text, category=category, severity=severity,
            registered_on=registered_on, answer_on_the_spot="已当场讲解政策并留下经办人电话，居民表示满意",
        )  # fmt: skip
    issue = services.issue_register(
        household=household, raised_by=raiser, text=text, category=category, severity=severity,
        registered_on=registered_on, hotline_ticket=f"12345-{rng.randint(100000, 999999)}" if rng.random() < 0.2 else "",
    )  # fmt: skip
    if state == "registered":
        return issue
    if state == "returned":
        return services.issue_return(
            issue=issue, by=admin, version=issue.version, reason="诉求内容不清楚，请补充具体位置"
        )
    if state == "merged":
        if into is None:
            return issue
        return services.issue_merge(issue=issue, into=into, by=admin, version=issue.version, note="同一楼栋重复反映")
    issue = services.issue_accept(issue=issue, by=admin, version=issue.version)
    if state == "explained":
        return services.issue_explain(
            issue=issue,
            by=admin,
            version=issue.version,
            explanation="该事项不属于政策支持范围，已向居民解释清楚相关规定",
        )
    handler = handlers[department.pk]
    for step in ORDER[ORDER.index("accepted") + 1 : ORDER.index(state) + 1]:
        if step == "routed":
            issue = services.issue_route(
                issue=issue, by=admin, version=issue.version, department=department, assignee=handler
            )
        elif step == "planned":
            issue = services.issue_post_plan(issue=issue, by=handler, version=issue.version,
                                             plan="已现场勘查，列入本月维修计划，由物业配合实施")  # fmt: skip
        elif step == "in_progress":
            issue = services.issue_add_progress(issue=issue, by=handler, version=issue.version, text="施工队已进场")
        elif step == "resolved":
            issue = services.issue_resolve(issue=issue, by=handler, version=issue.version,
                                           answer="已维修完毕，电话告知居民，居民表示满意")  # fmt: skip
        elif step == "closed":
            issue = services.issue_close(issue=issue, by=admin, version=issue.version)
    return issue


def _weekday(day):
    while day.weekday() >= 5:
        day -= datetime.timedelta(days=1)
    return day


def _backdate(issue, registered_on, today, rng):
    """Spread the steps' dates between registration and today, in order (demo history)."""
    events = list(IssueEvent.objects.filter(issue=issue).order_by("at", "id"))
    span = max((today - registered_on).days, 0)
    day = registered_on
    stamps = {}
    for i, event in enumerate(events):
        if i:
            day = min(today, day + datetime.timedelta(days=rng.randint(0, max(1, span // max(len(events), 1)))))
        event.at = event.at.replace(year=day.year, month=day.month, day=day.day)
        stamps[event.kind] = day
    IssueEvent.objects.bulk_update(events, ["at"])
    dates = {
        "plan_posted_on": stamps.get("plan_posted"),
        "answered_on": stamps.get("resolved") or stamps.get("explained") or stamps.get("on_the_spot"),
        "closed_on": stamps.get("closed") or stamps.get("explained") or stamps.get("on_the_spot"),
    }
    dates = {k: v for k, v in dates.items() if v and getattr(issue, k)}
    if dates:
        Issue.objects.filter(pk=issue.pk).update(**dates)
        rollups.moved([(rollups.row(issue), {**rollups.row(issue), **dates})])  # the dashboard's counts
