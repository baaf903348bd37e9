"""What a leader reads: the 千分制 shown as points lost from 0 with the findings
behind each score one click away; 满意 / 基本满意 / 不满意 and a 满意率 of 满意 + 基本满意; every figure
of the dashboard linked to exactly the rows it counts, for each role that sees it; the cadres of the
落后名单 linked to their households and the 未访 list naming who is responsible for each household;
the ledger's deadlines as date cells with 暂定 in a column of its own.

The street is counted by hand below; "today" is 2026-12-01 for the pages (reports.views' clock)."""

import datetime
import io
import json
import re
from html import unescape
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.urls import reverse
from openpyxl import load_workbook

from households.models import FocusGroup
from issues import exporting
from issues.models import Closure, Issue, Status
from issues.tests.factories import make_issue
from reports import dashboard, views
from reports.models import Finding
from reports.tests.factories import visit
from tests.support.world import make_household
from visits.models import FollowUp

D = datetime.date
TODAY = D(2026, 12, 1)


@pytest.fixture
def lr(rw, monkeypatch):
    """The small street (``rw``: ha → grid_a, hb → grid_b in 湖田社区, hc → the department's cadre in
    南纬社区) with ha2, a 高龄 household nobody holds; visits, issues in and out of the period,
    four follow-ups and three findings in 湖田社区."""
    monkeypatch.setattr(views, "timezone", SimpleNamespace(localdate=lambda: TODAY))
    w = rw
    w.ha2 = make_household(w.grid_a, "102", "赵丁", 21, building=w.ha.building)
    w.ha2.tags.add(FocusGroup.objects.get(name="高龄老人"))
    visit(w, w.ha, w.worker_a, D(2026, 5, 10), minutes=40)
    visit(w, w.ha, w.worker_a, D(2026, 9, 28), minutes=20)  # short
    visit(w, w.hb, w.worker_b, D(2026, 9, 1), method="not_home")  # not counted: hb unvisited
    visit(w, w.hc, w.handler, D(2026, 10, 10), method="phone")
    routed = dict(status=Status.ROUTED, department=w.dept)
    # Plan and answer on time.
    w.i1 = make_issue(w.ha, status=Status.CLOSED, department=w.dept, registered_on=D(2026, 9, 1),
                      plan_posted_on=D(2026, 9, 3), answered_on=D(2026, 9, 10), closed_on=D(2026, 9, 11))  # fmt: skip
    # Plan late and past its close deadline: overdue.
    w.i2 = make_issue(w.hb, status=Status.IN_PROGRESS, department=w.dept, registered_on=D(2026, 10, 12),
                      plan_posted_on=D(2026, 10, 30))  # fmt: skip
    # Routed lately: nothing due yet (two of them, in each community).
    w.i3 = make_issue(w.hc, registered_on=D(2026, 11, 25), **routed)
    w.i6 = make_issue(w.hb, registered_on=D(2026, 11, 26), **routed)
    # Answered on the spot.
    w.i4 = make_issue(w.ha, status=Status.CLOSED, registered_on=D(2026, 9, 28), closure=Closure.ON_THE_SPOT,
                      answered_on=D(2026, 9, 28), closed_on=D(2026, 9, 28), plan_posted_on=None, plan_text="")  # fmt: skip
    # Registered before the campaign: in the ledger, in no figure of the campaign's dashboard.
    w.i5 = make_issue(w.hb, registered_on=D(2026, 1, 12), **routed)
    for issue, household, status, solved, satisfaction in (
        (w.i1, w.ha, "done", True, "satisfied"),
        (w.i4, w.ha, "done", True, "basic"),
        (w.i2, w.hb, "done", False, "unsatisfied"),
        (w.i3, w.hc, "due", None, ""),
    ):
        FollowUp.objects.create(campaign=w.campaign, household=household, issue=issue, cadre=w.worker_a.cadre,
                                listed_on=D(2026, 11, 16), due_on=D(2026, 11, 25), status=status, solved=solved,
                                satisfaction=satisfaction)  # fmt: skip
    for _ in range(3):
        Finding.objects.create(campaign=w.campaign, community=w.c1, method="phone", kind="fake_visit", evidence="称未被走访",
                               found_on=D(2026, 11, 20))  # fmt: skip
    return w


