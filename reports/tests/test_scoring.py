"""reports/scoring.py by hand: 1000 points less one a finding, never below 0; 约谈 at exactly 3."""

import datetime

import pytest

from households.models import Node, NodeKind
from reports import scoring
from reports.models import Finding
from visitplan.models import Campaign

D = datetime.date


def find(w, community, n=1, campaign=None, kind="fake_visit"):
    Finding.objects.bulk_create(
        Finding(
            campaign=campaign or w.campaign,
            community=community,
            method="phone",
            kind=kind,
            evidence="居民称未被走访",
            found_on=D(2026, 11, 2),
        )  # fmt: skip
        for _ in range(n)
    )


def communities():
    return Node.objects.filter(kind=NodeKind.COMMUNITY)


@pytest.mark.django_db
def test_every_community_starts_at_1000_and_loses_a_point_a_finding(rw):
    find(rw, rw.c1, 2)
    other = Campaign.objects.create(year=2025, name="去年", street=rw.street)
    find(rw, rw.c2, 5, campaign=other)  # another campaign's findings do not count
    scores = {s.name: (s.findings, s.score, s.rank) for s in scoring.community_scores(rw.campaign, communities())}
    assert scores == {"南纬社区": (0, 1000, 1), "湖田社区": (2, 998, 2)}


@pytest.mark.django_db
def test_equal_scores_share_a_rank(rw):
    third = Node.objects.create(kind=NodeKind.COMMUNITY, name="平川社区", parent=rw.street)
    find(rw, rw.c1, 1)
    find(rw, third, 1)
    ranks = [(s.name, s.rank) for s in scoring.community_scores(rw.campaign, communities())]
    assert ranks == [("南纬社区", 1), ("湖田社区", 2), ("平川社区", 2)]


@pytest.mark.django_db
def test_the_score_never_goes_below_zero(rw):
    find(rw, rw.c1, 1003)
    score = next(s for s in scoring.community_scores(rw.campaign, communities()) if s.name == "湖田社区")
    assert (score.findings, score.score) == (1003, 0)


@pytest.mark.django_db
def test_two_findings_put_nobody_on_the_interview_list(rw):
    find(rw, rw.c1, 2)
    assert scoring.interview_list(rw.campaign, communities()) == []
    assert not any(s.interview for s in scoring.community_scores(rw.campaign, communities()))


@pytest.mark.django_db
def test_exactly_three_findings_put_the_communitys_staff_and_committee_on_the_list(rw):
    find(rw, rw.c1, 3, kind="not_rectified")
    find(rw, rw.c2, 2)
    names = {(c.name, c.community_name) for c in scoring.interview_list(rw.campaign, communities())}
    # 包村居 street staff of 湖田社区 and its 两委 member; not the grid workers, the secretary, or 南纬社区's staff.
    assert names == {("staff_c1", "湖田社区"), ("lw_c1", "湖田社区")}
    assert [s.interview for s in scoring.community_scores(rw.campaign, communities()) if s.name == "湖田社区"] == [True]
