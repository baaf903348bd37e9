"""The daily reminder job, the delivery of its messages, and the notifications page.

Dates are around China's 2026 National Day: 10-01 … 10-07 off, Saturday 10-10 a make-up working
day. On Wednesday 2026-09-30 the next working days are 10-08, 10-09 and 10-10 (a Saturday).
"""

import threading
from datetime import date

import pytest
from django.contrib.auth.models import Group, User
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.scope import forget_scope
from households.roles import STREET_ADMIN
from issues import channels, workdays
from issues.models import Delivery, Issue, Notification, Reminder, ReminderKind, Status
from issues.reminders import ReminderReport, send_reminders
from issues.tasks import DELIVERY_MAX_RETRIES, deliver_task
from issues.tests.factories import make_issue
from visitplan.models import Cadre, Tier

DAY = date(2026, 9, 30)  # Wednesday before the National Day holiday
NEXT_WORKDAY = date(2026, 10, 8)  # Thursday after it
HOLIDAY = date(2026, 10, 2)
PLAIN_SATURDAY = date(2026, 3, 7)
MAKEUP_SATURDAY = date(2026, 10, 10)

K = ReminderKind


@pytest.fixture(autouse=True)
def _fresh_calendar():
    workdays.clear_cache()
    yield
    workdays.clear_cache()


@pytest.fixture
def people(world):
    """The world with emails, a department head, and a second street admin for the other street."""
    w = world
    w.head = User.objects.create_user("head", email="head@example.cn", password="x")
    w.dept.head_user = w.head
    w.dept.save()
    for user, email in ((w.handler, "dept1@example.cn"), (w.admin, "admin@example.cn")):
        user.email = email
        user.save()
    return w


def issue(w, *, due=None, plan_due=None, status=Status.IN_PROGRESS, assignee="handler", department="dept", **fields):
    """An issue with the deadlines given (the reminder windows are under test, not the deadlines)."""
    assignee = getattr(w, assignee) if isinstance(assignee, str) else assignee
    department = getattr(w, department) if isinstance(department, str) else department
    fields.setdefault("household", w.ha)
    return make_issue(
        fields.pop("household"),
        status=status,
        department=department,
        assignee=assignee,
        registered_on=date(2026, 9, 1),
        deadlines=False,
        plan_due_on=plan_due or date(2026, 9, 8),
        due_on=due or date(2026, 12, 31),
        **fields,
    )


def sent(issue_obj, kind=None):
    """{(kind, username)} of the notifications about one issue."""
    qs = Notification.objects.filter(issue=issue_obj)
    if kind:
        qs = qs.filter(reminder__kind=kind)
    return {(n.reminder.kind, n.user.username) for n in qs.select_related("reminder", "user")}


def run(day, capture):
    """send_reminders with the after-commit callbacks executed (eager Celery: mails go out)."""
    with capture(execute=True):
        return send_reminders(day=day)


# ---------------------------------------------------------------------------------------------- windows


