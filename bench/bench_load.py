#!/usr/bin/env python
"""A street at work, on PostgreSQL and Redis: 50 users at once against a real gunicorn for 5 minutes.

Usage (see bench/README.md):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/visitplan_bench_load .venv/bin/python bench/bench_load.py [--users 50 --minutes 5]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/visitplan_bench_load .venv/bin/python bench/bench_load.py --quick

Steps:
a. drop and recreate the bench database (on the server's ``postgres`` database), then migrate;
b. a mid-size street, seeded with bench_reports' functions (COPY): 10 communities × 10 grids, 20,000
   households, cadres of every tier with logins and the 2026 campaign, assignments, 50,000 visits,
   5,000 issues, follow-ups, 一户一策 plans, findings; the dashboard's tallies rebuilt;
c. gunicorn as bench_visits starts it (its ``Server``: gthread, 4 workers × 2 threads by default,
   DEBUG=False, loopback), but with Celery on Redis (``--broker``, not eager), until it answers;
d. the users, one thread each (bench_visits' ``Browser``: stdlib http.client, a cookie jar, a new
   connection per request), log in, open their pages once (not measured), then all together for
   ``--minutes``, a pause of ``--think-min``…``--think-max`` seconds after every page:
   - grid workers (网格员, 4 in 5 users), each on its own grid: my households (/visits/), the visit
     form of the next of its households, the POST the page's fetch() sends (bench_visits' form filling;
     every third visit raises an issue; every ``--retry-every``-th visit of the street is sent twice, alternately
     after the answer and racing it), the household page the answer points to;
   - readers (1 in 5: community secretaries, leaders, the street admin): the dashboard (/reports/) or
     the issue ledger (/issues/, with its filters), one or the other at each step;
   the machine's load average and CPU (bench_visits' /proc accounting) and, every second, the
   PostgreSQL statements of the bench database running longer than 100 ms (pg_stat_activity);
e. gunicorn stopped; in the database: one visit per key submitted, none twice, every retry answered
   with the first submit's visit, every issue registered once as sent; the tallies the submits kept
   equal a rebuild (bench_visits.check_tallies); the messages left on the broker;
f. for information: each page in-process with Django's test client (its SQL queries, the slowest, the
   median of 3) and one submit (bench_visits.measure_single_submit).

Targets: p95 < 500 ms for every request type, no 5xx, no error, no duplicate visit. Prints a table with
the targets next to the figures and exits 1 when one is missed (2 when it refuses to run: DATABASE_URL
must be PostgreSQL with "bench" in its name, and the broker must answer).
"""

import argparse
import logging
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "visitplan.settings")
os.environ.setdefault("DEBUG", "False")  # measure what production runs; gunicorn inherits it

# The guard rails and the table of the register benchmark; the server, the browser, the form filling,
# the CPU accounting and the tally check of the visit benchmark; the seeding of the reports benchmark.
import bench_reports  # noqa: E402
from bench_register import analyze, database_settings, finish, prepare_database, short_sql, step  # noqa: E402
from bench_visits import (  # noqa: E402
    ISSUE_TEXTS,
    Browser,
    Server,
    _error_text,
    _submit_ok,
    check_tallies,
    cpu_snapshot,
    cpu_used,
    fill_visit,
    measure_single_submit,
    multipart,
    parse_form,
    percentile,
)

BROKER = "redis://127.0.0.1:6379/6"
SLOW_SQL_MS = 100  # statements running longer than this are sampled from pg_stat_activity

TARGETS = {"p95_ms": 500, "server_errors": 0, "errors": 0, "duplicates": 0}

# The request types, in the order of the table.
MINE, FORM, SUBMIT, RETRY, HOUSEHOLD, LEDGER, DASHBOARD = (
    "my households GET /visits/",
    "visit form GET",
    "visit submit POST",
    "visit submit again (retry)",
    "household page GET",
    "issue ledger GET /issues/",
    "dashboard GET /reports/",
)
KINDS = (MINE, FORM, SUBMIT, RETRY, HOUSEHOLD, LEDGER, DASHBOARD)

