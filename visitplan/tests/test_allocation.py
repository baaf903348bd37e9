"""包户到人: every rule of visitplan/allocation.py, the command and the admin."""

import datetime
import math
import threading
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command, execute_from_command_line
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from households.models import FocusGroup, Grid
from households.roles import STREET_ADMIN
from visitplan.allocation import LINK_TIERS, allocate, coverage, months_touched, reassign_cadre
from visitplan.models import Assignment, Cadre, Tier

from . import factories as f

pytestmark = pytest.mark.django_db

AUTO, MANUAL = Assignment.Source.AUTO, Assignment.Source.MANUAL


def rows(campaign, **filters):
    return Assignment.objects.filter(campaign=campaign, **filters)


def linked_households(campaign):
    return set(rows(campaign, tier__in=list(LINK_TIERS)).values_list("household_id", flat=True))


@pytest.fixture
def town():
    """2 communities × 2 grids × 2 buildings × 5 rooms = 40 households, every cadre in place."""
    t = f.build_street(communities=2, grids=2, buildings=2, rooms=5)
    t.staff = f.staff_town(t)
    return t


# --------------------------------------------------------------------------- the whole run


def test_full_run_covers_every_household_and_reports(town):
    campaign = f.campaign(town.street)
    report = allocate(campaign)

    assert report.uncovered == []
    assert report.households == 40
    assert linked_households(campaign) == {h.pk for h in town.households}
    assert set(rows(campaign).values_list("source", flat=True)) == {AUTO}
    newest = rows(campaign).latest("created_at").created_at
    assert abs(newest - timezone.now()) < datetime.timedelta(minutes=5)
    assert report.created_by_tier[Tier.SECRETARY] == 40
    assert report.created == rows(campaign).count()
    lines = report.summary_lines()
    assert "街道干部：新增 12 户，原有 0 户" in lines
    assert "未落实包户干部：0 户" in lines


def test_second_run_creates_nothing(town):
    campaign = f.campaign(town.street)
    first = allocate(campaign)
    before = sorted(rows(campaign).values_list("pk", "household_id", "cadre_id", "tier"))

    second = allocate(campaign)

    assert second.created == 0
    assert all(n == 0 for n in second.created_by_tier.values())
    assert sum(second.existing_by_tier.values()) == first.created
    assert sorted(rows(campaign).values_list("pk", "household_id", "cadre_id", "tier")) == before


def test_dry_run_writes_nothing_but_reports_the_same(town):
    campaign = f.campaign(town.street)
    preview = allocate(campaign, dry_run=True)
    assert rows(campaign).count() == 0
    real = allocate(campaign)
    assert preview.created_by_tier == real.created_by_tier
    assert preview.dry_run and "拟新增" in preview.summary_lines()[1]


# --------------------------------------------------------------------------- tier 1: leaders


def test_months_touched():
    assert months_touched(datetime.date(2026, 3, 15), datetime.date(2026, 5, 10)) == 3
    assert months_touched(datetime.date(2026, 3, 1), datetime.date(2026, 3, 31)) == 1
    assert months_touched(datetime.date(2026, 12, 20), datetime.date(2027, 1, 5)) == 2


