"""干部名册 / 责任单位 / 包户名单 through django-import-export in the admin (visitplan/sheets/)."""

import csv
import io

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import Workbook, load_workbook

from households.models import AccessLog
from households.roles import CADRE, LEADER, SECRETARY
from tests.support.world import make_household
from visitplan.models import Assignment, Cadre, Department, Tier
from visitplan.sheets import AssignmentResource, CadreResource

pytestmark = pytest.mark.django_db

HEADERS = ["姓名", "层级", "工作单位", "所属部门", "职务", "联系电话", "工作范围", "登录账号", "在岗", "参与包户"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx(rows, headers=HEADERS) -> bytes:
    """A sheet built with openpyxl (rows: dicts by header, missing keys blank)."""
    wb = Workbook()
    ws = wb.active
    ws.append(list(headers))
    for row in rows:
        ws.append([row.get(h) for h in headers] if isinstance(row, dict) else list(row))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def good_rows():
    return [
        {
            "姓名": "王书记",
            "层级": "社区书记",
            "工作单位": "湖田社区居委会",
            "职务": "书记",
            "联系电话": "13900000001",
            "工作范围": "湖田社区",
            "登录账号": "wangshuji",
            "在岗": "是",
            "参与包户": "是",
        },
        {
            "姓名": "李网格",
            "层级": 6,
            "职务": "专职网格员",
            "联系电话": "0532-82345678",
            "工作范围": "湖田社区/第1网格",
            "登录账号": "liwangge",
            "在岗": "是",
            "参与包户": "是",
        },
        {
            "姓名": "赵领导",
            "层级": "街道班子成员",
            "工作单位": "湖田街道办事处",
            "职务": "副主任",
            "联系电话": "13900000003",
            "工作范围": "湖田街道",
            "登录账号": "zhaolingdao",
            "在岗": "是",
            "参与包户": "否",
        },
        {
            "姓名": "钱部门",
            "层级": "市/区直部门挂包单位",
            "工作单位": "区民政局",
            "所属部门": "区民政局",
            "联系电话": "13900000004",
            "工作范围": "南纬社区",
            "在岗": "是",
            "参与包户": "是",
        },
        {
            "姓名": "孙两委",
            "层级": "两委成员",
            "联系电话": "13900000005",
            "工作范围": "湖田社区 / 第2网格",
            "登录账号": "sunliangwei",
            "在岗": "否",
            "参与包户": "是",
        },
    ]


def login(client, user):
    client.force_login(user)
    return client


def upload(client, content, model="cadre", name="干部名册.xlsx"):
    return client.post(
        reverse(f"admin:visitplan_{model}_import"),
        {"resource": "0", "format": "0", "import_file": SimpleUploadedFile(name, content, content_type=XLSX)},
    )


def confirm(client, preview, model="cadre"):
    form = preview.context["confirm_form"]
    data = {k: form.initial[k] for k in ("import_file_name", "original_file_name", "format", "resource")}
    return client.post(reverse(f"admin:visitplan_{model}_process_import"), data)


def import_through_admin(client, content, model="cadre"):
    """Upload (dry run and preview), then confirm; returns the preview's import result."""
    preview = upload(client, content, model)
    assert preview.status_code == 200
    assert preview.context.get("confirm_form") is not None, messages_of(preview)
    done = confirm(client, preview, model)
    assert done.status_code == 302, done.content.decode()[:2000]
    assert done["Location"] == reverse(f"admin:visitplan_{model}_changelist")
    return preview.context["result"]


def messages_of(response):
    """The messages shown on the page, as one text."""
    return "\n".join(str(m) for m in response.context["messages"]) if response.context else ""


def export(client, model, fmt=0, query=""):
    url = reverse(f"admin:visitplan_{model}_export") + query
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["form"]
    data = {"format": str(fmt), "resource": "0"}
    # Every column ticked, as the export page has them by default.
    data.update({name: "on" for name, f in form.fields.items() if getattr(f, "is_selectable_field", False)})
    return client.post(url, data)


def export_rows(response):
    assert response.status_code == 200, response.content.decode()[:2000]
    ws = load_workbook(io.BytesIO(response.content)).worksheets[0]
    rows = [["" if c.value is None else c.value for c in row] for row in ws.iter_rows()]
    return rows[0], rows[1:]


def snapshot():
    cadres = sorted(
        Cadre.objects.values_list(
            "pk",
            "name",
            "tier",
            "unit",
            "department_id",
            "position",
            "phone",
            "scope_id",
            "user_id",
            "active",
            "takes_households",
        )
    )
    groups = sorted(User.groups.through.objects.values_list("user_id", "group_id"))
    return cadres, groups, User.objects.count()


# --------------------------------------------------------------------------- import


def test_a_roster_imports_through_the_admin(client, world):
    existing = User.objects.create_user("sunliangwei")  # an account made before, not yet a cadre
    login(client, world.admin)

    result = import_through_admin(client, xlsx(good_rows()))

    assert result.totals["new"] == 5
    wang = Cadre.objects.get(name="王书记")
    assert (wang.tier, wang.scope, wang.unit, wang.position) == (Tier.SECRETARY, world.c1, "湖田社区居委会", "书记")
    assert wang.user.username == "wangshuji" and not wang.user.has_usable_password()
    assert set(wang.user.groups.values_list("name", flat=True)) == {SECRETARY}
    li = Cadre.objects.get(name="李网格")
    assert (li.tier, li.scope, li.phone) == (Tier.GRID_WORKER, world.grid_a, "0532-82345678")
    assert set(li.user.groups.values_list("name", flat=True)) == {CADRE}
    zhao = Cadre.objects.get(name="赵领导")
    assert (zhao.tier, zhao.scope, zhao.takes_households) == (Tier.LEADER, world.street, False)
    assert set(zhao.user.groups.values_list("name", flat=True)) == {LEADER}
    qian = Cadre.objects.get(name="钱部门")
    assert (qian.tier, qian.scope, qian.department, qian.user) == (Tier.DEPARTMENT, world.c2, world.dept, None)
    sun = Cadre.objects.get(name="孙两委")
    assert (sun.tier, sun.scope, sun.active, sun.user) == (Tier.COMMITTEE, world.grid_b, False, existing)
    assert set(existing.groups.values_list("name", flat=True)) == {CADRE}


def test_reimporting_the_same_file_changes_nothing(client, world):
    login(client, world.admin)
    content = xlsx(good_rows())
    import_through_admin(client, content)
    before = snapshot()

    result = import_through_admin(client, content)

    assert result.totals["new"] == result.totals["update"] == 0
    assert result.totals["skip"] == 5
    assert snapshot() == before


def test_a_changed_row_updates_the_cadre_found_by_account_or_by_name_and_scope(client, world):
    login(client, world.admin)
    import_through_admin(client, xlsx(good_rows()))
    rows = good_rows()
    rows[0]["联系电话"] = "13911112222"  # found by 登录账号
    rows[0]["姓名"] = "王书记（新）"
    rows[3]["职务"] = "副局长"  # no account: found by 姓名 + 工作范围
    count = Cadre.objects.count()

    result = import_through_admin(client, xlsx(rows))

    assert (result.totals["update"], result.totals["skip"], result.totals["new"]) == (2, 3, 0)
    assert Cadre.objects.count() == count
    assert Cadre.objects.get(user__username="wangshuji").phone == "13911112222"
    assert Cadre.objects.get(user__username="wangshuji").name == "王书记（新）"
    assert Cadre.objects.get(name="钱部门").position == "副局长"


def test_a_file_with_bad_rows_imports_nothing_and_names_every_row(client, world):
    login(client, world.admin)
    before = snapshot()
    rows = good_rows()
    rows[0]["工作范围"] = "湖田社区/第9网格"
    rows[1]["所属部门"] = "区教育局"
    rows[2]["联系电话"] = "12345"
    rows[3]["层级"] = "主任"

    response = upload(client, xlsx(rows))

    assert response.status_code == 200
    assert response.context.get("confirm_form") is None
    assert snapshot() == before
    page = response.content.decode()
    assert "发现 4 行有误，未导入任何数据" in page
    assert "第 2 行【工作范围】：找不到工作范围“湖田社区/第9网格”" in page
    assert "第 3 行【所属部门】：没有名为“区教育局”的责任单位" in page
    assert "第 4 行【联系电话】：联系电话应为11位手机号或带区号的固定电话" in page
    assert "第 5 行【层级】：层级“主任”无法识别" in page
    assert "第 6 行" not in page  # the good row is not blamed
    # The admin's own table of invalid rows uses the same (Excel) row numbers.
    assert [r.number for r in response.context["result"].invalid_rows] == [2, 3, 4, 5]


def test_every_problem_of_a_row_is_reported_and_duplicates_are_caught(client, world):
    login(client, world.admin)
    rows = good_rows()
    rows[0].update({"姓名": "", "在岗": "也许"})
    rows[2]["登录账号"] = "liwangge"  # the same account as row 3
    rows.append(dict(good_rows()[3]))  # 钱部门 again, without account
    rows[3]["所属部门"] = ""  # a department cadre needs one

    lines = messages_of(upload(client, xlsx(rows)))

    assert "第 2 行【姓名】：姓名不能为空" in lines
    assert "第 2 行【在岗】：在岗只能填“是”或“否”（现为“也许”）" in lines
    assert "第 4 行【登录账号】：与第 3 行的登录账号相同" in lines
    assert "第 5 行【所属部门】：层级为“市/区直部门挂包单位”时必须填写所属部门" in lines
    assert "第 7 行【姓名】：与第 5 行是同一工作范围内的同名干部" in lines
    assert Cadre.objects.filter(name__in=["李网格", "钱部门"]).count() == 0


def test_a_row_that_turns_bad_before_confirmation_rolls_back_the_whole_file(client, world):
    login(client, world.admin)
    before = snapshot()
    preview = upload(client, xlsx(good_rows()))
    assert preview.context["confirm_form"] is not None
    Department.objects.filter(pk=world.dept.pk).update(name="区民政局（改名）")

    done = confirm(client, preview)

    assert done.status_code == 302 and done["Location"] == reverse("admin:visitplan_cadre_import")
    assert snapshot() == before  # the four good rows were rolled back with the bad one
    page = client.get(done["Location"]).content.decode()
    assert "第 5 行【所属部门】：没有名为“区民政局”的责任单位" in page


def test_a_file_without_the_required_columns_is_refused_at_the_upload_field(client, world):
    login(client, world.admin)
    headers = [h for h in HEADERS if h != "工作范围"]

    response = upload(client, xlsx([{"姓名": "甲", "层级": 6}], headers=headers))

    errors = response.context["form"].errors["import_file"]
    assert any("第 1 行最像表头，但缺少必填的列：工作范围" in e for e in errors)
    assert "result" not in response.context or response.context["result"] is None
    assert not Cadre.objects.filter(name="甲").exists()


def test_a_file_that_is_not_a_spreadsheet_is_refused(client, world):
    login(client, world.admin)
    response = upload(client, "姓名,层级\n甲,6\n".encode(), name="roster.txt")
    errors = response.context["form"].errors["import_file"]
    assert "请上传 Excel 工作簿（.xlsx、.xls）或 CSV 文本文件（.csv）" in errors[0]
    response = upload(client, b"PK\x03\x04 not really a zip", name="roster.xlsx")
    assert "文件无法读取" in response.context["form"].errors["import_file"][0]


def test_blank_rows_are_skipped_and_rows_keep_their_excel_numbers(client, world):
    login(client, world.admin)
    rows = good_rows()[:2]
    rows.insert(1, {})
    rows[2]["工作范围"] = "没有这个社区"
    lines = messages_of(upload(client, xlsx(rows + [{}, {}])))
    assert "第 4 行【工作范围】" in lines
    assert "第 3 行" not in lines


def test_a_community_secretary_cannot_reach_outside_his_community(client, world):
    secretary = world.secretary  # scope: 湖田社区
    secretary.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="visitplan", codename__in=["add_cadre", "change_cadre"])
    )
    login(client, secretary)
    before = snapshot()
    rows = [
        {"姓名": "本社区网格员", "层级": "网格员", "工作范围": "湖田社区/第1网格"},
        {"姓名": "外社区网格员", "层级": "网格员", "工作范围": "南纬社区/第1网格"},
        {"姓名": "街道干部", "层级": "街道干部", "工作范围": "湖田街道"},
        {"姓名": "抢账号", "层级": "网格员", "工作范围": "湖田社区", "登录账号": "dept1"},  # a street-level cadre's
    ]

    response = upload(client, xlsx(rows))

    assert snapshot() == before
    lines = messages_of(response)
    assert "第 2 行" not in lines
    assert "第 3 行【工作范围】：找不到工作范围“南纬社区/第1网格”，或它不在您的管辖范围内" in lines
    assert "第 4 行【工作范围】：找不到工作范围“湖田街道”，或它不在您的管辖范围内" in lines
    assert "第 5 行【登录账号】：登录账号“dept1”已属于您管辖范围以外的干部" in lines

    result = import_through_admin(client, xlsx(rows[:1]))
    assert result.totals["new"] == 1
    assert Cadre.objects.get(name="本社区网格员").scope == world.grid_a


