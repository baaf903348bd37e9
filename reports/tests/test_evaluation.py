"""综合评议 (reports/evaluation.py): each cadre's and unit's rates counted by hand, the ranking, the page
and its scope, the Excel export.

东山街道, a 2026 campaign on 001's rulebook (stages 3-01 … 12-15), evaluated on 2026-12-06:

    w1 (网格员, 东山社区)   包户 h1–h4; visits h1 满意, h2 基本满意, h3 不满意 (h4 not visited); a 回头看 不满意;
                           raised i1 (办结 on time), i2 (办结 late), i3 (open), i0 (办结 late, but before the
                           campaign began: not counted)
                           → 满意率 2/4 = 50.0, 覆盖率 3/4 = 75.0, 按时办结率 1/2 = 50.0
                           → 综合 (40×50 + 40×75 + 20×50) / 100 = 60.0
    w2 (网格员, 西山社区)   包户 h5, h6; visits h5 满意 (and a 未遇 at h6); a 回头看 满意 (another one still due)
                           raised i4 (办结 on time)
                           → 100.0, 1/2 = 50.0, 1/1 = 100.0 → (4000 + 2000 + 2000) / 100 = 80.0
    handler (部门, 区住建局) 包户 h6; visits h6 不满意 → 0.0, 1/1 = 100.0, none → (0 + 4000) / 80 = 50.0
    leader (班子成员)       visits h1 满意 → 100.0; held to his month, not to households; no issue → 100.0
    sec (书记, 东山社区)    001 sets no 户户到: nothing to rate → no score
    admin (街道干部)        no household, no visit → no score

Units: 东山街道 (leader, admin) 100.0; 西山社区 (w2) 80.0; 东山社区 (sec, w1: 2/4, 3/4, 1/2) 60.0;
区住建局 (handler) 50.0.
"""

import datetime
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from households.models import AccessLog, Node, NodeKind
from households.roles import CADRE, DEPARTMENT_HANDLER, LEADER, SECRETARY, STREET_ADMIN, sync_role_groups
from issues.models import Status
from issues.tests.factories import make_issue
from reports import evaluation
from reports.tests.workbooks import header_of, rows_of, workbook_of
from tests.support.world import make_household, make_user
from visitplan.models import Assignment, Campaign, Department, Stage, StageKind, Tier
from visitplan.rulebook import apply_preset
from visits import tally
from visits.models import FollowUp, FollowUpStatus, Visit

D = datetime.date
TODAY = D(2026, 12, 6)


@pytest.fixture(autouse=True)
def today(monkeypatch):
    """The pages run on 2026-12-06 whatever the machine's date."""
    from django.utils import timezone

    real = timezone.localdate
    monkeypatch.setattr(
        timezone, "localdate", lambda value=None, timezone=None: real(value, timezone) if value else TODAY
    )


def campaign_of(street, year, name, preset="001"):
    campaign = Campaign(year=year, name=name, street=street)
    apply_preset(campaign, preset)
    campaign.save()
    return campaign


def visit(campaign, household, user, day, satisfaction="", method="in_person"):
    made = Visit.objects.create(
        campaign=campaign, household=household, cadre=user.cadre, method=method, visited_on=day,
        started_at=datetime.time(9, 0), ended_at=datetime.time(9, 40), duration_minutes=40, key=uuid.uuid4(),
        created_by=user, satisfaction=satisfaction,
    )  # fmt: skip
    tally.record(made)
    return made


def followup(campaign, issue, user, *, satisfaction="", done=True):
    return FollowUp.objects.create(
        campaign=campaign, household=issue.household, issue=issue, cadre=user.cadre, listed_on=D(2026, 11, 1),
        due_on=D(2026, 11, 10), status=FollowUpStatus.DONE if done else FollowUpStatus.DUE,
        satisfaction=satisfaction, done_on=D(2026, 11, 5) if done else None,
    )  # fmt: skip


