"""Each workflow step tells whoever must act next: an in-app notification and a mail, once per
(event, recipient), only to people who can see the issue, never to the actor himself."""

import datetime

import pytest
from django.core import mail
from django.db import IntegrityError, transaction

from households.models import Node, NodeKind
from households.roles import DEPARTMENT_HANDLER, SECRETARY, STREET_ADMIN
from issues import services
from issues.models import EventKind, ExtensionRequest, IssueEvent, Notification
from issues.notifications.steps import notify_step
from issues.tests.factories import register
from tests.support.world import make_user
from visitplan.models import Department, Tier

D = datetime.date


def told(issue, kind):
    """{username: count} of the notifications written for the issue's latest event of ``kind``."""
    event = IssueEvent.objects.filter(issue=issue, kind=kind).order_by("-id").first()
    assert event is not None, kind
    rows = Notification.objects.filter(event=event).select_related("user")
    found = {}
    for n in rows:
        found[n.user.username] = found.get(n.user.username, 0) + 1
    return found


@pytest.fixture
def day(monkeypatch):
    monkeypatch.setattr(services, "_today", lambda: D(2026, 3, 2))


@pytest.mark.django_db
def test_one_issue_through_every_step_tells_the_next_person_each_time(world, day):
    w = world
    issue = register(w.ha, w.worker_a, text="3号楼楼道灯坏了两周")
    assert told(issue, EventKind.REGISTERED) == {"sec1": 1}  # the community's reviewer; not the street admin

    issue = services.issue_return(issue=issue, by=w.secretary, version=issue.version, reason="请写明哪个单元")
    assert told(issue, EventKind.RETURNED) == {"grid_a": 1}

    issue = services.issue_resubmit(issue=issue, by=w.worker_a, version=issue.version, text="3号楼2单元楼道灯坏了两周")
    assert told(issue, EventKind.RESUBMITTED) == {"sec1": 1}  # whoever returned it

    issue = services.issue_accept(issue=issue, by=w.secretary, version=issue.version)
    assert not Notification.objects.filter(event__kind=EventKind.ACCEPTED).exists()  # he routes it himself

    issue = services.issue_route(issue=issue, by=w.secretary, version=issue.version, department=w.dept)
    assert told(issue, EventKind.ROUTED) == {"dept1": 1}

    issue = services.issue_misroute(issue=issue, by=w.handler, version=issue.version, reason="不属于民政职责")
    assert told(issue, EventKind.MISROUTED) == {"sec1": 1}  # whoever routed it

    issue = services.issue_route(issue=issue, by=w.admin, version=issue.version, department=w.dept)
    assert told(issue, EventKind.ROUTED) == {"dept1": 1}

    issue = services.issue_post_plan(issue=issue, by=w.handler, version=issue.version, plan="联系物业更换灯具")
    request = services.issue_request_extension(issue=issue, by=w.handler, days=5, reason="需采购灯具")
    assert told(issue, EventKind.EXTENSION_REQUESTED) == {"admin": 1}  # who approves

    issue = services.issue_decide_extension(request=request, by=w.admin, approve=True)
    assert told(issue, EventKind.EXTENSION_APPROVED) == {"dept1": 1}  # who asked

    issue = services.issue_resolve(issue=issue, by=w.handler, version=issue.version, answer="已更换，已告知居民")
    assert told(issue, EventKind.RESOLVED) == {"admin": 1}  # who 销号

    issue = services.issue_close(issue=issue, by=w.admin, version=issue.version)
    assert told(issue, EventKind.CLOSED) == {"grid_a": 1}  # the registrar tells the resident

    issue = services.issue_reopen(issue=issue, by=w.admin, reason="回头看：灯又不亮了")
    assert told(issue, EventKind.REOPENED) == {"dept1": 1}  # back to the department

    # Nobody was ever told about his own step.
    for n in Notification.objects.filter(event__isnull=False).select_related("event"):
        assert n.event.actor_id != n.user_id


@pytest.mark.django_db
def test_routed_to_a_named_person_tells_only_him(world, day):
    w = world
    other = make_user("dept2", DEPARTMENT_HANDLER, scope=w.street, tier=Tier.DEPARTMENT, department=w.dept)
    issue = register(w.ha, w.worker_a)
    issue = services.issue_accept(issue=issue, by=w.admin, version=issue.version)
    issue = services.issue_route(issue=issue, by=w.admin, version=issue.version, department=w.dept, assignee=other)
    assert told(issue, EventKind.ROUTED) == {"dept2": 1}


