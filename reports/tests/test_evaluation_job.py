"""The 综合评议 export as an export job (reports.ledgers.jobs.EVALUATION), like every ledger's: a small
one is handed over at once, a large one is written by the task with its progress, its file is its
user's alone, and the job asks again when it runs whether the user may still read the 综合评议 of
that campaign. And what every export job shares (reports/ledgers/jobs.py): old files are deleted
whatever their kind, the register's too, and a background register export tells its user.

The world: ``ew`` of test_evaluation.py (东山街道, 6 cadres and 4 units: 10 rows), on 2026-12-06.
"""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from core.models import BackgroundJob, JobStatus
from households.export_jobs import REGISTER_EXPORT
from households.models import AccessLog, Household
from households.roles import CADRE
from issues.models import Notification
from reports import evaluation
from reports.ledgers import jobs
from reports.tasks import export_job_task
from reports.tests import test_evaluation
from reports.tests.workbooks import rows_of, workbook_of

# The world of test_evaluation.py, and its day (2026-12-06: autouse, as there).
ew, today = test_evaluation.ew, test_evaluation.today

ROWS = 10  # 6 cadres + 4 units


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EXPORT_BACKGROUND_ROWS = 5000
    settings.EXPORT_KEEP_DAYS = 7
    return settings


def export(client, user, campaign):
    client.force_login(user)
    return client.get(reverse("reports:evaluation_export"), {"campaign": campaign.pk})


def job_url(job, suffix=""):
    return reverse("reports:export_job", args=[job.pk]) + suffix


def download(client, job):
    return client.get(reverse("reports:export_download", args=[job.pk]))


def cells(response):
    """Every sheet of the workbook as (title, header and rows)."""
    book = workbook_of(response)
    return [(sheet.title, [[c.value for c in row] for row in sheet.iter_rows()]) for sheet in book.worksheets]


def test_a_small_evaluation_is_handed_over_at_once_as_before(client, ew, media):
    response = export(client, ew["leader"], ew["campaign"])
    assert response.status_code == 200
    assert "%E7%BB%BC%E5%90%88%E8%AF%84%E8%AE%AE_2026_20261206.xlsx" in response["Content-Disposition"]
    book = workbook_of(response)
    assert book.sheetnames == [evaluation.CADRE_SHEET, evaluation.UNIT_SHEET]
    assert rows_of(book[evaluation.CADRE_SHEET])[:3] == [
        [1, "leader", "街道班子成员", None, "东山街道", 1, 1, 100, None, None, None, 0, 0, None, 100],
        [2, "w2", "网格员", None, "西山社区", 2, 2, 100, 1, 2, 50, 1, 1, 100, 80],
        [3, "w1", "网格员", None, "东山社区", 2, 4, 50, 3, 4, 75, 1, 2, 50, 60],
    ]
    assert [r[1] for r in rows_of(book[evaluation.UNIT_SHEET])] == ["东山街道", "西山社区", "东山社区", "区住建局"]

    job = BackgroundJob.objects.get()
    assert (job.kind, job.user, job.status) == (jobs.EVALUATION, ew["leader"], JobStatus.DONE)
    assert job.params["campaign"] == ew["campaign"].pk and job.result["rows"] == ROWS
    log = AccessLog.objects.get()
    assert (log.user, log.rows, log.what) == (ew["leader"], ROWS, f"综合评议（{ew['campaign']}）")
    assert not Notification.objects.exists()  # the user has the file already
    assert "综合评议（" in client.get(reverse("reports:my_exports")).content.decode()


def test_a_large_one_goes_to_its_page_and_the_task_writes_the_same_file(
    client, ew, media, monkeypatch, django_capture_on_commit_callbacks
):
    at_once = cells(export(client, ew["admin"], ew["campaign"]))

    seen = []

    class EveryCall(jobs.ProgressReporter):
        def __call__(self, done, total=None, message=None, *, force=False):
            super().__call__(done, total, message, force=True)
            seen.append((done, total))

    monkeypatch.setattr(jobs, "ProgressReporter", EveryCall)
    media.EXPORT_BACKGROUND_ROWS = 5
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = export(client, ew["admin"], ew["campaign"])
    job = BackgroundJob.objects.filter(kind=jobs.EVALUATION).latest("pk")
    assert response.status_code == 302 and response["Location"] == job_url(job)
    assert job.status == JobStatus.QUEUED and job.total == ROWS
    assert AccessLog.objects.count() == 1  # the first file only: nothing handed over yet
    page = client.get(job_url(job)).content.decode()
    assert "<h1>综合评议</h1>" in page and "<progress" in page

    assert len(callbacks) == 1
    callbacks[0]()  # the worker (eager)
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.done == job.total == ROWS
    assert seen[0] == (0, ROWS) and [done for done, _ in seen] == list(range(ROWS + 1))
    assert Notification.objects.get(user=ew["admin"]).title == "综合评议已生成"

    response = download(client, job)
    assert cells(response) == at_once
    log = AccessLog.objects.latest("pk")
    assert (log.user, log.rows, log.what) == (ew["admin"], ROWS, f"综合评议（{ew['campaign']}）")


