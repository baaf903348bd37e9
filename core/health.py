"""运行状态 · Health: ``/healthz`` for the monitoring of the IT department, and the page a user gets
when the database cannot be reached.

``/healthz`` (GET, public: no login) answers JSON ``{"status": "ok" | "degraded" | "down",
"checks": {name: {"status": …, "detail": "…", …}}}``, HTTP 200 when ok or degraded, 503 when down,
``Cache-Control: no-store``. It never raises, and it tells nothing personal or secret: no host
names, addresses, passwords or paths, only states, counts and times. The checks:

- ``database``: ``SELECT 1`` (on PostgreSQL under a 2 s statement timeout); down when it fails.
- ``broker``: Redis (``CELERY_BROKER_URL`` redis:// or rediss://): a ping with a 1 s timeout, and
  ``queue``, the length of the default queue (``CELERY_TASK_DEFAULT_QUEUE``, Celery's ``celery``,
  with kombu's priority lists); down when Redis does not answer. The filesystem broker of
  ``make run``: its folder must take a file (down otherwise); ``queue`` is the number of messages
  waiting in it.
- ``beat``: the last run of the daily reminder job (the beat entry ``HEALTH_BEAT_TASK``, 08:00).
  The record is the beat's own: django-celery-beat's ``DatabaseScheduler`` keeps each entry's
  ``PeriodicTask.last_run_at`` (saved within minutes of sending the job), so nothing is added for
  it. Degraded (stale) when the run that should have followed the last one is more than
  ``HEALTH_BEAT_GRACE_MINUTES`` (30) overdue: on any day after 08:30, no run since today's 08:00
  (beat sends the job every day; the job itself sends nothing on non-working days). An entry never
  run counts from when beat registered it; no entry at all means beat never started. What this
  record cannot say is whether a worker took the job: the queue length says that (a job beat sent
  that no worker runs stays in the queue).
- ``disk``: free space of the filesystem of ``MEDIA_ROOT``: degraded under ``HEALTH_MIN_FREE_MB``
  (1024), down under a tenth of it.

The database page: ``DatabaseUnavailableMiddleware`` turns an ``OperationalError`` /
``InterfaceError`` out of a view into the static page ``templates/503.html`` (HTTP 503, rendered
without a request, so no context processor queries the database it cannot reach); ``server_error``
(``handler500``) does the same for one raised in a middleware (the session, the user). ``/healthz``
answers its JSON in both cases.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections, transaction
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views import defaults

log = logging.getLogger(__name__)

OK, DEGRADED, DOWN = "ok", "degraded", "down"
_WORST = {OK: 0, DEGRADED: 1, DOWN: 2}

DATABASE_TIMEOUT = "2s"  # PostgreSQL statement_timeout of the SELECT 1
BROKER_TIMEOUT = 1.0  # seconds: connecting to Redis, and each answer
BEAT_GRACE_MINUTES = 30
# A schedule whose next run cannot be computed (solar, clocked): stale after this long without a run.
BEAT_MAX_AGE = timedelta(hours=26)
MIN_FREE_MB = 1024

# Database errors that mean "the database cannot be reached or cannot answer now".
DATABASE_ERRORS = (OperationalError, InterfaceError)

DATABASE_DOWN_MESSAGE = "系统暂时无法连接数据库，请稍后再试；如持续出现请联系街道信息管理员"


def _result(status, detail, **values):
    return {"status": status, "detail": detail, **values}


# ------------------------------------------------------------------------------------------ checks


def check_database(using=DEFAULT_DB_ALIAS) -> dict:
    """``SELECT 1`` on the database; on PostgreSQL under a short statement timeout."""
    connection = connections[using]
    started = time.perf_counter()
    try:
        if connection.vendor == "postgresql":
            with transaction.atomic(using=using), connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL statement_timeout = '{DATABASE_TIMEOUT}'")
                cursor.execute("SELECT 1")
                cursor.fetchone()
        else:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - whatever it is, the database does not answer
        return _result(DOWN, f"数据库无法访问（{type(exc).__name__}）")
    ms = round((time.perf_counter() - started) * 1000, 1)
    return _result(OK, "数据库连接正常", ms=ms)


def _queue_name() -> str:
    return getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", None) or "celery"


def _redis_queue_keys(queue: str) -> list[str]:
    """The Redis lists of one queue: kombu keeps a message with a priority in ``queue\\x06\\x16N``."""
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    steps = options.get("priority_steps", [0, 3, 6, 9])
    separator = options.get("sep", "\x06\x16")
    return [queue] + [f"{queue}{separator}{step}" for step in steps if step]


def _check_redis(url: str, queue: str) -> dict:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=BROKER_TIMEOUT, socket_timeout=BROKER_TIMEOUT)
    try:
        with client.pipeline(transaction=False) as pipe:
            pipe.ping()
            for key in _redis_queue_keys(queue):
                pipe.llen(key)
            answers = pipe.execute()
    except redis.RedisError as exc:
        return _result(DOWN, f"无法连接 Redis 消息队列（{type(exc).__name__}）")
    finally:
        client.close()
    waiting = sum(int(n) for n in answers[1:])
    return _result(OK, f"Redis 消息队列正常，{waiting} 个任务排队", transport="redis", queue=waiting)


def _check_filesystem(queue: str) -> dict:
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    folder = options.get("data_folder_in")
    if not folder or not Path(folder).is_dir():
        return _result(DOWN, "消息队列文件夹不存在", transport="filesystem")
    try:
        handle, probe = tempfile.mkstemp(prefix=".healthz-", dir=folder)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        return _result(DOWN, f"消息队列文件夹不可写（{type(exc).__name__}）", transport="filesystem")
    suffix = f"{queue}.msg"  # kombu's filesystem transport: <time>_<uuid>.<queue>.msg
    with os.scandir(folder) as entries:
        waiting = sum(1 for entry in entries if entry.name.partition(".")[2] == suffix and entry.is_file())
    return _result(OK, f"本机文件消息队列可写，{waiting} 个任务排队", transport="filesystem", queue=waiting)


def check_broker() -> dict:
    """The Celery broker answers (Redis) or takes files (the filesystem broker); the queue length."""
    url = str(getattr(settings, "CELERY_BROKER_URL", "") or "")
    scheme = url.partition("://")[0].lower()
    if scheme in ("redis", "rediss"):
        return _check_redis(url, _queue_name())
    if scheme == "filesystem":
        return _check_filesystem(_queue_name())
    return _result(OK, "未检查此类消息队列", transport=scheme or "none")


def _next_run(schedule, last_run: datetime) -> datetime | None:
    """When ``schedule`` runs next after ``last_run`` (aware), or None when it cannot say."""
    from celery import schedules

    if isinstance(schedule, schedules.crontab):
        # Celery's own arithmetic (what the beat does): the last run in the schedule's time zone
        # and the step forward to the next matching minute.
        start, step, _now = schedule.remaining_delta(last_run)
        return start + step
    if isinstance(schedule, schedules.schedule):  # an interval
        return last_run + schedule.run_every
    return None


def _local(moment: datetime) -> str:
    return timezone.localtime(moment).isoformat(timespec="minutes")


def check_beat(now: datetime | None = None) -> dict:
    """The beat ran the daily reminder job when it should have (see the module docstring)."""
    from django_celery_beat.models import PeriodicTask

    name = getattr(settings, "HEALTH_BEAT_TASK", "")
    if not name:
        return _result(OK, "未配置要检查的定时任务")
    now = now or timezone.now()
    grace = timedelta(minutes=getattr(settings, "HEALTH_BEAT_GRACE_MINUTES", BEAT_GRACE_MINUTES))
    entry = PeriodicTask.objects.select_related("crontab", "interval", "solar", "clocked").filter(name=name).first()
    if entry is None:
        return _result(DEGRADED, "定时任务（每日督办提醒）尚未登记：Celery beat 从未启动", task=name)
    if not entry.enabled:
        return _result(DEGRADED, "定时任务（每日督办提醒）已停用", task=name)
    last_run = entry.last_run_at
    # Never run: the beat counts from when it registered the entry (django-celery-beat does the same).
    since = last_run or entry.date_changed
    due = _next_run(entry.schedule, since)
    stale = (now - since > BEAT_MAX_AGE) if due is None else (now > due + grace)
    shown = {"task": name, "last_run": _local(last_run) if last_run else None}
    if due is not None:
        shown["next_due"] = _local(due)
    if stale:
        when = f"上次运行 {_local(last_run)}" if last_run else "登记后从未运行"
        return _result(DEGRADED, f"每日督办提醒未按时运行（{when}）：请检查 Celery beat 和 worker", **shown)
    when = f"上次运行 {_local(last_run)}" if last_run else "已登记，尚未到运行时间"
    return _result(OK, f"每日督办提醒按时运行（{when}）", **shown)


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing parent (MEDIA_ROOT is created with the first upload)."""
    path = Path(path).resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_disk() -> dict:
    """Free space of the filesystem of MEDIA_ROOT against HEALTH_MIN_FREE_MB."""
    minimum = int(getattr(settings, "HEALTH_MIN_FREE_MB", MIN_FREE_MB))
    free_mb = shutil.disk_usage(_existing(settings.MEDIA_ROOT)).free // (1024 * 1024)
    if free_mb < minimum / 10:
        status, verdict = DOWN, "磁盘空间严重不足"
    elif free_mb < minimum:
        status, verdict = DEGRADED, "磁盘空间不足"
    else:
        status, verdict = OK, "磁盘空间充足"
    detail = f"{verdict}：上传文件所在磁盘剩余 {free_mb} MB（下限 {minimum} MB）"
    return _result(status, detail, free_mb=free_mb, min_free_mb=minimum)