READERS = ("admin", "leader", "secretary")


def page_of(client, url):
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response


def rows_behind(client, url):
    """How many rows the page at ``url`` lists (all its pages)."""
    context = page_of(client, url).context
    if "page" in context:
        return context["page"].paginator.count
    return len(context["rows"])


def tiles(html):
    """{label: href} of the dashboard's figure tiles."""
    found = re.findall(r'<a class="kpi" href="([^"]+)"><span class="k-label">([^<]+)</span>', html)
    return {label: unescape(href) for href, label in found}


def chart_data(html):
    return json.loads(re.search(r'<script id="dashboard-data" type="application/json">(.*?)</script>', html, re.S)[1])


# ------------------------------------------------------------------------------------ 千分制


@pytest.mark.django_db
def test_the_score_chart_shows_points_lost_from_zero_and_each_score_opens_its_findings(client, lr):
    w = lr
    client.force_login(w.leader)
    html = page_of(client, reverse("reports:dashboard")).content.decode()
    scores = {s["name"]: s for s in chart_data(html)["scores"]}
    # The chart draws the points lost (an axis from 0), not scores near 1000: 湖田社区 lost 3 of 1000.
    assert (scores["湖田社区"]["score"], scores["湖田社区"]["deducted"]) == (997, 3)
    assert (scores["南纬社区"]["score"], scores["南纬社区"]["deducted"]) == (1000, 0)
    with open(settings.BASE_DIR / "static" / "js" / "dashboard.js", encoding="utf-8") as f:
        scores_chart = f.read().split('chart("ch-scores"', 1)[1].split("});", 1)[0]
    assert "min: 0" in scores_chart and "s.deducted" in scores_chart
    # One click: the chart's bar and the table's 扣分 open the findings of that community, as many as the points lost.
    assert rows_behind(client, scores["湖田社区"]["url"]) == 3
    table = html.split('id="score-table"', 1)[1].split("</table>", 1)[0]
    link = re.search(rf'data-community="{w.c1.pk}".*?<a href="([^"]+)">扣 3 分', table, re.S)
    assert link and rows_behind(client, unescape(link[1])) == 3
    assert f'data-community="{w.c2.pk}"' in table  # 南纬社区: nothing lost, nothing to open


# ------------------------------------------------------------------------------------ satisfaction


@pytest.mark.django_db
def test_satisfaction_counts_satisfied_and_basically_satisfied_as_government_figures_do(client, lr):
    w = lr
    f = dashboard.build(w.leader, w.campaign, today=TODAY).followups
    assert [(s["label"], s["n"], s["pct"]) for s in f["satisfaction"]] == [
        ("满意", 1, 33.3), ("基本满意", 1, 33.3), ("不满意", 1, 33.3)
    ]  # fmt: skip
    assert (f["satisfied"], f["answered"], f["satisfied_pct"]) == (2, 3, 66.7)
    client.force_login(w.leader)
    html = page_of(client, reverse("reports:dashboard")).content.decode()
    assert "满意率 66.7%" in html  # the 回头看 tile
    table = html.split('id="satisfaction-table"', 1)[1].split("</table>", 1)[0]
    for key, n in (("satisfied", 1), ("basic", 1), ("unsatisfied", 1), ("rate", 2)):
        row = table.split(f'data-satisfaction="{key}"', 1)[1].split("</tr>", 1)[0]
        href = unescape(re.search(r'<a href="([^"]+)">', row)[1])
        assert rows_behind(client, href) == n, key
    assert "66.7%" in table.split('data-satisfaction="rate"', 1)[1]


# ------------------------------------------------------------------------------------ figures and their rows


