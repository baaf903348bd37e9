"""Large register uploads in the admin: the preview lists the first errors and offers an error
file; a large check or import runs as a background job (Celery, eager in tests) with a progress
page; jobs and error files are their user's only."""

import io
import os
import time
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from openpyxl import Workbook, load_workbook

from core.models import BackgroundJob, JobStatus
from core.spreadsheets import safe_cell
from households.import_errors import REASON_HEADER
from households.import_jobs import CHECK, ERRORS_SHOWN, IMPORT, count_sheet_rows
from households.models import AccessLog, Household, Node
from households.register import HEADERS, SHEET_NAME
from households.roles import STREET_ADMIN
from tests.support.world import make_user
from visitplan.models import Tier

from .xlsx import SAMPLE, register_row, valid_id_number

IMPORT_URL = reverse("admin:households_household_import")
CONFIRM_URL = reverse("admin:households_household_import_confirm")
JOB_URL = reverse("admin:households_household_import_job")
ERRORS_URL = reverse("admin:households_household_import_errors")
SESSION_KEY = "households_register_import"
EVIL = '=HYPERLINK("http://e.example","点我")'  # within 户主姓名's 32 characters


@pytest.fixture
def w(world, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    world.admin2 = make_user("admin2", STREET_ADMIN, scope=world.street, tier=Tier.STREET_STAFF, staff=True)
    return world


def new_row(n, **values):
    """A valid row in a community of its own (the world's households keep their addresses)."""
    values.setdefault("id_number", valid_id_number(n % 1000))  # three digits of sequence
    return register_row(n, community="新建社区", **values)


def write_file(path, rows):
    """A register file with openpyxl's write-only mode (fast enough for thousands of rows)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(SHEET_NAME)
    sheet.append(list(HEADERS))
    for row in rows:
        # safe_cell: a text like "=…" goes in as text (as Excel stores one typed with a leading ').
        sheet.append([None if row.get(h, "") == "" else safe_cell(sheet, row[h]) for h in HEADERS])
    workbook.save(path)
    return path


def bad_rows_file(path, bad=3000, good_every=30):
    """``bad`` wrong rows — a short ID number; every 10th also a short phone; the 5th a formula as
    its head's name — with a valid row after every ``good_every`` of them."""
    rows, n = [], 0
    for i in range(1, bad + 1):
        n += 1
        rows.append(
            new_row(
                n,
                id_number="123",
                phone="1" if i % 10 == 0 else f"138{n:08d}",
                head_name=EVIL if i == 5 else f"住户{n}",
            )
        )
        if i % good_every == 0:
            n += 1
            rows.append(new_row(n))
    return write_file(path, rows), rows


def upload(client, street, path, name="register.xlsx"):
    return client.post(IMPORT_URL, {"street": street.pk, "file": SimpleUploadedFile(name, path.read_bytes())})


def sheet_rows(content: bytes):
    return [tuple(r) for r in load_workbook(io.BytesIO(content))[SHEET_NAME].iter_rows(values_only=True)]


# ------------------------------------------------------------------------------------------------ the preview


def test_the_preview_of_many_bad_rows_lists_the_first_200_with_the_totals_and_the_error_file(
    w, client, tmp_path, django_capture_on_commit_callbacks
):
    path, rows = bad_rows_file(tmp_path / "bad.xlsx")
    client.force_login(w.admin)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = upload(client, w.street, path)
    assert len(callbacks) == 1  # 3,100 rows: checked by the task, not in the request
    job = BackgroundJob.objects.get()
    assert (job.kind, job.user, job.status) == (CHECK, w.admin, JobStatus.DONE)
    assert response.status_code == 302 and response.url == f"{JOB_URL}?job={job.pk}"

    page = client.get(response.url)
    html = page.content.decode()
    assert page.status_code == 200
    assert html.count('<td class="num">') == ERRORS_SHOWN == 200
    assert "有 3000 行有误，未导入任何数据（共 3300 处错误）" in html
    assert "前 200 处错误（共 3300 处，涉及 3000 行；全部错误见错误文件）" in html
    assert f'href="{ERRORS_URL}?job={job.pk}"' in html and "下载错误文件" in html
    assert "错误文件只包含有误的 3000 行" in html
    assert "确认导入" not in html
    assert len(html) < 200_000  # not a page per error: 200 rows of a table
    assert SESSION_KEY not in client.session
    assert Household.objects.count() == 3  # the world's, nothing imported

    # The error file: the header plus 错误原因, the bad rows only, as uploaded, every reason.
    assert not AccessLog.objects.exists()
    download = client.get(f"{ERRORS_URL}?job={job.pk}")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    content = b"".join(download.streaming_content)
    got = sheet_rows(content)
    assert got[0] == (*HEADERS, REASON_HEADER)
    bad = [r for r in rows if r["身份证号"] == "123"]
    assert len(got) == 1 + len(bad) == 3001
    assert [g[:11] for g in got[1:]] == [tuple(None if r[h] == "" else r[h] for h in HEADERS) for r in bad]
    assert got[1][11] == "原第 2 行：【身份证号】身份证号应为18位，实际为3位"
    assert got[10][11] == (
        "原第 11 行：【身份证号】身份证号应为18位，实际为3位；【联系电话】联系电话应为11位手机号或带区号的固定电话（如0532-82345678）"
    )
    assert got[31][11].startswith("原第 33 行：")  # row 32 of the upload was a valid one, left out
    # A resident's formula stays text (the export rule): quote prefix, no <f> in the sheet.
    cell = load_workbook(io.BytesIO(content))[SHEET_NAME]["F6"]
    assert (cell.value, cell.data_type, cell.quotePrefix) == (EVIL, "s", True)
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        assert "<f>" not in z.read("xl/worksheets/sheet1.xml").decode()

    log = AccessLog.objects.get()
    assert (log.user, log.rows, log.residents) == (w.admin, 3000, 3000)
    assert log.what == "居民底册导入错误文件：register.xlsx" and log.ip == "127.0.0.1"


def test_another_user_gets_404_for_the_job_its_status_and_its_error_file(
    w, client, tmp_path, django_capture_on_commit_callbacks
):
    path, _rows = bad_rows_file(tmp_path / "bad.xlsx", bad=5)
    client.force_login(w.admin)
    upload(client, w.street, path)  # 10 rows: inline
    job = BackgroundJob.objects.get()
    assert job.result_file and job.result_path.is_file()

    client.force_login(w.admin2)  # the same role and street, but not his job
    assert client.get(f"{JOB_URL}?job={job.pk}").status_code == 404
    assert client.get(f"{JOB_URL}?job={job.pk}&format=json").status_code == 404
    assert client.get(f"{ERRORS_URL}?job={job.pk}").status_code == 404
    assert client.get(f"{ERRORS_URL}?job={job.pk + 1000}").status_code == 404  # a missing one: the same
    assert not AccessLog.objects.exists()
    # Without a job id: back to the import form.
    response = client.get(ERRORS_URL)
    assert response.status_code == 302 and response.url == IMPORT_URL


def test_a_small_file_is_checked_within_the_request(w, client, django_capture_on_commit_callbacks):
    client.force_login(w.admin)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = upload(client, w.street, SAMPLE)
    assert not callbacks  # no task: the template's 40 rows are checked at once
    assert response.status_code == 200 and "确认导入" in response.content.decode()
    job = BackgroundJob.objects.get()
    assert (job.kind, job.status, job.result_file) == (CHECK, JobStatus.DONE, "")  # no errors, no error file


def test_the_error_file_goes_with_the_stale_uploads(w, client, tmp_path):
    path, _rows = bad_rows_file(tmp_path / "bad.xlsx", bad=3)
    client.force_login(w.admin)
    upload(client, w.street, path)
    job = BackgroundJob.objects.get()
    errors = job.result_path
    old = time.time() - 25 * 3600
    os.utime(errors, (old, old))

    upload(client, w.street, SAMPLE)  # storing the next upload purges the stale files

    assert not errors.exists()
    response = client.get(f"{ERRORS_URL}?job={job.pk}")
    assert response.status_code == 302 and response.url == f"{JOB_URL}?job={job.pk}"
    assert not AccessLog.objects.exists()


# ------------------------------------------------------------------------------------------------ background import


def test_a_large_valid_file_is_checked_and_imported_by_jobs_with_a_progress_page(
    w, client, tmp_path, settings, django_capture_on_commit_callbacks
):
    settings.IMPORT_BACKGROUND_ROWS = 100  # "large" kept small for the test's sake
    path = write_file(tmp_path / "big.xlsx", [new_row(n, tags="老党员" if n % 3 == 0 else "") for n in range(1, 301)])
    client.force_login(w.admin)

    # Queued: the page shows a progress bar, polled by the static script, refreshed without it.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = upload(client, w.street, path)
    check = BackgroundJob.objects.get()
    assert response.status_code == 302 and response.url == f"{JOB_URL}?job={check.pk}"
    waiting = client.get(response.url).content.decode()
    assert "<progress" in waiting and "排队中" in waiting
    assert f'data-job-status-url="{JOB_URL}?job={check.pk}&amp;format=json"' in waiting
    assert "js/job-progress.js" in waiting and "<script>" not in waiting  # no inline script (CSP)
    assert '<meta http-equiv="refresh"' in waiting and f'href="{JOB_URL}?job={check.pk}"' in waiting
    status = client.get(f"{JOB_URL}?job={check.pk}&format=json").json()
    assert status == {
        "id": check.pk, "status": "queued", "status_display": "排队中", "done": 0, "total": None,
        "percent": None, "message": "已排队，等待后台处理", "finished": False,
    }  # fmt: skip

    callbacks[0]()  # the worker runs the task (eager)
    check.refresh_from_db()
    assert check.status == JobStatus.DONE and check.percent == 100
    assert check.message == "检查通过：共 300 行，确认后才会导入"
    assert client.get(f"{JOB_URL}?job={check.pk}&format=json").json()["percent"] == 100
    preview = client.get(f"{JOB_URL}?job={check.pk}")
    html = preview.content.decode()
    assert "检查通过" in html and "确认导入" in html
    assert preview.context["report"].created == 300
    assert Household.objects.count() == 3  # a trial run only

    token = client.session[SESSION_KEY]["token"]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(CONFIRM_URL, {"token": token})
    assert len(callbacks) == 1
    job = BackgroundJob.objects.get(kind=IMPORT)
    assert response.status_code == 302 and response.url == f"{JOB_URL}?job={job.pk}"
    assert SESSION_KEY not in client.session  # a second 确认导入 imports nothing twice
    again = client.post(CONFIRM_URL, {"token": token})
    assert again.status_code == 302 and again.url == IMPORT_URL
    assert BackgroundJob.objects.filter(kind=IMPORT).count() == 1

    result = client.get(response.url)
    html = result.content.decode()
    assert result.status_code == 200 and "导入完成" in html
    assert '<tr><th scope="row">新增户</th><td>300 户</td></tr>' in html
    assert '<tr><th scope="row">新建社区</th><td>1 个</td></tr>' in html
    job.refresh_from_db()
    assert job.message == "已导入：共 300 行，新增 300 户，更新 0 户，未变 0 户"
    assert Household.objects.filter(community__name="新建社区").count() == 300
    assert Household.objects.filter(tags__name="老党员").count() == 100
    assert not list((settings.MEDIA_ROOT / "imports").glob("*.xlsx"))  # the upload is gone once imported
    # The import page lists the user's recent jobs.
    listing = client.get(IMPORT_URL).content.decode()
    assert "最近的导入" in listing and f"?job={job.pk}" in listing


def test_a_job_reports_its_progress_step_by_step(
    w, client, tmp_path, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from core import jobs
    from households import import_jobs
    from households.register import importing

    settings.IMPORT_BACKGROUND_ROWS = 100
    monkeypatch.setattr(importing, "PROGRESS_ROWS", 100)
    seen = []
    original = jobs.job_progress

    def job_progress(job, **fields):
        seen.append((fields["done"], fields.get("total"), fields.get("message")))
        original(job, **fields)

    monkeypatch.setattr(jobs, "job_progress", job_progress)

    class EveryCall(jobs.ProgressReporter):  # not throttled: every report is seen
        def __init__(self, job):
            super().__init__(job, interval=0)

    monkeypatch.setattr(import_jobs, "ProgressReporter", EveryCall)
    path = write_file(tmp_path / "big.xlsx", [new_row(n) for n in range(1, 301)])
    client.force_login(w.admin)
    with django_capture_on_commit_callbacks(execute=True):
        upload(client, w.street, path)

    assert seen == [
        (0, 300, "第 1 步（共 2 步）：正在检查各行，共约 300 行"),
        (100, 300, "第 1 步（共 2 步）：正在检查第 100 行，共约 300 行"),
        (200, 300, "第 1 步（共 2 步）：正在检查第 200 行，共约 300 行"),
        (300, 300, "第 1 步（共 2 步）：正在检查第 300 行，共约 300 行"),
        (0, 0, "第 2 步（共 2 步）：各行检查无误，正在试导入（写入后撤销，不会保存），共 300 户，请稍候"),
    ]


def _fail_on_second_batch(monkeypatch):
    from households.register import importing

    original = importing._HouseholdWriter.replace_tags
    calls = []

    def replace_tags(self, tags):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return original(self, tags)

    monkeypatch.setattr(importing._HouseholdWriter, "replace_tags", replace_tags)
    return calls


def test_a_job_failing_midway_is_marked_failed_and_writes_nothing(
    w, client, tmp_path, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.IMPORT_BACKGROUND_ROWS = 100
    path = write_file(tmp_path / "big.xlsx", [new_row(n, tags="低保户") for n in range(1, 2201)])  # two batches
    client.force_login(w.admin)
    with django_capture_on_commit_callbacks(execute=True):
        upload(client, w.street, path)
    token = client.session[SESSION_KEY]["token"]
    nodes_before = Node.objects.count()
    calls = _fail_on_second_batch(monkeypatch)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(CONFIRM_URL, {"token": token})

    assert len(calls) == 2  # the first batch was written before the failure
    job = BackgroundJob.objects.get(kind=IMPORT)
    assert job.status == JobStatus.FAILED and job.finished_at is not None
    assert (
        job.message
        == f"导入时发生意外错误，未写入任何数据。请重新上传再试；如果再次出现，请联系系统管理员（任务编号 {job.pk}）"
    )
    assert Household.objects.count() == 3 and Node.objects.count() == nodes_before  # all or nothing
    page = client.get(response.url).content.decode()
    assert "没有完成" in page and job.message in page and "重新上传" in page
    assert not list((settings.MEDIA_ROOT / "imports").glob("*.xlsx"))  # the upload is not left behind


def test_the_task_checks_the_permission_again(w, client, tmp_path, settings, django_capture_on_commit_callbacks):
    from django.contrib.auth.models import Group

    settings.IMPORT_BACKGROUND_ROWS = 10
    path = write_file(tmp_path / "big.xlsx", [new_row(n) for n in range(1, 21)])
    client.force_login(w.admin)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        upload(client, w.street, path)
    w.admin.groups.remove(Group.objects.get(name=STREET_ADMIN))  # the role is taken away meanwhile

    callbacks[0]()

    job = BackgroundJob.objects.get()
    assert job.status == JobStatus.FAILED
    assert job.message == "你已没有导入居民底册的权限，未导入任何数据"
    assert not job.result_file


def test_a_check_whose_scope_changed_fails_with_a_message(
    w, client, tmp_path, settings, django_capture_on_commit_callbacks
):
    settings.IMPORT_BACKGROUND_ROWS = 10
    path = write_file(tmp_path / "big.xlsx", [new_row(n) for n in range(1, 21)])
    client.force_login(w.admin)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        upload(client, w.street, path)
    w.admin.cadre.scope = w.c1  # moved to one community: the street is no longer wholly his
    w.admin.cadre.save()

    callbacks[0]()

    job = BackgroundJob.objects.get()
    assert (job.status, job.message) == (JobStatus.FAILED, "你已无权导入到所选街道，未导入任何数据")


def test_a_job_is_run_once_even_if_the_task_is_delivered_twice(
    w, client, tmp_path, settings, django_capture_on_commit_callbacks
):
    from households.tasks import register_job_task

    settings.IMPORT_BACKGROUND_ROWS = 10
    path = write_file(tmp_path / "big.xlsx", [new_row(n) for n in range(1, 21)])
    client.force_login(w.admin)
    with django_capture_on_commit_callbacks(execute=True):
        upload(client, w.street, path)
    token = client.session[SESSION_KEY]["token"]
    with django_capture_on_commit_callbacks(execute=True):
        client.post(CONFIRM_URL, {"token": token})
    job = BackgroundJob.objects.get(kind=IMPORT)
    finished = job.finished_at

    register_job_task.delay(job.pk)  # acks_late: the same message again

    job.refresh_from_db()
    assert job.finished_at == finished and Household.objects.filter(community__name="新建社区").count() == 20


def test_a_job_whose_worker_died_is_taken_over_by_the_redelivered_task(
    w, client, tmp_path, settings, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from core.jobs import STALE_AFTER
    from households.tasks import register_job_task

    settings.IMPORT_BACKGROUND_ROWS = 10
    path = write_file(tmp_path / "big.xlsx", [new_row(n) for n in range(1, 21)])
    client.force_login(w.admin)
    with django_capture_on_commit_callbacks(execute=False):
        upload(client, w.street, path)
    job = BackgroundJob.objects.get()
    # A worker claimed it and was killed: "running", its heartbeat long stopped.
    long_ago = timezone.now() - STALE_AFTER - timedelta(minutes=1)
    BackgroundJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, started_at=long_ago, heartbeat_at=long_ago)
    stalled = client.get(f"{JOB_URL}?job={job.pk}").content.decode()
    assert "任务已经很久没有进展，可能已经中断" in stalled

    register_job_task.delay(job.pk)  # the message comes back (acks_late)

    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.message == "检查通过：共 20 行，确认后才会导入"


# ------------------------------------------------------------------------------------------------ pieces


def test_a_trial_run_counts_what_the_import_does_without_writing_anything(w, tmp_path):
    """The preview's dry run writes nothing — no transaction, so on SQLite no write lock — and
    its counts are the import's."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from households.register import import_register

    import_register(
        street=w.street, source=write_file(tmp_path / "a.xlsx", [new_row(n, tags="老党员") for n in range(1, 41)])
    )
    rows = [new_row(n, tags="老党员") for n in range(1, 11)]  # unchanged
    rows += [new_row(n, head_name="换了户主", tags="老党员") for n in range(11, 21)]  # changed
    rows += [new_row(n, tags="低保户") for n in range(21, 26)]  # other focus groups
    rows += [new_row(n, building="新楼", tags="老党员") for n in range(26, 31)]  # in a new building: new addresses
    rows += [register_row(n, community="又一个社区", id_number=valid_id_number(n)) for n in range(41, 61)]  # new
    rows += [new_row(n, grid="新网格", building="") for n in range(61, 66)]  # new, in a new grid of a known community
    path = write_file(tmp_path / "b.xlsx", rows)
    before = (Household.objects.count(), Node.objects.count(), Household.tags.through.objects.count())

    with CaptureQueriesContext(connection) as queries:
        trial = import_register(street=w.street, source=path, dry_run=True)

    statements = [q["sql"].split(None, 1)[0].upper() for q in queries.captured_queries]
    # Reads only (PostgreSQL streams the households through a DECLARE … CURSOR FOR SELECT).
    assert statements and set(statements) <= {"SELECT", "DECLARE"}, statements
    assert (Household.objects.count(), Node.objects.count(), Household.tags.through.objects.count()) == before
    real = import_register(street=w.street, source=path)
    assert trial.ok and real.ok
    assert (trial.created, trial.updated, trial.unchanged, trial.nodes_created) == (
        real.created, real.updated, real.unchanged, real.nodes_created
    ) == (30, 15, 10, {"community": 1, "grid": 2, "building": 2})  # fmt: skip


def test_counting_rows_stops_past_the_threshold(tmp_path, monkeypatch):
    from households import import_jobs

    path = write_file(tmp_path / "rows.xlsx", [new_row(n) for n in range(1, 2501)])
    assert count_sheet_rows(path) == 2500
    monkeypatch.setattr(import_jobs, "COUNT_CHUNK", 4096)  # a few rows a chunk
    assert count_sheet_rows(path) == 2500  # tags cut between chunks are counted once
    assert 2000 < count_sheet_rows(path, stop_after=2000) < 2100
    assert count_sheet_rows(SAMPLE) == 40
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a zip")
    assert count_sheet_rows(broken) == 0


def test_the_command_writes_the_error_file_and_reports_progress(db, tmp_path, capsys):
    path, _rows = bad_rows_file(tmp_path / "bad.xlsx", bad=12, good_every=4)
    out = tmp_path / "errors.xlsx"
    with pytest.raises(CommandError) as exc:
        call_command("import_households", str(path), street="湖田街道", errors_file=str(out))
    assert str(exc.value).startswith("发现 12 行有误，未导入任何数据")
    assert str(exc.value).endswith(f"有误的 12 行已写入 {out}")
    got = sheet_rows(out.read_bytes())
    assert got[0][-1] == REASON_HEADER and len(got) == 13

    call_command("import_households", str(SAMPLE), street="湖田街道")
    assert "检查完成，正在写入 40 户…" in capsys.readouterr().err