def test_another_user_gets_404_for_the_job_and_its_file(client, ew, media, django_capture_on_commit_callbacks):
    media.EXPORT_BACKGROUND_ROWS = 5
    with django_capture_on_commit_callbacks(execute=True):
        export(client, ew["admin"], ew["campaign"])
    job = BackgroundJob.objects.get()
    assert job.status == JobStatus.DONE
    client.force_login(ew["leader"])  # reads the same 综合评议, but the file is the admin's
    assert client.get(job_url(job)).status_code == 404
    assert client.get(job_url(job, "?format=json")).status_code == 404
    assert download(client, job).status_code == 404
    assert not AccessLog.objects.exists()


def lose_the_role(w):
    w["admin"].groups.set([Group.objects.get(name=CADRE)])


def move_to_another_street(w):
    cadre = w["admin"].cadre
    cadre.scope = w["other"]
    cadre.save()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lose_the_role, "你已无权查看综合评议（只有街道管理员和领导可以查看），未生成文件"),
        (move_to_another_street, "你已无权导出该走访活动（或它已被删除），未生成文件"),
    ],
)
def test_the_job_asks_again_when_it_runs(client, ew, media, change, message, django_capture_on_commit_callbacks):
    media.EXPORT_BACKGROUND_ROWS = 5
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        export(client, ew["admin"], ew["campaign"])
    change(ew)  # before the worker gets to the job
    callbacks[0]()
    job = BackgroundJob.objects.get()
    assert job.status == JobStatus.FAILED and job.message == message
    assert not job.result_file and not list(media.MEDIA_ROOT.rglob("*.xlsx"))
    assert Notification.objects.get(user=ew["admin"]).title == "综合评议导出失败"
    assert f"导出没有完成：{message}" in client.get(job_url(job)).content.decode()


def test_purge_deletes_the_expired_files_of_every_export_kind(client, ew, media):
    export(client, ew["admin"], ew["campaign"])
    client.get(reverse("households:export"))  # the register, as the same admin
    evaluation_job = BackgroundJob.objects.get(kind=jobs.EVALUATION)
    register_job = BackgroundJob.objects.get(kind=REGISTER_EXPORT)
    paths = [evaluation_job.result_path, register_job.result_path]
    assert all(p is not None and p.is_file() for p in paths)

    assert jobs.purge_expired_exports() == 0  # fresh files stay
    BackgroundJob.objects.update(finished_at=timezone.now() - timedelta(days=7, minutes=1))
    assert jobs.purge_expired_exports() == 2
    assert not any(p.exists() for p in paths)
    for job in (evaluation_job, register_job):
        job.refresh_from_db()
        assert job.result_file == "" and job.result["expired"] is True
    assert jobs.purge_expired_exports() == 0


def test_a_background_register_export_tells_its_user(client, ew, media, django_capture_on_commit_callbacks):
    households = Household.objects.visible_to(ew["admin"]).count()
    media.EXPORT_BACKGROUND_ROWS = 1
    client.force_login(ew["admin"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(reverse("households:export"))
    job = BackgroundJob.objects.get(kind=REGISTER_EXPORT)
    assert response["Location"] == job_url(job) and job.status == JobStatus.DONE
    note = Notification.objects.get(user=ew["admin"])
    assert note.title == "居民底册已生成"
    assert f"共 {households} 行" in note.body and "我的导出" in note.body


def test_a_small_register_export_tells_nobody(client, ew, media):
    client.force_login(ew["admin"])
    assert client.get(reverse("households:export")).status_code == 200
    assert BackgroundJob.objects.get(kind=REGISTER_EXPORT).status == JobStatus.DONE
    assert not Notification.objects.exists()


def test_the_task_runs_an_evaluation_job_recorded_earlier(ew, media):
    job = BackgroundJob.objects.create(
        kind=jobs.EVALUATION, user=ew["leader"], params=jobs.export_params(campaign=ew["campaign"]), total=ROWS
    )
    export_job_task.delay(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.result["rows"] == ROWS and job.result_path.is_file()


def test_a_notice_that_cannot_be_sent_does_not_undo_the_export(
    client, ew, media, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(*args, **kwargs):
        raise RuntimeError("notifications table locked")

    monkeypatch.setattr("issues.notifications.services.notify", broken)
    media.EXPORT_BACKGROUND_ROWS = 5
    with django_capture_on_commit_callbacks(execute=True):
        export(client, ew["admin"], ew["campaign"])
    job = BackgroundJob.objects.get()
    assert job.status == JobStatus.DONE and job.result_path.is_file()
    assert len(cells(download(client, job))) == 2


def test_the_job_page_leads_back_to_where_the_export_was_asked_from(client, ew, settings, tmp_path):
    from django.urls import reverse

    from core.jobs import job_create
    from households.export_jobs import REGISTER_EXPORT
    from reports.ledgers import jobs

    settings.MEDIA_ROOT = tmp_path
    user = ew["admin"]
    client.force_login(user)
    for kind, url, label in [
        (jobs.EVALUATION, reverse("reports:evaluation"), "返回综合评议"),
        (REGISTER_EXPORT, reverse("households:list"), "返回居民户"),
        (jobs.VISITS, reverse("reports:ledgers"), "返回工作台账"),
    ]:
        job = job_create(kind=kind, user=user)
        page = client.get(reverse("reports:export_job", args=[job.pk])).content.decode()
        assert f'href="{url}">{label}</a>' in page, kind
