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