def test_import_needs_add_and_change_permission(client, world):
    login(client, world.secretary)  # 社区书记: may view cadres, not add them
    assert client.get(reverse("admin:visitplan_cadre_import")).status_code == 403
    assert upload(client, xlsx(good_rows())).status_code == 403
    assert client.get(reverse("admin:visitplan_cadre_changelist")).status_code == 200


def test_an_import_does_not_raise_the_importers_own_role(client, world):
    login(client, world.admin)
    rows = [{"姓名": "admin", "层级": "街道班子成员", "工作范围": "湖田街道", "登录账号": "admin"}]
    import_through_admin(client, xlsx(rows))
    world.admin.refresh_from_db()
    assert world.admin.cadre.tier == Tier.LEADER
    assert LEADER not in set(world.admin.groups.values_list("name", flat=True))


# --------------------------------------------------------------------------- export


def test_cadre_export_round_trips_into_an_import_that_changes_nothing(client, world):
    login(client, world.admin)
    import_through_admin(client, xlsx(good_rows()))
    before = snapshot()

    response = export(client, "cadre")

    headers, rows = export_rows(response)
    assert headers == HEADERS
    assert [
        "李网格",
        "网格员",
        "",
        "",
        "专职网格员",
        "0532-82345678",
        "湖田社区/第1网格",
        "liwangge",
        "是",
        "是",
    ] in rows
    assert [
        "赵领导",
        "街道班子成员",
        "湖田街道办事处",
        "",
        "副主任",
        "13900000003",
        "湖田街道",
        "zhaolingdao",
        "是",
        "否",
    ] in rows
    assert len(rows) == Cadre.objects.count()
    assert "filename*=utf-8''" in response["Content-Disposition"]

    result = import_through_admin(client, response.content)
    assert result.totals["skip"] == len(rows) and result.totals["new"] == result.totals["update"] == 0
    assert snapshot() == before


