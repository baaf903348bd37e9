#!/usr/bin/env python
"""The leaders' pages at district size, on PostgreSQL: the dashboard, the Excel ledgers and the monthly job.

Usage (see bench/README.md):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/visitplan_bench_reports .venv/bin/python bench/bench_reports.py [--households 100000 --visits 300000]

Steps:
a. drop and recreate the bench database (on the server's ``postgres`` database), then migrate;
b. seed with COPY (and bulk inserts for the small tables): 湖田街道 with 10 communities × 10 grids ×
   1,000 households in numbered buildings (the demo seeder's generators of people and addresses),
   cadres of every tier with logins and the 2026 campaign with its five stages (the seeder's code,
   through bench_register), assignments (包户到人), 300,000 visits, 40,000 issues with their
   deadlines, 10,000 follow-ups (回头看), 一户一策 plans and a few hundred supervision findings;
c. the dashboard ``/reports/`` with Django's test client as the street admin, a leader and a
   community secretary: one warm-up request, then the median of 5, and the SQL queries of one
   request (the same number for each user, and with one community selected); each panel of
   ``reports/dashboard.py`` timed on its own for the street admin, with EXPLAIN ANALYZE of the
   slowest queries of the slowest panel; ``/reports/summary/`` and ``/reports/unvisited/`` too;
d. the monthly job ``reports.monthly.build_monthly_report`` for 2026-11, twice (the same rows);
e. each Excel ledger in a child process: wall time, peak RSS (``/usr/bin/time -v``), the rows written
   (from the ``AccessLog`` row) and the file size — the 入户走访台账 of the whole campaign (~300,000
   rows) and of a date range of ~100,000 rows, the 问题整改台账, the 特殊困难群体台账, the 月度入户表
   and the 督查扣分表.

Prints a table with the targets next to the figures and exits 1 when a target is missed (2 when it
refuses to run: DATABASE_URL must be PostgreSQL and its name must contain "bench").
"""

import argparse
import datetime
import json
import os
import random
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "visitplan.settings")
os.environ.setdefault("DEBUG", "False")  # measure what production runs; children inherit it

# The same guard rails, child runner and table as the register benchmark; its cadres and campaign.
from bench_register import (  # noqa: E402
    STREET,
    analyze,
    create_cadres_and_campaign,
    database_settings,
    finish,
    fmt_mb,
    prepare_database,
    print_tail,
    run_child,
    short_sql,
    step,
)

GRIDS_PER_COMMUNITY = 10
MONTH = datetime.date(2026, 11, 1)  # the monthly job and the 月度入户表
VISITS_FROM, VISITS_TO = datetime.date(2026, 3, 21), datetime.date(2026, 11, 30)  # the 集中走访 stage
LEDGER_ROWS = 100_000  # the size the export targets are given for
WHAT_IF_WORK_MEM = "64MB"  # the server setting under which a page that does not answer is measured again (information)

TARGETS = {
    "dashboard_ms": 150,  # a street's dashboard at 100,000 households (was 1,000)
    "dashboard_queries": 40,
    "export_seconds": 60,
    "export_rss_mb": 300,
    "district_ms": 400,  # a district's page at 1,000,000 households
    "rebuild_seconds": 300,  # the nightly rebuild of 1,000,000 households
}

# Who visits, as shares of all visits (the rest are the grid workers'); see seed_visits.
VISIT_SHARES = {"secretary": 0.17, "staff": 0.14, "department": 0.005, "committee": 0.07, "leader": 0.015}
STREET_STAFF_SHARE = 0.32  # of each community's households, assigned to its two 包村居 cadres
FINDINGS_PER_1000_HOUSEHOLDS = 3
PLANNED_HARDSHIP_SHARE = 0.4  # of the hardship households, with a 一户一策 plan
FINDING_TEXTS = {
    "not_visited": "实地巡查：该户门上无走访联系卡，邻居称未见干部上门",
    "fake_visit": "电话调查：居民表示当天无人上门，台账记录入户40分钟",
    "fake_opinions": "电话调查：居民表示未被征求意见，台账记录的意见建议与本人所说不符",
    "not_rectified": "回访发现：居民反映的楼道照明问题至今未处理",
    "fake_rectification": "实地核查：台账记录已维修，现场路灯仍不亮",
    "incomplete": "实地核查：积水点仅临时抽排，排水管网未改造",
}

# The export, run in a child process so that its peak RSS is its own: argv = repo, username, URL.
EXPORT_SCRIPT = """
import os, sys, time
sys.path.insert(0, sys.argv[1])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "visitplan.settings")
import django
django.setup()
from django.contrib.auth import get_user_model
from django.db.models import Max
from django.test import Client
from households.models import AccessLog
client = Client()
client.force_login(get_user_model().objects.get(username=sys.argv[2]))
before = AccessLog.objects.aggregate(m=Max("pk"))["m"] or 0
started = time.perf_counter()
response = client.get(sys.argv[3])
size = sum(len(chunk) for chunk in response.streaming_content) if response.streaming else len(response.content)
seconds = time.perf_counter() - started
log = AccessLog.objects.filter(pk__gt=before).order_by("-pk").first()
kind = response.get("Content-Type", "").split(";")[0]
print(f"EXPORT status={response.status_code} bytes={size} rows={log.rows if log else -1} seconds={seconds:.1f} "
      f"type={kind} location={response.get('Location') or '-'}")
for message in getattr(response.wsgi_request, "_messages", []):
    print(f"MESSAGE {message}")
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--households", type=int, default=100_000, help="households, over 100 grids a street (default 100000)"
    )
    parser.add_argument(
        "--streets",
        type=int,
        default=1,
        help="streets of the district 张店区, the households split evenly (default 1: 湖田街道 alone, no district)",
    )
    parser.add_argument("--visits", type=int, help="visits (default 3 per household)")
    parser.add_argument("--issues", type=int, help="issues (default 4 per 10 households)")
    parser.add_argument("--followups", type=int, help="follow-ups, one per issue (default 1 per 10 households)")
    parser.add_argument(
        "--skip-rebuild", action="store_true", help="leave out the timing of the nightly rebuild (step f)"
    )
    parser.add_argument(
        "--statement-timeout",
        type=float,
        default=20,
        metavar="S",
        help="cancel any SQL statement of the measurements after S seconds (default 20; 0: never)",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--reuse-db",
        action="store_true",
        help="measure the database a previous run seeded (migrated, tallies rebuilt) instead of seeding anew",
    )
    parser.add_argument("--skip-exports", action="store_true", help="leave out the Excel ledgers (step e)")
    parser.add_argument(
        "--seed-only",
        action="store_true",
        help="seed the database and stop (the stack test, tests/test_stack.py, serves it behind nginx)",
    )
    args = parser.parse_args()
    if not 1 <= args.streets <= len(DISTRICT_STREETS) + 1:
        parser.error(f"--streets: 1 to {len(DISTRICT_STREETS) + 1}")
    args.visits = args.households * 3 if args.visits is None else args.visits
    args.issues = args.households * 4 // 10 if args.issues is None else args.issues
    args.followups = args.households // 10 if args.followups is None else args.followups

    db = database_settings()
    if db is None:
        return 2

    start_load = os.getloadavg()[0]
    world, results = reuse_database() if args.reuse_db else seed_database(db, args)
    if args.seed_only:
        return 0
    results += measure(world, args)
    results.append(
        (
            "machine load (1-min average) at the start / the end",
            f"{start_load:.1f} / {os.getloadavg()[0]:.1f}",
            f"{os.cpu_count()} CPUs",
            None,
        )
    )
    return finish(results)


def reuse_database():
    """The world of an earlier run's database: migrated to this checkout, tallies rebuilt."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from households.models import District, Node, NodeKind
    from visitplan.models import Campaign
    from visits import tally

    step("a", "reuse the seeded database: migrate, rebuild the tallies")
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"   migrated in {time.perf_counter() - started:.1f} s")
    for campaign in Campaign.objects.order_by("pk"):
        started = time.perf_counter()
        print(f"   {campaign.street.name}: tallies {tally.rebuild(campaign)} in {time.perf_counter() - started:.1f} s")
    analyze()
    street = Node.objects.get(kind=NodeKind.STREET, name=STREET)
    campaign = Campaign.objects.get(street=street)
    communities = list(Node.objects.filter(kind=NodeKind.COMMUNITY, parent=street).order_by("order"))
    grids = list(Node.objects.filter(kind=NodeKind.GRID, parent__in=communities).order_by("path"))
    world = {"campaign": campaign, "tree": {"street": street, "communities": communities, "grids": grids},
             "people": load_people(campaign), "district": None}  # fmt: skip
    district = District.objects.first()
    if district is not None:
        users = get_user_model().objects.in_bulk(["district_leader", "district_admin"], field_name="username")
        world["district"] = {"district": district, "users": users}
    return world, []


