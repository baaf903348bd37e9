"""Celery tasks of the register: the large imports (households.import_jobs).

``register_job_task`` takes the id of a BackgroundJob (a check or an import of an uploaded
register) and runs it with the same function that runs a small upload inline in the request.
It is started with ``delay_on_commit``, so a request that rolls back enqueues nothing.

Idempotent by construction (``acks_late`` may deliver it twice): the job is claimed with a
conditional UPDATE (core.jobs.job_claim), so a second delivery finds it taken or finished and
does nothing. An import is all or nothing, so a worker killed mid-import leaves nothing behind.
A delivery that finds the job still running — elsewhere, or in a worker that died — comes back
once a dead worker's heartbeat would be stale (core.jobs.STALE_AFTER, below Redis' one-hour
visibility timeout) and then takes the job over and runs it whole. No other retry: a failure is
reported on the job's page, and the user uploads again.
"""

from functools import partial

from celery import shared_task


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=1)
def register_job_task(self, job_id: int) -> None:
    """Run the register check or import job ``job_id`` (households.import_jobs.run_register_job)."""
    from core.jobs import run_or_retry

    from .import_jobs import run_register_job

    run_or_retry(self, job_id, run_register_job)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=1)
def register_export_task(self, job_id: int) -> None:
    """Run the register export job ``job_id`` (households.export_jobs.run_register_export); claimed
    and retried as ``register_job_task``: a redelivery takes over a job whose worker died once its
    heartbeat is stale, and writes the file afresh (a .part file renamed when whole). The user is
    told when it is over (core.jobs.background_job_over: the notification every background export
    sends)."""
    from core.jobs import run_or_retry

    from .export_jobs import run_register_export

    run_or_retry(self, job_id, partial(run_register_export, notify_user=True))
