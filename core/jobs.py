"""Background jobs (``core.models.BackgroundJob``): the only functions that change one.

The life of a job:

1. ``job_create`` — the view records what is to be done (``kind``, the user, the ids in
   ``params``) and starts the task with the job's id (``task.delay_on_commit(job.pk)``), or runs
   the work inline when it is small;
2. ``job_claim`` — the task takes the job with a conditional UPDATE: of two workers handed the
   same message (``acks_late`` redelivers a task whose worker died) exactly one gets it. A job
   still "running" whose heartbeat stopped ``STALE_AFTER`` ago lost its worker and is taken over;
3. ``job_progress`` (or a throttled ``ProgressReporter``) — done / total and a short message;
4. ``job_finish`` with the result (JSON for the result page, optionally a file), or ``job_fail``
   with a message for the user (Chinese: it is shown as it is).

A job is seen by its user only: ``get_job_for_user`` answers 404 for anybody else's job, the
same as for a missing one. ``job_status`` is what a status endpoint answers (polled by
static/js/job-progress.js).

A job that ran in the background, out of its user's sight, is told to the apps above core with
``background_job_over(job)`` when it is over (done or failed): they register with
``on_background_job_over`` at start-up (reports/apps.py: the user's notification that an export is
ready, reports.ledgers.jobs.notify_finished).

Progress written inside a transaction is only seen by others once it commits (and is lost if it
rolls back): report the last step before entering a long transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from django.db import transaction
from django.http import Http404
from django.utils import timezone

from .models import FINISHED_STATUSES, BackgroundJob, JobStatus

logger = logging.getLogger(__name__)

# A running job without a heartbeat for this long lost its worker: job_claim may take it over.
# Far above the longest step that reports nothing (one import transaction: seconds).
STALE_AFTER = timedelta(minutes=15)
# A queued job not started after this long: its page says the worker may not be running.
QUEUED_TOO_LONG = timedelta(minutes=2)
# The message of a job that lost its worker and was never taken over (sweep_lost_jobs).
LOST_MESSAGE = (
    "后台处理中断（服务器重启或后台任务程序异常退出），未完成，也没有留下不完整的结果。"
    "请重新操作；如果再次出现，请联系系统管理员（任务编号 {pk}）"
)
MESSAGE_MAX_LENGTH = BackgroundJob._meta.get_field("message").max_length


def _short(message: str) -> str:
    message = str(message or "")
    if len(message) > MESSAGE_MAX_LENGTH:
        message = message[: MESSAGE_MAX_LENGTH - 1] + "…"
    return message


def job_create(
    *, kind: str, user, params: dict | None = None, total: int | None = None, message: str = ""
) -> BackgroundJob:
    """A new queued job of ``user``. ``params``: JSON the task needs (ids, never residents' data)."""
    return BackgroundJob.objects.create(
        kind=kind, user=user, params=params or {}, total=total, message=_short(message or "已排队，等待后台处理")
    )


def job_claim(job_id: int, *, now=None) -> BackgroundJob | None:
    """Take the job to run it: the job, or None when it is not there to take (finished, running
    elsewhere, deleted). A conditional UPDATE, so two workers never both get it."""
    now = now or timezone.now()
    fields = {"status": JobStatus.RUNNING, "started_at": now, "heartbeat_at": now}
    claimed = BackgroundJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(**fields)
    if not claimed:
        # A worker killed mid-job leaves it "running"; its redelivered message takes it over.
        claimed = BackgroundJob.objects.filter(
            pk=job_id, status=JobStatus.RUNNING, heartbeat_at__lt=now - STALE_AFTER
        ).update(**fields)
    if not claimed:
        return None
    return BackgroundJob.objects.select_related("user").get(pk=job_id)


def job_progress(job: BackgroundJob, *, done: int, total: int | None = None, message: str | None = None) -> None:
    """Record how far a running job is (``total`` and ``message`` only when given; ``total=0``:
    the amount of work is not known, the page shows a bar without a value)."""
    fields = {"done": max(0, done), "heartbeat_at": timezone.now()}
    if total is not None:
        fields["total"] = max(0, total)
    if message is not None:
        fields["message"] = _short(message)
    BackgroundJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(**fields)
    for name, value in fields.items():
        setattr(job, name, value)


def job_finish(job: BackgroundJob, *, result: dict | None = None, result_file: str = "", message: str = "") -> None:
    """The job is done: its result (JSON), an optional file (relative to MEDIA_ROOT), a message."""
    now = timezone.now()
    fields = {
        "status": JobStatus.DONE,
        "result": result or {},
        "result_file": result_file,
        "message": _short(message or "已完成"),
        "finished_at": now,
        "heartbeat_at": now,
    }
    if job.total:
        fields["done"] = job.total
    BackgroundJob.objects.filter(pk=job.pk).exclude(status__in=FINISHED_STATUSES).update(**fields)
    for name, value in fields.items():
        setattr(job, name, value)


def job_fail(job: BackgroundJob, *, message: str, result: dict | None = None) -> None:
    """The job failed; ``message`` is shown to the user as it is (say what happened and what to do)."""
    now = timezone.now()
    fields = {"status": JobStatus.FAILED, "message": _short(message), "finished_at": now, "heartbeat_at": now}
    if result is not None:
        fields["result"] = result
    BackgroundJob.objects.filter(pk=job.pk).exclude(status__in=FINISHED_STATUSES).update(**fields)
    for name, value in fields.items():
        setattr(job, name, value)


# Apps above core register what follows a background job that is over: fn(job) (module docstring).
_OVER_LISTENERS: list[Callable] = []


def on_background_job_over(listener: Callable) -> Callable:
    if listener not in _OVER_LISTENERS:
        _OVER_LISTENERS.append(listener)
    return listener


def background_job_over(job: BackgroundJob) -> None:
    """Tell the listeners that ``job``, run in the background, is over; a listener that raises is
    logged and does not undo the job (its file is there, its status written)."""
    for listener in _OVER_LISTENERS:
        try:
            with transaction.atomic():
                listener(job)
        except Exception:
            logger.exception("后台任务 #%s（%s）结束的通知未能发出", job.pk, job.kind)


def run_or_retry(task, job_id: int, run) -> None:
    """The body of every job's Celery task (``acks_late``): ``run(job_id)`` returns None when the job
    is not there to take (finished, or running elsewhere: ``job_claim``). A job still unfinished then
    runs elsewhere or lost its worker: the task comes back once a dead worker's heartbeat would be
    stale (``STALE_AFTER``, below Redis' one-hour visibility timeout) and takes the job over."""
    unfinished = BackgroundJob.objects.filter(pk=job_id).exclude(status__in=FINISHED_STATUSES)
    if run(job_id) is None and unfinished.exists():
        raise task.retry(countdown=STALE_AFTER.total_seconds() + 60)


def job_delays(job: BackgroundJob, *, now=None) -> dict:
    """What a job's page warns of: ``waiting_long`` (queued for ``QUEUED_TOO_LONG``: is the worker
    running?) and ``stalled`` (running without a heartbeat for ``STALE_AFTER``: its worker died)."""
    now = now or timezone.now()
    return {
        "waiting_long": job.status == JobStatus.QUEUED and now - job.created_at > QUEUED_TOO_LONG,
        "stalled": job.status == JobStatus.RUNNING
        and job.heartbeat_at is not None
        and now - job.heartbeat_at > STALE_AFTER,
    }


def lost_after() -> timedelta:
    """How long a running job goes without a heartbeat before ``sweep_lost_jobs`` gives it up: time
    for the broker to deliver its task again (Redis: the visibility timeout; the filesystem broker
    of ``make run`` never does) and for that delivery to take the job over, twice ``STALE_AFTER``."""
    from django.conf import settings

    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    return timedelta(seconds=options.get("visibility_timeout", 0)) + 2 * STALE_AFTER


def sweep_lost_jobs(*, now=None) -> list[int]:
    """Fail the running jobs whose worker died and that no delivery took over (``lost_after``),
    with ``LOST_MESSAGE``, and tell their users (``background_job_over``); their ids. A job's work is
    all or nothing (a transaction, a .part file renamed when whole), so nothing half-done is left;
    a late delivery finds the job failed and does nothing."""
    now = now or timezone.now()
    lost = list(
        BackgroundJob.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=now - lost_after()).select_related(
            "user"
        )
    )
    swept = []
    for job in lost:
        updated = BackgroundJob.objects.filter(
            pk=job.pk, status=JobStatus.RUNNING, heartbeat_at__lt=now - lost_after()
        ).update(status=JobStatus.FAILED, message=_short(LOST_MESSAGE.format(pk=job.pk)), finished_at=now)
        if updated:
            job.refresh_from_db()
            background_job_over(job)
            swept.append(job.pk)
    return swept


