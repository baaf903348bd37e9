"""The ledger exports as background jobs (core.jobs): 入户走访台账, 特殊困难群体台账, 月度入户表, 督查扣分表,
and the 综合评议 (reports.evaluation).

One path for every export: the view records a job (``start_export_job``: the kind and the ids of
its filters) and ``run_export_job`` writes the file under MEDIA_ROOT/exports/<user id>/ with its
progress (rows done / total) and finishes the job — inline in the request when the ledger has at
most EXPORT_BACKGROUND_ROWS rows (the view then hands the file over at once, as before), in the
Celery task ``reports.tasks.export_job_task`` for a larger one (a campaign's 300,000 visits take
about a minute): the user watches the progress page, or leaves it and finds the file in 我的导出,
told by a notification when it is ready (``notify_finished``, registered with
core.jobs.on_background_job_over: the register export of households tells its user the same way).

The job re-reads its filters through the user's scope when it runs (``visible_campaigns``,
``visible_communities``, and the ledger's own ``visible_to``; the 综合评议 also asks
``may_evaluate`` again), so it never reaches past what the user may see then. The file is the
user's alone (core.jobs.get_job_for_user) and kept EXPORT_KEEP_DAYS days (``purge_expired_exports``,
daily: every export kind, the register's too). Every download is written to the access log
(``AccessLog``: what, rows, IP) — as the exports in the request always were.
"""

from __future__ import annotations

import datetime
import logging
import os
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from core.jobs import ProgressReporter, background_job_over, job_claim, job_create, job_fail, job_finish
from core.models import FINISHED_STATUSES, BackgroundJob, JobStatus
from core.replica import reading_from_replica
from households.export_jobs import EXPORT_SUBDIR, REGISTER_EXPORT, export_file_name

from ..evaluation import may_evaluate
from . import excel
from .forms import visible_campaigns, visible_communities

logger = logging.getLogger(__name__)

VISITS = "reports.export_ledger_visits"
HARDSHIP = "reports.export_ledger_hardship"
MONTHLY = "reports.export_ledger_monthly"
SUPERVISION = "reports.export_ledger_supervision"
EVALUATION = "reports.export_evaluation"
KINDS = (VISITS, HARDSHIP, MONTHLY, SUPERVISION, EVALUATION)
# Every export job: the ledgers and the register export (households.export_jobs). Their files are
# under MEDIA_ROOT/exports/<user id>/; the job pages, 我的导出 and the purge handle them alike.
EXPORT_KINDS = (*KINDS, REGISTER_EXPORT)
KIND_LABELS = {
    VISITS: "入户走访台账",
    HARDSHIP: "特殊困难群体台账",
    MONTHLY: "月度大走访活动入户表",
    SUPERVISION: "督查扣分表",
    EVALUATION: "综合评议",
    REGISTER_EXPORT: "居民底册",
}


class ExportRefused(Exception):
    """The export may not run (any more); the message is for the user."""


def background_rows() -> int:
    return settings.EXPORT_BACKGROUND_ROWS


def keep_days() -> int:
    return settings.EXPORT_KEEP_DAYS


# ------------------------------------------------------------------------------------------------ params


def export_params(*, campaign=None, community=None, date_from=None, date_to=None, month=None) -> dict:
    """The filters as JSON ids and ISO dates (never residents' data)."""
    return {
        "campaign": campaign.pk if campaign is not None else None,
        "community": community.pk if community is not None else None,
        "from": date_from.isoformat() if date_from else None,
        "to": date_to.isoformat() if date_to else None,
        "month": month.isoformat() if month else None,
    }


def _date(value):
    return datetime.date.fromisoformat(value) if value else None


def _campaign(user, params):
    campaign = visible_campaigns(user).filter(pk=params.get("campaign")).first()
    if campaign is None:
        raise ExportRefused("你已无权导出该走访活动（或它已被删除），未生成文件")
    return campaign


def _community(user, params):
    if params.get("community") is None:
        return None
    community = visible_communities(user).filter(pk=params["community"]).first()
    if community is None:
        raise ExportRefused("你已无权导出所选社区（或它已被删除），未生成文件")
    return community


def ledger_export(job: BackgroundJob) -> excel.LedgerExport:
    """The ledger the job asks for, for its user as the user's scope is now."""
    user, params = job.user, job.params
    if not user.is_active:
        raise ExportRefused("账号已停用，未生成文件")
    if job.kind == VISITS:
        return excel.visit_ledger_export(
            user,
            campaign=_campaign(user, params),
            community=_community(user, params),
            date_from=_date(params.get("from")),
            date_to=_date(params.get("to")),
        )
    if job.kind == HARDSHIP:
        return excel.hardship_ledger_export(user, community=_community(user, params))
    if job.kind == MONTHLY:
        return excel.monthly_report_export(user, month=_date(params.get("month")))
    if job.kind == SUPERVISION:
        return excel.supervision_export(user, campaign=_campaign(user, params))
    if job.kind == EVALUATION:
        # The view's rule (reports.views._evaluation_campaign), asked again as the user is now.
        if not may_evaluate(user):
            raise ExportRefused("你已无权查看综合评议（只有街道管理员和领导可以查看），未生成文件")
        return excel.evaluation_export(user, campaign=_campaign(user, params))
    raise ExportRefused(f"未知的导出类型：{job.kind}")


