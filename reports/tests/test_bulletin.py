"""The monthly 督查通报 (reports/bulletin/): a 002 campaign's October 2026, per community.

湖田社区 in October: 2 不入户 and 1 征求意见不实 (a 虚假入户 in September had already cost a point, a
不入户 in November and another campaign's finding do not count); 3 counted visits to 2 households
(and a 未遇, and a September visit, that do not count); issues i1 registered and 办结 on time in
October, i2 past its deadline and still open, i3 办结 late in October, i4 registered and not yet due.
南纬社区: one visit, nothing else.
"""

import datetime
import uuid

import pytest
from django.core.management import call_command
from django.urls import reverse

from households.models import AccessLog, Node, NodeKind
from issues.models import Notification, Status
from issues.tests.factories import make_issue
from reports.bulletin import build_bulletin
from reports.models import Bulletin, BulletinRow, Finding, FindingKind
from reports.tasks import build_bulletin_task
from reports.tests.workbooks import as_dicts, header_of, workbook_of
from visitplan.models import Campaign
from visitplan.rulebook import apply_preset, update_rules
from visits.models import Purpose, Visit

D = datetime.date
TODAY = D(2026, 12, 6)
OCTOBER = D(2026, 10, 1)


@pytest.fixture(autouse=True)
def today(monkeypatch):
    """The pages and the command run on 2026-12-06 whatever the machine's date."""
    from django.utils import timezone

    real = timezone.localdate
    monkeypatch.setattr(
        timezone, "localdate", lambda value=None, timezone=None: real(value, timezone) if value else TODAY
    )
    monkeypatch.setattr("core.clock.today", lambda: TODAY)


def visit(campaign, household, user, day, method="in_person", purpose=Purpose.VISIT):
    return Visit.objects.create(
        campaign=campaign, household=household, cadre=user.cadre, purpose=purpose, method=method, visited_on=day,
        started_at=datetime.time(9, 0), ended_at=datetime.time(9, 40), duration_minutes=40, key=uuid.uuid4(),
        created_by=user,
    )  # fmt: skip


def finding(campaign, community, kind, day):
    return Finding.objects.create(campaign=campaign, community=community, method="onsite", kind=kind,
                                  evidence="督查记录", found_on=day)  # fmt: skip


def issue(household, *, registered_on, due_on, status=Status.ROUTED, answered_on=None):
    made = make_issue(household, registered_on=registered_on, status=status, deadlines=False, due_on=due_on,
                      answered_on=answered_on)  # fmt: skip
    return made


@pytest.fixture
def bw(rw):
    w = rw
    campaign = Campaign(year=2026, name="走千村进万户", street=w.street)
    apply_preset(campaign, "002")
    campaign.save()
    w.c = campaign
    other = Campaign(year=2026, name="另一活动", street=w.street)
    apply_preset(other, "002")
    other.save()
    # Findings.
    finding(campaign, w.c1, FindingKind.FAKE_VISIT, D(2026, 9, 20))
    finding(campaign, w.c1, FindingKind.NOT_VISITED, D(2026, 10, 3))
    finding(campaign, w.c1, FindingKind.NOT_VISITED, D(2026, 10, 14))
    finding(campaign, w.c1, FindingKind.FAKE_OPINIONS, D(2026, 10, 31))
    finding(campaign, w.c1, FindingKind.NOT_VISITED, D(2026, 11, 2))
    finding(other, w.c1, FindingKind.NOT_VISITED, D(2026, 10, 5))
    # Visits.
    visit(campaign, w.ha, w.worker_a, D(2026, 10, 9))
    visit(campaign, w.ha, w.worker_a, D(2026, 10, 20))
    visit(campaign, w.hb, w.worker_b, D(2026, 10, 12))
    visit(campaign, w.hb, w.worker_b, D(2026, 10, 15), method="not_home")
    visit(campaign, w.hb, w.worker_b, D(2026, 9, 28))
    visit(other, w.hb, w.worker_b, D(2026, 10, 16))
    visit(campaign, w.hc, w.handler, D(2026, 10, 12))
    # Issues of 湖田社区.
    w.i1 = issue(w.ha, registered_on=D(2026, 10, 12), due_on=D(2026, 11, 2), status=Status.CLOSED,
                 answered_on=D(2026, 10, 20))  # fmt: skip
    w.i2 = issue(w.ha, registered_on=D(2026, 9, 1), due_on=D(2026, 10, 16))
    w.i3 = issue(w.hb, registered_on=D(2026, 9, 2), due_on=D(2026, 10, 5), status=Status.RESOLVED,
                 answered_on=D(2026, 10, 12))  # fmt: skip
    w.i4 = issue(w.hb, registered_on=D(2026, 10, 26), due_on=D(2026, 11, 16))
    return w


