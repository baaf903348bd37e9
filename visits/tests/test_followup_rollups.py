"""The follow-up rollups (``FollowUpCount``, visits/rollups.py): after random daily lists, follow-up
visits (solved or not, each satisfaction, reopening the issue), follow-ups saved, changed and
deleted through the model, an issue deleted with its follow-up, households moved between grids and
a building moved — each through the app's own writers — the rows equal a fresh count from the
follow-ups, the dashboard's follow-up panel read from them is the panel counted over the follow-ups
(the old computation, kept here as the oracle), and a rebuild gives the same rows."""

import datetime
import random
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Count, Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from households.models import Household, Node, NodeKind
from issues.models import Status
from issues.tests.factories import make_issue
from reports import dashboard
from tests.support.world import make_household
from visitplan.models import Campaign
from visits import rollups, services, tally
from visits.followups import build_followups
from visits.models import FollowUp, FollowUpCount, FollowUpStatus, Satisfaction

D = datetime.date
TODAY = D(2026, 12, 31)
NOW = timezone.make_aware(datetime.datetime(2026, 12, 28, 15, 0))
COUNTS = ("total", "done", "solved", "reopened", *Satisfaction.values)


# ---------------------------------------------------------------------------------------------- oracles


def fresh(campaign):
    """The rows counted here from the follow-ups, one by one: {grid: counts}, empty grids left out."""
    found = {}
    for f in FollowUp.objects.filter(campaign=campaign).select_related("household"):
        row = found.setdefault(f.household.grid_id, dict.fromkeys(COUNTS, 0))
        done = f.status == FollowUpStatus.DONE
        row["total"] += 1
        row["done"] += done
        row["solved"] += done and f.solved is True
        row["reopened"] += f.reopened
        if done and f.satisfaction:
            row[f.satisfaction] += 1
    return found


def stored(campaign):
    return {
        r.grid_id: {c: getattr(r, c) for c in COUNTS}
        for r in FollowUpCount.objects.filter(campaign=campaign)
        if any(getattr(r, c) for c in COUNTS)
    }


def followups_counted(user, period, communities):
    """The follow-up panel as reports/dashboard.py counted it before the rollups (the test's oracle)."""
    followups = FollowUp.objects.visible_to(user).filter(
        campaign=period.campaign, household__community_id__in=communities
    )
    done = Q(status=FollowUpStatus.DONE)
    f = followups.aggregate(
        total=Count("pk"), done=Count("pk", filter=done), solved=Count("pk", filter=done & Q(solved=True)),
        reopened=Count("pk", filter=Q(reopened=True)),
        **{s: Count("pk", filter=done & Q(satisfaction=s)) for s in Satisfaction.values},
    )  # fmt: skip
    answered = sum(f[s] for s in Satisfaction.values)
    satisfied = sum(f[s] for s in dashboard.SATISFIED)
    return {
        **f,
        "due": f["total"] - f["done"],
        "unsolved": f["done"] - f["solved"],
        "done_pct": dashboard.pct(f["done"], f["total"]),
        "solved_pct": dashboard.pct(f["solved"], f["done"]),
        "answered": answered,
        "satisfied": satisfied,
        "satisfied_pct": dashboard.pct(satisfied, answered),
        "satisfaction": [
            {"key": s, "label": Satisfaction(s).label, "n": f[s], "pct": dashboard.pct(f[s], answered)}
            for s in Satisfaction.values
        ],
    }


def check(w, campaigns):
    for c in campaigns:
        assert stored(c) == fresh(c)
        period = dashboard.Period.of(c, today=TODAY)
        for user in (w.admin, w.leader, w.secretary):
            for community in (None, w.c1.pk, w.c2.pk):
                ids = list(dashboard.scope_communities(user, community).values_list("pk", flat=True))
                assert dashboard.followup_figures(user, period, ids) == followups_counted(user, period, ids)


# ---------------------------------------------------------------------------------------------- helpers


