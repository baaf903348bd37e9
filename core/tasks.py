"""Celery tasks of core: the nightly backup (``core.backups.nightly_backup``, beat at 03:00), the
sweep of background jobs whose worker died (``core.jobs.sweep_lost_jobs``, every 15 minutes), and
the yearly partitions kept ahead (``core.partitions.ensure_all``, on the 1st of each month).

Idempotent by construction (the project runs with ``acks_late``): the night's ``Backup`` row
(``nightly_for``, unique) is the claim, so a task delivered twice backs up once; a claim whose
worker died is taken over after ``core.backups.STALE_AFTER``. No automatic retry: a failed backup
is recorded and told to the street admins once, and ``manage.py backup`` runs one by hand.
"""

from __future__ import annotations

from datetime import date

from celery import shared_task

from core import clock


@shared_task(acks_late=True, max_retries=0)
def backup_task(day_iso: str | None = None) -> dict:
    """Back up the database and the uploaded files for the night of ``day_iso`` (YYYY-MM-DD), by
    default today in Asia/Shanghai."""
    from .backups import nightly_backup

    day = date.fromisoformat(day_iso) if day_iso else clock.today()
    backup = nightly_backup(day)
    if backup is None:
        return {"day": day.isoformat(), "status": "already"}
    return {"day": day.isoformat(), "status": backup.status, "id": backup.pk, "dump_bytes": backup.dump_bytes,
            "media_bytes": backup.media_bytes, "seconds": backup.duration.total_seconds() if backup.duration else None,
            "error": backup.error}  # fmt: skip


@shared_task(acks_late=True, max_retries=0)
def sweep_lost_jobs_task() -> dict:
    """Fail the background jobs whose worker died and that no redelivery took over, and tell their
    users (core.jobs.sweep_lost_jobs; beat every 15 minutes). Idempotent: a swept job is failed."""
    from .jobs import sweep_lost_jobs

    return {"failed": sweep_lost_jobs()}


@shared_task(acks_late=True, max_retries=0)
def ensure_partitions_task(day_iso: str | None = None) -> dict:
    """Create this year's and next year's partitions of the visits and the issue events where missing
    (core.partitions.ensure_all; beat monthly, PostgreSQL only). Idempotent: a second run finds them."""
    from .partitions import ensure_all

    year = (date.fromisoformat(day_iso) if day_iso else clock.today()).year
    return {"years": [year, year + 1], "created": ensure_all([year, year + 1])}
