"""The permission matrix's world: tests/conftest.py's small street, plus one object of every kind
in each place that matters, and a second street that is outside everyone's node.

Places (``KEYS``): ``a`` — 湖田社区 第1网格 (household ha, every role's own but the handler's);
``b`` — 湖田社区 第2网格 (hb); ``c`` — 南纬社区 (hc, the department handler's assigned household);
``x`` — 外街街道, a second street nobody of the first street may see. ``HOME[role]`` is the place
whose objects a role may reach; ``OUT[role]`` the places it may not. Names of the second street
start with ``外街`` (``OUTSIDE_MARKER``): no page of any role of the first street may show them.
"""

import datetime
import uuid

import pytest
from django.apps import apps
from django.utils import timezone

from households.models import Household, Member, Node, NodeKind
from households.roles import CADRE, DEPARTMENT_HANDLER, LEADER, SECRETARY, STREET_ADMIN
from tests.conftest import make_household, make_user, world  # noqa: F401  (the fixture)
from visitplan.access import ANONYMOUS
from visitplan.models import Assignment, Campaign, DepartmentQuota, Stage, Tier
from visits.tests.conftest import STAGES, VISIT_DAY  # the visits world's stages

D = datetime.date
OUTSIDE_MARKER = "外街"

# The roles of the matrix, each with the world's user of that role.
ROLES = (STREET_ADMIN, LEADER, SECRETARY, CADRE, DEPARTMENT_HANDLER, ANONYMOUS)
USER_OF = {STREET_ADMIN: "admin", LEADER: "leader", SECRETARY: "secretary", CADRE: "worker_a", DEPARTMENT_HANDLER: "handler"}
SHORT = {STREET_ADMIN: "admin", LEADER: "leader", SECRETARY: "secretary", CADRE: "grid_worker",
         DEPARTMENT_HANDLER: "dept_handler", ANONYMOUS: "anonymous"}  # fmt: skip

KEYS = ("a", "b", "c", "x")
HOME = {STREET_ADMIN: "a", LEADER: "a", SECRETARY: "a", CADRE: "a", DEPARTMENT_HANDLER: "c", ANONYMOUS: "a"}
OUT = {
    STREET_ADMIN: ("x",),
    LEADER: ("x",),
    SECRETARY: ("c", "x"),  # 南纬社区 is another community
    CADRE: ("b", "c", "x"),  # 第2网格 is another grid
    DEPARTMENT_HANDLER: ("a", "b", "x"),  # nothing assigned or routed to the department there
    ANONYMOUS: ("x",),
}
MISSING_ID = 987654321

# Household head names per place: a role must not see the names of its OUT places.
HEAD_NAMES = {"a": "张甲", "b": "李乙", "c": "王丙", "x": "外街户主"}


# Places a role sees nothing of (no household, no issue): their residents' names must not appear.
# The department handler sees place a's issues routed to the department (mw.issue_routed …), so
# only b and x are dark to him.
DARK = {**OUT, DEPARTMENT_HANDLER: ("b", "x")}


def forbidden_markers(role):
    """Strings that must not appear in any page or export the role gets."""
    return tuple(HEAD_NAMES[k] for k in DARK.get(role, ())) + (OUTSIDE_MARKER,)


def _issue(household, *, status, raised_by=None, department=None, assignee=None, **fields):
    from issues.tests.factories import make_issue

    return make_issue(household, status=status, raised_by=raised_by, department=department, assignee=assignee,
                      registered_on=D(2026, 11, 2), **fields)  # fmt: skip


