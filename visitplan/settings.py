"""One settings file, read from the environment (see the table in README.md)."""

from datetime import timedelta
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
    # Before staticfiles: runserver leaves static files to WhiteNoise too (the same headers as production).
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "axes",
    "import_export",
    "django_celery_beat",
    "core",
    "households",
    "visitplan",
    "visits",
    "issues",
    "reports",
]

MIDDLEWARE = [
    # Outermost: every response carries X-Request-ID and every log line of the request its id and
    # user id; with LOG_FORMAT=json one line per request (core/logging.py).
    "core.logging.RequestIdMiddleware",
    # Then, so that it compresses the final page (gzip: a 21 KB list page is ~4 KB on a 3G link).
    # Django masks the CSRF token per response, which is the BREACH mitigation for compressed pages.
    "django.middleware.gzip.GZipMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files: compressed (gzip and brotli, made by collectstatic), hashed names cached for a
    # year as immutable, served before sessions and the rest are touched.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Early, so that every response gets the header, redirects and the lockout page included.
    "core.security.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.scope: the user's roles, cadre and subtree, resolved once (core.scope).
    "core.scope.ScopeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # The 待办 count in the header is counted again after the user's own step (visits.todo).
    "visits.todo.TodoCountMiddleware",
    # Idle and absolute session timeouts: needs the user and the messages.
    "core.sessions.SessionTimeoutMiddleware",
    # Deny by default: a view whose URL is not declared in ACCESS_RULES answers 404.
    "core.access.AccessMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # The database cannot be reached: the static 503 page, not a stack trace (core/health.py; the
    # same for an error raised in a middleware through handler500 in visitplan/urls.py).
    "core.health.DatabaseUnavailableMiddleware",
    # The reports' read-only pages read the read replica when there is one (core/replica.py); after
    # core.health's: a database error out of such a page is retried on the primary first.
    "core.replica.ReplicaMiddleware",
    # django-axes turns a lockout into the lockout page; its documentation asks for it last.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "visitplan.urls"
# Who may use each URL (REGISTRY, NAMESPACES), read by core.access.AccessMiddleware.
ACCESS_RULES = "visitplan.access"
# The Scope of a user (roles, cadre, subtree) that every visible_to takes (core.scope).
SCOPE_CLASS = "visitplan.scope.UserScope"
# The service domains a 入户必问 question may name, as [(code, label)]: the ledger owns them
# (issues/domains.py); the rulebook's pages (visitplan/rulebook_pages/) read them through this name.
RULEBOOK_DOMAINS = "issues.domains.SERVICE_DOMAINS"

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
                "households.levels.context",
                "issues.context_processors.notifications",
                "visits.todo.context",
            ],
        },
    },
]

WSGI_APPLICATION = "visitplan.wsgi.application"

