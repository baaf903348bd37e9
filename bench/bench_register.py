#!/usr/bin/env python
"""The register at scale, on PostgreSQL: import, re-import, allocation and the admin list.

Usage (see bench/README.md):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/visitplan_bench .venv/bin/python bench/bench_register.py [--rows 100000]

Steps:
a. drop and recreate the bench database (on the server's ``postgres`` database), then migrate;
b. write a register file in the template layout (xlsxwriter, constant memory) into bench/out/;
c. import it with ``manage.py import_households`` in a child process: wall time, peak RSS, rows/s;
d. import the same file again: nothing may be created or updated (idempotence at scale);
e. add cadres of every tier and a campaign, run ``manage.py allocate`` in a child process;
f. the household admin changelist as a superuser and as the street admin: first page, page 50
   and a search, median of 5 requests after one warm-up, and the number of queries.

Prints a table with the targets next to the figures and exits 1 when a target is missed.
"""

import argparse
import json
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "visitplan.settings")
os.environ.setdefault("DEBUG", "False")  # measure what production runs; children inherit it
# Plain HTTP on loopback, as behind the TLS-terminating proxy (which redirects to HTTPS itself).
os.environ.setdefault("SECURE_SSL_REDIRECT", "False")

STREET = "湖田街道"
GRIDS_PER_COMMUNITY = 10

# Targets: (label, limit, unit); a figure must be below its limit.
TARGETS = {
    "import_seconds": 60,
    "import_rss_mb": 1024,
    "allocate_seconds": 30,
    "admin_ms": 300,
    "admin_queries": 15,
}

