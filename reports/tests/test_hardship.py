"""一户一策: the 特殊困难群体 list, the plan page (edit / read-only / 404), and the 特殊困难群体台账 export.

The world (``hw``), on the supervision world ``rw`` (tests/fixtures/supervision.py):

    ha  湖田社区 grid_a  低保户、残疾人        plan with 2 measures (one done, one overdue)
    hb  湖田社区 grid_b  (no tag)              a request marked 特殊困难群体; no plan
    hc  南纬社区         特殊困难群体          plan without measures (assigned to the department handler)
    hd  湖田社区 grid_a  老党员                not on the ledger

Export rows: ha 2 + hb 1 + hc 1 = 4 for the street; 湖田社区's secretary 3; grid_a's worker 2;
grid_b's worker 1; the department handler 1 (hc).
"""

import datetime

import pytest
from django.urls import reverse

from households.models import AccessLog, FocusGroup, HardshipMeasure, HardshipPlan, Household
from issues.tests.factories import make_issue
from reports import ledgers
from reports.tests.workbooks import ID_OR_PHONE, all_text, as_dicts, header_of, workbook_of
from tests.support.world import make_household

D = datetime.date
HEADERS = [
    "序号", "社区", "网格", "户主", "地址", "身份证号", "联系电话", "困难类型", "困难情况", "帮扶目标", "帮扶责任人",
    "帮扶措施", "责任单位", "完成时限", "完成情况",
]  # fmt: skip


def tag(household, *names):
    household.tags.add(*FocusGroup.objects.filter(name__in=names))


@pytest.fixture
def hw(rw):
    w = rw
    tag(w.ha, "低保户", "残疾人")
    w.plan_a = HardshipPlan.objects.create(household=w.ha, situation="户主患慢性病，无固定收入", goal="落实低保和医疗救助",
                                           responsible="张书记（湖田社区）")  # fmt: skip
    HardshipMeasure.objects.create(plan=w.plan_a, content="协助申请医疗救助", unit="区医保局", due_on=D(2026, 6, 30),
                                   done_on=D(2026, 6, 20), order=0)  # fmt: skip
    HardshipMeasure.objects.create(
        plan=w.plan_a, content="推荐公益性岗位", unit="区人社局", due_on=D(2020, 1, 31), order=1
    )
    make_issue(w.hb, text="家中老人瘫痪，需要护理补贴", special_hardship=True)
    tag(w.hc, "特殊困难群体")
    HardshipPlan.objects.create(household=w.hc, situation="独居残疾老人", responsible="王委员")
    w.hd = make_household(w.grid_a, "103", "赵丁", 30)
    tag(w.hd, "老党员")
    return w


def hardship_rows(client, user, **params):
    client.force_login(user)
    book = workbook_of(client.get(reverse("reports:ledger_hardship"), params))
    sheet = book[ledgers.HARDSHIP_SHEET]
    assert header_of(sheet) == HEADERS
    return book, as_dicts(sheet)


# ------------------------------------------------------------------------------------------------ the export


@pytest.mark.django_db
def test_it_writes_a_row_per_measure_and_one_per_household_without(client, hw):
    _book, rows = hardship_rows(client, hw.admin)
    assert [(r["序号"], r["户主"], r["帮扶措施"], r["完成情况"]) for r in rows] == [
        (1, "张甲", "协助申请医疗救助", "已完成（2026-06-20）"),
        (1, "张甲", "推荐公益性岗位", "逾期未完成"),
        (2, "李乙", None, "未制定方案"),
        (3, "王丙", None, "未列帮扶措施"),
    ]
    first = rows[0]
    assert (first["社区"], first["网格"], first["地址"]) == ("湖田社区", "第1网格", "1号楼1单元101")
    assert (
        first["身份证号"] == hw.ha.id_number and first["联系电话"] == hw.ha.phone
    )  # the street admin sees them in full
    assert first["困难类型"] == "低保户、残疾人"
    assert (first["困难情况"], first["帮扶目标"], first["帮扶责任人"], first["责任单位"]) == (
        "户主患慢性病，无固定收入", "落实低保和医疗救助", "张书记（湖田社区）", "区医保局"
    )  # fmt: skip
    assert first["完成时限"].date() == D(2026, 6, 30)
    assert rows[3]["困难类型"] == "特殊困难群体" and rows[2]["困难类型"] is None


