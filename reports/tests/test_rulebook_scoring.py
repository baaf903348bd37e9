"""reports/scoring.py reads the campaign's rulebook (visitplan/rulebook.py): under 002 征求意见不实 costs no
points but counts toward 约谈, and the secretary is interviewed too; under the product default every
kind costs a point and the secretary is not; a rule changed with ``update_rules`` changes the score."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from households.models import Node, NodeKind
from reports import scoring
from reports.models import Finding, FindingKind
from reports.tests.workbooks import as_dicts, header_of, workbook_of
from visitplan.models import Campaign
from visitplan.rulebook import apply_preset, update_rules

D = datetime.date


def make_campaign(w, code):
    campaign = Campaign(year=2026, name=f"按{code or '默认'}走访", street=w.street)
    apply_preset(campaign, code)
    campaign.save()
    return campaign


def find(campaign, community, kind, n=1):
    Finding.objects.bulk_create(
        Finding(campaign=campaign, community=community, method="onsite", kind=kind, evidence="核查记录",
                found_on=D(2026, 11, 2))
        for _ in range(n)
    )  # fmt: skip


def communities():
    return Node.objects.filter(kind=NodeKind.COMMUNITY)


def score_of(campaign, name):
    return next(s for s in scoring.community_scores(campaign, communities()) if s.name == name)


@pytest.fixture
def two_and_one(rw):
    """湖田社区 with 2 不入户 and 1 征求意见不实, in a 002 campaign and in a product-default one."""
    w = rw
    w.c002 = make_campaign(w, "002")
    w.default = make_campaign(w, "")
    for campaign in (w.c002, w.default):
        find(campaign, w.c1, FindingKind.NOT_VISITED, 2)
        find(campaign, w.c1, FindingKind.FAKE_OPINIONS)
    return w


@pytest.mark.django_db
def test_under_002_fake_opinions_costs_nothing_but_counts_toward_the_interview(two_and_one):
    w = two_and_one
    s = score_of(w.c002, "湖田社区")
    assert (s.findings, s.score, s.deducted, s.counted, s.interview) == (3, 998, 2, 3, True)
    assert s.by_kind[FindingKind.FAKE_OPINIONS] == 1 and s.by_kind[FindingKind.NOT_VISITED] == 2
    assert score_of(w.c002, "南纬社区").score == 1000
    listed = scoring.interview_list(w.c002, communities())
    # 002: 包村居干部 (tier 3) and 社区“两委”成员: the secretary (tier 4) and the 两委 member (tier 5).
    assert {(c.name, c.tier) for c in listed} == {("staff_c1", 3), ("sec1", 4), ("lw_c1", 5)}
    assert {c.reason for c in listed} == {"3 条（不入户 2、征求意见不实 1）"}
    assert {c.community_name for c in listed} == {"湖田社区"}


@pytest.mark.django_db
def test_under_the_product_default_every_kind_costs_a_point_and_the_secretary_is_not_interviewed(two_and_one):
    w = two_and_one
    s = score_of(w.default, "湖田社区")
    assert (s.score, s.deducted, s.interview) == (997, 3, True)
    names = {c.name for c in scoring.interview_list(w.default, communities())}
    assert names == {"staff_c1", "lw_c1"}


@pytest.mark.django_db
def test_three_fake_opinions_under_002_cost_nothing_and_still_mean_an_interview(rw):
    campaign = make_campaign(rw, "002")
    find(campaign, rw.c2, FindingKind.FAKE_OPINIONS, 3)
    s = score_of(campaign, "南纬社区")
    assert (s.score, s.interview) == (1000, True)
    assert {c.name for c in scoring.interview_list(campaign, communities())} == {"staff_c2"}


@pytest.mark.django_db
def test_changing_points_per_finding_changes_the_score(two_and_one):
    w = two_and_one
    assert score_of(w.c002, "湖田社区").score == 998
    changed = update_rules(w.c002, {"points_per_finding": 5}, user=w.admin)
    assert changed == ["points_per_finding"]
    campaign = Campaign.objects.get(pk=w.c002.pk)
    s = score_of(campaign, "湖田社区")
    assert (s.score, s.deducted) == (990, 10)  # 2 不入户 × 5; 征求意见不实 still free


@pytest.mark.django_db
def test_the_interview_threshold_and_kinds_come_from_the_rulebook(two_and_one):
    w = two_and_one
    update_rules(w.c002, {"interview_kinds": ["fake_visit"], "deduct_kinds": ["not_visited", "fake_opinions"]})
    campaign = Campaign.objects.get(pk=w.c002.pk)
    s = score_of(campaign, "湖田社区")
    assert (s.score, s.interview) == (997, False)
    assert scoring.interview_list(campaign, communities()) == []
    update_rules(campaign, {"interview_kinds": ["not_visited"], "interview_at": 2})
    campaign = Campaign.objects.get(pk=w.c002.pk)
    assert {c.reason for c in scoring.interview_list(campaign, communities())} == {"2 条（不入户 2）"}


@pytest.mark.django_db
def test_the_scores_are_one_query(two_and_one):
    campaign = two_and_one.c002
    with CaptureQueriesContext(connection) as queries:
        scoring.community_scores(campaign, communities())
    assert len(queries) == 1


@pytest.mark.django_db
def test_the_findings_page_records_fake_opinions_and_says_what_it_costs(client, two_and_one):
    w = two_and_one
    client.force_login(w.admin)
    url = reverse("reports:findings") + f"?campaign={w.c002.pk}"
    page = client.get(url)
    assert "征求意见不实" in page.content.decode()
    body = {"kind": "fake_opinions", "method": "onsite", "cadre": w.staff1.cadre.pk, "evidence": "居民意见与台账不符",
            "found_on": "2026-11-03", "visit": "", "issue": ""}  # fmt: skip
    response = client.post(url, body, follow=True)
    assert response.status_code == 200
    assert Finding.objects.filter(campaign=w.c002, kind="fake_opinions").count() == 2
    text = response.content.decode()
    assert "征求意见不实，不扣分，计入约谈" in text
    assert "督查发现 4 条（不入户 2、征求意见不实 2）" in text  # the interview list says why


@pytest.mark.django_db
def test_the_score_sheet_has_a_fake_opinions_column_and_the_rulebooks_points(client, two_and_one):
    w = two_and_one
    client.force_login(w.admin)
    book = workbook_of(client.get(reverse("reports:ledger_supervision"), {"campaign": w.c002.pk}))
    sheet = book["督查扣分表"]
    assert "征求意见不实" in header_of(sheet)
    row = next(r for r in as_dicts(sheet) if r["社区"] == "湖田社区")
    assert (row["督查发现数"], row["不入户"], row["征求意见不实"], row["扣分"], row["得分"], row["是否约谈"]) == (
        3, 2, 1, 2, 998, "是",
    )  # fmt: skip
    interviews = as_dicts(book["约谈名单"])
    assert {(r["姓名"], r["约谈原因"]) for r in interviews} == {
        (name, "3 条（不入户 2、征求意见不实 1）") for name in ("staff_c1", "sec1", "lw_c1")
    }