@pytest.mark.django_db
def test_it_chooses_due_soon_overdue_and_escalation_around_the_national_day(people, django_capture_on_commit_callbacks):
    w = people
    due_in_2 = issue(w, due=date(2026, 10, 9), text="2 working days left, 9 calendar days")
    due_in_3 = issue(w, due=MAKEUP_SATURDAY, text="3 working days left: the make-up Saturday counts")
    due_today = issue(w, due=DAY, text="due today")
    overdue = issue(w, due=date(2026, 9, 29), text="one working day late")
    overdue_no_assignee = issue(w, due=date(2026, 9, 28), assignee=None, text="late, nobody assigned")
    plan_soon = issue(w, status=Status.ROUTED, plan_due=date(2026, 10, 8), text="plan due the first day back")
    plan_late = issue(w, status=Status.ACCEPTED, assignee=None, department=None, plan_due=date(2026, 9, 29))
    resolved = issue(w, status=Status.RESOLVED, due=date(2026, 9, 1), plan_due=date(2026, 8, 20))
    closed = issue(w, status=Status.CLOSED, due=date(2026, 9, 1))

    report = run(DAY, django_capture_on_commit_callbacks)

    assert sent(due_in_2) == {(K.DUE_SOON, "dept1")}
    assert sent(due_in_3) == set()
    assert sent(due_today) == {(K.DUE_SOON, "dept1")}
    # Overdue: the assignee is told, the department head is escalated to.
    assert sent(overdue) == {(K.OVERDUE, "dept1"), (K.ESCALATION, "head")}
    # Nobody assigned: the head is responsible, the street admin above him gets the escalation.
    assert sent(overdue_no_assignee) == {(K.OVERDUE, "head"), (K.ESCALATION, "admin")}
    assert sent(plan_soon) == {(K.PLAN_DUE_SOON, "dept1")}
    # Not routed yet: the street admins' step; nobody above them, so no escalation.
    assert sent(plan_late) == {(K.PLAN_OVERDUE, "admin")}
    assert sent(resolved) == sent(closed) == set()

    assert report.counts == {
        K.PLAN_DUE_SOON: 1, K.PLAN_OVERDUE: 1, K.DUE_SOON: 2, K.OVERDUE: 2, K.ESCALATION: 2,
    }  # fmt: skip
    assert report.sent == 8 and report.skipped_already_sent == 0 and report.failures == 0
    assert report.deliveries == 8  # every recipient has an email
    assert len(mail.outbox) == 8
    assert Delivery.objects.filter(state=Delivery.State.SENT).count() == 8


@pytest.mark.django_db
def test_it_follows_the_street_admins_scope(people, django_capture_on_commit_callbacks):
    from households.models import Node, NodeKind

    w = people
    other_street = Node.objects.create(kind=NodeKind.STREET, name="南山街道")
    stranger = User.objects.create_user("admin2", email="a2@example.cn")
    stranger.groups.add(Group.objects.get(name=STREET_ADMIN))
    Cadre.objects.create(user=stranger, name="外街道管理员", tier=Tier.STREET_STAFF, scope=other_street)
    retired = User.objects.create_user("admin3", email="a3@example.cn", is_active=False)
    retired.groups.add(Group.objects.get(name=STREET_ADMIN))
    Cadre.objects.create(user=retired, name="离岗管理员", tier=Tier.STREET_STAFF, scope=w.street)

    late = issue(w, status=Status.REGISTERED, assignee=None, department=None, plan_due=date(2026, 9, 29))
    run(DAY, django_capture_on_commit_callbacks)

    assert sent(late) == {(K.PLAN_OVERDUE, "admin")}


@pytest.mark.django_db
def test_it_counts_a_reminder_nobody_can_receive_and_sends_it_once_someone_is_there(
    people, django_capture_on_commit_callbacks
):
    w = people
    w.admin.groups.clear()  # no street admin left
    forget_scope(w.admin)
    late = issue(w, status=Status.ACCEPTED, assignee=None, department=None, plan_due=date(2026, 9, 29))

    report = run(DAY, django_capture_on_commit_callbacks)
    assert report.failures == 1 and report.reminders == 0
    assert not Reminder.objects.exists()  # not claimed: it can still go out today

    w.admin.groups.add(Group.objects.get(name=STREET_ADMIN))
    report = run(DAY, django_capture_on_commit_callbacks)
    assert report.failures == 0 and sent(late) == {(K.PLAN_OVERDUE, "admin")}


# ---------------------------------------------------------------------------------------------- idempotence, days


