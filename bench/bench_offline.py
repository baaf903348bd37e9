#!/usr/bin/env python
"""The field app for a cadre of 200 households: what the phone keeps, and how long 20 queued visits take to sync.

Usage (see bench/README.md):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/visitplan_benchoffline .venv/bin/python bench/bench_offline.py [--households 200 --visits 20]

Steps:
a. drop and recreate the bench database (on the server's ``postgres`` database), then migrate;
b. bench_visits' world for one client (a street, a grid, ``--households`` households with members and
   focus groups, the current year's campaign, every household assigned to the grid's cadre); the
   cadre made a department cadre (部门干部, tier 2: he sees and may visit only his own households),
   the campaign's visits so far (visits.demo: about one and a half per household), issues he raised
   on earlier visits (a third answered on the spot) and the 回头看 list the daily job builds of them;
c. ``collectstatic`` into a temporary STATIC_ROOT (hashed, compressed files: WhiteNoise serves them as in
   production) and bench_visits' gunicorn (DEBUG=False, plain HTTP on loopback), with an access log;
d. Debian Chromium (Playwright) at 390 × 844: log in, open 我的包户, wait until the service worker
   controls the page and static/js/offline-keep.js has written its summary of the pages kept (a 我的包户
   that has not asked for state.json within 30 s is opened again, and counted); measure the
   pages kept (Cache Storage against the server's list, ``visits.offline.pages_to_keep``), the time
   to keep them, what they take on the phone (``navigator.storage.estimate()``, each kept body) and
   on the wire (every response's encoded body and headers: Playwright's ``request.sizes()``, the
   page's and the service worker's; the gunicorn access log's body bytes besides);
e. no signal (``context.set_offline(True)``): ``--visits`` visits recorded through the visit form of as
   many households (one issue on every other one); the header says they wait; signal again: the time
   from ``set_offline(False)`` until nothing waits (``data-n-waiting`` = 0); then the keeping again,
   as 我的包户 does when it opens with signal half an hour later (forced: ``VisitplanOffline.keepPages(true)``):
   only the pages whose fingerprint changed are fetched; in the database: one visit per key
   recorded offline, each issue once;
f. a fresh phone keeps the same pages on a weak 3G link (Chromium's emulation, 400 ms, 400/200 kbit/s,
   the profile of tests/support/network.py), then keeps them again with nothing changed; unless ``--no-weak``.

Prints a table with the targets next to the figures and exits 1 when a target is missed (2 when it
refuses to run: DATABASE_URL must be PostgreSQL and its name must contain "bench").
"""

import argparse
import datetime
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "visitplan.settings")
os.environ.setdefault("DEBUG", "False")  # measure what production runs; gunicorn inherits it

# The guard rails and the table of the register benchmark; the world and the server of the visits one.
from bench_register import analyze, database_settings, finish, prepare_database, step  # noqa: E402
from bench_visits import PASSWORD, Server, build_world, cpu_snapshot, cpu_used  # noqa: E402

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.support.network import DOWN_BYTES_PER_S, LATENCY_MS, UP_BYTES_PER_S  # noqa: E402

PHONE = {"width": 390, "height": 844}
START_S = 30  # 我的包户 asks for state.json (the keeping's first request) within this, or is opened again
MB = 1_000_000

TARGETS = {
    # What a cadre's phone keeps for his 200 households. A cheap phone (32 GB, most of it taken by
    # WeChat and photos) has room for a few MB; Chromium evicts a best-effort origin's data whole
    # when the disk runs low, the records waiting in IndexedDB with it. 5 MB is 25 KB a household:
    # its page and its visit form, each some 10 KB of text, with room to spare.
    "stored_bytes": 5 * MB,
    # The keep on loopback is the server's time only: 400-odd pages, 3 at a time.
    "keep_s": 60,
    # Signal again: the queued visits sent one after the other, on loopback.
    "sync_s": 30,
}

ISSUE_TEXTS = [
    "楼道声控灯损坏，夜间上下楼不便",
    "小区东门雨后积水严重",
    "咨询高龄津贴申领条件",
    "垃圾分类投放点太远，老人倒垃圾不方便",
    "楼下电动车飞线充电，存在火灾隐患",
]
CATEGORIES = ["living", "municipal", "welfare", "municipal", "safety"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=200, help="households of the cadre (default 200)")
    parser.add_argument("--visits", type=int, default=20, help="visits recorded without signal (default 20)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--threads", type=int, default=2, help="threads per gunicorn worker (default 2)")
    parser.add_argument("--no-weak", action="store_true", help="skip the keep on an emulated weak 3G link")
    parser.add_argument(
        "--keep-timeout", type=float, default=600, help="give up waiting for a keep after this many seconds"
    )
    parser.add_argument(
        "--wait-load",
        type=float,
        default=0,
        metavar="L",
        help="before the browser starts, wait until the machine's 1-min load average is below L (default 0: don't)",
    )
    parser.add_argument(
        "--wait-max", type=float, default=900, metavar="S", help="wait at most S seconds for that (default 900)"
    )
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    if args.visits > args.households:
        parser.error("--visits may not exceed --households")

    db = database_settings()
    if db is None:
        return 2

    # The static files as production has them: collected (hashed, compressed) into a folder of our own,
    # read from the environment by the settings of this process and of gunicorn.
    static_root = tempfile.mkdtemp(prefix="bench-offline-static-")
    os.environ["STATIC_ROOT"] = static_root
    try:
        return run(args, db, static_root)
    finally:
        shutil.rmtree(static_root, ignore_errors=True)


