"""The ledgers (reports/ledgers/): the 入户走访台账 and the 督查扣分表 exports, the ledgers page.

The world: ``lw`` (reports/tests/conftest.py; also used by test_monthly.py).
"""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from households.models import AccessLog, Household
from issues.tests.factories import make_issue
from reports import ledgers, scoring
from reports.models import Finding
from reports.tests.factories import make_visit
from reports.tests.workbooks import all_text, as_dicts, header_of, rows_of, workbook_of

D = datetime.date
T = datetime.time


def export(client, user, name, **params):
    client.force_login(user)
    return workbook_of(client.get(reverse(f"reports:{name}"), params))


def visit_sheet(client, user, **params):
    params.setdefault("campaign", _campaign_pk())
    return export(client, user, "ledger_visits", **params)[ledgers.VISIT_SHEET]


def _campaign_pk():
    from visitplan.models import Campaign

    return Campaign.objects.get().pk


VISIT_HEADERS = [
    "序号", "社区", "网格", "户主", "地址", "走访日期", "开始时间", "结束时间", "时长（分钟）", "走访方式", "类型",
    "走访干部", "干部层级", "工作单位", "入户必问（需要帮助的方面）", "三了解四掌握五到位（完成项数/12）", "亲情卡",
    "满意度", "时长不足原因", "民情日记", "收集诉求数",
]  # fmt: skip


# ------------------------------------------------------------------------------------------------ 入户走访台账


@pytest.mark.django_db
def test_it_writes_the_visit_ledger_header_and_one_row_per_visit(client, lw):
    sheet = visit_sheet(client, lw.admin)
    assert header_of(sheet) == VISIT_HEADERS
    rows = as_dicts(sheet)
    assert len(rows) == 8
    assert [r["序号"] for r in rows] == list(range(1, 9))
    # 湖田社区 first (by the tree), each community by date.
    assert [(r["社区"], r["户主"]) for r in rows][-1] == ("南纬社区", "王丙")


@pytest.mark.django_db
def test_it_fills_a_visit_row_with_labels_dates_and_counts(client, lw):
    sheet = visit_sheet(client, lw.admin)
    cells = dict(zip(VISIT_HEADERS, next(sheet.iter_rows(min_row=2))))
    row = {k: c.value for k, c in cells.items()}
    assert (row["社区"], row["网格"], row["户主"], row["地址"]) == ("湖田社区", "第1网格", "张甲", "1号楼1单元101")
    assert cells["走访日期"].is_date and row["走访日期"].date() == D(2026, 9, 28)
    assert cells["开始时间"].is_date and row["开始时间"] == T(9, 0) and row["结束时间"] == T(9, 40)
    assert (row["时长（分钟）"], row["走访方式"], row["类型"]) == (40, "入户", "入户走访")
    assert (row["走访干部"], row["干部层级"]) == ("grid_a", "网格员")
    assert row["入户必问（需要帮助的方面）"] == "住有宜居：楼道灯坏了两周；弱有众扶"
    assert row["三了解四掌握五到位（完成项数/12）"] == "3/12"  # the unknown code does not count
    assert (row["亲情卡"], row["满意度"], row["民情日记"], row["收集诉求数"]) == (
        "是",
        "满意",
        "老人独居，子女在外地",
        2,
    )
    by_day = {(r["走访日期"].date(), r["走访干部"], r["走访方式"]): r for r in as_dicts(sheet)}
    short = by_day[(D(2026, 10, 9), "grid_a", "电话")]
    assert (short["时长（分钟）"], short["时长不足原因"], short["收集诉求数"]) == (20, "户主在外地务工，电话联系", 0)
    assert by_day[(D(2026, 10, 9), "grid_a", "入户")]["收集诉求数"] == 2
    assert by_day[(D(2026, 10, 12), "grid_b", "入户")]["收集诉求数"] == 1
    assert by_day[(D(2026, 10, 20), "grid_b", "电话")]["类型"] == "回头看"
    assert by_day[(D(2026, 10, 15), "grid_b", "未遇")]["亲情卡"] == "否"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "who,expected",
    [("admin", 8), ("leader", 8), ("secretary", 7), ("worker_a", 3), ("worker_b", 4), ("handler", 1)],
)
def test_it_exports_only_the_visits_the_user_may_see_and_logs_it(client, lw, who, expected):
    user = getattr(lw, who)
    rows = as_dicts(visit_sheet(client, user))
    assert len(rows) == expected
    if who == "secretary":
        assert {r["社区"] for r in rows} == {"湖田社区"}
    if who == "worker_a":
        assert {r["户主"] for r in rows} == {"张甲"}  # his grid only, not hb that he also visited
    if who == "handler":
        assert [r["户主"] for r in rows] == ["王丙"]
    log = AccessLog.objects.get()
    assert (log.user, log.rows, log.ip) == (user, expected, "127.0.0.1")
    assert log.what.startswith("入户走访台账（2026年入户大走访")