@pytest.fixture
def fw(vw):
    """The visits world with households in four grids (a building in grid B), grid D's worker, and
    an older campaign of the street whose follow-ups the 2026 panel must not count."""
    w = vw
    w.grid_d = Node.objects.create(kind=NodeKind.GRID, name="第3网格", parent=w.c2)
    w.building = Node.objects.create(kind=NodeKind.BUILDING, name="2号楼", parent=w.grid_b)
    w.grids = [w.grid_a, w.grid_b, w.grid_c, w.grid_d]
    w.households = [w.ha, w.hb, w.hc]
    for i in range(9):
        grid = w.grids[i % 4]
        building = w.building if grid == w.grid_b else None
        w.households.append(make_household(grid, f"{600 + i}", f"回访户{i}", 200 + i, building=building))
    w.older = Campaign.objects.create(year=2025, name="2025年入户走访", street=w.street)
    return w


def answered_issue(w, rnd, household, day):
    """An issue of ``household`` answered or closed (what the daily list takes), raised by a cadre
    who sees it (grid A's or B's worker for their grids, else the street admin)."""
    raiser = {w.grid_a.pk: w.worker_a, w.grid_b.pk: w.worker_b}.get(household.grid_id, w.admin)
    status = rnd.choice([Status.RESOLVED, Status.CLOSED])
    return make_issue(household, raised_by=raiser, status=status, department=w.dept, registered_on=day)


def settle(w, rnd, followup):
    """A follow-up visit by the cadre whose list it is on: solved or not, any satisfaction (not
    solved reopens a closed issue). Skipped when he no longer sees the household (moved away)."""
    user = followup.cadre.user
    try:
        services.followup_record(
            household=followup.household, by=user, key=uuid.uuid4(), method=rnd.choice(["phone", "in_person"]),
            visited_on=D(2026, 12, 17) + datetime.timedelta(days=rnd.randrange(8)), now=NOW,
            results=[{"followup": followup.pk, "solved": rnd.random() < 0.6,
                      "satisfaction": rnd.choice(Satisfaction.values), "note": ""}],
        )  # fmt: skip
    except (services.VisitNotAllowed, ValidationError):
        pass


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_followup_rollups_follow_every_writer_and_equal_a_fresh_count(fw, seed, django_capture_on_commit_callbacks):
    rnd = random.Random(seed)
    w = fw
    campaigns = [w.campaign, w.older]
    check(w, campaigns)
    for step in range(45):
        h = Household.objects.get(pk=rnd.choice(w.households).pk)
        action = rnd.random()
        if action < 0.25:
            # issues answered, then the daily list (a bulk insert) takes them
            for _ in range(rnd.randint(1, 3)):
                answered_issue(w, rnd, Household.objects.get(pk=rnd.choice(w.households).pk), D(2026, 10, 1))
            build_followups(day=D(2026, 12, 16) + datetime.timedelta(days=rnd.randrange(6)))
        elif action < 0.5:
            due = list(FollowUp.objects.filter(campaign=w.campaign, status=FollowUpStatus.DUE))
            if due:
                settle(w, rnd, rnd.choice(due))
        elif action < 0.6:
            # saved through the model: a follow-up of the older campaign, or one made by hand
            issue = answered_issue(w, rnd, h, D(2025, 6, 2) if rnd.random() < 0.5 else D(2026, 5, 6))
            done = rnd.random() < 0.5
            FollowUp.objects.create(
                campaign=w.older if issue.registered_on.year == 2025 else w.campaign, household=h, issue=issue,
                cadre=w.admin.cadre, listed_on=D(2026, 12, 16), due_on=D(2026, 12, 25),
                status=FollowUpStatus.DONE if done else FollowUpStatus.DUE, solved=(rnd.random() < 0.5) if done else None,
                satisfaction=rnd.choice(Satisfaction.values) if done else "", reopened=done and rnd.random() < 0.3,
            )  # fmt: skip
        elif action < 0.67:
            f = FollowUp.objects.order_by("?").first()
            if f is not None:  # changed through the model, or moved to the other campaign
                if rnd.random() < 0.5:
                    f.status, f.solved, f.satisfaction = FollowUpStatus.DONE, True, rnd.choice(Satisfaction.values)
                else:
                    f.campaign = w.older if f.campaign_id == w.campaign.pk else w.campaign
                f.save()
        elif action < 0.74:
            f = FollowUp.objects.order_by("?").first()
            if f is not None:
                if rnd.random() < 0.5:
                    f.delete()
                else:  # the issue deleted, its follow-up with it (a cascade)
                    f.issue.events.all().delete()
                    f.issue.delete()
        elif action < 0.95:
            h.grid = rnd.choice([g for g in w.grids if g.pk != h.grid_id])
            h.community = h.grid.parent
            h.building = None
            h.save()
        else:
            # a building moved to another grid takes its households along, recounted on commit
            with django_capture_on_commit_callbacks(execute=True):
                w.building.parent = rnd.choice([g for g in w.grids if g.pk != w.building.parent_id])
                w.building.save()
        if step % 9 == 0:
            check(w, campaigns)
    check(w, campaigns)
    assert FollowUp.objects.filter(campaign=w.campaign).exists()  # the panels above counted something
    before = {c.pk: stored(c) for c in campaigns}
    tally.rebuild(w.campaign)
    assert {c.pk: stored(c) for c in campaigns} == before