def test_leaders_get_focus_households_within_cap_shared_evenly():
    # 40 households; every 2nd is 老党员 (key five), every 5th gets 低保户 (not a leader's group).
    t = f.build_street(communities=2, grids=2, buildings=2, rooms=5, tags_every=2)
    for h in t.households[::5]:
        h.tags.add(FocusGroup.objects.get(name="低保户"))
    enterprise = t.households[0]  # the 1st: not 老党员
    enterprise.tags.add(FocusGroup.objects.get(name="驻区企业"))
    f.staff_town(t, leaders=2)
    # 集中走访 touches March and April → cap = 3 × 2 = 6 per leader.
    campaign = f.campaign(
        t.street, visit=(datetime.date(2026, 3, 20), datetime.date(2026, 4, 5)), leader_households_per_month=3
    )
    focus = {h.pk for h in t.households if h.tags.filter(name__in=["老党员", "驻区企业"]).exists()}
    assert len(focus) == 21

    report = allocate(campaign)

    leader_rows = list(rows(campaign, tier=Tier.LEADER).values_list("household_id", "cadre_id"))
    assert {h for h, _ in leader_rows} <= focus
    assert sorted(Counter(c for _, c in leader_rows).values()) == [6, 6]
    assert len({h for h, _ in leader_rows}) == 12  # one leader per household
    assert any("每人 6 户" in n for n in report.notes) and not any("班子成员" in p for p in report.problems)
    # Spread over both communities although the cap is too small for all.
    communities = {h.community_id for h in t.households if h.pk in {h for h, _ in leader_rows}}
    assert len(communities) == 2
    # The leader's visit does not make a household linked: the grid worker still takes it.
    assert report.uncovered == []


def test_leader_scoped_to_a_community_only_visits_that_community():
    t = f.build_street(communities=2, grids=1, buildings=1, rooms=4, tags_every=1)
    leader = f.cadre("社区班子", Tier.LEADER, t.communities[0])
    campaign = f.campaign(t.street)
    report = allocate(campaign)
    visited = rows(campaign, tier=Tier.LEADER, cadre=leader).values_list("household__community_id", flat=True)
    assert set(visited) == {t.communities[0].pk}
    assert any("2社区有 4 户重点户" in p for p in report.problems)


# --------------------------------------------------------------------------- tier 2: departments


def test_department_quota_met_round_robin_and_one_department_per_household():
    t = f.build_street(communities=1, grids=2, buildings=1, rooms=5)  # 10 households
    f.staff_town(t)
    civil, health = f.department("区民政局"), f.department("区卫健局")
    a1 = f.cadre("民政甲", Tier.DEPARTMENT, t.street, department=civil)
    a2 = f.cadre("民政乙", Tier.DEPARTMENT, t.street, department=civil)
    b1 = f.cadre("卫健甲", Tier.DEPARTMENT, t.street, department=health)
    campaign = f.campaign(t.street)
    community = t.communities[0]
    f.quota(campaign, civil, community, 5)
    f.quota(campaign, health, community, 4)

    allocate(campaign)

    dept_rows = rows(campaign, tier=Tier.DEPARTMENT)
    per_cadre = Counter(dept_rows.values_list("cadre_id", flat=True))
    assert per_cadre[a1.pk] + per_cadre[a2.pk] == 5 and abs(per_cadre[a1.pk] - per_cadre[a2.pk]) <= 1
    assert per_cadre[b1.pk] == 4
    households = list(dept_rows.values_list("household_id", flat=True))
    assert len(households) == len(set(households)) == 9
    assert set(dept_rows.filter(cadre__in=[a1, a2]).values_list("department_id", flat=True)) == {civil.pk}


def test_department_quota_counts_manual_rows_and_reports_shortage_and_missing_cadres():
    t = f.build_street(communities=1, grids=1, buildings=1, rooms=6)  # 6 households
    f.staff_town(t)
    civil, police, tax = f.department("区民政局"), f.department("区公安分局"), f.department("区税务局")
    a = f.cadre("民政甲", Tier.DEPARTMENT, t.street, department=civil)
    p = f.cadre("公安甲", Tier.DEPARTMENT, t.street, department=police)
    campaign = f.campaign(t.street)
    community = t.communities[0]
    manual = Assignment.objects.create(campaign=campaign, household=t.households[0], cadre=a, source=MANUAL)
    assert manual.tier == Tier.DEPARTMENT and manual.department_id == civil.pk
    f.quota(campaign, civil, community, 3)
    f.quota(campaign, police, community, 10)  # only 3 households left for it
    f.quota(campaign, tax, community, 2)  # no cadre at all

    report = allocate(campaign)

    assert rows(campaign, tier=Tier.DEPARTMENT, department=civil).count() == 3
    assert report.created_by_tier[Tier.DEPARTMENT] == 2 + 3
    assert rows(campaign, tier=Tier.DEPARTMENT, cadre=p).count() == 3
    assert any("区公安分局" in m and "本次只能新增 3 户" in m for m in report.problems)
    assert any("区税务局没有在岗的挂包干部" in m for m in report.problems)
    assert Assignment.objects.get(pk=manual.pk).source == MANUAL


