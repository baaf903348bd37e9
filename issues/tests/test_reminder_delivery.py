"""Reminders under faults: a missed day is caught up once, a flaky mail server gets one mail after
retries with backoff, a dead one leaves a failure the street admin sees, a delivery held by a dead
sender's session is looked at again.

Dates around China's 2026 National Day (10-01 … 10-07 off): Tuesday 09-29 is the day the beat
was down, Wednesday 09-30 the next run.
"""

import smtplib
import threading
from datetime import date, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend

from issues import workdays
from issues.models import Delivery, Notification, Reminder, ReminderKind, Status
from issues.reminders import send_reminders
from issues.tasks import DELIVERY_BACKOFF_MAX_SECONDS, DELIVERY_BACKOFF_SECONDS, DELIVERY_MAX_RETRIES, deliver_task
from issues.tests.factories import make_issue

MISSED = date(2026, 9, 29)  # beat down all day
NEXT = date(2026, 9, 30)
SHANGHAI = ZoneInfo("Asia/Shanghai")
K = ReminderKind


@pytest.fixture(autouse=True)
def _fresh_calendar():
    workdays.clear_cache()
    yield
    workdays.clear_cache()


@pytest.fixture
def people(world):
    w = world
    w.head = User.objects.create_user("head", email="head@example.cn", password="x")
    w.dept.head_user = w.head
    w.dept.save()
    w.handler.email = "dept1@example.cn"
    w.handler.save()
    return w


def issue(w, *, due, status=Status.IN_PROGRESS, **fields):
    return make_issue(
        fields.pop("household", w.ha),
        status=status,
        department=w.dept,
        assignee=w.handler,
        registered_on=date(2026, 9, 1),
        deadlines=False,
        plan_due_on=date(2026, 9, 8),
        due_on=due,
        **fields,
    )


def run(day, capture):
    with capture(execute=True):
        return send_reminders(day=day)


def notified(issue_obj):
    return sorted(
        (n.reminder.day, n.reminder.kind, n.user.username)
        for n in Notification.objects.filter(issue=issue_obj).select_related("reminder", "user")
    )


# ---------------------------------------------------------------------------------------------- catch-up


@pytest.mark.django_db
def test_a_day_the_job_missed_is_caught_up_by_the_next_run_exactly_once(people, django_capture_on_commit_callbacks):
    w = people
    soon = issue(w, due=date(2026, 10, 8), text="on 09-29 two working days left, on 09-30 one")
    due_on_missed_day = issue(w, due=MISSED, household=w.hb, text="due on the missed day")
    answered = issue(w, due=MISSED, status=Status.RESOLVED, household=w.hc, text="answered meanwhile")
    # Nothing ran on MISSED: no claims, no notifications, no mail for that day.
    assert not Reminder.objects.exists()

    first = run(NEXT, django_capture_on_commit_callbacks)

    # Every issue that was due on the missed day and still is, reminded now, in today's words.
    assert notified(soon) == [(NEXT, K.DUE_SOON, "dept1")]
    assert notified(due_on_missed_day) == [(NEXT, K.ESCALATION, "head"), (NEXT, K.OVERDUE, "dept1")]
    assert notified(answered) == []
    subjects = sorted(m.subject for m in mail.outbox)
    assert len(subjects) == 3
    assert any("还剩 1 个工作日" in s for s in subjects)  # not the missed day's "还剩 2 个工作日"
    assert sum("已逾期 1 个工作日" in s for s in subjects) == 2
    assert not Reminder.objects.filter(day=MISSED).exists()  # the stale day is not sent late as well
    assert first.reminders == 3

    # Beat's catch-up run and the regular 08:00 message (or a redelivered one) on the same day.
    second = run(NEXT, django_capture_on_commit_callbacks)
    assert second.reminders == 0 and second.sent == 0 and second.skipped_already_sent == 3
    assert len(mail.outbox) == 3
    assert Notification.objects.count() == 3 and Delivery.objects.count() == 3