def closed(household, user, registered_on, *, late=False):
    """An issue raised by ``user``, 办结 the day it was registered, or 5 days after its deadline."""
    issue = make_issue(household, raised_by=user, registered_on=registered_on, status=Status.CLOSED)
    if late:
        issue.answered_on = issue.due_on + datetime.timedelta(days=5)
        issue.save(update_fields=["answered_on"])
    return issue


@pytest.fixture
def ew(db):
    sync_role_groups()
    street = Node.objects.create(kind=NodeKind.STREET, name="东山街道")
    c1 = Node.objects.create(kind=NodeKind.COMMUNITY, name="东山社区", parent=street)
    c2 = Node.objects.create(kind=NodeKind.COMMUNITY, name="西山社区", parent=street)
    g1 = Node.objects.create(kind=NodeKind.GRID, name="第1网格", parent=c1)
    g2 = Node.objects.create(kind=NodeKind.GRID, name="第1网格", parent=c2)
    h = {n: make_household(g1 if n <= 4 else g2, f"{n}01", f"户主{n}", 100 + n) for n in range(1, 7)}
    dept = Department.objects.create(name="区住建局")
    campaign = campaign_of(street, 2026, "联户走访")
    Stage.objects.create(campaign=campaign, kind=StageKind.VISIT, starts_on=D(2026, 3, 1), ends_on=D(2026, 11, 30))
    Stage.objects.create(campaign=campaign, kind=StageKind.RECTIFY, starts_on=D(2026, 12, 1), ends_on=D(2026, 12, 15))
    admin = make_user("admin", STREET_ADMIN, scope=street, tier=Tier.STREET_STAFF, staff=True)
    leader = make_user("leader", LEADER, scope=street, tier=Tier.LEADER, staff=True)
    sec = make_user("sec", SECRETARY, scope=c1, tier=Tier.SECRETARY)
    w1 = make_user("w1", CADRE, scope=g1, tier=Tier.GRID_WORKER)
    w2 = make_user("w2", CADRE, scope=g2, tier=Tier.GRID_WORKER)
    handler = make_user("handler", DEPARTMENT_HANDLER, scope=street, tier=Tier.DEPARTMENT, department=dept)
    for user, households in ((w1, (1, 2, 3, 4)), (w2, (5, 6)), (handler, (6,))):
        for n in households:
            Assignment.objects.create(campaign=campaign, household=h[n], cadre=user.cadre, tier=user.cadre.tier)
    visit(campaign, h[1], w1, D(2026, 9, 1), "satisfied")
    visit(campaign, h[2], w1, D(2026, 9, 2), "basic")
    visit(campaign, h[3], w1, D(2026, 9, 3), "unsatisfied")
    visit(campaign, h[5], w2, D(2026, 9, 5), "satisfied")
    visit(campaign, h[6], w2, D(2026, 9, 5), method="not_home")
    visit(campaign, h[6], handler, D(2026, 9, 6), "unsatisfied")
    visit(campaign, h[1], leader, D(2026, 9, 10), "satisfied")
    i1 = closed(h[1], w1, D(2026, 9, 1))
    closed(h[2], w1, D(2026, 9, 2), late=True)
    make_issue(h[3], raised_by=w1, registered_on=D(2026, 9, 3))  # open
    closed(h[4], w1, D(2026, 2, 2), late=True)  # before the campaign
    i4 = closed(h[5], w2, D(2026, 9, 5))
    followup(campaign, i1, w1, satisfaction="unsatisfied")
    followup(campaign, i4, w2, satisfaction="satisfied")
    followup(campaign, make_issue(h[6], raised_by=w2, registered_on=D(2026, 9, 5)), w2, done=False)
    # Another street: its cadre and campaign are nobody's here.
    other = Node.objects.create(kind=NodeKind.STREET, name="外街街道")
    make_user("outsider", STREET_ADMIN, scope=other, tier=Tier.STREET_STAFF, staff=True)
    campaign_x = campaign_of(other, 2026, "外街走访")
    return locals()


def lines(rated):
    return [
        (r.rank, r.name, r.rates["satisfaction"], r.rates["coverage"], r.rates["on_time"], r.composite) for r in rated
    ]