# Embedded default: an SQLite file; production and CI set DATABASE_URL (PostgreSQL, psycopg 3).
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Optional: a PostgreSQL streaming replica of DATABASE_URL that the dashboard, the ledger pages and
# the exports read (core/replica.py, docs/decisions/0016-read-replica.md). Writes, and every read
# that must see its own write, stay on the primary. Empty: no replica, everything reads the primary.
DATABASE_REPLICA_URL = env("DATABASE_REPLICA_URL", default="")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = env.db_url_config(DATABASE_REPLICA_URL)
for _database in DATABASES.values():
    _database.setdefault("ATOMIC_REQUESTS", False)
    if _database["ENGINE"] != "django.db.backends.sqlite3":
        # Keep connections open between requests: a new PostgreSQL connection per request costs more
        # CPU than the visit submit itself (bench/bench_visits.py). Health checks drop dead ones.
        _database["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
        _database["CONN_HEALTH_CHECKS"] = True
    if _database["ENGINE"].startswith("django.db.backends.postgresql"):
        # No JIT: the dashboard's aggregates have high plan costs, and PostgreSQL spent 1-2.7 s per
        # query compiling them before reading a row (EXPLAIN ANALYZE in bench/bench_reports.py).
        options = _database.setdefault("OPTIONS", {})
        options["options"] = " ".join(filter(None, [options.get("options", ""), "-c jit=off"]))
    if _database["ENGINE"] == "django.db.backends.sqlite3":
        _database.setdefault("OPTIONS", {}).update(
            {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
        )
if DATABASE_REPLICA_URL:
    _engine = DATABASES["default"]["ENGINE"]
    if DATABASES["replica"]["ENGINE"] != _engine or not _engine.startswith("django.db.backends.postgresql"):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            "DATABASE_REPLICA_URL 只能是 DATABASE_URL 所指 PostgreSQL 主库的流复制备库（postgres://…）；"
            "不用只读副本时请删掉这一项"
        )
    # A replica that does not answer: the reports read the primary after this many seconds, not a minute.
    DATABASES["replica"]["OPTIONS"].setdefault("connect_timeout", 3)
    # The tests create no database for it: it reads the test database of default.
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["core.replica.ReplicaRouter"]
# A replica further behind than this is not read: the reports read the primary (stale figures would
# mislead a leader more than a slower page); from REPLICA_NOTICE_SECONDS on, a page read from the
# replica says how old its figures are.
REPLICA_MAX_LAG_SECONDS = env.int("REPLICA_MAX_LAG_SECONDS", default=300)
REPLICA_NOTICE_SECONDS = 5

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Logins: django-axes ------------------------------------------------------------------------
# Its backend first (it refuses a locked-out pair before the password is checked), then Django's.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Locked per (username, address) pair: one office behind one NAT does not lock everyone out, and
# someone guessing from elsewhere does not lock the cadre out of her own phone. Any username counts,
# existing or not, so the lockout says nothing about which accounts exist.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "core.security.lockout_response"  # templates/registration/lockout.html
AXES_CLIENT_IP_CALLABLE = "core.http.client_ip"
# Behind a reverse proxy: the META name of the client-address header the proxy writes, e.g.
# HTTP_X_REAL_IP (core/http.py client_ip: the access log and django-axes alike). Empty: REMOTE_ADDR. Never set it without a proxy
# that overwrites the header, or clients choose their own address.
CLIENT_IP_HEADER = env("CLIENT_IP_HEADER", default="")

# --- Sessions -----------------------------------------------------------------------------------
# core/sessions.py logs out after SESSION_IDLE_MINUTES without a request and
# SESSION_ABSOLUTE_HOURS after the login; the cookie does not outlive the absolute timeout.
# Idle: two hours — a cadre keeps the visit form open through a visit of 30-75 minutes (and the
# form keeps a local draft should the session still end).
SESSION_IDLE_MINUTES = env.int("SESSION_IDLE_MINUTES", default=120)
SESSION_ABSOLUTE_HOURS = env.int("SESSION_ABSOLUTE_HOURS", default=12)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_HOURS * 3600
SESSION_COOKIE_HTTPONLY = True
# No script reads the CSRF cookie: forms (and the visit form's fetch, via FormData) send the token field.
CSRF_COOKIE_HTTPONLY = True

# --- HTTP security headers ----------------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Behind a TLS-terminating proxy: SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https (the proxy
# must set that header itself). Only then may SECURE_SSL_REDIRECT be turned off (the proxy redirects).
_proxy_ssl_header = env("SECURE_PROXY_SSL_HEADER", default="")
if _proxy_ssl_header:
    _name, _, _value = _proxy_ssl_header.partition(",")
    SECURE_PROXY_SSL_HEADER = (_name.strip(), _value.strip() or "https")
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    if not SECURE_HSTS_PRELOAD:
        # Preloading is a decision for the owner of the registrable domain (it covers every host
        # under it) and has no effect when sent from a host like visit.example.gov.cn.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]

# Content-Security-Policy (core/security.py). style-src allows inline styles: several app
# and admin templates use style attributes and <style> blocks.
CSP_REPORT_ONLY = env.bool("CSP_REPORT_ONLY", default=False)
CSP_DIRECTIVES = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
# Templates whose inline <script> is allowed by its hash (computed from the template at start-up).
# Each should become a static file; then drop it from here.
CSP_INLINE_SCRIPT_TEMPLATES = []
# Inline event handlers of third-party templates, allowed by hash ('unsafe-hashes'):
# django-import-export's export page ("select all" fields checkbox).
CSP_INLINE_HANDLERS = ["onSelectToggleChange(event)"]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "zh-hans"
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True
# Chinese for what Django's and the third-party apps' zh_Hans catalogues leave in English (the admin's
# filter_horizontal buttons, its app-list headers, django-axes…); first in line, admin/jsi18n/ included.
LOCALE_PATHS = [BASE_DIR / "locale"]

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # collectstatic writes each file under a content-hashed name plus its .gz and .br; pages link the
    # hashed names (with DEBUG on, the plain ones), so a new release is fetched and an old one never
    # is again. docs/decisions/0013-light-pages.md: why the app serves them (WhiteNoise) as well as nginx can.
    "staticfiles": {"BACKEND": "core.staticfiles.StaticFilesStorage"},
}
# Hashed files: a year, immutable (WhiteNoise's default for them); others an hour.
WHITENOISE_MAX_AGE = 3600

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
# One beat only, enforced: a beat takes a lock when it starts (core/beat_lock.py; a Redis key
# with NX and an expiry on Redis, an flock on the file broker) and a second one exits.
CELERY_BEAT_LOCK = env.bool("CELERY_BEAT_LOCK", default=True)
CELERY_BEAT_LOCK_URL = env("CELERY_BEAT_LOCK_URL", default="")  # empty: the broker if it is Redis
CELERY_BEAT_LOCK_KEY = env("CELERY_BEAT_LOCK_KEY", default="visitplan:beat-lock")
CELERY_BEAT_LOCK_TTL = env.int("CELERY_BEAT_LOCK_TTL", default=60)
CELERY_BEAT_LOCK_FILE = env("CELERY_BEAT_LOCK_FILE", default=str(VAR_DIR / "celerybeat.lock"))
# The daily reminder job (issues/reminders.py), 08:00 office time (CELERY_TIMEZONE); it sends
# nothing on non-working days.
# The 回头看 lists (visits/followups.py) at 07:30, so the day's follow-ups are there when cadres start.
CELERY_BEAT_SCHEDULE = {
    "build-followups-daily": {"task": "visits.tasks.build_followups_task", "schedule": crontab(hour=7, minute=30)},
    "send-reminders-daily": {"task": "issues.tasks.send_reminders_task", "schedule": crontab(hour=8, minute=0)},
    # The month before's 月度大走访活动入户表 (reports/monthly.py), on the 1st at 06:00.
    "build-monthly-report": {
        "task": "reports.tasks.build_monthly_report_task",
        "schedule": crontab(day_of_month=1, hour=6, minute=0),
    },
    # The month before's 督查通报 (reports/bulletin/), on the 1st at 06:30, sent to the street admins and leaders.
    "build-bulletin": {
        "task": "reports.tasks.build_bulletin_task",
        "schedule": crontab(day_of_month=1, hour=6, minute=30),
    },
    # The dashboard's tallies recomputed from the visits (visits/tally.py), a safety net at 02:30.
    "rebuild-tallies-nightly": {"task": "visits.tasks.rebuild_tallies_task", "schedule": crontab(hour=2, minute=30)},
    # What a 集中走访 / 集中整改 stage left undone (reports/leftovers.py), told the day after it ends, at 08:10.
    "notify-stage-leftovers-daily": {
        "task": "reports.tasks.notify_stage_leftovers_task",
        "schedule": crontab(hour=8, minute=10),
    },
    # The nightly backup (core/backups.py): pg_dump and the uploaded files, at 03:00, after the tallies.
    "backup-nightly": {"task": "core.tasks.backup_task", "schedule": crontab(hour=3, minute=0)},
    # Background jobs whose worker died and that no redelivery took over are failed and their users
    # told (core.jobs.sweep_lost_jobs), every 15 minutes.
    "sweep-lost-jobs": {"task": "core.tasks.sweep_lost_jobs_task", "schedule": crontab(minute="*/15")},
    # Next year's partitions of the visits and the issue events (core/partitions.py), on the 1st at 04:00.
    "ensure-partitions-monthly": {
        "task": "core.tasks.ensure_partitions_task",
        "schedule": crontab(day_of_month=1, hour=4, minute=0),
    },
    # The export files older than EXPORT_KEEP_DAYS (reports/ledgers/jobs.py) deleted, at 03:30.
    "purge-expired-exports-daily": {
        "task": "reports.tasks.purge_expired_exports_task",
        "schedule": crontab(hour=3, minute=30),
    },
}