# What the readers open: the ledger with its everyday filters (a community only for street-wide readers).
LEDGER_PATHS = [
    "/issues/",
    "/issues/?status=open",
    "/issues/?due=overdue",
    "/issues/?due=week",
    "/issues/?page=2",
    "/issues/?q=%E7%94%B5%E6%A2%AF",
]  # fmt: skip  (电梯)
READER_ROLES = ["secretary", "leader", "secretary", "leader", "secretary", "admin"]  # cycled over the readers


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50, help="users at once (default 50)")
    parser.add_argument("--minutes", type=float, default=5, help="how long they work (default 5)")
    parser.add_argument("--quick", action="store_true", help="an iteration: --users 10 --minutes 1")
    parser.add_argument(
        "--readers",
        type=float,
        default=0.2,
        help="share of the users reading the dashboard and the ledger (default 0.2; the rest are grid workers)",
    )
    parser.add_argument("--think-min", type=float, default=3, help="shortest pause after a page, seconds (default 3)")
    parser.add_argument("--think-max", type=float, default=8, help="longest pause after a page, seconds (default 8)")
    parser.add_argument(
        "--retry-every",
        type=int,
        default=10,
        help="every N-th visit (of all users) is sent twice (default 10; 0: never)",
    )
    parser.add_argument("--households", type=int, default=20_000, help="households, over 100 grids (default 20000)")
    parser.add_argument("--visits", type=int, default=50_000, help="visits seeded (default 50000)")
    parser.add_argument("--issues", type=int, default=5_000, help="issues seeded (default 5000)")
    parser.add_argument("--followups", type=int, default=1_500, help="follow-ups seeded (default 1500)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4, as bench_visits)")
    parser.add_argument(
        "--threads", type=int, default=2, help="threads per gunicorn worker (default 2, as bench_visits)"
    )
    parser.add_argument(
        "--broker", default=BROKER, help=f"Celery broker of the server (default {BROKER}; memory:// for none)"
    )
    parser.add_argument(
        "--wait-load",
        type=float,
        default=0,
        metavar="L",
        help="before the users start, wait until the machine's 1-min load average is below L (default 0: don't)",
    )
    parser.add_argument(
        "--wait-max", type=float, default=900, metavar="S", help="wait at most S seconds for that (default 900)"
    )
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    if args.quick:
        args.users, args.minutes = 10, 1
    if args.think_max < args.think_min or args.users < 2:
        parser.error("--think-max must not be below --think-min, and --users must be 2 or more")

    db = database_settings()
    if db is None:
        return 2
    broker = broker_status(args.broker)
    if broker is None:
        return 2
    os.environ["CELERY_BROKER_URL"] = args.broker  # this process too (the in-process submits of step f)
    # Plain HTTP on loopback stands in for the TLS proxy: no redirect to https, in gunicorn (which inherits
    # the environment) and in the test client of step f.
    os.environ["SECURE_SSL_REDIRECT"] = "False"
    loads = {"start": os.getloadavg()}

    prepare_database(db)

    step("b", f"seed {args.households:,} households, {args.visits:,} visits, {args.issues:,} issues, "
              f"{args.followups:,} follow-ups (bench_reports, COPY)")  # fmt: skip
    print(f"   {bench_reports.load()}")
    started = time.perf_counter()
    world = bench_reports.seed(args, random.Random(args.seed))
    analyze()
    seeded = seeded_figures()
    seed_seconds = time.perf_counter() - started
    print(f"   seeded in {seed_seconds:.1f} s; {seeded['text']}")
    users = pick_users(world, args)
    grid_users = [u for u in users if u["role"] == "grid"]
    print(
        f"   users: {len(grid_users)} grid workers on {len(grid_users)} grids, "
        + ", ".join(f"{sum(u['role'] == r for u in users)} {r}" for r in ("secretary", "leader", "admin"))
    )

    from django.db import connections

    connections.close_all()  # nothing of this process stays open while the server works
    if args.wait_load:
        wait_for_quiet(args.wait_load, args.wait_max)

    step("c", f"gunicorn, {args.workers} workers × {args.threads} threads (gthread), loopback; broker {args.broker}")
    server = LoadServer(args.workers, args.threads, args.broker)
    try:
        try:
            server.start()
        except RuntimeError as exc:
            print(f"!! {exc}")
            return 1
        step(
            "d",
            f"{len(users)} users for {args.minutes:g} min, {args.think_min:g}–{args.think_max:g} s after every page",
        )
        loads["load_start"] = os.getloadavg()
        print(f"   {bench_reports.load()}")
        load = run_load(server, users, args, db)
        loads["load_end"] = os.getloadavg()
    finally:
        server.stop()
    server.report()

    step("e", "the database after the run")
    checks = check_database(load["stats"], seeded)
    checks["broker"] = broker_status(args.broker, before=broker)

    step("f", "each page in-process (Django test client): SQL queries, median of 3 after a warm-up; one submit")
    profile = profile_pages(users, world)
    single = measure_single_submit({"clients": [grid_users[0]]}, False)
    loads["end"] = os.getloadavg()

    results = summarise(load, checks, profile, single, server, loads, seed_seconds, args)
    return finish(results)


# ---------------------------------------------------------------------------------------------- a, b


def broker_status(url, before=None):
    """The Celery queue on a Redis broker: {"llen", "keys"} (None, with the reason, when it does not answer).
    A broker that is not Redis is not checked."""
    if not url.startswith("redis"):
        return {"llen": 0, "keys": 0, "text": f"{url} (not checked)"}
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=5)
        client.ping()
        status = {"llen": client.llen("celery"), "keys": client.dbsize()}
    except redis.RedisError as exc:
        print(f"Refusing to run: the broker {url} does not answer ({exc}). The bench runs the server against Redis; "
              "give --broker memory:// to run without it.")  # fmt: skip
        return None
    if before is None:
        print(f"   broker {url}: answers; {status['keys']} keys, {status['llen']} messages in the 'celery' queue")
    else:
        added = status["llen"] - before["llen"]
        print(
            f"   broker {url}: {added} messages queued by the run ('celery' queue {status['llen']}; {status['keys']} keys)"
        )
        status["added"] = added
    return status


