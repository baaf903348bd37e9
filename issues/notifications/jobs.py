"""A job started from the admin and run in the background (core.admin_jobs: 包户到人, 重新计算统计数据,
干部名册导入) tells its user when it is over: the notice's words are the kind's (core.admin_jobs.notice).

core and the plan run the jobs but know nothing of the notifications, so this app registers
``notify_admin_job_over`` with ``core.jobs.on_background_job_over`` at start-up (issues/apps.py).
A job of another kind (an export: reports/apps.py tells those) is left alone.
"""

from __future__ import annotations

from core.admin_jobs import notice
from core.models import BackgroundJob

from .services import notify


def notify_admin_job_over(job: BackgroundJob) -> int:
    words = notice(job)
    if words is None:
        return 0
    title, body = words
    return notify([job.user], title=title, body=body)