@pytest.mark.django_db
@pytest.mark.parametrize("reader", READERS)
def test_every_tile_opens_exactly_the_rows_it_counts(client, lr, reader):
    w = lr
    user = getattr(w, reader)
    board = dashboard.build(user, w.campaign, today=TODAY)
    client.force_login(user)
    html = page_of(client, reverse("reports:dashboard")).content.decode()
    links = tiles(html)
    counted = {
        "走访覆盖率": board.coverage["unvisited"],  # the tile's 未访 N
        "走访次数": board.visits["count"],
        "平均走访时长": board.visits["short"],  # the tile's 不足30分钟 N次
        "收集诉求": board.issues["total"],
        "方案按时上报率": board.issues["plan_due"],
        "按时办结率": board.issues["close_due"],
        "回头看": board.followups["total"],
        "督查发现": board.findings,
    }
    assert set(links) == set(counted)
    for label, n in counted.items():
        assert rows_behind(client, links[label]) == n, (reader, label, links[label])
    # The rates: their rows are the issues they divide by, with the numerator marked on time.
    for label, due, on_time in (
        ("方案按时上报率", "plan_due", "plan_on_time"),
        ("按时办结率", "close_due", "close_on_time"),
    ):
        rows = page_of(client, links[label])
        assert rows.context["on_time"] == board.issues[on_time], (reader, label)
        assert rows.content.decode().count('<span class="st st-resolved">按时</span>') == board.issues[on_time]
        assert rows.context["page"].paginator.count == board.issues[due]


@pytest.mark.django_db
def test_the_plan_rate_counts_plans_due_not_the_routed_issues_of_the_ledger(client, lr):
    """The tile used to open the ledger's 已交办 issues (i3, i5, i6: one of them from before the
    campaign) while it counts the plans due (i1 on time, i2 late)."""
    w = lr
    client.force_login(w.leader)
    href = tiles(page_of(client, reverse("reports:dashboard")).content.decode())["方案按时上报率"]
    rows = page_of(client, href).context["page"]
    assert {i.pk for i in rows.object_list} == {w.i1.pk, w.i2.pk}
    assert {i.pk: i.on_time for i in rows.object_list} == {w.i1.pk: True, w.i2.pk: False}


@pytest.mark.django_db
@pytest.mark.parametrize("reader", READERS)
def test_every_issue_chart_and_list_link_opens_the_rows_it_counts(client, lr, reader):
    w = lr
    user = getattr(w, reader)
    board = dashboard.build(user, w.campaign, today=TODAY)
    client.force_login(user)
    html = page_of(client, reverse("reports:dashboard")).content.decode()
    issues_url = unescape(re.search(r'data-issues="([^"]+)"', html)[1])
    data = chart_data(html)
    assert data["status"] and data["category"]
    for key in ("status", "category"):
        for bar in data[key]:
            assert rows_behind(client, f"{issues_url}&{key}={bar['key']}") == bar["n"], (reader, key, bar)
    base = reverse("reports:issues") + "?" + f"campaign={w.campaign.pk}"
    for figure in ("overdue", "merged", "on_the_spot", "open"):
        assert rows_behind(client, f"{base}&issues={figure}") == board.issues[figure], (reader, figure)
    if board.issues["merged"] or board.issues["on_the_spot"]:
        assert "issues=on_the_spot" in html


@pytest.mark.django_db
def test_the_issue_rows_are_scoped_like_the_figures(client, lr):
    w = lr
    client.force_login(w.secretary)
    rows = page_of(client, reverse("reports:issues") + "?issues=total").context["page"]
    # His community's issues of the period: not hc's (南纬社区), not i5 (before the campaign).
    assert {i.pk for i in rows.object_list} == {w.i1.pk, w.i2.pk, w.i4.pk, w.i6.pk}
    client.force_login(w.worker_a)
    assert client.get(reverse("reports:issues") + "?issues=total").status_code == 403


# ------------------------------------------------------------------------------------ cadres and households


