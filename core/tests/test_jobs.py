"""Background jobs (core.jobs): created queued, claimed once, progress, finished or failed, seen by
their user only."""

import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.http import Http404
from django.utils import timezone

from core.jobs import (
    STALE_AFTER,
    ProgressReporter,
    get_job_for_user,
    job_claim,
    job_create,
    job_fail,
    job_finish,
    job_progress,
    job_status,
)
from core.models import BackgroundJob, JobStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    return User.objects.create_user("owner", password="x")


@pytest.fixture
def job(owner):
    return job_create(kind="test.export", user=owner, params={"ids": [1, 2]})


def test_it_creates_a_queued_job_with_its_params(job, owner):
    job.refresh_from_db()
    assert (job.kind, job.user, job.status, job.params) == ("test.export", owner, JobStatus.QUEUED, {"ids": [1, 2]})
    assert (job.done, job.total, job.percent, job.finished) == (0, None, None, False)
    assert job.message == "已排队，等待后台处理" and job.get_status_display() == "排队中"
    assert job.created_at is not None and job.started_at is None


def test_a_job_is_claimed_once(job):
    claimed = job_claim(job.pk)
    assert claimed is not None and claimed.status == JobStatus.RUNNING and claimed.started_at is not None
    assert claimed.get_status_display() == "进行中"
    assert job_claim(job.pk) is None  # the second delivery of the task finds it taken
    assert job_claim(job.pk + 1000) is None  # and a deleted job is nobody's


def test_a_running_job_whose_worker_died_is_taken_over(job):
    job_claim(job.pk)
    assert job_claim(job.pk, now=timezone.now() + STALE_AFTER - timedelta(seconds=5)) is None  # still alive
    taken = job_claim(job.pk, now=timezone.now() + STALE_AFTER + timedelta(seconds=5))
    assert taken is not None and taken.status == JobStatus.RUNNING


def test_progress_then_finish(job, settings, tmp_path):
    running = job_claim(job.pk)
    job_progress(running, done=25, total=200, message="正在检查第 25 行")
    job.refresh_from_db()
    assert (job.done, job.total, job.percent, job.message) == (25, 200, 12, "正在检查第 25 行")
    job_progress(running, done=50)  # total and message stay
    job.refresh_from_db()
    assert (job.done, job.total, job.message) == (50, 200, "正在检查第 25 行")

    settings.MEDIA_ROOT = tmp_path
    (tmp_path / "out.xlsx").write_bytes(b"x")
    job_finish(running, result={"rows": 200}, result_file="out.xlsx", message="完成 " + "很长" * 300)
    job.refresh_from_db()
    assert (job.status, job.get_status_display(), job.done, job.percent, job.result) == (
        JobStatus.DONE,
        "已完成",
        200,
        100,
        {"rows": 200},
    )
    assert job.finished and job.finished_at is not None
    assert len(job.message) == 500 and job.message.endswith("…")  # a short message, cut
    assert job.result_path == tmp_path / "out.xlsx"
    job_progress(running, done=1)  # a finished job does not move any more
    job.refresh_from_db()
    assert job.done == 200


def test_a_failed_job_keeps_its_message_and_is_not_finished_twice(job):
    running = job_claim(job.pk)
    job_fail(running, message="导入时发生意外错误，未写入任何数据")
    job_finish(running, result={"rows": 1})  # e.g. a late second run: the failure stays
    job.refresh_from_db()
    assert (job.status, job.get_status_display(), job.message, job.result) == (
        JobStatus.FAILED, "失败", "导入时发生意外错误，未写入任何数据", {}
    )  # fmt: skip
    assert job.finished and job_claim(job.pk) is None


def test_a_job_is_seen_by_its_user_only(job, owner):
    other = User.objects.create_superuser("boss", password="x")
    assert get_job_for_user(owner, job.pk) == job
    assert get_job_for_user(owner, job.pk, kinds=("test.export",)) == job
    for user, pk, kinds in (
        (other, job.pk, None),
        (owner, job.pk, ("other.kind",)),
        (owner, job.pk + 1, None),
        (owner, None, None),
    ):
        with pytest.raises(Http404):
            get_job_for_user(user, pk, kinds=kinds)
    assert list(BackgroundJob.objects.visible_to(other)) == []
    from django.contrib.auth.models import AnonymousUser

    assert list(BackgroundJob.objects.visible_to(AnonymousUser())) == []