def test_department_cadres_on_the_community_branch_are_preferred():
    t = f.build_street(communities=2, grids=1, buildings=1, rooms=4)
    f.staff_town(t)
    civil = f.department()
    c1, c2 = t.communities
    near = f.cadre("民政一社区", Tier.DEPARTMENT, c1, department=civil)
    far = f.cadre("民政二社区", Tier.DEPARTMENT, c2, department=civil)
    campaign = f.campaign(t.street)
    f.quota(campaign, civil, c1, 3)
    allocate(campaign)
    assert rows(campaign, cadre=near).count() == 3 and not rows(campaign, cadre=far).exists()


# --------------------------------------------------------------------------- tier 3: street staff


@pytest.mark.parametrize("rooms,share,expected", [(7, 30, 3), (10, 30, 3), (10, 35, 4), (5, 0, 0)])
def test_street_staff_at_least_share_per_community_rounded_up(rooms, share, expected):
    t = f.build_street(communities=2, grids=1, buildings=1, rooms=rooms)
    f.staff_town(t)
    campaign = f.campaign(t.street, street_staff_share=share)
    allocate(campaign)
    for c in t.communities:
        n = rows(campaign, tier=Tier.STREET_STAFF, household__community=c).count()
        assert n == expected == math.ceil(rooms * share / 100)


def test_street_staff_prefers_unlinked_households_and_counts_manual(town):
    campaign = f.campaign(town.street)
    c1 = town.communities[0]
    staff = Cadre.objects.get(name=f"{c1.name}街道干部1")
    # 2 manual tier-3 rows count toward the 6 (30% of 20); a department holds 5 others.
    Assignment.objects.create(campaign=campaign, household=town.households[0], cadre=staff)
    Assignment.objects.create(campaign=campaign, household=town.households[1], cadre=staff)
    dept = f.department()
    f.cadre("民政甲", Tier.DEPARTMENT, town.street, department=dept)
    f.quota(campaign, dept, c1, 5)

    report = allocate(campaign)

    assert rows(campaign, tier=Tier.STREET_STAFF, household__community=c1).count() == 6
    assert report.existing_by_tier[Tier.STREET_STAFF] == 2
    dept_households = set(rows(campaign, tier=Tier.DEPARTMENT).values_list("household_id", flat=True))
    new_staff = set(
        rows(campaign, tier=Tier.STREET_STAFF, source=AUTO, household__community=c1).values_list(
            "household_id", flat=True
        )
    )
    assert len(new_staff) == 4 and not new_staff & dept_households


def test_community_without_street_staff_is_reported():
    t = f.build_street(communities=1, grids=1, buildings=1, rooms=3)
    f.staff_town(t, street_staff=0)
    report = allocate(f.campaign(t.street))
    assert any("1社区没有在岗的街道干部" in p for p in report.problems)
    assert report.uncovered == []  # grid workers still cover everyone


def test_street_staff_round_robin_between_two():
    t = f.build_street(communities=1, grids=1, buildings=1, rooms=10)
    made = f.staff_town(t, street_staff=2)
    campaign = f.campaign(t.street, street_staff_share=50)
    allocate(campaign)
    counts = Counter(rows(campaign, tier=Tier.STREET_STAFF).values_list("cadre_id", flat=True))
    assert sorted(counts.values()) == [2, 3]
    assert set(counts) == {c.pk for c in made["street_staff"]}


# --------------------------------------------------------------------------- tier 4: secretary