def test_cadre_export_is_scoped_and_logged(client, world):
    login(client, world.secretary)

    _, rows = export_rows(export(client, "cadre"))

    names = {r[0] for r in rows}
    assert names == {"sec1", "grid_a", "grid_b"}  # his community only: not the street's admin, leader, department
    log = AccessLog.objects.get()
    assert (log.user, log.rows, log.ip) == (world.secretary, 3, "127.0.0.1")
    assert "干部名册" in log.what


def test_export_needs_view_permission(client, world):
    nobody = User.objects.create_user("staff_only", is_staff=True)
    login(client, nobody)
    assert client.get(reverse("admin:visitplan_cadre_export")).status_code == 403
    assert client.get(reverse("admin:visitplan_assignment_export")).status_code == 403
    assert not AccessLog.objects.exists()


def test_formula_like_text_is_written_as_text(client, world):
    login(client, world.admin)
    Cadre.objects.create(
        name='=HYPERLINK("http://x","点我")',
        tier=Tier.GRID_WORKER,
        scope=world.grid_a,
        unit="+86单位",
        position="-1",
        phone="",
    )
    Cadre.objects.create(name="@SUM(A1)", tier=Tier.GRID_WORKER, scope=world.grid_b)

    response = export(client, "cadre")

    ws = load_workbook(io.BytesIO(response.content)).worksheets[0]
    cells = {c.value: c for row in ws.iter_rows() for c in row if isinstance(c.value, str)}
    for text in ('=HYPERLINK("http://x","点我")', "+86单位", "-1", "@SUM(A1)"):
        assert cells[text].data_type == "s"
        assert cells[text].quotePrefix
    assert import_through_admin(client, response.content).totals["skip"] == Cadre.objects.count()

    csv_response = export(client, "cadre", fmt=1)
    text = csv_response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == HEADERS
    assert '\'=HYPERLINK("http://x","点我")' in {r[0] for r in rows}
    assert "'@SUM(A1)" in {r[0] for r in rows}


