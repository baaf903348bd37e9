"""The monthly 入户表 (reports/monthly.py) lists every active cadre of the street, and sets each against
the month's target of the campaign's rulebook.

北岭街道, a 2026 campaign on 003's rulebook (班子成员每月至少 10 天、50 户, by 入户 or 座谈), October 2026:

    lead10   visits 50 households over 10 days                → 达标
    lead9    visits 50 households over 9 days (and a phone call on a 10th: 003 counts no phone call)
                                                              → 未达标, 差 1 天 0 户
    lead0    no visit                                         → a row of zeros, 未达标, 差 10 天 50 户
    idle     网格员 with 3 households, no visit                → a row of zeros, 3 households still due
    busy     网格员 with 2 households, one visited in October  → 1 still due
    gone     网格员 no longer 在岗                              → no row
"""

import datetime
import uuid

import pytest
from django.urls import reverse

from households.models import Node, NodeKind
from households.roles import CADRE, LEADER, STREET_ADMIN, sync_role_groups
from reports import monthly
from reports.models import MonthlyCadreRow
from reports.tests.workbooks import as_dicts, workbook_of
from tests.support.world import make_household, make_user
from visitplan.models import Assignment, Cadre, Campaign, Stage, StageKind, Tier
from visitplan.rulebook import apply_preset, update_rules
from visits import tally
from visits.models import Visit

D = datetime.date
OCTOBER = D(2026, 10, 1)


def visit(campaign, household, user, day, method="in_person"):
    made = Visit.objects.create(
        campaign=campaign, household=household, cadre=user.cadre, method=method, visited_on=day,
        started_at=datetime.time(9, 0), ended_at=datetime.time(9, 40), duration_minutes=40, key=uuid.uuid4(),
        created_by=user,
    )  # fmt: skip
    tally.record(made)
    return made


@pytest.fixture
def mz(db, monkeypatch):
    monkeypatch.setattr("core.clock.today", lambda: D(2026, 12, 6))
    sync_role_groups()
    street = Node.objects.create(kind=NodeKind.STREET, name="北岭街道")
    community = Node.objects.create(kind=NodeKind.COMMUNITY, name="北岭社区", parent=street)
    grid = Node.objects.create(kind=NodeKind.GRID, name="第1网格", parent=community)
    campaign = Campaign(year=2026, name="大走访", street=street)
    apply_preset(campaign, "003")
    campaign.save()
    Stage.objects.create(campaign=campaign, kind=StageKind.VISIT, starts_on=D(2026, 3, 1), ends_on=D(2026, 12, 31))
    households = [make_household(grid, f"{n:03d}", f"户主{n}", n) for n in range(1, 56)]
    users = {
        "admin": make_user("admin", STREET_ADMIN, scope=street, tier=Tier.STREET_STAFF, staff=True),
        **{name: make_user(name, LEADER, scope=street, tier=Tier.LEADER) for name in ("lead10", "lead9", "lead0")},
        **{name: make_user(name, CADRE, scope=grid, tier=Tier.GRID_WORKER) for name in ("idle", "busy", "gone")},
    }
    Cadre.objects.filter(pk=users["gone"].cadre.pk).update(active=False)
    for days, leader in ((10, "lead10"), (9, "lead9")):
        for n, household in enumerate(households[:50]):  # 50 households, 50 // days a day
            visit(campaign, household, users[leader], D(2026, 10, 1 + n % days))
    visit(campaign, households[0], users["lead9"], D(2026, 10, 20), method="phone")
    for cadre, mine in (("idle", households[50:53]), ("busy", households[53:55])):
        for household in mine:
            Assignment.objects.create(
                campaign=campaign, household=household, cadre=users[cadre].cadre, tier=Tier.GRID_WORKER
            )
    visit(campaign, households[53], users["busy"], D(2026, 10, 8))
    visit(campaign, households[0], users["gone"], D(2026, 10, 8))
    return {"street": street, "campaign": campaign, **users}


TARGETS = ("days_visited", "households_visited", "target_days", "target_households", "target_met", "short_days",
           "short_households", "households_due")  # fmt: skip


def rows(month=OCTOBER):
    return {
        r.cadre.name: tuple(getattr(r, name) for name in TARGETS)
        for r in MonthlyCadreRow.objects.filter(report__month=month).select_related("cadre")
    }


@pytest.mark.django_db
def test_every_active_cadre_has_a_row_and_the_leaders_are_set_against_the_rulebooks_month(mz):
    monthly.build_monthly_report(month=OCTOBER)
    assert rows() == {
        "lead10": (10, 50, 10, 50, True, 0, 0, None),
        "lead9": (9, 50, 10, 50, False, 1, 0, None),
        "lead0": (0, 0, 10, 50, False, 10, 50, None),
        "idle": (0, 0, None, None, None, None, None, 3),
        "busy": (1, 1, None, None, None, None, None, 1),
        "admin": (0, 0, None, None, None, None, None, 0),  # 街道干部 without households: none due
    }
    zero = MonthlyCadreRow.objects.get(cadre=mz["idle"].cadre)
    assert (zero.visits, zero.issues_raised, zero.issues_solved, zero.community.name) == (0, 0, 0, "北岭社区")


@pytest.mark.django_db
def test_the_target_is_the_campaigns_rulebooks_and_a_rebuild_follows_it(mz):
    monthly.build_monthly_report(month=OCTOBER)
    update_rules(mz["campaign"], {"leader_days_per_month": 9, "leader_households_per_month": 40})
    monthly.build_monthly_report(month=OCTOBER)
    monthly.build_monthly_report(month=OCTOBER)  # idempotent: the same rows again
    got = rows()
    assert got["lead9"] == (9, 50, 9, 40, True, 0, 0, None)
    assert got["lead0"] == (0, 0, 9, 40, False, 9, 40, None)
    assert MonthlyCadreRow.objects.filter(report__month=OCTOBER).count() == 6


@pytest.mark.django_db
def test_a_month_without_a_campaign_lists_the_cadres_without_targets(mz):
    monthly.build_monthly_report(month=D(2026, 1, 1))  # before the campaign's stages
    got = rows(D(2026, 1, 1))
    assert set(got) == {"admin", "lead10", "lead9", "lead0", "idle", "busy"}
    assert all(r == (0, 0, None, None, None, None, None, None) for r in got.values())


@pytest.mark.django_db
def test_the_export_shows_the_target_the_verdict_and_the_shortfall(client, mz):
    client.force_login(mz["admin"])
    book = workbook_of(client.get(reverse("reports:ledger_monthly"), {"month": "2026-10"}))
    by_name = {r["姓名"]: r for r in as_dicts(book[book.sheetnames[0]])}
    assert [by_name["lead10"][k] for k in ("走访天数", "走访户数", "月度任务", "完成情况", "差天数", "差户数")] == [
        10, 50, "10天/50户", "达标", 0, 0
    ]  # fmt: skip
    assert [by_name["lead9"][k] for k in ("走访天数", "月度任务", "完成情况", "差天数", "差户数")] == [
        9, "10天/50户", "未达标", 1, 0
    ]  # fmt: skip
    idle = by_name["idle"]
    assert (idle["走访次数"], idle["月度任务"], idle["完成情况"], idle["待走访户数"]) == (0, None, None, 3)
    total = by_name["6人"]  # the totals row: six cadres ("gone" is not 在岗), two leaders short, 3 + 1 households due
    assert (total["序号"], total["完成情况"], total["待走访户数"]) == ("合计", "未达标2人", 4)
