"""运行状态 (core/health.py): ``/healthz`` for the monitoring, and the 503 page when the database is down.

- ``/healthz`` is public, JSON, ``no-store``, fast; ok / degraded answer 200, down 503; it shows
  states, counts and times, never a password, host or path.
- database: down when ``SELECT 1`` fails; broker: Redis pinged (and its queue counted), the file
  broker's folder written (and its messages counted); beat: stale when the daily 08:00 reminders
  were not sent by 08:30; disk: degraded under HEALTH_MIN_FREE_MB, down under a tenth of it.
- A database error in a view or in a middleware answers the Chinese 503 page (rendered without
  touching the database), and ``/healthz`` its JSON "down".
"""

import datetime
import time
import uuid
from collections import namedtuple
from zoneinfo import ZoneInfo

import pytest
from django.db import OperationalError
from django.db.backends import utils as db_utils
from django.test import Client, RequestFactory
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from core import health
from tests.support.skipping import require_or_skip

SHANGHAI = ZoneInfo("Asia/Shanghai")
ENTRY = "send-reminders-daily"
DOWN_TEXT = "系统暂时无法连接数据库，请稍后再试；如持续出现请联系街道信息管理员"
Usage = namedtuple("Usage", "total used free")
MB = 1024 * 1024


def at(day, hour, minute=0, second=0):
    """An aware moment, office time (2026-11-04 is a Wednesday)."""
    return datetime.datetime(2026, 11, day, hour, minute, second, tzinfo=SHANGHAI)


def reminders_entry(*, last_run_at=None, registered=None, enabled=True):
    """The beat's record of the daily reminder job, as django-celery-beat's DatabaseScheduler keeps it."""
    crontab = CrontabSchedule.objects.create(minute="0", hour="8", timezone="Asia/Shanghai")
    entry = PeriodicTask.objects.create(
        name=ENTRY, task="issues.tasks.send_reminders_task", crontab=crontab, last_run_at=last_run_at, enabled=enabled
    )
    if registered is not None:  # date_changed is auto_now: set it as the beat's first sync left it
        PeriodicTask.objects.filter(pk=entry.pk).update(date_changed=registered)
    return entry


@pytest.fixture
def healthy(db, settings, tmp_path):
    """Everything well: a writable file broker, plenty of disk, reminders sent a minute ago."""
    settings.CELERY_BROKER_URL = "filesystem://"
    broker = tmp_path / "broker"
    broker.mkdir()
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(broker), "data_folder_out": str(broker)}
    settings.MEDIA_ROOT = tmp_path / "media-not-created-yet"
    settings.HEALTH_MIN_FREE_MB = 1
    reminders_entry(last_run_at=datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1))
    return broker


def get_health(client=None, **headers):
    response = (client or Client()).get("/healthz", **headers)
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    return response, response.json()


# ---------------------------------------------------------------------------------------- /healthz


def test_all_well_is_ok_public_uncached_and_fast(healthy, settings):
    response, body = get_health()  # no login
    assert response.status_code == 200
    assert body["status"] == "ok", body
    assert set(body["checks"]) == {"database", "broker", "beat", "disk"}
    for name, check in body["checks"].items():
        assert check["status"] == "ok", name
        assert check["detail"]  # a sentence a person reads
    assert body["checks"]["broker"]["queue"] == 0
    assert body["checks"]["beat"]["last_run"]
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        Client().get("/healthz")
        timings.append(time.perf_counter() - started)
    assert min(timings) < 0.1, timings


def test_it_names_no_path_host_or_secret(healthy, settings, tmp_path):
    settings.CELERY_BROKER_URL = "redis://:s3cret-pass@127.0.0.1:1/0"  # nothing listens on port 1
    started = time.perf_counter()
    response, body = get_health()
    assert time.perf_counter() - started < 3  # the broker's 1 s timeouts, not a hang
    assert response.status_code == 503 and body["status"] == "down"
    assert body["checks"]["broker"]["status"] == "down"
    text = response.content.decode()
    for secret in ("s3cret", "127.0.0.1", ":1/", str(tmp_path), str(settings.BASE_DIR), settings.SECRET_KEY):
        assert secret not in text


def test_only_get_is_answered(healthy):
    assert Client().post("/healthz").status_code == 405


