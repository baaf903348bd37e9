"""区级看板 (reports:district): each street's row is what the street's own dashboard shows; the
drill-down opens that street's dashboard, counted for that street only; nobody else reads it."""

import datetime
from types import SimpleNamespace

import pytest
from django.urls import reverse

from households.roles import CADRE, DISTRICT_ADMIN, DISTRICT_LEADER, LEADER
from issues.models import Status
from issues.tests.factories import make_issue
from reports import dashboard, district
from reports.models import Finding
from reports.tests.factories import visit
from tests.support.districts import make_district, make_district_user, make_street
from tests.support.visits import STAGES
from tests.support.world import make_household, make_user
from visitplan.models import Assignment, Campaign, Stage, Tier
from visits.models import FollowUp

D = datetime.date


@pytest.fixture
def dw(rw):
    """The small street (湖田街道) and 北岭街道 in 张店区, each with its campaign, visits, issues,
    a follow-up and a finding; 外区街道 in 淄川区."""
    w = rw
    visit(w, w.ha, w.worker_a, D(2026, 5, 10), minutes=40)
    visit(w, w.hb, w.worker_b, D(2026, 9, 1), method="not_home")
    make_issue(w.ha, status=Status.CLOSED, department=w.dept, registered_on=D(2026, 9, 1),
               plan_posted_on=D(2026, 9, 3), answered_on=D(2026, 9, 10), closed_on=D(2026, 9, 11))  # fmt: skip
    make_issue(w.hb, status=Status.IN_PROGRESS, department=w.dept, registered_on=D(2026, 10, 12))
    Finding.objects.create(campaign=w.campaign, community=w.c1, method="phone", kind="fake_visit",
                           evidence="称未被走访", found_on=D(2026, 11, 20))  # fmt: skip

    w.st2, w.c_2, w.grid_2, w.h2s = make_street("北岭街道", households=3, serial=600)
    w.campaign2 = Campaign.objects.create(year=2026, name="北岭入户走访", street=w.st2)
    for kind, (start, end) in STAGES.items():
        Stage.objects.create(campaign=w.campaign2, kind=kind, starts_on=start, ends_on=end)
    w.worker2 = make_user("grid_2", CADRE, scope=w.grid_2, tier=Tier.GRID_WORKER)
    w.leader2 = make_user("leader_2", LEADER, scope=w.st2, tier=Tier.LEADER, staff=True)
    for h in w.h2s:
        Assignment.objects.create(campaign=w.campaign2, household=h, cadre=w.worker2.cadre, tier=Tier.GRID_WORKER)
    s2 = SimpleNamespace(campaign=w.campaign2)
    for h in w.h2s[:2]:
        visit(s2, h, w.worker2, D(2026, 6, 2), minutes=35)
    done = make_issue(w.h2s[0], status=Status.CLOSED, registered_on=D(2026, 6, 2), answered_on=D(2026, 6, 3),
                      closed_on=D(2026, 6, 3))  # fmt: skip
    FollowUp.objects.create(campaign=w.campaign2, household=done.household, issue=done, cadre=w.worker2.cadre,
                            listed_on=D(2026, 11, 16), due_on=D(2026, 11, 25), status="done", solved=True,
                            satisfaction="satisfied")  # fmt: skip

    w.st3, _c3, _g3, (w.h3,) = make_street("外区街道", serial=700)
    w.campaign3 = Campaign.objects.create(year=2026, name="外区走访", street=w.st3)
    w.district = make_district("张店区", w.street, w.st2)
    make_district("淄川区", w.st3)
    w.dleader = make_district_user("dleader", DISTRICT_LEADER, w.district)
    w.dadmin = make_district_user("dadmin", DISTRICT_ADMIN, w.district)
    return w


def _headline(board):
    """The figures a district row shows, from the street dashboard's board."""
    return {
        "total": board.coverage["total"],
        "visited": board.coverage["visited"],
        "pct": board.coverage["pct"],
        "visits": board.visits["count"],
        "issues": board.issues["total"],
        "open": board.issues["open"],
        "overdue": board.issues["overdue"],
        "plan_pct": board.issues["plan_pct"],
        "close_pct": board.issues["close_pct"],
        "satisfied_pct": board.followups["satisfied_pct"],
        "findings": board.findings,
        "deducted": board.deducted,
    }


