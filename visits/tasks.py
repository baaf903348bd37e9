"""Celery tasks of visits: the daily 回头看 list (``visits.followups.build_followups``), the
nightly rebuild of the dashboard's tallies (``visits.tally.rebuild_current``) and the rebuild of one
campaign's tallies started from the admin (``rebuild_job_task``, visits/admin_jobs.py).

Idempotent by construction (the project runs with ``acks_late``): the unique constraint on
``FollowUp.issue`` means a task delivered twice lists nothing twice. Beat runs it every morning at
07:30 Asia/Shanghai, before the 08:00 reminders; ``manage.py build_followups --date`` runs the same
function for any day.
"""

from __future__ import annotations

from datetime import date
from functools import partial

from celery import shared_task

from core import clock


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=120, retry_backoff_max=1800, max_retries=3)
def build_followups_task(day_iso: str | None = None) -> dict:
    """Build the follow-up lists for ``day_iso`` (YYYY-MM-DD), by default today in Asia/Shanghai."""
    from .followups import build_followups

    day = date.fromisoformat(day_iso) if day_iso else clock.today()
    report = build_followups(day=day)
    return {"day": day.isoformat(), "created": report.created, "already_listed": report.already_listed,
            "without_cadre": len(report.without_cadre)}  # fmt: skip


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=300, max_retries=3)
def rebuild_tallies_task(day_iso: str | None = None) -> dict:
    """Recompute the tallies of this year's and last year's campaigns from their visits."""
    from .tally import rebuild_current

    day = date.fromisoformat(day_iso) if day_iso else clock.today()
    return {str(pk): figures for pk, figures in rebuild_current(day).items()}


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=1)
def rebuild_job_task(self, job_id: int) -> None:
    """Run the 重新计算统计数据 job ``job_id`` (visits.admin_jobs.run_rebuild) and tell its user.

    Idempotent as visitplan.tasks.allocation_job_task: the job is claimed with a conditional
    UPDATE, and the rebuild is one transaction; a redelivered message takes over the job of a
    worker that died once its heartbeat is stale (core.jobs.run_or_retry)."""
    from core.jobs import run_or_retry

    from .admin_jobs import run_rebuild

    run_or_retry(self, job_id, partial(run_rebuild, notify_user=True))
