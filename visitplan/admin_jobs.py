"""The plan's long work started from the admin, as background jobs (core.admin_jobs): 包户到人 and a
large 干部名册 import; and who may start them (and 重新计算统计数据, visits/admin_jobs.py).

包户到人 (``ALLOCATE``): 执行自动分配 on a campaign's 分配报告 page and the list's action
(visitplan/admin.py) start a job; the Celery task ``visitplan.tasks.allocation_job_task`` runs
``run_allocation``: the rules are visitplan.allocation's (``allocate``, one transaction), the job's
page shows the progress (reading, the tiers, the rows written) and then the report's lines — the
ones the admin's message used to give — with a link back to 分配报告. Two runs at once: the second
waits for the first's lock and adds nothing; a clash on the unique constraints fails the job with
"分配时有人同时修改了包户，本次未写入，请重试". The preview (试算, a dry run that writes nothing and
takes a few seconds for a district) stays in its request.

干部名册导入 (``ROSTER_IMPORT``): django-import-export's two steps stay as they are for a file of
up to ROSTER_BACKGROUND_ROWS rows. For a larger one the preview (试导入) still runs in its request —
import-export builds it, a table of every row with its changes, from an in-memory result that a
job could not hand back; the roster is at most STAFF_LIST_MAX_ROWS rows (5,000 take about 5 s) —
and 确认导入 becomes the job (``start_roster_import``, the task
``visitplan.tasks.roster_import_task``): the upload is kept under MEDIA_ROOT/imports/ (where the
register's uploads are kept, and purged after 24 hours: the worker does not see the web server's
/tmp), then imported all or nothing with the resource's rules (visitplan/sheets/), with the same
messages as within the request: import-export's "导入成功，新增…" with the admin log entries, or
"发现 N 行有误，未导入任何数据" and every problem.

Every job checks again, when it runs, that its user may still do it (the rights and the scope may
have changed since): ``can_allocate`` for 包户到人, ``may_import_roster`` and the resource's own
scope for the roster.
"""

from __future__ import annotations

import logging
import secrets

from django.conf import settings
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.db import IntegrityError
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext
from import_export.results import RowResult
from import_export.signals import post_import

from core.admin_jobs import JobKind, TransactionProgress, job_result, register, start
from core.jobs import background_job_over, job_claim, job_fail, job_finish
from core.models import BackgroundJob
from households.import_jobs import upload_path
from households.scoping import scope_paths

from .allocation import allocate
from .models import Cadre, Campaign
from .sheets import CadreResource, SheetFileError, import_error_message, read_sheet
from .sheets.roster import TABLE as ROSTER_TABLE

logger = logging.getLogger(__name__)

ALLOCATE = "visitplan.allocate"
ROSTER_IMPORT = "visitplan.roster_import"

register(
    JobKind(
        ALLOCATE,
        label="包户到人（自动分配）",
        where="详见管理后台“走访活动”中该活动的“分配报告”。",
        task="visitplan.tasks.allocation_job_task",
    )
)
register(
    JobKind(
        ROSTER_IMPORT,
        label="干部名册导入",
        where="详见管理后台“干部”列表。",
        task="visitplan.tasks.roster_import_task",
    )
)

# Households named in the report's lines; the 分配报告 page lists them all.
UNCOVERED_IN_MESSAGE = 20
CONCURRENT_CHANGE = "分配时有人同时修改了包户，本次未写入，请重试"
STARTED_ALLOCATION = "已开始：正在自动分配包户（读取本街道的数据、逐层分配、写入），请稍候"
ROSTER_PERMISSIONS = ("visitplan.add_cadre", "visitplan.change_cadre")


class JobRefused(Exception):
    """The job may not run (any more); the message is for the user."""


# ------------------------------------------------------------------------------------------------ who may


def covers_street(user, campaign) -> bool:
    """Whether the user's scope is the campaign's whole street (or the user is a superuser)."""
    paths = scope_paths(user)
    if paths is None:
        return True
    street_path = campaign.street.path
    return any(street_path == p or street_path.startswith(p + ".") for p in paths)


def can_allocate(user, campaign) -> bool:
    """Only someone whose scope is the whole street (or a superuser) may allocate its campaign."""
    if not user.has_perm("visitplan.change_campaign") or not user.has_perm("visitplan.add_assignment"):
        return False
    return covers_street(user, campaign)


def can_rebuild_tallies(user, campaign) -> bool:
    """重新计算统计数据 of a campaign: who may change it, for the whole street (as 包户到人)."""
    return user.has_perm("visitplan.change_campaign") and covers_street(user, campaign)