# Backups (core/backups.py, manage.py backup / restore): where they go, how many days they are kept
# (the newest successful one always is), and where pg_dump / pg_restore are (empty: PATH, then the
# newest /usr/lib/postgresql/*/bin).
BACKUP_DIR = env.path("BACKUP_DIR", default=str(VAR_DIR / "backups"))
BACKUP_KEEP_DAYS = env.int("BACKUP_KEEP_DAYS", default=14)
PG_BIN_DIR = env("PG_BIN_DIR", default="")

# Outside channels for reminders (issues/channels.py), as dotted paths; an SMS channel plugs in here.
REMINDER_CHANNELS = env.list("REMINDER_CHANNELS", default=["issues.channels.EmailChannel"])

# Register imports: an upload larger than this is refused before it is parsed.
IMPORT_MAX_UPLOAD_MB = env.int("IMPORT_MAX_UPLOAD_MB", default=30)
IMPORT_MAX_ROWS = env.int("IMPORT_MAX_ROWS", default=200_000)
# A register of more rows is checked and imported by a Celery task, with a progress page; smaller
# ones within the request. 2,000 rows take about 0.2 s to check and 0.3 s to import on SQLite
# (holding its write lock about 0.1 s); 20,000 already take 2 s and more.
IMPORT_BACKGROUND_ROWS = env.int("IMPORT_BACKGROUND_ROWS", default=2000)
# A 干部名册 of more rows is imported (确认导入) by a Celery task, with a progress page; a smaller one
# within the request (500 rows take about half a second; the largest, STAFF_LIST_MAX_ROWS, 5 s).
ROSTER_BACKGROUND_ROWS = env.int("ROSTER_BACKGROUND_ROWS", default=500)
# Ledger exports (reports/ledgers/jobs.py): a ledger of more rows is written by a Celery task while
# its page shows the progress; a smaller one within the request. The files (MEDIA_ROOT/exports/)
# are kept this many days, then deleted by the daily purge.
EXPORT_BACKGROUND_ROWS = env.int("EXPORT_BACKGROUND_ROWS", default=5000)
EXPORT_KEEP_DAYS = env.int("EXPORT_KEEP_DAYS", default=7)
# The xlsx guard (core/xlsx_guard.py), before any parser reads an upload: zip and cell bombs.
IMPORT_MAX_UNPACKED_MB = env.int("IMPORT_MAX_UNPACKED_MB", default=200)
IMPORT_MAX_ZIP_ENTRIES = env.int("IMPORT_MAX_ZIP_ENTRIES", default=500)
IMPORT_MAX_COMPRESSION_RATIO = env.int("IMPORT_MAX_COMPRESSION_RATIO", default=100)
IMPORT_MAX_CELLS = env.int("IMPORT_MAX_CELLS", default=3_000_000)  # rows × columns of a sheet
# The parsers read an upload in a child process (core/sandbox.py) with these limits: a file that
# gets past the guard costs that child, never a web or Celery process. Measured on a 200,000-row
# register: 310 MB of address space and 3.3 s of CPU; 550 MB and 4.3 s with every column filled
# and 100-character notes (190 MB of sheet XML, near IMPORT_MAX_UNPACKED_MB).
IMPORT_PARSE_MEMORY_MB = env.int("IMPORT_PARSE_MEMORY_MB", default=1536)
IMPORT_PARSE_CPU_SECONDS = env.int("IMPORT_PARSE_CPU_SECONDS", default=60)
# Staff-list uploads in the admin (visitplan/sheets): a street's roster is a few hundred rows.
STAFF_LIST_MAX_UPLOAD_MB = 5
STAFF_LIST_MAX_ROWS = 5000
# 平面图 of a community or grid (households/plans.py, the 网格图): PNG, JPEG or WebP up to this size.
PLAN_MAX_UPLOAD_MB = 5

