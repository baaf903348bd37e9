"""The grid rollups (visits/rollups.py): after random visits, new households, households moved
between grids, focus groups added and removed, a building moved to another grid and a household
deleted — each through the app's own writers — the rollups equal a fresh count from the raw rows,
the dashboard's coverage panel read from them is the panel counted over the households (the old
computation, kept here as the oracle), and a rebuild gives the same rows."""

import datetime
import random

import pytest
from django.db import transaction
from django.db.models import Count, FilteredRelation, Q

from households.models import FocusGroup, Household, Node, NodeKind
from reports import dashboard
from tests.support.world import make_household
from visitplan.models import Tier
from visits import rollups, tally
from visits.models import GridCount, GridVisited, GroupCount, GroupVisited, HouseholdDays, Visit

D = datetime.date
TODAY = D(2026, 12, 31)
METHODS = ["in_person", "in_person", "in_person", "phone", "not_home", "meeting"]


# ---------------------------------------------------------------------------------------------- oracles


def fresh(campaign):
    """The rollups counted from the raw rows: {model name: {key: counts}}, zero rows left out."""
    days = HouseholdDays.objects.filter(campaign=campaign)
    grid_visited = {}
    for h in days.select_related("household"):
        seen = any(getattr(h, f"days_{i}") for i in range(6))
        staff = any(getattr(h, f"staff_{i}") for i in range(6))
        row = grid_visited.setdefault(h.household.grid_id, [0, 0])
        row[0] += seen
        row[1] += staff
    group_visited = {}
    for h in days.filter(rollups.days_q()):
        for g in Household.tags.through.objects.filter(household_id=h.household_id).values_list(
            "focusgroup_id", flat=True
        ):
            key = (Household.objects.get(pk=h.household_id).grid_id, g)
            group_visited[key] = group_visited.get(key, 0) + 1
    return {
        "GridCount": {r["grid_id"]: r["n"] for r in Household.objects.values("grid_id").annotate(n=Count("pk")).order_by()},
        "GroupCount": {
            (r["household__grid_id"], r["focusgroup_id"]): r["n"]
            for r in Household.tags.through.objects.values("household__grid_id", "focusgroup_id").annotate(n=Count("pk")).order_by()
        },
        "GridVisited": {g: tuple(v) for g, v in grid_visited.items() if any(v)},
        "GroupVisited": group_visited,
    }  # fmt: skip


def stored(campaign):
    return {
        "GridCount": {r.grid_id: r.households for r in GridCount.objects.all() if r.households},
        "GroupCount": {(r.grid_id, r.group_id): r.households for r in GroupCount.objects.all() if r.households},
        "GridVisited": {
            r.grid_id: (r.visited, r.by_staff) for r in GridVisited.objects.filter(campaign=campaign) if r.visited or r.by_staff
        },
        "GroupVisited": {(r.grid_id, r.group_id): r.visited for r in GroupVisited.objects.filter(campaign=campaign) if r.visited},
    }  # fmt: skip


def coverage_counted(user, period, communities):
    """The coverage panel as reports/dashboard.py counted it before the rollups (the test's oracle): every
    household of the reader's communities against its row of visit days, in the period."""
    households = Household.objects.visible_to(user).filter(community_id__in=communities)
    seen = lambda field: tally.visited_between(field, period.campaign, period.first, period.last)  # noqa: E731
    rows = list(
        households.alias(tally=FilteredRelation("visit_days", condition=Q(visit_days__campaign=period.campaign)))
        .values("community_id", "grid_id")
        .annotate(total=Count("pk"), visited=Count("pk", filter=seen("tally__days")),
                  by_staff=Count("pk", filter=seen("tally__staff")))
        .order_by()
    )  # fmt: skip
    counts = {}
    for tag in Household.tags.through.objects.filter(household__in=households):
        c = counts.setdefault(tag.focusgroup_id, {"total": 0, "visited": 0})
        c["total"] += 1
        days = HouseholdDays.objects.filter(campaign=period.campaign, household_id=tag.household_id)
        c["visited"] += days.filter(seen("days")).exists()
    return dashboard._coverage_figures(period, rows, counts)


# ---------------------------------------------------------------------------------------------- helpers


def visit(campaign, household, cadre, day, method):
    """A visit written and tallied as visits.services.visit_record does (its rules aside)."""
    with transaction.atomic():
        v = Visit.objects.create(campaign=campaign, household=household, cadre=cadre, visited_on=day, method=method)
        tally.record(v)