def may_import_roster(user) -> bool:
    """The import's permission in the admin (add and change cadres), for a staff user still active."""
    return user.is_active and user.is_staff and user.has_perms(ROSTER_PERMISSIONS)


# ------------------------------------------------------------------------------------------------ 包户到人


def start_allocation(*, user, campaign) -> BackgroundJob:
    return start(ALLOCATE, user=user, params={"campaign": campaign.pk})


def report_lines(report) -> list[str]:
    """The report as the admin tells it: its summary, then the first households left without a cadre."""
    lines = report.summary_lines()
    if report.uncovered:
        lines.append("未落实包户干部的户：")
        lines.extend(f"{address}：{reason}" for _, address, reason in report.uncovered[:UNCOVERED_IN_MESSAGE])
        if len(report.uncovered) > UNCOVERED_IN_MESSAGE:
            lines.append(f"…… 共 {len(report.uncovered):,} 户，完整名单见“分配报告”")
    return lines


class _AllocationProgress:
    """allocate's steps in the user's words: reading the street (a bar without a value), the five
    tiers (a bar over them), writing the new rows (a bar over the rows)."""

    def __init__(self, reporter):
        self.reporter = reporter

    def __call__(self, step, done, total):
        if step == "load":
            self.reporter(0, 0, "第 1 步（共 3 步）：正在读取本街道的居民户、干部和已有的包户", force=True)
        elif step == "decide":
            self.reporter(done, total, f"第 2 步（共 3 步）：正在按规则逐层分配（{done} / {total} 层）", force=True)
        else:
            self.reporter(
                done, total, f"第 3 步（共 3 步）：正在写入包户关系，已写入 {done:,} / {total:,} 条", force=not done
            )


def _campaign_to_allocate(job) -> Campaign:
    user = job.user
    campaign = Campaign.objects.visible_to(user).select_related("street").filter(pk=job.params.get("campaign")).first()
    if campaign is None:
        raise JobRefused("该走访活动已不存在或已不在你的工作范围内，未分配任何包户")
    if not (user.is_active and user.is_staff and can_allocate(user, campaign)):
        raise JobRefused(f"你已没有为“{campaign}”自动分配包户的权限（需要整个街道的工作范围），未分配任何包户")
    return campaign


def run_allocation(job_id: int, *, notify_user: bool = False) -> BackgroundJob | None:
    """Run a 包户到人 job; the body of its task.

    Steps: claim the job (None when it is not there to take); check again that its user may
    allocate the campaign; run ``allocate`` with its progress; finish the job with the report's
    lines and a link to 分配报告, or fail it with the reason; tell the user when ``notify_user``
    (the job ran in the background)."""
    job = job_claim(job_id)
    if job is None:
        return None
    try:
        campaign = _campaign_to_allocate(job)
        with TransactionProgress(job) as reporter:
            # Seen at once everywhere (before the transaction): SQLite shows the steps only at its end.
            reporter(0, 0, STARTED_ALLOCATION, force=True)
            report = allocate(campaign, progress=_AllocationProgress(reporter))
    except JobRefused as exc:
        job_fail(job, message=str(exc))
    except IntegrityError:
        job_fail(job, message=CONCURRENT_CHANGE)
    except Exception:
        logger.exception("allocation job %s failed", job.pk)
        job_fail(
            job,
            message=f"分配时发生意外错误，未写入任何包户。请稍后重试；如果再次出现，请联系系统管理员（任务编号 {job.pk}）",
        )
    else:
        level = "warning" if report.uncovered or report.problems else "success"
        links = [("查看分配报告", reverse("admin:visitplan_campaign_allocation", args=[campaign.pk]))]
        message = f"{campaign}：新增包户关系 {report.created:,} 条，未落实包户干部 {len(report.uncovered):,} 户"
        job_finish(job, result=job_result(report_lines(report), level=level, links=links), message=message)
    if notify_user:
        background_job_over(job)
    return job


# ------------------------------------------------------------------------------------------------ 干部名册


def roster_runs_in_background(rows: int) -> bool:
    return rows > settings.ROSTER_BACKGROUND_ROWS


def start_roster_import(*, user, data: bytes, filename: str, rows: int) -> BackgroundJob:
    """Keep the confirmed upload where the worker reads it and start the import job."""
    token = secrets.token_hex(16)  # the file's only name; it lives in the job's params
    path = upload_path(token)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return start(ROSTER_IMPORT, user=user, params={"token": token, "filename": filename}, total=rows)