@pytest.mark.django_db
@pytest.mark.parametrize("who,names", [
    ("leader", ["张甲", "张甲", "李乙", "王丙"]),
    ("secretary", ["张甲", "张甲", "李乙"]),
    ("worker_a", ["张甲", "张甲"]),
    ("worker_b", ["李乙"]),
    ("handler", ["王丙"]),
])  # fmt: skip
def test_it_exports_only_the_households_the_user_may_see_and_logs_it(client, hw, who, names):
    user = getattr(hw, who)
    _book, rows = hardship_rows(client, user)
    assert [r["户主"] for r in rows] == names
    log = AccessLog.objects.get()
    assert (log.user, log.rows, log.what, log.ip) == (user, len(names), "特殊困难群体台账（一户一策）", "127.0.0.1")


@pytest.mark.django_db
def test_it_masks_id_numbers_and_phones_for_roles_without_full_access(client, hw):
    book, rows = hardship_rows(client, hw.secretary)
    assert rows[0]["身份证号"] == hw.ha.id_number[:6] + "********" + hw.ha.id_number[-4:]
    assert rows[0]["联系电话"] == hw.ha.phone[:3] + "****" + hw.ha.phone[-4:]
    assert rows[0]["地址"] == "1号楼1单元1**"
    assert not [t for t in all_text(book) if ID_OR_PHONE.search(t)]


@pytest.mark.django_db
def test_it_filters_one_community(client, hw):
    _book, rows = hardship_rows(client, hw.admin, community=hw.c2.pk)
    assert [r["户主"] for r in rows] == ["王丙"]
    assert AccessLog.objects.get().what == "特殊困难群体台账（一户一策）·南纬社区"


@pytest.mark.django_db
def test_it_writes_a_formula_like_household_name_as_text(client, hw):
    Household.objects.filter(pk=hw.ha.pk).update(head_name='=HYPERLINK("http://x")')
    book, _rows = hardship_rows(client, hw.admin)
    cells = [
        row[3] for row in book[ledgers.HARDSHIP_SHEET].iter_rows(min_row=2) if row[3].value == '=HYPERLINK("http://x")'
    ]
    assert len(cells) == 2 and all(c.data_type == "s" for c in cells)


# ------------------------------------------------------------------------------------------------ the list


@pytest.mark.django_db
def test_the_list_shows_each_households_plan_status(client, hw):
    client.force_login(hw.admin)
    page = client.get(reverse("reports:hardship_list")).content.decode()
    assert "共 3 户" in page
    for status in ("2项措施，1项已完成", "无方案", "0项措施，0项已完成"):
        assert status in page, status
    assert "赵丁" not in page
    for h in (hw.ha, hw.hb, hw.hc):
        assert reverse("reports:hardship_plan", args=[h.pk]) in page


@pytest.mark.django_db
def test_the_list_is_scoped_and_filtered(client, hw):
    client.force_login(hw.secretary)
    page = client.get(reverse("reports:hardship_list")).content.decode()
    assert "张甲" in page and "李乙" in page and "王丙" not in page
    client.force_login(hw.admin)
    page = client.get(reverse("reports:hardship_list"), {"community": hw.c2.pk}).content.decode()
    assert "共 1 户" in page and "王丙" in page


# ------------------------------------------------------------------------------------------------ the plan page


def plan_data(measures=(), initial=(), **fields):
    """POST data of the plan form: ``initial`` the existing measures (with DELETE to drop one),
    ``measures`` the new rows."""
    data = {"situation": "老人瘫痪在床，子女下岗", "goal": "落实护理补贴", "responsible": "李委员（湖田社区）"}
    data.update(fields)
    rows = list(initial) + list(measures)
    data.update({"measures-TOTAL_FORMS": len(rows), "measures-INITIAL_FORMS": len(initial),
                 "measures-MIN_NUM_FORMS": 0, "measures-MAX_NUM_FORMS": 1000})  # fmt: skip
    for n, row in enumerate(rows):
        for key, value in row.items():
            data[f"measures-{n}-{key}"] = value
    return data


