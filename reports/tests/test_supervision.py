"""Recording findings and the 电话调查 tool (reports/supervision.py), and their pages."""

import datetime

import pytest
from django.urls import reverse

from issues.tests.factories import make_issue
from reports import supervision
from reports.models import Finding, PhoneCheck
from reports.tests.factories import visit
from tests.support.world import make_household

D = datetime.date


@pytest.mark.django_db
def test_a_finding_takes_its_community_from_what_it_is_about(rw):
    w = rw
    v = visit(w, w.hc, w.handler, D(2026, 10, 10), minutes=35)
    by_visit = supervision.finding_record(by=w.admin, campaign=w.campaign, kind="fake_visit", method="phone", visit=v,
                                          evidence="居民称未见过干部", found_on=D(2026, 11, 2))  # fmt: skip
    assert (by_visit.community, by_visit.cadre) == (w.c2, w.handler.cadre)
    issue = make_issue(w.ha)
    assert supervision.finding_record(by=w.admin, campaign=w.campaign, kind="not_rectified", method="onsite", issue=issue,
                                      evidence="路灯仍未修").community == w.c1  # fmt: skip
    assert supervision.finding_record(by=w.admin, campaign=w.campaign, kind="not_visited", method="online", cadre=w.worker_b.cadre,
                                      evidence="台账无记录").community == w.c1  # fmt: skip


@pytest.mark.django_db
def test_only_the_street_office_records_findings_and_each_needs_evidence(rw):
    w = rw
    issue = make_issue(w.ha)
    for who in (w.secretary, w.leader, w.worker_a):
        with pytest.raises(supervision.SupervisionError, match="只有街道管理员"):
            supervision.finding_record(
                by=who, campaign=w.campaign, kind="not_rectified", method="onsite", issue=issue, evidence="x"
            )
    with pytest.raises(supervision.SupervisionError, match="情况说明"):
        supervision.finding_record(
            by=w.admin, campaign=w.campaign, kind="not_rectified", method="onsite", issue=issue, evidence=" "
        )
    with pytest.raises(supervision.SupervisionError, match="须关联"):
        supervision.finding_record(by=w.admin, campaign=w.campaign, kind="not_rectified", method="onsite", evidence="x")
    assert not Finding.objects.exists()


@pytest.fixture
def visited(rw):
    w = rw
    w.hs = [make_household(w.grid_a, f"{n}01", f"户{n}", 40 + n) for n in range(6)]
    for h in w.hs:
        visit(w, h, w.worker_a, D(2026, 9, 1), minutes=30)
        visit(w, h, w.worker_a, D(2026, 10, 1), minutes=35)  # the latest is the one checked
    w.hs[0].phone = ""
    w.hs[0].save()  # nobody to call
    visit(w, w.hc, w.handler, D(2026, 10, 1), minutes=40)  # another community
    return w


@pytest.mark.django_db
def test_it_draws_visited_households_of_one_community_at_random_and_never_twice(visited):
    w = visited
    first = supervision.phone_check_draw(by=w.admin, campaign=w.campaign, community=w.c1, size=3, seed=1)
    assert len(first) == 3
    second = supervision.phone_check_draw(by=w.admin, campaign=w.campaign, community=w.c1, size=10, seed=2)
    households = [c.household_id for c in first + second]
    assert len(households) == len(set(households)) == 5  # six visited, one without a phone
    assert w.hs[0].pk not in households and w.hc.pk not in households
    assert all(c.visit.visited_on == D(2026, 10, 1) and c.community == w.c1 for c in first + second)
    with pytest.raises(supervision.SupervisionError, match="管辖范围"):
        supervision.phone_check_draw(by=w.admin, campaign=w.campaign, community=w.grid_a, size=3)


@pytest.mark.django_db
def test_not_visited_becomes_a_fake_visit_finding_in_one_step(visited):
    w = visited
    check = supervision.phone_check_draw(by=w.admin, campaign=w.campaign, community=w.c1, size=1, seed=3)[0]
    check = supervision.phone_check_record(
        check=check, by=w.admin, reached=True, was_visited=False, note="居民说没人来过"
    )
    finding = check.finding
    assert (finding.kind, finding.method, finding.community, finding.visit_id) == (
        "fake_visit",
        "phone",
        w.c1,
        check.visit_id,
    )
    assert finding.cadre == w.worker_a.cadre and "居民说没人来过" in finding.evidence
    with pytest.raises(supervision.SupervisionError, match="已记录"):
        supervision.phone_check_record(check=check, by=w.admin, reached=True, was_visited=False)
    assert Finding.objects.count() == 1
    ok = supervision.phone_check_draw(by=w.admin, campaign=w.campaign, community=w.c1, size=1, seed=4)[0]
    ok = supervision.phone_check_record(
        check=ok, by=w.admin, reached=True, was_visited=True, reported_minutes=40, satisfaction="satisfied"
    )
    assert ok.finding is None and Finding.objects.count() == 1


@pytest.mark.django_db
def test_the_pages_are_for_the_street_and_communities_only(client, visited):
    w = visited
    for who in (w.worker_a, w.handler):
        client.force_login(who)
        for name in (
            "reports:dashboard",
            "reports:unvisited",
            "reports:behind",
            "reports:findings",
            "reports:phone_checks",
            "reports:summary",
        ):
            assert client.get(reverse(name)).status_code == 403, (who, name)
    client.force_login(w.secretary)
    page = client.get(reverse("reports:dashboard")).content.decode()
    assert "湖田社区" in page and "南纬社区" not in page
    assert client.post(reverse("reports:findings"), {"kind": "fake_visit"}).status_code == 403
    assert "户0" in client.get(reverse("reports:unvisited"), {"visited": "1"}).content.decode()


@pytest.mark.django_db
def test_the_street_admin_records_a_phone_check_that_costs_a_point(client, visited):
    w = visited
    client.force_login(w.admin)
    response = client.post(reverse("reports:phone_checks"), {"community": w.c1.pk, "size": 2}, follow=True)
    assert "已随机抽取 2 户" in response.content.decode()
    check = PhoneCheck.objects.order_by("pk").first()
    page = client.get(reverse("reports:phone_check", args=[check.pk])).content.decode()
    assert check.household.phone in page  # the street admin may see the number to call
    response = client.post(
        reverse("reports:phone_check", args=[check.pk]),
        {"reached": "yes", "was_visited": "no", "note": "没人来"},
        follow=True,
    )
    assert "已记为“虚假入户”督查发现" in response.content.decode()
    board = client.get(reverse("reports:findings")).content.decode()
    assert "999" in board
    # A secretary sees the checks of his community, masked, and cannot record one.
    client.force_login(w.secretary)
    page = client.get(reverse("reports:phone_checks")).content.decode()
    assert check.household.head_name in page and check.household.phone not in page
    assert client.get(reverse("reports:phone_check", args=[check.pk])).status_code == 403


@pytest.mark.django_db
def test_the_rows_pages_do_not_name_another_community(client, visited):
    w = visited
    client.force_login(w.secretary)  # 湖田社区 only
    page = client.get(reverse("reports:unvisited"), {"community": w.c2.pk}).content.decode()
    assert "南纬社区" not in page and "王丙" not in page