def wait_for_quiet(limit, most):
    """Other work on a shared machine shows in every figure: wait (up to ``most`` seconds) for a quieter moment."""
    started = time.monotonic()
    while os.getloadavg()[0] >= limit and time.monotonic() - started < most:
        time.sleep(10)
    waited = time.monotonic() - started
    quiet = os.getloadavg()[0] < limit
    print(f"   waited {waited:.0f} s for a 1-min load average below {limit:g}: "
          f"{'reached' if quiet else 'not reached, starting anyway'} ({bench_reports.load()})")  # fmt: skip


def seeded_figures():
    from issues.models import Issue
    from visits.models import Visit

    visit_max = Visit.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    issue_max = Issue.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    visits, issues = Visit.objects.count(), Issue.objects.count()
    return {"visit_max": visit_max, "issue_max": issue_max, "visits": visits, "issues": issues,
            "text": f"{visits:,} visits, {issues:,} issues in the database"}  # fmt: skip


def pick_users(world, args):
    """Grid workers on grids spread over the communities, and the readers: secretaries, leaders, the admin."""
    from reports.management.commands.seed_demo import DEMO_PASSWORD
    from visitplan.models import Assignment, Tier

    rng = random.Random(args.seed + 1)
    people, tree = world["people"], world["tree"]
    grids, communities = tree["grids"], tree["communities"]
    readers = max(1, round(args.users * args.readers))
    workers = args.users - readers
    per_community = -(-len(grids) // len(communities))
    order = [grids[c * per_community + g] for g in range(per_community) for c in range(len(communities))
             if c * per_community + g < len(grids)]  # grid 1 of every community, then grid 2 …  # fmt: skip
    users = []
    for n in range(workers):
        grid = order[n % len(order)]
        cadre = people["grid_worker"][grid.pk]
        households = list(
            Assignment.objects.filter(campaign=world["campaign"], cadre_id=cadre["pk"], tier=Tier.GRID_WORKER)
            .order_by("household_id").values_list("household_id", flat=True)
        )  # fmt: skip
        rng.shuffle(households)
        users.append({"role": "grid", "username": cadre["user__username"], "user_id": cadre["user_id"],
                      "households": households, "community": grid.community.pk})  # fmt: skip
    leaders = people["leaders"]
    for n in range(readers):
        role = READER_ROLES[n % len(READER_ROLES)]
        if role == "secretary":
            community = communities[(n // 2) % len(communities)]
            c = people["secretary"][community.pk]
            users.append(
                {"role": role, "username": c["user__username"], "user_id": c["user_id"], "community": community.pk}
            )
        elif role == "leader":
            c = leaders[(n // 2) % len(leaders)]
            users.append({"role": role, "username": c["user__username"], "user_id": c["user_id"], "community": None})
        else:
            admin = people["admin"]
            users.append({"role": role, "username": admin.username, "user_id": admin.pk, "community": None})
    for u in users:
        u["password"] = DEMO_PASSWORD
        u["communities"] = [c.pk for c in communities]
    return users


# ---------------------------------------------------------------------------------------------- c


class LoadServer(Server):
    """bench_visits' gunicorn (same command line, same checks), with its own log and a real broker.

    ``Server.start`` sets ``CELERY_BROKER_URL=memory://`` and eager tasks in the child's environment;
    this server replaces those two in the environment handed to ``subprocess.Popen`` while it starts.
    (``SECURE_SSL_REDIRECT=False`` comes from this process's environment, see main.)"""

    def __init__(self, workers, threads, broker):
        super().__init__(workers, threads)
        self.log_path = OUT / "gunicorn-load.log"
        self.extra_env = (
            {} if broker.startswith("memory") else {"CELERY_BROKER_URL": broker, "CELERY_TASK_ALWAYS_EAGER": "false"}
        )

    def start(self):
        popen = subprocess.Popen

        def with_broker(*a, env=None, **kw):
            return popen(*a, env={**(env if env is not None else os.environ), **self.extra_env}, **kw)

        subprocess.Popen = with_broker  # only this thread runs now: the users start after the server
        try:
            super().start()
        finally:
            subprocess.Popen = popen


# ---------------------------------------------------------------------------------------------- d


class Stats:
    """Everything the users measured; one lock, appended from every thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.t0 = None
        self.lat = {k: [] for k in KINDS + ("login",)}
        self.samples = []  # (t since the start, kind, ms, status, username, path): every answer in the window
        self.errors = []  # (kind, status, detail)
        self.server_errors = {k: 0 for k in KINDS + ("login",)}
        self.failed = {k: 0 for k in KINDS + ("login",)}
        self.submits = []  # {"key", "marker", "issue", "redirect", "retry", "retry_redirect"}
        self.visits = 0  # submitted so far, by all users: every --retry-every-th is sent twice
        self.roles = {}  # username: role

    def answer(self, kind, username, path, status, ms, ok, detail=""):
        with self.lock:
            measured = self.t0 is not None and kind != "login"
            if measured:
                self.samples.append((time.monotonic() - self.t0, kind, ms, status, username, path))
            if isinstance(status, int) and status >= 500:
                self.server_errors[kind] += 1
            if ok:
                self.lat[kind].append(ms)
            else:
                self.failed[kind] += 1
                self.errors.append((f"{kind} {path} as {username}", status, detail[:300]))


class User:
    """One person at a phone: a browser of bench_visits, the pages of its role, pauses in between."""

    def __init__(self, number, spec, port, args, stats, clock):
        self.n, self.spec, self.args, self.stats, self.clock = number, spec, args, stats, clock
        self.who = spec["username"]
        stats.roles[self.who] = spec["role"]
        self.browser = Browser(port)
        self.rng = random.Random(args.seed * 1000 + number)
        self.turn = 0
        self.failures = 0

    def get(self, kind, path, expect=200):
        try:
            status, headers, data, ms = self.browser.request("GET", path)
        except Exception as exc:  # noqa: BLE001 — a timeout or a reset connection is an error of the run
            self.stats.answer(kind, self.who, path, "exception", 0, False, repr(exc))
            return None
        ok = status == expect
        self.stats.answer(kind, self.who, path, status, ms, ok, "" if ok else _error_text(data))
        return data if ok else None

    def pause(self):
        """Think, but not past the end of the window: False when the window is over."""
        left = self.clock["deadline"] - time.monotonic()
        wait = self.rng.uniform(self.args.think_min, self.args.think_max)
        time.sleep(max(0, min(wait, left)))
        return wait < left

    def login(self):
        with self.clock["logins"]:  # a few at a time, as a street does not log in within one second
            return self._login()

    def _login(self):
        try:
            status, _h, data, _ms = self.browser.request("GET", "/login/")
            match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', data.decode())
            import urllib.parse

            body = urllib.parse.urlencode({"csrfmiddlewaretoken": match.group(1) if match else "", "username": self.who,
                                           "password": self.spec["password"], "next": ""})  # fmt: skip
            status, _h, data, ms = self.browser.request(
                "POST", "/login/", body=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
            )
        except Exception as exc:  # noqa: BLE001
            self.stats.answer("login", self.who, "/login/", "exception", 0, False, repr(exc))
            return False
        ok = status == 302 and "sessionid" in self.browser.cookies
        self.stats.answer("login", self.who, "/login/", status, ms, ok, "" if ok else _error_text(data))
        return ok

    def warm_up(self):
        """The pages of the role once, not measured: every worker has its templates compiled."""
        if self.spec["role"] == "grid":
            h = self.spec["households"][-1]
            paths = ["/visits/", f"/visits/h/{h}/visit/", f"/visits/h/{h}/"]
        else:
            paths = ["/reports/", "/issues/"]
        for path in paths:
            try:
                status, _h, data, _ms = self.browser.request("GET", path)
            except Exception as exc:  # noqa: BLE001
                status, data = "exception", repr(exc).encode()
            if status != 200:
                self.stats.answer("login", self.who, f"warm-up {path}", status, 0, False, _error_text(data))

    def run(self, gate):
        logged_in = self.login()
        if logged_in:
            self.warm_up()
        try:
            gate.wait()
        except threading.BrokenBarrierError:
            return
        if not logged_in:
            return
        time.sleep(self.rng.uniform(0, self.args.think_max))  # the users start spread over one pause
        while time.monotonic() < self.clock["deadline"]:
            if self.failures >= 5:
                self.stats.answer("login", self.who, "(gave up)", "aborted", 0, False, "5 failures in a row")
                return
            if self.spec["role"] == "grid":
                self.visit_turn()
            else:
                self.reader_turn()
            self.turn += 1

    def reader_turn(self):
        wide = self.spec["role"] != "secretary"
        if self.rng.random() < 0.5:
            path = "/reports/"
            if wide and self.rng.random() < 0.25:
                path += f"?community={self.rng.choice(self.spec['communities'])}"
            kind = DASHBOARD
        else:
            path = self.rng.choice(LEDGER_PATHS)
            if wide and self.rng.random() < 0.25:
                path += ("&" if "?" in path else "?") + f"community={self.rng.choice(self.spec['communities'])}"
            kind = LEDGER
        data = self.get(kind, path)
        self.failures = 0 if data is not None else self.failures + 1
        self.pause()

    def visit_turn(self):
        """My households, the next household's visit form, filling it in, the submit, the household page."""
        i = self.turn
        mine = "/visits/" + ("?show=unvisited" if i % 4 == 3 else "?page=2" if i % 7 == 6 else "")
        if self.get(MINE, mine) is None:
            self.failures += 1
        if not self.pause():
            return
        households = self.spec["households"]
        household = households[i % len(households)]
        url = f"/visits/h/{household}/visit/"
        data = self.get(FORM, url)
        if data is None:
            self.failures += 1
            self.pause()
            return
        fields = parse_form(data.decode())
        values = dict(fields)
        if not values.get("key") or not values.get("csrfmiddlewaretoken"):
            self.stats.answer(FORM, self.who, url, 200, 0, False, "no key or csrf token in the form")
            self.failures += 1
            return
        if not self.pause():  # filling in the form; at the end of the window the visit is not sent
            return
        self.submit(i, household, url, fields)
        self.pause()

    def submit(self, i, household, url, fields):
        from django.utils import timezone

        marker = f"[bench u{self.n:02d}-{i:03d}]"
        issue = None
        if i % 3 == 1:  # every third visit raises an issue: alternately answered on the spot, and left for the ledger
            issue = {"text": f"{ISSUE_TEXTS[i % len(ISSUE_TEXTS)]} {marker}", "on_the_spot": (i // 3) % 2 == 0}
        with self.stats.lock:  # the n-th visit of the street, whoever submits it
            self.stats.visits += 1
            number = self.stats.visits
        every = self.args.retry_every
        retry = None
        if every and number % every == 0:
            retry = "after" if (number // every) % 2 == 1 else "race"
        body, ctype = multipart(fill_visit(fields, marker=marker, issue=issue, now=timezone.localtime()))
        headers = {"Content-Type": ctype, "X-Requested-With": "fetch"}
        record = {"key": dict(fields)["key"], "marker": marker, "issue": issue, "household": household, "redirect": None,
                  "retry": retry, "retry_redirect": None}  # fmt: skip
        with self.stats.lock:
            self.stats.submits.append(record)
        second = {}
        if retry == "race":  # a second POST of the same body while the first is being saved (another connection)

            def racer():
                time.sleep(0.003)
                try:
                    second["answer"] = self.browser.request("POST", url, body=body, headers=headers)
                except Exception as exc:  # noqa: BLE001
                    second["exception"] = exc

            thread = threading.Thread(target=racer, daemon=True)
            thread.start()
        try:
            status, h, data, ms = self.browser.request("POST", url, body=body, headers=headers)
            ok, detail = _submit_ok(status, h, data, household)
        except Exception as exc:  # noqa: BLE001
            status, ms, ok, detail = "exception", 0, False, repr(exc)
        self.stats.answer(SUBMIT, self.who, url, status, ms, ok, "" if ok else f"{marker} {detail}")
        if ok:
            record["redirect"] = detail
        if retry:
            try:
                if retry == "race":
                    thread.join(60)
                    if "exception" in second or "answer" not in second:
                        raise second.get("exception") or TimeoutError("the racing POST did not answer")
                    status2, h2, data2, ms2 = second["answer"]
                else:
                    status2, h2, data2, ms2 = self.browser.request("POST", url, body=body, headers=headers)
                ok2, detail2 = _submit_ok(status2, h2, data2, household)
            except Exception as exc:  # noqa: BLE001
                status2, ms2, ok2, detail2 = "exception", 0, False, repr(exc)
            self.stats.answer(
                RETRY, self.who, f"{url} ({retry})", status2, ms2, ok2, "" if ok2 else f"{marker} {detail2}"
            )
            if ok2:
                record["retry_redirect"] = detail2
        if not ok:
            self.failures += 1
            return
        # The page goes to the household (and shows the message the submit left).
        self.failures = 0 if self.get(HOUSEHOLD, detail.split("#")[0]) is not None else self.failures + 1


class Watcher(threading.Thread):
    """Every second: the load average, and the statements of the bench database running longer than
    SLOW_SQL_MS (pg_stat_activity; a statement seen in several samples is counted once per sample)."""

    def __init__(self, db):
        super().__init__(daemon=True)
        self.db, self.stop_event = db, threading.Event()
        self.loads, self.slow, self.lock_waits, self.error = [], {}, 0, None

    def run(self):
        import psycopg

        params = {"dbname": self.db["NAME"], "user": self.db.get("USER") or None, "password": self.db.get("PASSWORD") or None,
                  "host": self.db.get("HOST") or None, "port": self.db.get("PORT") or None}  # fmt: skip
        try:
            conn = psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True)
        except psycopg.Error as exc:
            self.error = str(exc)
            return
        sql = ("SELECT pid, query_start, EXTRACT(EPOCH FROM now() - query_start) * 1000, wait_event_type, wait_event, "
               "left(query, 400) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' "
               "AND pid <> pg_backend_pid()")  # fmt: skip
        with conn:
            while not self.stop_event.wait(1.0):
                self.loads.append(os.getloadavg()[0])
                try:
                    rows = conn.execute(sql).fetchall()
                except psycopg.Error as exc:
                    self.error = str(exc)
                    continue
                for pid, started, ms, wait_type, wait, query in rows:
                    if wait_type == "Lock":
                        self.lock_waits += 1
                    if ms is None or float(ms) < SLOW_SQL_MS:
                        continue
                    shape = re.sub(r"\b\d+\b", "N", re.sub(r"\s+", " ", query))[:160]
                    entry = self.slow.setdefault(shape, {"seen": set(), "max_ms": 0, "waits": set(), "query": query})
                    entry["seen"].add((pid, started))
                    entry["max_ms"] = max(entry["max_ms"], float(ms))
                    if wait:
                        entry["waits"].add(f"{wait_type}:{wait}")

    def report(self):
        if self.error:
            print(f"   (pg_stat_activity sampling: {self.error})")
        if not self.slow:
            print(f"   no statement of the bench database seen running longer than {SLOW_SQL_MS} ms "
                  f"(sampled every second); lock waits seen: {self.lock_waits}")  # fmt: skip
            return
        print(f"   statements seen running longer than {SLOW_SQL_MS} ms (sampled every second; lock waits seen: "
              f"{self.lock_waits}):")  # fmt: skip
        for _shape, e in sorted(self.slow.items(), key=lambda kv: -kv[1]["max_ms"])[:8]:
            waits = f"; waits {', '.join(sorted(e['waits']))}" if e["waits"] else ""
            print(f"     {len(e['seen']):3}× up to {e['max_ms']:5.0f} ms{waits}: {short_sql(e['query'], 200)}")


def run_load(server, users, args, db):
    stats = Stats()
    clock = {"deadline": None, "logins": threading.Semaphore(args.workers)}

    def open_window():  # run by the last thread at the gate, before any is released
        stats.t0 = time.monotonic()
        clock["deadline"] = stats.t0 + args.minutes * 60

    gate = threading.Barrier(len(users) + 1, action=open_window)
    threads = [threading.Thread(target=User(n, spec, server.port, args, stats, clock).run, args=(gate,), daemon=True)
               for n, spec in enumerate(users, start=1)]  # fmt: skip
    login_started = time.perf_counter()
    for t in threads:
        t.start()
    try:
        gate.wait(timeout=300)
    except threading.BrokenBarrierError:
        print("!! not every user logged in and warmed up within 300 s")
        return {"stats": stats, "wall": 0, "cpu": None, "watcher": None, "broken": True}
    print(f"   {len(stats.lat['login'])} users logged in and warmed up ({time.perf_counter() - login_started:.1f} s); "
          f"working for {args.minutes:g} min …", flush=True)  # fmt: skip
    watcher = Watcher(db)
    watcher.start()
    started = time.perf_counter()
    cpu_before = cpu_snapshot(server.proc.pid)
    for t in threads:
        t.join(max(1, clock["deadline"] - time.monotonic() + 90))
    wall = time.perf_counter() - started
    cpu = cpu_used(cpu_before, cpu_snapshot(server.proc.pid), wall)
    watcher.stop_event.set()
    watcher.join(5)
    alive = sum(t.is_alive() for t in threads)
    if alive:
        stats.answer(
            "login", "-", "(still running)", "timeout", 0, False, f"{alive} users still working 90 s after the end"
        )
    print(f"   done in {wall:.1f} s: {len(stats.samples):,} requests, {len(stats.submits)} visits submitted, "
          f"{len(stats.errors)} errors")  # fmt: skip
    for what, status, detail in stats.errors[:10]:
        print(f"!! {what}: {status} {detail}")
    if len(stats.errors) > 10:
        print(f"!! … and {len(stats.errors) - 10} more errors")
    if cpu:
        print(f"   CPU while working: {cpu['text']}")
    watcher.report()
    print_timeline(stats, watcher)
    print_slowest(stats)
    return {"stats": stats, "wall": wall, "cpu": cpu, "watcher": watcher, "broken": False}


def print_timeline(stats, watcher):
    """Per minute: requests, their p95, the slowest type's p95, the load average: outside work shows here."""
    by_minute = {}
    for t, kind, ms, _status, *_ in stats.samples:
        by_minute.setdefault(int(t // 60), []).append((kind, ms))
    print("   minute  requests  req/s  p95 all  slowest type p95           load (1-min avg, sampled)")
    for m in sorted(by_minute):
        rows = by_minute[m]
        kinds = {}
        for kind, ms in rows:
            kinds.setdefault(kind, []).append(ms)
        worst = max(kinds, key=lambda k: percentile(kinds[k], 95))
        loads = watcher.loads[m * 60 : (m + 1) * 60] if watcher else []
        load = f"{min(loads):.1f} … {max(loads):.1f}" if loads else "n/a"
        print(f"   {m + 1:6}  {len(rows):8,}  {len(rows) / 60:5.1f}  {percentile([r[1] for r in rows], 95):5.0f} ms  "
              f"{worst.split(' GET')[0].split(' POST')[0][:18]:<18} {percentile(kinds[worst], 95):5.0f} ms  {load}")  # fmt: skip


def print_slowest(stats, n=10):
    print(f"   the {n} slowest requests:")
    for t, _kind, ms, status, who, path in sorted(stats.samples, key=lambda s: -s[2])[:n]:
        print(f"     {ms:6.0f} ms at {t:5.1f} s  HTTP {status}  {who:<14} {path}")


# ---------------------------------------------------------------------------------------------- e


def check_database(stats, seeded):
    """bench_visits.check_database for a seeded street: only the visits and issues made after the seed count."""
    from django.db.models import Count

    from issues.models import Closure, Issue, Status
    from visits.models import Visit

    sent_keys = {s["key"] for s in stats.submits}
    rows = list(Visit.objects.filter(pk__gt=seeded["visit_max"]).values_list("key", "notes"))
    db_keys = {str(k) for k, _ in rows}
    markers = {}
    for _key, notes in rows:
        m = re.match(r"\[bench [^\]]+\]", notes or "")
        markers[m.group() if m else None] = markers.get(m.group() if m else None, 0) + 1
    # A duplicate: a second row for one submitted visit (same marker), or a row nobody submitted.
    duplicates = sum(n - 1 for m, n in markers.items() if m) + markers.get(None, 0) + len(db_keys - sent_keys)
    missing = len(sent_keys - db_keys)
    seeded_intact = Visit.objects.filter(pk__lte=seeded["visit_max"]).count() == seeded["visits"]

    retries = [s for s in stats.submits if s["retry"]]
    retries_same = sum(1 for s in retries if s["redirect"] and s["retry_redirect"] == s["redirect"])

    expected = {s["key"]: s["issue"] for s in stats.submits}
    found = {}
    new_issues = Issue.objects.filter(pk__gt=seeded["issue_max"])
    for key, status, closure, events in (
        new_issues.filter(raised_on__isnull=False).annotate(n_events=Count("events"))
        .values_list("raised_on__visit__key", "status", "closure", "n_events")
    ):  # fmt: skip
        found.setdefault(str(key), []).append((status, closure, events))
    issue_errors = new_issues.filter(raised_on__isnull=True).count()
    for key, issue in expected.items():
        got = found.get(key, [])
        if issue is None:
            issue_errors += len(got)
        elif len(got) != 1:
            issue_errors += abs(len(got) - 1) or 1
        else:
            status, closure, events = got[0]
            want = (Status.CLOSED, Closure.ON_THE_SPOT, 2) if issue["on_the_spot"] else (Status.REGISTERED, "", 1)
            if (status, closure or "", events) != want:
                issue_errors += 1
    sent_issues = sum(1 for i in expected.values() if i)
    registered = new_issues.count()
    print(f"   {len(rows)} new visits for {len(sent_keys)} keys submitted; {duplicates} duplicates, {missing} missing; "
          f"{retries_same} of {len(retries)} retries answered with the first submit's visit; the seeded "
          f"{seeded['visits']:,} visits {'intact' if seeded_intact else 'CHANGED'}")  # fmt: skip
    print(f"   {registered} new issues for {sent_issues} sent; {issue_errors} not as sent")
    tallies_differ = check_tallies()
    return {"rows": len(rows), "keys": len(sent_keys), "duplicates": duplicates, "missing": missing,
            "seeded_intact": seeded_intact, "retries": len(retries), "retries_same": retries_same, "issues": registered,
            "issues_sent": sent_issues, "issue_errors": issue_errors, "tallies_differ": tallies_differ}  # fmt: skip


# ---------------------------------------------------------------------------------------------- f


def profile_pages(users, world):
    """Each GET of the run once in-process as a user of its kind: queries, SQL time, median of 3."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment, teardown_test_environment

    logging.getLogger("axes").setLevel(logging.WARNING)  # a line per force_login otherwise
    setup_test_environment()
    try:
        return _profile_pages(users, CaptureQueriesContext, connection, Client, get_user_model())
    finally:
        teardown_test_environment()  # bench_visits.measure_single_submit sets it up again


def _profile_pages(users, CaptureQueriesContext, connection, Client, User):
    by_role = {}
    for u in users:
        by_role.setdefault(u["role"], u)
    grid = by_role["grid"]
    household = grid["households"][-1]
    pages = [(MINE, grid, "/visits/"), (FORM, grid, f"/visits/h/{household}/visit/"),
             (HOUSEHOLD, grid, f"/visits/h/{household}/")]  # fmt: skip
    for role in ("admin", "leader", "secretary"):
        if role in by_role:
            pages += [(LEDGER, by_role[role], "/issues/"), (DASHBOARD, by_role[role], "/reports/")]
    profile = {}
    for kind, spec, url in pages:
        client = Client(raise_request_exception=False)
        client.force_login(User.objects.get(pk=spec["user_id"]))
        status = client.get(url).status_code
        if status != 200:
            print(f"   !! {kind} ({url}) as {spec['username']}: HTTP {status} in-process")
            continue
        with CaptureQueriesContext(connection) as capture:
            client.get(url)
        queries = list(capture.captured_queries)
        times = []
        for _ in range(3):
            started = time.perf_counter()
            client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        sql_ms = sum(float(q["time"]) for q in queries) * 1000
        median = statistics.median(times)
        slowest = sorted(queries, key=lambda q: -float(q["time"]))[:3]
        print(
            f"   {kind:<28} as {spec['username']:<12} {median:5.0f} ms, {len(queries):2} queries ({sql_ms:.0f} ms in SQL)"
        )
        for q in slowest:
            print(f"       {float(q['time']) * 1000:5.1f} ms  {short_sql(q['sql'], 150)}")
        profile.setdefault(kind, []).append((spec["role"], median, len(queries), sql_ms))
    return profile


# ---------------------------------------------------------------------------------------------- output


def spread(values):
    if not values:
        return "n/a"
    p50, p95, p99 = (percentile(values, p) for p in (50, 95, 99))
    return f"{p50:.0f} / {p95:.0f} / {p99:.0f} / {max(values):.0f} ms"


def fmt_load(values):
    return " / ".join(f"{x:.1f}" for x in values)


def summarise(load, checks, profile, single, server, loads, seed_seconds, args):
    stats, wall = load["stats"], load["wall"] or 1
    limit = TARGETS["p95_ms"]
    print("\nRequests in the window")
    print(f"{'request type':<30}{'count':>7}{'req/s':>7}   {'p50 / p95 / p99 / max':<26}{'errors':>7}{'5xx':>5}")
    for kind in KINDS:
        n = len(stats.lat[kind]) + stats.failed[kind]
        print(f"{kind:<30}{n:>7,}{n / wall:>7.2f}   {spread(stats.lat[kind]):<26}{stats.failed[kind]:>7}"
              f"{stats.server_errors[kind]:>5}")  # fmt: skip
    role_of = {u: r for u, r in stats.roles.items()}
    for kind in (LEDGER, DASHBOARD):  # the readers' pages by reader: street-wide pages are the dearest
        by_role = {}
        for _t, k, ms, status, who, _path in stats.samples:
            if k == kind and status == 200:
                by_role.setdefault(role_of.get(who, "?"), []).append(ms)
        for role in sorted(by_role):
            values = by_role[role]
            label = f"  {kind.split(' GET')[0]} as {role}"
            print(f"{label:<30}{len(values):>7,}{len(values) / wall:>7.2f}   {spread(values):<26}")
    total = len(stats.samples)
    all_ms = [s[2] for s in stats.samples if isinstance(s[3], int) and s[3] < 400]
    print(f"{'all':<30}{total:>7,}{total / wall:>7.2f}   {spread(all_ms):<26}{sum(stats.failed[k] for k in KINDS):>7}"
          f"{sum(stats.server_errors[k] for k in KINDS):>5}")  # fmt: skip

    results = [("seeding (bench_reports: COPY, tallies, ANALYZE)", f"{seed_seconds:.0f} s", "", None)]
    for kind in KINDS:
        values = stats.lat[kind]
        p95 = percentile(values, 95)
        fives = stats.server_errors[kind]
        if not values and not stats.failed[kind]:  # e.g. no retry with --retry-every 0
            results.append((f"{kind}: p50 / p95 / p99 / max", "none sent", "", None))
            continue
        results.append((f"{kind}: p50 / p95 / p99 / max", f"{spread(values)} (n={len(values)}, {fives} 5xx)",
                        f"p95 < {limit} ms, no 5xx", p95 is not None and p95 < limit and fives == 0))  # fmt: skip
    errors = len(stats.errors)
    tracebacks = server.tracebacks()
    planned_visits = len(stats.submits)
    results += [
        ("errors (HTTP ≠ expected, form sent back, exceptions, logins)", f"{errors}", "0", errors == TARGETS["errors"]),
        ("tracebacks in the gunicorn log", f"{tracebacks}", "0", tracebacks == 0),
        ("duplicate visits", f"{checks['duplicates']}", "0", checks["duplicates"] == TARGETS["duplicates"]),
        ("new visits in the database / keys submitted", f"{checks['rows']:,} / {checks['keys']:,} ({checks['missing']} missing)",
         "equal, none missing", checks["rows"] == checks["keys"] and checks["missing"] == 0 and planned_visits > 0),
        ("seeded visits untouched", "yes" if checks["seeded_intact"] else "NO", "yes", checks["seeded_intact"]),
        ("retries answered with the first submit's visit", f"{checks['retries_same']} of {checks['retries']}", "all",
         checks["retries_same"] == checks["retries"]),
        ("issues registered / sent", f"{checks['issues']} / {checks['issues_sent']} ({checks['issue_errors']} not as sent)",
         "equal, once per key", checks["issues"] == checks["issues_sent"] and checks["issue_errors"] == 0),
        ("dashboard tallies kept under load = rebuilt from the visits", f"{checks['tallies_differ']} rows differ", "0",
         checks["tallies_differ"] == 0),
        ("broker: messages queued by the run", f"{checks['broker'].get('added', 0) if checks['broker'] else 'n/a'}"
         f" ({args.broker})", "(information)", None),
        ("throughput: all requests", f"{total / wall:.1f}/s ({total:,} in {wall:.0f} s, {len(stats.lat['login'])} users)",
         "(information)", None),
        ("throughput: visits submitted", f"{planned_visits / wall * 60:.0f}/min ({planned_visits:,})", "(information)", None),
        ("CPU while working", load["cpu"]["text"] if load["cpu"] else "n/a", "(information)", None),
        ("CPU per request: gunicorn + PostgreSQL", f"{(load['cpu']['gunicorn'] + load['cpu']['postgres']) / total * 1000:.0f} ms"
         if load["cpu"] and total else "n/a", "(information)", None),
        ("load average (1/5/15 min): before seeding", fmt_load(loads["start"]), f"{os.cpu_count()} CPUs", None),
        ("load average: window start / end", f"{fmt_load(loads.get('load_start', ()))}  →  {fmt_load(loads.get('load_end', ()))}",
         "", None),
    ]  # fmt: skip
    watcher = load["watcher"]
    if watcher and watcher.loads:
        results.append(("load average (1 min) during the window: min / median / max",
                        f"{min(watcher.loads):.1f} / {statistics.median(watcher.loads):.1f} / {max(watcher.loads):.1f}",
                        "", None))  # fmt: skip
    results.append(("load average at the end", fmt_load(loads["end"]), "", None))
    for kind, rows in profile.items():
        text = "; ".join(f"{role} {median:.0f} ms, {n} queries ({sql:.0f} ms SQL)" for role, median, n, sql in rows)
        results.append((f"in-process {kind.split(' GET')[0]}", text, "(information)", None))
    if single:
        results.append(("in-process visit submit", f"{single['median_ms']:.0f} ms median of 5, {single['queries']} queries "
                        f"({single['sql_ms']:.0f} ms SQL); retry {single['retry_queries']}", "(information)", None))  # fmt: skip
    if load["broken"]:
        results.append(("users logged in and at work", "no", "all", False))
    return results


if __name__ == "__main__":
    sys.exit(main())
