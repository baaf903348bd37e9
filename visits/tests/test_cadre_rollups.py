"""The cadre-targets rollup (``CadreGridCount``, visits/rollups.py): after random allocations,
reassignments (takeovers), assignments added, changed and deleted through the admin, visits by the
assigned cadres and by others in both half-years, households moved between grids, a building moved
and households deleted — each through the app's own writers — the rollup equals a fresh count from
the raw rows (assignments and cadre spans, counted here in Python), and the dashboard's
cadre-targets panel read from it is the panel counted over every assignment (the old computation,
kept here as the oracle) for the street admin, a leader and a community secretary on several days."""

import datetime
import random
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from households.models import FocusGroup, Household, Node, NodeKind
from reports import dashboard
from tests.support.world import make_household
from visitplan.allocation import allocate, reassign_cadre
from visitplan.models import Assignment, Cadre, Tier
from visitplan.rulebook import update_rules
from visits import tally, targets
from visits.models import CadreGridCount, CadreSpan, Visit

D = datetime.date
TODAY = D(2026, 12, 31)
# The days the panel is judged on: the first half-year, the second, a takeover's grace days, the end.
DAYS = [D(2026, 5, 20), D(2026, 8, 10), D(2026, 10, 3), TODAY]
METHODS = ["in_person", "in_person", "in_person", "phone", "not_home", "meeting"]
COUNTS = ("assigned", "taken_over", "sweep", "h1", "h2", "both")


# ---------------------------------------------------------------------------------------------- oracles


def fresh(campaign):
    """{(grid, cadre): counts} counted here from the raw rows, one assignment at a time."""
    spans = {(s.household_id, s.cadre_id): (s.first_on, s.last_on) for s in CadreSpan.objects.filter(campaign=campaign)}
    out = {}
    for a in Assignment.objects.filter(campaign=campaign).select_related("household"):
        row = out.setdefault((a.household.grid_id, a.cadre_id), dict.fromkeys(COUNTS, 0))
        row["assigned"] += 1
        if a.taken_over_on is not None:
            row["taken_over"] += 1
            continue
        span = spans.get((a.household_id, a.cadre_id))
        if span is None:
            continue
        h1, h2 = span[0] <= D(campaign.year, 6, 30), span[1] >= D(campaign.year, 7, 1)
        row["sweep"] += 1
        row["h1"] += h1
        row["h2"] += h2
        row["both"] += h1 and h2
    return out


def stored(campaign):
    return {
        (r.grid_id, r.cadre_id): {name: getattr(r, name) for name in COUNTS}
        for r in CadreGridCount.objects.filter(campaign=campaign)
        if r.assigned
    }


def raw_figures(campaign, cadres, communities, *, today):
    """What the panel counted before the rollup: ``tallied_figures`` over every assignment."""
    assignments = Assignment.objects.filter(
        campaign=campaign, cadre__in=cadres, household__community_id__in=communities
    )
    return targets.tallied_figures(assignments, campaign=campaign, today=today)


def panel_counted(user, period, ids, today):
    """The cadre-targets panel as reports/dashboard.py counted it before the rollup (the oracle)."""
    with mock.patch.object(targets, "rolled_up_figures", raw_figures):
        return dashboard.cadre_targets(user, period, ids, today=today)


# ---------------------------------------------------------------------------------------------- helpers


def visit(campaign, household, cadre, day, method):
    """A visit written and tallied as visits.services.visit_record does (its rules aside)."""
    with transaction.atomic():
        v = Visit.objects.create(campaign=campaign, household=household, cadre=cadre, visited_on=day, method=method)
        tally.record(v)


def check(w):
    """The rollup against the fresh count, the panel against the oracle; returns the counts that
    were not zero somewhere (what the walk exercised)."""
    c = w.campaign
    rows = stored(c)
    assert rows == fresh(c)
    for day in DAYS:
        period = dashboard.Period.of(c, today=day)
        for user in (w.admin, w.leader, w.secretary):
            ids = list(dashboard.scope_communities(user).values_list("pk", flat=True))
            cadres = Cadre.objects.visible_to(user).filter(active=True)
            assert targets.rolled_up_figures(c, cadres, ids, today=day) == raw_figures(c, cadres, ids, today=day)
            assert dashboard.cadre_targets(user, period, ids, today=day) == panel_counted(user, period, ids, day)
    return {name for r in rows.values() for name in COUNTS if r[name]}