def test_a_rebuild_recounts_followup_rollups_gone_wrong(fw):
    w = fw
    rnd = random.Random(5)
    for h in w.households[:6]:
        answered_issue(w, rnd, h, D(2026, 10, 1))
    build_followups(day=D(2026, 12, 16))
    settle(w, rnd, FollowUp.objects.filter(household=w.ha).first())
    right = stored(w.campaign)
    assert right and right == fresh(w.campaign)
    FollowUpCount.objects.update(total=99, satisfied=7)
    FollowUpCount.objects.filter(grid=w.grid_a).delete()
    tally.rebuild(w.campaign)
    assert stored(w.campaign) == right


def test_a_deleted_campaign_takes_its_rows_along(fw):
    w = fw
    issue = answered_issue(w, random.Random(1), w.ha, D(2025, 6, 2))
    FollowUp.objects.create(campaign=w.older, household=w.ha, issue=issue, cadre=w.worker_a.cadre,
                            listed_on=D(2025, 12, 1), due_on=D(2025, 12, 10))  # fmt: skip
    assert FollowUpCount.objects.filter(campaign=w.older).exists()
    w.older.delete()
    assert not FollowUpCount.objects.filter(campaign_id=w.older.pk).exists()


def test_the_followup_panel_reads_a_fixed_number_of_queries_at_any_size(fw):
    w = fw
    period = dashboard.Period.of(w.campaign, today=TODAY)
    ids = list(dashboard.scope_communities(w.admin).values_list("pk", flat=True))
    rnd = random.Random(2)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            dashboard.followup_figures(w.admin, period, ids)
        return len(captured.captured_queries)

    small = queries()
    for h in w.households * 3:
        answered_issue(w, rnd, h, D(2026, 10, 1))
    build_followups(day=D(2026, 12, 16))
    assert FollowUp.objects.count() == 3 * len(w.households)
    assert queries() == small <= 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_follow_up_visits_and_a_recount_add_up(fw, on_postgres):
    """Two follow-up visits in one grid at once (one reopening its issue) and a recount of the grid
    racing them: the grid's row counts both."""
    from tests.support.threads import race

    w = fw
    households = [h for h in w.households if h.grid_id == w.grid_a.pk][:2]
    assert len(households) == 2
    for round_ in range(3):
        for h in households:
            make_issue(h, raised_by=w.worker_a, status=Status.CLOSED, registered_on=D(2026, 10, 1 + round_))
        build_followups(day=D(2026, 12, 16))
        due = [FollowUp.objects.get(household=h, status=FollowUpStatus.DUE) for h in households]
        outcomes = race(
            *[
                lambda f=f, solved=solved: services.followup_record(
                    household=f.household,
                    by=w.worker_a,
                    key=uuid.uuid4(),
                    method="phone",
                    visited_on=D(2026, 12, 17),
                    now=NOW,
                    results=[{"followup": f.pk, "solved": solved, "satisfaction": "basic", "note": ""}],
                )
                for f, solved in zip(due, (True, False))
            ],
            lambda: rollups.refresh_grids([w.grid_a.pk]),
        )
        assert all(error is None for _, error in outcomes), outcomes
        assert stored(w.campaign) == fresh(w.campaign)
    assert FollowUpCount.objects.get(campaign=w.campaign, grid=w.grid_a).done == 6