def seed_database(db, args):
    prepare_database(db)

    step("b", f"seed {args.households:,} households, {args.visits:,} visits, {args.issues:,} issues, "
              f"{args.followups:,} follow-ups (COPY)")  # fmt: skip
    started = time.perf_counter()
    world = seed(args, random.Random(args.seed))
    analyze()
    seed_seconds = time.perf_counter() - started
    print(f"   seeded in {seed_seconds:.1f} s")
    return world, [("seeding (COPY, bulk inserts, tallies, ANALYZE)", f"{seed_seconds:.0f} s", "", None)]


def measure(world, args):
    results = []
    set_statement_timeout(args.statement_timeout)

    step("c", "the dashboard /reports/ (median of 5 after a warm-up) and its panels")
    print(f"   {load()}")
    results += measure_dashboard(world)

    step("c2", "each panel of reports/dashboard.py on its own, as the street admin (median of 3 after a warm-up)")
    print(f"   {load()}")
    results += measure_panels(world)

    step("c3", "/reports/summary/ and /reports/unvisited/")
    print(f"   {load()}")
    results += measure_other_pages(world)

    step("d", f"the monthly job build_monthly_report(month={MONTH.isoformat()}), twice")
    print(f"   {load()}")
    results += measure_monthly_job()

    if world.get("district"):
        step("c4", "the district page /reports/district/ as the district leader (median of 5 after a warm-up)")
        print(f"   {load()}")
        results += measure_district(world)

    if not args.skip_exports:
        step("e", "the Excel ledgers (each in a child process)")
        print(f"   {load()}")
        results += measure_exports(world)

    if not args.skip_rebuild:
        step("f", "the nightly rebuild of every campaign's tallies and rollups (visits.tasks.rebuild_tallies_task)")
        print(f"   {load()}")
        results += measure_nightly_rebuild()
    return results


def measure_district(world):
    """The 区级看板 of every street side by side: time and queries, as the district leader and admin."""
    from django.test import Client

    from households.models import Household

    households = Household.objects.count()
    results, counts = [], []
    for username, user in world["district"]["users"].items():
        client = Client(raise_request_exception=False)
        client.force_login(user)
        figures = page_figures(client, "/reports/district/")
        if figures["status"] != 200:
            results.append((f"district /reports/district/: {username}", report_failure(username, "/reports/district/",
                            figures), f"< {TARGETS['district_ms']} ms", False))  # fmt: skip
            continue
        median, queries = figures["median"], figures["queries"]
        counts.append(len(queries))
        slowest = max(queries, key=lambda q: float(q["time"]))
        print(f"   {username:<16} {median:6.0f} ms (min {min(figures['times']):.0f}, max {max(figures['times']):.0f})  "
              f"{len(queries)} queries; slowest {float(slowest['time']) * 1000:.0f} ms: {short_sql(slowest['sql'], 160)}")  # fmt: skip
        results.append((f"district /reports/district/ ({households:,} households): {username}",
                        f"{median:.0f} ms, {len(queries)} queries", f"< {TARGETS['district_ms']} ms",
                        median < TARGETS["district_ms"]))  # fmt: skip
    return results


def measure_nightly_rebuild():
    """What the nightly task does (``visits.tally.rebuild_current``: the campaigns of this year and the
    last), on the seeded database as it stands: its wall time against the target."""
    from django.utils import timezone

    from households.models import Household
    from visits.tally import rebuild_current

    today = timezone.localdate()
    households = Household.objects.count()
    started = time.perf_counter()
    done = rebuild_current(today)
    seconds = time.perf_counter() - started
    print(f"   {len(done)} campaigns, {households:,} households in {seconds:.1f} s")
    return [(f"nightly rebuild ({households:,} households, {len(done)} campaigns)", f"{seconds:.0f} s",
             f"< {TARGETS['rebuild_seconds']} s", seconds < TARGETS["rebuild_seconds"])]  # fmt: skip


# ---------------------------------------------------------------------------------------------- b


def set_statement_timeout(seconds):
    """From here on every statement (this process's and the children's, through libpq's PGOPTIONS) is cancelled
    after ``seconds``: a query that would run for hours fails its measurement instead of stopping the run."""
    from django.db import connection
    from django.db.backends.signals import connection_created

    if not seconds:
        return
    ms = int(seconds * 1000)
    os.environ["PGOPTIONS"] = (os.environ.get("PGOPTIONS", "") + f" -c statement_timeout={ms}").strip()

    def apply(connection, **kwargs):
        with connection.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {ms}")

    connection_created.connect(apply, weak=False)
    if connection.connection is not None:
        apply(connection)
    print(f"   statement_timeout {seconds:g} s for the measurements")
    TIMEOUT["seconds"] = seconds


TIMEOUT = {"seconds": 0}
REQUEST_ERRORS = []  # the exceptions of the test client's requests (got_request_exception)


def load():
    """The machine's load average (1 / 5 / 15 min): other work on the 2 CPUs shows in the figures."""
    try:
        return "load average " + " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "load average n/a"


def copy_rows(model, fields, rows):
    """COPY ``rows`` (tuples in the order of ``fields``, attribute names such as ``household_id``) into the
    model's table. Columns not given get their field's default (``auto_now`` fields: now; nullable: NULL);
    values of JSON fields must come as JSON text. Returns the number of rows."""
    from django.db import connection
    from django.db.models import JSONField
    from django.utils import timezone

    opts = model._meta
    by_attname = {f.attname: f for f in opts.concrete_fields}
    columns = [by_attname[name].column for name in fields]
    extra = []
    now = timezone.now()
    for f in opts.concrete_fields:
        if f.attname in fields or f.primary_key:
            continue
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            value = now
        elif f.has_default():
            if callable(f.default) and f.unique:
                raise ValueError(f"{model.__name__}.{f.attname}: a unique field needs a value per row")
            value = f.get_default()
            if isinstance(f, JSONField):
                value = json.dumps(value)
        elif f.null:
            value = None
        elif f.empty_strings_allowed and not f.is_relation:  # blank texts
            value = ""
        else:
            raise ValueError(f"{model.__name__}.{f.attname} needs a value")
        columns.append(f.column)
        extra.append(value)
    extra = tuple(extra)
    sql = f'COPY "{opts.db_table}" ({", ".join(f"{chr(34)}{c}{chr(34)}" for c in columns)}) FROM STDIN'
    count = 0
    with connection.cursor() as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row + extra if extra else row)
            count += 1
    return count


def next_id(model):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{model._meta.db_table}"')
        return cursor.fetchone()[0] + 1


def reset_sequence(model):
    """After COPY with explicit ids: the identity sequence continues after the largest."""
    from django.db import connection

    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), (SELECT MAX(id) FROM \"{table}\"))")


