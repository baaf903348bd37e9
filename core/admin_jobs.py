"""Long work started from the admin, run as background jobs (core.jobs): what every such kind shares.

包户到人, 重新计算统计数据 and a large 干部名册 import each run in a Celery task on a BackgroundJob,
as the register import does (households/import_jobs.py): the admin records the job and starts the
task once its request commits, redirects to the job's page and is done; the task claims the job,
checks again that its user may still do it, does the work with its progress, finishes or fails the
job, and tells its user. This module holds what the kinds share:

- ``JobKind`` / ``register``: a kind's label, where its result is found later, its Celery task.
  Each app declares its kinds in its own ``admin_jobs`` module, found the way the admin finds the
  ``admin`` modules (``autodiscover_modules``): so visitplan's CampaignAdmin starts visits' tally
  rebuild by its kind's name, without importing visits (the apps depend one way, .importlinter).
- ``start``: record a job and start its task when the request's transaction commits.
- ``core.jobs.run_or_retry``: the body of every kind's task (``acks_late``): the job is claimed with a
  conditional UPDATE (``job_claim``), so a second delivery finds it taken or finished and does
  nothing; a delivery that finds it still running — in a worker that died — comes back once its
  heartbeat is stale (``STALE_AFTER``) and takes it over. Every kind here writes in one transaction,
  so a dead worker left nothing behind and the job is run whole again.
- ``job_urls`` / ``job_url``: the job's page under a ModelAdmin (``job/?job=N``; ``&format=json``:
  its status, polled by static/js/job-progress.js), for its user only (404 for anybody else, as for a
  missing job). The page (templates/admin/core/job.html) shows the progress bar while the job runs,
  then its result — the lines, links and level every kind writes with ``job_result`` — or why it
  failed.
- ``notice``: the notification's title and text once a job that ran in the background is over
  (sent by issues/notifications/jobs.py, a listener of ``core.jobs.background_job_over``).
- ``TransactionProgress``: the progress of work that is one long transaction (all or nothing).
  Written in the transaction, nobody would see it before the commit; on PostgreSQL it goes through a
  connection of its own, committed at once, so the bar moves while the work runs. On SQLite (one
  writer at a time: the work's transaction holds the database's write lock) it is written in the
  transaction and seen at its end: the page shows a bar without a value meanwhile.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections
from django.db.models.sql import UpdateQuery
from django.db.models.sql.constants import ROW_COUNT
from django.http import JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules, import_string

from .jobs import ProgressReporter, _short, get_job_for_user, job_create, job_delays, job_progress, job_status
from .models import BackgroundJob, JobStatus
from .params import int_param

logger = logging.getLogger(__name__)

# What a job's result lines may say about its outcome (the colour of the page's message box).
LEVELS = ("success", "warning", "error")


# ------------------------------------------------------------------------------------------------ kinds


@dataclass(frozen=True)
class JobKind:
    """One kind of job started from the admin.

    ``kind``: BackgroundJob.kind; ``label``: what the job does, in the user's words (the page's
    title, the notification's); ``where``: where its result is found later, for the notification;
    ``task``: the dotted path of its Celery task, which takes the job's id."""

    kind: str
    label: str
    where: str
    task: str


_KINDS: dict[str, JobKind] = {}
_discovered = False


def register(job_kind: JobKind) -> JobKind:
    _KINDS[job_kind.kind] = job_kind
    return job_kind


def kind_of(kind: str) -> JobKind | None:
    """The registered kind (every app's ``admin_jobs`` module is imported first), or None."""
    global _discovered
    if not _discovered:
        autodiscover_modules("admin_jobs")
        _discovered = True
    return _KINDS.get(kind)


def start(kind: str, *, user, params: dict, total: int | None = None) -> BackgroundJob:
    """Record a job of ``kind`` for ``user`` and start its task when the request commits (a
    request that rolls back starts nothing). ``params``: the ids the task needs."""
    job_kind = kind_of(kind)
    if job_kind is None:
        raise LookupError(f"no admin job kind {kind!r}")
    job = job_create(kind=kind, user=user, params=params, total=total)
    import_string(job_kind.task).delay_on_commit(job.pk)
    return job


def job_result(lines, *, level: str = "success", links=(), **extra) -> dict:
    """A job's result as the page shows it: ``lines`` of text, their ``level`` (success, warning,
    error) and ``links`` ((label, url), …); ``extra``: figures of the kind's own."""
    assert level in LEVELS, level
    return {"lines": [str(line) for line in lines], "level": level, "links": [list(link) for link in links], **extra}