@pytest.mark.django_db
def test_a_secretary_writes_a_plan_with_its_measures(client, hw):
    client.force_login(hw.secretary)
    url = reverse("reports:hardship_plan", args=[hw.hb.pk])
    page = client.get(url).content.decode()
    assert 'name="situation"' in page and 'name="measures-TOTAL_FORMS"' in page
    data = plan_data(
        [{"content": "申请护理补贴", "unit": "区民政局", "due_on": "2026-12-31"}, {"content": "联系家庭医生上门"}, {}]
    )
    response = client.post(url, data)
    assert response.status_code == 302 and response["Location"] == url
    plan = HardshipPlan.objects.get(household=hw.hb)
    assert (plan.situation, plan.responsible, plan.updated_by) == (
        "老人瘫痪在床，子女下岗",
        "李委员（湖田社区）",
        hw.secretary,
    )
    assert [(m.content, m.unit, m.due_on, m.order) for m in plan.measures.all()] == [
        ("申请护理补贴", "区民政局", D(2026, 12, 31), 0), ("联系家庭医生上门", "", None, 1)
    ]  # fmt: skip
    assert "帮扶方案已保存" in client.get(url).content.decode()


@pytest.mark.django_db
def test_editing_a_plan_changes_deletes_and_adds_measures(client, hw):
    client.force_login(hw.worker_a)  # grid workers may change their households
    done, late = hw.plan_a.measures.all()
    initial = [
        {
            "id": done.pk,
            "seen_version": done.version,
            "content": done.content,
            "unit": done.unit,
            "due_on": "2026-06-30",
            "done_on": "2026-06-20",
            "DELETE": "on",
        },
        {
            "id": late.pk,
            "seen_version": late.version,
            "content": late.content,
            "unit": late.unit,
            "due_on": "2020-01-31",
            "done_on": "2026-11-30",
        },
    ]
    data = plan_data(
        [{"content": "送温暖慰问"}], initial, seen_version=hw.plan_a.version
    )  # the versions the page carried
    response = client.post(reverse("reports:hardship_plan", args=[hw.ha.pk]), data)
    assert response.status_code == 302
    assert [(m.content, m.done_on) for m in hw.plan_a.measures.all()] == [
        ("推荐公益性岗位", D(2026, 11, 30)),
        ("送温暖慰问", None),
    ]
    assert HardshipPlan.objects.get(pk=hw.plan_a.pk).updated_by == hw.worker_a


@pytest.mark.django_db
def test_it_shows_the_errors_in_chinese_and_saves_nothing(client, hw):
    client.force_login(hw.secretary)
    url = reverse("reports:hardship_plan", args=[hw.hb.pk])
    response = client.post(
        url,
        plan_data(
            [{"unit": "区民政局"}, {"content": "x", "done_on": "2999-01-01"}, {"content": "y", "due_on": "明天"}],
            situation="",
        ),
    )
    page = response.content.decode()
    assert response.status_code == 200
    for message in ("请填写困难情况", "请填写帮扶措施", "完成日期不能晚于今天", "请输入正确的日期"):
        assert message in page, message
    assert not HardshipPlan.objects.filter(household=hw.hb).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["leader", "handler"])
def test_roles_that_may_not_change_households_read_the_plan_only(client, hw, who):
    client.force_login(getattr(hw, who))
    url = reverse("reports:hardship_plan", args=[hw.hc.pk])
    page = client.get(url).content.decode()
    assert "独居残疾老人" in page and "尚未列出帮扶措施" in page
    assert 'method="post" class="form-card"' not in page
    assert client.post(url, plan_data()).status_code == 403
    if who == "leader":
        page = client.get(reverse("reports:hardship_plan", args=[hw.ha.pk])).content.decode()
        assert "推荐公益性岗位" in page and "逾期未完成" in page
        assert "尚未制定帮扶方案" in client.get(reverse("reports:hardship_plan", args=[hw.hb.pk])).content.decode()


@pytest.mark.django_db
def test_outsiders_get_404_for_the_plan_of_a_household_they_cannot_see(client, hw):
    for who, household in (("secretary", hw.hc), ("worker_a", hw.hb), ("worker_b", hw.ha), ("handler", hw.ha)):
        client.force_login(getattr(hw, who))
        url = reverse("reports:hardship_plan", args=[household.pk])
        assert client.get(url).status_code == 404, who
        assert client.post(url, plan_data()).status_code == 404, who
    assert client.get(reverse("reports:hardship_plan", args=[99999])).status_code == 404
    assert HardshipPlan.objects.count() == 2


@pytest.mark.django_db
def test_anonymous_visitors_go_to_login(client, hw):
    response = client.get(reverse("reports:hardship_plan", args=[hw.ha.pk]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