def run(args, db, static_root):
    prepare_database(db)

    step("b", f"one department cadre with {args.households} households, earlier visits, issues and 回头看")
    started = time.perf_counter()
    world = build_offline_world(args.households, args.seed)
    analyze()
    print(f"   built in {time.perf_counter() - started:.1f} s: {world['summary']}")

    step("c", "collectstatic into a temporary STATIC_ROOT; gunicorn on loopback")
    from django.core.management import call_command
    from django.db import connections

    started = time.perf_counter()
    call_command("collectstatic", interactive=False, verbosity=0)
    files = sum(1 for p in Path(static_root).rglob("*") if p.is_file())
    print(f"   {files} files in {static_root} ({time.perf_counter() - started:.1f} s)")
    connections.close_all()  # nothing of this process stays open while the server works

    server = OfflineServer(args.workers, args.threads)
    try:
        try:
            server.start()
        except RuntimeError as exc:
            print(f"!! {exc}")
            return 1
        if args.wait_load:
            from bench_load import wait_for_quiet

            wait_for_quiet(args.wait_load, args.wait_max)
        # Playwright's sync API runs an event loop in this thread; the ORM calls in between are synchronous.
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        figures = run_browser(server, world, args)
    finally:
        server.stop()
    server.report()
    return finish(summarise(figures, server, world, args))


# ---------------------------------------------------------------------------------------------- b