@pytest.mark.django_db
def test_it_sends_nothing_the_second_time_on_the_same_day(people, django_capture_on_commit_callbacks):
    w = people
    issue(w, due=date(2026, 9, 29))
    issue(w, due=date(2026, 10, 9))

    first = run(DAY, django_capture_on_commit_callbacks)
    notifications, mails, deliveries = Notification.objects.count(), len(mail.outbox), Delivery.objects.count()
    assert first.reminders == 3 and mails == 3

    second = run(DAY, django_capture_on_commit_callbacks)

    assert second.reminders == 0 and second.sent == 0 and second.deliveries == 0
    assert second.skipped_already_sent == 3
    assert Notification.objects.count() == notifications
    assert Delivery.objects.count() == deliveries
    assert len(mail.outbox) == mails


@pytest.mark.django_db
def test_it_reminds_an_overdue_issue_again_on_the_next_working_day_only(people, django_capture_on_commit_callbacks):
    w = people
    late = issue(w, due=date(2026, 9, 29))

    run(DAY, django_capture_on_commit_callbacks)
    holiday = run(HOLIDAY, django_capture_on_commit_callbacks)
    back = run(NEXT_WORKDAY, django_capture_on_commit_callbacks)

    assert holiday.workday is False and holiday.reminders == 0
    assert back.counts[K.OVERDUE] == 1 and back.counts[K.ESCALATION] == 1
    days = sorted(Reminder.objects.filter(issue=late, kind=K.OVERDUE).values_list("day", flat=True))
    assert days == [DAY, NEXT_WORKDAY]
    assert Notification.objects.filter(issue=late).count() == 4
    back_mail = [m for m in mail.outbox if "dept1@example.cn" in m.to][-1]
    assert "已逾期 2 个工作日" in back_mail.subject  # 09-30 and 10-08: the holiday does not count


@pytest.mark.django_db
def test_it_sends_nothing_on_a_saturday_but_does_on_a_make_up_saturday(people, django_capture_on_commit_callbacks):
    w = people
    issue(w, due=date(2026, 3, 2))
    issue(w, due=date(2026, 9, 29))

    saturday = run(PLAIN_SATURDAY, django_capture_on_commit_callbacks)
    assert saturday.workday is False and saturday.reminders == 0
    assert not Reminder.objects.exists() and not mail.outbox

    makeup = run(MAKEUP_SATURDAY, django_capture_on_commit_callbacks)
    assert makeup.workday is True and makeup.counts[K.OVERDUE] == 2


@pytest.mark.django_db
def test_it_follows_an_office_override_of_the_calendar(people, django_capture_on_commit_callbacks):
    from issues.models import HolidayOverride

    w = people
    issue(w, due=date(2026, 9, 29))
    HolidayOverride.objects.create(date=DAY, is_workday=False, note="临时放假")
    workdays.clear_cache()

    assert run(DAY, django_capture_on_commit_callbacks).workday is False
    assert not Notification.objects.exists()


# ---------------------------------------------------------------------------------------------- after commit


@pytest.mark.django_db(transaction=True)
def test_it_enqueues_nothing_when_the_transaction_rolls_back(people, monkeypatch):
    w = people
    issue(w, due=date(2026, 9, 29))
    enqueued = []
    monkeypatch.setattr(deliver_task, "apply_async", lambda args=None, kwargs=None, **kw: enqueued.append(args))

    with pytest.raises(RuntimeError):
        with transaction.atomic():
            send_reminders(day=DAY)
            assert Delivery.objects.count() == 2
            raise RuntimeError("the job failed after the reminders were written")

    assert enqueued == []
    assert not Reminder.objects.exists() and not Notification.objects.exists() and not Delivery.objects.exists()

    send_reminders(day=DAY)  # committed: now the deliveries are enqueued, once
    ids = sorted(Delivery.objects.values_list("pk", flat=True))
    assert [sorted(a[0]) for a in enqueued] == [ids]


# ---------------------------------------------------------------------------------------------- delivery


class FlakyBackend(LocmemBackend):
    """Fails ``failures`` times, then delivers to the locmem outbox."""

    failures = 3
    calls = 0

    def send_messages(self, messages):
        type(self).calls += 1
        if type(self).calls <= type(self).failures:
            raise ConnectionRefusedError(f"SMTP 服务器无响应（第 {type(self).calls} 次）")
        return super().send_messages(messages)


