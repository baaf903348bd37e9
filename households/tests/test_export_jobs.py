"""The register export as a job (households/export_jobs.py): a small one is handed over within the
request, a large one runs in the background and its page (reports' export job page) offers the
file to its user only; either way the download is logged once, scoped and masked as the user's role
requires when the job runs."""

import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from core.models import BackgroundJob, JobStatus
from households.export_jobs import REGISTER_EXPORT
from households.models import AccessLog, Household
from households.register import SHEET_NAME


@pytest.fixture
def xw(world, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EXPORT_BACKGROUND_ROWS = 1
    return world


def rows_in(response):
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    return list(workbook[SHEET_NAME].iter_rows(min_row=2, values_only=True))


def test_a_small_register_export_is_handed_over_at_once(client, xw):
    client.force_login(xw.worker_a)  # one household in his grid
    response = client.get(reverse("households:export"))
    assert response.status_code == 200 and len(rows_in(response)) == 1
    job = BackgroundJob.objects.get()
    assert job.kind == REGISTER_EXPORT and job.status == JobStatus.DONE and job.result["rows"] == 1
    assert AccessLog.objects.get().rows == 1


def test_a_large_register_export_runs_in_the_background_for_its_user_only(
    client, xw, django_capture_on_commit_callbacks
):
    visible = Household.objects.visible_to(xw.admin).count()
    assert visible > 1
    client.force_login(xw.admin)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.get(reverse("households:export"))
    job = BackgroundJob.objects.get()
    page_url = reverse("reports:export_job", args=[job.pk])
    assert response.status_code == 302 and response["Location"] == page_url
    assert "<progress" in client.get(page_url).content.decode()
    assert not AccessLog.objects.exists()

    callbacks[0]()  # the worker (eager)
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.done == job.total == visible

    client.force_login(xw.leader)
    assert client.get(reverse("reports:export_download", args=[job.pk])).status_code == 404
    client.force_login(xw.admin)
    response = client.get(reverse("reports:export_download", args=[job.pk]))
    assert len(rows_in(response)) == visible
    assert "%E5%B1%85%E6%B0%91%E5%BA%95%E5%86%8C" in response["Content-Disposition"]  # 居民底册
    log = AccessLog.objects.get()
    assert (log.user, log.rows, log.what) == (xw.admin, visible, "居民底册（页面导出）")


def test_the_admin_export_goes_through_the_same_job(client, xw, django_capture_on_commit_callbacks):
    client.force_login(xw.admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(reverse("admin:households_household_export"))
    job = BackgroundJob.objects.get()
    assert response["Location"] == reverse("reports:export_job", args=[job.pk])
    assert job.status == JobStatus.DONE and job.result["what"] == "居民底册（当前筛选）"