def test_secretary_gets_every_household_of_the_community(town):
    campaign = f.campaign(town.street)
    allocate(campaign)
    for secretary in town.staff["secretaries"]:
        got = set(rows(campaign, cadre=secretary).values_list("household_id", flat=True))
        assert got == {h.pk for h in town.in_community(secretary.scope)}
        assert set(rows(campaign, cadre=secretary).values_list("tier", flat=True)) == {Tier.SECRETARY}


def test_missing_secretary_is_a_problem_not_uncovered():
    t = f.build_street(communities=1, grids=1, buildings=1, rooms=3)
    f.staff_town(t, secretaries=0)
    report = allocate(f.campaign(t.street))
    assert any("没有在岗的社区书记" in p for p in report.problems)
    assert report.uncovered == []


# --------------------------------------------------------------------------- tiers 5 and 6: proximity


def test_committee_member_scoped_to_a_building_takes_its_unlinked_households():
    t = f.build_street(communities=1, grids=1, buildings=2, rooms=5)
    f.staff_town(t, street_staff=0)
    building = t.buildings[t.grids["1社区"][0].pk][0]
    member = f.cadre("楼长委员", Tier.COMMITTEE, building)
    campaign = f.campaign(t.street)
    allocate(campaign)
    got = set(rows(campaign, cadre=member).values_list("household_id", flat=True))
    assert got == {h.pk for h in t.households if h.building_id == building.pk}
    assert set(rows(campaign, cadre=member).values_list("tier", flat=True)) == {Tier.COMMITTEE}
    # The grid worker takes the other building.
    worker = Cadre.objects.get(tier=Tier.GRID_WORKER)
    assert rows(campaign, cadre=worker).count() == 5


def test_committee_member_of_a_grid_takes_a_contiguous_equal_share_in_address_order():
    t = f.build_street(communities=1, grids=1, buildings=0, rooms=0)
    g = t.grids["1社区"][0]
    b2, b10 = f.building(g, "10号楼"), f.building(g, "2号楼")  # created in the "wrong" order on purpose
    for b in (b2, b10):
        for room in ("102", "1001", "201", "101"):
            f.household(g, room, building_node=b, unit="1单元")
    f.staff_town(t, street_staff=0)
    members = [f.cadre("委员甲", Tier.COMMITTEE, g), f.cadre("委员乙", Tier.COMMITTEE, g)]
    campaign = f.campaign(t.street)

    allocate(campaign)

    # Address order: 2号楼 101, 102, 201, 1001, then 10号楼 101, 102, 201, 1001.
    ordered = list(
        rows(campaign, tier__in=[Tier.COMMITTEE, Tier.GRID_WORKER]).values_list(
            "household__building__name", "household__room", "cadre__name"
        )
    )
    natural = sorted(ordered, key=lambda r: (int(r[0].rstrip("号楼")), int(r[1])))
    owners = [r[2] for r in natural]
    # 8 households / (2 members + 1 grid worker) = 2 each for the members, the rest for the worker.
    assert owners == ["委员甲", "委员甲", "委员乙", "委员乙"] + ["1社区第1网格网格员1"] * 4
    assert Counter(owners)["委员甲"] == 2 and {m.name for m in members} <= set(owners)


def test_committee_members_without_grid_worker_share_the_whole_grid():
    t = f.build_street(communities=1, grids=1, buildings=1, rooms=5)
    f.staff_town(t, street_staff=0, grid_workers=0)
    g = t.grids["1社区"][0]
    f.cadre("委员甲", Tier.COMMITTEE, g)
    f.cadre("委员乙", Tier.COMMITTEE, g)
    campaign = f.campaign(t.street)
    report = allocate(campaign)
    assert report.uncovered == []
    assert sorted(Counter(rows(campaign, tier=Tier.COMMITTEE).values_list("cadre_id", flat=True)).values()) == [2, 3]


