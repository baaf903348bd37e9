"""One settings file, read from the environment (see the table in README.md)."""

from pathlib import Path

import environ
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-key-change-me-in-production")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "import_export",
    "django_celery_beat",
    "households",
    "visitplan",
    "visits",
    "issues",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "visitplan.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "visitplan.context_processors.site",
                "issues.context_processors.notifications",
            ],
        },
    },
]

WSGI_APPLICATION = "visitplan.wsgi.application"

# Embedded default: an SQLite file; production and CI set DATABASE_URL (PostgreSQL, psycopg 3).
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"].setdefault("ATOMIC_REQUESTS", False)
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    # Keep connections open between requests: a new PostgreSQL connection per request costs more
    # CPU than the visit submit itself (bench/bench_visits.py). Health checks drop dead ones.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql"):
    # No JIT: the dashboard's aggregates have high plan costs, and PostgreSQL spent 1-2.7 s per
    # query compiling them before reading a row (EXPLAIN ANALYZE in bench/bench_reports.py).
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options["options"] = " ".join(filter(None, [options.get("options", ""), "-c jit=off"]))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "zh-hans"
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))

MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="visitplan@localhost")

# Celery: Redis in production; a filesystem broker that needs no server by default.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
_broker_dir = VAR_DIR / "celery-broker"
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    # Redis: a task not acknowledged within this time is delivered again (acks_late). An hour is
    # far above the longest task (the nightly tally rebuild, ~25 s at district size), so a running
    # task is never handed to a second worker; a dead worker's task comes back within the hour.
    else {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
)
if CELERY_BROKER_URL.startswith("filesystem"):
    for _folder in ("processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Every job is idempotent (claimed in the database), so a task whose worker died may safely run
# again: acknowledge after the task ran, and one message at a time per worker process.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The daily reminder job (issues/reminders.py), 08:00 office time (CELERY_TIMEZONE); it sends
# nothing on non-working days. Only one beat may run.
# The 回头看 lists (visits/followups.py) at 07:30, so the day's follow-ups are there when cadres start.
CELERY_BEAT_SCHEDULE = {
    "build-followups-daily": {"task": "visits.tasks.build_followups_task", "schedule": crontab(hour=7, minute=30)},
    "send-reminders-daily": {"task": "issues.tasks.send_reminders_task", "schedule": crontab(hour=8, minute=0)},
    # The month before's 月度大走访活动入户表 (reports/monthly.py), on the 1st at 06:00.
    "build-monthly-report": {"task": "reports.tasks.build_monthly_report_task", "schedule": crontab(day_of_month=1, hour=6, minute=0)},
    # The dashboard's tallies recomputed from the visits (visits/tally.py), a safety net at 02:30.
    "rebuild-tallies-nightly": {"task": "visits.tasks.rebuild_tallies_task", "schedule": crontab(hour=2, minute=30)},
}

# Outside channels for reminders (issues/channels.py), as dotted paths; an SMS channel plugs in here.
REMINDER_CHANNELS = env.list("REMINDER_CHANNELS", default=["issues.channels.EmailChannel"])

# Register imports: an upload larger than this is refused before it is parsed.
IMPORT_MAX_UPLOAD_MB = env.int("IMPORT_MAX_UPLOAD_MB", default=30)
IMPORT_MAX_ROWS = env.int("IMPORT_MAX_ROWS", default=200_000)

# Shown on pages and contact cards.
SITE_TITLE = env("SITE_TITLE", default="入户走访工作平台")
# The street office's supervision phone (监督电话) printed on every contact card (亲情卡).
SUPERVISION_PHONE = env("SUPERVISION_PHONE", default="")

# CI sets this so that tests needing PostgreSQL, Redis or a browser fail instead of skipping.
REQUIRE_SERVICES = env.bool("REQUIRE_SERVICES", default=False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}
