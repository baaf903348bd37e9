"""A real Celery worker on a real Redis: the reminder job and its email go through the broker.

The worker runs in a thread of this process (``celery.contrib.testing.worker.start_worker``), so it
uses the same test database — committed data only, hence ``transaction=True``. It runs on a Celery
app of its own with a queue of its own: other test runs sharing the Redis server (CI, a colleague's
run) can neither take our tasks nor hand us theirs. Skipped without Redis locally; CI
(REQUIRE_SERVICES=1, CELERY_BROKER_URL=redis://…) fails instead.
"""

import os
import time
import uuid
from datetime import date

import pytest
from celery import Celery, current_app
from celery.contrib.testing.worker import start_worker
from django.core import mail

from issues import workdays
from issues.models import Delivery, Notification, ReminderKind, Status
from issues.tests.factories import make_issue
from tests.support.skipping import require_or_skip

DAY = date(2026, 9, 30)
LOCAL_REDIS = "redis://127.0.0.1:6379/14"  # a database of its own when CELERY_BROKER_URL is not Redis


def redis_url() -> str:
    url = os.environ.get("CELERY_BROKER_URL", "")
    return url if url.startswith(("redis://", "rediss://")) else LOCAL_REDIS


def redis_reachable(url: str) -> bool:
    try:
        import redis
    except ImportError:  # kombu's Redis transport needs it (requirements.txt)
        return False
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2).ping())
    except Exception:
        return False


@pytest.fixture
def redis_app(settings, monkeypatch):
    """A Celery app on Redis with a private queue, eager mode off, made current for the test."""
    url = redis_url()
    require_or_skip(redis_reachable(url), f"Redis at {url} (and the redis package)")
    queue = f"visitplan-test-{uuid.uuid4().hex[:12]}"
    settings.CELERY_TASK_ALWAYS_EAGER = False  # the root conftest sets it True for every test
    settings.CELERY_BROKER_URL = url
    monkeypatch.setenv("CELERY_SKIP_CHECKS", "1")  # the Django fixup would run the system checks again

    app = Celery("visitplan-worker-test")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.update(
        broker_url=url,
        broker_transport_options={},  # the settings' options are the filesystem transport's
        task_always_eager=False,
        task_default_queue=queue,
        worker_hijack_root_logger=False,
    )
    previous = current_app._get_current_object()
    try:
        yield app
    finally:
        previous.set_current()
        previous.set_default()
        # Leave nothing on the shared Redis: our queue (with acks_late, a message still unacked
        # when the worker stops is put back, though its task ran) and kombu's bindings for it.
        import redis

        client = redis.Redis.from_url(url)
        client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        client.close()


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


@pytest.mark.django_db(transaction=True)
def test_it_sends_an_overdue_reminder_through_a_real_worker(world, redis_app):
    from issues.tasks import send_reminders_task

    w = world
    workdays.clear_cache()
    w.handler.email = "dept1@example.cn"
    w.handler.save()
    late = make_issue(
        w.ha,
        status=Status.IN_PROGRESS,
        department=w.dept,
        assignee=w.handler,
        registered_on=date(2026, 9, 1),
        deadlines=False,
        plan_due_on=date(2026, 9, 8),
        due_on=date(2026, 9, 29),
    )

    with start_worker(redis_app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        assert send_reminders_task.app is redis_app and not redis_app.conf.task_always_eager
        send_reminders_task.delay(DAY.isoformat())  # through Redis, not inline

        assert wait_for(lambda: Notification.objects.filter(issue=late).exists()), "no notification within 30 s"
        assert wait_for(lambda: len(mail.outbox) >= 1), "no email within 30 s"
        assert wait_for(lambda: Delivery.objects.filter(state=Delivery.State.SENT).count() == 1)

    notification = Notification.objects.get(issue=late, user=w.handler)
    assert notification.reminder.kind == ReminderKind.OVERDUE and notification.reminder.day == DAY
    # The department has no head and the street admin has no email: one mail, to the assignee.
    assert [m.to for m in mail.outbox] == [["dept1@example.cn"]]
    assert mail.outbox[0].subject.startswith("【办结逾期】")
    assert Notification.objects.filter(issue=late, reminder__kind=ReminderKind.ESCALATION, user=w.admin).exists()