def test_grid_workers_cover_the_rest_and_nothing_is_uncovered(town):
    campaign = f.campaign(town.street)
    report = allocate(campaign)
    for worker in town.staff["grid_workers"]:
        got = set(rows(campaign, cadre=worker).values_list("household_id", flat=True))
        grid_households = {h.pk for h in town.in_grid(worker.scope)}
        staff = set(rows(campaign, tier=Tier.STREET_STAFF).values_list("household_id", flat=True))
        assert got == grid_households - staff
    assert report.uncovered == []
    assert all(v["unlinked"] == 0 for v in coverage(campaign).values())


def test_grid_without_worker_is_uncovered_and_named_with_reason():
    t = f.build_street(communities=1, grids=2, buildings=1, rooms=3)
    f.staff_town(t, street_staff=0)
    lonely = t.grids["1社区"][1]
    Cadre.objects.filter(scope=lonely).delete()
    campaign = f.campaign(t.street)

    report = allocate(campaign)

    assert [u[0] for u in report.uncovered] == [h.pk for h in t.in_grid(lonely)]
    household_id, address, reason = report.uncovered[0]
    assert "1号楼1单元101" in address and "户主101" in address
    assert reason == "1社区第2网格没有在岗网格员"
    assert "未落实包户干部：3 户" in report.summary_lines()


# --------------------------------------------------------------------------- manual, inactive


def test_manual_assignments_are_never_moved_or_deleted_and_count(town):
    campaign = f.campaign(town.street)
    g = town.grids["1社区"][0]
    worker = Cadre.objects.get(scope=g, tier=Tier.GRID_WORKER)
    other_worker = Cadre.objects.get(scope=town.grids["1社区"][1], tier=Tier.GRID_WORKER)
    # A hand-made link across grids and a hand-made secretary-like row.
    h = town.in_grid(g)[0]
    manual = Assignment.objects.create(campaign=campaign, household=h, cadre=other_worker)
    before = Assignment.objects.filter(pk=manual.pk).values().get()

    report = allocate(campaign)

    assert Assignment.objects.filter(pk=manual.pk).values().get() == before
    # It counts: the household is linked, the grid's own worker does not get it too.
    assert not rows(campaign, cadre=worker, household=h).exists()
    assert report.existing_by_tier[Tier.GRID_WORKER] == 1
    allocate(campaign)
    assert Assignment.objects.filter(pk=manual.pk).values().get() == before


def test_inactive_cadres_get_nothing_and_their_rows_do_not_count(town):
    campaign = f.campaign(town.street)
    g = town.grids["1社区"][0]
    worker = Cadre.objects.get(scope=g, tier=Tier.GRID_WORKER)
    h = town.in_grid(g)[0]
    Assignment.objects.create(campaign=campaign, household=h, cadre=worker)
    worker.active = False
    worker.save()
    f.cadre("离岗书记", Tier.SECRETARY, town.communities[0], active=False)
    f.cadre("离岗班子", Tier.LEADER, town.street, active=False)

    report = allocate(campaign)

    assert not rows(campaign, cadre__active=False, source=AUTO).exists()
    assert rows(campaign, cadre=worker).count() == 1  # the old row stays, untouched
    assert any("已不在岗" in p for p in report.problems)
    staff = set(rows(campaign, tier=Tier.STREET_STAFF).values_list("household_id", flat=True))
    assert h.pk in staff  # the inactive worker's row did not count: street staff took it first
    assert [u[0] for u in report.uncovered] == [x.pk for x in town.in_grid(g) if x.pk not in staff]
    assert {u[2] for u in report.uncovered} == {"1社区第1网格没有在岗网格员"}


def test_cadres_not_taking_households_get_nothing(town):
    campaign = f.campaign(town.street)
    office = town.staff["street_staff"][0]
    office.takes_households = False
    office.save()
    allocate(campaign)
    assert not rows(campaign, cadre=office).exists()
    assert rows(campaign, tier=Tier.STREET_STAFF).count() == 6  # the other community's staff only
    assert rows(campaign, tier=Tier.STREET_STAFF, household__community=office.scope).count() == 0