@pytest.fixture
def assignments(world):
    Assignment.objects.create(campaign=world.campaign, household=world.ha, cadre=world.worker_a.cadre)
    Assignment.objects.create(campaign=world.campaign, household=world.hb, cadre=world.worker_b.cadre)
    return world


def test_assignment_export_is_scoped_has_no_resident_ids_and_is_logged(client, assignments):
    w = assignments
    login(client, w.admin)
    headers, rows = export_rows(export(client, "assignment"))
    assert headers == [
        "走访活动",
        "社区",
        "网格",
        "地址",
        "户主姓名",
        "包户干部",
        "层级",
        "工作单位",
        "联系电话(干部)",
        "来源",
    ]
    assert {r[4] for r in rows} == {"张甲", "李乙", "王丙"}
    assert [
        "2026年入户大走访",
        "湖田社区",
        "第1网格",
        "1号楼1单元101",
        "张甲",
        "grid_a",
        "网格员",
        "",
        "",
        "手工指定",
    ] in rows

    login(client, w.secretary)
    response = export(client, "assignment")
    _, rows = export_rows(response)
    assert {r[4] for r in rows} == {"张甲", "李乙"}  # not 王丙 of 南纬社区
    body = response.content + export(client, "assignment", fmt=1).content
    for h in (w.ha, w.hb, w.hc):
        assert h.id_number.encode() not in body
        assert h.phone.encode() not in body
    logs = list(AccessLog.objects.filter(user=w.secretary))
    assert [log.rows for log in logs] == [2, 2] and all("包户名单" in log.what for log in logs)


