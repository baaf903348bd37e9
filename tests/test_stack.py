"""The real stack on loopback, as docs/deploy.md sets it up: nginx (deploy/nginx/visitplan.conf) in
front of gunicorn (deploy/gunicorn.conf.py, its timeout as configured), a Celery worker and beat
(the ExecStart lines of deploy/systemd/), PostgreSQL and Redis — every process started here from
the shipped files with the environment template's values (deploy/env.example), only the
addresses and folders moved into a temporary directory.

A browser goes through nginx over HTTPS: a grid worker logs in and records a visit; the street
admin logs in, asks for the 入户走访台账 of the whole campaign (300,000 visits, seeded by
bench/bench_reports.py --seed-only), watches the progress bar move while the Celery worker writes
it, and downloads the file when it is done. nginx's access log then shows that no request took
as long as gunicorn's timeout: the long work ran in the background.

Minutes, not seconds (seeding about one, the export about one or two): it runs in .ci/run (PostgreSQL, Redis,
nginx and Chromium are required there) and skips elsewhere when one of them is missing.
Screenshots: stack_*.png.
"""

import datetime
import json
import os
import re
import secrets
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, DEMO_PASSWORD, screenshot
from tests.support.skipping import require_or_skip
from tests.test_deploy_files import _free_port, gunicorn_config, nginx_binary, prepare_nginx, template_values

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.stack]

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
DATABASE = "visitplan_stack_bench"  # bench_reports.py drops and recreates only a database named *bench*
VISITS = 300_000
REDIS_DB = 9  # the stack's own Redis database: the suite's tasks and the stack's never meet
STARTUP_SECONDS = 60


def _services_or_skip():
    db = settings.DATABASES["default"]
    require_or_skip(db["ENGINE"] == "django.db.backends.postgresql", "PostgreSQL (DATABASE_URL)")
    broker = os.environ.get("CELERY_BROKER_URL", "")
    require_or_skip(broker.startswith("redis://"), "Redis (CELERY_BROKER_URL)")
    require_or_skip(os.path.exists(CHROMIUM), "Chromium")
    nginx_binary()
    return db, broker


def _database_url(db, name) -> str:
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{name}"


def _redis_url(broker: str) -> str:
    return re.sub(r"(/\d+)?$", f"/{REDIS_DB}", broker.split("?")[0], count=1)