def test_cadre_with_unusable_scope_is_reported():
    t = f.build_street(communities=1, grids=1, buildings=1, rooms=2)
    f.staff_town(t)
    f.cadre("全街网格员", Tier.GRID_WORKER, t.street)
    report = allocate(f.campaign(t.street))
    assert any("全街网格员" in p and "应为网格或楼栋" in p for p in report.problems)


def test_coverage_counts_per_community(town):
    campaign = f.campaign(town.street)
    allocate(campaign)
    cov = coverage(campaign)
    assert [v["name"] for v in cov.values()] == ["1社区", "2社区"]
    first = cov[town.communities[0].pk]
    assert first["total"] == 20 and first["linked"] == 20 and first["street_staff"] == 6
    assert first["street_staff_target"] == 6 and first["street_staff_ok"] and first["secretary"] == 20


# --------------------------------------------------------------------------- reassign


def test_reassign_moves_dedupes_and_becomes_manual(town):
    campaign = f.campaign(town.street)
    allocate(campaign)
    g1, g2 = town.grids["1社区"]
    leaving = Cadre.objects.get(scope=g1, tier=Tier.GRID_WORKER)
    successor = f.cadre("新网格员", Tier.COMMITTEE, g1)
    theirs = list(rows(campaign, cadre=leaving).values_list("household_id", flat=True))
    Assignment.objects.create(campaign=campaign, household_id=theirs[0], cadre=successor)  # already has one
    other = f.campaign(town.street)
    Assignment.objects.create(campaign=other, household_id=theirs[1], cadre=leaving)

    report = reassign_cadre(from_cadre=leaving, to_cadre=successor)

    assert report.moved == len(theirs) - 1 + 1 and report.dropped == 1
    assert not Assignment.objects.filter(cadre=leaving).exists()
    moved = Assignment.objects.filter(cadre=successor, campaign=campaign)
    assert set(moved.values_list("household_id", flat=True)) == set(theirs)
    assert set(moved.exclude(household_id=theirs[0]).values_list("source", "tier")) == {(MANUAL, Tier.COMMITTEE)}
    assert Assignment.objects.filter(cadre=successor, campaign=other).count() == 1


def test_reassign_one_campaign_only(town):
    campaign, other = f.campaign(town.street), f.campaign(town.street)
    g1 = town.grids["1社区"][0]
    leaving = Cadre.objects.get(scope=g1, tier=Tier.GRID_WORKER)
    successor = f.cadre("新网格员", Tier.GRID_WORKER, g1)
    h = town.in_grid(g1)[0]
    Assignment.objects.create(campaign=campaign, household=h, cadre=leaving)
    Assignment.objects.create(campaign=other, household=h, cadre=leaving)
    report = reassign_cadre(from_cadre=leaving, to_cadre=successor, campaign=campaign)
    assert report.moved == 1
    assert Assignment.objects.filter(cadre=leaving, campaign=other).count() == 1


def test_reassign_refuses_self_and_inactive_target(town):
    a, b = town.staff["grid_workers"][:2]
    with pytest.raises(ValueError, match="本人"):
        reassign_cadre(from_cadre=a, to_cadre=a)
    b.active = False
    b.save()
    with pytest.raises(ValueError, match="不在岗"):
        reassign_cadre(from_cadre=a, to_cadre=b)