def _guarded(check, *args, failed=DEGRADED, **kwargs) -> dict:
    try:
        return check(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - a health check answers, it never raises
        # One line, no traceback: the monitoring asks every minute.
        log.warning("health check %s failed: %s: %s", check.__name__, type(exc).__name__, exc)
        return _result(failed, f"检查出错（{type(exc).__name__}）")


def run_checks(now: datetime | None = None) -> dict:
    """Every check, and the worst of their states."""
    checks = {"database": _guarded(check_database, failed=DOWN)}
    checks["broker"] = _guarded(check_broker)
    if checks["database"]["status"] == DOWN:
        checks["beat"] = _result(DEGRADED, "数据库无法访问，无法读取定时任务记录")
    else:
        checks["beat"] = _guarded(check_beat, now=now)
    checks["disk"] = _guarded(check_disk)
    status = max((check["status"] for check in checks.values()), key=_WORST.__getitem__)
    return {"status": status, "checks": checks}


def health_response() -> JsonResponse:
    try:
        report = run_checks()
    except Exception as exc:  # noqa: BLE001 - never raise: the monitoring reads "down"
        log.warning("health checks failed: %s: %s", type(exc).__name__, exc)
        report = {"status": DOWN, "checks": {}, "detail": f"检查出错（{type(exc).__name__}）"}
    response = JsonResponse(
        report, status=503 if report["status"] == DOWN else 200, json_dumps_params={"ensure_ascii": False}
    )
    response["Cache-Control"] = "no-store"
    return response


def healthz(request):
    """``/healthz``: the checks as JSON, for the monitoring (public, no personal data)."""
    return health_response()


# ---------------------------------------------------------------------------------- database down


def _is_health(request) -> bool:
    try:
        return request.path_info == reverse("healthz")
    except NoReverseMatch:
        return False


def database_unavailable(request) -> HttpResponse:
    """The static 503 page (or ``/healthz``'s JSON): rendered without the request, so no context
    processor runs and nothing touches the database."""
    if _is_health(request):
        return health_response()
    html = render_to_string(
        "503.html", {"site_title": getattr(settings, "SITE_TITLE", ""), "message": DATABASE_DOWN_MESSAGE}
    )
    response = HttpResponse(html, status=503)
    response["Retry-After"] = "60"
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    """A database error out of a view answers the 503 page instead of a stack trace or a 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DATABASE_ERRORS):
            return None
        log.error("数据库无法访问 Database unavailable (%s)", type(exception).__name__, exc_info=exception)
        return database_unavailable(request)


def server_error(request, template_name=defaults.ERROR_500_TEMPLATE_NAME):
    """``handler500``: a database error raised outside a view (a middleware reading the session or
    the user) gets the 503 page too; anything else Django's 500 page. Django logs the error."""
    if isinstance(sys.exc_info()[1], DATABASE_ERRORS):
        return database_unavailable(request)
    return defaults.server_error(request, template_name=template_name)