def test_assignment_export_honours_the_list_filter(client, assignments):
    w = assignments
    login(client, w.admin)
    _, rows = export_rows(export(client, "assignment", query="?q=张甲"))
    assert [r[4] for r in rows] == ["张甲"]


def test_assignment_export_queries_do_not_grow_with_rows(world):
    resource = AssignmentResource(user=world.admin)

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            dataset = resource.export(Assignment.objects.visible_to(world.admin))
        return len(ctx.captured_queries), len(dataset)

    queries()  # warm up: the user's roles are read once and cached on the user
    small = queries()
    for n in range(20):
        h = make_household(world.grid_a, f"9{n:02d}", f"户{n}", 100 + n)
        Assignment.objects.create(campaign=world.campaign, household=h, cadre=world.worker_a.cadre)
    large = queries()
    assert large[1] == small[1] + 20
    assert large[0] == small[0]


def test_cadre_export_queries_do_not_grow_with_rows(world):
    resource = CadreResource(user=world.admin)

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            resource.export(Cadre.objects.visible_to(world.admin))
        return len(ctx.captured_queries)

    queries()  # warm up: the user's roles are read once and cached on the user
    small = queries()
    for n in range(20):
        user = User.objects.create_user(f"u{n}")
        Cadre.objects.create(
            name=f"干部{n}", tier=Tier.GRID_WORKER, scope=world.grid_b, user=user, department=world.dept
        )
    assert queries() == small


# --------------------------------------------------------------------------- 责任单位


def test_departments_import_export_and_reimport(client, world):
    login(client, world.admin)
    headers = ["名称", "类别", "负责人", "联系电话"]
    content = xlsx(
        [
            ["区民政局", "区直", "张局长", "0532-82345678"],
            ["市住建局", "市直", "", ""],
            ["街道党政办", "街道科室", "", ""],
        ],
        headers=headers,
    )

    result = import_through_admin(client, content, model="department")

    assert (result.totals["new"], result.totals["update"]) == (2, 1)
    dept = Department.objects.get(name="区民政局")
    assert (dept.pk, dept.level, dept.head_name, dept.phone) == (world.dept.pk, "district", "张局长", "0532-82345678")
    assert Department.objects.get(name="市住建局").level == "city"

    exported_headers, rows = export_rows(export(client, "department"))
    assert exported_headers == headers
    assert ["街道党政办", "街道科室", "", ""] in rows
    assert AccessLog.objects.filter(what__contains="责任单位").exists()
    before = sorted(Department.objects.values_list())
    assert import_through_admin(client, xlsx(rows, headers=headers), model="department").totals["skip"] == 3
    assert sorted(Department.objects.values_list()) == before

    bad = xlsx([["区民政局", "省直", "", "123"], ["区民政局", "", "", ""]], headers=headers)
    lines = messages_of(upload(client, bad, model="department"))
    assert "第 2 行【类别】：类别“省直”无法识别，可填：市直、区直、街道科室" in lines
    assert "第 2 行【联系电话】" in lines
    assert "第 3 行【名称】：与第 2 行是同一个责任单位" in lines
    assert sorted(Department.objects.values_list()) == before