def notice(job: BackgroundJob) -> tuple[str, str] | None:
    """(title, text) of the notification that ``job`` is over; None for a job of another kind."""
    job_kind = kind_of(job.kind)
    if job_kind is None or not job.finished:
        return None
    if job.status == JobStatus.DONE:
        return f"{job_kind.label}已完成", f"{job.message}\n{job_kind.where}"
    return f"{job_kind.label}未完成", f"{job.message}\n{job_kind.where}"


# ------------------------------------------------------------------------------------------------ the page


def _url_name(model_admin) -> str:
    opts = model_admin.model._meta
    return f"{opts.app_label}_{opts.model_name}_job"


def job_urls(model_admin, kinds) -> list:
    """The job page of a ModelAdmin (``job/``), for its ``get_urls`` (before the default ones); it
    shows the user's jobs of ``kinds`` only."""
    view = functools.partial(job_view, model_admin=model_admin, kinds=tuple(kinds))
    return [path("job/", model_admin.admin_site.admin_view(view), name=_url_name(model_admin))]


def job_url(model_admin, job: BackgroundJob) -> str:
    return f"{reverse(f'{model_admin.admin_site.name}:{_url_name(model_admin)}')}?job={job.pk}"


def job_view(request, *, model_admin, kinds):
    """A job of the user: its progress while it runs, then its result or why it failed.
    ``format=json``: its status only, for the page's polling script."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    job_id = int_param(request, "job")
    if job_id is None:
        opts = model_admin.model._meta
        return redirect(f"{model_admin.admin_site.name}:{opts.app_label}_{opts.model_name}_changelist")
    job = get_job_for_user(request.user, job_id, kinds=kinds)
    if request.GET.get("format") == "json":
        response = JsonResponse(job_status(job))
        response["Cache-Control"] = "no-store"
        return response
    job_kind = kind_of(job.kind)
    label = job_kind.label if job_kind else job.kind
    now = timezone.now()
    url = job_url(model_admin, job)
    result = job.result or {}
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": f"{label} · {job.get_status_display()}",
        "label": label,
        "job": job,
        "refresh_url": url,
        "status_url": f"{url}&format=json",
        "lines": result.get("lines") or [],
        "level": result.get("level") if result.get("level") in LEVELS else "success",
        "links": result.get("links") or [],
        **job_delays(job, now=now),
    }
    response = TemplateResponse(request, "admin/core/job.html", context)
    response["Cache-Control"] = "no-store"
    return response


# ------------------------------------------------------------------------------------------------ progress


class TransactionProgress(ProgressReporter):
    """A ``ProgressReporter`` for work that runs in one long transaction (see the module docstring):
    on PostgreSQL each report is written through a connection of its own and committed at once.

    A report that cannot be written there — not PostgreSQL, no transaction open, the job's row not
    visible to another connection (not committed yet: a test's transaction), an error — is written
    in the transaction instead, as ``job_progress`` does, and so is every later one: once the
    transaction holds the job's row, a write from outside would wait for it. Use it as a context
    manager (it closes its connection)."""

    LOCK_TIMEOUT = "5s"  # the job's row is never held for long; never wait on it longer

    def __init__(self, job: BackgroundJob, **kwargs):
        super().__init__(job, **kwargs)
        self.outside = None
        self.inside = connection.vendor != "postgresql"

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if self.outside is not None:
            self.outside.close()
            self.outside = None

    def __call__(self, done: int, total: int | None = None, message: str | None = None, *, force: bool = False):
        now = self.clock()
        if not force and self.last is not None and now - self.last < self.interval:
            return
        self.last = now
        if not self._write_outside(done, total, message):
            job_progress(self.job, done=done, total=total, message=message)

    def _write_outside(self, done, total, message) -> bool:
        if self.inside or not connection.in_atomic_block:
            return False
        fields = {"done": max(0, done), "heartbeat_at": timezone.now()}
        if total is not None:
            fields["total"] = max(0, total)
        if message is not None:
            fields["message"] = _short(message)
        query = BackgroundJob.objects.filter(pk=self.job.pk, status=JobStatus.RUNNING).query.chain(UpdateQuery)
        query.add_update_values(fields)
        try:
            if self.outside is None:
                self.outside = connections.create_connection(DEFAULT_DB_ALIAS)
                with self.outside.cursor() as cursor:
                    cursor.execute(f"SET lock_timeout = '{self.LOCK_TIMEOUT}'")
            updated = query.get_compiler(connection=self.outside).execute_sql(ROW_COUNT)
        except DatabaseError:
            logger.warning("job %s: progress not written outside its transaction", self.job.pk, exc_info=True)
            updated = 0
        if not updated:
            self.inside = True
            return False
        for name, value in fields.items():
            setattr(self.job, name, value)
        return True
