#!/usr/bin/env python
"""The issue ledger at scale, on PostgreSQL: the ledger pages and the Excel export with 50,000 issues.

Usage (see bench/README.md):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/visitplan_bench .venv/bin/python bench/bench_ledger.py [--issues 50000]

Steps:
a. drop and recreate the bench database (on the server's ``postgres`` database), then migrate;
b. a street with 10 communities × 10 grids, households, departments with handlers, a street admin;
   issues in every status across the communities (deadlines from issues.deadlines), one event each;
c. the ledger ``/issues/`` as the street admin with Django's test client: the first page unfiltered,
   filtered by status + community, the overdue filter, a text search and a deep page; one warm-up
   request, then the median of 5, and the number of SQL queries — also with a page size 5× larger,
   which must not change the count;
d. the export ``/issues/export/`` of all issues in a child process: wall time and peak RSS.

Prints a table with the targets next to the figures and exits 1 when a target is missed (2 when it
refuses to run: DATABASE_URL must be PostgreSQL and its name must contain "bench").
"""

import argparse
import datetime
import os
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "visitplan.settings")
os.environ.setdefault("DEBUG", "False")  # measure what production runs; children inherit it

# The same guard rails, child runner and table as the register benchmark.
from bench_register import (  # noqa: E402
    analyze,
    database_settings,
    finish,
    fmt_mb,
    prepare_database,
    print_tail,
    run_child,
    short_sql,
    step,
)

STREET = "湖田街道"
GRIDS_PER_COMMUNITY = 10
HOUSEHOLDS_PER_GRID = 100
PASSWORD = "bench-12345"

TARGETS = {
    "ledger_ms": 300,
    "ledger_queries": 15,
    "export_seconds": 60,
    "export_rss_mb": 300,
}

# How a ledger of a year looks: most old issues closed, the recent ones spread over the workflow.
STATUS_WEIGHTS_OLD = {
    "closed": 70,
    "resolved": 6,
    "in_progress": 8,
    "planned": 4,
    "routed": 3,
    "returned": 5,
    "merged": 4,
}
STATUS_WEIGHTS_RECENT = {
    "registered": 15, "accepted": 10, "routed": 20, "planned": 15, "in_progress": 20, "resolved": 8, "closed": 10,
    "returned": 1, "merged": 1,
}  # fmt: skip

TEXTS = [
    "楼道声控灯损坏，夜间上下楼不便",
    "小区东门雨后积水严重，电动车无法通行",
    "咨询高龄津贴申领条件和办理地点",
    "老旧小区希望加装电梯",
    "楼上漏水，与邻居协商未果",
    "孩子入学报名材料咨询",
    "希望增设社区老年食堂",
    "路灯损坏，夜间照明不足",
    "垃圾清运不及时，气味大",
    "失业后申请灵活就业社保补贴",
    "=SUM(A1:A9) 居民原话含等号",
    "门诊慢特病备案流程咨询",
]