@pytest.fixture
def flaky(settings):
    FlakyBackend.calls = 0
    settings.EMAIL_BACKEND = f"{__name__}.FlakyBackend"
    return FlakyBackend


@pytest.mark.django_db
def test_it_retries_a_failing_mail_server_and_sends_exactly_once(people, flaky, django_capture_on_commit_callbacks):
    w = people
    w.head.email = ""  # one delivery only: the assignee's
    w.head.save()
    issue(w, due=date(2026, 10, 9))
    flaky.failures = 3

    run(DAY, django_capture_on_commit_callbacks)  # eager: the retries run inline, without the backoff

    delivery = Delivery.objects.get()
    assert len(mail.outbox) == 1
    assert delivery.state == Delivery.State.SENT and delivery.attempts == 4
    assert delivery.sent_at is not None and delivery.error == ""


@pytest.mark.django_db
def test_it_marks_a_permanent_failure_failed_with_the_error(people, flaky, django_capture_on_commit_callbacks):
    w = people
    issue(w, due=date(2026, 10, 9))
    flaky.failures = 10_000

    run(DAY, django_capture_on_commit_callbacks)

    delivery = Delivery.objects.get()
    assert delivery.state == Delivery.State.FAILED
    assert delivery.attempts == DELIVERY_MAX_RETRIES + 1
    assert "ConnectionRefusedError" in delivery.error and "SMTP 服务器无响应" in delivery.error
    assert mail.outbox == []
    # The in-app notification is there regardless.
    assert Notification.objects.filter(user=w.handler).count() == 1


@pytest.mark.django_db
def test_it_retries_only_the_deliveries_still_pending(people, django_capture_on_commit_callbacks):
    w = people
    issue(w, due=date(2026, 9, 29))  # two deliveries: assignee and head
    with django_capture_on_commit_callbacks(execute=False):
        send_reminders(day=DAY)
    first, second = Delivery.objects.order_by("pk")
    Delivery.objects.filter(pk=first.pk).update(state=Delivery.State.SENT, attempts=1)

    deliver_task.delay([first.pk, second.pk])
    deliver_task.delay([first.pk, second.pk])  # a duplicate message (acks_late redelivery)

    assert [m.to for m in mail.outbox] == [[second.address]]
    second.refresh_from_db()
    assert second.state == Delivery.State.SENT and second.attempts == 1


@pytest.mark.django_db
def test_it_gives_up_deliveries_left_pending_on_an_earlier_day(people, django_capture_on_commit_callbacks):
    w = people
    issue(w, due=date(2026, 9, 29))
    with django_capture_on_commit_callbacks(execute=False):  # the broker lost the messages
        send_reminders(day=DAY)
    stale = set(Delivery.objects.values_list("pk", flat=True))

    report = run(NEXT_WORKDAY, django_capture_on_commit_callbacks)

    assert report.expired == 2
    for delivery in Delivery.objects.filter(pk__in=stale):
        assert delivery.state == Delivery.State.FAILED and "2026-10-08 的提醒取代" in delivery.error
    assert len(mail.outbox) == 2  # today's reminders, not yesterday's as well


# ---------------------------------------------------------------------------------------------- channels, content


class FakeSmsChannel(channels.Channel):
    name = "sms"
    sent = []

    def address_for(self, user):
        cadre = getattr(user, "cadre", None)
        return "13800000000" if cadre else None

    def send(self, delivery):
        type(self).sent.append((delivery.address, delivery.notification.title))


