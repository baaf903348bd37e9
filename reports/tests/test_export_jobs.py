"""The ledger exports as background jobs (reports/ledgers/jobs.py): a large ledger is written by a
Celery task with its progress, its page then offers the file to its user only (logged), 我的导出
lists the user's jobs, a notification says when it is ready, old files are deleted, and a job whose
worker died or whose task raised does not stay "running" for ever.

The world: ``lw`` (reports/tests/conftest.py) — 8 visits the street admin sees, 3 grid_a's worker.
"""

import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from core.jobs import STALE_AFTER
from core.models import BackgroundJob, JobStatus
from households.models import AccessLog
from issues.models import Notification
from reports import ledgers
from reports.ledgers import jobs
from reports.tasks import export_job_task, purge_expired_exports_task
from reports.tests.workbooks import rows_of, workbook_of


@pytest.fixture
def ew(lw, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EXPORT_BACKGROUND_ROWS = 5  # the street admin's 8 visits go to the background, a worker's 3 do not
    settings.EXPORT_KEEP_DAYS = 7
    return lw


def start(client, user, name="ledger_visits", **params):
    from visitplan.models import Campaign

    client.force_login(user)
    params.setdefault("campaign", Campaign.objects.get().pk)
    return client.get(reverse(f"reports:{name}"), params)


def job_url(job, suffix=""):
    return reverse("reports:export_job", args=[job.pk]) + suffix


def download(client, job):
    return client.get(reverse("reports:export_download", args=[job.pk]))


def test_a_large_ledger_runs_in_the_background_with_a_progress_page_then_a_download(
    client, ew, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = start(client, ew.admin)
    job = BackgroundJob.objects.get()
    assert job.kind == jobs.VISITS and job.user == ew.admin and job.total == 8
    assert response.status_code == 302 and response["Location"] == job_url(job)
    assert not AccessLog.objects.exists()  # nothing handed over yet

    waiting = client.get(job_url(job)).content.decode()
    assert "data-job-status-url" in waiting and "<progress" in waiting and "js/job-progress.js" in waiting
    assert "<script>" not in waiting  # CSP: no inline script
    assert client.get(job_url(job, "?format=json")).json()["status"] == "queued"

    assert len(callbacks) == 1
    callbacks[0]()  # the worker runs the task (eager)
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.done == job.total == 8
    assert job.result["rows"] == 8 and job.result_file == f"exports/{ew.admin.pk}/{job.pk}.xlsx"
    status = client.get(job_url(job, "?format=json")).json()
    assert status["finished"] and status["percent"] == 100

    page = client.get(job_url(job)).content.decode()
    assert reverse("reports:export_download", args=[job.pk]) in page and "共 8 行" in page

    response = download(client, job)
    sheet = workbook_of(response)[ledgers.VISIT_SHEET]
    assert len(rows_of(sheet)) == 8
    assert "filename*=utf-8''%E5%85%A5%E6%88%B7%E8%B5%B0%E8%AE%BF%E5%8F%B0%E8%B4%A6" in response["Content-Disposition"]
    log = AccessLog.objects.get()
    assert log.user == ew.admin and log.rows == 8 and log.what.startswith("入户走访台账（")

    note = Notification.objects.get(user=ew.admin)
    assert note.title == "入户走访台账已生成" and "我的导出" in note.body


def test_the_progress_is_reported_rows_done_over_total(ew, monkeypatch, django_capture_on_commit_callbacks, client):
    seen = []

    class EveryCall(jobs.ProgressReporter):
        def __call__(self, done, total=None, message=None, *, force=False):
            super().__call__(done, total, message, force=True)
            seen.append((done, total))

    monkeypatch.setattr(jobs, "ProgressReporter", EveryCall)
    with django_capture_on_commit_callbacks(execute=True):
        start(client, ew.admin)
    assert seen[0] == (0, 8) and seen[-1] == (8, 8)
    assert [done for done, _ in seen] == list(range(9))


def test_a_small_ledger_is_handed_over_at_once_and_listed_in_my_exports(client, ew):
    response = start(client, ew.worker_a)
    assert len(rows_of(workbook_of(response)[ledgers.VISIT_SHEET])) == 3
    job = BackgroundJob.objects.get()
    assert job.status == JobStatus.DONE and job.user == ew.worker_a
    assert AccessLog.objects.get().rows == 3
    assert not Notification.objects.filter(title__contains="已生成").exists()  # the user has the file already

    page = client.get(reverse("reports:my_exports")).content.decode()
    assert "入户走访台账（" in page and "已完成" in page
    assert reverse("reports:export_download", args=[job.pk]) in page


def test_another_user_gets_404_for_the_job_its_status_and_its_file(client, ew, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        start(client, ew.admin)
    job = BackgroundJob.objects.get()
    client.force_login(ew.leader)  # sees the same visits, but the file is the admin's
    assert client.get(job_url(job)).status_code == 404
    assert client.get(job_url(job, "?format=json")).status_code == 404
    assert download(client, job).status_code == 404
    assert "入户走访台账" not in client.get(reverse("reports:my_exports")).content.decode()
    assert not AccessLog.objects.exists()


def test_the_job_scopes_again_when_it_runs(client, ew, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        start(client, ew.admin, community=ew.c1.pk)
    ew.admin.is_active = False  # the account is disabled before the worker gets to the job
    ew.admin.save()
    callbacks[0]()
    job = BackgroundJob.objects.get()
    assert job.status == JobStatus.FAILED and job.message == "账号已停用，未生成文件"
    assert not job.result_file


def test_a_job_whose_task_raised_is_failed_with_a_reason_shown_in_my_exports(
    client, ew, settings, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ledgers.excel, "write_visit_ledger", broken)
    with django_capture_on_commit_callbacks(execute=True):
        start(client, ew.admin)
    job = BackgroundJob.objects.get()
    assert job.status == JobStatus.FAILED
    assert job.message.startswith("生成文件时发生意外错误，请稍后重新导出")
    assert f"任务编号 {job.pk}" in job.message and "disk full" not in job.message
    assert not list(settings.MEDIA_ROOT.rglob("*.part"))
    page = client.get(reverse("reports:my_exports")).content.decode()
    assert "失败" in page and "生成文件时发生意外错误" in page
    assert "导出没有完成：生成文件时发生意外错误" in client.get(job_url(job)).content.decode()
    assert Notification.objects.get(user=ew.admin).title == "入户走访台账导出失败"


def test_a_redelivered_task_takes_over_a_job_whose_worker_died(client, ew, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        start(client, ew.admin)
    job = BackgroundJob.objects.get()
    # A worker claimed it, then died: the job stays "running", its heartbeat stops.
    long_ago = timezone.now() - STALE_AFTER - timedelta(minutes=1)
    BackgroundJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, heartbeat_at=long_ago, done=3)
    export_job_task.delay(job.pk)  # acks_late: the broker delivers the message again
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.result["rows"] == 8


def test_a_second_delivery_of_a_running_job_with_a_live_worker_does_nothing(ew):
    from celery.exceptions import Retry

    job = BackgroundJob.objects.create(kind=jobs.VISITS, user=ew.admin, status=JobStatus.RUNNING)
    BackgroundJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
    with pytest.raises(Retry):  # it comes back once a dead worker's heartbeat would be stale
        export_job_task.apply(args=[job.pk], throw=True)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and not job.result_file


def test_files_older_than_the_kept_days_are_deleted_and_shown_expired(client, ew, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        start(client, ew.admin)
    job = BackgroundJob.objects.get()
    path = job.result_path
    assert path is not None and path.is_file()

    assert purge_expired_exports_task.delay().get() == {"purged": 0}  # a fresh file stays
    assert path.is_file()

    BackgroundJob.objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(days=7, minutes=1))
    assert jobs.purge_expired_exports() == 1
    assert not path.exists()
    job.refresh_from_db()
    assert job.result_file == "" and job.result["expired"] is True
    assert jobs.purge_expired_exports() == 0  # idempotent

    page = client.get(reverse("reports:my_exports")).content.decode()
    assert "已过期" in page and reverse("reports:export_download", args=[job.pk]) not in page
    response = download(client, job)
    assert response.status_code == 302 and response["Location"] == reverse("reports:my_exports")
    assert not AccessLog.objects.exists()


def test_the_kept_days_are_a_setting(ew, settings):
    settings.EXPORT_KEEP_DAYS = 30
    job = BackgroundJob.objects.create(kind=jobs.VISITS, user=ew.admin, status=JobStatus.DONE, result_file="exports/x")
    BackgroundJob.objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(days=8))
    assert jobs.purge_expired_exports() == 0


def test_my_exports_lists_only_the_users_jobs_with_their_progress(client, ew):
    BackgroundJob.objects.create(kind=jobs.VISITS, user=ew.admin, status=JobStatus.RUNNING, done=3, total=8)
    BackgroundJob.objects.create(kind=jobs.HARDSHIP, user=ew.leader, status=JobStatus.RUNNING, done=1, total=2)
    client.force_login(ew.admin)
    page = client.get(reverse("reports:my_exports")).content.decode()
    assert 'value="37"' in page and "入户走访台账" in page and "特殊困难群体台账" not in page


@pytest.mark.parametrize(
    ("name", "params", "kind"),
    [
        ("ledger_hardship", {}, jobs.HARDSHIP),
        ("ledger_supervision", {}, jobs.SUPERVISION),
        ("ledger_monthly", {"month": "2026-10", "campaign": ""}, jobs.MONTHLY),
    ],
)
def test_the_other_ledgers_go_through_the_same_jobs(client, ew, settings, name, params, kind):
    settings.EXPORT_BACKGROUND_ROWS = 100_000
    response = start(client, ew.admin, name, **params)
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    job = BackgroundJob.objects.get()
    assert job.kind == kind and job.status == JobStatus.DONE
    assert workbook.sheetnames and AccessLog.objects.get().rows == job.result["rows"]