@pytest.mark.django_db
def test_each_cadre_of_the_behind_list_opens_his_households(client, lr):
    w = lr
    t = dashboard.build(w.leader, w.campaign, today=TODAY).targets
    behind = {r["cadre_id"]: r for r in t["behind"]}
    assert w.worker_b.cadre.pk in behind  # hb: only a failed attempt this half-year
    client.force_login(w.leader)
    for url in (reverse("reports:dashboard"), reverse("reports:behind")):
        html = page_of(client, url).content.decode()
        for cadre_id, r in behind.items():
            link = re.search(rf'<a href="([^"]*cadre={cadre_id})"><b>{r["cadre__name"]}</b></a>', html)
            assert link, (url, r["cadre__name"])
            page = page_of(client, unescape(link[1]))
            assert page.context["cadre"].pk == cadre_id
            assert page.context["page"].paginator.count == r["assigned"]
            if "half_year" in r["targets"]:
                missing = page.content.decode().count('data-half="missing"')
                assert missing == r["assigned"] - r["now"], r["cadre__name"]
    page = page_of(client, f"{reverse('reports:cadre')}?cadre={w.worker_b.cadre.pk}")
    assert [h.pk for h in page.context["page"].object_list] == [w.hb.pk]
    assert "李乙" in page.content.decode() and "下半年未访" in page.content.decode()


@pytest.mark.django_db
def test_a_cadre_outside_the_readers_node_answers_404(client, lr):
    w = lr
    client.force_login(w.secretary)  # 湖田社区: the department's cadre works street-wide, grid_a in his community
    assert client.get(reverse("reports:cadre"), {"cadre": w.handler.cadre.pk}).status_code == 404
    assert client.get(reverse("reports:cadre"), {"cadre": w.worker_a.cadre.pk}).status_code == 200
    assert client.get(reverse("reports:cadre"), {"cadre": "x"}).status_code == 404


@pytest.mark.django_db
def test_the_unvisited_list_names_who_is_responsible_for_each_household(client, lr):
    w = lr
    client.force_login(w.leader)
    response = page_of(client, reverse("reports:unvisited"))
    html = response.content.decode()
    assert {h.pk for h in response.context["page"].object_list} == {w.hb.pk, w.ha2.pk}

    def responsible(household):
        return html.split(f'data-responsible="{household.pk}"', 1)[1].split("</p>", 1)[0]

    hb = responsible(w.hb)
    assert "grid_b" in hb and "网格员" in hb
    assert unescape(re.search(r'<a href="([^"]+)">grid_b</a>', hb)[1]).endswith(f"cadre={w.worker_b.cadre.pk}")
    assert "未包户" in responsible(w.ha2)  # nobody holds it: said so


# ------------------------------------------------------------------------------------ the Excel ledger


@pytest.mark.django_db
def test_the_ledgers_deadlines_are_date_cells_and_provisional_has_its_own_column(client, lr):
    w = lr
    Issue.objects.filter(pk=w.i2.pk).update(due_provisional=True)
    Issue.objects.filter(pk=w.i6.pk).update(plan_due_provisional=True, due_provisional=True)
    client.force_login(w.admin)
    response = client.get(reverse("issues:export"))
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content)))[exporting.SHEET_NAME]
    headers = [c.value for c in sheet[1]]
    plan, due, note = headers.index("方案时限"), headers.index("办结时限"), headers.index("时限暂定")
    assert note == due + 1
    assert sheet.max_row - 1 == Issue.objects.count()
    notes = {}
    for row in sheet.iter_rows(min_row=2):
        for cell in (row[plan], row[due]):
            assert cell.value is None or cell.is_date, cell.value  # never "2027-01-08（暂定）" as text
        notes[(row[due].value.date() if row[due].value else None, row[note].value)] = True
    i2, i6 = Issue.objects.get(pk=w.i2.pk), Issue.objects.get(pk=w.i6.pk)
    assert (i2.due_on, "办结时限暂定") in notes
    assert (i6.due_on, "方案时限、办结时限暂定") in notes
    assert (
        exporting.provisional_note(plan_due_on=None, plan_provisional=True, due_on=i2.due_on, due_provisional=False)
        == ""
    )


@pytest.mark.django_db
def test_junk_in_the_new_parameters_is_a_404_or_the_default_never_an_error(client, lr):
    w = lr
    client.force_login(w.leader)
    for junk in ("99999999999999999999", "-1", "²", "x" * 500, "\x00"):
        assert client.get(reverse("reports:cadre"), {"cadre": junk, "behind": junk}).status_code == 404
        for key in ("issues", "status", "category"):
            assert client.get(reverse("reports:issues"), {"issues": "total", key: junk}).status_code == 200
        assert client.get(reverse("reports:followups"), {"satisfied": junk}).status_code == 200
