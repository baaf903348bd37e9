"""The register export (居民底册) as a background job (core.jobs), and handing an export job's file over.

One path for every register export, from the households page and from the admin: the view records
a job with the ids of the households it exports (already scoped) and ``run_register_export`` writes
the file under MEDIA_ROOT/exports/<user id>/ with its progress — inline in the request when there
are at most EXPORT_BACKGROUND_ROWS households (the file is handed over at once, as before), in the
Celery task ``households.tasks.register_export_task`` for more (the user is sent to the job's page,
reports' 我的导出, and told by a notification when it is over, as for the ledgers). The task scopes
the ids again through the user's ``visible_to`` and masks as the user's role requires when it runs.

``export_file_response`` hands a finished export job's file to its user and writes the access log
(AccessLog: what, rows, IP): an export is logged when the user gets the file, as it always was.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from django.conf import settings
from django.http import FileResponse
from django.utils import timezone

from core.jobs import ProgressReporter, background_job_over, job_claim, job_create, job_fail, job_finish
from core.models import BackgroundJob
from core.replica import reading_from_replica

from .access_log import access_log_record
from .levels import for_user
from .masking import can_view_full_pii
from .models import Household

logger = logging.getLogger(__name__)

REGISTER_EXPORT = "households.register_export"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXPORT_SUBDIR = "exports"  # under MEDIA_ROOT: exports/<user id>/<job id>.xlsx


def export_file_name(job: BackgroundJob) -> str:
    """An export job's file, relative to MEDIA_ROOT (BackgroundJob.result_file)."""
    return f"{EXPORT_SUBDIR}/{job.user_id}/{job.pk}.xlsx"


def export_file_response(request, job: BackgroundJob):
    """The file of the user's finished export job, logged; None when it is gone (expired)."""
    path = job.result_path
    if path is None:
        return None
    handle = open(path, "rb")  # noqa: SIM115 (FileResponse closes it)
    access_log_record(request, what=job.result.get("what", ""), rows=job.result.get("rows", 0))
    return FileResponse(
        handle, as_attachment=True, filename=job.result.get("filename") or "导出.xlsx", content_type=XLSX
    )


def start_register_export(user, queryset, *, what) -> BackgroundJob:
    """Record a register export of the households of ``queryset`` the user may see and run it:
    inline when small (the job comes back finished), else in the background."""
    scoped = Household.objects.visible_to(user).filter(pk__in=queryset.values("pk"))
    ids = list(scoped.order_by("pk").values_list("pk", flat=True))
    job = job_create(
        kind=REGISTER_EXPORT, user=user, params={"ids": ids, "what": what}, total=len(ids),
        message="已排队，等待后台生成文件",
    )  # fmt: skip
    if len(ids) > settings.EXPORT_BACKGROUND_ROWS:
        from .tasks import register_export_task

        register_export_task.delay_on_commit(job.pk)
    else:
        run_register_export(job.pk)
        job.refresh_from_db()
    return job


def run_register_export(job_id: int, *, notify_user: bool = False) -> BackgroundJob | None:
    """Write the job's register to its file with progress and finish the job, or fail it with the
    reason; None when the job is not there to take (finished, running elsewhere). ``notify_user``:
    tell the user when it is over (a background export: core.jobs.background_job_over, which
    reports answers with the notification every export sends)."""
    job = job_claim(job_id)
    if job is None:
        return None
    _write_register(job)
    if notify_user:
        background_job_over(job)
    return job


def _write_register(job: BackgroundJob) -> None:
    from .register import write_register

    user = job.user
    path = Path(settings.MEDIA_ROOT) / export_file_name(job)
    partial = path.with_suffix(".part")
    try:
        if not user.is_active:
            job_fail(job, message="账号已停用，未生成文件")
            return
        # Scoped again as the user's scope is now, whatever was recorded; read from the replica
        # when there is one (core.replica), the progress written to the primary.
        with reading_from_replica():
            households = Household.objects.visible_to(user).filter(pk__in=job.params.get("ids") or [])
            total = households.count()
            reporter = ProgressReporter(job)
            reporter(0, total, f"正在生成居民底册，共 {total} 户", force=True)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(partial, "wb") as f:
                rows = write_register(
                    households, f, mask=not can_view_full_pii(user), levels=for_user(user),
                    progress=lambda done: reporter(done, total, f"已写入 {done} / {total} 户"),
                )  # fmt: skip
        os.replace(partial, path)
    except Exception:
        logger.exception("register export job %s failed", job.pk)
        partial.unlink(missing_ok=True)
        job_fail(
            job, message=f"生成文件时发生意外错误，请稍后重新导出；如果再次出现，请联系系统管理员（任务编号 {job.pk}）"
        )
        return
    result = {
        "what": job.params.get("what", "居民底册"),
        "rows": rows,
        "filename": f"居民底册_{timezone.localdate():%Y%m%d}.xlsx",
        "size": path.stat().st_size,
    }
    job_finish(job, result=result, result_file=export_file_name(job), message=f"已完成：共 {rows} 户")
