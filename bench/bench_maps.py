#!/usr/bin/env python
"""民情地图 at community size, on PostgreSQL: the data of the 楼栋图 and the 网格图 of a community of
5,000 households, and their pages.

Usage (see bench/README.md):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/visitplan_benchmaps .venv/bin/python bench/bench_maps.py [--households 5000]

Steps:
a. drop and recreate the bench database (on the server's ``postgres`` database), then migrate;
b. seed (bulk inserts): 湖田街道 / 湖田社区 with 10 grids, numbered buildings with units and floors
   (the demo seeder's addresses, ``grid_addresses``; one grid of single-storey houses along lanes, in
   no building) and their 经度 / 纬度 (``building_place``), the households with focus groups, the 2026
   campaign with its five stages, a counted visit of ~60 % of the households, open and closed issues;
   a street admin, the community's secretary and a grid worker;
c. ``reports.maps.data.rooms_data`` (the community's 楼栋图) and ``plan_data`` (its 网格图) as the
   street admin and the secretary, ``rooms_data`` of his grid as the grid worker: the SQL queries of
   one call (and how many read the household rows), the median of 5 after a warm-up, and the size of
   the JSON the page carries (as sent, and gzipped);
d. the pages ``/reports/map/community/<pk>/`` and ``/reports/map/grid/<pk>/`` through Django's test
   client as the secretary: median of 5, queries, HTML bytes and gzipped bytes.

Prints a table with the targets next to the figures and exits 1 when a target is missed (2 when it
refuses to run: DATABASE_URL must be PostgreSQL and its name must contain "bench").
"""

import argparse
import datetime
import gzip
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
os.environ.setdefault("DEBUG", "False")  # measure what production runs
os.environ.setdefault("SECURE_SSL_REDIRECT", "False")

from bench_register import STREET, analyze, database_settings, finish, prepare_database, step  # noqa: E402

COMMUNITY = "湖田社区"
GRIDS = 10
LANE_GRID = 10  # the last grid: 平房 along lanes, no building, no floor
VISITED_SHARE = 0.6
FOCUS_SHARE = 0.22
OPEN_ISSUE_SHARE = 0.06
CLOSED_ISSUE_SHARE = 0.08
PASSWORD = "bench-maps-123"