@pytest.mark.django_db
def test_it_calls_a_channel_registered_in_settings(people, settings, django_capture_on_commit_callbacks):
    w = people
    settings.REMINDER_CHANNELS = ["issues.channels.EmailChannel", f"{__name__}.FakeSmsChannel"]
    FakeSmsChannel.sent = []
    issue(w, due=date(2026, 10, 9))

    run(DAY, django_capture_on_commit_callbacks)

    by_channel = dict(Delivery.objects.values_list("channel", "state"))
    assert by_channel == {"email": "sent", "sms": "sent"}
    assert len(FakeSmsChannel.sent) == 1 and FakeSmsChannel.sent[0][0] == "13800000000"
    assert "办结即将到期" in FakeSmsChannel.sent[0][1]
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_it_notifies_users_without_email_in_the_app_only(people, django_capture_on_commit_callbacks):
    w = people
    w.handler.email = ""
    w.handler.save()
    issue(w, due=date(2026, 10, 9))

    report = run(DAY, django_capture_on_commit_callbacks)

    assert report.sent == 1 and report.deliveries == 0
    assert Notification.objects.filter(user=w.handler).count() == 1 and not mail.outbox


@pytest.mark.django_db
def test_it_writes_the_mail_in_chinese_with_the_address_but_no_id_or_phone(people, django_capture_on_commit_callbacks):
    w = people
    late = issue(w, due=date(2026, 9, 29), due_provisional=True, text="小区东门路灯损坏，夜间出行不便")

    run(DAY, django_capture_on_commit_callbacks)

    message = next(m for m in mail.outbox if m.to == ["dept1@example.cn"])
    assert message.subject.startswith("【办结逾期】")
    body = message.body
    assert "小区东门路灯损坏，夜间出行不便" in body
    assert "湖田社区 第1网格 1号楼1单元101" in body
    assert "2026-09-29（暂定）" in body
    assert reverse("issues:detail", args=[late.pk]) in body
    assert w.ha.id_number not in body and w.ha.phone not in body
    assert w.ha.id_number not in message.subject and w.ha.phone not in message.subject
    escalation = next(m for m in mail.outbox if m.to == ["head@example.cn"])
    assert escalation.subject.startswith("【逾期升级督办】") and "dept1" in escalation.body


# ---------------------------------------------------------------------------------------------- command, task


@pytest.mark.django_db
def test_it_runs_from_the_command_and_reports_in_chinese(people, capsys, django_capture_on_commit_callbacks):
    w = people
    issue(w, due=date(2026, 9, 29))

    with django_capture_on_commit_callbacks(execute=True):
        call_command("send_reminders", "--date", DAY.isoformat())
    first = capsys.readouterr().out
    call_command("send_reminders", "--date", DAY.isoformat())
    second = capsys.readouterr().out
    call_command("send_reminders", "--date", HOLIDAY.isoformat())
    holiday = capsys.readouterr().out

    assert "2026-09-30 督办提醒" in first and "办结逾期：1 条" in first and "逾期升级：1 条" in first
    assert "站内通知：2 条" in first
    assert "当天已提醒过、本次跳过：2 条" in second and "站内通知：0 条" in second
    assert "不是工作日" in holiday


@pytest.mark.django_db(transaction=True)  # real commits: the deliveries go out while --deliver-now is on
def test_it_delivers_from_the_command_itself_when_asked(people, settings, capsys, monkeypatch):
    w = people
    issue(w, due=date(2026, 10, 9))
    settings.CELERY_TASK_ALWAYS_EAGER = False  # as in production: queued tasks go to the broker
    enqueued = []
    monkeypatch.setattr(deliver_task, "apply_async", lambda *args, **kwargs: enqueued.append(args))

    call_command("send_reminders", "--date", DAY.isoformat(), "--deliver-now")
    call_command("send_reminders", "--date", NEXT_WORKDAY.isoformat())  # without: to the broker

    assert len(mail.outbox) == 1
    first, second = Delivery.objects.order_by("pk")
    assert first.state == Delivery.State.SENT and second.state == Delivery.State.PENDING
    assert [args[0] for args in enqueued] == [([second.pk],)]  # apply_async(args, kwargs)
    assert "已在本进程发送" in capsys.readouterr().out


