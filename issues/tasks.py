"""Celery tasks of the issue ledger: the daily reminder job and the delivery of notifications.

Both are idempotent by construction (the project runs with ``acks_late``, so a task whose worker
died is delivered again and may run twice):

- ``send_reminders_task`` claims each (issue, kind, day) in the database; a second run for the
  same day finds the claims and sends nothing (``issues.reminders``);
- ``deliver_task`` sends only deliveries still pending, claimed one by one (``issues.channels``).

Both declare ``acks_late`` and ``reject_on_worker_lost`` themselves (the settings set them for
every task too): a worker killed mid-task leaves the message unacknowledged, and a pool child
killed mid-task has its message put back at once, so the task runs again to the end. With
Redis the message of a dead worker comes back after ``visibility_timeout``
(``CELERY_BROKER_TRANSPORT_OPTIONS``, one hour), which must stay above the longest task and
above every retry countdown below (a task waiting for its ETA is unacknowledged too).

The beat schedule (``CELERY_BEAT_SCHEDULE`` in settings) runs ``send_reminders_task`` every day at
08:00 Asia/Shanghai; it sends nothing on non-working days. ``manage.py send_reminders --date``
runs the same function for any day.
"""

from __future__ import annotations

from datetime import date

from celery import shared_task

from core import clock

# Retries of a delivery: exponential backoff from 1 minute, capped at 30 minutes (below Redis'
# default visibility timeout of 1 hour, past which a waiting ETA task would be delivered twice),
# with jitter; 8 retries span roughly two hours of a mail server being down.
DELIVERY_MAX_RETRIES = 8
DELIVERY_BACKOFF_SECONDS = 60
DELIVERY_BACKOFF_MAX_SECONDS = 30 * 60


class DeliveryFailed(Exception):
    """Some deliveries of the batch failed this time; they stay pending and the task retries."""


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(Exception,),
    retry_backoff=120,
    retry_backoff_max=1800,
    max_retries=3,
)
def send_reminders_task(day_iso: str | None = None) -> dict:
    """Run the reminder job for ``day_iso`` (YYYY-MM-DD), by default today in Asia/Shanghai.

    A failure (database or broker briefly away) is retried: the job is idempotent, a retry only
    finishes what the failed run did not claim.
    """
    from .reminders import send_reminders

    day = date.fromisoformat(day_iso) if day_iso else clock.today()
    return send_reminders(day=day).as_dict()


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(Exception,),
    retry_backoff=DELIVERY_BACKOFF_SECONDS,
    retry_backoff_max=DELIVERY_BACKOFF_MAX_SECONDS,
    retry_jitter=True,
    max_retries=DELIVERY_MAX_RETRIES,
)
def deliver_task(self, delivery_ids: list[int]) -> dict:
    """Send a batch of deliveries; failures are retried with backoff, then marked failed with the error.

    A retry re-runs the whole batch, but ``deliver`` only touches deliveries still pending, so
    the ones that went out the first time are not sent again. Deliveries another task holds
    (``busy``) are looked at again on the next retry: sent by then, they are skipped; still
    pending (their sender died), they are sent.
    """
    from .channels import deliver

    final_attempt = self.request.retries >= self.max_retries
    result = deliver(delivery_ids, final_attempt=final_attempt)
    if result.retry:
        first = result.errors[result.retry[0]]
        raise DeliveryFailed(f"{len(result.retry)} 条外发失败，稍后重试（第 {self.request.retries + 1} 次）：{first}")
    if result.busy and not final_attempt:
        raise DeliveryFailed(f"{len(result.busy)} 条外发正由另一任务发送，稍后核对（第 {self.request.retries + 1} 次）")
    return result.as_dict()