TARGETS = {
    "data_queries": 6,  # whatever the number of households
    "rows_queries": 1,
    "data_ms": 300,
    "json_kb": 300,  # the 楼栋图's JSON as the page carries it
    "json_gzip_kb": 80,
    "page_ms": 800,
    "page_gzip_kb": 120,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=5000, help="households of the community (default 5000)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    db = database_settings()
    if db is None:
        return 2
    prepare_database(db)
    step("b", f"seed a community of {args.households:,} households")
    started = time.perf_counter()
    world = seed(args.households, random.Random(args.seed))
    analyze()
    results = [("seeding (bulk inserts, ANALYZE)", f"{time.perf_counter() - started:.1f} s", "", None)]
    step("c", f"the data functions (median of 5 after a warm-up); {load()}")
    results += measure_data(world)
    step("d", f"the pages, through the test client as the secretary (median of 5 after a warm-up); {load()}")
    results += measure_pages(world)
    return finish(results)


# ---------------------------------------------------------------------------------------------- b


def seed(total, rng):
    from django.db import transaction

    with transaction.atomic():
        return _seed(total, rng)


def _seed(total, rng):
    from django.contrib.auth.models import Group, User

    from households.models import FocusGroup, Household, Node, NodeKind
    from households.register import address_key
    from households.roles import CADRE, SECRETARY, STREET_ADMIN, sync_role_groups
    from issues.models import Category, Issue, Status
    from reports.management.commands.seed_demo import LANES, People, building_place, grid_addresses, split_evenly
    from tests.support.visits import STAGES
    from visitplan.models import Cadre, Campaign, Stage, Tier
    from visits.models import Visit

    sync_role_groups()
    street = Node.objects.create(kind=NodeKind.STREET, name=STREET)
    community = Node.objects.create(kind=NodeKind.COMMUNITY, name=COMMUNITY, parent=street)
    grids = [
        Node.objects.create(kind=NodeKind.GRID, name=f"第{n}网格", parent=community, order=n)
        for n in range(1, GRIDS + 1)
    ]
    per_grid = split_evenly(total, [1] * GRIDS)
    flats, next_no = {}, 1
    for number, (grid, count) in enumerate(zip(grids, per_grid), start=1):
        lanes = [LANES[number % len(LANES)]] if number == LANE_GRID else ()
        flats[grid.pk], next_no = grid_addresses(rng, count, next_no, number == LANE_GRID, lanes)
    buildings = {}
    for number, grid in enumerate(grids, start=1):
        for index, no in enumerate(sorted({f[0] for f in flats[grid.pk] if f[0] is not None})):
            longitude, latitude = building_place(0, number, index)
            buildings[no] = Node.objects.create(kind=NodeKind.BUILDING, name=f"{no}号楼", parent=grid, order=no,
                                                longitude=longitude, latitude=latitude)  # fmt: skip
    people = People(rng)
    rows = []
    for grid in grids:
        for no, _floors, unit, room in flats[grid.pk]:
            building = buildings.get(no)
            gender = people.gender()
            born = people.birth_date(rng.randint(1940, 1995))
            rows.append(Household(
                street=street, community=community, grid=grid, building=building, unit=unit, room=room,
                address_key=address_key(community.name, grid.name, building.name if building else "", unit, room),
                path=(building or grid).path, head_name=people.name(gender, born.year), id_number=people.id_number(born, gender),
                phone=people.phone(), size=rng.randint(1, 5),
            ))  # fmt: skip
    households = Household.objects.bulk_create(rows, batch_size=1000)
    groups = list(FocusGroup.objects.all()) or [FocusGroup.objects.create(name=n) for n in ("老党员", "孤寡老人")]
    through = Household.tags.through
    through.objects.bulk_create(
        [
            through(household_id=h.pk, focusgroup_id=g.pk)
            for h in households
            if rng.random() < FOCUS_SHARE
            for g in rng.sample(groups, rng.choice([1, 1, 1, 2]))
        ],
        batch_size=2000,
    )
    campaign = Campaign.objects.create(year=2026, name="入户大走访", street=street)
    for kind, (start, end) in STAGES.items():
        Stage.objects.create(campaign=campaign, kind=kind, starts_on=start, ends_on=end)

    def user(name, role, scope, tier):
        account = User.objects.create_user(name, password=PASSWORD)
        account.groups.add(Group.objects.get(name=role))
        Cadre.objects.create(user=account, name=name, tier=tier, scope=scope)
        return account

    admin = user("map_admin", STREET_ADMIN, street, Tier.STREET_STAFF)
    secretary = user("map_secretary", SECRETARY, community, Tier.SECRETARY)
    worker = user("map_worker", CADRE, grids[0], Tier.GRID_WORKER)
    day = datetime.date(2026, 10, 12)
    Visit.objects.bulk_create(
        [
            Visit(campaign=campaign, household=h, cadre=worker.cadre, visited_on=day, started_at=datetime.time(9),
                  ended_at=datetime.time(9, 40), duration_minutes=40, key=uuid.uuid4(), counts=True)
            for h in households
            if rng.random() < VISITED_SHARE
        ],
        batch_size=2000,
    )  # fmt: skip
    issues = []
    for h in households:
        draw = rng.random()
        if draw < OPEN_ISSUE_SHARE + CLOSED_ISSUE_SHARE:
            status = Status.ROUTED if draw < OPEN_ISSUE_SHARE else Status.CLOSED
            issues.append(Issue(household=h, community=community, path=h.path, text="楼道灯不亮",
                                category=Category.LIVING, status=status, registered_on=day))  # fmt: skip
    Issue.objects.bulk_create(issues, batch_size=2000)
    print(f"   {len(grids)} grids, {len(buildings)} buildings, {len(households):,} households; "
          f"{through.objects.count():,} focus-group tags, {Visit.objects.count():,} visits, {len(issues):,} issues")  # fmt: skip
    return {"community": community, "grid": grids[0], "campaign": campaign, "admin": admin, "secretary": secretary,
            "worker": worker}  # fmt: skip


# ---------------------------------------------------------------------------------------------- c


def load():
    try:
        return "load average " + " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "load average n/a"


def _timed(fn, runs=5):
    fn()  # warm-up (and the user's scope, read once per user object)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        value = fn()
        times.append((time.perf_counter() - started) * 1000)
    return value, statistics.median(times)


def _queries(fn):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        fn()
    sqls = [q["sql"] for q in captured.captured_queries]
    return sqls, [s for s in sqls if re.match(r'SELECT "households_household"\."id"', s)]


def _json_size(payload):
    from django.core.serializers.json import DjangoJSONEncoder

    text = json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":"))  # as json_script writes it
    data = text.encode()
    return len(data), len(gzip.compress(data, 6))