def _row_headline(row):
    return {
        "total": row.coverage["total"],
        "visited": row.coverage["visited"],
        "pct": row.coverage["pct"],
        "visits": row.visits["count"],
        "issues": row.issues["total"],
        "open": row.issues["open"],
        "overdue": row.issues["overdue"],
        "plan_pct": row.issues["plan_pct"],
        "close_pct": row.issues["close_pct"],
        "satisfied_pct": row.followups["satisfied_pct"],
        "findings": row.findings,
        "deducted": row.deducted,
    }


@pytest.mark.django_db
def test_each_street_row_is_what_the_streets_own_dashboard_shows(dw, client):
    w = dw
    client.force_login(w.dleader)
    page = client.get(reverse("reports:district"))
    assert page.status_code == 200
    rows = {r.street.pk: r for r in page.context["rows"]}
    assert list(rows) == [w.street.pk, w.st2.pk]  # his two streets, not 外区街道
    for street, leader, campaign in ((w.street, w.leader, w.campaign), (w.st2, w.leader2, w.campaign2)):
        client.force_login(leader)
        own = client.get(reverse("reports:dashboard"))
        assert own.context["campaign"] == campaign == rows[street.pk].campaign
        assert _row_headline(rows[street.pk]) == _headline(own.context["board"]), street.name
    # The figures are each street's own: 3 households, 1 visited in the first; 3 and 2 in the second.
    assert (rows[w.street.pk].coverage["total"], rows[w.street.pk].coverage["visited"]) == (3, 1)
    assert (rows[w.st2.pk].coverage["total"], rows[w.st2.pk].coverage["visited"]) == (3, 2)
    assert rows[w.st2.pk].followups["satisfied_pct"] == 100.0
    assert rows[w.street.pk].findings == 1 and rows[w.st2.pk].findings == 0
    totals = page.context["totals"]
    assert (totals["households"], totals["visited"], totals["visits"]) == (6, 3, 4)
    text = page.content.decode()
    assert "湖田街道" in text and "北岭街道" in text and "外区街道" not in text


@pytest.mark.django_db
def test_the_rows_read_from_the_rollups_and_those_counted_by_the_panels_agree_with_the_street_dashboards(dw):
    """``dashboard.headlines`` reads every street's rollups at once when the period holds the
    campaign's visits and issues, and leaves a street whose period does not (a day before some of
    its visits and issues) to the panels: on both days each row is the street's own dashboard."""
    w = dw
    for today in (D(2026, 12, 1), D(2026, 8, 1)):  # after everything; before the September visit and issues
        rows = {r.street.pk: r for r in district.district_rows(w.dleader, w.district, today=today)}
        for street, leader, campaign in ((w.street, w.leader, w.campaign), (w.st2, w.leader2, w.campaign2)):
            board = dashboard.build(leader, campaign, today=today)
            assert _row_headline(rows[street.pk]) == _headline(board), (street.name, today)
            assert rows[street.pk].issues["close_due"] == board.issues["close_due"]
            assert rows[street.pk].followups["answered"] == board.followups["answered"]