def build_offline_world(households, seed):
    """bench_visits' world for one client (its three communities without a grid removed), its grid
    worker made a department cadre (scope: the street, a department, tier 2 on every assignment),
    with the campaign so far: visits, issues, 回头看."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from households.models import Community, Grid, Household, Member, Street
    from issues import services as issue_services
    from issues.models import Issue
    from visitplan.models import Assignment, Cadre, Campaign, Department, StageKind, Tier
    from visits.demo import seed_visits
    from visits.followups import build_followups
    from visits.models import FollowUp, Visit

    world = build_world(1, households, seed)
    spec = world["clients"][0]
    rng = random.Random(seed + 1)
    today = timezone.localdate()
    User = get_user_model()
    with transaction.atomic():
        # One community: the world has four, the other three without a grid.
        grid = Grid.objects.get()
        Community.objects.exclude(pk=grid.parent_id).delete()
        street = Street.objects.get()
        department = Department.objects.create(name="区民政局", level="district", head_name="王建国")
        user = User.objects.get(pk=spec["user_id"])
        user.username = "dept_minzheng_1"
        user.save(update_fields=["username"])
        cadre = Cadre.objects.get(user=user)
        cadre.tier, cadre.scope, cadre.department = Tier.DEPARTMENT, street, department
        cadre.unit, cadre.position = department.name, "科员"
        cadre.save()
        Assignment.objects.filter(cadre=cadre).update(tier=Tier.DEPARTMENT)
        campaign = Campaign.objects.get(pk=world["campaign_id"])

        # The campaign so far, as the demo seeds it for a 包户 cadre (bulk, tallies rebuilt).
        seed_visits(campaign=campaign, rng=rng, today=today)

        # Issues he raised on earlier visits: one household in seven, a third answered on the spot
        # (closed at once: the 回头看 job lists those).
        first, _last = campaign.span()
        earliest = max(first, today - datetime.timedelta(days=90))
        days = max((today - earliest).days, 1)
        mine = list(Household.objects.filter(pk__in=spec["households"]).order_by("pk"))
        raised = rng.sample(mine, max(1, len(mine) // 7))
        for n, household in enumerate(raised):
            issue_services.issue_register(
                household=household,
                raised_by=user,
                text=ISSUE_TEXTS[n % len(ISSUE_TEXTS)],
                category=CATEGORIES[n % len(CATEGORIES)],
                registered_on=earliest + datetime.timedelta(days=rng.randrange(days)),
                answer_on_the_spot="已当场讲解政策并留下经办人电话，居民表示满意" if n % 3 == 0 else "",
            )
    # The daily job (it lists nothing before the campaign's 整改回头看 stage has begun).
    stage = campaign.stage(StageKind.FOLLOW_UP)
    report = build_followups(day=today)
    due = FollowUp.objects.filter(cadre=cadre).due().count()

    members = Member.objects.filter(household__in=mine).count()
    world.update({
        "username": user.username,
        "user_id": user.pk,
        "cadre_id": cadre.pk,
        # In the order of 我的包户 (visits.offline.pages_to_keep keeps them in that order too).
        "households": list(
            Household.objects.filter(pk__in=spec["households"])
            .order_by("path", "unit", "room", "id")
            .values_list("pk", "head_name")
        ),
    })  # fmt: skip
    world["summary"] = (
        f"1 street, 1 grid, {len(mine)} households ({members} members), cadre {user.username} "
        f"(tier {cadre.tier} {cadre.get_tier_display()}, {department.name}); campaign {campaign} "
        f"{first:%Y-%m-%d} – {campaign.span()[1]:%Y-%m-%d}; {Visit.objects.count()} earlier visits, "
        f"{Issue.objects.count()} issues, {due} 回头看 due "
        f"(整改回头看 stage from {stage.starts_on:%Y-%m-%d}; job: {report.created} listed)"
    )
    return world


# ---------------------------------------------------------------------------------------------- c


class OfflineServer(Server):
    """bench_visits' gunicorn (same command line, same checks), its own log, and an access log:
    status, body bytes and microseconds of every request (``GUNICORN_CMD_ARGS``, read by gunicorn
    only, set in the environment ``Server.start`` hands it)."""

    ACCESS_FORMAT = '%(s)s %(B)s %(D)s "%(r)s"'

    def __init__(self, workers, threads):
        super().__init__(workers, threads)
        self.log_path = OUT / "gunicorn-offline.log"
        self.access_path = OUT / "gunicorn-offline-access.log"

    def start(self):
        self.access_path.write_text("")
        before = os.environ.get("GUNICORN_CMD_ARGS")
        os.environ["GUNICORN_CMD_ARGS"] = (
            f"--access-logfile {self.access_path} --access-logformat '{self.ACCESS_FORMAT}'"
        )
        try:
            super().start()
        finally:
            if before is None:
                os.environ.pop("GUNICORN_CMD_ARGS", None)
            else:
                os.environ["GUNICORN_CMD_ARGS"] = before

    def mark(self):
        return self.access_path.stat().st_size

    def access_since(self, mark):
        """[(status, body bytes, ms, method, path)] logged after ``mark``."""
        with open(self.access_path, "rb") as f:
            f.seek(mark)
            text = f.read().decode(errors="replace")
        rows = []
        for line in text.splitlines():
            m = re.match(r'^(\d{3}) (\d+|-) (\d+) "(\S+) (\S+)', line)
            if m:
                rows.append((int(m[1]), int(m[2]) if m[2] != "-" else 0, int(m[3]) / 1000, m[4], m[5]))
        return rows


# ---------------------------------------------------------------------------------------------- d, e, f


def url_kinds():
    """(label, regex) of the addresses the phone keeps, from the URL names (visits/urls.py)."""
    from django.urls import reverse

    def pattern(name, *args):
        return re.escape(reverse(name, args=args)).replace("999999", r"\d+")

    return [
        ("我的包户", re.compile(f"^{pattern('visits:mine')}(\\?page=\\d+)?$")),
        ("户页", re.compile(f"^{pattern('visits:household', 999999)}$")),
        ("走访表", re.compile(f"^{pattern('visits:visit', 999999)}$")),
        ("回头看表", re.compile(f"^{pattern('visits:followup', 999999)}$")),
        ("回头看", re.compile(f"^{pattern('visits:followups')}$")),
        ("本机记录", re.compile(f"^{pattern('visits:offline')}$")),
        ("state.json", re.compile(f"^{pattern('visits:offline_state')}$")),
        ("/sw.js", re.compile(r"^/sw\.js$")),
        ("static", re.compile(r"^/static/")),
        ("login", re.compile(r"^/login/")),
    ]


def reverse_path(name):
    from django.urls import reverse

    return reverse(name)


def kind_of(path, kinds):
    for label, regex in kinds:
        if regex.match(path):
            return label
    return "other"


def poll(page, script, *, timeout, every=100, give_up=False):
    """The value of ``script`` once truthy (CSP forbids wait_for_function's string evaluation);
    after ``timeout``: TimeoutError, or the last value with ``give_up``."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(script)
        if value:
            return value
        if time.monotonic() > deadline:
            if give_up:
                return value
            raise TimeoutError(f"not true after {timeout:.0f} s: {script}")
        page.wait_for_timeout(every)


class Wire:
    """Every response of a browser context that crossed the network: the page's requests and the
    service worker's own (Playwright reports both); those the worker answered from its store are
    not counted. Sizes are read when asked (``request.sizes()``: encoded body and headers)."""

    def __init__(self, context):
        self.requests = []
        self.failed = []
        context.on("requestfinished", lambda request: self.requests.append(request))
        context.on("requestfailed", lambda request: self.failed.append(request))

    def reset(self):
        self.requests.clear()
        self.failed.clear()

    def tally(self, kinds):
        from urllib.parse import urlsplit

        rows = []
        for request in list(self.requests):
            response = request.response()
            if response is None or response.from_service_worker:
                continue
            sizes = request.sizes()
            url = urlsplit(request.url)
            path = url.path + (f"?{url.query}" if url.query else "")
            received = sizes["responseBodySize"] + sizes["responseHeadersSize"]
            sent = sizes["requestBodySize"] + sizes["requestHeadersSize"]
            rows.append({
                "path": path, "kind": kind_of(path, kinds), "type": request.resource_type, "method": request.method,
                "worker": request.service_worker is not None, "received": max(received, 0), "sent": max(sent, 0),
                "status": response.status,
            })  # fmt: skip
        return rows


STORE_SCRIPT = """async () => {
  const e = await navigator.storage.estimate();
  const kept = [];
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) {
      const response = await cache.match(request);
      const body = await response.arrayBuffer();
      const u = new URL(request.url);
      kept.push([name, u.pathname + u.search, body.byteLength]);
    }
  }
  return {usage: e.usage, quota: e.quota, details: e.usageDetails || {}, kept: kept};
}"""

ESTIMATE_SCRIPT = "navigator.storage.estimate().then(e => ({usage: e.usage, details: e.usageDetails || {}}))"

INDICATOR = "document.querySelector('[data-sync-state]')"


def attr(page, name):
    return page.evaluate(f"({INDICATOR} || {{getAttribute: () => null}}).getAttribute('{name}')")


def log_in(page, base, username):
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")


def keep(page, base, world, args, server, label):
    """Log in, open 我的包户, wait for the service worker and the summary of the pages kept. A 我的包户
    that has not asked for state.json (the keeping's first request) within START_S is opened again,
    as the cadre would, at most twice more: the openings it took are part of the figures."""
    user_id = world["user_id"]
    summary_js = f"JSON.parse(localStorage.getItem('visitplan-kept-summary:{user_id}') || 'null')"
    started_js = (
        f"!!localStorage.getItem('visitplan-kept-summary:{user_id}') || performance.getEntriesByType('resource')"
        f".some(e => new URL(e.name).pathname === '{reverse_path('visits:offline_state')}')"
    )
    cpu_before, clock = cpu_snapshot(server.proc.pid), time.perf_counter()
    log_in(page, base, world["username"])
    page.wait_for_url(re.compile(r"/visits/$"), timeout=args.keep_timeout * 1000)
    opened = time.perf_counter()
    poll(page, "navigator.serviceWorker.controller !== null", timeout=60, every=50)
    controlled = time.perf_counter() - opened
    openings = 1
    while not poll(page, started_js, timeout=START_S, every=100, give_up=True):
        if openings == 3:
            raise TimeoutError(f"{label}: 我的包户 opened 3 times, no keeping started")
        print(f"!! {label}: 我的包户 has not started keeping the pages {START_S} s after it opened; opening it again")
        page.reload()
        openings += 1
    summary = poll(page, summary_js, timeout=args.keep_timeout, every=100)
    waited = time.perf_counter() - opened
    origin = page.evaluate("performance.timeOrigin")
    keep_s = (datetime.datetime.fromisoformat(summary["at"].replace("Z", "+00:00")).timestamp() * 1000 - origin) / 1000
    cpu = cpu_used(cpu_before, cpu_snapshot(server.proc.pid), time.perf_counter() - clock)
    page.wait_for_timeout(500)  # the last responses' events may trail the summary
    print(f"   {label}: the service worker controls 我的包户 after {controlled:.1f} s; summary after {keep_s:.1f} s "
          f"(seen {waited:.1f} s after the page opened): {summary}")  # fmt: skip
    if cpu:
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"   CPU from the login to the summary: {cpu['text']}; load average now {load}")
    return {"summary": summary, "keep_s": keep_s, "controlled_s": controlled, "cpu": cpu, "openings": openings}