# ------------------------------------------------------------------------------------------- beat


@pytest.mark.parametrize(
    "last_run, now, status",
    [
        (at(3, 8, 0, 1), at(4, 8, 20), "ok"),  # today's run is due at 08:00, grace until 08:30
        (at(3, 8, 0, 1), at(4, 8, 31), "degraded"),  # 08:31 and nothing since yesterday: stale
        (at(4, 8, 0, 2), at(4, 20, 0), "ok"),
        (at(4, 8, 0, 2), at(5, 8, 29), "ok"),
        (at(4, 8, 0, 2), at(5, 8, 31), "degraded"),
        (at(6, 8, 0, 2), at(7, 8, 31), "degraded"),  # Saturday: beat sends the job every day
        (at(6, 8, 0, 2), at(7, 7, 59), "ok"),
        (at(1, 8, 0, 2), at(4, 12, 0), "degraded"),  # beat stopped for days
    ],
)
def test_the_reminders_are_stale_after_0830_without_a_run_since_0800(db, settings, last_run, now, status):
    settings.HEALTH_BEAT_TASK = ENTRY
    reminders_entry(last_run_at=last_run)
    result = health.check_beat(now=now)
    assert result["status"] == status, result
    assert result["last_run"].startswith(last_run.strftime("%Y-%m-%dT%H:%M"))
    if status == "degraded":
        assert "每日督办提醒未按时运行" in result["detail"]


def test_an_entry_never_run_counts_from_when_beat_registered_it(db, settings):
    settings.HEALTH_BEAT_TASK = ENTRY
    reminders_entry(registered=at(4, 9, 0))  # beat first started after today's 08:00
    assert health.check_beat(now=at(4, 12, 0))["status"] == "ok"
    assert health.check_beat(now=at(5, 8, 20))["status"] == "ok"
    stale = health.check_beat(now=at(5, 8, 31))
    assert stale["status"] == "degraded" and "从未运行" in stale["detail"]


def test_no_entry_or_a_disabled_one_is_degraded(db, settings):
    settings.HEALTH_BEAT_TASK = ENTRY
    missing = health.check_beat(now=at(4, 12, 0))
    assert missing["status"] == "degraded" and "从未启动" in missing["detail"]
    reminders_entry(last_run_at=at(4, 8, 0, 1), enabled=False)
    disabled = health.check_beat(now=at(4, 12, 0))
    assert disabled["status"] == "degraded" and "停用" in disabled["detail"]


def test_an_interval_schedule_is_due_one_interval_after_its_last_run(db, settings):
    settings.HEALTH_BEAT_TASK = ENTRY
    hourly = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    PeriodicTask.objects.create(name=ENTRY, task="issues.tasks.send_reminders_task", interval=hourly,
                                last_run_at=at(4, 9, 0))  # fmt: skip
    assert health.check_beat(now=at(4, 10, 29))["status"] == "ok"
    assert health.check_beat(now=at(4, 10, 31))["status"] == "degraded"


def test_a_stale_beat_is_degraded_which_answers_200(healthy):
    PeriodicTask.objects.filter(name=ENTRY).update(
        last_run_at=datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=3)
    )
    response, body = get_health()
    assert response.status_code == 200
    assert body["status"] == "degraded" and body["checks"]["beat"]["status"] == "degraded"


# ----------------------------------------------------------------------------------------- broker


def test_the_file_broker_counts_its_waiting_messages(healthy):
    for name in ("1_a.celery.msg", "2_b.celery.msg", "3_c.other.msg"):
        (healthy / name).write_bytes(b"{}")
    result = health.check_broker()
    assert result["status"] == "ok" and result["transport"] == "filesystem"
    assert result["queue"] == 2  # the default queue's messages only
    assert not [p for p in healthy.iterdir() if p.name.startswith(".healthz")]  # the probe file is gone


def test_a_missing_broker_folder_is_down(healthy, settings, tmp_path):
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path / "gone")}
    response, body = get_health()
    assert response.status_code == 503 and body["status"] == "down"
    assert body["checks"]["broker"]["status"] == "down"