# The export, run in a child process so that its peak RSS is its own.
EXPORT_SCRIPT = """
import os, sys, time
sys.path.insert(0, sys.argv[1])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "visitplan.settings")
import django
django.setup()
from django.contrib.auth import get_user_model
from django.test import Client
client = Client()
client.force_login(get_user_model().objects.get(username=sys.argv[2]))
started = time.perf_counter()
response = client.get("/issues/export/")
size = sum(len(chunk) for chunk in response.streaming_content)
from households.models import AccessLog
log = AccessLog.objects.latest("at")
print(f"EXPORT status={response.status_code} bytes={size} rows={log.rows} seconds={time.perf_counter() - started:.1f}")
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--issues", type=int, default=50_000, help="issues to create (default 50000)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    db = database_settings()
    if db is None:
        return 2

    prepare_database(db)

    step("b", f"street, households, departments and {args.issues:,} issues")
    started = time.perf_counter()
    world = build_world(args.issues, args.seed)
    analyze()
    print(f"   built in {time.perf_counter() - started:.1f} s: {world['summary']}")

    results = []
    step("c", "the ledger /issues/ as the street admin (median of 5 after a warm-up)")
    results += measure_ledger(world)

    step("c2", "other pages, for information (no target): review queue, my issues of a department handler")
    results += measure_other_pages(world)

    step("d", "export of the whole ledger (child process)")
    run = run_child([sys.executable, "-c", EXPORT_SCRIPT, str(REPO), "admin"])
    print_tail(run["output"], lines=3)
    line = next((ln for ln in run["output"].splitlines() if ln.startswith("EXPORT ")), "")
    fields = dict(part.split("=") for part in line.split()[1:]) if line else {}
    rows = int(fields.get("rows", 0))
    ok_rows = run["returncode"] == 0 and fields.get("status") == "200" and rows == args.issues
    results += [
        ("export: rows written", f"{rows:,}", f"= {args.issues:,}", ok_rows),
        ("export: wall time of the child", f"{run['seconds']:.1f} s", f"< {TARGETS['export_seconds']} s",
         ok_rows and run["seconds"] < TARGETS["export_seconds"]),
        ("export: peak RSS of the child", fmt_mb(run["rss_mb"]), f"< {TARGETS['export_rss_mb']} MB",
         run["rss_mb"] is not None and run["rss_mb"] < TARGETS["export_rss_mb"]),
        ("export: file size", f"{int(fields.get('bytes', 0)) / 2**20:.1f} MiB", "", None),
    ]  # fmt: skip

    return finish(results)


# ---------------------------------------------------------------------------------------------- b


def build_world(issue_count, seed):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group
    from django.db import transaction
    from django.utils import timezone

    from households.models import Household, Node, NodeKind
    from households.register import address_key
    from households.roles import DEPARTMENT_HANDLER, STREET_ADMIN, sync_role_groups
    from households.validators import id_check_char
    from issues import deadlines, workdays
    from issues.models import Category, Closure, EventKind, Issue, IssueEvent, Severity
    from reports.management.commands.seed_demo import COMMUNITIES, DEPARTMENTS, GIVEN_NAMES, SURNAMES
    from visitplan.models import Cadre, Department, Tier

    rng = random.Random(seed)
    User = get_user_model()
    password = make_password(PASSWORD)
    today = timezone.localdate()
    with transaction.atomic():
        sync_role_groups()
        street = Node.objects.create(kind=NodeKind.STREET, name=STREET)
        communities, grids = [], []
        for name, _ in COMMUNITIES:
            community = Node.objects.create(kind=NodeKind.COMMUNITY, name=name, parent=street)
            communities.append(community)
            for number in range(1, GRIDS_PER_COMMUNITY + 1):
                grid = Node.objects.create(kind=NodeKind.GRID, name=f"第{number}网格", parent=community)
                grid.community = community
                grids.append(grid)

        households = []
        given = [n for names in GIVEN_NAMES.values() for n in names]
        serial = 0
        for grid in grids:
            for i in range(HOUSEHOLDS_PER_GRID):
                serial += 1
                unit, room = f"{i % 4 + 1}单元", f"{i // 4 % 6 + 1}{i % 2 + 1:02d}{i // 24}"
                first17 = f"370302{1940 + serial % 60}0101{serial % 1000:03d}"
                households.append(
                    Household(
                        street=street,
                        community=grid.community,
                        grid=grid,
                        unit=unit,
                        room=room,
                        address_key=address_key(grid.community.name, grid.name, "", unit, room),
                        path=grid.path,
                        head_name=rng.choice(SURNAMES) + rng.choice(given),
                        id_number=first17 + id_check_char(first17),
                        size=rng.randint(1, 6),
                    )
                )
        Household.objects.bulk_create(households, batch_size=2000)
        households = list(Household.objects.values_list("pk", "community_id", "path"))

        def user_with_cadre(username, role, *, scope, tier, department=None):
            user = User.objects.create(username=username, password=password, is_staff=True)
            user.groups.add(Group.objects.get(name=role))
            Cadre.objects.create(user=user, name=username, tier=tier, scope=scope, department=department)
            return user

        admin = user_with_cadre("admin", STREET_ADMIN, scope=street, tier=Tier.STREET_STAFF)
        departments, handlers = [], {}
        for name, pinyin in DEPARTMENTS:
            department = Department.objects.create(name=name)
            departments.append(department)
            handlers[department.pk] = user_with_cadre(
                f"dept_{pinyin}", DEPARTMENT_HANDLER, scope=street, tier=Tier.DEPARTMENT, department=department
            )

        calendar = workdays.current_calendar()
        categories = list(Category.values)
        severities = [Severity.GENERAL] * 8 + [Severity.MAJOR] * 2 + [Severity.GRAVE]
        counts = {}
        rulebooks = deadlines.Rulebooks()  # each street's campaigns read once, not per issue
        batch, made = [], 0
        for n in range(issue_count):
            household_id, community_id, path = rng.choice(households)
            age = int(rng.triangular(0, 400, 20))
            registered_on = today - datetime.timedelta(days=age)
            weights = STATUS_WEIGHTS_RECENT if age < 45 else STATUS_WEIGHTS_OLD
            status = rng.choices(list(weights), weights=list(weights.values()))[0]
            severity = rng.choice(severities)
            issue = Issue(
                household_id=household_id,
                community_id=community_id,
                path=path,
                raised_by=admin,
                text=rng.choice(TEXTS) + f"（{n}）",
                category=rng.choice(categories),
                severity=severity,
                status=status,
                registered_on=registered_on,
                hotline_ticket=f"2026{n:09d}" if n % 7 == 0 else "",
                special_hardship=n % 23 == 0,
            )
            deadlines.apply_deadlines(issue, calendar=calendar, rulebooks=rulebooks)
            if status in ("routed", "planned", "in_progress", "resolved", "closed"):
                department = rng.choice(departments)
                issue.department = department
                issue.assignee = handlers[department.pk]
            if status in ("planned", "in_progress", "resolved", "closed"):
                issue.plan_text = "联系责任单位现场核实，制定整改措施"
                issue.plan_posted_on = min(registered_on + datetime.timedelta(days=rng.randint(1, 9)), today)
            if status in ("resolved", "closed"):
                issue.answer = "已整改完毕，已电话告知居民"
                issue.answered_on = min(registered_on + datetime.timedelta(days=rng.randint(5, 40)), today)
                issue.closure = Closure.SOLVED
            if status == "closed":
                issue.closed_on = issue.answered_on
            counts[status] = counts.get(status, 0) + 1
            batch.append(issue)
            if len(batch) == 2000:
                made += _insert(batch, Issue, IssueEvent, EventKind)
                batch = []
        if batch:
            made += _insert(batch, Issue, IssueEvent, EventKind)

    overdue = Issue.objects.overdue(on=today).count()
    summary = (
        f"{len(communities)} communities, {len(grids)} grids, {len(households):,} households, "
        f"{len(departments)} departments, {made:,} issues ({overdue:,} overdue today); "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
    )
    return {"admin": admin, "communities": communities, "summary": summary, "count": made}


def _insert(batch, Issue, IssueEvent, EventKind):
    created = Issue.objects.bulk_create(batch)
    IssueEvent.objects.bulk_create(
        [IssueEvent(issue=i, actor_id=i.raised_by_id, kind=EventKind.REGISTERED, text=i.text, to_status="registered")
         for i in created]
    )  # fmt: skip
    return len(created)


# ---------------------------------------------------------------------------------------------- c


def measure_ledger(world):
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    from issues import views

    setup_test_environment()
    client = Client(raise_request_exception=False)
    client.force_login(world["admin"])
    community = world["communities"][3].pk
    deep = max(1, min(100, world["count"] // views.PAGE_SIZE))
    pages = [
        ("first page, unfiltered", "/issues/"),
        ("status + community", f"/issues/?status=in_progress&community={community}"),
        ("overdue", "/issues/?due=overdue"),
        ("due this week", "/issues/?due=week"),
        ("text search", "/issues/?q=%E5%8A%A0%E8%A3%85%E7%94%B5%E6%A2%AF"),  # 加装电梯
        (f"page {deep}", f"/issues/?page={deep}"),
    ]
    results = []
    base_size = views.PAGE_SIZE
    for label, url in pages:
        warm = client.get(url)
        if warm.status_code != 200:
            results.append((f"ledger: {label}", f"HTTP {warm.status_code}", "200", False))
            continue
        query_counts = {}
        for size in (base_size, base_size * 5):
            views.PAGE_SIZE = size
            client.get(url)
            with CaptureQueriesContext(connection) as capture:
                client.get(url)
            query_counts[size] = list(capture.captured_queries)
        views.PAGE_SIZE = base_size
        queries = query_counts[base_size]
        times = []
        for _ in range(5):
            started = time.perf_counter()
            client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        median = statistics.median(times)
        slowest = max(queries, key=lambda q: float(q["time"]))
        same = len(query_counts[base_size]) == len(query_counts[base_size * 5])
        print(f"   {label:<26} {median:6.0f} ms  {len(queries):2} queries (page of {base_size * 5}: "
              f"{len(query_counts[base_size * 5])}); slowest {float(slowest['time']) * 1000:.0f} ms: "
              f"{short_sql(slowest['sql'])}")  # fmt: skip
        ok = median < TARGETS["ledger_ms"] and len(queries) < TARGETS["ledger_queries"] and same
        results.append(
            (f"ledger: {label}",
             f"{median:.0f} ms, {len(queries)} queries ({len(query_counts[base_size * 5])} at {base_size * 5}/page)",
             f"< {TARGETS['ledger_ms']} ms, < {TARGETS['ledger_queries']} queries, same at 5×", ok)
        )  # fmt: skip
    return results


def measure_other_pages(world):
    """待审核 as the street admin and 我的诉求 as a department handler: median of 5, query count.

    Both ask services.allowed_actions for each row (a visibility check per row), so their query
    count grows with the page size; printed for information.
    """
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    handler = get_user_model().objects.filter(username__startswith="dept_").order_by("pk").first()
    results = []
    for label, user, url in (
        ("review queue (street admin)", world["admin"], "/issues/review/"),
        ("my issues (department handler)", handler, "/issues/mine/"),
    ):
        client = Client(raise_request_exception=False)
        client.force_login(user)
        if client.get(url).status_code != 200:
            results.append((label, "HTTP error", "200", False))
            continue
        with CaptureQueriesContext(connection) as capture:
            client.get(url)
        queries = len(capture.captured_queries)  # now: the next request resets the connection's log
        times = []
        for _ in range(5):
            started = time.perf_counter()
            client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        median = statistics.median(times)
        print(f"   {label:<32} {median:6.0f} ms  {queries} queries")
        results.append((label, f"{median:.0f} ms, {queries} queries", "(information)", None))
    return results


if __name__ == "__main__":
    sys.exit(main())