CADRES = [
    (1, "leader", 100.0, None, None, 100.0),
    (2, "w2", 100.0, 50.0, 100.0, 80.0),
    (3, "w1", 50.0, 75.0, 50.0, 60.0),
    (4, "handler", 0.0, 100.0, None, 50.0),
    (None, "admin", None, None, None, None),
    (None, "sec", None, None, None, None),
]
UNITS = [
    (1, "东山街道", 100.0, None, None, 100.0),
    (2, "西山社区", 100.0, 50.0, 100.0, 80.0),
    (3, "东山社区", 50.0, 75.0, 50.0, 60.0),
    (4, "区住建局", 0.0, 100.0, None, 50.0),
]


@pytest.mark.django_db
def test_it_rates_and_ranks_every_cadre_and_unit_by_hand(ew):
    result = evaluation.evaluate(ew["admin"], ew["campaign"], today=TODAY)
    assert lines(result.cadres) == CADRES
    assert lines(result.units) == UNITS
    w1 = next(r for r in result.cadres if r.name == "w1")
    c = w1.counts
    assert (c.satisfied, c.answered, c.visited, c.assigned, c.on_time, c.closed) == (2, 4, 3, 4, 1, 2)
    assert (w1.unit_kind, w1.unit_name, w1.tier_label) == (evaluation.COMMUNITY, "东山社区", "网格员")
    units = {u.name: (u.kind_label, u.cadres) for u in result.units}
    assert units == {"东山街道": ("街道", 2), "西山社区": ("社区", 1), "东山社区": ("社区", 2), "区住建局": ("部门", 1)}


def test_the_score_shares_the_weight_of_a_missing_rate_and_ties_share_a_rank():
    full = evaluation.Counts(satisfied=1, answered=2, visited=3, assigned=4, on_time=1, closed=1, held=True)
    assert full.rates == {"satisfaction": 50.0, "coverage": 75.0, "on_time": 100.0}
    assert full.composite == (40 * 50 + 40 * 75 + 20 * 100) / 100
    unheld = evaluation.Counts(satisfied=1, answered=2, visited=3, assigned=4)  # not held to households
    assert unheld.rates["coverage"] is None and unheld.composite == 50.0
    assert evaluation.Counts(held=True).composite is None  # nothing to count: 0 of 0 is no rate
    ranked = evaluation.rank([
        evaluation.Rated(key=k, name=n, counts=evaluation.Counts(satisfied=s, answered=a))
        for k, n, s, a in ((1, "乙", 1, 2), (2, "甲", 1, 1), (3, "丙", 0, 0), (4, "丁", 2, 4))
    ])  # fmt: skip
    assert [(r.rank, r.name) for r in ranked] == [(1, "甲"), (2, "丁"), (2, "乙"), (None, "丙")]


@pytest.mark.django_db
def test_a_change_of_the_data_moves_the_figures(ew):
    """The rates follow the visits, the 回头看 and the ledger: h4 visited (coverage), a late 办结 turned on time."""
    visit(ew["campaign"], ew["h"][4], ew["w1"], D(2026, 10, 1), "satisfied")
    result = evaluation.evaluate(ew["admin"], ew["campaign"], today=TODAY)
    w1 = next(r for r in result.cadres if r.name == "w1")
    assert (w1.rates["satisfaction"], w1.rates["coverage"]) == (60.0, 100.0)  # 3/5, 4/4


@pytest.mark.django_db
def test_its_number_of_queries_does_not_grow_with_the_cadres(ew):
    def queries():
        with CaptureQueriesContext(connection) as q:
            evaluation.evaluate(ew["admin"], ew["campaign"], today=TODAY)
        return len(q.captured_queries)

    queries()  # the first run also resolves the reader's scope (kept on the user)
    before = queries()
    for n in range(5):
        user = make_user(f"new{n}", CADRE, scope=ew["g2"], tier=Tier.GRID_WORKER)
        household = make_household(ew["g2"], f"9{n}", f"新户{n}", 200 + n)
        Assignment.objects.create(campaign=ew["campaign"], household=household, cadre=user.cadre, tier=Tier.GRID_WORKER)
        visit(ew["campaign"], household, user, D(2026, 9, 20 + n), "satisfied")
        closed(household, user, D(2026, 9, 20 + n))
    assert queries() == before
    assert len(evaluation.evaluate(ew["admin"], ew["campaign"], today=TODAY).cadres) == 11