def seed(args, rng):
    """Each street of ``--streets`` in turn (湖田街道 first, the district's others after it), with its share of
    every total; with more than one, the district 张店区 over them and its two logins. Returns 湖田街道's world
    (the street dashboard's measurements) with ``streets`` (every street's) and ``district``."""
    from django.db import transaction

    from reports.management.commands.seed_demo import split_evenly

    timings = {}

    def timed(label, fn, *a):
        started = time.perf_counter()
        value = fn(*a)
        timings[label] = timings.get(label, 0) + time.perf_counter() - started
        return value

    streets = street_list(args.streets)
    share = {name: split_evenly(getattr(args, name), [1] * len(streets)) for name in
             ("households", "visits", "issues", "followups")}  # fmt: skip
    worlds = []
    for n, (name, code, prefix, community_names) in enumerate(streets):
        label = f"{name}: " if len(streets) > 1 else ""
        with transaction.atomic():
            tree = timed("tree", build_tree, name, code, community_names)
            register = timed("households", seed_households, tree, share["households"][n], rng)
        # the seeder's code, its own transaction
        campaign = timed("cadres, campaign", create_cadres_and_campaign, args.seed + n, name, prefix)
        with transaction.atomic():
            people = timed("people", load_people, campaign, prefix)
            assigned = timed("assignments", seed_assignments, campaign, tree, register, people, rng)
            visits = timed("visits", seed_visits, campaign, tree, register, people, assigned, share["visits"][n], rng)
            issues = timed("issues", seed_issues, tree, register, people, visits, share["issues"][n], rng)
            followups = timed("follow-ups", seed_followups, campaign, tree, register, people, issues,
                              share["followups"][n], rng)  # fmt: skip
            plans = timed("一户一策", seed_hardship_plans, register, rng)
            findings = timed("findings", seed_findings, campaign, tree, people, share["households"][n], rng)
        tallies = timed("tallies", tally_rebuild, campaign)  # COPY bypasses visit_record, which keeps them
        rollup_rebuild(campaign)
        print(
            f"   {label}{len(tree['communities'])} communities, {len(tree['grids'])} grids, {tree['buildings']:,} "
            f"buildings, {register['count']:,} households ({register['tags']:,} focus-group tags)"
        )
        print(f"   {label}cadres: {people['summary']}; assignments: {assigned['summary']}")
        print(f"   {label}visits: {visits['summary']}")
        print(f"   {label}issues: {issues['summary']}")
        print(f"   {label}follow-ups: {followups}; 一户一策: {plans}; findings: {findings}")
        print(f"   {label}tallies (visits/tally.py): {tallies['households']:,} households' visit days, "
              f"{tallies['spans']:,} cadre spans, {tallies['days']:,} day totals")  # fmt: skip
        worlds.append({"campaign": campaign, "tree": tree, "people": people})
        del register, assigned, visits, issues  # the next street's lists take their place
    district = timed("district", build_district, [w["tree"]["street"] for w in worlds]) if len(worlds) > 1 else None
    print("   seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))  # fmt: skip
    return {**worlds[0], "streets": worlds, "district": district}


# --streets: 湖田街道 and the district's other streets (name, code, account prefix), ten communities each.
DISTRICT = ("张店区", "370303")
DISTRICT_STREETS = [
    ("车站街道", "chezhan"), ("公园街道", "gongyuan"), ("科苑街道", "keyuan"), ("体育场街道", "tiyuchang"),
    ("马尚街道", "mashang"), ("四宝山街道", "sibaoshan"), ("和平街道", "hepingjd"), ("沣水街道", "fengshui"),
    ("石桥街道", "shiqiao"),
]  # fmt: skip
NUMERALS = "一二三四五六七八九十"


def street_list(count):
    """[(name, code, account prefix, community names)]: 湖田街道 (the seeder's communities) and ``count - 1`` more."""
    from reports.management.commands.seed_demo import COMMUNITIES

    streets = [(STREET, f"{DISTRICT[1]}001", "", [name for name, _pinyin in COMMUNITIES])]
    for index, (name, prefix) in enumerate(DISTRICT_STREETS[: count - 1], start=2):
        communities = [f"{name.removesuffix('街道')}{NUMERALS[k]}社区" for k in range(len(COMMUNITIES))]
        streets.append((name, f"{DISTRICT[1]}{index:03d}", f"{prefix}_", communities))
    return streets


def build_district(streets):
    """张店区 over the streets, with its leader and admin (the logins seed_demo --streets makes)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from households import roles
    from households.models import District, DistrictMember, Node

    district = District.objects.create(name=DISTRICT[0], code=DISTRICT[1])
    Node.objects.filter(pk__in=[s.pk for s in streets]).update(district=district)
    groups = {g.name: g for g in Group.objects.filter(name__in=roles.DISTRICT_ROLES)}
    users = {}
    for username, first_name, role in (
        ("district_leader", "区委副书记", roles.DISTRICT_LEADER),
        ("district_admin", "区大走访办", roles.DISTRICT_ADMIN),
    ):
        user = get_user_model().objects.create(username=username, first_name=first_name)
        user.groups.add(groups[role])
        DistrictMember.objects.create(user=user, district=district)
        users[username] = user
    print(f"   {district.name}: {len(streets)} streets, logins {', '.join(users)}")
    return {"district": district, "users": users}


def tally_rebuild(campaign):
    from visits import tally

    return tally.rebuild(campaign)


def rollup_rebuild(campaign):
    """The grid rollups' share of the rebuild (visits/rollups.py; ``tally.rebuild`` ends with it), timed alone."""
    from visits import rollups

    started = time.perf_counter()
    grids = rollups.rebuild(campaign)
    print(f"   grid rollups (visits/rollups.py): {grids:,} grids recounted in {time.perf_counter() - started:.1f} s")


def build_tree(street_name, code, community_names):
    """A street, its communities and grids (saved one by one, for their paths)."""
    from households.models import Node, NodeKind

    order = Node.objects.filter(kind=NodeKind.STREET).count() + 1
    street = Node.objects.create(kind=NodeKind.STREET, name=street_name, code=code, order=order)
    communities, grids = [], []
    for order, name in enumerate(community_names, start=1):
        community = Node.objects.create(kind=NodeKind.COMMUNITY, name=name, parent=street, order=order)
        communities.append(community)
        for number in range(1, GRIDS_PER_COMMUNITY + 1):
            grid = Node.objects.create(kind=NodeKind.GRID, name=f"第{number}网格", parent=community, order=number)
            grid.community, grid.number = community, number
            grids.append(grid)
    return {"street": street, "communities": communities, "grids": grids, "buildings": 0}


def seed_households(tree, total, rng):
    """The register: the seeder's addresses (numbered buildings, one community of 平房 along lanes) and
    households (names, ID numbers, phones, focus groups); COPY with address_key and path set here."""
    from households.models import FocusGroup, Household, Node, NodeKind, path_segment
    from households.register import address_key
    from reports.management.commands.seed_demo import (
        BUNGALOW_COMMUNITIES,
        LANES,
        People,
        grid_addresses,
        household_profile,
        living_conditions,
        split_evenly,
    )

    people = People(rng)
    tag_ids = dict(FocusGroup.objects.values_list("name", "id"))
    grids = tree["grids"]
    per_grid = split_evenly(total, [1] * len(grids))

    # Addresses first, so that the buildings are created in one bulk insert.
    flats_by_grid, next_building = {}, {}
    for grid, count in zip(grids, per_grid):
        community = grid.community
        bungalow = community.name in BUNGALOW_COMMUNITIES
        lanes = (
            [LANES[(grid.number - 1) % len(LANES)] + ("" if grid.number <= len(LANES) else f"{grid.number}")]
            if bungalow
            else ()
        )
        flats, next_building[community.pk] = grid_addresses(
            rng, count, next_building.get(community.pk, 1), bungalow, lanes
        )
        flats_by_grid[grid.pk] = flats
    buildings = [
        Node(kind=NodeKind.BUILDING, name=f"{no}号楼", parent=grid, order=no)
        for grid in grids
        for no in sorted({f[0] for f in flats_by_grid[grid.pk] if f[0] is not None})
    ]
    Node.objects.bulk_create(buildings, batch_size=2000)
    by_pk = {g.pk: g for g in grids}
    for b in buildings:  # bulk_create skips save(): the path is set here
        b.path = by_pk[b.parent_id].path + "." + path_segment(b.pk)
    Node.objects.bulk_update(buildings, ["path"], batch_size=2000)
    building_of = {(b.parent_id, b.order): b for b in buildings}
    tree["buildings"] = len(buildings)

    first_id = next_id(Household)
    ids, grid_index, paths, tags, hardship = [], [], [], [], []
    hardship_tags = {"特殊困难群体", "困难群众", "低保户"}
    rows = []
    street = tree["street"]
    for g, grid in enumerate(grids):
        community = grid.community
        for building_no, floors, unit, room in flats_by_grid[grid.pk]:
            pk = first_id + len(ids)
            building = building_of[(grid.pk, building_no)] if building_no else None
            profile = household_profile(people, [t for t in people.pick_tags() if t in tag_ids])
            rows.append((
                pk, street.pk, community.pk, grid.pk, building.pk if building else None, unit, room,
                address_key(community.name, grid.name, building.name if building else "", unit, room),
                (building or grid).path, profile["head_name"], profile["id_number"], profile["phone"], profile["size"],
                living_conditions(rng, floors, profile["tags"]), profile["income_source"], profile["notes"],
            ))  # fmt: skip
            ids.append(pk)
            grid_index.append(g)
            paths.append((building or grid).path)
            tags.extend((pk, tag_ids[t]) for t in profile["tags"])
            if hardship_tags & set(profile["tags"]):
                hardship.append(pk)
    fields = ("id", "street_id", "community_id", "grid_id", "building_id", "unit", "room", "address_key", "path",
              "head_name", "id_number", "phone", "size", "living_conditions", "income_source", "notes")  # fmt: skip
    copy_rows(Household, fields, rows)
    reset_sequence(Household)
    copy_rows(Household.tags.through, ("household_id", "focusgroup_id"), tags)
    ranges, start = [], 0
    for count in per_grid:
        ranges.append((start, start + count))
        start += count
    return {"ids": ids, "grid_index": grid_index, "paths": paths, "grid_ranges": ranges, "count": len(ids), "tags": len(tags),
            "hardship": hardship}  # fmt: skip


def load_people(campaign, prefix=""):
    """The cadres the seeder made for the campaign's street (bench_register.create_cadres_and_campaign), by
    tier and scope, with the district's department cadres; ``prefix`` names the street's accounts."""
    from django.contrib.auth import get_user_model
    from django.db.models import Q

    from visitplan.models import Cadre, Tier

    street_path = campaign.street.path
    cadres = list(
        Cadre.objects.filter(Q(scope__path=street_path) | Q(scope__path__startswith=street_path + ".")
                             | Q(tier=Tier.DEPARTMENT))
        .values("pk", "tier", "scope_id", "department_id", "user_id", "takes_households", "user__username")
    )  # fmt: skip
    by_tier = {}
    for c in cadres:
        by_tier.setdefault(c["tier"], []).append(c)
    staff = {}
    for c in by_tier.get(Tier.STREET_STAFF, []):
        if c["takes_households"]:
            staff.setdefault(c["scope_id"], []).append(c)
    user_of = {c["pk"]: c["user_id"] for c in cadres}
    users = {
        name.removeprefix(prefix): user
        for name, user in get_user_model()
        .objects.in_bulk([f"{prefix}admin", f"{prefix}leader1"], field_name="username")
        .items()
    }
    secretaries = {c["scope_id"]: c for c in by_tier.get(Tier.SECRETARY, [])}
    handlers = {}
    for c in by_tier.get(Tier.DEPARTMENT, []):
        if c["user__username"].endswith("_1"):  # the seeder's first cadre of a department is its handler
            handlers[c["department_id"]] = c["user_id"]
    summary = ", ".join(f"tier {t} {len(v)}" for t, v in sorted(by_tier.items()))
    return {
        "admin": users["admin"],
        "leader": users["leader1"],
        "grid_worker": {c["scope_id"]: c for c in by_tier.get(Tier.GRID_WORKER, [])},
        "secretary": secretaries,
        "staff": staff,
        "committee": by_tier.get(Tier.COMMITTEE, []),
        "leaders": by_tier.get(Tier.LEADER, []),
        "departments": by_tier.get(Tier.DEPARTMENT, []),
        "handlers": handlers,
        "user_of": user_of,
        "summary": summary,
        "campaign": campaign,
    }


def seed_assignments(campaign, tree, register, people, rng):
    """包户到人: every household to its grid worker (6) and its secretary (4); about a third of each community
    to its two street staff (3); the departments' quotas of the 安排表 (2)."""
    from visitplan.models import Assignment, DepartmentQuota, Tier

    grids, ids, grid_index = tree["grids"], register["ids"], register["grid_index"]
    rows = []
    staff_pairs, dept_pairs = [], []  # (household index, cadre pk)
    by_community = {}
    for i, pk in enumerate(ids):
        grid = grids[grid_index[i]]
        by_community.setdefault(grid.community.pk, []).append(i)
        rows.append((campaign.pk, pk, people["grid_worker"][grid.pk]["pk"], Tier.GRID_WORKER, None))
        rows.append((campaign.pk, pk, people["secretary"][grid.community.pk]["pk"], Tier.SECRETARY, None))
    for community_pk, members in by_community.items():
        staff = people["staff"].get(community_pk, [])
        if not staff:
            continue
        for n, i in enumerate(rng.sample(members, int(len(members) * STREET_STAFF_SHARE))):
            cadre = staff[n % len(staff)]
            rows.append((campaign.pk, ids[i], cadre["pk"], Tier.STREET_STAFF, None))
            staff_pairs.append((i, cadre["pk"]))
    dept_cadres = {}
    for c in people["departments"]:
        dept_cadres.setdefault(c["department_id"], []).append(c)
    taken = set()
    for quota in DepartmentQuota.objects.filter(campaign=campaign).order_by("pk"):
        free = [i for i in by_community.get(quota.community_id, []) if i not in taken]
        for n, i in enumerate(rng.sample(free, min(quota.households, len(free)))):
            taken.add(i)
            cadre = dept_cadres[quota.department_id][n % len(dept_cadres[quota.department_id])]
            rows.append((campaign.pk, ids[i], cadre["pk"], Tier.DEPARTMENT, quota.department_id))
            dept_pairs.append((i, cadre["pk"]))
    copy_rows(Assignment, ("campaign_id", "household_id", "cadre_id", "tier", "department_id"), rows)
    summary = (f"{len(rows):,} (grid workers {len(ids):,}, secretaries {len(ids):,}, street staff {len(staff_pairs):,}, "
               f"departments {len(dept_pairs):,})")  # fmt: skip
    return {"staff": staff_pairs, "department": dept_pairs, "summary": summary}


def seed_visits(campaign, tree, register, people, assigned, total, rng):
    """``total`` visits over the 集中走访 stage: grid workers, secretaries, street staff and departments on their
    households, 两委 in their grid, leaders anywhere; mostly 入户 (20–70 minutes), some 电话 and 未遇. COPY."""
    from django.utils import timezone

    from visitplan.rulebook import rules_for
    from visits.demo import ANSWERS, NOTES, SHORT_REASONS
    from visits.models import Purpose, Satisfaction, Visit, VisitMethod
    from visits.questionnaire import checklist_codes

    ids, grid_index, ranges, grids = register["ids"], register["grid_index"], register["grid_ranges"], tree["grids"]
    grid_pos = {g.pk: n for n, g in enumerate(grids)}
    user_of = people["user_of"]
    # Pools, so that the loop draws a few random numbers per visit.
    answer_pool = []
    for _ in range(3000):
        answers = {}
        for code in rng.sample(list(ANSWERS), rng.randint(2, 3)):
            text = rng.choice(ANSWERS[code])
            answers[code] = {"answer": text, "needs_help": text != "无" and rng.random() < 0.3}
        answer_pool.append(json.dumps(answers, ensure_ascii=False))
    codes = checklist_codes(rules_for(campaign))
    checklist_pool = [json.dumps([c for c in codes if rng.random() < 0.85]) for _ in range(500)]
    starts = [datetime.time(h, m) for h in (8, 9, 10, 14, 15, 16, 19) for m in (0, 10, 20, 30, 40)]
    ends = {(s, n): (datetime.datetime.combine(VISITS_FROM, s) + datetime.timedelta(minutes=n)).time()
            for s in starts for n in range(5, 71)}  # fmt: skip
    days = [VISITS_FROM + datetime.timedelta(days=n) for n in range((VISITS_TO - VISITS_FROM).days + 1)]
    tz = timezone.get_current_timezone()
    stamp = {d: datetime.datetime.combine(d, datetime.time(21, 0), tzinfo=tz) for d in days}
    satisfactions = (
        [Satisfaction.SATISFIED.value] * 80 + [Satisfaction.BASIC.value] * 17 + [Satisfaction.UNSATISFIED.value] * 3
    )
    empty_json = json.dumps({})
    empty_list = json.dumps([])
    kinds = list(VISIT_SHARES) + ["grid"]
    weights = list(VISIT_SHARES.values()) + [1 - sum(VISIT_SHARES.values())]
    if not assigned["department"]:
        weights[kinds.index("department")] = 0
    committee = [(c, grid_pos[c["scope_id"]]) for c in people["committee"] if c["scope_id"] in grid_pos]
    leaders = people["leaders"]
    picks = rng.choices(kinds, weights=weights, k=total)
    counts = {}
    first_id = next_id(Visit)
    kept = []  # (visit pk, household index, cadre pk, day) of the visits that reached someone: issues come from them

    def rows():
        for n, kind in enumerate(picks):
            if kind == "grid":
                i = rng.randrange(len(ids))
                cadre = people["grid_worker"][grids[grid_index[i]].pk]["pk"]
            elif kind == "secretary":
                i = rng.randrange(len(ids))
                cadre = people["secretary"][grids[grid_index[i]].community.pk]["pk"]
            elif kind in ("staff", "department"):
                i, cadre = rng.choice(assigned[kind])
            elif kind == "committee" and committee:
                c, g = rng.choice(committee)
                i, cadre = rng.randrange(*ranges[g]), c["pk"]
            else:
                i, cadre = rng.randrange(len(ids)), rng.choice(leaders)["pk"]
            day = rng.choice(days)
            pk = first_id + n
            r = rng.random()
            if r < 0.05:
                method = VisitMethod.NOT_HOME.value
                row = (pk, campaign.pk, ids[i], cadre, Purpose.VISIT.value, method, day, None, None, None, "",
                       empty_json, empty_list, False, "", "敲门无人应答，已留联系卡")  # fmt: skip
            else:
                if r < 0.13:
                    method, start, minutes, short = VisitMethod.PHONE.value, None, None, ""
                    end = None
                else:
                    method = VisitMethod.IN_PERSON.value
                    start, minutes = rng.choice(starts), rng.randint(20, 70)
                    end = ends[(start, minutes)]
                    short = rng.choice(SHORT_REASONS) if minutes < campaign.min_visit_minutes else ""
                row = (pk, campaign.pk, ids[i], cadre, Purpose.VISIT.value, method, day, start, end, minutes, short,
                       rng.choice(answer_pool), rng.choice(checklist_pool), method == VisitMethod.IN_PERSON.value and rng.random() < 0.85,
                       rng.choice(satisfactions), rng.choice(NOTES))  # fmt: skip
                kept.append((pk, i, cadre, day))
            counts[method] = counts.get(method, 0) + 1
            yield row + (uuid.UUID(int=rng.getrandbits(128), version=4), user_of.get(cadre), stamp[day])

    fields = ("id", "campaign_id", "household_id", "cadre_id", "purpose", "method", "visited_on", "started_at", "ended_at",
              "duration_minutes", "short_reason", "answers", "checklist", "card_given", "satisfaction", "notes", "key",
              "created_by_id", "created_at")  # fmt: skip
    made = copy_rows(Visit, fields, rows())
    reset_sequence(Visit)
    by_kind = {k: picks.count(k) for k in kinds}
    summary = (
        f"{made:,} ("
        + ", ".join(f"{k} {v:,}" for k, v in by_kind.items())
        + "; "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
        + ")"
    )
    return {"kept": kept, "summary": summary}


def seed_issues(tree, register, people, visits, total, rng):
    """Issues, three in five raised in a visit (that day, by its cadre), the others registered over the last
    400 days; statuses spread as in bench_ledger (old ones mostly closed), deadlines from
    issues.deadlines.compute_deadlines. COPY with explicit ids; the links to their visits (visits.RaisedIssue) after."""
    from bench_ledger import STATUS_WEIGHTS_OLD, STATUS_WEIGHTS_RECENT, TEXTS
    from django.utils import timezone

    from issues import deadlines, workdays
    from issues.models import Category, Closure, Issue, Severity
    from visits.models import RaisedIssue

    today = timezone.localdate()
    calendar = workdays.current_calendar()
    ids, grid_index, grids, paths = register["ids"], register["grid_index"], tree["grids"], register["paths"]
    admin = people["admin"]
    departments = sorted(people["handlers"])
    categories = list(Category.values)
    severities = [Severity.GENERAL.value] * 8 + [Severity.MAJOR.value] * 2 + [Severity.GRAVE.value]
    from_visits = rng.sample(visits["kept"], min(len(visits["kept"]), total * 3 // 5))
    cache, counts, closed, raised = {}, {}, [], []
    # Every street's campaigns read now: no query may run on the connection while it COPYs the rows.
    rulebooks = deadlines.Rulebooks(every_street=True).load()
    first_id = next_id(Issue)

    def rows():
        for n in range(total):
            pk = first_id + n
            if n < len(from_visits):
                visit_id, i, cadre, registered_on = from_visits[n]
                raised_by, raised_by_cadre = people["user_of"].get(cadre), cadre
            else:
                visit_id, i, cadre = None, rng.randrange(len(ids)), None
                registered_on = today - datetime.timedelta(days=int(rng.triangular(0, 400, 20)))
                raised_by, raised_by_cadre = admin.pk, None
            grid = grids[grid_index[i]]
            age = (today - registered_on).days
            weights = STATUS_WEIGHTS_RECENT if age < 45 else STATUS_WEIGHTS_OLD
            status = rng.choices(list(weights), weights=list(weights.values()))[0]
            severity = rng.choice(severities)
            rules = rulebooks.rules(paths[i], registered_on)
            key = (registered_on, severity, id(rules))
            if key not in cache:
                cache[key] = deadlines.compute_deadlines(registered_on, severity, rules=rules, calendar=calendar)
            d = cache[key]
            department = assignee = plan_posted_on = answered_on = closed_on = merged_into = None
            plan_text = answer = closure = ""
            if status in ("routed", "planned", "in_progress", "resolved", "closed"):
                department = rng.choice(departments)
                assignee = people["handlers"][department]
            if status in ("planned", "in_progress", "resolved", "closed"):
                plan_text = "联系责任单位现场核实，制定整改措施"
                plan_posted_on = min(registered_on + datetime.timedelta(days=rng.randint(1, 9)), today)
            if status in ("resolved", "closed"):
                answer = "已整改完毕，已电话告知居民"
                answered_on = min(registered_on + datetime.timedelta(days=rng.randint(5, 40)), today)
                closure = Closure.SOLVED.value
                if status == "closed" and visit_id and rng.random() < 0.15:  # answered at the door (现场答复)
                    department = assignee = plan_posted_on = None
                    plan_text, answer, closure, answered_on = (
                        "",
                        "已当场讲解政策，居民表示满意",
                        Closure.ON_THE_SPOT.value,
                        registered_on,
                    )
            if status == "closed":
                closed_on = answered_on
            if status == "merged" and n:
                merged_into = first_id + rng.randrange(n)
            if answered_on:
                closed.append((pk, i, answered_on))
            if visit_id:
                raised.append((pk, visit_id))
            counts[status] = counts.get(status, 0) + 1
            yield (
                pk, ids[i], grid.community.pk, paths[i], raised_by, raised_by_cadre,
                rng.choice(TEXTS) + f"（{n}）", rng.choice(categories), severity, status, closure, department, assignee,
                registered_on, d["plan_due_on"], d["plan_due_provisional"], d["due_on"], d["due_provisional"], plan_text,
                plan_posted_on, answer, answered_on, closed_on, f"2026{n:09d}" if n % 7 == 0 else "", n % 23 == 0,
                merged_into,
            )  # fmt: skip

    fields = ("id", "household_id", "community_id", "path", "raised_by_id", "raised_by_cadre_id", "text",
              "category", "severity", "status", "closure", "department_id", "assignee_id", "registered_on", "plan_due_on",
              "plan_due_provisional", "due_on", "due_provisional", "plan_text", "plan_posted_on", "answer", "answered_on",
              "closed_on", "hotline_ticket", "special_hardship", "merged_into_id")  # fmt: skip
    made = copy_rows(Issue, fields, rows())
    reset_sequence(Issue)
    copy_rows(RaisedIssue, ("issue_id", "visit_id"), raised)
    overdue = Issue.objects.overdue(on=today).count()
    summary = (f"{made:,} ({len(from_visits):,} from visits; {overdue:,} overdue today); "
               + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())))  # fmt: skip
    return {"closed": closed, "summary": summary}


def seed_followups(campaign, tree, register, people, issues, total, rng):
    """回头看: one per answered issue (up to ``total``), listed on the day answered, for the household's grid
    worker; half of them done (solved or not, satisfaction)."""
    from django.utils import timezone

    from visits.models import FollowUp, FollowUpStatus, Satisfaction

    today = timezone.localdate()
    ids, grid_index, grids = register["ids"], register["grid_index"], tree["grids"]
    picked = rng.sample(issues["closed"], min(total, len(issues["closed"])))
    satisfactions = (
        [Satisfaction.SATISFIED.value] * 75 + [Satisfaction.BASIC.value] * 18 + [Satisfaction.UNSATISFIED.value] * 7
    )
    rows, done = [], 0
    for n, (issue_id, i, answered_on) in enumerate(picked):
        worker = people["grid_worker"][grids[grid_index[i]].pk]
        due_on = answered_on + datetime.timedelta(days=10)
        if n % 2 == 0:
            solved = rng.random() < 0.85
            done_on = min(answered_on + datetime.timedelta(days=rng.randint(1, 10)), today)
            rows.append((campaign.pk, ids[i], issue_id, worker["pk"], answered_on, due_on, FollowUpStatus.DONE.value, solved,
                         rng.choice(satisfactions), "电话回访，居民反映问题已处理" if solved else "居民表示问题仍未彻底解决",
                         not solved and rng.random() < 0.5, done_on, worker["user_id"]))  # fmt: skip
            done += 1
        else:
            rows.append((campaign.pk, ids[i], issue_id, worker["pk"], answered_on, due_on, FollowUpStatus.DUE.value, None,
                         "", "", False, None, None))  # fmt: skip
    fields = ("campaign_id", "household_id", "issue_id", "cadre_id", "listed_on", "due_on", "status", "solved",
              "satisfaction", "note", "reopened", "done_on", "done_by_id")  # fmt: skip
    made = copy_rows(FollowUp, fields, rows)
    return f"{made:,} ({done:,} done)"


def seed_hardship_plans(register, rng):
    """一户一策 for part of the hardship households: a plan with 1–3 measures, some done."""
    from households.models import HardshipMeasure, HardshipPlan

    chosen = rng.sample(register["hardship"], int(len(register["hardship"]) * PLANNED_HARDSHIP_SHARE))
    plans = HardshipPlan.objects.bulk_create(
        [HardshipPlan(household_id=pk, situation="家庭收入低，老人常年患病", goal="保障基本生活，按时就医",
                      responsible="社区网格员、民政专干") for pk in chosen],
        batch_size=2000,
    )  # fmt: skip
    measures = []
    for plan in plans:
        for order in range(rng.randint(1, 3)):
            due = datetime.date(2026, rng.randint(4, 12), rng.randint(1, 28))
            measures.append(HardshipMeasure(
                plan=plan, content=rng.choice(["协助办理低保复核", "联系家庭医生每月上门", "申请临时救助", "落实助餐服务"]),
                unit=rng.choice(["区民政局", "社区卫生服务站", "街道社会事务办"]), due_on=due,
                done_on=due if rng.random() < 0.5 else None, order=order,
            ))  # fmt: skip
    HardshipMeasure.objects.bulk_create(measures, batch_size=2000)
    return f"{len(plans):,} plans of {len(register['hardship']):,} hardship households, {len(measures):,} measures"


def seed_findings(campaign, tree, people, households, rng):
    """A few hundred findings (3 per 1,000 households), uneven over the communities; the last community has
    2, below the interview line, so that one secretary's dashboard has no 约谈名单."""
    from django.utils import timezone

    from reports.models import CheckMethod, Finding, FindingKind

    today = timezone.localdate()
    communities = tree["communities"]
    total = max(len(communities) * 3, households * FINDINGS_PER_1000_HOUSEHOLDS // 1000)
    clean = communities[-1]
    weights = [rng.uniform(0.5, 1.5) for _ in communities[:-1]]
    picks = [clean] * 2 + rng.choices(communities[:-1], weights=weights, k=total - 2)
    kinds, methods = list(FindingKind.values), list(CheckMethod.values)
    span = (min(today, VISITS_TO) - VISITS_FROM).days
    findings = []
    for community in picks:
        kind = rng.choice(kinds)
        staff = people["staff"].get(community.pk, [])
        findings.append(Finding(
            campaign=campaign, community=community, method=rng.choice(methods), kind=kind,
            cadre_id=rng.choice(staff)["pk"] if staff and rng.random() < 0.5 else None, evidence=FINDING_TEXTS[kind],
            found_on=VISITS_FROM + datetime.timedelta(days=rng.randrange(span + 1)), recorded_by=people["admin"],
        ))  # fmt: skip
    Finding.objects.bulk_create(findings, batch_size=2000)
    return f"{len(findings):,} ({clean.name} {picks.count(clean)})"


# ---------------------------------------------------------------------------------------------- c


def page_figures(client, url, runs=5):
    """One warm-up, one request captured, ``runs`` timed: {status, median, queries, times, error, seconds}.

    A failing warm-up (HTTP 500: a statement cancelled by the timeout, an exception) is not repeated; its
    queries are kept (the last is the one that failed) and its exception is in ``error``."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    REQUEST_ERRORS.clear()
    with CaptureQueriesContext(connection) as capture:
        started = time.perf_counter()
        warm = client.get(url)
        seconds = time.perf_counter() - started
    if warm.status_code != 200:
        error = REQUEST_ERRORS[-1] if REQUEST_ERRORS else None
        return {"status": warm.status_code, "median": None, "queries": list(capture.captured_queries), "times": [],
                "seconds": seconds, "error": describe_error(error)}  # fmt: skip
    with CaptureQueriesContext(connection) as capture:
        client.get(url)
    queries = list(capture.captured_queries)  # now: the next request resets the connection's log
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    return {"status": 200, "median": statistics.median(times), "queries": queries, "times": times, "error": None}


def clip(sql, limit):
    """The statement from its start (``short_sql`` cuts the select list up to the first FROM, which may be a
    subquery's)."""
    return sql if len(sql) <= limit else sql[:limit] + " …"


def describe_error(error):
    if error is None:
        return "no exception recorded"
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first}"


def report_failure(label, url, figures):
    """Print why a page failed: the exception and the query that was running."""
    queries = figures["queries"]
    last = queries[-1] if queries else None
    print(f"   !! {label} GET {url}: HTTP {figures['status']} after {figures['seconds']:.1f} s: {figures['error']}")
    if last is not None:
        print(f"      the last query ({float(last['time']):.1f} s): {clip(last['sql'], 300)}")
    return f"HTTP {figures['status']} after {figures['seconds']:.1f} s" + (
        " (statement timeout)" if "statement timeout" in figures["error"] else ""
    )


def record_request_errors():
    from django.core.signals import got_request_exception

    def keep(sender, request=None, **kwargs):
        REQUEST_ERRORS.append(sys.exc_info()[1])

    got_request_exception.connect(keep, weak=False)
    import logging

    logging.getLogger("django.request").setLevel(logging.CRITICAL)  # the reason is printed once, briefly


def dashboard_users(world):
    from django.contrib.auth import get_user_model

    communities = world["tree"]["communities"]
    secretaries = world["people"]["secretary"]
    User = get_user_model()
    users = User.objects.in_bulk(
        [world["people"]["admin"].pk, world["people"]["leader"].pk, secretaries[communities[0].pk]["user_id"],
         secretaries[communities[-1].pk]["user_id"]]
    )  # fmt: skip
    return [
        ("street admin", users[world["people"]["admin"].pk]),
        ("leader", users[world["people"]["leader"].pk]),
        (f"secretary of {communities[0].name}", users[secretaries[communities[0].pk]["user_id"]]),
    ], (f"secretary of {communities[-1].name} (no 约谈)", users[secretaries[communities[-1].pk]["user_id"]])


def measure_dashboard(world):
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    record_request_errors()
    campaign = world["campaign"]
    community = world["tree"]["communities"][3]
    checked, clean = dashboard_users(world)
    runs = [(label, user, f"/reports/?campaign={campaign.pk}") for label, user in checked]
    runs.append(
        (
            f"street admin, {community.name} selected",
            checked[0][1],
            f"/reports/?campaign={campaign.pk}&community={community.pk}",
        )
    )
    runs.append((clean[0], clean[1], f"/reports/?campaign={campaign.pk}"))
    results, counts, captured = [], {}, {}
    for n, (label, user, url) in enumerate(runs):
        client = Client(raise_request_exception=False)
        client.force_login(user)
        figures = page_figures(client, url)
        if figures["status"] != 200:
            reason = report_failure(label, url, figures)
            results.append(
                (
                    f"dashboard /reports/: {label}",
                    reason,
                    f"< {TARGETS['dashboard_ms']} ms",
                    False if n < len(checked) else None,
                )
            )
            continue
        median, queries, times = figures["median"], figures["queries"], figures["times"]
        counts[label], captured[label] = len(queries), queries
        slowest = max(queries, key=lambda q: float(q["time"]))
        print(f"   {label:<34} {median:6.0f} ms (min {min(times):.0f}, max {max(times):.0f})  {len(queries):2} queries; "
              f"slowest {float(slowest['time']) * 1000:.0f} ms: {short_sql(slowest['sql'], 160)}")  # fmt: skip
        if n < len(checked):
            ok = median < TARGETS["dashboard_ms"] and len(queries) < TARGETS["dashboard_queries"]
            results.append((f"dashboard /reports/: {label}", f"{median:.0f} ms, {len(queries)} queries",
                            f"< {TARGETS['dashboard_ms']} ms, < {TARGETS['dashboard_queries']} queries", ok))  # fmt: skip
        else:
            results.append(
                (f"dashboard /reports/: {label}", f"{median:.0f} ms, {len(queries)} queries", "(information)", None)
            )
    note = ""
    if any(label not in counts for label, _user, _url in runs):
        # The page did not answer: count its queries (and time one request) where the server has the memory
        # to hash the big IN subqueries — information only, the targets stay on the figures above.
        print(
            f"\n   again with work_mem = {WHAT_IF_WORK_MEM} for this session (information: a warm-up and one request each)"
        )
        note = f" (at work_mem {WHAT_IF_WORK_MEM})"
        counts, captured = {}, {}
        with session_setting("work_mem", WHAT_IF_WORK_MEM):
            for label, user, url in runs:
                client = Client(raise_request_exception=False)
                client.force_login(user)
                figures = page_figures(client, url, runs=1)
                if figures["status"] != 200:
                    reason = report_failure(label, url, figures)
                    results.append((f"dashboard{note}: {label}", reason, "(information)", None))
                    continue
                queries = figures["queries"]
                counts[label], captured[label] = len(queries), queries
                top = sorted(queries, key=lambda q: -float(q["time"]))[:3]
                print(f"   {label:<34} {figures['median']:6.0f} ms  {len(queries):2} queries; slowest "
                      + ", ".join(f"{float(q['time']) * 1000:.0f}" for q in top) + " ms")  # fmt: skip
                results.append((f"dashboard{note}: {label}", f"{figures['median']:.0f} ms, {len(queries)} queries",
                                "(information)", None))  # fmt: skip
    same = [counts.get(label) for label, _ in checked] + [counts.get(runs[len(checked)][0])]
    same_text = " / ".join("failed" if c is None else str(c) for c in same)
    base = captured.get(checked[0][0])
    for label, queries in captured.items():
        if base is not None and len(queries) != len(base):
            print(f"   queries of {label!r} that the street admin's page has not (+), and the reverse (-):")
            for line in query_diff(base, queries):
                print(f"   {line}")
    results.append(
        (f"dashboard: queries admin / leader / secretary / 1 community{note}", same_text, "all equal",
         None not in same and len(set(same)) == 1)
    )  # fmt: skip
    return results


class session_setting:
    """``SET name = value`` on this process's connection for the block, then ``RESET``."""

    def __init__(self, name, value):
        self.name, self.value = name, value

    def __enter__(self):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(f"SET {self.name} = %s", [self.value])

    def __exit__(self, *exc):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(f"RESET {self.name}")


def query_diff(a, b):
    """The queries of ``b`` not in ``a`` (+) and of ``a`` not in ``b`` (-), literals ignored."""
    import difflib

    def shape(q):
        text = re.sub(r"'[^']*'", "?", q["sql"])
        text = re.sub(r"\b\d+\b", "?", text)
        return short_sql(re.sub(r"\(\?(, \?)*\)", "(…)", text), 200)

    return [line for line in difflib.ndiff([shape(q) for q in a], [shape(q) for q in b]) if line[:1] in "+-"]


def measure_panels(world):
    """Each panel function of reports/dashboard.py (and the whole build) for the street admin; EXPLAIN ANALYZE
    of the slowest queries of the slowest panel."""
    from django.contrib.auth import get_user_model
    from django.db import DatabaseError, connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from reports import dashboard, scoring
    from visitplan.models import Campaign

    user = get_user_model().objects.get(pk=world["people"]["admin"].pk)
    campaign = Campaign.objects.prefetch_related("stages").get(pk=world["campaign"].pk)
    today = timezone.localdate()
    period = dashboard.Period.of(campaign, today=today)
    communities = dashboard.scope_communities(user)
    ids = list(communities.values_list("pk", flat=True))  # the panels take ids, as build() passes them
    panels = [
        ("coverage", lambda: dashboard.coverage(user, period, ids)),
        ("visit_activity", lambda: dashboard.visit_activity(user, period, ids)),
        ("cadre_targets", lambda: dashboard.cadre_targets(user, period, ids, today=today)),
        ("issue_figures", lambda: dashboard.issue_figures(user, period, ids, today=today)),
        ("followup_figures", lambda: dashboard.followup_figures(user, period, ids)),
        ("scoring.community_scores", lambda: scoring.community_scores(campaign, communities)),
        ("scoring.interview_list", lambda: list(scoring.interview_list(campaign, communities))),
        ("dashboard.build (all of them)", lambda: dashboard.build(user, campaign, today=today)),
    ]
    results, measured = [], []
    for label, fn in panels:
        failure, queries, times = None, [], []
        # A warm-up (the working-day calendar, the user's roles and cadre), one run captured, three timed.
        for run in range(5):
            with CaptureQueriesContext(connection) as capture:
                started = time.perf_counter()
                try:
                    fn()
                except DatabaseError as exc:
                    failure = (time.perf_counter() - started, exc, list(capture.captured_queries))
                    break
                seconds = time.perf_counter() - started
            if run == 1:
                queries = list(capture.captured_queries)
            elif run > 1:
                times.append(seconds * 1000)
        if failure:
            seconds, exc, failed_queries = failure
            failed = failed_queries[-1] if failed_queries else None
            print(f"   {label:<30} FAILED after {seconds:.1f} s: {describe_error(exc)}")
            if failed is not None and not label.startswith("dashboard.build"):
                print(f"      the query: {clip(failed['sql'], 3000)}")
                print("      its plan (EXPLAIN without ANALYZE: it does not finish):")
                for line in explain(failed["sql"], analyze=False):
                    print(f"      | {line}")
            why = " (statement timeout)" if "statement timeout" in str(exc) else ""
            again = ""
            try:
                with session_setting("work_mem", WHAT_IF_WORK_MEM):
                    started = time.perf_counter()
                    fn()
                    again = f"; {(time.perf_counter() - started) * 1000:.0f} ms at work_mem {WHAT_IF_WORK_MEM}"
            except DatabaseError as exc2:
                again = f"; at work_mem {WHAT_IF_WORK_MEM} too: {describe_error(exc2)}"
            print(f"      {again[2:]}")
            results.append((f"panel: {label}", f"failed after {seconds:.1f} s{why}{again}", "(information)", None))
            continue
        median = statistics.median(times)
        sql_ms = sum(float(q["time"]) for q in queries) * 1000
        slowest = max(queries, key=lambda q: float(q["time"])) if queries else None
        print(f"   {label:<30} {median:6.0f} ms  {len(queries):2} queries ({sql_ms:.0f} ms in SQL)"
              + (f"; slowest {float(slowest['time']) * 1000:.0f} ms: {short_sql(slowest['sql'], 140)}" if slowest else ""))  # fmt: skip
        for q in sorted(queries, key=lambda q: -float(q["time"]))[:4]:
            if float(q["time"]) >= 0.1:
                print(f"      {float(q['time']) * 1000:6.0f} ms  {short_sql(q['sql'], 150)}")
        seen = {}
        for q in queries:  # the same statement twice (its GROUP BY / ORDER BY apart): a queryset evaluated twice
            key = (
                q["sql"].rsplit(" GROUP BY ", 1)[0]
                if " GROUP BY " in q["sql"]
                else re.sub(r" ORDER BY [^)]*$", "", q["sql"])
            )
            seen[key] = seen.get(key, 0) + 1
        for sql, times_run in seen.items():
            if times_run > 1:
                print(f"      !! the same query runs {times_run} times: {short_sql(sql, 150)}")
        results.append((f"panel: {label}", f"{median:.0f} ms, {len(queries)} queries", "(information)", None))
        if not label.startswith("dashboard.build"):
            measured.append((median, label, queries))
    if not measured:
        return results
    median, label, queries = max(measured, key=lambda m: m[0])
    print(f"\n   slowest panel that finishes: {label} ({median:.0f} ms); its slowest queries with EXPLAIN ANALYZE:")
    for q in sorted(queries, key=lambda q: -float(q["time"]))[:2]:
        print(f"\n   -- {float(q['time']) * 1000:.0f} ms: {clip(q['sql'], 3000)}")
        for line in explain(q["sql"]):
            print(f"   | {line}")
    return results


def explain(sql, analyze=True):
    from django.db import DatabaseError, connection

    try:
        with connection.cursor() as cursor:
            cursor.execute(("EXPLAIN (ANALYZE, BUFFERS) " if analyze else "EXPLAIN ") + sql)
            return [r[0] for r in cursor.fetchall()]
    except DatabaseError as exc:
        return [f"EXPLAIN failed: {describe_error(exc)}"]


def measure_other_pages(world):
    """总结评估 (the dashboard's figures on one page: the same target) and the unvisited list (information)."""
    from django.test import Client

    campaign = world["campaign"]
    checked, _clean = dashboard_users(world)
    grid = world["tree"]["grids"][0]
    pages = [
        ("summary", f"/reports/summary/?campaign={campaign.pk}", True),
        ("unvisited", f"/reports/unvisited/?campaign={campaign.pk}", False),
        ("unvisited, one grid, page 2", f"/reports/unvisited/?campaign={campaign.pk}&grid={grid.pk}&page=2", False),
    ]
    results = []
    for label, user in checked:
        client = Client(raise_request_exception=False)
        client.force_login(user)
        for page, url, target in pages:
            if label != "street admin" and page.startswith("unvisited,"):
                continue
            figures = page_figures(client, url)
            name = f"/reports/{page}: {label}"
            if figures["status"] != 200:
                reason = report_failure(f"{page} as {label}", url, figures)
                results.append(
                    (name, reason, f"< {TARGETS['dashboard_ms']} ms" if target else "answers (HTTP 200)", False)
                )
                continue
            median, queries = figures["median"], figures["queries"]
            slowest = max(queries, key=lambda q: float(q["time"]))
            print(f"   {page:<28} {label:<26} {median:6.0f} ms  {len(queries):2} queries; "
                  f"slowest {float(slowest['time']) * 1000:.0f} ms: {short_sql(slowest['sql'], 120)}")  # fmt: skip
            if target:
                ok = median < TARGETS["dashboard_ms"] and len(queries) < TARGETS["dashboard_queries"]
                results.append((name, f"{median:.0f} ms, {len(queries)} queries",
                                f"< {TARGETS['dashboard_ms']} ms, < {TARGETS['dashboard_queries']} queries", ok))  # fmt: skip
            else:
                results.append((name, f"{median:.0f} ms, {len(queries)} queries", "(information)", None))
    return results


# ---------------------------------------------------------------------------------------------- d


def measure_monthly_job():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from reports.models import MonthlyCadreRow
    from reports.monthly import build_monthly_report, summary_line

    def snapshot():
        return sorted(
            MonthlyCadreRow.objects.filter(report__month=MONTH).values_list(
                "report__street_id", "cadre_id", "community_id", "days_visited", "households_visited", "visits",
                "issues_raised", "issues_solved",
            )
        )  # fmt: skip

    runs = []
    for n in (1, 2):
        with CaptureQueriesContext(connection) as capture:
            started = time.perf_counter()
            try:
                reports = build_monthly_report(month=MONTH)
            except Exception as exc:  # report it and go on with the exports
                print(f"!! build_monthly_report failed: {exc!r}")
                return [("monthly job", f"failed: {type(exc).__name__}", "runs", False)]
            seconds = time.perf_counter() - started
        rows = snapshot()
        runs.append((seconds, rows, len(capture.captured_queries)))
        for report in reports:
            print(f"   run {n}: {seconds:.2f} s, {len(capture.captured_queries)} queries | {summary_line(report)}")
    (first_s, first_rows, first_q), (second_s, second_rows, _) = runs
    return [
        ("monthly job: first run", f"{first_s:.2f} s, {len(first_rows):,} rows, {first_q} queries", "(no target)", None),
        ("monthly job: second run", f"{second_s:.2f} s, {len(second_rows):,} rows", "the same rows",
         bool(first_rows) and first_rows == second_rows),
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------------- e


def measure_exports(world):
    from households.models import Household, Node, NodeKind
    from issues.models import Issue
    from reports import scoring
    from reports.models import Finding, MonthlyCadreRow
    from visits.models import Visit

    campaign = world["campaign"]
    visits = Visit.objects.filter(campaign=campaign)
    total_visits = visits.count()
    # The date range holding ~100,000 visits (the size the target is given for).
    days = list(
        visits.order_by("visited_on").values_list("visited_on", flat=True)[
            min(LEDGER_ROWS, total_visits) - 1 : min(LEDGER_ROWS, total_visits)
        ]
    )
    until = days[0] if days else VISITS_TO
    in_range = visits.filter(visited_on__gte=VISITS_FROM, visited_on__lte=until).count()
    communities = Node.objects.filter(kind=NodeKind.COMMUNITY, parent=world["tree"]["street"])
    supervision_rows = (
        communities.count()
        + len(scoring.interview_list(campaign, communities))
        + Finding.objects.filter(campaign=campaign).count()
    )
    exports = [
        ("入户走访台账, whole campaign", f"/reports/ledgers/visits/?campaign={campaign.pk}", total_visits, False),
        (f"入户走访台账, {VISITS_FROM:%m-%d}…{until:%m-%d}", f"/reports/ledgers/visits/?campaign={campaign.pk}"
         f"&from={VISITS_FROM.isoformat()}&to={until.isoformat()}", in_range, True),
        ("问题整改台账 /issues/export/", "/issues/export/", Issue.objects.count(), True),
        ("特殊困难群体台账", "/reports/ledgers/hardship/", hardship_rows(), True),
        (f"月度入户表 {MONTH:%Y-%m}", f"/reports/ledgers/monthly/?month={MONTH:%Y-%m}",
         MonthlyCadreRow.objects.filter(report__month=MONTH).count() or None, True),
        ("督查扣分表", f"/reports/ledgers/supervision/?campaign={campaign.pk}", supervision_rows, True),
    ]  # fmt: skip
    print(f"   {total_visits:,} visits in the campaign; {in_range:,} from {VISITS_FROM} to {until}; "
          f"{Household.objects.count():,} households")  # fmt: skip
    results = []
    username = world["people"]["admin"].username
    for label, url, expected, timed_target in exports:
        run = run_child([sys.executable, "-c", EXPORT_SCRIPT, str(REPO), username, url])
        line = next((ln for ln in run["output"].splitlines() if ln.startswith("EXPORT ")), "")
        fields = dict(part.split("=", 1) for part in line.split()[1:]) if line else {}
        rows = int(fields.get("rows", -1))
        size = int(fields.get("bytes", 0))
        print(f"   {label:<32} {url}")
        if run["returncode"] != 0 or fields.get("status") != "200" or rows < 0:
            if fields:
                print(f"   !! HTTP {fields.get('status')}, {fields.get('type')}, Location {fields.get('location')}, "
                      f"no AccessLog row" if rows < 0 else "")  # fmt: skip
            print_tail(run["output"], lines=12)
            reason = f"HTTP {fields['status']}" if fields.get("status") else f"crashed (exit {run['returncode']})"
            results.append((f"export {label}", reason, "an xlsx, logged", False))
            continue
        print(f"      {run['seconds']:.1f} s (request {fields.get('seconds')} s), peak RSS {fmt_mb(run['rss_mb'])}, "
              f"{rows:,} rows, {size / 2**20:.1f} MiB, {rows / max(run['seconds'], 0.001):,.0f} rows/s")  # fmt: skip
        rows_ok = fields.get("type", "").endswith("spreadsheetml.sheet") and (expected is None or rows == expected)
        rss_ok = run["rss_mb"] is not None and run["rss_mb"] < TARGETS["export_rss_mb"]
        results += [
            (f"export {label}: rows written", f"{rows:,}", f"= {expected:,}" if expected is not None else "> 0",
             rows_ok and rows > 0),
            (f"export {label}: wall time, peak RSS", f"{run['seconds']:.1f} s, {fmt_mb(run['rss_mb'])}",
             (f"< {TARGETS['export_seconds']} s, " if timed_target else "(time: information), ")
             + f"< {TARGETS['export_rss_mb']} MB",
             rss_ok and (not timed_target or run["seconds"] < TARGETS["export_seconds"])),
            (f"export {label}: file size", f"{size / 2**20:.1f} MiB", "", None),
        ]  # fmt: skip
    return results


def hardship_rows():
    """The rows the 特殊困难群体台账 should have, counted independently: one per measure of the hardship
    households (tagged 特殊困难群体 / 困难群众 / 低保户, with a request marked 特殊困难, or with a plan), one for
    a household without any measure."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH h AS (
                SELECT t.household_id AS id FROM households_household_tags t
                  JOIN households_focusgroup g ON g.id = t.focusgroup_id
                 WHERE g.name IN ('特殊困难群体', '困难群众', '低保户')
                UNION SELECT household_id FROM issues_issue WHERE special_hardship
                UNION SELECT household_id FROM households_hardshipplan
            )
            SELECT COALESCE(SUM(GREATEST(1, (SELECT COUNT(*) FROM households_hardshipmeasure m
                                              JOIN households_hardshipplan p ON p.id = m.plan_id
                                             WHERE p.household_id = h.id))), 0)
              FROM h
            """
        )
        return cursor.fetchone()[0]


if __name__ == "__main__":
    sys.exit(main())