@pytest.mark.django_db
def test_it_filters_by_community_and_date_range(client, lw):
    assert [r["户主"] for r in as_dicts(visit_sheet(client, lw.admin, community=lw.c2.pk))] == ["王丙"]
    in_range = as_dicts(visit_sheet(client, lw.admin, **{"from": "2026-10-01", "to": "2026-10-15"}))
    assert len(in_range) == 5  # v2, v3, v4, v5, v8
    assert AccessLog.objects.filter(what__contains="2026-10-01至2026-10-15").exists()
    # Without a campaign, the current one.
    assert len(as_dicts(visit_sheet(client, lw.admin, campaign=""))) == 8


@pytest.mark.django_db
def test_it_refuses_a_community_outside_the_scope_or_a_reversed_range(client, lw):
    client.force_login(lw.secretary)
    url = reverse("reports:ledger_visits")
    response = client.get(url, {"campaign": lw.campaign.pk, "community": lw.c2.pk}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("reports:ledgers")
    assert "没有找到该社区" in response.content.decode()
    response = client.get(url, {"campaign": lw.campaign.pk, "from": "2026-10-15", "to": "2026-10-01"}, follow=True)
    assert "开始日期不能晚于结束日期" in response.content.decode()
    response = client.get(url, {"campaign": 99999}, follow=True)
    assert "没有找到该走访活动" in response.content.decode()
    assert not AccessLog.objects.exists()


@pytest.mark.django_db
def test_it_writes_a_formula_like_household_name_as_text(client, lw):
    Household.objects.filter(pk=lw.hb.pk).update(head_name='=HYPERLINK("http://x")')
    sheet = visit_sheet(client, lw.admin)
    names = [row[3] for row in sheet.iter_rows(min_row=2) if row[3].value == '=HYPERLINK("http://x")']
    assert len(names) == 4 and all(c.data_type == "s" for c in names)
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)


@pytest.mark.django_db
def test_it_masks_the_door_number_for_roles_without_full_access(client, lw):
    rows = as_dicts(visit_sheet(client, lw.secretary))
    assert {r["地址"] for r in rows if r["户主"] == "张甲"} == {"1号楼1单元1**"}


@pytest.mark.django_db
def test_it_reads_the_visit_ledger_in_a_number_of_queries_that_does_not_grow(client, lw):
    client.force_login(lw.admin)
    url = reverse("reports:ledger_visits")

    def queries():
        with CaptureQueriesContext(connection) as q:
            b"".join(client.get(url, {"campaign": lw.campaign.pk}).streaming_content)
        return len(q.captured_queries)

    before = queries()
    for n in range(10):
        visit = make_visit(lw, lw.hc, lw.handler, D(2026, 11, 1 + n))
        visit.issues.add(make_issue(lw.hc, registered_on=D(2026, 11, 2)))
    assert queries() == before


@pytest.mark.django_db
def test_it_sends_anonymous_visitors_to_login_and_logs_nothing(client, lw):
    for name in (
        "ledgers",
        "ledger_visits",
        "ledger_hardship",
        "ledger_monthly",
        "ledger_supervision",
        "hardship_list",
    ):
        response = client.get(reverse(f"reports:{name}"))
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), name
    assert not AccessLog.objects.exists()


# ------------------------------------------------------------------------------------------------ the page


@pytest.mark.django_db
def test_the_ledgers_page_has_a_card_per_ledger_with_its_filters(client, lw):
    client.force_login(lw.admin)
    page = client.get(reverse("reports:ledgers")).content.decode()
    for title in ("入户走访台账", "问题整改台账", "特殊困难群体台账", "月度大走访活动入户表", "督查扣分表"):
        assert f">{title}" in page, title
    for url in ("reports:ledger_visits", "reports:ledger_hardship", "reports:ledger_monthly", "reports:ledger_supervision",
                "reports:hardship_list", "issues:export"):  # fmt: skip
        assert f'"{reverse(url)}"' in page, url
    assert f'value="{lw.campaign.pk}" selected' in page
    assert "南纬社区" in page and "湖田社区" in page


@pytest.mark.django_db
def test_a_grid_worker_may_open_the_page_without_the_community_filter(client, lw):
    client.force_login(lw.worker_a)
    response = client.get(reverse("reports:ledgers"))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="community"' not in page and "南纬社区" not in page
    assert "身份证号、电话和门牌号已部分隐藏" in page