# The second import runs the service itself, so that its report (not its wording) is checked.
REIMPORT_SCRIPT = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "visitplan.settings")
import django
django.setup()
from households.register import import_register_file
report = import_register_file(sys.argv[2], street_name=sys.argv[3])
print("REPORT " + json.dumps({"ok": report.ok, "total_rows": report.total_rows, "created": report.created,
      "updated": report.updated, "unchanged": report.unchanged, "errors": [str(e) for e in report.errors[:5]]}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="households in the generated file (default 100000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--reuse-file", action="store_true", help="keep an existing generated file of the same size and seed"
    )
    args = parser.parse_args()

    db = database_settings()
    if db is None:
        return 2

    prepare_database(db)

    step("b", f"register file with {args.rows:,} rows")
    path = OUT / f"register-{args.rows}-seed{args.seed}.xlsx"
    if args.reuse_file and path.exists():
        print(f"   reusing {path.relative_to(REPO)}")
    else:
        started = time.perf_counter()
        write_register_file(path, args.rows, args.seed)
        print(
            f"   {path.relative_to(REPO)}: {path.stat().st_size / 2**20:.1f} MiB in {time.perf_counter() - started:.1f} s"
        )

    results = []  # (measure, figure text, target text, ok or None)

    step("c", "import (child process)")
    run = run_child([sys.executable, "manage.py", "import_households", str(path), "--street", STREET])
    print_tail(run["output"])
    from households.models import Household, Node, NodeKind

    imported = Household.objects.count()
    if run["returncode"] != 0 or imported != args.rows:
        print(f"!! import failed: exit code {run['returncode']}, {imported:,} households in the database")
        return 1
    nodes = {kind: Node.objects.filter(kind=kind).count() for kind in NodeKind.values}
    print(f"   {imported:,} households; nodes: {nodes}")
    results += [
        ("import: wall time", f"{run['seconds']:.1f} s", f"< {TARGETS['import_seconds']} s",
         run["seconds"] < TARGETS["import_seconds"]),
        ("import: peak RSS of the child", fmt_mb(run["rss_mb"]), f"< {TARGETS['import_rss_mb']} MB",
         run["rss_mb"] is not None and run["rss_mb"] < TARGETS["import_rss_mb"]),
        ("import: rows/s", f"{args.rows / run['seconds']:,.0f}", "", None),
    ]  # fmt: skip

    step("d", "re-import of the same file (idempotence)")
    last_update = latest_update()
    run2 = run_child([sys.executable, "-c", REIMPORT_SCRIPT, str(REPO), str(path), STREET])
    report = parse_report(run2["output"])
    print(f"   report: {report}")
    idempotent = (
        report is not None
        and report["ok"]
        and report["created"] == 0
        and report["updated"] == 0
        and report["unchanged"] == args.rows
        and Household.objects.count() == args.rows
        and latest_update() == last_update
    )
    results += [
        ("re-import: created / updated",
         f"{report['created']} / {report['updated']}" if report else "failed", "0 / 0", idempotent),
        ("re-import: wall time, peak RSS", f"{run2['seconds']:.1f} s, {fmt_mb(run2['rss_mb'])}", "", None),
    ]  # fmt: skip

    step("e", "cadres of every tier, a campaign, allocation (child process)")
    analyze()
    campaign = create_cadres_and_campaign(args.seed)
    run3 = run_child([sys.executable, "manage.py", "allocate", "--campaign", str(campaign.pk)])
    print_tail(run3["output"], lines=14)
    unlinked = unlinked_households(campaign)
    results += [
        ("allocation: wall time", f"{run3['seconds']:.1f} s", f"< {TARGETS['allocate_seconds']} s",
         run3["returncode"] == 0 and run3["seconds"] < TARGETS["allocate_seconds"]),
        ("allocation: peak RSS", fmt_mb(run3["rss_mb"]), "", None),
        ("allocation: households without a linked cadre", f"{unlinked:,}", "0", unlinked == 0),
    ]  # fmt: skip

    step("f", "household admin changelist (search: a householder's name)")
    results += measure_admin()

    return finish(results)


def finish(results):
    """Print the table of results; the exit status: 1 when a target was missed, else 0."""
    print_results(results)
    missed = [r[0] for r in results if r[3] is False]
    if missed:
        print(f"\nMISSED {len(missed)} target(s): " + "; ".join(missed))
        return 1
    print("\nAll targets met.")
    return 0


# ---------------------------------------------------------------------------------------------- a


def database_settings():
    """The DATABASE_URL as Django settings, or None (with the reason printed) when it is not a bench PostgreSQL."""
    import environ

    url = os.environ.get("DATABASE_URL", "")
    if not url:
        print("Refusing to run: DATABASE_URL is not set. The benchmark measures PostgreSQL, e.g.\n"
              "  DATABASE_URL=postgres://postgres@127.0.0.1:5432/visitplan_bench .venv/bin/python bench/bench_register.py")  # fmt: skip
        return None
    db = environ.Env.db_url_config(url)
    if db["ENGINE"] != "django.db.backends.postgresql":
        print(f"Refusing to run: DATABASE_URL points at {db['ENGINE']}, not PostgreSQL. The targets are for "
              "PostgreSQL (production), and this script drops and recreates the database it is given.")  # fmt: skip
        return None
    if "bench" not in db["NAME"]:
        print(f"Refusing to run: the database {db['NAME']!r} would be dropped and recreated; "
              "use a database whose name contains 'bench' (e.g. visitplan_bench).")  # fmt: skip
        return None
    return db


def prepare_database(db):
    """Step a of every bench: a new, empty, migrated database; Django set up."""
    step("a", f"recreate database {db['NAME']!r} and migrate")
    recreate_database(db)
    import django

    django.setup()
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"   migrate: {time.perf_counter() - started:.1f} s")


def recreate_database(db):
    import psycopg
    from psycopg import sql

    params = {"dbname": "postgres", "user": db.get("USER") or None, "password": db.get("PASSWORD") or None,
              "host": db.get("HOST") or None, "port": db.get("PORT") or None}  # fmt: skip
    with psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True) as conn:
        name = sql.Identifier(db["NAME"])
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
        version = conn.execute("SHOW server_version").fetchone()[0]
    print(f"   PostgreSQL {version}; Python {platform.python_version()}; {os.cpu_count()} CPUs")


# ---------------------------------------------------------------------------------------------- b