def test_the_status_tells_how_far_and_nothing_else(job):
    running = job_claim(job.pk)
    job_progress(running, done=3, total=4, message="第 3 步")
    job.refresh_from_db()
    assert job_status(job) == {
        "id": job.pk, "status": "running", "status_display": "进行中", "done": 3, "total": 4,
        "percent": 75, "message": "第 3 步", "finished": False,
    }  # fmt: skip


def test_the_reporter_writes_at_most_once_per_interval(job):
    running = job_claim(job.pk)
    now = [100.0]
    report = ProgressReporter(running, interval=1.0, clock=lambda: now[0])
    report(1, 10, "一")
    report(2)  # within the second: skipped
    job.refresh_from_db()
    assert job.done == 1
    report(3, message="三", force=True)
    job.refresh_from_db()
    assert (job.done, job.message) == (3, "三")
    now[0] += 1.5
    report(4)
    job.refresh_from_db()
    assert job.done == 4


def test_a_result_file_outside_media_root_is_not_served(job, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    (tmp_path / "media").mkdir()
    (tmp_path / "secret.txt").write_text("x")
    job.result_file = "../secret.txt"
    assert job.result_path is None
    job.result_file = "missing.xlsx"
    assert job.result_path is None
    job.result_file = ""
    assert job.result_path is None


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_for_a_job_claim_it_once(on_postgres):
    """select_for_update-free claim: the conditional UPDATE alone decides (PostgreSQL, real threads)."""
    owner = User.objects.create_user("racer", password="x")
    jobs = [job_create(kind="test.race", user=owner) for _ in range(5)]
    barrier = threading.Barrier(2)
    wins = []

    def worker():
        try:
            for j in jobs:
                barrier.wait(timeout=10)
                if job_claim(j.pk) is not None:
                    wins.append(j.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(wins) == sorted(j.pk for j in jobs)  # each job once, none twice


def test_a_job_page_warns_of_a_long_queue_and_of_a_stalled_worker(job):
    from core.jobs import QUEUED_TOO_LONG, job_delays

    assert job_delays(job) == {"waiting_long": False, "stalled": False}
    assert job_delays(job, now=job.created_at + QUEUED_TOO_LONG + timedelta(seconds=1))["waiting_long"]
    running = job_claim(job.pk)
    assert job_delays(running) == {"waiting_long": False, "stalled": False}
    later = running.heartbeat_at + STALE_AFTER + timedelta(seconds=1)
    assert job_delays(running, now=later) == {"waiting_long": False, "stalled": True}


def test_a_job_whose_worker_died_is_failed_and_told_once_no_delivery_took_it_over(job, owner, settings):
    from core import jobs

    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    assert jobs.lost_after() == timedelta(hours=1) + 2 * STALE_AFTER
    told = []
    monkey = [*jobs._OVER_LISTENERS]
    jobs._OVER_LISTENERS[:] = [told.append]
    try:
        running = job_claim(job.pk)
        other = job_create(kind="test.export", user=owner)  # queued: the worker may still come
        just_before = running.heartbeat_at + jobs.lost_after() - timedelta(seconds=1)
        after = running.heartbeat_at + jobs.lost_after() + timedelta(seconds=1)
        # Running with a recent heartbeat (a long job, still alive): left alone.
        fresh = job_claim(job_create(kind="test.export", user=owner).pk, now=after - timedelta(minutes=1))
        assert jobs.sweep_lost_jobs(now=just_before) == []
        assert jobs.sweep_lost_jobs(now=after) == [running.pk]
        assert jobs.sweep_lost_jobs(now=after) == []  # once
    finally:
        jobs._OVER_LISTENERS[:] = monkey
    running.refresh_from_db()
    assert running.status == JobStatus.FAILED and running.finished_at == after
    assert running.message.startswith("后台处理中断") and f"任务编号 {running.pk}" in running.message
    assert [j.pk for j in told] == [running.pk]
    assert BackgroundJob.objects.get(pk=other.pk).status == JobStatus.QUEUED
    assert BackgroundJob.objects.get(pk=fresh.pk).status == JobStatus.RUNNING
    # A late delivery of its task finds it failed and does nothing.
    assert job_claim(running.pk, now=after + timedelta(hours=2)) is None


def test_on_the_filesystem_broker_a_lost_job_is_given_up_after_twice_the_stale_time(settings):
    from core import jobs

    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": "/tmp/x"}
    assert jobs.lost_after() == 2 * STALE_AFTER