def admin_delete(client, assignment):
    response = client.post(f"/admin/visitplan/assignment/{assignment.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302, response.content[:500]
    assert not Assignment.objects.filter(pk=assignment.pk).exists()


def admin_delete_selected(client, assignments):
    pks = [a.pk for a in assignments]
    response = client.post(
        "/admin/visitplan/assignment/", {"action": "delete_selected", "_selected_action": pks, "post": "yes"}
    )
    assert response.status_code == 302, response.content[:500]
    assert not Assignment.objects.filter(pk__in=pks).exists()


def world_of(w):
    """The street grown for the random walk: a grid more, a building, a dozen households (a few in
    a weekly focus group), every household allocated."""
    grid_d = Node.objects.create(kind=NodeKind.GRID, name="第3网格", parent=w.c2)
    w.building = Node.objects.create(kind=NodeKind.BUILDING, name="2号楼", parent=w.grid_b)
    w.grids = [w.grid_a, w.grid_b, w.grid_c, grid_d]
    w.weekly = FocusGroup.objects.get_or_create(name="孤寡老人")[0]
    w.households = [w.ha, w.hb, w.hc]
    for i in range(14):
        grid = w.grids[i % 4]
        h = make_household(grid, f"{500 + i}", f"户{i}", 100 + i, building=w.building if grid == w.grid_b else None)
        if i % 3 == 0:
            h.tags.add(w.weekly)
        w.households.append(h)
    allocate(w.campaign)
    # The cadres who visit, and those a cadre's households are handed to (转给).
    w.visitors = [w.worker_a.cadre, w.worker_b.cadre, w.lw1.cadre, w.staff1.cadre, w.secretary.cadre,
                  w.leader.cadre, w.admin.cadre, w.handler.cadre]  # fmt: skip
    w.movers = [w.worker_a.cadre, w.worker_b.cadre, w.lw1.cadre, w.staff1.cadre, w.staff2.cadre]
    return w


# ---------------------------------------------------------------------------------------------- the proof


@pytest.mark.parametrize("seed, link_period", [(1, "half_year"), (2, "half_year"), (3, "campaign"), (4, "year")])
def test_the_rollup_follows_every_writer_and_the_panel_equals_the_raw_count(
    rw, client, seed, link_period, django_capture_on_commit_callbacks
):
    rnd = random.Random(seed)
    w = world_of(rw)
    c = w.campaign
    if link_period != "half_year":
        update_rules(c, {"link_period": link_period})
    root = User.objects.create_superuser("root", password="pw-test-123")
    client.force_login(root)
    seen = check(w)
    for step in range(90):
        h = Household.objects.get(pk=rnd.choice(w.households).pk)
        action = rnd.random()
        if action < 0.45:  # a visit, by a cadre of his own households or by anyone, in either half-year
            mine = list(Assignment.objects.filter(campaign=c, household=h).values_list("cadre_id", flat=True))
            cadre = Cadre.objects.get(pk=rnd.choice(mine)) if mine and rnd.random() < 0.7 else rnd.choice(w.visitors)
            day = D(2026, 3, 21) + datetime.timedelta(days=rnd.randrange(280))
            visit(c, h, cadre, day, rnd.choice(METHODS))
        elif action < 0.53:  # a cadre leaves: his households go to another (taken over on a day)
            source, to = rnd.sample(w.movers, 2)
            on = D(2026, 4, 1) + datetime.timedelta(days=rnd.randrange(250))
            reassign_cadre(from_cadre=source, to_cadre=to, campaign=c, on=on)
        elif action < 0.6:  # the allocation again, for what is unlinked now (new households, a cadre gone)
            allocate(c)
        elif action < 0.68:  # an assignment added by hand (Assignment.save, as the admin's add)
            cadre = rnd.choice(w.movers)
            if not Assignment.objects.filter(campaign=c, household=h, cadre=cadre).exists():
                Assignment.objects.create(campaign=c, household=h, cadre=cadre)
        elif action < 0.73:  # an assignment changed to another household (the admin's change)
            rows = list(Assignment.objects.filter(campaign=c).exclude(tier=Tier.DEPARTMENT).order_by("pk"))
            a = rnd.choice(rows) if rows else None
            if a and not Assignment.objects.filter(campaign=c, household=h, cadre_id=a.cadre_id).exists():
                a.household = h
                a.save()
        elif action < 0.78:  # deleted in the admin, one or several
            rows = list(Assignment.objects.filter(campaign=c).order_by("pk"))
            rows = rnd.sample(rows, min(len(rows), rnd.choice([1, 1, 3])))
            if len(rows) == 1:
                admin_delete(client, rows[0])
            elif rows:
                admin_delete_selected(client, rows)
        elif action < 0.9:  # a household moved to another grid
            h.grid = rnd.choice([g for g in w.grids if g.pk != h.grid_id])
            h.community = h.grid.parent
            h.building = None
            h.save()
        elif action < 0.95:  # a new household (allocated by the next run)
            w.households.append(make_household(rnd.choice(w.grids), f"{700 + step}", f"新户{step}", 300 + step))
        elif not Visit.objects.filter(household=h).exists():  # a household without visits deleted
            gone = h.pk
            h.delete()
            w.households = [x for x in w.households if x.pk != gone]
        if step % 15 == 0:
            seen |= check(w)
    # a building moved to another grid takes its households along (Node.save), recounted on commit
    with django_capture_on_commit_callbacks(execute=True):
        w.building.parent = w.grid_a
        w.building.save()
    seen |= check(w)
    assert seen == set(COUNTS)  # the walk took households over, and visited its own in both half-years
    before = stored(c)
    tally.rebuild(c)
    assert stored(c) == before == fresh(c)


def test_a_rebuild_repairs_a_rollup_gone_wrong(rw):
    w = world_of(rw)
    c = w.campaign
    visit(c, w.ha, w.worker_a.cadre, D(2026, 5, 5), "in_person")
    visit(c, w.ha, w.worker_a.cadre, D(2026, 9, 5), "in_person")
    right = stored(c)
    assert right == fresh(c) and any(r["both"] for r in right.values())
    CadreGridCount.objects.update(assigned=99, h1=7)
    CadreGridCount.objects.filter(cadre=w.worker_a.cadre).delete()
    CadreGridCount.objects.update_or_create(
        campaign=c, grid=w.grid_a, cadre=w.handler.cadre, defaults={"assigned": 3, "sweep": 3}
    )
    assert stored(c) != right
    tally.rebuild(c)
    assert stored(c) == right


def test_a_visit_counts_only_for_his_own_household_not_taken_over(vw):
    """The rollup's upkeep by a visit: a new span, or one reaching into the other half-year, of the
    cadre who holds the household himself; another cadre's visit adds nothing to his row."""
    c = vw.campaign
    key = (vw.grid_a.pk, vw.worker_a.cadre.pk)
    visit(c, vw.ha, vw.worker_b.cadre, D(2026, 4, 1), "in_person")  # not his household
    assert stored(c)[key] == {"assigned": 1, "taken_over": 0, "sweep": 0, "h1": 0, "h2": 0, "both": 0}
    visit(c, vw.ha, vw.worker_a.cadre, D(2026, 8, 1), "in_person")
    assert stored(c)[key] == {"assigned": 1, "taken_over": 0, "sweep": 1, "h1": 0, "h2": 1, "both": 0}
    visit(c, vw.ha, vw.worker_a.cadre, D(2026, 9, 1), "in_person")  # inside his span: nothing changes
    visit(c, vw.ha, vw.worker_a.cadre, D(2026, 3, 25), "in_person")
    assert stored(c)[key] == {"assigned": 1, "taken_over": 0, "sweep": 1, "h1": 1, "h2": 1, "both": 1}
    reassign_cadre(from_cadre=vw.worker_a.cadre, to_cadre=vw.worker_b.cadre, campaign=c, on=D(2026, 9, 2))
    assert key not in stored(c)
    assert stored(c)[(vw.grid_a.pk, vw.worker_b.cadre.pk)]["taken_over"] == 1
    assert stored(c) == fresh(c)


def test_the_panel_reads_a_fixed_number_of_queries_at_any_size(rw):
    """The cadre-targets panel from the rollup: the same queries with a few households or sixty."""
    w = rw
    c = w.campaign
    period = dashboard.Period.of(c, today=TODAY)
    ids = list(dashboard.scope_communities(w.admin).values_list("pk", flat=True))
    covered = dashboard.coverage(w.admin, period, ids)

    def count():
        with CaptureQueriesContext(connection) as queries:
            dashboard.cadre_targets(w.admin, period, ids, today=TODAY, covered=covered)
        return len(queries.captured_queries)

    count()  # warm up (the rulebook, the calendar)
    small = count()
    group = FocusGroup.objects.get_or_create(name="孤寡老人")[0]
    for i in range(60):
        h = make_household([w.grid_a, w.grid_b, w.grid_c][i % 3], f"{800 + i}", f"户{i}", 500 + i)
        if i % 4 == 0:
            h.tags.add(group)
        visit(c, h, w.lw1.cadre, D(2026, 6, 1) + datetime.timedelta(days=i), "in_person")
    allocate(c)
    reassign_cadre(from_cadre=w.worker_a.cadre, to_cadre=w.lw1.cadre, campaign=c, on=D(2026, 11, 1))
    assert Assignment.objects.filter(campaign=c).count() > 60
    covered = dashboard.coverage(w.admin, period, ids)
    assert count() == small


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_first_visit_and_a_new_assignment_at_once_add_up(vw, on_postgres):
    """A cadre's first visit of a household and, at the same moment, the household assigned to him
    (a recount of its grid) and a household moved out of the grid: whichever commits first, the
    rollup counts the visit once, for him."""
    from tests.support.threads import race

    c = vw.campaign
    for number in range(6):
        h = make_household(vw.grid_a, f"9{number:02d}", f"并发{number}", 900 + number)
        other = make_household(vw.grid_a, f"8{number:02d}", f"挪走{number}", 800 + number)
        day = D(2026, 4, 1) + datetime.timedelta(days=number * 30)
        cadre = vw.worker_a.cadre

        def move(other=other):
            other.grid = vw.grid_b
            other.save()

        outcomes = race(
            lambda h=h, d=day: visit(c, h, cadre, d, "in_person"),
            lambda h=h: Assignment.objects.create(campaign=c, household=h, cadre=cadre),
            move,
        )
        assert all(error is None for _, error in outcomes), outcomes
        assert stored(c) == fresh(c)
    assert stored(c)[(vw.grid_a.pk, vw.worker_a.cadre.pk)]["sweep"] == 6