def line_of(lines, name):
    return next(line for line in lines if line.name == name)


EXPECTED_HUTIAN = {
    "findings": {"not_visited": 2, "fake_opinions": 1},
    "deducted": 2,  # 征求意见不实 costs nothing under 002
    "score": 997,  # 1000 − September's 虚假入户 − October's 2 不入户
    "visits": 3,
    "households": 2,
    "issues_registered": 2,  # i1, i4
    "issues_closed": 2,  # i1 on time, i3 late
    "issues_closed_on_time": 1,
    "issues_close_due": 3,  # i1, i3 and i2 (past its deadline, open)
    "issues_overdue": 2,  # i2, i3
}


def figures(line):
    return {name: getattr(line, name) for name in EXPECTED_HUTIAN}


@pytest.mark.django_db
def test_the_month_figures_per_community(bw):
    bulletin = build_bulletin(bw.c, OCTOBER, notify_readers=False)
    assert figures(line_of(bulletin.lines, "湖田社区")) == EXPECTED_HUTIAN
    nanwei = line_of(bulletin.lines, "南纬社区")
    assert (nanwei.visits, nanwei.households, nanwei.findings, nanwei.score) == (1, 1, {}, 1000)
    assert nanwei.on_time_pct is None  # nothing was due
    assert line_of(bulletin.lines, "湖田社区").on_time_pct == 33.3
    rows = {r.community.name: r for r in BulletinRow.objects.select_related("community")}
    assert figures(rows["湖田社区"]) == EXPECTED_HUTIAN


@pytest.mark.django_db
def test_the_points_follow_the_rulebook(bw):
    update_rules(bw.c, {"points_per_finding": 3, "deduct_kinds": ["not_visited", "fake_visit", "fake_opinions"]})
    campaign = Campaign.objects.get(pk=bw.c.pk)
    line = line_of(build_bulletin(campaign, OCTOBER, notify_readers=False).lines, "湖田社区")
    assert (line.deducted, line.score) == (9, 1000 - 3 - 9)


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["admin", "leader"])
def test_the_page_shows_the_months_figures(client, bw, who):
    client.force_login(getattr(bw, who))
    response = client.get(reverse("reports:bulletin"), {"campaign": bw.c.pk, "month": "2026-10"})
    assert response.status_code == 200
    assert figures(line_of(response.context["lines"], "湖田社区")) == EXPECTED_HUTIAN
    assert response.context["bulletin"] is None  # not built yet: the figures as they stand
    text = response.content.decode()
    assert "2026年10月" in text and "不入户 2、征求意见不实 1" in text and "33.3%" in text


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["secretary", "worker_a", "handler"])
def test_the_page_is_for_the_street_admins_and_leaders(client, bw, who):
    client.force_login(getattr(bw, who))
    assert client.get(reverse("reports:bulletin"), {"campaign": bw.c.pk}).status_code == 403
    assert client.get(reverse("reports:bulletin_export"), {"campaign": bw.c.pk}).status_code == 403


@pytest.mark.django_db
def test_a_month_not_begun_is_refused_in_chinese(client, bw):
    client.force_login(bw.admin)
    response = client.get(reverse("reports:bulletin"), {"campaign": bw.c.pk, "month": "2027-01"}, follow=True)
    assert response.status_code == 200
    assert "所选月份还没有开始" in response.content.decode()
    assert response.context["month"] == D(2026, 11, 1)  # last month instead
    response = client.get(reverse("reports:bulletin_export"), {"campaign": bw.c.pk, "month": "2026-13"}, follow=True)
    assert "月份格式应为 YYYY-MM" in response.content.decode()