def test_redis_is_pinged_and_its_queue_counted(healthy, settings):
    url = "redis://127.0.0.1:6379/5"
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
        reachable = True
    except redis.RedisError:
        reachable = False
    require_or_skip(reachable, f"Redis at {url}")
    queue = f"healthz-test-{uuid.uuid4().hex[:8]}"
    settings.CELERY_BROKER_URL = url
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    keys = [queue, f"{queue}\x06\x163"]
    try:
        client.rpush(keys[0], "m1", "m2", "m3")
        client.rpush(keys[1], "m4")  # a message with a priority: kombu's own list
        response, body = get_health()
        assert response.status_code == 200
        assert body["checks"]["broker"] == {
            **body["checks"]["broker"],
            "status": "ok",
            "transport": "redis",
            "queue": 4,
        }
    finally:
        client.delete(*keys)
        client.close()


# ------------------------------------------------------------------------------------------- disk


@pytest.mark.parametrize("free_mb, status, http", [(5000, "ok", 200), (800, "degraded", 200), (90, "down", 503)])
def test_disk_space_of_media_root_against_the_minimum(healthy, settings, monkeypatch, free_mb, status, http):
    settings.HEALTH_MIN_FREE_MB = 1024
    seen = []

    def usage(path):
        seen.append(path)
        return Usage(100_000 * MB, 0, free_mb * MB)

    monkeypatch.setattr(health.shutil, "disk_usage", usage)
    response, body = get_health()
    assert response.status_code == http
    assert body["checks"]["disk"]["status"] == status
    assert body["checks"]["disk"]["free_mb"] == free_mb
    assert seen and seen[0].exists()  # MEDIA_ROOT does not exist yet: its nearest existing parent


# ---------------------------------------------------------------------------------- database down


class BrokenDatabase:
    """Every query fails as when the server is gone, once ``break_()`` is called; queries naming one
    of ``spare`` (the session, the user) still pass."""

    def __init__(self):
        self.original = db_utils.CursorWrapper.execute
        self.spare = ()

    def break_(self, *spare):
        original, self.spare = self.original, spare

        def execute(cursor, sql, params=None):
            if any(table in sql for table in self.spare):
                return original(cursor, sql, params)
            raise OperationalError("connection to server failed: Connection refused")

        db_utils.CursorWrapper.execute = execute

    def mend(self):
        db_utils.CursorWrapper.execute = self.original


@pytest.fixture
def broken_database(db):
    broken = BrokenDatabase()
    yield broken
    broken.mend()


def _is_the_503_page(response):
    text = response.content.decode()
    return (
        response.status_code == 503
        and DOWN_TEXT in text
        and "Traceback" not in text
        and "OperationalError" not in text
        and response["Retry-After"]
    )


@pytest.mark.parametrize("debug", [False, True])
def test_a_database_error_in_a_view_answers_the_chinese_503_page(world, settings, broken_database, debug):
    settings.DEBUG = debug
    client = Client(raise_request_exception=False)
    client.force_login(world.admin)
    broken_database.break_("django_session", "auth_user")  # the middleware gets through, the page fails
    response = client.get("/households/")
    assert _is_the_503_page(response)
    assert response["Cache-Control"] == "no-store"


def test_a_database_error_in_a_middleware_answers_the_503_page_too(world, settings, broken_database):
    settings.DEBUG = False
    client = Client(raise_request_exception=False)
    client.force_login(world.admin)
    broken_database.break_()  # the session itself cannot be read (handler500)
    assert _is_the_503_page(client.get("/households/"))


def test_healthz_reports_down_in_json_when_the_database_is_down(world, settings, broken_database):
    settings.DEBUG = False
    client = Client(raise_request_exception=False)
    client.force_login(world.admin)
    broken_database.break_()
    response, body = get_health(Client(raise_request_exception=False))
    assert response.status_code == 503
    assert body["status"] == "down"
    assert body["checks"]["database"]["status"] == "down"
    assert body["checks"]["beat"]["status"] == "degraded"
    assert "Connection refused" not in response.content.decode()
    # A monitoring client holding a session cookie: the session cannot be read, still the JSON.
    response, body = get_health(client)
    assert response.status_code == 503 and body["status"] == "down"


def test_other_errors_keep_the_500_page():
    request = RequestFactory().get("/somewhere/")
    try:
        raise ValueError("not the database")
    except ValueError:
        response = health.server_error(request)
    assert response.status_code == 500
    assert DOWN_TEXT not in response.content.decode()