@pytest.mark.django_db
def test_beat_runs_a_daily_job_missed_while_it_was_down_once_when_it_comes_back(settings):
    """DatabaseScheduler keeps last_run_at: a beat back after two missed 08:00s runs the job once."""
    from django_celery_beat.schedulers import ModelEntry

    from visitplan.celery import app

    assert app.conf.beat_cron_starting_deadline is None  # no deadline: a missed cron time still runs
    assert settings.CELERY_BEAT_SCHEDULER == "django_celery_beat.schedulers:DatabaseScheduler"
    spec = settings.CELERY_BEAT_SCHEDULE["send-reminders-daily"]
    model = ModelEntry.from_entry("send-reminders-daily", app=app, **spec).model
    back_at = datetime(2026, 9, 30, 9, 30, tzinfo=SHANGHAI)

    def entry(last_run_at):
        model.last_run_at = last_run_at
        model.save()
        e = ModelEntry(model, app=app)
        e.schedule.nowfun = lambda: back_at
        return e

    # Last run Monday 08:00; beat down Monday evening to Wednesday 09:30 (08:00 Tue and Wed missed).
    due, _next = entry(datetime(2026, 9, 28, 8, 0, 1, tzinfo=SHANGHAI)).is_due()
    assert due
    # Once it ran at 09:30 it waits for Thursday 08:00: one catch-up run, not one per missed day.
    due, wait = entry(back_at).is_due()
    assert not due and abs(wait - 22.5 * 3600) < 120


@pytest.mark.django_db
def test_the_task_reminds_about_the_day_it_runs_on(people, monkeypatch, django_capture_on_commit_callbacks):
    """A message queued on the missed day and handled the next day reminds about the next day."""
    import issues.tasks as tasks

    issue(people, due=date(2026, 10, 8))
    monkeypatch.setattr("core.clock.today", lambda: NEXT)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.send_reminders_task.delay().get()["counts"][K.DUE_SOON] == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.send_reminders_task.delay().get()["reminders"] == 0
    assert list(Reminder.objects.values_list("day", flat=True)) == [NEXT]
    assert len(mail.outbox) == 1


# ---------------------------------------------------------------------------------------------- the mail server


class FlakySmtpBackend(LocmemBackend):
    """An SMTP server that answers with an SMTP error ``failures`` times, then accepts."""

    failures = 3
    calls = 0

    def send_messages(self, messages):
        type(self).calls += 1
        if type(self).calls <= type(self).failures:
            raise smtplib.SMTPDataError(451, f"4.3.0 临时故障，请稍后再试（第 {type(self).calls} 次）".encode())
        return super().send_messages(messages)


@pytest.fixture
def flaky_smtp(settings, monkeypatch):
    FlakySmtpBackend.calls = 0
    settings.EMAIL_BACKEND = f"{__name__}.FlakySmtpBackend"
    # Full jitter draws a countdown in [0, backoff]; take the top of the range to see the backoff.
    import celery.utils.time

    monkeypatch.setattr(celery.utils.time, "random", SimpleNamespace(randrange=lambda n: n - 1))
    countdowns = []
    original = deliver_task.retry

    def retry(*args, **kwargs):
        countdowns.append(kwargs.get("countdown"))
        return original(*args, **kwargs)

    monkeypatch.setattr(deliver_task, "retry", retry)
    return SimpleNamespace(backend=FlakySmtpBackend, countdowns=countdowns)