@pytest.mark.django_db
def test_the_excel_file_has_the_months_figures_and_is_logged(client, bw):
    Node.objects.create(kind=NodeKind.COMMUNITY, name='=HYPERLINK("http://x","点我")', parent=bw.street)
    client.force_login(bw.admin)
    book = workbook_of(client.get(reverse("reports:bulletin_export"), {"campaign": bw.c.pk, "month": "2026-10"}))
    sheet = book["2026年10月督查通报"]
    header = header_of(sheet)
    assert header[:2] == ["序号", "社区"] and "征求意见不实" in header and "按期办结率" in header
    rows = as_dicts(sheet)
    hutian = next(r for r in rows if r["社区"] == "湖田社区")
    assert (hutian["不入户"], hutian["征求意见不实"], hutian["虚假入户"], hutian["督查发现合计"]) == (2, 1, 0, 3)
    assert (hutian["当月扣分"], hutian["累计得分"], hutian["走访次数"], hutian["走访户数"]) == (2, 997, 3, 2)
    assert (hutian["登记诉求"], hutian["办结诉求"], hutian["逾期诉求"], hutian["应办结"], hutian["按期办结"]) == (
        2,
        2,
        2,
        3,
        1,
    )
    assert hutian["按期办结率"] == pytest.approx(1 / 3)
    assert rows[-1]["社区"] == "合计" and rows[-1]["走访次数"] == 4
    # A community named like a formula comes back as text, never a formula.
    evil = next(c for c in sheet["B"] if isinstance(c.value, str) and c.value.startswith("=HYPERLINK"))
    assert evil.data_type == "s" and evil.quotePrefix
    log = AccessLog.objects.get()
    assert (log.user, log.rows, log.what) == (bw.admin, 3, "督查通报（2026年走千村进万户·2026年10月）")


@pytest.mark.django_db
def test_the_command_twice_makes_one_bulletin_and_tells_each_admin_and_leader_once(bw, capsys):
    call_command("build_bulletin", "--month", "2026-10")
    call_command("build_bulletin", "--month", "2026-10")
    build_bulletin_task("2026-10")  # the beat task: the same job
    assert Bulletin.objects.filter(campaign=bw.c, month=OCTOBER).count() == 1
    assert BulletinRow.objects.filter(bulletin__campaign=bw.c).count() == 2
    notes = Notification.objects.filter(title__contains="督查通报")
    # The street's three campaigns ran in October: each admin and leader is told once per campaign.
    told = sorted(notes.values_list("title", "user__username"))
    assert told == sorted(
        (f"【督查通报】{c} 2026年10月", who) for c in Campaign.objects.all() for who in ("admin", "leader")
    )
    note = notes.filter(title__contains="走千村进万户").get(user=bw.admin)
    assert "湖田社区：督查发现 3 条（不入户 2、征求意见不实 1），当月扣 2 分，累计得分 997" in note.body
    assert f"campaign={bw.c.pk}&month=2026-10" in note.body
    out = capsys.readouterr().out
    assert "已通知 2 人" in out and "此前已通知" in out


@pytest.mark.django_db
def test_the_built_bulletin_is_what_the_page_and_excel_show(client, bw):
    call_command("build_bulletin", "--month", "2026-10")
    finding(bw.c, bw.c1, FindingKind.NOT_VISITED, D(2026, 10, 30))  # recorded after the 通报 went out
    client.force_login(bw.leader)
    response = client.get(reverse("reports:bulletin"), {"campaign": bw.c.pk, "month": "2026-10"})
    assert response.context["bulletin"] is not None
    assert figures(line_of(response.context["lines"], "湖田社区")) == EXPECTED_HUTIAN
    assert "已通知街道管理员和领导" in response.content.decode()
    book = workbook_of(client.get(reverse("reports:bulletin_export"), {"campaign": bw.c.pk, "month": "2026-10"}))
    assert next(r for r in as_dicts(book.active) if r["社区"] == "湖田社区")["不入户"] == 2


@pytest.mark.django_db
def test_the_command_refuses_a_month_not_over(bw):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="还没有结束"):
        call_command("build_bulletin", "--month", "2026-12")
    assert not Bulletin.objects.exists()


@pytest.mark.django_db
def test_the_dashboard_and_ledgers_link_the_bulletin_for_admins_only(client, bw):
    url = reverse("reports:bulletin")
    client.force_login(bw.admin)
    assert url in client.get(reverse("reports:ledgers")).content.decode()
    assert url in client.get(reverse("reports:dashboard"), {"campaign": bw.c.pk}).content.decode()
    client.force_login(bw.secretary)
    assert url not in client.get(reverse("reports:ledgers")).content.decode()
    assert url not in client.get(reverse("reports:dashboard"), {"campaign": bw.c.pk}).content.decode()