@pytest.fixture
def mw(world):  # noqa: F811
    """The matrix world (see the module docstring). ``mw.objects[label][key]``: the object of
    model ``label`` ("app_label.model_name") in place ``key``; ``mw.users[role]``."""
    from django.contrib.auth.models import Group
    from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, SolarSchedule

    from households.models import ExportLog, FocusGroup
    from issues.models import Delivery, EventKind, ExtensionRequest, HolidayOverride, IssueEvent, Notification
    from issues.models import Reminder, ReminderKind, Status
    from reports.models import Finding, MonthlyReport, PhoneCheck
    from visits.models import FollowUp, Visit

    w = world
    today = timezone.localdate()
    for kind, (start, end) in STAGES.items():
        Stage.objects.create(campaign=w.campaign, kind=kind, starts_on=start, ends_on=end)
    w.asg_c = Assignment.objects.get(household=w.hc, cadre=w.handler.cadre)
    w.asg_a = Assignment.objects.create(campaign=w.campaign, household=w.ha, cadre=w.worker_a.cadre, tier=Tier.GRID_WORKER)
    w.asg_b = Assignment.objects.create(campaign=w.campaign, household=w.hb, cadre=w.worker_b.cadre, tier=Tier.GRID_WORKER)
    # The street admin takes ha too (街道干部 包户), so every role has a household to visit.
    Assignment.objects.create(campaign=w.campaign, household=w.ha, cadre=w.admin.cadre, tier=Tier.STREET_STAFF)
    w.worker_c = make_user("grid_c", CADRE, scope=w.grid_c, tier=Tier.GRID_WORKER)

    # The second street: its own tree, household, campaign and street admin.
    w.st2 = Node.objects.create(kind=NodeKind.STREET, name="外街街道")
    w.cx = Node.objects.create(kind=NodeKind.COMMUNITY, name="外街社区", parent=w.st2)
    w.grid_x = Node.objects.create(kind=NodeKind.GRID, name="外街网格", parent=w.cx)
    w.bx = Node.objects.create(kind=NodeKind.BUILDING, name="外街楼", parent=w.grid_x)
    w.hx = make_household(w.grid_x, "909", "外街户主", 9, building=w.bx)
    w.outsider = make_user("outsider", STREET_ADMIN, scope=w.st2, tier=Tier.STREET_STAFF, staff=True)
    w.outsider.cadre.name = "外街管理员"
    w.outsider.cadre.save()
    w.campaign_x = Campaign.objects.create(year=2026, name="外街走访", street=w.st2)
    stages_x = [Stage.objects.create(campaign=w.campaign_x, kind=kind, starts_on=start, ends_on=end)
                for kind, (start, end) in STAGES.items()]  # fmt: skip
    w.asg_x = Assignment.objects.create(campaign=w.campaign_x, household=w.hx, cadre=w.outsider.cadre, tier=Tier.STREET_STAFF)
    households = {"a": w.ha, "b": w.hb, "c": w.hc, "x": w.hx}
    campaign_of = {"a": w.campaign, "b": w.campaign, "c": w.campaign, "x": w.campaign_x}
    cadre_of = {"a": w.worker_a.cadre, "b": w.worker_b.cadre, "c": w.handler.cadre, "x": w.outsider.cadre}
    user_of = {"a": w.worker_a, "b": w.worker_b, "c": w.handler, "x": w.outsider}
    community_of = {"a": w.c1, "b": w.c1, "c": w.c2, "x": w.cx}

    members = {k: Member.objects.create(household=h, name=f"{HEAD_NAMES[k]}之子", relation="子") for k, h in households.items()}
    visits = {
        k: Visit.objects.create(campaign=campaign_of[k], household=h, cadre=cadre_of[k], visited_on=VISIT_DAY,
                                started_at=datetime.time(9, 0), ended_at=datetime.time(9, 40), duration_minutes=40,
                                key=uuid.uuid4(), created_by=user_of[k])  # fmt: skip
        for k, h in households.items()
    }
    # Issues: per place one 待审核 issue; in place a one of every status a workflow step starts from.
    issues = {k: _issue(h, status=Status.REGISTERED, raised_by=user_of[k]) for k, h in households.items()}
    issues["c"] = _issue(w.hc, status=Status.ROUTED, raised_by=w.worker_c, department=w.dept, assignee=w.handler)
    w.issue_reg = issues["a"]
    w.issue_reg2 = _issue(w.ha, status=Status.REGISTERED, raised_by=w.worker_a, text="楼道灯不亮（重复）")
    w.issue_x2 = _issue(w.hx, status=Status.REGISTERED, raised_by=w.outsider, text="外街重复诉求")
    w.issue_acc = _issue(w.ha, status=Status.ACCEPTED, raised_by=w.worker_a)
    w.issue_routed = _issue(w.ha, status=Status.ROUTED, raised_by=w.worker_a, department=w.dept, assignee=w.handler)
    w.issue_planned = _issue(w.ha, status=Status.PLANNED, raised_by=w.worker_a, department=w.dept, assignee=w.handler)
    w.issue_ext = _issue(w.ha, status=Status.ROUTED, raised_by=w.worker_a, department=w.dept, assignee=w.handler)
    w.issue_resolved = _issue(w.ha, status=Status.RESOLVED, raised_by=w.worker_a, department=w.dept, assignee=w.handler)
    w.issue_closed = _issue(w.ha, status=Status.CLOSED, raised_by=w.worker_a, department=w.dept, assignee=w.handler)
    extensions = {
        "a": ExtensionRequest.objects.create(issue=w.issue_ext, requested_by=w.handler, days=5, reason="材料未齐"),
        "c": ExtensionRequest.objects.create(issue=issues["c"], requested_by=w.handler, days=5, reason="材料未齐"),
        "x": ExtensionRequest.objects.create(issue=issues["x"], requested_by=w.outsider, days=5, reason="外街延期"),
    }
    events = {k: IssueEvent.objects.create(issue=i, actor=i.raised_by, kind=EventKind.choices[0][0], text=f"{k} 登记")
              for k, i in issues.items()}  # fmt: skip
    reminders = {k: Reminder.objects.create(issue=issues[k], kind=ReminderKind.DUE_SOON, day=today) for k in ("a", "c", "x")}
    # Notifications: one for every user of the matrix about an issue of his place, and the outsider's.
    w.notes = {}
    for role, attr in USER_OF.items():
        user = getattr(w, attr)
        about = issues["c"] if role == DEPARTMENT_HANDLER else w.issue_reg
        w.notes[role] = Notification.objects.create(user=user, issue=about, title=f"提醒 {attr}", body="请及时办理")
    w.note_x = Notification.objects.create(user=w.outsider, issue=issues["x"], title="外街提醒", body="外街")
    notifications = {"a": w.notes[CADRE], "c": w.notes[DEPARTMENT_HANDLER], "x": w.note_x}
    deliveries = {k: Delivery.objects.create(notification=n, channel="email", address=f"{k}@example.org")
                  for k, n in notifications.items()}  # fmt: skip
    # 回头看: each place's issue on its cadre's list (in place a a resolved one: "not solved" reopens it).
    followup_issue = {"a": w.issue_resolved, "b": issues["b"], "c": issues["c"], "x": issues["x"]}
    followups = {
        k: FollowUp.objects.create(campaign=campaign_of[k], household=h, issue=followup_issue[k], cadre=cadre_of[k],
                                   listed_on=today - datetime.timedelta(days=3), due_on=today + datetime.timedelta(days=7))
        for k, h in households.items()
    }  # fmt: skip
    findings = {
        k: Finding.objects.create(campaign=campaign_of[k], community=community_of[k], method="online", kind="not_visited",
                                  visit=visits[k], cadre=cadre_of[k], evidence=f"{k} 抽查", found_on=VISIT_DAY,
                                  recorded_by=w.outsider if k == "x" else w.admin)  # fmt: skip
        for k in ("a", "c", "x")
    }
    phone_checks = {
        k: PhoneCheck.objects.create(campaign=campaign_of[k], community=community_of[k], household=h, visit=visits[k],
                                     drawn_by=w.outsider if k == "x" else w.admin, drawn_on=today)  # fmt: skip
        for k, h in households.items()
    }
    quotas = {k: DepartmentQuota.objects.create(campaign=campaign_of[k], department=w.dept, community=community_of[k], households=3)
              for k in ("a", "c", "x")}  # fmt: skip

    # Objects of models no place owns (the admin's unscoped lists), one each.
    w.focus = FocusGroup.objects.order_by("pk").first() or FocusGroup.objects.create(name="孤寡老人")
    w.holiday = HolidayOverride.objects.create(date=D(2027, 1, 1), is_workday=False, note="元旦")
    w.export_log = ExportLog.objects.create(user=w.admin, what="居民底册（页面导出）", rows=1)
    w.export_log_x = ExportLog.objects.create(user=w.outsider, what="外街居民底册（页面导出）", rows=1)
    # The log is scoped by its user's node: a grid worker's export sits in grid_a.
    w.export_log_a = ExportLog.objects.create(user=w.worker_a, what="居民底册（页面导出）", rows=1)
    w.monthly = MonthlyReport.objects.create(street=w.street, month=D(2026, 11, 1))
    interval = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.DAYS)
    crontab = CrontabSchedule.objects.create(minute="0", hour="8")
    solar = SolarSchedule.objects.create(event="sunrise", latitude=36.07, longitude=120.38)
    clocked = ClockedSchedule.objects.create(clocked_time=timezone.now())
    periodic = PeriodicTask.objects.create(name="matrix", task="visits.tasks.build_followups_task", interval=interval)

    def one(obj):
        return {"u": obj}

    w.objects = {
        "households.household": households,
        "households.member": members,
        "households.node": {"a": w.grid_a, "b": w.grid_b, "c": w.grid_c, "x": w.grid_x},
        "households.street": {"a": w.street, "x": w.st2},
        "households.community": {"a": w.c1, "c": w.c2, "x": w.cx},
        "households.grid": {"a": w.grid_a, "b": w.grid_b, "c": w.grid_c, "x": w.grid_x},
        "households.building": {"a": Node.objects.get(kind=NodeKind.BUILDING, parent=w.grid_a), "x": w.bx},
        "households.focusgroup": one(w.focus),
        "households.exportlog": {"a": w.export_log_a, "x": w.export_log_x},
        "visitplan.department": one(w.dept),
        "visitplan.cadre": {**cadre_of, "c": w.worker_c.cadre},
        "visitplan.campaign": {"a": w.campaign, "x": w.campaign_x},
        "visitplan.stage": {"a": w.campaign.stages.order_by("starts_on").first(), "x": stages_x[0]},
        "visitplan.departmentquota": quotas,
        "visitplan.assignment": {"a": w.asg_a, "b": w.asg_b, "c": w.asg_c, "x": w.asg_x},
        "visits.visit": visits,
        "visits.followup": followups,
        "issues.issue": issues,
        "issues.issueevent": events,
        "issues.extensionrequest": extensions,
        "issues.reminder": reminders,
        "issues.notification": notifications,
        "issues.delivery": deliveries,
        "issues.holidayoverride": one(w.holiday),
        "reports.finding": findings,
        "reports.phonecheck": phone_checks,
        "reports.monthlyreport": one(w.monthly),
        # Login accounts are scoped like their cadres (visitplan.admin.ScopedUserAdmin).
        "auth.user": {"a": w.worker_a, "c": w.handler, "x": w.outsider},
        "auth.group": one(Group.objects.get(name=LEADER)),
        "django_celery_beat.periodictask": one(periodic),
        "django_celery_beat.intervalschedule": one(interval),
        "django_celery_beat.crontabschedule": one(crontab),
        "django_celery_beat.solarschedule": one(solar),
        "django_celery_beat.clockedschedule": one(clocked),
    }
    if apps.is_installed("axes"):  # django-axes' records of logins (the admin lists them)
        from axes.models import AccessAttempt, AccessFailureLog, AccessLog

        seen = {"user_agent": "matrix", "ip_address": "127.0.0.1", "username": "nobody", "http_accept": "*/*",
                "path_info": "/login/", "attempt_time": timezone.now()}  # fmt: skip
        w.objects["axes.accessattempt"] = one(AccessAttempt.objects.create(**seen, get_data="", post_data="", failures_since_start=1))
        w.objects["axes.accesslog"] = one(AccessLog.objects.create(**seen))
        w.objects["axes.accessfailurelog"] = one(AccessFailureLog.objects.create(**seen))
    w.users = {role: getattr(w, attr) for role, attr in USER_OF.items()}
    w.households = households
    w.issues = issues
    w.visits = visits
    w.followups = followups
    w.phone_checks = phone_checks
    w.cadres = {**cadre_of, "c": w.worker_c.cadre}
    w.communities = community_of
    assert Household.objects.count() == 4
    return w


def objects_in_and_out(w, role, label):
    """(the object of ``label`` in the role's own place, {out place: object}) in the matrix world."""
    places = w.objects[label]
    if "u" in places:  # not scoped: one object for everyone
        return places["u"], {}
    home = places.get(HOME[role])
    out = {k: places[k] for k in OUT[role] if k in places and places[k] != home}
    return home, out