def stored(page, expected, kinds):
    """What the phone holds: the storage estimate, and each kept body by kind."""
    data = page.evaluate(STORE_SCRIPT)
    pages = [(path, size) for cache, path, size in data["kept"] if cache == "visitplan-pages"]
    statics = [(path, size) for cache, path, size in data["kept"] if cache.startswith("visitplan-static-")]
    kept_paths = {p for p, _ in pages}
    by_kind = {}
    for path, size in pages:
        if path.startswith("/__offline__/"):
            continue
        by_kind.setdefault(kind_of(path, kinds), []).append(size)
    return {
        "usage": data["usage"],
        "quota": data["quota"],
        "details": data["details"],
        "pages": pages,
        "statics": statics,
        "by_kind": by_kind,
        "kept": len(kept_paths & set(expected)),
        "missing": sorted(set(expected) - kept_paths),
        "largest": sorted(pages, key=lambda p: -p[1])[:3],
    }


def record_visit(page, base, household_pk, n, issue):
    """One visit through the form, without signal: back on the household page, kept on the phone."""
    from django.utils import timezone

    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    start = datetime.datetime.combine(yesterday, datetime.time(8, 0)) + datetime.timedelta(minutes=36 * n)
    end = start + datetime.timedelta(minutes=33)
    page.goto(f"{base}/visits/h/{household_pk}/")
    page.click("text=开始走访")
    page.wait_for_url(re.compile(rf"/visits/h/{household_pk}/visit/$"))
    page.fill("input[name=visited_on]", f"{yesterday:%Y-%m-%d}")
    page.fill("input[name=started_at]", f"{start:%H:%M}")
    page.fill("input[name=ended_at]", f"{end:%H:%M}")
    page.fill("textarea[name=notes]", f"[bench offline {n:02d}] 家中一切正常，离线记录")
    if issue:
        page.click("[data-add-row]")
        page.fill("textarea[name='issues-0-text']", issue["text"])
        page.select_option("select[name='issues-0-category']", issue["category"])
    page.click("[data-submit]")
    page.wait_for_url(re.compile(rf"/visits/h/{household_pk}/$"))
    if "已保存在本机" not in page.locator("main").inner_text():
        raise AssertionError(f"household {household_pk}: no 已保存在本机 after the offline submit")