def write_register_file(path, rows, seed):
    """A register in the template layout: 10 communities × 10 grids, buildings, units and rooms."""
    import xlsxwriter

    from households.register import HEADERS, INSTRUCTIONS, INSTRUCTIONS_SHEET_NAME, SHEET_NAME
    from reports.management.commands.seed_demo import (
        BUNGALOW_COMMUNITIES,
        COMMUNITIES,
        LANES,
        People,
        grid_addresses,
        household_profile,
        split_evenly,
    )

    rng = random.Random(seed)
    people = People(rng)
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.xlsx")
    workbook = xlsxwriter.Workbook(str(tmp), {"constant_memory": True})
    sheet = workbook.add_worksheet(SHEET_NAME)
    bold = workbook.add_format({"bold": True})
    for col, header in enumerate(HEADERS):
        sheet.write_string(0, col, header, bold)

    row = 1
    per_community = split_evenly(rows, [rng.uniform(0.8, 1.2) for _ in COMMUNITIES])
    for (community, _), count in zip(COMMUNITIES, per_community):
        bungalow = community in BUNGALOW_COMMUNITIES
        next_building = 1
        per_grid = split_evenly(count, [rng.uniform(0.7, 1.3) for _ in range(GRIDS_PER_COMMUNITY)])
        for number, grid_count in enumerate(per_grid, start=1):
            lanes = (
                [LANES[(number - 1) % len(LANES)] + ("" if number <= len(LANES) else f"{number}")] if bungalow else ()
            )
            flats, next_building = grid_addresses(rng, grid_count, next_building, bungalow, lanes)
            for building_no, _floors, unit, room in flats:
                profile = household_profile(people, people.pick_tags())
                cells = (community, f"第{number}网格", f"{building_no}号楼" if building_no else "", unit, room,
                         profile["head_name"], profile["id_number"], profile["phone"])  # fmt: skip
                for col, value in enumerate(cells):
                    if value:
                        sheet.write_string(row, col, value)
                sheet.write_number(row, 8, profile["size"])
                if profile["tags"]:
                    sheet.write_string(row, 9, "、".join(profile["tags"]))
                if profile["notes"]:
                    sheet.write_string(row, 10, profile["notes"])
                row += 1

    notes = workbook.add_worksheet(INSTRUCTIONS_SHEET_NAME)
    for r, values in enumerate(INSTRUCTIONS):
        for c, value in enumerate(values):
            if value:
                notes.write_string(r, c, str(value))
    workbook.close()
    tmp.replace(path)


# ---------------------------------------------------------------------------------------------- c, d


def run_child(command):
    """Run a command from the repository root; wall time, peak RSS (MB) and combined output."""
    timer = shutil.which("time", path="/usr/bin")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    full = [timer, "-v", *command] if timer else command
    started = time.perf_counter()
    done = subprocess.run(full, cwd=REPO, capture_output=True, text=True, env=os.environ.copy())
    seconds = time.perf_counter() - started
    rss_mb = None
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    if match:
        rss_mb = int(match.group(1)) / 1024
    else:  # without /usr/bin/time: the largest child so far (exact when this child is the largest)
        after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        rss_mb = after / 1024 if after > before else None
    # GNU time exits with the child's status and appends its report to stderr: keep the child's part.
    stderr = re.split(r"\n?\s*(?:Command exited with non-zero status|Command being timed:)", done.stderr)[0]
    return {"seconds": seconds, "rss_mb": rss_mb, "returncode": done.returncode, "output": done.stdout + stderr}


def print_tail(output, lines=6):
    for line in output.strip().splitlines()[-lines:]:
        print(f"   | {line}")


def parse_report(output):
    match = re.search(r"^REPORT (.*)$", output, re.MULTILINE)
    if not match:
        print_tail(output, lines=20)
        return None
    return json.loads(match.group(1))


def latest_update():
    from django.db.models import Max

    from households.models import Household

    return Household.objects.aggregate(m=Max("updated_at"))["m"]


def fmt_mb(value):
    return "n/a" if value is None else f"{value:,.0f} MB"


# ---------------------------------------------------------------------------------------------- e