@pytest.mark.django_db
def test_the_district_page_reads_a_fixed_number_of_queries_whatever_the_households(dw, client):
    """More households, visits and issues in a street do not add a query to the district page."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    w = dw
    client.force_login(w.dleader)

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("reports:district")).status_code == 200
        return len(queries)

    count()  # the first request fills the process caches (the working-day calendar, the rulebooks)
    before = count()
    for n in range(6):
        h = make_household(w.grid_2, f"9{n:02d}", f"新户{n}", 900 + n)
        visit(SimpleNamespace(campaign=w.campaign2), h, w.worker2, D(2026, 7, 3), minutes=30)
        make_issue(h, status=Status.IN_PROGRESS, registered_on=D(2026, 7, 3))
    assert count() == before


@pytest.mark.django_db
def test_the_drill_down_opens_the_street_dashboard_counted_for_that_street_only(dw, client):
    w = dw
    client.force_login(w.dadmin)
    page = client.get(reverse("reports:district"))
    link = f"{reverse('reports:dashboard')}?campaign={w.campaign2.pk}"
    assert f'href="{link}"' in page.content.decode()
    drilled = client.get(link)
    assert drilled.status_code == 200
    assert drilled.context["campaign"] == w.campaign2
    client.force_login(w.leader2)
    own = client.get(reverse("reports:dashboard"))
    assert _headline(drilled.context["board"]) == _headline(own.context["board"])
    assert [c["name"] for c in drilled.context["board"].coverage["communities"]] == [w.c_2.name]
    text = drilled.content.decode()
    assert "北岭街道 · 2026年北岭入户走访" in text and f'href="{reverse("reports:district")}"' in text
    # The street's own leader reads his page as before: no street name, no way to the district.
    assert "北岭街道 ·" not in own.content.decode() and not own.context["district_reader"]
    # The rows behind a figure are the street's too.
    client.force_login(w.dadmin)
    unvisited = client.get(reverse("reports:unvisited"), {"campaign": w.campaign2.pk})
    assert unvisited.status_code == 200
    assert {h.pk for h in unvisited.context["page"].object_list} == {w.h2s[2].pk}


@pytest.mark.django_db
def test_a_street_outside_the_district_is_not_read(dw, client):
    w = dw
    client.force_login(w.dleader)
    # Another district's campaign in the query: the reader's own current campaign instead (the
    # dashboard's rule for a campaign it does not see), nothing of the other street.
    page = client.get(reverse("reports:dashboard"), {"campaign": w.campaign3.pk})
    assert page.status_code == 200
    assert page.context["campaign"] != w.campaign3
    assert "外区" not in page.content.decode()
    assert {c["id"] for c in page.context["board"].coverage["communities"]} <= {w.c1.pk, w.c2.pk, w.c_2.pk}
    # ?district= is a superuser's choice: a district's reader reads his own whatever it says.
    other = client.get(reverse("reports:district"), {"district": w.st3.district_id})
    assert [r.street.pk for r in other.context["rows"]] == [w.street.pk, w.st2.pk]


@pytest.mark.django_db
def test_street_staff_and_anonymous_users_do_not_read_the_district_page(dw, client):
    w = dw
    for user in (w.admin, w.leader, w.secretary, w.worker_a, w.leader2):
        client.force_login(user)
        assert client.get(reverse("reports:district")).status_code == 403, user
        assert "区级看板" not in client.get(reverse("home")).content.decode()
    client.logout()
    response = client.get(reverse("reports:district"))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_a_district_reader_lands_on_the_district_page_and_finds_it_in_the_nav(dw, client):
    w = dw
    client.force_login(w.dleader)
    response = client.get(reverse("home"))
    assert response.status_code == 302 and response["Location"] == reverse("reports:district")
    page = client.get(reverse("reports:district")).content.decode()
    assert f'href="{reverse("reports:district")}" class="on">区级看板' in page


@pytest.mark.django_db
def test_a_superuser_chooses_the_district(dw, client, django_user_model):
    w = dw
    root = django_user_model.objects.create_superuser("root", password="pw-test-123")
    client.force_login(root)
    page = client.get(reverse("reports:district"), {"district": w.district.pk})
    assert page.status_code == 200
    assert [r.street.pk for r in page.context["rows"]] == [w.street.pk, w.st2.pk]


@pytest.mark.django_db
def test_the_demo_builds_a_district_of_several_streets():
    from io import StringIO

    from django.contrib.auth import get_user_model
    from django.core.management import CommandError, call_command

    from core.scope import scope_of
    from households.models import District, Household, Street
    from visits.models import Visit

    with pytest.raises(CommandError, match="--streets"):
        call_command("seed_demo", households=120, streets=99, stdout=StringIO())
    out = StringIO()
    call_command("seed_demo", households=120, streets=3, stdout=out)
    district = District.objects.get(name="张店区")
    streets = list(district.streets.order_by("path"))
    assert [s.name for s in streets] == ["湖田街道", "车站街道", "公园街道"]
    assert Street.objects.count() == 3
    for street in streets[1:]:
        assert Household.objects.filter(street=street).count() == 60  # a smaller street: at least 60 households
        campaign = Campaign.objects.get(street=street)
        assert Visit.objects.filter(campaign=campaign).exists()
        linked = Assignment.objects.filter(campaign=campaign).values("household").distinct().count()
        assert linked == 60  # every household has its cadre
    User = get_user_model()
    assert User.objects.filter(username__in=["chezhan_admin", "gongyuan_leader1"]).count() == 2
    for username in ("district_leader", "district_admin"):
        user = User.objects.get(username=username)
        assert user.check_password("demo12345") and not user.is_staff
        assert set(scope_of(user).paths) == {s.path for s in streets}
    assert "district_leader" in out.getvalue()