def db_snapshot():
    from django.db import connection

    from issues.models import Issue
    from visits.models import Visit

    try:
        return {"visits": set(Visit.objects.values_list("pk", flat=True)),
                "issues": set(Issue.objects.values_list("pk", flat=True))}  # fmt: skip
    finally:
        connection.close()


def run_browser(server, world, args):
    from django.contrib.auth import get_user_model
    from playwright.sync_api import sync_playwright

    from visits.offline import pages_to_keep

    base = f"http://localhost:{server.port}"  # Chromium keeps the Secure session cookie on http://localhost
    kinds = url_kinds()
    user = get_user_model().objects.get(pk=world["user_id"])
    listed = pages_to_keep(user)
    expected = listed[0] if isinstance(listed, tuple) else listed  # (addresses, fingerprints) since 1a9c3d5
    counts = {}
    for path in expected:
        counts[kind_of(path, kinds)] = counts.get(kind_of(path, kinds), 0) + 1
    print(f"   the server's list: {len(expected)} pages ({', '.join(f'{k} {v}' for k, v in counts.items())})")
    households = world["households"]
    step_ = max(1, len(households) // args.visits)
    chosen = [households[i * step_][0] for i in range(args.visits)]
    issues = {pk: {"text": f"{ISSUE_TEXTS[n % len(ISSUE_TEXTS)]}（离线 {n:02d}）",
                   "category": CATEGORIES[n % len(CATEGORIES)]}
              for n, pk in enumerate(chosen) if n % 2 == 0}  # fmt: skip
    before = db_snapshot()
    figures = {"expected": expected, "expected_kinds": counts, "chosen": chosen, "issues_sent": issues}

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=PHONE, locale="zh-CN")
            wire = Wire(context)
            page = context.new_page()

            step("d", f"Chromium {browser.version}, 390 × 844, loopback: log in, open 我的包户, keep the pages")
            mark = server.mark()
            kept = keep(page, base, world, args, server, "loopback")
            figures["keep"] = kept
            figures["keep_wire"] = wire.tally(kinds)
            figures["keep_failed"] = [r.url for r in wire.failed]
            figures["keep_access"] = server.access_since(mark)
            figures["store"] = stored(page, expected, kinds)
            report_keep(figures["keep_wire"], figures["keep_access"], figures["store"], expected)
            if figures["keep_failed"]:
                print(f"!! {len(figures['keep_failed'])} requests failed: {figures['keep_failed'][:5]}")

            step("e", f"no signal: {args.visits} visits through the form ({len(issues)} with an issue), then signal")
            context.set_offline(True)
            times = []
            for n, pk in enumerate(chosen):
                started = time.perf_counter()
                record_visit(page, base, pk, n, issues.get(pk))
                times.append(time.perf_counter() - started)
            waiting = poll(page, f"{INDICATOR} && {INDICATOR}.getAttribute('data-n-waiting') === '{args.visits}' "
                                 f"&& {INDICATOR}.textContent", timeout=10)  # fmt: skip
            records = page.evaluate(
                "window.VisitplanOffline.records().then(rs => rs.map(r => ({key: r.key, url: r.url, status: r.status})))"
            )
            figures["recorded"] = {"times": times, "indicator": waiting, "records": records,
                                   "n_waiting": attr(page, "data-n-waiting")}  # fmt: skip
            OUT.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(OUT / "offline-waiting.png"))
            queued = page.evaluate(ESTIMATE_SCRIPT)
            figures["queued_store"] = queued
            print(f"   {len(records)} records wait on the phone; header: {waiting!r}; "
                  f"recording took {statistics.median(times):.1f} s a visit (median; {sum(times):.0f} s in all); "
                  f"storage now {queued['usage'] / MB:.2f} MB {queued['details']}")  # fmt: skip
            unsent = db_snapshot()
            figures["saved_offline"] = len(unsent["visits"] - before["visits"])

            wire.reset()
            mark = server.mark()
            started = time.perf_counter()
            context.set_offline(False)
            poll(page, f"{INDICATOR} && {INDICATOR}.getAttribute('data-n-waiting') === '0'", timeout=300, every=50)
            sync_s = time.perf_counter() - started
            page.wait_for_timeout(300)
            figures["sync"] = {
                "seconds": sync_s,
                "indicator": page.evaluate(f"{INDICATOR}.textContent"),
                "refused": attr(page, "data-n-refused"),
                "wire": wire.tally(kinds),
                "access": server.access_since(mark),
                "left": page.evaluate("window.VisitplanOffline.records().then(rs => rs.length)"),
            }
            posts = [r for r in figures["sync"]["access"] if r[3] == "POST"]
            print(f"   signal again: nothing waits after {sync_s:.2f} s; header {figures['sync']['indicator']!r}, "
                  f"{figures['sync']['refused']} refused; {len(posts)} POSTs, server "
                  f"{sum(r[2] for r in posts):.0f} ms in all (median {_median([r[2] for r in posts])} ms)")  # fmt: skip

            # With signal, 我的包户 keeps the pages again every half hour: the same keep, forced.
            figures["again"] = keep_again(page, base, server, wire, kinds, "after the round of visits")
            context.close()

            if not args.no_weak:
                step("f", f"a fresh phone on weak 3G ({LATENCY_MS} ms, {DOWN_BYTES_PER_S * 8 / 1000:.0f}/"
                          f"{UP_BYTES_PER_S * 8 / 1000:.0f} kbit/s): the same keep")  # fmt: skip
                context = browser.new_context(viewport=PHONE, locale="zh-CN")
                wire = Wire(context)
                page = context.new_page()
                cdp = throttle(page)
                mark = server.mark()
                weak = keep(page, base, world, args, server, "weak 3G")
                weak["wire"] = wire.tally(kinds)
                weak["access"] = server.access_since(mark)
                weak["store"] = stored(page, expected, kinds)
                weak["again"] = keep_again(page, base, server, wire, kinds, "on weak 3G, nothing changed")
                cdp.detach()
                figures["weak"] = weak
                print(
                    f"   {weak['store']['kept']} of {len(expected)} pages kept; "
                    f"{_received(weak['wire']) / MB:.2f} MB received"
                )
                context.close()
        except Exception as exc:  # noqa: BLE001 — report what was measured so far, then fail
            print(f"!! the browser run failed: {type(exc).__name__}: {exc}")
            figures["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        finally:
            browser.close()

    step("e", "the database after the sync")
    figures["db"] = check_database(before, figures)
    return figures


def keep_again(page, base, server, wire, kinds, label):
    """我的包户 keeps the pages again when it opens with signal half an hour after the last keeping:
    the same, forced (``keepPages(true)``, static/js/offline-keep.js) on 我的包户."""
    page.goto(f"{base}/visits/")
    poll(page, "window.VisitplanOffline && typeof window.VisitplanOffline.keepPages === 'function'", timeout=30)
    page.wait_for_timeout(500)  # the page's own keeping (skipped: the last one is recent) and sync are done
    wire.reset()
    mark = server.mark()
    started = time.perf_counter()
    summary = page.evaluate("window.VisitplanOffline.keepPages(true)")
    seconds = time.perf_counter() - started
    page.wait_for_timeout(300)
    again = {"seconds": seconds, "summary": summary, "wire": wire.tally(kinds), "access": server.access_since(mark)}
    fetched = [r for r in again["wire"] if r["type"] == "fetch" and r["kind"] not in ("state.json", "static")]
    kinds_text = ", ".join(f"{k} {n}" for k, n in _count(r["kind"] for r in fetched).items())
    print(f"   kept again ({label}): {seconds:.1f} s, {len(fetched)} pages fetched ({kinds_text}), "
          f"{_received(again['wire']) / 1000:.1f} KB received; summary {summary}")  # fmt: skip
    again["fetched"] = len(fetched)
    return again


def _count(values):
    counts = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def throttle(page):
    """Chromium's network emulation for the page: its navigations and its fetches, those of the pages
    it keeps included (the service worker lets them through). The worker's own requests (the few
    static files it stores) are not throttled: Playwright opens DevTools sessions on pages only."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": LATENCY_MS,
             "downloadThroughput": DOWN_BYTES_PER_S, "uploadThroughput": UP_BYTES_PER_S})  # fmt: skip
    return cdp


# ---------------------------------------------------------------------------------------------- e: database


def check_database(before, figures):
    from django.db import connection

    from issues.models import Issue
    from visits.models import Visit

    try:
        records = figures.get("recorded", {}).get("records", [])
        keys = {r["key"] for r in records}
        new = list(Visit.objects.exclude(pk__in=before["visits"]).values_list("key", "household_id", "recorded_at"))
        new_keys = [str(k) for k, _h, _r in new]
        per_key = {k: new_keys.count(k) for k in set(new_keys)}
        households = sorted(h for _k, h, _r in new)
        issues = list(
            Issue.objects.exclude(pk__in=before["issues"]).values_list("text", "household_id", "raised_on__visit__key")
        )
        sent = figures["issues_sent"]
        issues_ok = sorted((t, h) for t, h, _k in issues) == sorted((i["text"], pk) for pk, i in sent.items()) and all(
            k is not None and str(k) in keys for _t, _h, k in issues
        )
        result = {
            "visits": len(new),
            "keys": len(keys),
            "once": len(new) == len(keys) and set(per_key) == keys and all(v == 1 for v in per_key.values()),
            "households_ok": households == sorted(figures["chosen"]),
            "recorded_at": sum(1 for _k, _h, r in new if r is not None),
            "issues": len(issues),
            "issues_sent": len(sent),
            "issues_ok": issues_ok,
        }
        print(f"   {result['visits']} new visits for {result['keys']} keys recorded offline (one each: {result['once']}; "
              f"the chosen households: {result['households_ok']}; with the phone's time: {result['recorded_at']}); "
              f"{result['issues']} new issues for {result['issues_sent']} sent (each once, linked to its visit: "
              f"{result['issues_ok']}); saved while offline: {figures.get('saved_offline')}")  # fmt: skip
        return result
    finally:
        connection.close()


# ---------------------------------------------------------------------------------------------- output


def _received(rows):
    return sum(r["received"] for r in rows)


def _median(values):
    return f"{statistics.median(values):.0f}" if values else "n/a"


def _kb(n):
    return f"{n / 1000:,.1f} KB"


def _mb(n):
    return f"{n / MB:.2f} MB"


def report_keep(wire_rows, access, store, expected):
    by = {}
    for r in wire_rows:
        key = (r["kind"], "worker" if r["worker"] else r["type"])
        n, b = by.get(key, (0, 0))
        by[key] = (n + 1, b + r["received"])
    print(f"   on the wire: {_mb(_received(wire_rows))} received in {len(wire_rows)} responses "
          f"({sum(r['sent'] for r in wire_rows) / 1000:.0f} KB sent); server body bytes {_mb(sum(a[1] for a in access))} "
          f"in {len(access)} requests")  # fmt: skip
    for (kind, kind_type), (n, b) in sorted(by.items(), key=lambda kv: -kv[1][1]):
        print(f"     {kind:10} {kind_type:9} {n:4} responses {_kb(b):>11}  ({_kb(b / n)} each)")
    print(
        f"   on the phone: {_mb(store['usage'])} (storage.estimate; {store['details']}), quota {store['quota'] / 1e9:.1f} GB"
    )
    print(f"   pages kept: {store['kept']} of {len(expected)} on the server's list"
          + (f"; missing: {store['missing'][:5]}" if store["missing"] else ""))  # fmt: skip
    for kind, sizes in sorted(store["by_kind"].items(), key=lambda kv: -sum(kv[1])):
        print(f"     {kind:10} {len(sizes):4} bodies {_kb(sum(sizes)):>11}  median {_kb(statistics.median(sizes))}, "
              f"max {_kb(max(sizes))}")  # fmt: skip
    statics = store["statics"]
    print(f"     static     {len(statics):4} files  {_kb(sum(s for _p, s in statics)):>11}  (the worker's store)")
    print(f"   largest kept pages: {', '.join(f'{p} {_kb(s)}' for p, s in store['largest'])}")
    server_by = {}
    for _status, _b, ms, _method, path in access:
        server_by.setdefault(kind_of(path, url_kinds()), []).append(ms)
    print("   server time by kind (median / max ms): " + ", ".join(
        f"{k} {_median(v)} / {max(v):.0f}" for k, v in sorted(server_by.items(), key=lambda kv: -len(kv[1]))))  # fmt: skip


def summarise(figures, server, world, args):
    expected = figures["expected"]
    n_households = len(world["households"])
    results = []
    if "error" in figures:
        results.append(("browser run", figures["error"], "completes", False))
    kept = figures.get("keep")
    store = figures.get("store")
    if kept and store:
        wire_rows = figures["keep_wire"]
        pages = [r for r in wire_rows if r["type"] == "fetch" and r["kind"] not in ("state.json", "static")]
        usage = store["usage"]
        body_total = sum(s for _p, s in store["pages"]) + sum(s for _p, s in store["statics"])
        kinds_text = ", ".join(f"{k} {len(v)} × {_kb(statistics.median(v))}" for k, v in
                               sorted(store["by_kind"].items(), key=lambda kv: -sum(kv[1])))  # fmt: skip
        results += [
            ("households of the cadre / pages on the server's list",
             f"{n_households} / {len(expected)}", "(information)", None),
            ("pages kept in Cache Storage", f"{store['kept']} of {len(expected)}", "all", store["kept"] == len(expected)),
            ("openings of 我的包户 until the keeping started, loopback", f"{kept['openings']}", "1",
             kept["openings"] == 1),
            ("time to keep them, loopback (我的包户 opened → summary)", f"{kept['keep_s']:.1f} s",
             f"< {TARGETS['keep_s']} s", kept["keep_s"] < TARGETS["keep_s"]),
            ("stored on the phone (storage.estimate usage)", f"{_mb(usage)} ({_kb(usage / n_households)} a household)",
             f"< {_mb(TARGETS['stored_bytes'])}", usage < TARGETS["stored_bytes"]),
            ("  bodies kept (pages + static files)", f"{_mb(body_total)}; per kind (median): {kinds_text}",
             "(information)", None),
            ("  the summary of offline-keep.js: pages fetched, bytes",
             f"{kept['summary'].get('fetched', '–')} of {kept['summary']['pages']}, {_mb(kept['summary']['bytes'])}",
             "(information)", None),
            ("on the wire, the keep (bodies + headers received)",
             f"{_mb(_received(wire_rows))} in {len(wire_rows)} responses; the kept pages {_mb(_received(pages))} "
             f"({_kb(_received(pages) / max(len(pages), 1))} each)", "(information)", None),
            ("  gunicorn: body bytes sent, server time",
             f"{_mb(sum(a[1] for a in figures['keep_access']))}, {sum(a[2] for a in figures['keep_access']) / 1000:.1f} s "
             f"in {len(figures['keep_access'])} requests", "(information)", None),
        ]  # fmt: skip
        cpu = kept.get("cpu")
        if cpu:
            results.append(("  CPU from the login to the summary",
                            f"server {cpu['gunicorn'] + cpu['postgres']:.0f} s (gunicorn {cpu['gunicorn']:.0f}, "
                            f"PostgreSQL {cpu['postgres']:.0f}); {cpu['text'].split(': ', 1)[0]}", "(information)", None))  # fmt: skip
    recorded = figures.get("recorded")
    if recorded:
        results += [
            ("visits waiting on the phone (data-n-waiting)", f"{recorded['n_waiting']} ({recorded['indicator']})",
             f"= {args.visits}", recorded["n_waiting"] == str(args.visits)),
            ("  recording one visit offline (household page → form → back)",
             f"median {statistics.median(recorded['times']):.1f} s", "(information)", None),
            ("  stored with the queue", f"{_mb(figures['queued_store']['usage'])}", "(information)", None),
            ("visits saved while offline", f"{figures['saved_offline']}", "0", figures["saved_offline"] == 0),
        ]  # fmt: skip
    sync = figures.get("sync")
    if sync:
        sent = sum(r["sent"] for r in sync["wire"])
        results += [
            (f"sync of {args.visits} visits (set_offline(False) → data-n-waiting 0)", f"{sync['seconds']:.2f} s",
             f"< {TARGETS['sync_s']} s", sync["seconds"] < TARGETS["sync_s"]),
            ("  refused / left on the phone", f"{sync['refused']} / {sync['left']}", "0 / 0",
             sync["refused"] == "0" and sync["left"] == 0),
            ("  on the wire", f"{_kb(sent)} sent, {_kb(_received(sync['wire']))} received in {len(sync['wire'])} requests",
             "(information)", None),
        ]  # fmt: skip
    db = figures.get("db")
    if db:
        results += [
            ("new visits in the database / keys recorded", f"{db['visits']} / {db['keys']}", f"= {args.visits}, once each",
             db["visits"] == args.visits and db["keys"] == args.visits and db["once"] and db["households_ok"]),
            ("new issues / sent", f"{db['issues']} / {db['issues_sent']}", "equal, each once with its visit",
             db["issues_ok"]),
        ]  # fmt: skip
    again = figures.get("again")
    if again:
        results.append((f"kept again (every half hour with signal) after the {args.visits} visits, loopback",
                        f"{again['seconds']:.1f} s, {again['fetched']} pages fetched, {_kb(_received(again['wire']))} "
                        "received", "(information)", None))  # fmt: skip
    weak = figures.get("weak")
    if weak:
        results += [
            ("weak 3G, a fresh phone: openings of 我的包户 until the keeping started", f"{weak['openings']}", "1",
             weak["openings"] == 1),
            ("weak 3G: time to keep (the last opening of 我的包户 → summary)", f"{weak['keep_s']:.0f} s",
             "(information)", None),
            ("weak 3G: pages kept, received", f"{weak['store']['kept']} of {len(expected)}, {_mb(_received(weak['wire']))}",
             "all", weak["store"]["kept"] == len(expected)),
            ("weak 3G: kept again, nothing changed", f"{weak['again']['seconds']:.1f} s, {weak['again']['fetched']} pages "
             f"fetched, {_kb(_received(weak['again']['wire']))} received", "(information)", None),
        ]  # fmt: skip
    tracebacks = server.tracebacks()
    results.append(("tracebacks in the gunicorn log", f"{tracebacks}", "0", tracebacks == 0))
    return results


if __name__ == "__main__":
    sys.exit(main())