def measure_data(world):
    from households.levels import URBAN
    from reports.maps import data, rooms

    results = []
    community, campaign = world["community"], world["campaign"]
    cases = [
        ("street admin", world["admin"], "楼栋图", lambda u: data.rooms_data(u, community, campaign=campaign, levels=URBAN)),
        ("secretary", world["secretary"], "楼栋图", lambda u: data.rooms_data(u, community, campaign=campaign, levels=URBAN)),
        ("secretary", world["secretary"], "网格图", lambda u: data.plan_data(u, community, campaign=campaign)),
        ("grid worker", world["worker"], "楼栋图 of his grid",
         lambda u: data.rooms_data(u, world["grid"], campaign=campaign, levels=URBAN)),
    ]  # fmt: skip
    for who, user, what, fn in cases:
        payload, ms = _timed(lambda fn=fn, user=user: fn(user))
        sqls, rows = _queries(lambda fn=fn, user=user: fn(user))
        raw, packed = _json_size(payload)
        households = payload["totals"]["households"]
        print(f"   {who}, {what}: {households:,} households, {len(sqls)} queries ({len(rows)} for the rows), "
              f"{ms:.0f} ms, JSON {raw / 1024:.0f} KB ({packed / 1024:.0f} KB gzipped)")  # fmt: skip
        for sql in sqls:
            print(f"      {sql[:150]}")
        label = f"{what}, {who} ({households:,} households)"
        results += [
            (f"{label}: queries", str(len(sqls)), f"≤ {TARGETS['data_queries']}", len(sqls) <= TARGETS["data_queries"]),
            (f"{label}: queries for the rows", str(len(rows)), f"= {TARGETS['rows_queries']}",
             len(rows) == TARGETS["rows_queries"]),
            (f"{label}: time", f"{ms:.0f} ms", f"< {TARGETS['data_ms']} ms", ms < TARGETS["data_ms"]),
        ]  # fmt: skip
        if "楼栋图" in what:
            results += [
                (f"{label}: JSON", f"{raw / 1024:.0f} KB", f"< {TARGETS['json_kb']} KB", raw / 1024 < TARGETS["json_kb"]),
                (f"{label}: JSON gzipped", f"{packed / 1024:.0f} KB", f"< {TARGETS['json_gzip_kb']} KB",
                 packed / 1024 < TARGETS["json_gzip_kb"]),
            ]  # fmt: skip
        else:
            results.append((f"{label}: JSON", f"{raw / 1024:.1f} KB", "", None))
    # The room numbers are parsed once per process and kept (reports.maps.rooms): the first call of a
    # fresh process pays for them.
    rooms._floor.cache_clear()
    rooms.natural_key.cache_clear()
    user = world["secretary"]
    started = time.perf_counter()
    data.rooms_data(user, community, campaign=campaign, levels=URBAN)
    cold = (time.perf_counter() - started) * 1000
    print(f"   secretary, 楼栋图, the room-number caches empty: {cold:.0f} ms")
    results.append(("楼栋图, secretary: first call of a process (caches empty)", f"{cold:.0f} ms",
                    f"< {TARGETS['data_ms']} ms", cold < TARGETS["data_ms"]))  # fmt: skip
    return results


# ---------------------------------------------------------------------------------------------- d


def measure_pages(world):
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    client = Client()
    client.force_login(world["secretary"])
    results = []
    for name in ("reports:map_community", "reports:map_grid"):
        url = reverse(name, args=[world["community"].pk])
        response, ms = _timed(lambda url=url: client.get(url))
        assert response.status_code == 200, (url, response.status_code)
        with CaptureQueriesContext(connection) as captured:
            client.get(url)
        size = len(response.content)
        packed = len(gzip.compress(response.content, 6))
        print(f"   {url}: {ms:.0f} ms, {len(captured.captured_queries)} queries, HTML {size / 1024:.0f} KB "
              f"({packed / 1024:.0f} KB gzipped)")  # fmt: skip
        results += [
            (f"{url}: time", f"{ms:.0f} ms", f"< {TARGETS['page_ms']} ms", ms < TARGETS["page_ms"]),
            (f"{url}: queries", str(len(captured.captured_queries)), "", None),
            (f"{url}: HTML gzipped", f"{packed / 1024:.0f} KB ({size / 1024:.0f} KB)", f"< {TARGETS['page_gzip_kb']} KB",
             packed / 1024 < TARGETS["page_gzip_kb"]),
        ]  # fmt: skip
    return results


if __name__ == "__main__":
    sys.exit(main())
