#!/usr/bin/env python
"""The visit form under load, on PostgreSQL: 20 cadres submitting visits at once to a real gunicorn.

Usage (see bench/README.md):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/visitplan_bench .venv/bin/python bench/bench_visits.py [--clients 20 --submits 25]

Steps:
a. drop and recreate the bench database (on the server's ``postgres`` database), then migrate;
b. a street with 4 communities and one grid per client (5 grids each for 20 clients), 50 households
   per grid (members, focus groups), one grid worker (网格员) with a login per grid, and the current
   year's campaign with its stages; every household of a grid assigned to its worker (tier 6);
c. gunicorn (gthread, 4 workers × 2 threads by default) on a free loopback port, DEBUG=False,
   Celery eager with the in-memory broker, until it answers;
d. one thread per client (stdlib http.client, a cookie jar of its own): log in at /login/, then
   ``--submits`` times: GET the visit form of one of its households, POST it as the page's fetch()
   does (multipart, ``X-Requested-With: fetch``; every other submit raises one issue, alternately
   answered on the spot and left for the ledger), follow the redirect to the household page; every
   ``--retry-every``-th submit is sent twice with the same body: alternately a retry after the
   answer, and a second POST racing the first (a retry while the first is still being saved).
   Only the POSTs are the measured latencies; /visits/ (my households) is timed too, for information;
e. gunicorn stopped (also on errors); in the database: one visit per key submitted, no retry saved
   anything, every issue registered once as sent;
f. for information: one submit in-process with Django's test client — its SQL queries (count and
   the slowest) and its latency without concurrency.

Prints a table with the targets next to the figures and exits 1 when a target is missed (2 when it
refuses to run: DATABASE_URL must be PostgreSQL and its name must contain "bench").
"""

import argparse
import datetime
import http.client
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "visitplan.settings")
os.environ.setdefault("DEBUG", "False")  # measure what production runs; gunicorn inherits it

# The same guard rails and table as the register benchmark.
from bench_register import (  # noqa: E402
    analyze,
    database_settings,
    finish,
    prepare_database,
    short_sql,
    step,
)

STREET = "湖田街道"
COMMUNITIES = 4
HOUSEHOLDS_PER_GRID = 50
PASSWORD = "bench-12345"
HOST = "127.0.0.1"

# 20 cadres at work at once, each submitting a visit every ~4 s (2 s to fill in the form, 2 s to the next
# door): a hundred times the pace of a real street, where one visit takes half an hour. With 0 the clients
# submit as fast as the server answers: that measures the machine's throughput, not a visit's latency.
THINK_MS = 2000

TARGETS = {
    "submit_p95_ms": 300,
    "errors": 0,
    "duplicates": 0,
}