@pytest.mark.django_db
def test_recipients_are_scoped_and_active(world, day):
    """Another street's admin, another community's secretary, another department's handler, and
    a cadre who left (不在岗) hear nothing; a community without a secretary goes to the street admin."""
    w = world
    street2 = Node.objects.create(kind=NodeKind.STREET, name="东门街道")
    make_user("admin2", STREET_ADMIN, scope=street2, tier=Tier.STREET_STAFF, staff=True)
    make_user("sec2", SECRETARY, scope=w.c2, tier=Tier.SECRETARY, staff=True)
    gone = make_user("sec1b", SECRETARY, scope=w.c1, tier=Tier.SECRETARY, staff=True)
    gone.cadre.active = False
    gone.cadre.save()
    make_user("dept_other", DEPARTMENT_HANDLER, scope=w.street, tier=Tier.DEPARTMENT,
              department=Department.objects.create(name="区住建局"))  # fmt: skip

    issue = register(w.ha, w.worker_a)
    assert told(issue, EventKind.REGISTERED) == {"sec1": 1}
    issue = services.issue_accept(issue=issue, by=w.admin, version=issue.version)
    issue = services.issue_route(issue=issue, by=w.admin, version=issue.version, department=w.dept)
    assert told(issue, EventKind.ROUTED) == {"dept1": 1}
    issue = services.issue_post_plan(issue=issue, by=w.handler, version=issue.version, plan="更换")
    issue = services.issue_resolve(issue=issue, by=w.handler, version=issue.version, answer="已更换")
    assert told(issue, EventKind.RESOLVED) == {"admin": 1}

    # In 南纬社区 (c2) the secretary sec2 reviews; with him gone, the street admin does.
    other = register(w.hc, w.admin)
    assert told(other, EventKind.REGISTERED) == {"sec2": 1}
    w2 = type(w.secretary).objects.get(username="sec2")
    w2.is_active = False
    w2.save()
    third = register(w.hc, w.leader)
    assert told(third, EventKind.REGISTERED) == {"admin": 1}


@pytest.mark.django_db
def test_once_per_event_and_recipient(world, day):
    w = world
    issue = register(w.ha, w.worker_a)
    event = IssueEvent.objects.get(issue=issue, kind=EventKind.REGISTERED)
    assert notify_step(event, issue) == 0  # a second call (a retried job) writes nothing
    assert Notification.objects.filter(event=event).count() == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        Notification.objects.create(user=w.secretary, event=event, issue=issue, title="x")


@pytest.mark.django_db
def test_a_refused_step_tells_nobody(world, day):
    w = world
    issue = register(w.ha, w.worker_a)
    stale = issue.version
    services.issue_accept(issue=issue, by=w.admin, version=stale)
    before = Notification.objects.count()
    with pytest.raises(services.StaleIssueError):
        services.issue_return(issue=issue, by=w.secretary, version=stale, reason="重复")
    assert Notification.objects.count() == before


@pytest.mark.django_db
def test_answered_on_the_spot_waits_for_nobody(world, day):
    w = world
    issue = register(w.ha, w.worker_a, answer_on_the_spot="已当场解释政策")
    assert not Notification.objects.filter(issue=issue).exists()


@pytest.mark.django_db
def test_the_step_goes_out_by_mail_after_commit(world, day, django_capture_on_commit_callbacks):
    w = world
    w.handler.email = "dept1@example.gov.cn"
    w.handler.save()
    issue = register(w.ha, w.worker_a)
    issue = services.issue_accept(issue=issue, by=w.admin, version=issue.version)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.issue_route(issue=issue, by=w.admin, version=issue.version, department=w.dept)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["dept1@example.gov.cn"]
    assert message.subject.startswith(f"【新交办】诉求#{issue.pk}")
    assert "方案时限：" in message.body and f"/issues/{issue.pk}/" in message.body
    assert w.ha.id_number not in message.body and w.ha.phone not in message.body
    notification = Notification.objects.get(event__kind=EventKind.ROUTED, user=w.handler)
    assert notification.deliveries.get().state == "sent"


@pytest.mark.django_db
def test_a_rejected_extension_tells_who_asked(world, day):
    w = world
    issue = register(w.ha, w.worker_a)
    issue = services.issue_accept(issue=issue, by=w.admin, version=issue.version)
    issue = services.issue_route(issue=issue, by=w.admin, version=issue.version, department=w.dept)
    request = services.issue_request_extension(issue=issue, by=w.handler, days=3, reason="材料未到")
    services.issue_decide_extension(request=request, by=w.admin, approve=False, note="时限内可以办结")
    assert told(issue, EventKind.EXTENSION_REJECTED) == {"dept1": 1}
    assert ExtensionRequest.objects.get(pk=request.pk).decision == "rejected"
