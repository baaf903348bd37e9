"""Long work started from the admin runs as background jobs (core/admin_jobs.py): 包户到人
(visitplan/admin_jobs.py), 重新计算统计数据 (visits/admin_jobs.py) and the confirmation of a large
干部名册 import. For each: starting it from the admin records a job and sends the user to its page
(progress while it runs, then the result); the task finishes it with what running the function
directly gives; the job is its user's only; its progress moves; a user who lost the right when it
runs gets a failed job saying so; its user is notified. Celery runs eagerly in the tests: a task
starts when its callback (``delay_on_commit``) is run."""

import datetime

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.db import connections, transaction
from django.urls import reverse
from django.utils import timezone

from core import admin_jobs
from core.jobs import STALE_AFTER, job_claim, job_create
from core.models import BackgroundJob, JobStatus
from households.import_jobs import upload_dir
from households.roles import STREET_ADMIN
from issues.models import Notification
from tests.support.world import make_user
from visitplan.admin_jobs import ALLOCATE, CONCURRENT_CHANGE, ROSTER_IMPORT, report_lines
from visitplan.allocation import allocate
from visitplan.models import Assignment, Cadre, Campaign, Department, Tier
from visits import tally
from visits.admin_jobs import REBUILD
from visits.models import CadreSpan, DayTotal, HouseholdDays, Visit

from .test_roster import confirm, good_rows, snapshot, upload, xlsx

pytestmark = pytest.mark.django_db

CAMPAIGN_JOB = reverse("admin:visitplan_campaign_job")
CADRE_JOB = reverse("admin:visitplan_cadre_job")
CAMPAIGNS = reverse("admin:visitplan_campaign_changelist")