@pytest.mark.django_db
def test_it_reads_the_issues_in_a_number_of_queries_that_does_not_grow_with_them(
    people, django_capture_on_commit_callbacks
):
    w = people

    def queries_for(n, day):
        for i in range(n):
            issue(w, due=date(2026, 9, 29), household=(w.ha, w.hb, w.hc)[i % 3])
        with CaptureQueriesContext(connection) as captured:
            with django_capture_on_commit_callbacks(execute=False):
                report = send_reminders(day=day)
        assert report.reminders == 2 * n
        return len(captured)

    few = queries_for(3, DAY)
    Issue.objects.all().delete()
    many = queries_for(60, NEXT_WORKDAY)
    assert many == few


@pytest.mark.django_db
def test_it_rejects_a_bad_date_on_the_command(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("send_reminders", "--date", "2026/09/30")


@pytest.mark.django_db
def test_it_runs_the_task_for_today_in_shanghai_by_default(people, monkeypatch):
    import issues.tasks as tasks

    calls = []
    monkeypatch.setattr("core.clock.today", lambda: DAY)
    monkeypatch.setattr("issues.reminders.send_reminders", lambda *, day: calls.append(day) or ReminderReport(day=day))
    tasks.send_reminders_task.delay()
    tasks.send_reminders_task.delay("2026-10-08")
    assert calls == [DAY, NEXT_WORKDAY]


def test_it_schedules_the_job_daily_at_eight_in_shanghai(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["send-reminders-daily"]
    assert entry["task"] == "issues.tasks.send_reminders_task"
    assert entry["schedule"].hour == {8} and entry["schedule"].minute == {0}
    assert settings.CELERY_TIMEZONE == "Asia/Shanghai"


# ---------------------------------------------------------------------------------------------- race (PostgreSQL)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_it_races_two_runs_of_the_same_day_and_sends_each_reminder_once(people, on_postgres, monkeypatch):
    from django.db import connections

    w = people
    households = [w.ha, w.hb, w.hc]
    for i in range(300):
        issue(w, due=date(2026, 9, 29) if i % 2 else date(2026, 10, 9), household=households[i % 3])
    expected = 150 * 2 + 150  # overdue + escalation for half, due soon for the other half
    enqueued = []
    lock = threading.Lock()

    def record(args=None, kwargs=None, **kw):
        with lock:
            enqueued.extend(args[0])

    monkeypatch.setattr(deliver_task, "apply_async", record)
    barrier = threading.Barrier(2)
    reports, errors = [], []

    def worker():
        try:
            barrier.wait(timeout=10)
            reports.append(send_reminders(day=DAY))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert errors == []
    assert len(reports) == 2
    print("claimed per run:", [r.reminders for r in reports])
    assert sum(r.reminders for r in reports) == expected
    assert sum(r.skipped_already_sent for r in reports) == expected
    assert Reminder.objects.count() == expected
    assert Notification.objects.count() == expected
    assert Notification.objects.values("reminder", "user").distinct().count() == expected
    assert Delivery.objects.count() == expected
    assert sorted(enqueued) == sorted(Delivery.objects.values_list("pk", flat=True))  # each delivery enqueued once


class SlowChannel(channels.Channel):
    """Takes its time, so that a second task arrives while the first is sending."""

    name = "slow"
    sent = []

    def address_for(self, user):
        return "slow@example.cn"

    def send(self, delivery):
        import time

        time.sleep(0.5)
        type(self).sent.append(delivery.pk)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_it_sends_a_delivery_once_when_two_tasks_race_for_it(people, on_postgres, settings, monkeypatch):
    from django.db import connections

    from issues.channels import deliver

    w = people
    settings.REMINDER_CHANNELS = [f"{__name__}.SlowChannel"]
    SlowChannel.sent = []
    monkeypatch.setattr(deliver_task, "apply_async", lambda *a, **kw: None)  # the tasks are raced by hand
    issue(w, due=date(2026, 10, 9))
    send_reminders(day=DAY)
    pk = Delivery.objects.get().pk
    barrier = threading.Barrier(2)
    results = []

    def task():
        try:
            barrier.wait(timeout=10)
            results.append(deliver([pk]))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=task) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert SlowChannel.sent == [pk]
    assert sorted(len(r.sent) for r in results) == [0, 1] and sorted(len(r.skipped) for r in results) == [0, 1]
    delivery = Delivery.objects.get()
    assert delivery.state == Delivery.State.SENT and delivery.attempts == 1


# ---------------------------------------------------------------------------------------------- the page


@pytest.fixture
def inbox(people, django_capture_on_commit_callbacks):
    w = people
    w.late = issue(w, due=date(2026, 9, 29))
    w.soon = issue(w, due=date(2026, 10, 9), household=w.hb)
    run(DAY, django_capture_on_commit_callbacks)
    return w


@pytest.mark.django_db
def test_it_lists_my_notifications_newest_first_with_the_unread_highlighted(inbox, client):
    w = inbox
    old = Notification.objects.filter(user=w.handler).order_by("pk").first()
    Notification.objects.filter(pk=old.pk).update(read_at=old.created_at)
    client.force_login(w.handler)

    page = client.get(reverse("notifications:list")).content.decode()

    assert page.count('class="unread"') == 1 and page.count('class="read"') == 1
    mine = list(Notification.objects.filter(user=w.handler).order_by("-created_at", "-id"))
    assert page.index(mine[0].title) < page.index(mine[1].title)
    assert "逾期升级" not in page  # the head's notification is not mine
    assert "全部标为已读" in page
    assert '<span class="badge">1</span>' in page  # the bell in the header


@pytest.mark.django_db
def test_it_opens_a_notification_marks_it_read_and_goes_to_the_issue(inbox, client):
    w = inbox
    n = Notification.objects.get(user=w.handler, issue=w.late)
    client.force_login(w.handler)

    assert client.get(reverse("notifications:open", args=[n.pk])).status_code == 405  # reading changes state
    response = client.post(reverse("notifications:open", args=[n.pk]))

    assert response.status_code == 302 and response.url == reverse("issues:detail", args=[w.late.pk])
    n.refresh_from_db()
    assert n.read_at is not None


@pytest.mark.django_db
def test_it_keeps_other_peoples_notifications_out_of_reach(inbox, client):
    w = inbox
    theirs = Notification.objects.get(user=w.head)
    client.force_login(w.handler)

    assert client.post(reverse("notifications:open", args=[theirs.pk])).status_code == 404
    client.post(reverse("notifications:read_all"))
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert not Notification.objects.filter(user=w.handler, read_at__isnull=True).exists()


@pytest.mark.django_db
def test_it_counts_unread_in_the_header_with_one_query_and_none_when_logged_out(inbox, client):
    from django.test import RequestFactory

    from issues.context_processors import notifications

    w = inbox
    client.force_login(w.handler)
    home = client.get(reverse("notifications:list"))
    request = RequestFactory().get("/")  # a fresh request: the page above counted on its own
    request.user = home.wsgi_request.user
    context = notifications(request)
    with CaptureQueriesContext(connection) as queries:
        assert str(context["unread_notifications"]) == "2"
        assert bool(context["unread_notifications"])
    assert len(queries) == 1

    client.logout()
    request.user = client.get(reverse("login")).wsgi_request.user
    with CaptureQueriesContext(connection) as queries:
        assert notifications(request) == {}
    assert len(queries) == 0

    client.force_login(w.handler)
    client.post(reverse("notifications:read_all"))
    page = client.get(reverse("notifications:list")).content.decode()
    assert '>通知<span class="badge"' not in page and ">通知</a>" in page and "暂无通知" not in page


@pytest.mark.django_db
def test_it_asks_for_login_on_the_notifications_page(client, db):
    response = client.get(reverse("notifications:list"))
    assert response.status_code == 302 and "login" in response.url