def get_job_for_user(user, job_id, *, kinds=None) -> BackgroundJob:
    """The user's own job (of one of ``kinds``); Http404 for a missing id and for anybody else's."""
    jobs = BackgroundJob.objects.visible_to(user)
    if kinds is not None:
        jobs = jobs.filter(kind__in=kinds)
    job = jobs.filter(pk=job_id).first() if job_id is not None else None
    if job is None:
        raise Http404("没有这个后台任务")
    return job


def job_status(job: BackgroundJob) -> dict:
    """What a status endpoint answers: no result, no params — only how far the job is."""
    return {
        "id": job.pk,
        "status": job.status,
        "status_display": job.get_status_display(),
        "done": job.done,
        "total": job.total,
        "percent": job.percent,
        "message": job.message,
        "finished": job.finished,
    }


class ProgressReporter:
    """``job_progress`` at most once per ``interval`` seconds (a 200,000-row job reports often).

    Call it as ``reporter(done, total=None, message=None)``; ``force=True`` writes at once (a new
    step, a new message).
    """

    def __init__(self, job: BackgroundJob, *, interval: float = 1.0, clock=time.monotonic):
        self.job = job
        self.interval = interval
        self.clock = clock
        self.last = None

    def __call__(self, done: int, total: int | None = None, message: str | None = None, *, force: bool = False):
        now = self.clock()
        if not force and self.last is not None and now - self.last < self.interval:
            return
        self.last = now
        job_progress(self.job, done=done, total=total, message=message)