# ------------------------------------------------------------------------------------------------ the page


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["admin", "leader"])
def test_the_page_ranks_the_cadres_and_units_for_the_street_admin_and_leaders(client, ew, who):
    client.force_login(ew[who])
    page = client.get(reverse("reports:evaluation"))
    assert page.status_code == 200
    text = page.content.decode()
    assert page.context["campaign"] == ew["campaign"]
    assert lines(page.context["result"].cadres) == CADRES
    assert text.index('data-cadre="%d"' % ew["leader"].cadre.pk) < text.index('data-cadre="%d"' % ew["w1"].cadre.pk)
    assert "外街" not in text


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["sec", "w1", "handler"])
def test_the_others_are_refused(client, ew, who):
    client.force_login(ew[who])
    assert client.get(reverse("reports:evaluation")).status_code == 403
    assert client.get(reverse("reports:evaluation_export")).status_code == 403
    assert not AccessLog.objects.exists()


@pytest.mark.django_db
def test_another_streets_campaign_is_not_reached_and_the_year_picks_the_campaign(client, ew):
    client.force_login(ew["admin"])
    page = client.get(reverse("reports:evaluation"), {"campaign": ew["campaign_x"].pk})
    assert page.status_code == 200 and page.context["campaign"] == ew["campaign"]  # the user's own, not 外街's
    last_year = campaign_of(ew["street"], 2025, "上年联户走访")
    page = client.get(reverse("reports:evaluation"), {"year": 2025})
    assert page.context["campaign"] == last_year
    assert all(r.composite is None for r in page.context["result"].cadres)  # nothing in 2025
    assert client.get(reverse("reports:evaluation"), {"year": "x²"}).context["campaign"] == ew["campaign"]


# ------------------------------------------------------------------------------------------------ the export


@pytest.mark.django_db
def test_the_export_has_both_rankings_is_formula_safe_and_logged(client, ew):
    cadre = ew["w2"].cadre
    cadre.name = '=HYPERLINK("http://x")'
    cadre.save()
    client.force_login(ew["leader"])
    response = client.get(reverse("reports:evaluation_export"), {"campaign": ew["campaign"].pk})
    assert response["Content-Disposition"].startswith("attachment")
    book = workbook_of(response)
    assert book.sheetnames == [evaluation.CADRE_SHEET, evaluation.UNIT_SHEET]
    cadres, units = book[evaluation.CADRE_SHEET], book[evaluation.UNIT_SHEET]
    assert header_of(cadres) == list(evaluation.CADRE_HEADERS)
    assert rows_of(cadres)[:3] == [
        [1, "leader", "街道班子成员", None, "东山街道", 1, 1, 100, None, None, None, 0, 0, None, 100],
        [2, '=HYPERLINK("http://x")', "网格员", None, "西山社区", 2, 2, 100, 1, 2, 50, 1, 1, 100, 80],
        [3, "w1", "网格员", None, "东山社区", 2, 4, 50, 3, 4, 75, 1, 2, 50, 60],
    ]
    name = cadres.cell(row=3, column=2)
    assert name.data_type == "s" and name.quotePrefix  # text, not a live formula
    assert [r[:4] for r in rows_of(units)] == [[1, "东山街道", "街道", 2], [2, "西山社区", "社区", 1],
                                              [3, "东山社区", "社区", 2], [4, "区住建局", "部门", 1]]  # fmt: skip
    log = AccessLog.objects.get()
    assert (log.user, log.rows, log.what) == (ew["leader"], 10, f"综合评议（{ew['campaign']}）")