class _RosterProgress:
    """The resource's two passes: checking every row, then saving them (one transaction)."""

    def __init__(self, reporter):
        self.reporter = reporter

    def __call__(self, step, done, total):
        if step == "check":
            self.reporter(done, total, f"第 1 步（共 2 步）：正在检查第 {done} 行，共 {total} 行")
        else:
            self.reporter(done, total, f"第 2 步（共 2 步）：正在保存第 {done} 行，共 {total} 行")


def success_message(result) -> str:
    """import-export's own message of a finished import (the same as within the request)."""
    totals = result.totals
    with translation.override(settings.LANGUAGE_CODE):
        return gettext("Import finished: {} new, {} updated, {} deleted and {} skipped {}.").format(
            totals[RowResult.IMPORT_TYPE_NEW],
            totals[RowResult.IMPORT_TYPE_UPDATE],
            totals[RowResult.IMPORT_TYPE_DELETE],
            totals[RowResult.IMPORT_TYPE_SKIP],
            Cadre._meta.verbose_name_plural,
        )


def _log_import(result, user) -> None:
    """The admin log's entries of an import, as import-export writes them within the request."""
    if getattr(settings, "IMPORT_EXPORT_SKIP_ADMIN_LOG", False):
        return
    flags = {
        RowResult.IMPORT_TYPE_NEW: ADDITION,
        RowResult.IMPORT_TYPE_UPDATE: CHANGE,
        RowResult.IMPORT_TYPE_DELETE: DELETION,
    }
    for import_type, flag in flags.items():
        instances = [row.instance for row in result if row.import_type == import_type]
        if instances:
            LogEntry.objects.log_actions(
                user.pk,
                instances,
                flag,
                change_message=gettext("%s through import_export" % import_type),
                single_object=len(instances) == 1,
            )


def run_roster_import(job_id: int, *, notify_user: bool = False) -> BackgroundJob | None:
    """Run a 干部名册 import job; the body of its task.

    Steps: claim the job (None when it is not there to take); check again that its user may import
    cadres; read the kept upload (guarded and parsed as every upload, visitplan.sheets.read_sheet);
    import it with CadreResource under the user's scope as it is now, all rows or nothing, with its
    progress; finish the job with import-export's message (and the admin log's entries), or fail it
    with every problem found; delete the upload; tell the user when ``notify_user``."""
    job = job_claim(job_id)
    if job is None:
        return None
    token = job.params.get("token", "")
    source = upload_path(token) if token else None
    again = [("重新导入", reverse("admin:visitplan_cadre_import"))]
    try:
        user = job.user
        if not may_import_roster(user):
            raise JobRefused("你已没有导入干部名册的权限，未导入任何数据")
        if source is None or not source.is_file():
            raise JobRefused("上传的文件已不在服务器上（已导入、已取消或已超过 24 小时），请重新上传")
        dataset = read_sheet(source.read_bytes(), ROSTER_TABLE)
        with TransactionProgress(job) as reporter:
            reporter(0, len(dataset), f"正在检查各行，共 {len(dataset)} 行", force=True)
            resource = CadreResource(user=user)
            resource.progress = _RosterProgress(reporter)
            result = resource.import_data(
                dataset,
                dry_run=False,
                raise_errors=False,
                file_name=job.params.get("filename", ""),
                user=user,
                retain_instance_in_row_result=True,
            )
        if result.has_errors() or result.has_validation_errors():
            # The confirmation found what the preview did not (someone changed the data meanwhile):
            # the resource rolled everything back.
            summary, *lines = import_error_message(result)
            job_fail(job, message=summary, result=job_result(lines, level="error", links=again))
        else:
            _log_import(result, user)
            post_import.send(sender=None, model=Cadre)
            message = success_message(result)
            job_finish(job, result=job_result([message]), message=message)
    except (JobRefused, SheetFileError) as exc:
        job_fail(job, message=str(exc), result=job_result([], level="error", links=again))
    except Exception:
        logger.exception("roster import job %s failed", job.pk)
        job_fail(
            job,
            message=f"导入时发生意外错误，未导入任何数据。请重新上传再试；如果再次出现，请联系系统管理员（任务编号 {job.pk}）",
            result=job_result([], level="error", links=again),
        )
    finally:
        if source is not None:
            source.unlink(missing_ok=True)
    if notify_user:
        background_job_over(job)
    return job
