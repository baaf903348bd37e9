"""Celery tasks of the plan: the long work started from its admin (visitplan/admin_jobs.py).

Each takes the id of a BackgroundJob, started with ``delay_on_commit`` (core.admin_jobs.start: a
request that rolls back starts nothing), and runs it with ``core.jobs.run_or_retry``.

Idempotent by construction (``acks_late`` may deliver a task twice): the job is claimed with a
conditional UPDATE (core.jobs.job_claim), so a second delivery finds it taken or finished and does
nothing. Both jobs write in one transaction, so a worker killed mid-job leaves nothing behind; its
message, delivered again, takes the job over once the dead worker's heartbeat is stale
(core.jobs.STALE_AFTER) and runs it whole. No other retry: a failure is told on the job's page and
in a notification, and the user starts again.
"""

from functools import partial

from celery import shared_task


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=1)
def allocation_job_task(self, job_id: int) -> None:
    """Run the 包户到人 job ``job_id`` (visitplan.admin_jobs.run_allocation) and tell its user."""
    from core.jobs import run_or_retry

    from .admin_jobs import run_allocation

    run_or_retry(self, job_id, partial(run_allocation, notify_user=True))


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=1)
def roster_import_task(self, job_id: int) -> None:
    """Run the 干部名册 import job ``job_id`` (visitplan.admin_jobs.run_roster_import) and tell its user."""
    from core.jobs import run_or_retry

    from .admin_jobs import run_roster_import

    run_or_retry(self, job_id, partial(run_roster_import, notify_user=True))