# ------------------------------------------------------------------------------------------------ jobs


def start_export_job(*, kind: str, user, params: dict, export: excel.LedgerExport) -> BackgroundJob:
    """Record an export job of ``export`` (built by the view for ``user`` from ``params``) and run
    it: inline when it has at most EXPORT_BACKGROUND_ROWS rows (the job comes back finished, written
    from ``export`` itself: the request builds it once), else in the background (queued when the
    request's transaction commits; the task builds it again from ``params``)."""
    job = job_create(kind=kind, user=user, params=params, total=export.rows, message="已排队，等待后台生成文件")
    if export.rows > background_rows():
        from ..tasks import export_job_task

        export_job_task.delay_on_commit(job.pk)
    else:
        run_export_job(job.pk, export=export)
        job.refresh_from_db()
    return job


def run_export_job(
    job_id: int, *, notify_user: bool = False, export: excel.LedgerExport | None = None
) -> BackgroundJob | None:
    """Write the job's ledger to its file with progress, and finish the job (its result: what,
    rows, the download name, the size) or fail it with the reason. None when the job is not there
    to take (finished, running elsewhere). ``notify_user``: tell the user when it is over (a
    background export; the user may have left the page). ``export``: the one the view has just
    built for the job's user (inline, in its request); else it is built from the job's params, as
    the user's rights and scope are now (``ledger_export``)."""
    job = job_claim(job_id)
    if job is None:
        return None
    path = Path(settings.MEDIA_ROOT) / export_file_name(job)
    try:
        # Read from the replica when there is one (core.replica; the primary when it lags or is
        # down); the job's own progress is written to the primary.
        with reading_from_replica():
            if export is None:
                export = ledger_export(job)
            reporter = ProgressReporter(job)
            reporter(0, export.rows, f"正在生成{KIND_LABELS[job.kind]}，共 {export.rows} 行", force=True)
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".part")
            with open(partial, "wb") as f:
                rows = export.write(f, lambda done: reporter(done, export.rows, f"已写入 {done} / {export.rows} 行"))
        os.replace(partial, path)  # a file is there whole or not at all
    except ExportRefused as exc:
        job_fail(job, message=str(exc))
    except Exception:
        logger.exception("export job %s (%s) failed", job.pk, job.kind)
        path.with_suffix(".part").unlink(missing_ok=True)
        job_fail(
            job, message=f"生成文件时发生意外错误，请稍后重新导出；如果再次出现，请联系系统管理员（任务编号 {job.pk}）"
        )
    else:
        result = {"what": export.what, "rows": rows, "filename": export.filename, "size": path.stat().st_size}
        job_finish(job, result=result, result_file=export_file_name(job), message=f"已完成：共 {rows} 行")
    if notify_user:
        background_job_over(job)
    return job


def notify_finished(job: BackgroundJob) -> int:
    """A notification (the bell in the header) that a background export is over: a ledger's, the
    register's (households.export_jobs). Registered with core.jobs.on_background_job_over
    (reports/apps.py); another kind of job is not an export's and is not told here."""
    from issues.notifications.services import notify

    if job.kind not in EXPORT_KINDS:
        return 0
    label = KIND_LABELS.get(job.kind, "导出")
    if job.status == JobStatus.DONE:
        title = f"{label}已生成"
        body = (
            f"{job.result.get('what', label)}：共 {job.result.get('rows', 0)} 行。"
            f"请到“我的导出”下载（文件保留 {keep_days()} 天）。"
        )
    else:
        title = f"{label}导出失败"
        body = f"{job.message}（详见“我的导出”）"
    return notify([job.user], title=title, body=body)


# ------------------------------------------------------------------------------------------------ retention


def expires_at(job: BackgroundJob):
    return job.finished_at + timedelta(days=keep_days()) if job.finished_at else None


def purge_expired_exports(*, now=None) -> int:
    """Delete the export files older than EXPORT_KEEP_DAYS — of every export kind, the register's
    too — and mark their jobs' files gone (``result["expired"]``); how many. Idempotent: a second
    run finds nothing left to delete."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=keep_days())
    old = BackgroundJob.objects.filter(
        kind__in=EXPORT_KINDS,
        status__in=FINISHED_STATUSES,
        finished_at__lt=cutoff,
        result_file__startswith=EXPORT_SUBDIR + "/",
    )
    purged = 0
    root = Path(settings.MEDIA_ROOT)
    for job in old.only("pk", "result", "result_file"):
        (root / job.result_file).unlink(missing_ok=True)
        result = {**(job.result or {}), "expired": True}
        BackgroundJob.objects.filter(pk=job.pk).update(result_file="", result=result)
        purged += 1
    return purged