# ------------------------------------------------------------------------------------------------ 督查扣分表

SCORE_HEADERS = [
    "排名",
    "社区",
    "督查发现数",
    "不入户",
    "虚假入户",
    "征求意见不实",
    "不整改",
    "虚假整改",
    "整改不彻底",
    "扣分",
    "得分",
    "是否约谈",
]
FINDING_HEADERS = ["日期", "社区", "检查方式", "问题类型", "责任干部", "情况说明", "记录人"]


@pytest.fixture
def found(lw):
    w = lw

    def find(community, kind, day, cadre=None, method="onsite"):
        Finding.objects.create(campaign=w.campaign, community=community, method=method, kind=kind, cadre=cadre,
                               evidence=f"{kind} 情况说明", found_on=day, recorded_by=w.admin)  # fmt: skip

    find(w.c1, "not_visited", D(2026, 11, 3), cadre=w.worker_a.cadre)
    find(w.c1, "not_visited", D(2026, 11, 4), method="phone")
    find(w.c1, "fake_visit", D(2026, 11, 5), cadre=w.worker_b.cadre, method="online")
    find(w.c2, "incomplete", D(2026, 11, 6))
    return w


def supervision_book(client, user):
    return export(client, user, "ledger_supervision", campaign=_campaign_pk())


@pytest.mark.django_db
def test_it_writes_the_score_sheet_from_the_scoring_rule(client, found):
    book = supervision_book(client, found.admin)
    assert book.sheetnames == ["督查扣分表", "约谈名单", "督查发现明细"]
    sheet = book["督查扣分表"]
    assert header_of(sheet) == SCORE_HEADERS
    assert rows_of(sheet) == [
        [1, "南纬社区", 1, 0, 0, 0, 0, 0, 1, 1, 999, "否"],
        [2, "湖田社区", 3, 2, 1, 0, 0, 0, 0, 3, 997, "是"],
    ]
    scores = scoring.community_scores(found.campaign, ledgers.supervision_communities(found.admin, found.campaign))
    assert [(r[0], r[1], r[10]) for r in rows_of(sheet)] == [(s.rank, s.name, s.score) for s in scores]


@pytest.mark.django_db
def test_it_writes_the_interview_list_and_every_finding(client, found):
    book = supervision_book(client, found.admin)
    interviews = as_dicts(book["约谈名单"])
    assert header_of(book["约谈名单"]) == ["序号", "社区", "姓名", "层级", "工作单位", "职务", "督查发现数", "约谈原因"]
    assert {(r["社区"], r["姓名"], r["督查发现数"], r["约谈原因"]) for r in interviews} == {
        ("湖田社区", "staff_c1", 3, "3 条（不入户 2、虚假入户 1）"),
        ("湖田社区", "lw_c1", 3, "3 条（不入户 2、虚假入户 1）"),
    }
    sheet = book["督查发现明细"]
    assert header_of(sheet) == FINDING_HEADERS
    rows = as_dicts(sheet)
    assert len(rows) == 4
    assert [(r["社区"], r["检查方式"], r["问题类型"], r["责任干部"], r["记录人"]) for r in rows] == [
        ("湖田社区", "实地巡查", "不入户", "grid_a", "admin"),
        ("湖田社区", "电话调查", "不入户", None, "admin"),  # no cadre named: an empty cell
        ("湖田社区", "网上抽查", "虚假入户", "grid_b", "admin"),
        ("南纬社区", "实地巡查", "整改不彻底", None, "admin"),
    ]
    assert next(sheet.iter_rows(min_row=2))[0].is_date
    log = AccessLog.objects.get()
    assert (log.user, log.rows, log.what) == (found.admin, 2 + 2 + 4, "督查扣分表（2026年入户大走访）")


@pytest.mark.django_db
@pytest.mark.parametrize("who,scores,interviews,findings", [
    ("leader", 2, 2, 4), ("secretary", 1, 2, 3), ("worker_a", 0, 0, 0), ("handler", 0, 0, 0),
])  # fmt: skip
def test_it_scopes_the_supervision_sheets_to_the_users_communities(client, found, who, scores, interviews, findings):
    book = supervision_book(client, getattr(found, who))
    assert [len(rows_of(book[name])) for name in book.sheetnames] == [scores, interviews, findings]
    if who == "secretary":
        assert {r[1] for r in rows_of(book["督查扣分表"])} == {"湖田社区"}
        assert "南纬社区" not in all_text(book)