def test_roles_are_only_added(client, world):
    """A grid worker promoted to secretary gets the secretary role; nothing is taken away."""
    login(client, world.admin)
    rows = [{"姓名": "grid_a", "层级": "社区书记", "工作范围": "湖田社区/第1网格", "登录账号": "grid_a"}]
    import_through_admin(client, xlsx(rows))
    assert set(world.worker_a.groups.values_list("name", flat=True)) == {CADRE, SECRETARY}
    assert Group.objects.filter(name=SECRETARY).count() == 1


def test_the_resource_on_its_own_writes_all_rows_or_nothing(world):
    """Without the admin too (a shell, a command): one invalid row and the valid ones are not written."""
    import tablib

    rows = good_rows()
    rows[4]["工作范围"] = "不存在的社区"
    dataset = tablib.Dataset(*[[r.get(h) for h in HEADERS] for r in rows], headers=HEADERS)
    before = snapshot()

    result = CadreResource(user=world.admin).import_data(dataset, dry_run=False)

    assert result.has_validation_errors()
    assert snapshot() == before


def test_the_admin_pages_offer_import_and_export(client, world):
    login(client, world.admin)
    page = client.get(reverse("admin:visitplan_cadre_changelist")).content.decode()
    assert reverse("admin:visitplan_cadre_import") in page and reverse("admin:visitplan_cadre_export") in page
    page = client.get(reverse("admin:visitplan_assignment_changelist")).content.decode()
    assert reverse("admin:visitplan_assignment_export") in page
    assert "/admin/visitplan/assignment/import/" not in page

    page = client.get(reverse("admin:visitplan_cadre_import")).content.decode()
    assert "姓名, 层级, 工作单位, 所属部门, 职务, 联系电话, 工作范围, 登录账号, 在岗, 参与包户" in page
    export_form = client.get(reverse("admin:visitplan_cadre_export")).context["form"]
    labels = [f.label for f in export_form.fields.values() if getattr(f, "is_selectable_field", False)]
    assert labels == HEADERS
    assert [label for _, label in export_form.fields["format"].choices] == ["---", "xlsx", "csv"]

    login(client, world.secretary)  # may view cadres, not import them
    page = client.get(reverse("admin:visitplan_cadre_changelist")).content.decode()
    assert reverse("admin:visitplan_cadre_import") not in page
    assert reverse("admin:visitplan_cadre_export") in page


def test_uploads_are_bounded(client, world, monkeypatch):
    from visitplan import admin as visitplan_admin
    from visitplan.sheets import reading

    login(client, world.admin)
    monkeypatch.setattr(reading, "MAX_ROWS", 2)
    response = upload(client, xlsx(good_rows()))
    assert "数据超过 2 行的上限" in response.context["form"].errors["import_file"][0]

    monkeypatch.setattr(visitplan_admin, "MAX_UPLOAD_MB", 0)
    response = upload(client, xlsx(good_rows()[:1]))
    assert "文件超过 0 MB" in response.context["form"].errors["import_file"][0]
    assert not Cadre.objects.filter(name="王书记").exists()


def test_someone_who_sees_several_streets_gets_full_paths_that_round_trip(client, world):
    from households.models import Node, NodeKind

    other = Node.objects.create(kind=NodeKind.STREET, name="八大峡街道")
    community = Node.objects.create(kind=NodeKind.COMMUNITY, name="湖田社区", parent=other)  # the same name
    root = User.objects.create_superuser("root", password="x")
    login(client, root)
    rows = [
        {"姓名": "甲", "层级": "网格员", "工作范围": "湖田社区/第1网格"},
        {"姓名": "乙", "层级": "社区书记", "工作范围": "八大峡街道/湖田社区"},
    ]
    # "湖田社区/第1网格" exists in one street only; the other community is named with its street.
    import_through_admin(client, xlsx(rows))
    assert Cadre.objects.get(name="甲").scope == world.grid_a
    assert Cadre.objects.get(name="乙").scope == community

    ambiguous = messages_of(upload(client, xlsx([{"姓名": "丙", "层级": 6, "工作范围": "湖田社区"}])))
    assert "第 2 行【工作范围】：工作范围“湖田社区”在多个街道中都有，请在前面加上街道名称" in ambiguous

    _, exported = export_rows(export(client, "cadre"))
    assert {r[6] for r in exported if r[0] in ("甲", "乙")} == {"湖田街道/湖田社区/第1网格", "八大峡街道/湖田社区"}
    before = snapshot()
    xlsx_again = export(client, "cadre").content
    assert import_through_admin(client, xlsx_again).totals["skip"] == Cadre.objects.count()
    assert snapshot() == before
