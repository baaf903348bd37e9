"""Celery tasks of reports: the 月度大走访活动入户表 (``reports.monthly.build_monthly_report``), the
monthly 督查通报 (``reports.bulletin.build_bulletins``, ``build_bulletin_task``: the 1st at 06:30) and
the daily 阶段遗留事项 notices (``reports.leftovers.notify_stage_leftovers``, ``notify_stage_leftovers_task``).

Idempotent by construction (the project runs with ``acks_late``): each street's report of the
month is rebuilt in one transaction (rows deleted, then written fresh), so a task delivered twice
leaves the same rows. Beat runs it on the 1st of every month at 06:00 Asia/Shanghai for the month
before; ``manage.py build_monthly_report --month YYYY-MM`` runs the same function for any month.
"""

from __future__ import annotations

from functools import partial

from celery import shared_task

from core import clock


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=120, retry_backoff_max=1800, max_retries=3)
def build_monthly_report_task(month_iso: str | None = None) -> dict:
    """Build the reports of ``month_iso`` (YYYY-MM), by default the month before today in Asia/Shanghai."""
    from .monthly import build_monthly_report, parse_month, previous_month

    month = parse_month(month_iso) if month_iso else previous_month(clock.today())
    reports = build_monthly_report(month=month)
    return {"month": f"{month:%Y-%m}", "streets": len(reports), "rows": sum(len(r.cadre_rows) for r in reports)}


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=120, retry_backoff_max=1800, max_retries=3)
def build_bulletin_task(month_iso: str | None = None) -> dict:
    """The 督查通报 of ``month_iso`` (YYYY-MM), by default the month before today in Asia/Shanghai, for
    every campaign running in it (``reports.bulletin.build_bulletins``); the street admins and
    leaders are told once per campaign and month, however often the task runs."""
    from .bulletin import build_bulletins
    from .monthly import parse_month, previous_month

    month = parse_month(month_iso) if month_iso else previous_month(clock.today())
    bulletins = build_bulletins(month)
    return {"month": f"{month:%Y-%m}", "bulletins": len(bulletins), "notified": sum(b.notified for b in bulletins)}


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=120, retry_backoff_max=1800, max_retries=3)
def notify_stage_leftovers_task(day_iso: str | None = None) -> dict:
    """阶段遗留事项 (``reports.leftovers.notify_stage_leftovers``) for ``day_iso`` (YYYY-MM-DD), by
    default today in Asia/Shanghai: the stages that ended before it. Once per stage and person (the
    ``StageNotice`` claim), so a task delivered twice tells nobody twice."""
    from datetime import date

    from .leftovers import notify_stage_leftovers

    day = date.fromisoformat(day_iso) if day_iso else clock.today()
    report = notify_stage_leftovers(day=day)
    return {"day": day.isoformat(), "sent": report.sent, "already": report.already}


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=1)
def export_job_task(self, job_id: int) -> None:
    """Run the ledger export job ``job_id`` (reports.ledgers.jobs.run_export_job) and tell its user.

    Idempotent as households.tasks.register_job_task: the job is claimed with a conditional UPDATE,
    so a second delivery finds it taken or finished. A delivery that finds it still running — in a
    worker that died — comes back once its heartbeat is stale (core.jobs.STALE_AFTER) and takes it
    over; the file is written afresh (to a .part file renamed when whole)."""
    from core.jobs import run_or_retry

    from .ledgers.jobs import run_export_job

    run_or_retry(self, job_id, partial(run_export_job, notify_user=True))


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=120, retry_backoff_max=1800, max_retries=3)
def purge_expired_exports_task() -> dict:
    """Delete the export files older than EXPORT_KEEP_DAYS (reports.ledgers.jobs.purge_expired_exports)."""
    from .ledgers.jobs import purge_expired_exports

    return {"purged": purge_expired_exports()}