def test_reassign_skips_moves_that_would_give_two_departments(town):
    campaign = f.campaign(town.street)
    civil, health = f.department("区民政局"), f.department("区卫健局")
    worker = town.staff["grid_workers"][0]
    civil_cadre = f.cadre("民政甲", Tier.DEPARTMENT, town.street, department=civil)
    health_cadre = f.cadre("卫健甲", Tier.DEPARTMENT, town.street, department=health)
    h1, h2 = town.in_grid(worker.scope)[:2]
    Assignment.objects.create(campaign=campaign, household=h1, cadre=worker)
    Assignment.objects.create(campaign=campaign, household=h2, cadre=worker)
    Assignment.objects.create(campaign=campaign, household=h1, cadre=civil_cadre)

    report = reassign_cadre(from_cadre=worker, to_cadre=health_cadre)

    assert report.moved == 1 and len(report.skipped) == 1
    assert "区民政局" in report.skipped[0] and "一户只能由一个部门包户" in report.skipped[0]
    moved = Assignment.objects.get(cadre=health_cadre)
    assert (moved.household_id, moved.tier, moved.department_id) == (h2.pk, Tier.DEPARTMENT, health.pk)
    assert Assignment.objects.filter(cadre=worker, household=h1).exists()  # left in place


# --------------------------------------------------------------------------- the command


def test_command_prints_summary_and_uncovered(town, capsys):
    campaign = f.campaign(town.street)
    Cadre.objects.filter(scope=town.grids["2社区"][0], tier=Tier.GRID_WORKER).delete()
    call_command("allocate", "--campaign", str(campaign.pk), "--dry-run")
    out = capsys.readouterr().out
    assert "试算" in out and "网格员：拟新增" in out
    assert "2社区第1网格没有在岗网格员" in out
    assert rows(campaign).count() == 0
    call_command("allocate", "--campaign", str(campaign.pk))
    assert "未落实包户干部：" in capsys.readouterr().out
    assert rows(campaign).exists()


def test_command_exits_non_zero_for_missing_campaign(capsys):
    with pytest.raises(CommandError, match="不存在"):
        call_command("allocate", "--campaign", "999999")
    with pytest.raises(SystemExit) as exit_info:
        execute_from_command_line(["manage.py", "allocate", "--campaign", "999999"])
    assert exit_info.value.code != 0
    assert "走访活动 999999 不存在" in capsys.readouterr().err


# --------------------------------------------------------------------------- the admin


@pytest.fixture
def superuser_client(client):
    user = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client


def test_admin_action_allocates_and_shows_summary(town, superuser_client, django_capture_on_commit_callbacks):
    campaign = f.campaign(town.street)
    url = reverse("admin:visitplan_campaign_changelist")
    # A background job (visitplan/admin_jobs.py; Celery eager in the tests), whose page shows the summary.
    with django_capture_on_commit_callbacks(execute=True):
        started = superuser_client.post(url, {"action": "allocate_action", "_selected_action": [campaign.pk]})
    response = superuser_client.get(started.url)
    assert response.status_code == 200
    text = response.content.decode()
    assert "未落实包户干部：0 户" in text and "街道干部：新增 12 户" in text
    assert linked_households(campaign) == {h.pk for h in town.households}


def test_admin_report_page_previews_and_runs(town, superuser_client, django_capture_on_commit_callbacks):
    campaign = f.campaign(town.street)
    url = reverse("admin:visitplan_campaign_allocation", args=[campaign.pk])
    page = superuser_client.get(url)
    assert page.status_code == 200 and "各社区包户覆盖情况" in page.content.decode()
    preview = superuser_client.get(url + "?preview=1")
    assert "试算结果" in preview.content.decode()
    assert rows(campaign).count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        started = superuser_client.post(url)
    assert started.status_code == 302  # to the page of the background job (visitplan/admin_jobs.py)
    done = superuser_client.get(started.url)
    assert done.status_code == 200 and "合计新增包户关系" in done.content.decode() and url in done.content.decode()
    assert rows(campaign).exists()
    change = superuser_client.get(reverse("admin:visitplan_campaign_change", args=[campaign.pk]))
    assert url in change.content.decode()


def test_admin_lists_render(town, superuser_client):
    campaign = f.campaign(town.street)
    allocate(campaign)
    for name in ("cadre", "campaign", "stage", "departmentquota", "assignment", "department"):
        response = superuser_client.get(reverse(f"admin:visitplan_{name}_changelist"))
        assert response.status_code == 200, name
    response = superuser_client.get(
        reverse("admin:visitplan_assignment_changelist"), {"campaign": campaign.pk, "tier": Tier.GRID_WORKER}
    )
    assert response.status_code == 200