def check(vw, cadres):
    c = vw.campaign
    assert stored(c) == fresh(c)
    period = dashboard.Period.of(c, today=TODAY)
    assert dashboard._whole_campaign(period)  # the rollups are what the panel reads
    for user in (vw.admin, vw.leader, vw.secretary):
        ids = list(dashboard.scope_communities(user).values_list("pk", flat=True))
        assert dashboard.coverage(user, period, ids) == coverage_counted(user, period, ids)
    # a narrower period is counted over the households, the same way
    narrow = dashboard.Period.of(c, start=D(2026, 6, 1), end=D(2026, 8, 31), today=TODAY)
    ids = list(dashboard.scope_communities(vw.admin).values_list("pk", flat=True))
    assert dashboard.coverage(vw.admin, narrow, ids) == coverage_counted(vw.admin, narrow, ids)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rollups_follow_every_writer_and_equal_a_fresh_count(vw, seed, django_capture_on_commit_callbacks):
    rnd = random.Random(seed)
    c = vw.campaign
    groups = list(FocusGroup.objects.all()[:4]) or [FocusGroup.objects.create(name=n) for n in ("孤寡老人", "低保户")]
    grids = [vw.grid_a, vw.grid_b, vw.grid_c]
    grid_d = Node.objects.create(kind=NodeKind.GRID, name="第3网格", parent=vw.c2)
    grids.append(grid_d)
    building = Node.objects.create(kind=NodeKind.BUILDING, name="2号楼", parent=vw.grid_b)
    households = [vw.ha, vw.hb, vw.hc]
    for i in range(12):
        grid = rnd.choice(grids)
        households.append(
            make_household(grid, f"{500 + i}", f"户{i}", 100 + i, building=building if grid == vw.grid_b else None)
        )
    staff = vw.admin.cadre  # tier 3: 街道干部
    assert staff.tier == Tier.STREET_STAFF
    cadres = [vw.worker_a.cadre, vw.worker_b.cadre, vw.handler.cadre, vw.leader.cadre, staff]
    check(vw, cadres)
    for step in range(60):
        h = Household.objects.get(pk=rnd.choice(households).pk)
        action = rnd.random()
        if action < 0.55:
            day = D(2026, 3, 21) + datetime.timedelta(days=rnd.randrange(250))
            visit(c, h, rnd.choice(cadres), day, rnd.choice(METHODS))
        elif action < 0.7:
            h.tags.add(rnd.choice(groups))
        elif action < 0.8:
            if rnd.random() < 0.5:
                h.tags.remove(rnd.choice(groups))
            else:
                rnd.choice(groups).households.add(h)
        elif action < 0.92:
            h.grid = rnd.choice([g for g in grids if g.pk != h.grid_id])
            h.community = h.grid.parent
            h.building = None
            h.save()
        elif action < 0.96:
            if rnd.random() < 0.5:
                h.tags.clear()
            else:
                rnd.choice(groups).households.clear()
        else:
            households.append(make_household(rnd.choice(grids), f"{700 + step}", f"新户{step}", 300 + step))
        if step % 15 == 0:
            check(vw, cadres)
    # a building moved to another grid takes its households along (Node.save), recounted on commit
    with django_capture_on_commit_callbacks(execute=True):
        building.parent = vw.grid_a
        building.save()
    # a household without visits deleted
    spare = make_household(grid_d, "999", "删户", 999)
    spare.delete()
    check(vw, cadres)
    before = stored(c)
    tally.rebuild(c)
    assert stored(c) == before == fresh(c)


def test_a_rebuild_recounts_rollups_gone_wrong(vw):
    c = vw.campaign
    visit(c, vw.ha, vw.worker_a.cadre, D(2026, 5, 5), "in_person")
    vw.ha.tags.add(FocusGroup.objects.first() or FocusGroup.objects.create(name="孤寡老人"))
    right = stored(c)
    GridCount.objects.update(households=99)
    GridVisited.objects.update(visited=7)
    GroupVisited.objects.all().delete()
    tally.rebuild(c)
    assert stored(c) == right == fresh(c)


def test_the_dashboard_reads_a_fixed_number_of_queries_at_any_size(vw):
    """The coverage panel from the rollups: the same queries with 3 households or 40."""
    c = vw.campaign
    period = dashboard.Period.of(c, today=TODAY)
    ids = list(dashboard.scope_communities(vw.admin).values_list("pk", flat=True))
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        dashboard.coverage(vw.admin, period, ids)
    for i in range(40):
        h = make_household(vw.grid_c, f"{800 + i}", f"户{i}", 500 + i)
        visit(c, h, vw.handler.cadre, D(2026, 6, 1), "in_person")
    with CaptureQueriesContext(connection) as large:
        dashboard.coverage(vw.admin, period, ids)
    assert len(small.captured_queries) == len(large.captured_queries) <= 7


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_first_visits_and_a_recount_add_up(vw, on_postgres):
    """Two first visits of one household at once (one by street staff), a tag added at the same
    time, and a recount of the grid racing them: the household is counted once, by staff once."""
    from tests.support.threads import race

    c = vw.campaign
    group = FocusGroup.objects.first() or FocusGroup.objects.create(name="孤寡老人")
    staff = vw.admin.cadre
    for number in range(6):
        h = make_household(vw.grid_a, f"9{number:02d}", f"并发{number}", 900 + number)
        h.tags.add(group)
        day1, day2 = D(2026, 4, 1) + datetime.timedelta(days=number), D(2026, 5, 1) + datetime.timedelta(days=number)
        outcomes = race(
            lambda h=h, d=day1: visit(c, h, vw.worker_a.cadre, d, "in_person"),
            lambda h=h, d=day2: visit(c, h, staff, d, "in_person"),
            lambda: rollups.refresh_grids([vw.grid_a.pk]),
        )
        assert all(error is None for _, error in outcomes), outcomes
        assert stored(c) == fresh(c)
    assert GridVisited.objects.get(campaign=c, grid=vw.grid_a).visited == 6