def create_cadres_and_campaign(seed, street_name=STREET, prefix=""):
    """The seeder's cadres (every tier, with logins) and campaign, on the imported tree; ``prefix``
    names the accounts of a district's other streets (``prefix`` + ``admin``, as seed_demo does)."""
    from households.models import Community, Grid, Street
    from reports.management.commands.seed_demo import COMMUNITIES, Command, People

    seeder = Command()
    seeder.rng = random.Random(seed)
    seeder.people = People(seeder.rng)
    street = Street.objects.get(name=street_name)
    pinyin = dict(COMMUNITIES)
    communities = list(Community.objects.filter(parent=street).order_by("pk"))
    for i, community in enumerate(communities, start=1):
        community.pinyin = pinyin.get(community.name, f"{prefix.rstrip('_')}c{i}")
    by_pk = {c.pk: c for c in communities}
    grids = list(Grid.objects.filter(parent__in=communities).order_by("path"))
    for i, grid in enumerate(grids, start=1):
        grid.community = by_pk[grid.parent_id]
        digits = re.search(r"\d+", grid.name)
        grid.number = int(digits.group()) if digits else i
    from django.db import transaction

    with transaction.atomic():
        seeder.build_people(street, communities, grids, prefix=prefix)
        # a district's other streets share 湖田街道's departments, without quotas (as seed_demo)
        campaign = seeder.build_campaign(street, communities, quotas=not prefix)
    print(f"   campaign {campaign.pk}: {campaign}; cadres for {len(communities)} communities, {len(grids)} grids")
    return campaign


def analyze():
    """Fresh planner statistics after the bulk load, as autovacuum would soon gather them."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def unlinked_households(campaign):
    from households.models import Household
    from visitplan.models import Assignment, Tier

    linking = [Tier.DEPARTMENT, Tier.STREET_STAFF, Tier.COMMITTEE, Tier.GRID_WORKER]
    linked = Assignment.objects.filter(campaign=campaign, tier__in=linking).values("household_id")
    return Household.objects.exclude(pk__in=linked).count()


# ---------------------------------------------------------------------------------------------- f


def measure_admin():
    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    from households.models import Household

    setup_test_environment()
    users = get_user_model().objects.in_bulk(["root", "admin"], field_name="username")
    name = Household.objects.order_by("pk").values_list("head_name", flat=True)[Household.objects.count() // 2]
    base = "/admin/households/household/"
    per_page = admin.site._registry[Household].list_per_page
    page = min(50, -(-Household.objects.count() // per_page))  # page 50 of 100,000 rows; the last page of a small run
    pages = [("first page", base), (f"page {page}", f"{base}?p={page}"), ("search", f"{base}?q={name}")]
    results = []
    for label, username in (("superuser", "root"), ("street admin", "admin")):
        client = Client(raise_request_exception=False)
        client.force_login(users[username])
        for page, url in pages:
            warm = client.get(url)
            if warm.status_code != 200:
                print(f"!! {username} GET {url}: HTTP {warm.status_code}")
                results.append((f"admin list: {page} as {label}", f"HTTP {warm.status_code}", "200", False))
                continue
            with CaptureQueriesContext(connection) as capture:
                client.get(url)
            queries = list(capture.captured_queries)  # the next request resets the connection's log
            times = []
            for _ in range(5):
                started = time.perf_counter()
                client.get(url)
                times.append((time.perf_counter() - started) * 1000)
            median = statistics.median(times)
            slowest = max(queries, key=lambda q: float(q["time"]))
            print(f"   {username:<6} {page:<28} {median:6.0f} ms  {len(queries):2} queries; "
                  f"slowest {float(slowest['time']) * 1000:.0f} ms: {short_sql(slowest['sql'])}")  # fmt: skip
            ok = median < TARGETS["admin_ms"] and len(queries) < TARGETS["admin_queries"]
            results.append(
                (f"admin list: {page} as {label}", f"{median:.0f} ms, {len(queries)} queries",
                 f"< {TARGETS['admin_ms']} ms, < {TARGETS['admin_queries']} queries", ok)
            )  # fmt: skip
    return results


def short_sql(text, limit=220):
    text = re.sub(r"^SELECT .*? FROM", "SELECT … FROM", text, flags=re.DOTALL)
    return text if len(text) <= limit else text[:limit] + " …"


# ---------------------------------------------------------------------------------------------- output


def step(letter, text):
    print(f"\n[{letter}] {text}", flush=True)


def print_results(results):
    width = max(len(r[0]) for r in results) + 2
    fig = max(len(r[1]) for r in results) + 2
    print("\nResults")
    print(f"{'measure':<{width}}{'figure':<{fig}}{'target':<40}ok")
    for measure, figure, target, ok in results:
        mark = "" if ok is None else ("yes" if ok else "NO")
        print(f"{measure:<{width}}{figure:<{fig}}{target:<40}{mark}")


if __name__ == "__main__":
    sys.exit(main())