def test_admin_reassign_action_with_intermediate_page(town, superuser_client):
    campaign = f.campaign(town.street)
    allocate(campaign)
    g1 = town.grids["1社区"][0]
    leaving = Cadre.objects.get(scope=g1, tier=Tier.GRID_WORKER)
    successor = f.cadre("新网格员", Tier.GRID_WORKER, g1)
    n = rows(campaign, cadre=leaving).count()
    url = reverse("admin:visitplan_cadre_changelist")

    page = superuser_client.post(url, {"action": "reassign_action", "_selected_action": [leaving.pk]})
    assert page.status_code == 200 and "确认转交" in page.content.decode()
    assert rows(campaign, cadre=leaving).count() == n

    done = superuser_client.post(
        url,
        {"action": "reassign_action", "_selected_action": [leaving.pk], "to_cadre": successor.pk, "apply": "1"},
        follow=True,
    )
    assert done.status_code == 200 and f"转交 {n} 户" in done.content.decode()
    assert rows(campaign, cadre=successor).count() == n and not rows(campaign, cadre=leaving).exists()

    self_target = superuser_client.post(
        url,
        {"action": "reassign_action", "_selected_action": [successor.pk], "to_cadre": successor.pk, "apply": "1"},
    )
    assert "确认转交" in self_target.content.decode()  # the form refuses: not in the choices
    assert rows(campaign, cadre=successor).count() == n


def test_admin_is_scoped_and_community_admin_cannot_allocate_the_street(town, client):
    campaign = f.campaign(town.street)
    user = get_user_model().objects.create_user("c1admin", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=STREET_ADMIN))
    f.cadre("一社区管理员", Tier.SECRETARY, town.communities[0], user=user)
    client.force_login(user)

    cadres = client.get(reverse("admin:visitplan_cadre_changelist")).context["cl"].result_list
    assert cadres and all(c.scope.path.startswith(town.communities[0].path) for c in cadres)

    response = client.post(
        reverse("admin:visitplan_campaign_changelist"),
        {"action": "allocate_action", "_selected_action": [campaign.pk]},
        follow=True,
    )
    assert "不能为该活动自动分配" in response.content.decode()
    assert not rows(campaign).exists()


# --------------------------------------------------------------------------- PostgreSQL: two runs at once


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_do_not_double_assign(on_postgres):
    t = f.build_street(communities=2, grids=2, buildings=2, rooms=10)
    f.staff_town(t)
    campaign = f.campaign(t.street)
    results, errors = [], []
    barrier = threading.Barrier(2)

    def run():
        try:
            barrier.wait()
            results.append(allocate(campaign).created)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert sorted(results)[0] == 0 and sorted(results)[1] == rows(campaign).count()
    pairs = list(rows(campaign).values_list("household_id", "cadre_id"))
    assert len(pairs) == len(set(pairs))


def test_street_staff_and_departments_take_a_share_of_every_grid():
    # 3 grids × 10 households; street staff 30% and a department 6 households of the community.
    t = f.build_street(communities=1, grids=3, buildings=1, rooms=10)
    f.staff_town(t)
    campaign = f.campaign(t.street)
    dept = f.department()
    f.cadre("民政甲", Tier.DEPARTMENT, t.street, department=dept)
    f.quota(campaign, dept, t.communities[0], 6)
    allocate(campaign)
    for grid in Grid.objects.filter(parent=t.communities[0]):
        in_grid = rows(campaign, household__grid=grid)
        assert in_grid.filter(tier=Tier.STREET_STAFF).count() == 3
        assert in_grid.filter(tier=Tier.DEPARTMENT).count() == 2
        # The rest of the grid is the grid worker's (or its 两委 member's), never an empty grid.
        assert in_grid.filter(tier__in=[Tier.COMMITTEE, Tier.GRID_WORKER]).count() == 5