@pytest.mark.django_db
def test_a_mail_server_failing_three_times_gets_one_mail_after_retries_with_backoff(
    people, flaky_smtp, django_capture_on_commit_callbacks
):
    w = people
    w.head.email = ""  # one delivery: the assignee's
    w.head.save()
    issue(w, due=date(2026, 10, 8))

    run(NEXT, django_capture_on_commit_callbacks)  # eager: the retries run inline

    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["dept1@example.cn"]
    assert flaky_smtp.backend.calls == 4
    delivery = Delivery.objects.get()
    assert delivery.state == Delivery.State.SENT and delivery.attempts == 4 and delivery.error == ""
    # Exponential backoff from DELIVERY_BACKOFF_SECONDS (a worker waits these before retrying).
    assert flaky_smtp.countdowns == [DELIVERY_BACKOFF_SECONDS * 2**n for n in range(3)] == [60, 120, 240]


@pytest.mark.django_db
def test_a_mail_server_that_never_recovers_leaves_a_failure_the_street_admin_sees(
    people, flaky_smtp, client, django_capture_on_commit_callbacks
):
    w = people
    w.head.email = ""
    w.head.save()
    late = issue(w, due=date(2026, 9, 29))
    flaky_smtp.backend.failures = 10_000

    run(NEXT, django_capture_on_commit_callbacks)

    delivery = Delivery.objects.get()
    assert delivery.state == Delivery.State.FAILED and delivery.attempts == DELIVERY_MAX_RETRIES + 1
    assert "SMTPDataError" in delivery.error and "临时故障" in delivery.error
    assert mail.outbox == []
    assert len(flaky_smtp.countdowns) == DELIVERY_MAX_RETRIES
    assert max(flaky_smtp.countdowns) == DELIVERY_BACKOFF_MAX_SECONDS  # capped at 30 minutes

    # The street admin finds it in the admin's 外发记录, filtered on 发送失败, with the error.
    client.force_login(w.admin)
    page = client.get("/admin/issues/delivery/?state__exact=failed")
    html = page.content.decode()
    assert page.status_code == 200
    assert "dept1@example.cn" in html and "SMTPDataError: 451 4.3.0 临时故障" in html
    assert f"诉求#{late.pk}" in html and f'href="/issues/{late.pk}/"' in html  # what the mail was about
    # The in-app notification went out regardless.
    client.force_login(w.handler)
    assert f"诉求#{late.pk}" in client.get("/notifications/").content.decode()


# ---------------------------------------------------------------------------------------------- busy (PostgreSQL)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_delivery_locked_by_a_dead_senders_session_is_sent_on_the_retry(people, on_postgres, monkeypatch):
    """A worker killed mid-send leaves its row lock until the server ends its session; a task
    redelivered in that moment finds the delivery locked. It retries instead of dropping it."""
    from django.db import connections, transaction

    w = people
    w.head.email = ""
    w.head.save()
    monkeypatch.setattr(deliver_task, "apply_async", lambda *a, **kw: None)  # run by hand below
    issue(w, due=date(2026, 10, 8))
    send_reminders(day=NEXT)
    pk = Delivery.objects.get().pk

    locked, release, done = threading.Event(), threading.Event(), threading.Event()

    def dead_sender():
        try:
            with transaction.atomic():
                Delivery.objects.select_for_update().get(pk=pk)
                locked.set()
                release.wait(timeout=30)
                transaction.set_rollback(True)  # the session ends: its attempt is rolled back
        finally:
            connections.close_all()
            done.set()

    original = deliver_task.retry
    retries = []

    def retry(*args, **kwargs):
        retries.append(str(kwargs.get("exc")))
        release.set()  # by the time the retry runs, the dead session is gone
        done.wait(timeout=30)
        return original(*args, **kwargs)

    monkeypatch.setattr(deliver_task, "retry", retry)
    thread = threading.Thread(target=dead_sender)
    thread.start()
    assert locked.wait(timeout=10)
    result = deliver_task.apply(args=[[pk]]).get()
    thread.join(timeout=30)

    assert len(retries) == 1 and "正由另一任务发送" in retries[0]
    assert result["sent"] == 1
    delivery = Delivery.objects.get()
    assert delivery.state == Delivery.State.SENT and delivery.attempts == 1
    assert [m.to for m in mail.outbox] == [["dept1@example.cn"]]