ANSWERS = {
    "employment": "儿子在外地务工，工资按时发放",
    "health": "老人有高血压，已签约家庭医生",
    "living": "楼道灯时好时坏",
}
CHECKLIST = ["know_family", "know_living", "grasp_wishes", "done_policy", "done_care"]
ISSUE_TEXTS = ["楼道声控灯损坏，夜间上下楼不便", "小区东门雨后积水严重", "咨询高龄津贴申领条件"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients, one grid worker each (default 20)")
    parser.add_argument("--submits", type=int, default=25, help="visits each client submits (default 25)")
    parser.add_argument("--retry-every", type=int, default=5, help="every N-th submit is sent twice (default 5)")
    parser.add_argument("--households", type=int, default=HOUSEHOLDS_PER_GRID, help="households per grid (default 50)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--threads", type=int, default=2, help="threads per gunicorn worker (default 2)")
    parser.add_argument(
        "--think-ms",
        type=float,
        default=THINK_MS,
        help="how long a cadre takes to fill in the form, and again to walk to the next door, ±50%% "
        f"(default {THINK_MS:.0f}; 0: as fast as the server answers, the saturation test); "
        "the clients then start spread over one pause",
    )
    parser.add_argument(
        "--time-limit", type=float, default=600, help="stop the load after this many seconds (default 600)"
    )
    parser.add_argument("--show-queries", action="store_true", help="print every SQL query of the in-process submit")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    db = database_settings()
    if db is None:
        return 2

    prepare_database(db)

    step("b", f"street, {args.clients} grids × {args.households} households, {args.clients} grid workers, the campaign")
    started = time.perf_counter()
    world = build_world(args.clients, args.households, args.seed)
    analyze()
    print(f"   built in {time.perf_counter() - started:.1f} s: {world['summary']}")

    from django.db import connections

    connections.close_all()  # nothing of this process stays open while the server works

    step("c", f"gunicorn, {args.workers} workers × {args.threads} threads (gthread), loopback")
    server = Server(args.workers, args.threads)
    try:
        try:
            server.start()
        except RuntimeError as exc:
            print(f"!! {exc}")
            return 1
        step("d", f"{args.clients} clients × {args.submits} submits, every {args.retry_every}th sent twice "
                  f"(time limit {args.time_limit:.0f} s)")  # fmt: skip
        load = run_load(server.port, world, args, server.proc.pid)
    finally:
        server.stop()
    server.report()

    step("e", "the database after the run")
    checks = check_database(load)

    step("f", "one submit in-process (Django test client): SQL queries and latency without concurrency")
    single = measure_single_submit(world, args.show_queries)

    results = summarise(load, checks, single, server, args)
    return finish(results)


# ---------------------------------------------------------------------------------------------- b


def build_world(clients, per_grid, seed):
    """The tree, households with members and focus groups, one grid worker per grid, the campaign."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group
    from django.db import transaction
    from django.utils import timezone

    from households.models import Building, Community, FocusGroup, Grid, Household, Member, Street
    from households.register import address_key
    from households.roles import CADRE, sync_role_groups
    from reports.management.commands.seed_demo import COMMUNITIES as NAMES
    from reports.management.commands.seed_demo import People, grid_addresses, household_profile
    from visitplan.models import Assignment, Cadre, Campaign, Stage, StageKind, Tier

    rng = random.Random(seed)
    people = People(rng)
    User = get_user_model()
    today = timezone.localdate()
    grids_per_community = -(-clients // COMMUNITIES)
    with transaction.atomic():
        sync_role_groups()
        street = Street(name=STREET, code="370303001")
        street.save()
        grids, addresses = [], {}
        for c, (name, _pinyin) in enumerate(NAMES[:COMMUNITIES], start=1):
            community = Community(name=name, parent=street, order=c)
            community.save()
            next_building = 1
            for number in range(1, grids_per_community + 1):
                if len(grids) == clients:
                    break
                grid = Grid(name=f"第{number}网格", parent=community, order=number)
                grid.save()
                grid.community = community
                grids.append(grid)
                flats, next_building = grid_addresses(rng, per_grid, next_building)
                buildings = {}
                for no in sorted({f[0] for f in flats}):
                    buildings[no] = Building(name=f"{no}号楼", parent=grid, order=no)
                    buildings[no].save()
                addresses[grid.pk] = [(buildings[no], unit, room) for no, _floors, unit, room in flats]

        tag_ids = dict(FocusGroup.objects.values_list("name", "id"))
        households, profiles = [], []
        for grid in grids:
            for building, unit, room in addresses[grid.pk]:
                profile = household_profile(people, [t for t in people.pick_tags() if t in tag_ids])
                households.append(
                    Household(
                        street=street,
                        community=grid.community,
                        grid=grid,
                        building=building,
                        unit=unit,
                        room=room,
                        # bulk_create skips save(): the natural key and the path are set here, as the seeder does.
                        address_key=address_key(grid.community.name, grid.name, building.name, unit, room),
                        path=building.path,
                        head_name=profile["head_name"],
                        id_number=profile["id_number"],
                        phone=profile["phone"],
                        size=profile["size"],
                        income_source=profile["income_source"],
                        notes=profile["notes"],
                    )
                )
                profiles.append(profile)
        Household.objects.bulk_create(households, batch_size=1000)
        Through = Household.tags.through
        Member.objects.bulk_create(
            [Member(household_id=h.pk, **m) for h, p in zip(households, profiles) for m in p["members"]],
            batch_size=2000,
        )
        Through.objects.bulk_create(
            [
                Through(household_id=h.pk, focusgroup_id=tag_ids[t])
                for h, p in zip(households, profiles)
                for t in p["tags"]
            ]
        )

        # One grid worker per grid (干部/网格员), with a login: the clients.
        password = make_password(PASSWORD)
        users = User.objects.bulk_create(
            [User(username=f"grid{n:02d}", password=password) for n in range(1, len(grids) + 1)]
        )
        group = Group.objects.get(name=CADRE)
        User.groups.through.objects.bulk_create([User.groups.through(user_id=u.pk, group_id=group.pk) for u in users])
        cadres = Cadre.objects.bulk_create(
            [Cadre(user=u, name=people.name(people.gender(), 1985), tier=Tier.GRID_WORKER, scope=g, position="网格员",
                   phone=people.mobile()) for u, g in zip(users, grids)]
        )  # fmt: skip

        # The current year's campaign; its stages span the whole year (and yesterday, for a run just after midnight).
        year = today.year
        campaign = Campaign.objects.create(year=year, name="入户大走访", street=street)
        d = datetime.date
        stages = {
            StageKind.MOBILISE: (min(d(year, 1, 1), today - datetime.timedelta(days=1)), d(year, 1, 31)),
            StageKind.VISIT: (d(year, 2, 1), d(year, 10, 31)),
            StageKind.RECTIFY: (d(year, 11, 1), d(year, 11, 30)),
            StageKind.FOLLOW_UP: (d(year, 12, 1), d(year, 12, 20)),
            StageKind.EVALUATE: (d(year, 12, 21), d(year, 12, 31)),
        }
        Stage.objects.bulk_create(
            Stage(campaign=campaign, kind=k, starts_on=s, ends_on=e) for k, (s, e) in stages.items()
        )
        by_grid = {}
        for h in households:
            by_grid.setdefault(h.grid_id, []).append(h.pk)
        Assignment.objects.bulk_create(
            [Assignment(campaign=campaign, household_id=pk, cadre=cadre, tier=Tier.GRID_WORKER, source=Assignment.Source.AUTO)
             for grid, cadre in zip(grids, cadres) for pk in by_grid[grid.pk]],
            batch_size=2000,
        )  # fmt: skip

    clients = [{"username": u.username, "user_id": u.pk, "households": by_grid[g.pk]} for u, g in zip(users, grids)]
    summary = (
        f"{COMMUNITIES} communities, {len(grids)} grids, {len(households):,} households "
        f"({Member.objects.count():,} members), {len(users)} grid workers; campaign {campaign} "
        f"{campaign.span()[0]:%Y-%m-%d} – {campaign.span()[1]:%Y-%m-%d}, {Assignment.objects.count():,} assignments"
    )
    return {"clients": clients, "campaign_id": campaign.pk, "summary": summary}


# ---------------------------------------------------------------------------------------------- c


class Server:
    """gunicorn as production runs it, on a free loopback port; its log goes to bench/out/."""

    def __init__(self, workers, threads):
        self.workers, self.threads = workers, threads
        self.port = None
        self.proc = None
        OUT.mkdir(parents=True, exist_ok=True)
        self.log_path = OUT / "gunicorn-visits.log"

    def start(self):
        with socket.socket() as s:
            s.bind((HOST, 0))
            self.port = s.getsockname()[1]
        gunicorn = Path(sys.executable).parent / "gunicorn"
        if not gunicorn.exists():
            gunicorn = shutil.which("gunicorn")
        env = os.environ.copy()
        env.update({
            "DEBUG": os.environ.get("DEBUG", "False"),
            "ALLOWED_HOSTS": f"{HOST},localhost",
            "CELERY_TASK_ALWAYS_EAGER": "true",
            "CELERY_BROKER_URL": "memory://",
        })  # fmt: skip
        command = [
            str(gunicorn), "visitplan.wsgi:application",
            "--bind", f"{HOST}:{self.port}",
            "--workers", str(self.workers), "--threads", str(self.threads), "--worker-class", "gthread",
            "--graceful-timeout", "10",
            "--no-control-socket",  # gunicorn's control socket would go to ~/.gunicorn/
            "--error-logfile", str(self.log_path), "--capture-output",
        ]  # fmt: skip
        self.log_path.write_text("")
        self.proc = subprocess.Popen(
            command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        started = time.perf_counter()
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with status {self.proc.returncode}:\n{self.tail(20)}")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
                conn.request("GET", "/login/", headers={"Host": f"{HOST}:{self.port}"})
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    break
                raise RuntimeError(f"gunicorn answers GET /login/ with HTTP {status}:\n{self.tail(20)}")
            except (ConnectionError, OSError):
                pass
            if time.perf_counter() - started > 60:
                raise RuntimeError(f"gunicorn does not answer after 60 s:\n{self.tail(20)}")
            time.sleep(0.2)
        print(f"   pid {self.proc.pid}, http://{HOST}:{self.port}/ answers after {time.perf_counter() - started:.1f} s; "
              f"log: {self.log_path.relative_to(REPO)}")  # fmt: skip

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the session this script started for it
            self.proc.wait()
        print(f"   gunicorn stopped (exit status {self.proc.returncode})")

    def tail(self, lines=10):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return ""

    def tracebacks(self):
        try:
            return self.log_path.read_text(errors="replace").count("Traceback (most recent call last)")
        except OSError:
            return 0

    def report(self):
        count = self.tracebacks()
        if count:
            print(f"!! {count} traceback(s) in {self.log_path.relative_to(REPO)}; its end:")
            for line in self.tail(30).splitlines():
                print(f"   | {line}")


# ---------------------------------------------------------------------------------------------- d


class FormFields(HTMLParser):
    """The controls of one <form> as the browser's FormData sends them: (name, value) in order.

    Checked checkboxes and radios only, the selected option (or the first) of a select, textareas;
    nothing inside a <template>, no buttons.
    """

    def __init__(self, form_id):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.fields = []
        self._in_form = False
        self._template = 0
        self._textarea = None
        self._select = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._in_form = a.get("id") == self.form_id
            return
        if not self._in_form:
            return
        if tag == "template":
            self._template += 1
        if self._template:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "button", "reset", "image", "file"):
                return
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.fields.append((name, a.get("value") or "on"))
                return
            self.fields.append((name, a.get("value") or ""))
        elif tag == "textarea" and name:
            self._textarea = [name, ""]
        elif tag == "select" and name:
            self._select = {"name": name, "first": None, "selected": None}
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            if self._select["first"] is None:
                self._select["first"] = value
            if "selected" in a:
                self._select["selected"] = value

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False
        elif tag == "template" and self._template:
            self._template -= 1
        elif tag == "textarea" and self._textarea is not None:
            name, text = self._textarea
            self.fields.append((name, text[1:] if text.startswith("\n") else text))  # the parser's leading newline
            self._textarea = None
        elif tag == "select" and self._select is not None:
            s = self._select
            value = s["selected"] if s["selected"] is not None else s["first"]
            if value is not None:
                self.fields.append((s["name"], value))
            self._select = None


def parse_form(html, form_id="visit-form"):
    parser = FormFields(form_id)
    parser.feed(html)
    return parser.fields


def fill_visit(fields, *, marker, issue, now):
    """The form as a cadre fills it: 入户, 40 minutes ending now, answers, checklist, card, satisfied."""
    out = [(n, v) for n, v in fields if n not in ("checklist", "card_given", "satisfaction", "method")]
    values = dict(out)
    if now.hour == 0 and now.minute < 45:  # just after midnight: yesterday's visit, in the day
        day, start, end = now.date() - datetime.timedelta(days=1), "09:00", "09:40"
    else:
        end_dt = now.replace(second=0, microsecond=0)
        day, start, end = now.date(), f"{end_dt - datetime.timedelta(minutes=40):%H:%M}", f"{end_dt:%H:%M}"
    values.update({"method": "in_person", "visited_on": f"{day:%Y-%m-%d}", "started_at": start, "ended_at": end,
                   "companions": "社区网格员", "notes": f"{marker} 家中一切正常，按时回访。"})  # fmt: skip
    for code, text in ANSWERS.items():
        values[f"q_{code}"] = text
    out = [(n, values.pop(n)) if n in values else (n, v) for n, v in out]
    out += list(values.items())  # fields the page did not have (should be none)
    out += [("checklist", c) for c in CHECKLIST] + [("card_given", "on"), ("satisfaction", "satisfied")]
    if issue is not None:
        out = [(n, "1") if n == "issues-TOTAL_FORMS" else (n, v) for n, v in out]
        out += [("issues-0-text", issue["text"]), ("issues-0-category", "living"), ("issues-0-severity", "general")]
        if issue["on_the_spot"]:
            out += [("issues-0-on_the_spot", "on"), ("issues-0-answer", "已联系物业当场修复")]
        else:
            out += [("issues-0-answer", "")]
    return out


def multipart(fields):
    boundary = "----benchFormBoundary" + uuid.uuid4().hex[:16]
    parts = []
    for name, value in fields:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value.encode() + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Browser:
    """One phone: a cookie jar, a new loopback connection per request (as behind a proxy), no redirects followed."""

    def __init__(self, port, timeout=30):
        self.port, self.timeout = port, timeout
        self.cookies = {}
        self.lock = threading.Lock()

    def request(self, method, path, body=None, headers=None):
        with self.lock:
            cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        h = {"Host": f"{HOST}:{self.port}", "User-Agent": "bench_visits", "Accept": "*/*", "Connection": "close"}
        if cookie:
            h["Cookie"] = cookie
        if method == "POST":
            h["Origin"] = f"http://{HOST}:{self.port}"
        h.update(headers or {})
        started = time.perf_counter()
        conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        ms = (time.perf_counter() - started) * 1000
        with self.lock:
            for header in resp.headers.get_all("Set-Cookie") or ():
                jar = SimpleCookie()
                jar.load(header)
                for name, morsel in jar.items():
                    if morsel["max-age"] == "0" or not morsel.value:
                        self.cookies.pop(name, None)
                    else:
                        self.cookies[name] = morsel.value
        return resp.status, resp.headers, data, ms


class Stats:
    """Everything the clients measured; one lock, appended from every thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.lat = {
            "first": [],
            "retry_after": [],
            "retry_race": [],
            "mine": [],
            "form": [],
            "household": [],
            "login": [],
        }
        self.errors = []  # (what, status, detail)
        self.submits = []  # {"key", "marker", "issue", "redirect", "retry", "retry_redirect"}
        self.requests = 0

    def add(self, kind, ms):
        with self.lock:
            self.lat[kind].append(ms)
            self.requests += 1

    def error(self, what, status, detail=""):
        with self.lock:
            self.errors.append((what, status, detail[:300]))
            self.requests += 1


def _error_text(data):
    text = data.decode(errors="replace")
    found = re.findall(r'class="error[^"]*"[^>]*>(.*?)</', text, flags=re.DOTALL)
    found += (
        re.findall(r"<p>([^<]{3,200})</p>", text.split('class="error-box"', 1)[1])
        if 'class="error-box"' in text
        else []
    )
    return "; ".join(dict.fromkeys(re.sub(r"\s+", " ", f).strip() for f in found if f.strip()))[:300] or text[:200]


def _submit_ok(status, headers, data, household_pk):
    """(ok, redirect or detail): the page's fetch() expects 200 + JSON {"ok": true, "redirect": …}."""
    if status != 200:
        return False, f"HTTP {status}: {_error_text(data)}"
    if "application/json" not in (headers.get("Content-Type") or ""):
        return False, f"form sent back: {_error_text(data)}"
    body = json.loads(data)
    redirect = body.get("redirect") or ""
    if body.get("ok") is not True or not redirect.startswith(f"/visits/h/{household_pk}/#visit-"):
        return False, f"unexpected answer {body}"
    return True, redirect


def client_run(number, spec, port, args, stats, deadline, start_gate):
    browser = Browser(port)
    who = spec["username"]
    # Log in as the login page does: its csrf cookie and token, then username and password.
    try:
        status, _h, data, _ms = browser.request("GET", "/login/")
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', data.decode())
        token = match.group(1) if match else ""
        body = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "username": who, "password": PASSWORD, "next": ""})
        status, headers, data, ms = browser.request(
            "POST", "/login/", body=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        if status != 302 or "sessionid" not in browser.cookies:
            stats.error(f"{who} login", status, _error_text(data))
            start_gate.wait()
            return
        stats.add("login", ms)
    except Exception as exc:  # noqa: BLE001 — a client that cannot log in is an error, not a crash
        stats.error(f"{who} login", "exception", repr(exc))
        start_gate.wait()
        return
    # Warm-up, not measured: the pages of the loop once, so that every worker has its templates compiled.
    try:
        for path in ("/visits/", f"/visits/h/{spec['households'][0]}/visit/", f"/visits/h/{spec['households'][0]}/"):
            status, _h, data, _ms = browser.request("GET", path)
            if status != 200:
                stats.error(f"{who} warm-up GET {path}", status, _error_text(data))
    except Exception as exc:  # noqa: BLE001
        stats.error(f"{who} warm-up", "exception", repr(exc))
    start_gate.wait()  # every client logged in: the load starts together

    from django.utils import timezone

    households = spec["households"]
    failures_in_a_row = 0
    if args.think_ms:  # with pauses, the clients start spread over one pause instead of all at once
        time.sleep(random.uniform(0, args.think_ms) / 1000)
    for i in range(args.submits):
        if time.monotonic() > deadline:
            stats.error(f"{who} time limit", "timeout", f"stopped after {i} of {args.submits} submits")
            break
        if failures_in_a_row >= 5:
            stats.error(f"{who} gave up", "aborted", f"after 5 failures in a row, {i} of {args.submits} submits")
            break
        household = households[i % len(households)]
        marker = f"[bench c{number:02d}-{i:03d}]"
        issue = None
        if i % 2 == 1:  # every other submit raises an issue: alternately answered on the spot, and left for the ledger
            issue = {"text": f"{ISSUE_TEXTS[i % len(ISSUE_TEXTS)]} {marker}", "on_the_spot": (i // 2) % 2 == 0}
        retry = None
        if args.retry_every and (i + 1) % args.retry_every == 0:
            retry = "after" if ((i + 1) // args.retry_every) % 2 == 1 else "race"
        try:
            if i % 5 == 0:
                status, _h, data, ms = browser.request("GET", "/visits/")
                if status == 200:
                    stats.add("mine", ms)
                else:
                    stats.error("GET /visits/", status, _error_text(data))
            url = f"/visits/h/{household}/visit/"
            status, _h, data, ms = browser.request("GET", url)
            if status != 200:
                stats.error("GET visit form", status, _error_text(data))
                failures_in_a_row += 1
                continue
            stats.add("form", ms)
            if args.think_ms:  # filling in the form
                time.sleep(args.think_ms * random.uniform(0.5, 1.5) / 1000)
            fields = parse_form(data.decode())
            values = dict(fields)
            key = values.get("key", "")
            if not key or not values.get("csrfmiddlewaretoken"):
                stats.error("GET visit form", status, "no key or csrf token in the form")
                failures_in_a_row += 1
                continue
            body, ctype = multipart(fill_visit(fields, marker=marker, issue=issue, now=timezone.localtime()))
            headers = {"Content-Type": ctype, "X-Requested-With": "fetch"}
            record = {"key": key, "marker": marker, "issue": issue, "household": household, "redirect": None,
                      "retry": retry, "retry_redirect": None}  # fmt: skip
            with stats.lock:
                stats.submits.append(record)

            if retry == "race":
                # A second POST of the same body while the first is being saved (another connection).
                second = {}

                def racer():
                    time.sleep(0.003)
                    try:
                        second["answer"] = browser.request("POST", url, body=body, headers=headers)
                    except Exception as exc:  # noqa: BLE001
                        second["exception"] = exc

                thread = threading.Thread(target=racer, daemon=True)
                thread.start()
            status, h, data, ms = browser.request("POST", url, body=body, headers=headers)
            ok, detail = _submit_ok(status, h, data, household)
            if ok:
                stats.add("first", ms)
                record["redirect"] = detail
            else:
                stats.error("POST visit", status, f"{marker} {detail}")
            if retry == "race":
                thread.join(args.time_limit)
                if "answer" in second:
                    status2, h2, data2, ms2 = second["answer"]
                else:
                    status2, h2, data2, ms2 = "exception", {}, repr(second.get("exception")).encode(), 0
            elif retry == "after":
                status2, h2, data2, ms2 = browser.request("POST", url, body=body, headers=headers)
            if retry:
                ok2, detail2 = (
                    _submit_ok(status2, h2, data2, household) if status2 != "exception" else (False, data2.decode())
                )
                if ok2:
                    stats.add(f"retry_{retry}", ms2)
                    record["retry_redirect"] = detail2
                else:
                    stats.error(f"POST visit again ({retry})", status2, f"{marker} {detail2}")
            if not ok:
                failures_in_a_row += 1
                continue
            # The page goes to the household (and shows the message the submit left).
            status, _h, data, ms = browser.request("GET", detail.split("#")[0])
            if status == 200:
                stats.add("household", ms)
            else:
                stats.error("GET household page", status, _error_text(data))
            failures_in_a_row = 0
            if args.think_ms:
                time.sleep(args.think_ms * random.uniform(0.5, 1.5) / 1000)
        except Exception as exc:  # noqa: BLE001 — a timeout or a reset connection is an error of the run
            stats.error(f"{who} submit {i}", "exception", repr(exc))
            failures_in_a_row += 1


def run_load(port, world, args, server_pid):
    stats = Stats()
    clients = world["clients"]
    gate = threading.Barrier(len(clients) + 1)
    deadline = time.monotonic() + args.time_limit
    threads = [
        threading.Thread(target=client_run, args=(n, spec, port, args, stats, deadline, gate), daemon=True)
        for n, spec in enumerate(clients, start=1)
    ]
    login_started = time.perf_counter()
    for t in threads:
        t.start()
    try:
        gate.wait(timeout=120)
    except threading.BrokenBarrierError:
        print("!! not every client logged in within 120 s")
    logins = time.perf_counter() - login_started
    print(f"   {len(stats.lat['login'])} clients logged in and warmed up ({logins:.1f} s); submitting …", flush=True)
    started = time.perf_counter()
    cpu_before = cpu_snapshot(server_pid)
    for t in threads:
        t.join(max(1, deadline - time.monotonic() + 60))
    wall = time.perf_counter() - started
    cpu = cpu_used(cpu_before, cpu_snapshot(server_pid), wall)
    alive = sum(t.is_alive() for t in threads)
    if alive:
        stats.error("clients still running after the time limit", "timeout", f"{alive} threads")
    print(
        f"   done in {wall:.1f} s: {len(stats.submits)} submits, {stats.requests} requests, {len(stats.errors)} errors"
    )
    for what, status, detail in stats.errors[:10]:
        print(f"!! {what}: {status} {detail}")
    if len(stats.errors) > 10:
        print(f"!! … and {len(stats.errors) - 10} more errors")
    if cpu:
        print(f"   CPU while submitting: {cpu['text']}")
    return {"stats": stats, "wall": wall, "clients": len(clients), "cpu": cpu}


def cpu_snapshot(server_pid):
    """CPU seconds so far (Linux /proc): the machine (busy, all), gunicorn (master and workers),
    PostgreSQL (postmaster with its reaped backends, and the live ones), this script."""
    try:
        tick = os.sysconf("SC_CLK_TCK")
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle, steal = fields[3] + fields[4], fields[7]  # idle + iowait; steal: taken by the hypervisor for others
        snap = {
            "all": sum(fields[:8]) / tick,
            "busy": (sum(fields[:8]) - idle - steal) / tick,
            "steal": steal / tick,
            "gunicorn": 0.0,
            "postgres": 0.0,
            "procs": {},
        }
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    raw = f.read()
            except OSError:
                continue
            comm = raw[raw.index("(") + 1 : raw.rindex(")")]
            rest = raw[raw.rindex(")") + 2 :].split()
            pid, ppid = int(entry), int(rest[1])
            own, children = (int(rest[11]) + int(rest[12])) / tick, (int(rest[13]) + int(rest[14])) / tick
            if pid == server_pid or ppid == server_pid:
                snap["gunicorn"] += own
            elif comm.startswith("postgres"):
                snap["postgres"] += own + children  # the postmaster's children: the backends that have exited
            elif pid != os.getpid():
                snap["procs"][pid] = (comm, own)
        t = os.times()
        snap["self"] = t.user + t.system
        return snap
    except (OSError, ValueError, IndexError):
        return None


def cpu_used(before, after, wall):
    if not before or not after:
        return None
    d = {k: after[k] - before[k] for k in before if k != "procs"}
    others = sorted(((cpu - before["procs"].get(pid, (None, 0))[1], comm) for pid, (comm, cpu) in after["procs"].items()),
                    reverse=True)  # fmt: skip
    others = [f"{comm} {cpu:.0f} s" for cpu, comm in others[:3] if cpu >= 1]
    cpus = d["all"] / wall if wall else os.cpu_count()
    busy = 100 * (d["busy"] + d["steal"]) / d["all"] if d["all"] else 0
    other = d["busy"] - d["gunicorn"] - d["postgres"] - d["self"]
    text = (f"{busy:.0f}% of {cpus:.0f} CPUs over {wall:.0f} s: gunicorn {d['gunicorn']:.0f} s, PostgreSQL {d['postgres']:.0f} s, "
            f"clients {d['self']:.0f} s, other {max(0, other):.0f} s, stolen {d['steal']:.0f} s")  # fmt: skip
    if others:
        text += f" ({', '.join(others)})"
    return {**d, "busy_pct": busy, "text": text}


# ---------------------------------------------------------------------------------------------- e


def check_database(load):
    from django.db.models import Count

    from issues.models import Closure, Issue, IssueEvent, Status
    from visits.models import Visit

    submits = load["stats"].submits
    sent_keys = {s["key"] for s in submits}
    rows = list(Visit.objects.values_list("key", "notes", "household_id", "created_by_id"))
    db_keys = {str(k) for k, *_ in rows}
    markers = {}
    for _key, notes, *_ in rows:
        m = re.match(r"\[bench [^\]]+\]", notes or "")
        markers[m.group() if m else None] = markers.get(m.group() if m else None, 0) + 1
    # A duplicate: a second row for one submitted visit (same marker), or a row nobody submitted.
    duplicates = sum(n - 1 for m, n in markers.items() if m) + markers.get(None, 0) + len(db_keys - sent_keys)
    missing = len(sent_keys - db_keys)

    retries = [s for s in submits if s["retry"]]
    retries_same = sum(1 for s in retries if s["redirect"] and s["retry_redirect"] == s["redirect"])

    # Issues: exactly one per key that sent one, on-the-spot ones closed at once, the others registered.
    expected = {s["key"]: s["issue"] for s in submits}
    found = {}
    for key, status, closure, events in (
        Issue.objects.filter(raised_on__isnull=False)
        .annotate(n_events=Count("events"))
        .values_list("raised_on__visit__key", "status", "closure", "n_events")
    ):
        found.setdefault(str(key), []).append((status, closure, events))
    orphans = Issue.objects.filter(raised_on__isnull=True).count()
    issue_errors = orphans
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
    registered = Issue.objects.count()
    on_the_spot = Issue.objects.filter(closure=Closure.ON_THE_SPOT).count()
    print(f"   {len(rows)} visits for {len(sent_keys)} keys submitted; {duplicates} duplicates, {missing} missing; "
          f"{retries_same} of {len(retries)} retries answered with the first submit's visit")  # fmt: skip
    print(f"   {registered} issues for {sent_issues} sent ({on_the_spot} closed on the spot), "
          f"{IssueEvent.objects.count()} events; {issue_errors} not as sent")  # fmt: skip
    tallies_differ = check_tallies()
    return {"rows": len(rows), "keys": len(sent_keys), "duplicates": duplicates, "missing": missing,
            "retries": len(retries), "retries_same": retries_same, "issues": registered, "issues_sent": sent_issues,
            "issue_errors": issue_errors, "tallies_differ": tallies_differ}  # fmt: skip


def check_tallies():
    """The dashboard's tallies (visits/tally.py), kept by every concurrent submit, against the same
    tallies rebuilt from the visits afterwards: the rows that differ (0 when no update was lost)."""
    from visitplan.models import Campaign
    from visits import tally
    from visits.models import CadreSpan, DayTotal, HouseholdDays

    def snapshot():
        return {model.__name__: {tuple(sorted(r.items())) for r in model.objects.values(*[f.attname for f in model._meta.fields if f.attname != "id"])}
                for model in (HouseholdDays, CadreSpan, DayTotal)}  # fmt: skip

    kept = snapshot()
    for campaign in Campaign.objects.all():
        tally.rebuild(campaign)
    rebuilt = snapshot()
    differ = sum(len(kept[name] ^ rebuilt[name]) for name in kept)
    sizes = ", ".join(f"{name} {len(rows):,}" for name, rows in rebuilt.items())
    print(f"   tallies kept by the submits vs rebuilt from the visits: {differ} rows differ ({sizes})")
    return differ


# ---------------------------------------------------------------------------------------------- f


def measure_single_submit(world, show_queries):
    """One submit of the first client in-process, the way the page sends it: its queries, and
    the median latency of 5 (each on a newly opened form), then the retry of the last one."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment
    from django.utils import timezone

    setup_test_environment()
    spec = world["clients"][0]
    client = Client(raise_request_exception=False)
    client.force_login(get_user_model().objects.get(pk=spec["user_id"]))
    households = spec["households"]

    def submit(household, n, capture=None):
        url = f"/visits/h/{household}/visit/"
        page = client.get(url)
        if page.status_code != 200:
            return None, f"GET HTTP {page.status_code}"
        issue = {"text": f"{ISSUE_TEXTS[0]} [bench single-{n}]", "on_the_spot": False}
        fields = fill_visit(parse_form(page.content.decode()), marker=f"[bench single-{n}]", issue=issue,
                            now=timezone.localtime())  # fmt: skip
        data = {}
        for name, value in fields:
            data.setdefault(name, []).append(value)
        started = time.perf_counter()
        if capture is not None:
            with capture:
                response = client.post(url, data, headers={"X-Requested-With": "fetch"})
        else:
            response = client.post(url, data, headers={"X-Requested-With": "fetch"})
        ms = (time.perf_counter() - started) * 1000
        ok = response.status_code == 200 and response.headers.get("Content-Type", "").startswith("application/json")
        return (ms, url, data) if ok else (None, f"POST HTTP {response.status_code}: {_error_text(response.content)}")

    capture = CaptureQueriesContext(connection)
    first, *rest = submit(households[-1], 0, capture)
    if first is None:
        print(f"!! in-process submit failed: {rest[0]}")
        return None
    queries = list(capture.captured_queries)
    url, data = rest
    retry = CaptureQueriesContext(connection)
    with retry:
        client.post(url, data, headers={"X-Requested-With": "fetch"})
    retry_queries = list(retry.captured_queries)
    times = []
    for n in range(1, 6):
        ms, *detail = submit(households[-1 - n], n)
        if ms is None:
            print(f"!! in-process submit failed: {detail[0]}")
            return None
        times.append(ms)
    median = statistics.median(times)
    kinds = {}
    for q in queries:
        verb = q["sql"].split(None, 1)[0].upper()
        kinds[verb] = kinds.get(verb, 0) + 1
    total_ms = sum(float(q["time"]) for q in queries) * 1000
    print(f"   submit with one issue: {len(queries)} queries ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}), "
          f"{total_ms:.0f} ms in SQL; the same body again (a retry): {len(retry_queries)} queries")  # fmt: skip
    print(f"   latency in-process, one at a time: median of 5 {median:.0f} ms ({', '.join(f'{t:.0f}' for t in times)})")
    print("   slowest queries of the submit:")
    for q in sorted(queries, key=lambda q: float(q["time"]), reverse=True)[:5]:
        print(f"     {float(q['time']) * 1000:5.1f} ms  {short_sql(q['sql'], 160)}")
    if show_queries:
        print("   every query of the submit:")
        for n, q in enumerate(queries, start=1):
            print(f"     {n:3} {float(q['time']) * 1000:5.1f} ms  {short_sql(q['sql'], 200)}")
    return {"queries": len(queries), "retry_queries": len(retry_queries), "sql_ms": total_ms, "median_ms": median}


# ---------------------------------------------------------------------------------------------- output


def percentile(values, p):
    """Nearest rank: the smallest value with at least p % of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def spread(values):
    if not values:
        return "n/a"
    p50, p95, p99 = (percentile(values, p) for p in (50, 95, 99))
    return f"{p50:.0f} / {p95:.0f} / {p99:.0f} / {max(values):.0f} ms"


def summarise(load, checks, single, server, args):
    stats = load["stats"]
    lat = stats.lat
    retries = lat["retry_after"] + lat["retry_race"]
    planned = load["clients"] * args.submits
    planned_retries = load["clients"] * (args.submits // args.retry_every if args.retry_every else 0)
    n_first, n_retry = len(lat["first"]), len(retries)
    errors = len(stats.errors)
    tracebacks = server.tracebacks()
    limit = TARGETS["submit_p95_ms"]
    p95_first, p95_retry = percentile(lat["first"], 95), percentile(retries, 95)
    posts = n_first + n_retry
    results = [
        ("submits answered (first POST of a key)", f"{n_first:,} of {planned:,}", f"= {planned:,}", n_first == planned),
        ("retries answered (same key again)",
         f"{n_retry:,} of {planned_retries:,} ({len(lat['retry_after'])} after the answer, {len(lat['retry_race'])} racing)",
         f"= {planned_retries:,}", n_retry == planned_retries),
        ("first submit p50 / p95 / p99 / max", spread(lat["first"]), f"p95 < {limit} ms",
         p95_first is not None and p95_first < limit),
        ("retry p50 / p95 / p99 / max", spread(retries), f"p95 < {limit} ms", p95_retry is not None and p95_retry < limit),
        ("  retry after the answer", spread(lat["retry_after"]), "", None),
        ("  retry racing the first", spread(lat["retry_race"]), "", None),
        ("errors (HTTP ≠ expected, form sent back, exceptions)", f"{errors}", "0", errors == TARGETS["errors"]),
        ("tracebacks in the gunicorn log", f"{tracebacks}", "0", tracebacks == 0),
        ("duplicate visits", f"{checks['duplicates']}", "0", checks["duplicates"] == TARGETS["duplicates"]),
        ("dashboard tallies kept under load = rebuilt from the visits", f"{checks['tallies_differ']} rows differ", "0",
         checks["tallies_differ"] == 0),
        ("visits in the database / keys submitted", f"{checks['rows']:,} / {checks['keys']:,} ({checks['missing']} missing)",
         "equal, none missing", checks["rows"] == checks["keys"] and checks["missing"] == 0),
        ("retries answered with the first submit's visit", f"{checks['retries_same']} of {checks['retries']}",
         "all", checks["retries_same"] == checks["retries"]),
        ("issues registered / sent", f"{checks['issues']} / {checks['issues_sent']} ({checks['issue_errors']} not as sent)",
         "equal, once per key", checks["issues"] == checks["issues_sent"] and checks["issue_errors"] == 0),
        ("throughput: submit POSTs", f"{posts / load['wall']:.1f}/s ({posts} in {load['wall']:.1f} s)", "", None),
        ("throughput: all requests", f"{stats.requests / load['wall']:.1f}/s", "", None),
        ("CPU while submitting", load["cpu"]["text"] if load["cpu"] else "n/a", "(information)", None),
        ("GET /visits/ (my households) p50 / p95", _p50_95(lat["mine"]), "(information)", None),
        ("GET visit form p50 / p95", _p50_95(lat["form"]), "(information)", None),
        ("GET household page p50 / p95", _p50_95(lat["household"]), "(information)", None),
        ("login POST p50 / p95", _p50_95(lat["login"]), "(information)", None),
    ]  # fmt: skip
    if single:
        results += [
            ("one submit in-process: SQL queries", f"{single['queries']} ({single['sql_ms']:.0f} ms in SQL); retry "
             f"{single['retry_queries']}", "(information)", None),
            ("one submit in-process: median of 5", f"{single['median_ms']:.0f} ms", "(information)", None),
        ]  # fmt: skip
    else:
        results.append(("one submit in-process", "failed", "", False))
    return results


def _p50_95(values):
    if not values:
        return "n/a"
    return f"{percentile(values, 50):.0f} / {percentile(values, 95):.0f} ms (n={len(values)})"


if __name__ == "__main__":
    sys.exit(main())