@pytest.fixture
def w(world, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # Another street admin of the same street: he may do all of it, but not see the first one's jobs.
    world.admin2 = make_user("admin2", STREET_ADMIN, scope=world.street, tier=Tier.STREET_STAFF, staff=True)
    return world


@pytest.fixture
def progress(monkeypatch):
    """Every progress report the jobs write, as (done, total, message): not throttled."""
    seen = []
    original = admin_jobs.job_progress

    def job_progress(job, **fields):
        seen.append((fields["done"], fields.get("total"), fields.get("message")))
        original(job, **fields)

    class EveryCall(admin_jobs.TransactionProgress):
        def __init__(self, job):
            super().__init__(job, interval=0)

    monkeypatch.setattr(admin_jobs, "job_progress", job_progress)
    monkeypatch.setattr("visitplan.admin_jobs.TransactionProgress", EveryCall)
    monkeypatch.setattr("visits.admin_jobs.TransactionProgress", EveryCall)
    return seen


def started(client, url, data, capture):
    """POST that starts a job; its task is not run yet. The response and the job."""
    with capture(execute=False) as callbacks:
        response = client.post(url, data)
    assert len(callbacks) == 1
    job = BackgroundJob.objects.latest("pk")
    return response, job, callbacks[0]


def allocate_on_the_report_page(client, campaign, capture):
    """执行自动分配 on the campaign's 分配报告 page (see ``started``)."""
    return started(client, reverse("admin:visitplan_campaign_allocation", args=[campaign.pk]), {}, capture)


def notices(user):
    return list(Notification.objects.filter(user=user).values_list("title", "body"))


def direct(function, *args, **kwargs):
    """What ``function`` gives when run directly, then rolled back."""
    with transaction.atomic():
        value = function(*args, **kwargs)
        transaction.set_rollback(True)
    return value


def lose_the_street(user, community):
    """The user's scope shrinks to one community: no longer the whole street."""
    Cadre.objects.filter(user=user).update(scope=community)


# ================================================================================================ 包户到人


def test_allocating_from_the_report_page_is_a_job_whose_page_shows_progress_then_the_report(
    w, client, django_capture_on_commit_callbacks
):
    campaign = w.campaign
    expected = report_lines(direct(allocate, campaign))
    assert not Assignment.objects.filter(campaign=campaign, source=Assignment.Source.AUTO).exists()
    client.force_login(w.admin)

    response, job, run = allocate_on_the_report_page(client, campaign, django_capture_on_commit_callbacks)

    assert (job.kind, job.user, job.params, job.status) == (ALLOCATE, w.admin, {"campaign": campaign.pk}, "queued")
    assert response.status_code == 302 and response.url == f"{CAMPAIGN_JOB}?job={job.pk}"
    waiting = client.get(response.url).content.decode()
    assert "<progress" in waiting and "排队中" in waiting and "包户到人（自动分配）正在后台进行" in waiting
    assert f'data-job-status-url="{CAMPAIGN_JOB}?job={job.pk}&amp;format=json"' in waiting
    assert "js/job-progress.js" in waiting and "<script>" not in waiting  # no inline script (CSP)
    assert '<meta http-equiv="refresh"' in waiting
    assert client.get(f"{CAMPAIGN_JOB}?job={job.pk}&format=json").json()["status"] == "queued"
    assert not Assignment.objects.filter(campaign=campaign, source=Assignment.Source.AUTO).exists()

    run()  # the worker runs the task

    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.percent == 100
    assert job.result["lines"] == expected  # the lines the admin's message gave
    assert Assignment.objects.filter(campaign=campaign, source=Assignment.Source.AUTO).exists()
    page = client.get(f"{CAMPAIGN_JOB}?job={job.pk}")
    html = page.content.decode()
    assert page.status_code == 200 and "<progress" not in html and "job-progress.js" not in html
    for line in expected:
        assert line in html
    assert reverse("admin:visitplan_campaign_allocation", args=[campaign.pk]) in html  # back to 分配报告
    status = client.get(f"{CAMPAIGN_JOB}?job={job.pk}&format=json").json()
    assert status["finished"] and status["percent"] == 100
    assert notices(w.admin) == [
        ("包户到人（自动分配）已完成", f"{job.message}\n详见管理后台“走访活动”中该活动的“分配报告”。")
    ]
    # The 分配报告 page links the user's own recent runs, nobody else's.
    report_page = reverse("admin:visitplan_campaign_allocation", args=[campaign.pk])
    assert f"{CAMPAIGN_JOB}?job={job.pk}" in client.get(report_page).content.decode()
    client.force_login(w.admin2)
    assert f"?job={job.pk}" not in client.get(report_page).content.decode()


def test_the_list_action_starts_one_job_per_campaign(w, client, django_capture_on_commit_callbacks):
    second = Campaign.objects.create(year=2026, name="回头看", street=w.street)
    client.force_login(w.admin)

    response, job, run = started(
        client,
        CAMPAIGNS,
        {"action": "allocate_action", "_selected_action": [w.campaign.pk]},
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 302 and response.url == f"{CAMPAIGN_JOB}?job={job.pk}"
    run()
    job.refresh_from_db()
    assert job.status == JobStatus.DONE

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(
            CAMPAIGNS, {"action": "allocate_action", "_selected_action": [w.campaign.pk, second.pk]}, follow=True
        )
    assert len(callbacks) == 2
    jobs = BackgroundJob.objects.filter(kind=ALLOCATE).exclude(pk=job.pk)
    assert {j.params["campaign"] for j in jobs} == {w.campaign.pk, second.pk}
    html = response.content.decode()
    for j in jobs:
        assert j.status == JobStatus.DONE and f"{CAMPAIGN_JOB}?job={j.pk}" in html
    assert "已开始在后台自动分配包户" in html


def test_a_community_admin_cannot_start_it(w, client, django_capture_on_commit_callbacks):
    lose_the_street(w.admin2, w.c1)
    client.force_login(w.admin2)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(
            CAMPAIGNS, {"action": "allocate_action", "_selected_action": [w.campaign.pk]}, follow=True
        )
    assert callbacks == [] and not BackgroundJob.objects.exists()
    assert "您的工作范围不是整个街道，不能为该活动自动分配" in response.content.decode()
    page = client.post(reverse("admin:visitplan_campaign_allocation", args=[w.campaign.pk]))
    assert page.status_code == 403 and not BackgroundJob.objects.exists()


def test_the_allocation_reports_its_progress_step_by_step(w, client, progress, django_capture_on_commit_callbacks):
    client.force_login(w.admin)
    _, job, run = allocate_on_the_report_page(client, w.campaign, django_capture_on_commit_callbacks)
    run()
    rows = Assignment.objects.filter(campaign=w.campaign, source=Assignment.Source.AUTO).count()
    assert rows > 0
    assert progress == [
        (0, 0, "已开始：正在自动分配包户（读取本街道的数据、逐层分配、写入），请稍候"),
        (0, 0, "第 1 步（共 3 步）：正在读取本街道的居民户、干部和已有的包户"),
        *[(n, 5, f"第 2 步（共 3 步）：正在按规则逐层分配（{n} / 5 层）") for n in range(5)],
        (0, rows, f"第 3 步（共 3 步）：正在写入包户关系，已写入 0 / {rows} 条"),
        (rows, rows, f"第 3 步（共 3 步）：正在写入包户关系，已写入 {rows} / {rows} 条"),
    ]
    job.refresh_from_db()
    assert (job.done, job.total, job.status) == (rows, rows, JobStatus.DONE)


def test_an_allocation_whose_user_lost_the_street_fails_and_writes_nothing(
    w, client, django_capture_on_commit_callbacks
):
    client.force_login(w.admin)
    _, job, run = allocate_on_the_report_page(client, w.campaign, django_capture_on_commit_callbacks)
    lose_the_street(w.admin, w.c1)

    run()

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.message == f"你已没有为“{w.campaign}”自动分配包户的权限（需要整个街道的工作范围），未分配任何包户"
    assert not Assignment.objects.filter(campaign=w.campaign, source=Assignment.Source.AUTO).exists()
    html = client.get(f"{CAMPAIGN_JOB}?job={job.pk}").content.decode()
    assert f"包户到人（自动分配）没有完成：{job.message}" in html
    assert notices(w.admin)[0][0] == "包户到人（自动分配）未完成"


def test_a_concurrent_change_fails_the_job_with_a_message(w, client, monkeypatch, django_capture_on_commit_callbacks):
    from django.db import IntegrityError

    client.force_login(w.admin)
    _, job, run = allocate_on_the_report_page(client, w.campaign, django_capture_on_commit_callbacks)

    def clash(campaign, new, progress=None):
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr("visitplan.allocation._write", clash)
    run()
    job.refresh_from_db()
    assert (job.status, job.message) == (JobStatus.FAILED, CONCURRENT_CHANGE)
    assert CONCURRENT_CHANGE == "分配时有人同时修改了包户，本次未写入，请重试"


def test_a_job_whose_worker_died_is_taken_over_and_a_second_delivery_does_nothing(
    w, client, django_capture_on_commit_callbacks
):
    from visitplan.tasks import allocation_job_task

    client.force_login(w.admin)
    _, job, _run = allocate_on_the_report_page(client, w.campaign, django_capture_on_commit_callbacks)
    # A worker claimed it and was killed: "running", its heartbeat long stopped.
    long_ago = timezone.now() - STALE_AFTER - datetime.timedelta(minutes=1)
    BackgroundJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, started_at=long_ago, heartbeat_at=long_ago)
    assert "任务已经很久没有进展，可能已经中断" in client.get(f"{CAMPAIGN_JOB}?job={job.pk}").content.decode()

    allocation_job_task.delay(job.pk)  # the message comes back (acks_late)
    job.refresh_from_db()
    assert job.status == JobStatus.DONE
    rows = Assignment.objects.count()

    allocation_job_task.delay(job.pk)  # delivered once more: the job is done, nothing runs twice
    assert Assignment.objects.count() == rows and len(notices(w.admin)) == 1


# ================================================================================================ the page is the user's


@pytest.mark.parametrize("kind, url", [(ALLOCATE, CAMPAIGN_JOB), (REBUILD, CAMPAIGN_JOB), (ROSTER_IMPORT, CADRE_JOB)])
def test_another_user_gets_404_for_the_job_and_its_status(w, client, kind, url):
    job = job_create(kind=kind, user=w.admin, params={"campaign": w.campaign.pk})
    root = make_user("root", STREET_ADMIN, scope=w.street, tier=Tier.STREET_STAFF, staff=True)
    root.is_superuser = True
    root.save()
    for other in (w.admin2, root):
        client.force_login(other)
        assert client.get(f"{url}?job={job.pk}").status_code == 404
        assert client.get(f"{url}?job={job.pk}&format=json").status_code == 404
    client.force_login(w.admin)
    assert client.get(f"{url}?job={job.pk}").status_code == 200
    assert client.get(f"{url}?job={job.pk}&format=json").json()["id"] == job.pk
    # A job is shown on its own list's page only; no job id: back to the list.
    other_url = CADRE_JOB if url == CAMPAIGN_JOB else CAMPAIGN_JOB
    assert client.get(f"{other_url}?job={job.pk}").status_code == 404
    for junk in ("", "x", "99999999999999999999", "²"):
        response = client.get(f"{url}?job={junk}")
        assert response.status_code == 302


# ================================================================================================ 重新计算统计数据


@pytest.fixture
def visited(vw):
    """A few visits written directly (the tallies are then only right after a rebuild)."""
    days = [datetime.date(2026, 3, 21), datetime.date(2026, 6, 30), datetime.date(2026, 9, 28)]
    for household, cadre in ((vw.ha, vw.worker_a.cadre), (vw.hb, vw.worker_b.cadre), (vw.hc, vw.handler.cadre)):
        for day in days:
            Visit.objects.create(
                campaign=vw.campaign, household=household, cadre=cadre, visited_on=day, started_at=datetime.time(9),
                ended_at=datetime.time(9, 45), duration_minutes=45,
            )  # fmt: skip
    return vw


def tallies(campaign):
    return {
        model.__name__: sorted(model.objects.filter(campaign=campaign).values_list(*fields))
        for model, fields in (
            (HouseholdDays, ("household_id", "days_2", "days_4")),
            (CadreSpan, ("household_id", "cadre_id", "first_on", "last_on")),
            (DayTotal, ("community_id", "day", "method", "visits", "minutes")),
        )
    }


def test_rebuilding_the_tallies_from_the_list_is_a_job_with_the_figures(
    visited, client, django_capture_on_commit_callbacks
):
    w = visited
    expected = direct(tally.rebuild, w.campaign)
    assert not HouseholdDays.objects.filter(campaign=w.campaign).exists()
    client.force_login(w.admin)

    response, job, run = started(
        client, CAMPAIGNS, {"action": "rebuild_tallies_action", "_selected_action": [w.campaign.pk]},
        django_capture_on_commit_callbacks,
    )  # fmt: skip
    assert (job.kind, job.params) == (REBUILD, {"campaign": w.campaign.pk})
    assert response.status_code == 302 and response.url == f"{CAMPAIGN_JOB}?job={job.pk}"
    assert "重新计算统计数据正在后台进行" in client.get(response.url).content.decode()

    run()

    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.result["figures"] == expected == {
        "days": 6,
        "spans": 3,
        "households": 3,
    }
    after_job = tallies(w.campaign)
    assert tally.rebuild(w.campaign) == expected and tallies(w.campaign) == after_job  # the same as run directly
    line = f"已重新计算统计数据。{w.campaign}：3 户走访日历，3 条干部走访起止，6 条每日汇总"
    assert job.result["lines"] == [line]
    assert line in client.get(f"{CAMPAIGN_JOB}?job={job.pk}").content.decode()
    assert notices(w.admin) == [("重新计算统计数据已完成", f"{job.message}\n统计看板的各项数字已按走访记录重新计算。")]


def test_the_rebuild_reports_its_progress(visited, client, progress, django_capture_on_commit_callbacks):
    client.force_login(visited.admin)
    _, job, run = started(
        client, CAMPAIGNS, {"action": "rebuild_tallies_action", "_selected_action": [visited.campaign.pk]},
        django_capture_on_commit_callbacks,
    )  # fmt: skip
    run()
    counted = Visit.objects.filter(campaign=visited.campaign).counted().count()
    assert counted == 9
    spans = CadreSpan.objects.filter(campaign=visited.campaign).count()
    assert spans > 0
    assert progress == [
        (0, 0, "已开始：正在重新计算统计数据（共 4 步），请稍候"),
        (0, 0, "第 1 步（共 4 步）：正在按活动规则重新判定每条走访是否计入"),
        (0, 0, "第 2 步（共 4 步）：正在汇总每日走访"),
        (0, 0, "第 3 步（共 4 步）：正在汇总干部走访起止，已写入 0 条"),
        (spans, 0, f"第 3 步（共 4 步）：正在汇总干部走访起止，已写入 {spans} 条"),
        (0, 9, "第 4 步（共 4 步）：正在汇总按户走访日历，已读 0 / 9 条计入的走访"),
        (9, 9, "第 4 步（共 4 步）：正在汇总按户走访日历，已读 9 / 9 条计入的走访"),
    ]
    job.refresh_from_db()
    assert (job.done, job.total) == (9, 9)


def test_a_rebuild_whose_user_lost_the_right_fails_and_changes_nothing(
    visited, client, django_capture_on_commit_callbacks
):
    w = visited
    client.force_login(w.admin)
    _, job, run = started(
        client, CAMPAIGNS, {"action": "rebuild_tallies_action", "_selected_action": [w.campaign.pk]},
        django_capture_on_commit_callbacks,
    )  # fmt: skip
    w.admin.groups.clear()  # no longer a street admin

    run()

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "统计数据未重算" in job.message and not HouseholdDays.objects.filter(campaign=w.campaign).exists()
    assert notices(w.admin)[0][0] == "重新计算统计数据未完成"


def test_the_rebuild_action_is_for_the_whole_street_only(visited, client, django_capture_on_commit_callbacks):
    w = visited
    lose_the_street(w.admin, w.c1)
    client.force_login(w.admin)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(
            CAMPAIGNS, {"action": "rebuild_tallies_action", "_selected_action": [w.campaign.pk]}, follow=True
        )
    assert callbacks == [] and not BackgroundJob.objects.exists()
    assert "您的工作范围不是整个街道，不能重新计算该活动的统计数据" in response.content.decode()


# ================================================================================================ 干部名册


def test_a_large_roster_is_previewed_inline_and_imported_by_a_job(
    w, client, settings, django_capture_on_commit_callbacks
):
    settings.ROSTER_BACKGROUND_ROWS = 3  # "large" kept small for the test's sake
    client.force_login(w.admin)
    content = xlsx(good_rows())
    preview = upload(client, content)
    assert preview.status_code == 200 and preview.context["confirm_form"] is not None  # as before

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = confirm(client, preview)
    job = BackgroundJob.objects.get()
    assert (job.kind, job.total, job.status) == (ROSTER_IMPORT, 5, "queued")
    assert response.status_code == 302 and response.url == f"{CADRE_JOB}?job={job.pk}"
    assert "干部名册导入正在后台进行" in client.get(response.url).content.decode()
    assert not Cadre.objects.filter(name="王书记").exists()
    assert len(list(upload_dir().iterdir())) == 1  # kept where the worker reads it

    callbacks[0]()

    job.refresh_from_db()
    message = "导入成功，新增5条记录，更新0条记录，删除0条记录，忽略0条记录。"  # import-export's, as within the request
    assert (job.status, job.message, job.result["lines"]) == (JobStatus.DONE, message, [message])
    wang = Cadre.objects.get(name="王书记")
    assert (wang.tier, wang.scope, wang.user.username) == (Tier.SECRETARY, w.c1, "wangshuji")
    assert LogEntry.objects.filter(user=w.admin, action_flag=ADDITION).count() == 5
    assert not list(upload_dir().iterdir())  # the upload is gone once imported
    assert message in client.get(f"{CADRE_JOB}?job={job.pk}").content.decode()
    assert notices(w.admin) == [("干部名册导入已完成", f"{message}\n详见管理后台“干部”列表。")]

    # The same file within the request: the job imported exactly what the inline import would have.
    settings.ROSTER_BACKGROUND_ROWS = 500
    before = snapshot()
    preview = upload(client, content)
    done = confirm(client, preview)
    assert done.status_code == 302 and done["Location"] == reverse("admin:visitplan_cadre_changelist")
    assert snapshot() == before and BackgroundJob.objects.count() == 1
    assert preview.context["result"].totals["skip"] == 5


def test_a_small_roster_is_still_imported_within_the_request(w, client, django_capture_on_commit_callbacks):
    client.force_login(w.admin)
    preview = upload(client, xlsx(good_rows()))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        done = confirm(client, preview)
    assert done.status_code == 302 and done["Location"] == reverse("admin:visitplan_cadre_changelist")
    assert callbacks == [] and not BackgroundJob.objects.exists()
    assert Cadre.objects.filter(name="王书记").exists()


def test_a_roster_that_turns_bad_before_the_job_runs_imports_nothing_and_names_the_rows(
    w, client, settings, django_capture_on_commit_callbacks
):
    settings.ROSTER_BACKGROUND_ROWS = 3
    client.force_login(w.admin)
    before = snapshot()
    preview = upload(client, xlsx(good_rows()))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        confirm(client, preview)
    job = BackgroundJob.objects.get()
    Department.objects.filter(pk=w.dept.pk).update(name="区民政局（改名）")

    callbacks[0]()

    job.refresh_from_db()
    assert (job.status, job.message) == (JobStatus.FAILED, "发现 1 行有误，未导入任何数据")
    assert job.result["lines"] == [
        "第 5 行【所属部门】：没有名为“区民政局”的责任单位，请先在“责任单位”中添加或改正名称"
    ]
    assert snapshot() == before  # the four good rows rolled back with the bad one
    html = client.get(f"{CADRE_JOB}?job={job.pk}").content.decode()
    assert "干部名册导入没有完成：发现 1 行有误，未导入任何数据" in html and "第 5 行【所属部门】" in html
    assert reverse("admin:visitplan_cadre_import") in html  # 重新导入
    assert not list(upload_dir().iterdir())


def test_a_roster_import_whose_user_lost_the_permission_fails(w, client, settings, django_capture_on_commit_callbacks):
    settings.ROSTER_BACKGROUND_ROWS = 3
    client.force_login(w.admin)
    before = snapshot()
    preview = upload(client, xlsx(good_rows()))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        confirm(client, preview)
    job = BackgroundJob.objects.get()
    w.admin.groups.clear()

    callbacks[0]()

    job.refresh_from_db()
    assert (job.status, job.message) == (JobStatus.FAILED, "你已没有导入干部名册的权限，未导入任何数据")
    cadres, _groups, users = snapshot()
    assert (cadres, users) == (before[0], before[2]) and not list(upload_dir().iterdir())
    assert notices(w.admin)[0][0] == "干部名册导入未完成"


def test_the_roster_import_reports_its_progress(w, client, settings, progress, django_capture_on_commit_callbacks):
    settings.ROSTER_BACKGROUND_ROWS = 3
    client.force_login(w.admin)
    preview = upload(client, xlsx(good_rows()))
    with django_capture_on_commit_callbacks(execute=True):
        confirm(client, preview)
    assert progress == [
        (0, 5, "正在检查各行，共 5 行"),
        *[(n, 5, f"第 1 步（共 2 步）：正在检查第 {n} 行，共 5 行") for n in range(1, 6)],
        *[(n, 5, f"第 2 步（共 2 步）：正在保存第 {n} 行，共 5 行") for n in range(1, 6)],
    ]


# ================================================================================================ the progress seen outside


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_progress_written_inside_a_transaction_is_seen_at_once_on_postgresql(on_postgres):
    """The page polls from another connection: on PostgreSQL the reports of a job whose work is one
    transaction are committed through a connection of their own, and the work's transaction never
    touches the job's row."""
    from django.contrib.auth.models import User

    user = User.objects.create_user("someone")
    job = job_claim(job_create(kind=ALLOCATE, user=user).pk)
    reader = connections.create_connection("default")
    try:

        def seen():
            with reader.cursor() as cursor:
                cursor.execute("SELECT done, total, message FROM core_backgroundjob WHERE id = %s", [job.pk])
                return cursor.fetchone()

        with admin_jobs.TransactionProgress(job, interval=0) as reporter, transaction.atomic():
            reporter(0, 0, "第 1 步", force=True)
            assert seen() == (0, 0, "第 1 步")
            reporter(40, 100, "写入中")
            assert seen() == (40, 100, "写入中")
            assert reporter.outside is not None  # the reports went through a connection of their own
    finally:
        reader.close()
    job.refresh_from_db()
    assert (job.done, job.total, job.message) == (40, 100, "写入中")
