"""reports/dashboard.py against a hand-counted street, the scope of each reader, and a number of
queries that does not grow with the street."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from households.models import FocusGroup, Household, Node, NodeKind
from households.roles import CADRE, SECRETARY
from issues.models import Closure, Status
from issues.tests.factories import make_issue
from reports import dashboard
from reports.models import Finding
from reports.tests.factories import visit
from tests.support.world import make_household, make_user
from visitplan.models import Assignment, Tier
from visits import tally
from visits.models import FollowUp, Visit

D = datetime.date
TODAY = D(2026, 12, 1)
T = datetime.time


@pytest.fixture
def street(rw):
    """Four households, four visits, four issues, three follow-ups, three findings — counted by hand below."""
    w = rw
    w.ha2 = make_household(w.grid_a, "102", "赵丁", 21, building=w.ha.building)
    w.ha2.tags.add(FocusGroup.objects.get(name="高龄老人"))
    visit(w, w.ha, w.worker_a, D(2026, 5, 10), minutes=40)  # H1
    visit(w, w.ha, w.worker_a, D(2026, 9, 28), minutes=20)  # H2, short
    visit(w, w.hb, w.worker_b, D(2026, 9, 1), method="not_home")  # not counted
    visit(w, w.hc, w.handler, D(2026, 10, 10), method="phone")  # H2, a call
    # Plan and answer on time (registered Tue 9-01: plan due 9-08, close due 9-22; answered 9-10 = 7 working days).
    w.i1 = make_issue(w.ha, status=Status.CLOSED, department=w.dept, registered_on=D(2026, 9, 1),
                      plan_posted_on=D(2026, 9, 3), answered_on=D(2026, 9, 10), closed_on=D(2026, 9, 11))  # fmt: skip
    # Plan late (due 10-19, posted 10-30) and past its close deadline (11-02): overdue on 12-01.
    w.i2 = make_issue(w.hb, status=Status.IN_PROGRESS, department=w.dept, registered_on=D(2026, 10, 12),
                      plan_posted_on=D(2026, 10, 30))  # fmt: skip
    # Routed lately: nothing due yet on 12-01 (plan due 12-02).
    w.i3 = make_issue(w.hc, status=Status.ROUTED, department=w.dept, registered_on=D(2026, 11, 25))
    # Answered on the spot: closed on time, no plan needed (0 working days).
    w.i4 = make_issue(w.ha, status=Status.CLOSED, registered_on=D(2026, 9, 28), closure=Closure.ON_THE_SPOT,
                      answered_on=D(2026, 9, 28), closed_on=D(2026, 9, 28), plan_posted_on=None, plan_text="")  # fmt: skip
    for issue, status, solved, satisfaction in (
        (w.i1, "done", True, "satisfied"),
        (w.i4, "done", False, "unsatisfied"),
        (w.i2, "due", None, ""),
    ):
        FollowUp.objects.create(campaign=w.campaign, household=issue.household, issue=issue, cadre=w.worker_a.cadre,
                                listed_on=D(2026, 11, 16), due_on=D(2026, 11, 25), status=status, solved=solved,
                                satisfaction=satisfaction)  # fmt: skip
    for _ in range(3):
        Finding.objects.create(campaign=w.campaign, community=w.c1, method="phone", kind="fake_visit", evidence="称未被走访",
                               found_on=D(2026, 11, 20))  # fmt: skip
    return w


@pytest.mark.django_db
def test_the_street_sees_every_figure_counted_by_hand(street):
    w = street
    board = dashboard.build(w.leader, w.campaign, today=TODAY)
    assert (board.period.first, board.period.last) == (D(2026, 3, 1), TODAY)
    # Coverage: ha and hc visited of 4 households (hb's attempt found nobody home).
    cov = board.coverage
    assert (cov["total"], cov["visited"], cov["pct"], cov["unvisited"]) == (4, 2, 50.0, 2)
    assert [(c["name"], c["visited"], c["total"], c["pct"]) for c in cov["communities"]] == [
        ("湖田社区", 1, 3, 33.3),
        ("南纬社区", 1, 1, 100.0),
    ]
    assert [(g["name"], g["visited"], g["total"]) for g in cov["groups"]] == [("高龄老人", 0, 1)]
    # Visits: 4 made, 1 not home; the two timed ones last 40 and 20 minutes: average 30, half under 30.
    v = board.visits
    assert (v["count"], v["not_home"], v["avg_minutes"], v["short"], v["short_pct"]) == (4, 1, 30.0, 1, 50.0)
    # Issues: plans 1 on time of 2 due; closing 2 on time (i1, i4) of 3 due (i2 overdue); 7 and 0 working days.
    i = board.issues
    assert (i["total"], i["plan_on_time"], i["plan_due"], i["plan_pct"]) == (4, 1, 2, 50.0)
    assert (i["close_on_time"], i["close_due"], i["close_pct"]) == (2, 3, 66.7)
    assert (i["overdue"], [x.pk for x in i["overdue_list"]], i["avg_days"]) == (1, [w.i2.pk], 3.5)
    # Follow-ups: 2 of 3 done, 1 solved, satisfaction 1 满意 / 1 不满意.
    f = board.followups
    assert (f["done"], f["total"], f["solved_pct"]) == (2, 3, 50.0)
    assert [(s["label"], s["n"], s["pct"]) for s in f["satisfaction"]] == [
        ("满意", 1, 50.0),
        ("基本满意", 0, 0.0),
        ("不满意", 1, 50.0),
    ]
    # The score: three findings in 湖田社区 — 997 and 约谈 for its 包村居 staff and 两委.
    assert [(s.name, s.score, s.rank, s.interview) for s in board.scores] == [
        ("南纬社区", 1000, 1, False),
        ("湖田社区", 997, 2, True),
    ]
    assert {c.name for c in board.interviews} == {"staff_c1", "lw_c1"}


@pytest.mark.django_db
def test_the_targets_name_who_is_behind_and_why(street):
    w = street
    for h in (w.ha, w.ha2, w.hb):  # the allocation gives the secretary every household of his community
        Assignment.objects.create(campaign=w.campaign, household=h, cadre=w.secretary.cadre, tier=Tier.SECRETARY)
    t = dashboard.build(w.leader, w.campaign, today=TODAY).targets
    # Linked: ha (worker A: H1 and H2), hb (worker B: only a failed attempt), hc (department: a call in H2).
    assert (t["half_label"], t["linked_total"], t["linked_now"], t["linked_both"]) == ("下半年", 3, 2, 1)
    # Behind, lowest first: the secretary has been nowhere (户户到 0 of 3) and ha2, 高龄, had no community cadre's
    # visit this week; worker B's hb has no visit this half-year; the leader has no visits this month.
    assert [(r["cadre__name"], r["reasons"]) for r in t["behind"]] == [
        ("sec1", ["sweep", "weekly"]), ("grid_b", ["half_year"]), ("leader", ["month"])
    ]  # fmt: skip
    assert t["behind_count"] == 3 and t["weekly_cadres"] == 1
    # Street staff' 30%: nobody of tier 3 visited, both communities are behind, their staff named.
    assert [(r["community"], r["pct"], r["behind"], r["names"]) for r in t["street_staff"]] == [
        ("湖田社区", 0.0, True, ["staff_c1"]), ("南纬社区", 0.0, True, ["staff_c2"])
    ]  # fmt: skip
    assert [(r["name"], r["visited"], r["assigned"], r["weekly_behind"], r["behind"]) for r in t["secretaries"]] == [
        ("sec1", 0, 3, 1, True)
    ]
    assert [(r["name"], r["days"], r["households"], r["behind"]) for r in t["leaders"]] == [("leader", 0, 0, True)]


@pytest.mark.django_db
def test_a_secretary_sees_only_his_community(street):
    w = street
    board = dashboard.build(w.secretary, w.campaign, today=TODAY)
    assert [c["name"] for c in board.communities] == ["湖田社区"]
    assert (board.coverage["total"], board.coverage["visited"]) == (3, 1)
    assert board.issues["total"] == 3  # i1, i2, i4 (hc's i3 is in 南纬社区)
    assert [s.name for s in board.scores] == ["湖田社区"]
    assert [r["cadre__name"] for r in board.targets["behind"]] == ["grid_b"]
    assert board.targets["leaders"] == []


@pytest.mark.django_db
def test_a_date_range_narrows_visits_and_issues(street):
    w = street
    board = dashboard.build(w.leader, w.campaign, today=TODAY, start=D(2026, 9, 1), end=D(2026, 9, 30))
    assert (board.coverage["visited"], board.visits["count"]) == (1, 2)  # ha on 9-28; hb's attempt on 9-01
    assert board.issues["total"] == 2  # i1 and i4


@pytest.mark.django_db
def test_the_number_of_queries_does_not_grow_with_the_street(street):
    w = street

    def count():
        with CaptureQueriesContext(connection) as q:
            dashboard.build(w.leader, w.campaign, today=TODAY)
        return len(q.captured_queries)

    count()  # warm up: the working-day calendar is loaded once per process
    before = count()
    # Three more communities, each with grids, households, cadres, visits, issues and findings.
    for n in range(3):
        community = Node.objects.create(kind=NodeKind.COMMUNITY, name=f"新社区{n}", parent=w.street)
        make_user(f"sec_new{n}", SECRETARY, scope=community, tier=Tier.SECRETARY, staff=True)
        make_user(f"staff_new{n}", CADRE, scope=community, tier=Tier.STREET_STAFF)
        for g in range(2):
            grid = Node.objects.create(kind=NodeKind.GRID, name=f"第{g + 1}网格", parent=community)
            worker = make_user(f"grid_new{n}{g}", CADRE, scope=grid, tier=Tier.GRID_WORKER)
            for k in range(3):
                h = make_household(grid, f"{k + 1}01", f"新户{n}{g}{k}", 300 + n * 10 + g * 3 + k)
                Assignment.objects.create(campaign=w.campaign, household=h, cadre=worker.cadre, tier=Tier.GRID_WORKER)
                visit(w, h, worker, D(2026, 8, 1 + k), minutes=35)
                make_issue(h, registered_on=D(2026, 8, 3))
        Finding.objects.create(campaign=w.campaign, community=community, method="onsite", kind="incomplete", evidence="x",
                               found_on=D(2026, 11, 1))  # fmt: skip
    assert count() == before


@pytest.mark.django_db
def test_the_rows_behind_the_figures(client, street):
    w = street
    client.force_login(w.leader)
    short = client.get("/reports/visits/", {"short": "1", "to": "2026-12-01"}).content.decode()
    assert short.count('class="issue-item"') == 1 and "20分钟" in short  # the 20-minute visit only
    not_home = client.get("/reports/visits/", {"method": "not_home"}).content.decode()
    assert not_home.count('class="issue-item"') == 1 and "李乙" in not_home
    unsolved = client.get("/reports/followups/", {"status": "done", "solved": "0"}).content.decode()
    assert f"#{w.i4.pk} " in unsolved and f"#{w.i1.pk} " not in unsolved
    unvisited = client.get("/reports/unvisited/", {"tag": FocusGroup.objects.get(name="高龄老人").pk}).content.decode()
    assert "赵丁" in unvisited and "张甲" not in unvisited
    board = client.get("/reports/").content.decode()
    assert "/reports/visits/?" in board and "/reports/followups/?" in board and "/reports/unvisited/?" in board


@pytest.mark.django_db
def test_the_tallied_figures_equal_a_count_of_the_visits_for_any_range(rw):
    """The dashboard counts tallies (visits/tally.py), not visits: for random visits and random date
    ranges its coverage, street staff' share, secretaries' and half-year figures equal a count made
    here from the visits themselves."""
    import random

    from visitplan.allocation import LINK_TIERS

    w, rng = rw, random.Random(7)
    households = [w.ha, w.hb, w.hc]
    for n in range(9):
        households.append(make_household(w.grid_a if n % 2 else w.hc.grid, f"9{n:02d}", f"住户{n}", 30 + n))
    for h in households:
        Assignment.objects.get_or_create(
            campaign=w.campaign, household=h, cadre=w.worker_a.cadre, defaults={"tier": Tier.GRID_WORKER}
        )
    people = [w.worker_a, w.worker_b, w.staff1, w.staff2, w.secretary, w.leader]
    first, last = w.campaign.span()
    for _ in range(150):
        day = first + datetime.timedelta(days=rng.randrange((min(last, TODAY) - first).days + 1))
        visit(w, rng.choice(households), rng.choice(people), day, method=rng.choice(["in_person", "phone", "not_home"]))
    tally.rebuild(w.campaign)  # and the rebuild agrees with what record() kept: the figures below hold for both
    counted = Visit.objects.counted().filter(campaign=w.campaign)
    for _ in range(12):
        a = first + datetime.timedelta(days=rng.randrange(200))
        b = a + datetime.timedelta(days=rng.randrange(120))
        board = dashboard.build(w.leader, w.campaign, today=TODAY, start=a, end=b)
        p = board.period
        in_range = counted.filter(visited_on__range=(p.first, p.last))
        by_community = {}
        for h in Household.objects.filter(community_id__in=[c["id"] for c in board.coverage["communities"]]):
            c = by_community.setdefault(h.community_id, {"total": 0, "visited": 0, "staff": 0})
            c["total"] += 1
            c["visited"] += in_range.filter(household=h).exists()
            c["staff"] += in_range.filter(household=h, cadre__tier=Tier.STREET_STAFF).exists()
        assert {c["id"]: {"total": c["total"], "visited": c["visited"], "staff": c["by_staff"]}
                for c in board.coverage["communities"]} == by_community, (a, b)  # fmt: skip
        assert [r["visited"] for r in board.targets["street_staff"]] == [by_community[r["community_id"]]["staff"]
                                                                          for r in board.targets["street_staff"]]  # fmt: skip
    # Not by range: the secretaries' 户户到 (over the households assigned to him: his community's) and the
    # half-year rule, by the visits' own dates.
    sec = w.secretary.cadre
    for h in households:
        if h.community_id == sec.scope_id:
            Assignment.objects.create(campaign=w.campaign, household=h, cadre=sec, tier=Tier.SECRETARY)
    t = dashboard.build(w.leader, w.campaign, today=TODAY).targets
    mine = counted.filter(cadre=sec, household__community_id=sec.scope_id).values("household_id").distinct().count()
    assert [r["visited"] for r in t["secretaries"]] == [mine]
    h1, h2 = (D(2026, 1, 1), D(2026, 6, 30)), (D(2026, 7, 1), D(2026, 12, 31))
    now = both = total = 0
    for a in Assignment.objects.filter(campaign=w.campaign, tier__in=LINK_TIERS):
        mine = counted.filter(household=a.household_id, cadre=a.cadre_id)
        in1, in2 = mine.filter(visited_on__range=h1).exists(), mine.filter(visited_on__range=h2).exists()
        total, now, both = total + 1, now + in2, both + (in1 and in2)
    assert (t["linked_total"], t["linked_now"], t["linked_both"]) == (total, now, both)
