"""重新计算统计数据 started from the admin, as a background job (core.admin_jobs).

The campaign list's action (visitplan/admin.py, CampaignAdmin) starts a job of ``REBUILD`` by its
name — the plan's admin does not import visits — and the Celery task
``visits.tasks.rebuild_job_task`` runs ``run_rebuild``: ``visits.tally.rebuild``, the function of
the nightly task and of ``manage.py rebuild_tallies``, in one transaction, with its progress (the
counted visits read); the job's page then shows the figures. Only someone who may change the
campaign, for its whole street, may start it (``visitplan.admin_jobs.can_rebuild_tallies``), checked
again when the job runs.
"""

from __future__ import annotations

import logging

from core.admin_jobs import JobKind, TransactionProgress, job_result, register
from core.jobs import background_job_over, job_claim, job_fail, job_finish
from core.models import BackgroundJob
from visitplan.admin_jobs import JobRefused, can_rebuild_tallies
from visitplan.models import Campaign

from .tally import OutsideYear, rebuild

logger = logging.getLogger(__name__)

REBUILD = "visits.rebuild_tallies"  # visitplan/admin.py starts it by this name

register(
    JobKind(
        REBUILD,
        label="重新计算统计数据",
        where="统计看板的各项数字已按走访记录重新计算。",
        task="visits.tasks.rebuild_job_task",
    )
)

STARTED = "已开始：正在重新计算统计数据（共 4 步），请稍候"
STEPS = {
    "recount": "第 1 步（共 4 步）：正在按活动规则重新判定每条走访是否计入",
    "days": "第 2 步（共 4 步）：正在汇总每日走访",
    "spans": "第 3 步（共 4 步）：正在汇总干部走访起止，已写入 {done:,} 条",
    "households": "第 4 步（共 4 步）：正在汇总按户走访日历，已读 {done:,} / {total:,} 条计入的走访",
}


class _Progress:
    """rebuild's steps in the user's words; a bar only over the last one (the counted visits)."""

    def __init__(self, reporter):
        self.reporter = reporter

    def __call__(self, step, done, total):
        self.reporter(done, total, STEPS[step].format(done=done, total=total), force=not done)


def figures_line(campaign, figures) -> str:
    """The figures as ``manage.py rebuild_tallies`` prints them."""
    return (
        f"{campaign}：{figures['households']:,} 户走访日历，{figures['spans']:,} 条干部走访起止，"
        f"{figures['days']:,} 条每日汇总"
    )


def run_rebuild(job_id: int, *, notify_user: bool = False) -> BackgroundJob | None:
    """Run a 重新计算统计数据 job; the body of its task.

    Steps: claim the job (None when it is not there to take); check again that its user may
    rebuild the campaign's tallies; run ``rebuild`` with its progress; finish the job with the
    figures, or fail it with the reason; tell the user when ``notify_user``."""
    job = job_claim(job_id)
    if job is None:
        return None
    user = job.user
    try:
        campaign = (
            Campaign.objects.visible_to(user).select_related("street").filter(pk=job.params.get("campaign")).first()
        )
        if campaign is None:
            raise JobRefused("该走访活动已不存在或已不在你的工作范围内，统计数据未重算")
        if not (user.is_active and user.is_staff and can_rebuild_tallies(user, campaign)):
            raise JobRefused(f"你已没有重新计算“{campaign}”统计数据的权限（需要整个街道的工作范围），统计数据未重算")
        with TransactionProgress(job) as reporter:
            # Seen at once everywhere (before the transaction): SQLite shows the steps only at its end.
            reporter(0, 0, STARTED, force=True)
            figures = rebuild(campaign, progress=_Progress(reporter))
    except JobRefused as exc:
        job_fail(job, message=str(exc))
    except OutsideYear as exc:
        job_fail(
            job,
            message=f"有走访记录的日期不在活动年度（{campaign.year} 年）内（{exc}），统计数据未重算。"
            "请核对这些走访记录的日期或活动的年度后再试",
        )
    except Exception:
        logger.exception("tally rebuild job %s failed", job.pk)
        job_fail(
            job,
            message=f"重算时发生意外错误，统计数据未改动。请稍后重试；如果再次出现，请联系系统管理员（任务编号 {job.pk}）",
        )
    else:
        job_finish(
            job,
            result=job_result([f"已重新计算统计数据。{figures_line(campaign, figures)}"], figures=figures),
            message=f"已重新计算{campaign}的统计数据",
        )
    if notify_user:
        background_job_over(job)
    return job