# The access log (导出 / 查看完整信息) is kept at least 183 days; purge_access_logs drops older rows.
ACCESS_LOG_RETENTION_DAYS = env.int("ACCESS_LOG_RETENTION_DAYS", default=365)

# Shown on pages and contact cards.
SITE_TITLE = env("SITE_TITLE", default="入户走访工作平台")
# The field app (visits/offline.py): how many days a phone keeps the pages of a cadre's households
# for use without signal; older pages are dropped, not shown. Refreshed whenever the phone is online.
OFFLINE_KEEP_DAYS = env.int("OFFLINE_KEEP_DAYS", default=7)
# The street office's supervision phone (监督电话) printed on every contact card (亲情卡).
SUPERVISION_PHONE = env("SUPERVISION_PHONE", default="")

# CI sets this so that tests needing PostgreSQL, Redis or a browser fail instead of skipping.
REQUIRE_SERVICES = env.bool("REQUIRE_SERVICES", default=False)

# Logs (core/logging.py): "text" (default, `make run`) as before; "json" (deployments) one JSON object
# per line with the request id and the user id (never a username or a query string).
LOG_FORMAT = env("LOG_FORMAT", default="text").strip().lower()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request": {"()": "core.logging.RequestContextFilter"}},
    "formatters": {"json": {"()": "core.logging.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request"],
            **({"formatter": "json"} if LOG_FORMAT == "json" else {}),
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}
if LOG_FORMAT == "json":
    # runserver's own access line is text and carries the query string; core.requests logs each request.
    LOGGING["loggers"] = {"django.server": {"handlers": [], "level": "CRITICAL", "propagate": False}}

# /healthz (core/health.py): the disk of MEDIA_ROOT is degraded under this many MB free, down under a
# tenth of it; the beat check reads the last run of this beat entry (the daily reminders, 08:00).
HEALTH_MIN_FREE_MB = env.int("HEALTH_MIN_FREE_MB", default=1024)
HEALTH_BEAT_TASK = "send-reminders-daily"
