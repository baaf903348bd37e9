"""A large ledger export in a real browser on a phone (390 px): the street admin of the demo street
(``manage.py seed_demo``) downloads the 入户走访台账; it runs as a background job, the page shows its
progress bar moving without a reload, then the download link; the file downloaded is the ledger.
Screenshots: exports_*.png.

The Celery worker is a thread of the test: the view's task is held back (``delay_on_commit``
records the job), then the thread runs it as the task does (``run_export_job``), slowed down a
little per row so that the page sees it midway.
"""

import threading
import time

import pytest
from django.db import connection
from openpyxl import load_workbook

from core.models import BackgroundJob, JobStatus
from reports.ledgers import VISIT_SHEET, jobs
from reports.tasks import export_job_task
from tests.support.browser import DEMO_PASSWORD, log_in, screenshot
from visits.models import Visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def poll(page, script, *, timeout=30.0):
    """Wait until ``script`` (a JS expression) is truthy — evaluated, not a CSP-blocked string function."""
    from playwright.sync_api import Error

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = page.evaluate(script)
        except Error:  # the page reloading (the job finished): its context is gone for a moment
            value = None
        if value:
            return value
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {script}")


def test_the_visit_ledger_runs_in_the_background_with_a_progress_bar_then_a_download(
    live_server, chromium, demo_street, settings, tmp_path, monkeypatch
):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EXPORT_BACKGROUND_ROWS = 0  # every ledger goes to the background
    queued = []
    monkeypatch.setattr(export_job_task, "delay_on_commit", queued.append)

    class Slowed(jobs.ProgressReporter):  # a worker thread slow enough for the page to see it midway
        def __call__(self, done, total=None, message=None, *, force=False):
            time.sleep(0.004)
            super().__call__(done, total, message, force=force)

    monkeypatch.setattr(jobs, "ProgressReporter", Slowed)
    visits = Visit.objects.count()
    assert visits > 300  # enough rows for a few seconds of progress

    context = chromium.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    log_in(page, live_server, "admin", DEMO_PASSWORD)
    page.goto(f"{live_server.url}/reports/ledgers/")
    page.click("text=下载入户走访台账")
    page.wait_for_load_state()

    job = BackgroundJob.objects.get()
    assert queued == [job.pk] and job.status == JobStatus.QUEUED and job.total == visits
    assert page.url.endswith(f"/reports/ledgers/exports/{job.pk}/")
    assert page.is_visible(".job-progress progress")
    screenshot(page, "exports_queued", full_page=False)

    def worker():
        try:
            jobs.run_export_job(job.pk, notify_user=True)
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        # The bar moves without a reload: a value between 1 and 99 read from the page itself.
        midway = poll(page, "(() => { const b = document.querySelector('.job-progress progress');"
                            " return b && b.value > 0 && b.value < 100 ? b.value : 0; })()")  # fmt: skip
        assert 0 < midway < 100
        assert "已写入" in page.inner_text("[data-job-message]")
        screenshot(page, "exports_running", full_page=False)
        poll(page, "!!document.querySelector('[data-job-download]')", timeout=60)
    finally:
        thread.join(timeout=60)

    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    text = page.inner_text("main") if page.query_selector("main") else page.inner_text("body")
    assert f"共 {visits} 行" in text
    screenshot(page, "exports_done", full_page=False)

    with page.expect_download() as info:
        page.click("[data-job-download]")
    download = info.value
    assert download.suggested_filename.startswith("入户走访台账_") and download.suggested_filename.endswith(".xlsx")
    path = tmp_path / "downloaded.xlsx"
    download.save_as(path)
    rows = list(load_workbook(path, read_only=True)[VISIT_SHEET].iter_rows(min_row=2, values_only=True))
    assert len(rows) == visits and [r[0] for r in rows[:3]] == [1, 2, 3]  # 序号

    page.goto(f"{live_server.url}/reports/ledgers/exports/")
    assert "入户走访台账（" in page.inner_text("body") and page.is_visible("text=下载")
    screenshot(page, "exports_mine", full_page=False)
    page.goto(f"{live_server.url}/notifications/")
    assert "入户走访台账已生成" in page.inner_text("body")
    context.close()