class Stack:
    """The processes, their environment and their logs."""

    def __init__(self, tmp_path: Path, db, broker):
        self.tmp = tmp_path
        self.logs = tmp_path / "stack-logs"
        self.logs.mkdir()
        self.app_port = _free_port()
        self.site = prepare_nginx(tmp_path, self.app_port)  # nginx.conf + site.conf; static under site.static
        self.base = f"https://localhost:{self.site.https_port}"
        self.processes: list[tuple[str, subprocess.Popen]] = []
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
        env.update(template_values())  # what the IT person's /etc/visitplan/env says …
        env.update(  # … with this machine's addresses and folders
            SECRET_KEY=secrets.token_urlsafe(50),
            ALLOWED_HOSTS="localhost",
            CSRF_TRUSTED_ORIGINS=f"https://localhost:{self.site.https_port}",
            DATABASE_URL=_database_url(db, DATABASE),
            CELERY_BROKER_URL=_redis_url(broker),
            STATIC_ROOT=str(self.site.static),
            MEDIA_ROOT=str(tmp_path / "media"),
            BACKUP_DIR=str(tmp_path / "backups"),
            WEB_CONCURRENCY="2",
            CELERY_CONCURRENCY="2",
            PYTHONUTF8="1",
            REQUIRE_SERVICES="",
        )
        env.pop("CELERY_TASK_ALWAYS_EAGER", None)
        self.env = env

    def run(self, name, *args, timeout=600):
        with open(self.logs / f"{name}.log", "w") as log:
            done = subprocess.run(args, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout)
        assert done.returncode == 0, f"{name} failed:\n{self.tail(name)}"

    def start(self, name, *args):
        log = open(self.logs / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(
            args, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes.append((name, process))
        return process

    def tail(self, name, lines=40) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self):
        for _name, process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _name, process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    def get(self, path) -> tuple[int, bytes]:
        context = ssl.create_default_context(cafile=str(self.site.cert))
        request = urllib.request.Request(self.base + path, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, context=context, timeout=10) as response:  # noqa: S310
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def wait_until_up(self):
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            for name, process in self.processes:
                assert process.poll() is None, f"{name} exited:\n{self.tail(name)}"
            try:
                status, body = self.get("/healthz")
                health = json.loads(body)
                if health["checks"]["beat"]["status"] == "ok" or "尚未登记" not in health["checks"]["beat"]["detail"]:
                    return status, health
            except (OSError, ValueError, KeyError):
                pass
            assert time.monotonic() < deadline, "the stack did not come up:\n" + "\n".join(
                f"--- {name}\n{self.tail(name)}" for name, _ in self.processes
            )
            time.sleep(0.5)

    def sql(self, query, *params):
        import psycopg

        with psycopg.connect(self.env["DATABASE_URL"].replace("postgres://", "postgresql://"), autocommit=True) as c:
            return c.execute(query, params).fetchall()

    def nginx_requests(self) -> list[tuple[str, str, int, float]]:
        """(method, path, status, seconds) of every request nginx passed on, from its access log."""
        pattern = re.compile(r'"(\w+) (\S+) [^"]*" (\d{3}) \d+ ([\d.]+) ')
        text = (self.site.logs / "visitplan.access.log").read_text(errors="replace")
        return [(m[1], m[2], int(m[3]), float(m[4])) for m in pattern.finditer(text)]


@pytest.fixture
def stack(tmp_path):
    db, broker = _services_or_skip()
    stack = Stack(tmp_path, db, broker)
    python = str(VENV_BIN / "python")
    try:
        stack.run("seed", python, "bench/bench_reports.py", "--seed-only", "--households", "20000",
                  "--visits", str(VISITS), "--issues", "2000", "--followups", "500", timeout=900)  # fmt: skip
        stack.run("collectstatic", python, "manage.py", "collectstatic", "--noinput", "-v0")
        # The commands of the systemd units, with the configuration files as shipped.
        stack.start(
            "gunicorn", str(VENV_BIN / "gunicorn"), "--config", "deploy/gunicorn.conf.py",
            "--bind", f"127.0.0.1:{stack.app_port}",
        )  # fmt: skip
        stack.start(
            "worker", str(VENV_BIN / "celery"), "-A", "visitplan", "worker", "--loglevel=INFO",
            "--concurrency=2", "--max-tasks-per-child=100", "--hostname", f"stack-{stack.app_port}@%h",
        )  # fmt: skip
        stack.start("beat", str(VENV_BIN / "celery"), "-A", "visitplan", "beat", "--loglevel=INFO")
        stack.start(
            "nginx", nginx_binary(), "-p", str(stack.site.prefix), "-e", str(stack.site.logs / "main.error.log"),
            "-c", str(stack.site.conf),
        )  # fmt: skip
        yield stack
    finally:
        stack.stop()
        import psycopg

        admin = _database_url(db, "postgres").replace("postgres://", "postgresql://")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def _poll(page, script, *, timeout=30.0):
    from playwright.sync_api import Error

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = page.evaluate(script)
        except Error:  # the page is reloading (the job finished)
            value = None
        if value:
            return value
        page.wait_for_timeout(200)
    raise AssertionError(f"timed out waiting for {script}")


def _log_in(page, base, username):
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/login/" not in page.url, page.inner_text("body")[:500]


def _xlsx_rows(path: Path) -> int:
    """Rows of the workbook's first sheet, counted in its XML (openpyxl would take a minute)."""
    with zipfile.ZipFile(path) as book:
        name = sorted(n for n in book.namelist() if n.startswith("xl/worksheets/sheet"))[0]
        count, tail = 0, b""
        with book.open(name) as sheet:
            while chunk := sheet.read(1 << 20):
                data = tail + chunk
                count += data.count(b"<row ") + data.count(b"<row>")
                tail = data[-5:]
                count -= tail.count(b"<row ") + tail.count(b"<row>")
        return count + tail.count(b"<row ") + tail.count(b"<row>")


def test_the_stack_behind_nginx_records_a_visit_and_exports_a_campaigns_ledger_in_the_background(stack):
    from playwright.sync_api import sync_playwright

    configured = gunicorn_config()["timeout"]
    printed = subprocess.run(
        [str(VENV_BIN / "gunicorn"), "--config", "deploy/gunicorn.conf.py", "--bind", f"127.0.0.1:{stack.app_port}",
         "--print-config"],
        cwd=REPO, env=stack.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert re.search(rf"^timeout\s*=\s*{configured}$", printed.stdout, re.M), printed.stdout[-2000:]

    status, health = stack.wait_until_up()
    assert status == 200, health
    assert health["checks"]["database"]["status"] == "ok" and health["checks"]["broker"]["status"] == "ok", health

    grid_worker, household = stack.sql(
        "SELECT u.username, a.household_id FROM visitplan_assignment a JOIN visitplan_cadre c ON c.id = a.cadre_id "
        "JOIN auth_user u ON u.id = c.user_id WHERE c.tier = 6 AND c.active ORDER BY u.username, a.household_id LIMIT 1"
    )[0]
    before = stack.sql("SELECT count(*) FROM visits_visit WHERE household_id = %s", household)[0][0]

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # A grid worker on a phone records a visit.
            phone = browser.new_context(
                viewport={"width": 390, "height": 844}, locale="zh-CN", ignore_https_errors=True
            )
            page = phone.new_page()
            _log_in(page, stack.base, grid_worker)
            page.goto(f"{stack.base}/visits/h/{household}/")
            page.click("text=开始走访")
            page.wait_for_url(re.compile(rf"/visits/h/{household}/visit/$"))
            # Yesterday (Beijing time) 09:00–09:30: in the past whatever the hour the test runs at.
            yesterday = (datetime.datetime.now(ZoneInfo(settings.TIME_ZONE)) - datetime.timedelta(days=1)).date()
            page.fill("input[name=visited_on]", yesterday.isoformat())
            page.fill("input[name=started_at]", "09:00")
            page.fill("input[name=ended_at]", "09:30")
            page.click("[data-submit]")
            try:
                page.wait_for_url(re.compile(rf"/visits/h/{household}/(#visit-\d+)?$"))
            except Exception as exc:
                screenshot(page, "stack_visit_refused")
                raise AssertionError(page.inner_text("main")[:1500]) from exc
            assert "走访记录已保存" in page.inner_text("main")
            screenshot(page, "stack_visit_recorded", full_page=False)
            assert stack.sql("SELECT count(*) FROM visits_visit WHERE household_id = %s", household) == [(before + 1,)]
            phone.close()

            # The street admin exports the campaign's 入户走访台账: background, progress, download.
            visits = stack.sql("SELECT count(*) FROM visits_visit")[0][0]
            assert visits == VISITS + 1
            desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN",
                                       ignore_https_errors=True, accept_downloads=True)  # fmt: skip
            page = desk.new_page()
            _log_in(page, stack.base, "admin")
            page.goto(f"{stack.base}/reports/ledgers/")
            page.click("text=下载入户走访台账")
            page.wait_for_url(re.compile(r"/reports/ledgers/exports/\d+/$"))
            started = time.monotonic()
            bar = (
                "(() => { const b = document.querySelector('.job-progress progress');"
                " return b && b.value > 0 && b.value < 100 ? b.value : 0; })()"
            )
            first = _poll(page, bar, timeout=120)
            screenshot(page, "stack_export_running", full_page=False)
            moved = _poll(page, f"(() => {{ const v = {bar}; return v > {first} ? v : 0; }})()", timeout=120)
            assert 0 < first < moved < 100
            _poll(page, "!!document.querySelector('[data-job-download]')", timeout=600)
            seconds = time.monotonic() - started
            assert f"共 {visits} 行" in page.inner_text("main")
            screenshot(page, "stack_export_done", full_page=False)
            with page.expect_download() as info:
                page.click("[data-job-download]")
            path = stack.tmp / "ledger.xlsx"
            info.value.save_as(path)
            desk.close()
        finally:
            browser.close()

    assert _xlsx_rows(path) >= visits + 1  # the header (and any title rows) and one row per visit
    job = stack.sql("SELECT status, done, total, finished_at - started_at FROM core_backgroundjob")
    assert job[0][:3] == ("done", visits, visits), job
    # Every request through nginx was answered well within gunicorn's timeout; the export itself
    # ran in the worker (the job's own duration is printed for the record).
    requests = stack.nginx_requests()
    assert requests and all(status < 500 for _m, _p, status, _s in requests), requests
    slowest = max(requests, key=lambda r: r[3])
    assert slowest[3] < configured, slowest
    print(
        f"\nstack: {visits:,} visits exported in the background in {job[0][3]} (seen in the browser {seconds:.0f} s); "
        f"{len(requests)} requests through nginx, the slowest {slowest[3]:.2f} s ({slowest[0]} {slowest[1]}); "
        f"gunicorn timeout {configured} s"
    )
