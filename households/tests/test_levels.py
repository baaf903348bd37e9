"""The level words (households.levels): a 街道's 社区 / 网格 / 楼栋, a 镇's or 乡's 村(居) / 村民小组 / 户,
on pages, in exports, in the register template and in the register import."""

import io

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.template import Context, RequestContext, Template
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from core.scope import forget_scope
from households import levels
from households.models import Household, Node, NodeKind, Street, TownshipKind
from households.register import INSTRUCTIONS_SHEET_NAME, SHEET_NAME, import_register, write_register
from households.roles import CADRE, SECRETARY, STREET_ADMIN, sync_role_groups
from tests.support.world import make_household, make_user
from visitplan.models import Tier

from .xlsx import read_sheet, register_row, village_row, write_register_file, write_village_register

pytestmark = pytest.mark.django_db

RURAL_COLUMNS = ("村(居)", "村民小组", "门牌号", "户主姓名", "身份证号", "联系电话", "家庭人口", "重点人群", "备注")


@pytest.fixture
def town(db):
    """平川镇 (a 镇): two villages, their 村民小组, a household in each group, one user per role."""
    sync_role_groups()
    town = Street.objects.create(name="平川镇", township=TownshipKind.TOWN)
    zhang = Node.objects.create(kind=NodeKind.COMMUNITY, name="张家村", parent=town)
    li = Node.objects.create(kind=NodeKind.COMMUNITY, name="李庄村", parent=town)
    g1 = Node.objects.create(kind=NodeKind.GRID, name="第1村民小组", parent=zhang)
    g2 = Node.objects.create(kind=NodeKind.GRID, name="第2村民小组", parent=zhang)
    g3 = Node.objects.create(kind=NodeKind.GRID, name="第1村民小组", parent=li)
    h1 = make_household(g1, "3号", "张大山", 11)
    h2 = make_household(g2, "8号", "张小河", 12)
    h3 = make_household(g3, "15号", "李田", 13)
    for h in (h1, h2, h3):  # village houses have no 单元
        h.unit = ""
        h.save()
    admin = make_user("town_admin", STREET_ADMIN, scope=town, tier=Tier.STREET_STAFF, staff=True)
    secretary = make_user("village_sec", SECRETARY, scope=zhang, tier=Tier.SECRETARY, staff=True)
    worker = make_user("group_worker", CADRE, scope=g1, tier=Tier.GRID_WORKER)
    return type("Town", (), locals())


# --- the labels ---------------------------------------------------------------------------------


def test_each_kind_of_top_node_names_its_levels():
    assert levels.of_township(TownshipKind.STREET).as_dict() == {
        "street": "街道",
        "community": "社区",
        "grid": "网格",
        "building": "楼栋",
    }
    assert levels.of_township(TownshipKind.TOWN).as_dict() == {
        "street": "镇",
        "community": "村(居)",
        "grid": "村民小组",
        "building": "户",
    }
    assert levels.of_township(TownshipKind.TOWNSHIP).street == "乡"
    assert levels.of_township(TownshipKind.TOWNSHIP).grid == "村民小组"
    assert levels.TOWN[NodeKind.GRID] == "村民小组" and levels.URBAN.label("community") == "社区"
    assert not levels.URBAN.rural and levels.TOWN.rural and levels.TOWNSHIP.rural


def test_a_phrase_is_rewritten_in_the_rural_words_and_left_alone_in_a_street():
    phrase = "社区书记户户到；街道干部覆盖每个社区；两委成员按楼栋、网格就近包户；网格员兜底"
    assert levels.URBAN.rewrite(phrase) is phrase
    assert levels.TOWN.rewrite(phrase) == (
        "村(居)书记户户到；镇干部覆盖每个村(居)；两委成员按户、村民小组就近包户；网格员兜底"
    )
    assert levels.TOWNSHIP.rewrite("这里是街道办事处，社区/街道干部") == "这里是乡人民政府，村(居)/乡干部"


def test_the_labels_of_a_node_a_path_a_household_and_a_user(town):
    assert levels.for_node(town.town) is levels.TOWN
    assert levels.for_node(town.g1) is levels.TOWN
    assert levels.for_path(town.g3.path) is levels.TOWN
    assert levels.for_household(Household.objects.get(pk=town.h1.pk)) is levels.TOWN
    assert levels.for_street(None) is levels.URBAN
    for user in (town.admin, town.secretary, town.worker):
        assert levels.for_user(user) is levels.TOWN, user
    assert levels.for_user(User.objects.create_user("nobody")) is levels.URBAN

    urban = Street.objects.create(name="湖田街道")
    community = Node.objects.create(kind=NodeKind.COMMUNITY, name="湖田社区", parent=urban)
    assert levels.for_node(community) is levels.URBAN
    urban_secretary = make_user("urban_sec", SECRETARY, scope=community, tier=Tier.SECRETARY, staff=True)
    assert levels.for_user(urban_secretary) is levels.URBAN


def test_a_superuser_gets_the_rural_words_only_when_every_street_is_rural(town):
    boss = User.objects.create_superuser("boss", password="x")
    assert levels.for_user(boss) is levels.TOWN
    Street.objects.create(name="湖田街道")
    forget_scope(boss)
    assert levels.for_user(boss) is levels.URBAN


def test_the_labels_are_worked_out_once_per_user_object(town):
    user = User.objects.get(pk=town.secretary.pk)
    with CaptureQueriesContext(connection) as first:
        assert levels.for_user(user) is levels.TOWN
    with CaptureQueriesContext(connection) as again:
        assert levels.for_user(user) is levels.TOWN
        assert levels.for_user(user) is levels.TOWN
    assert len(first) >= 1 and len(again) == 0


# --- templates --------------------------------------------------------------------------------


def test_the_context_processor_puts_the_users_levels_into_every_template(town, rf):
    request = rf.get("/")
    request.user = town.worker
    rendered = Template(
        "{% load level_words %}{{ levels.community }}/{{ levels.grid }}|{% level_text '各社区包户覆盖情况' %}"
    ).render(RequestContext(request, {}))
    assert rendered == "村(居)/村民小组|各村(居)包户覆盖情况"

    request.user = User.objects.create_user("anonymous-like")
    assert Template("{{ levels.community }}").render(RequestContext(request, {})) == "社区"


def test_the_context_processor_asks_nothing_of_a_page_that_names_no_level(town, rf):
    request = rf.get("/")
    request.user = User.objects.get(pk=town.worker.pk)
    with CaptureQueriesContext(connection) as queries:
        Template("{{ SITE_TITLE }}").render(RequestContext(request, {}))
    assert not [q for q in queries if "households_node" in q["sql"]]


def test_a_view_may_name_the_levels_of_its_own_data(town):
    # A view's context wins over the context processor's (the import preview of a 镇, a campaign).
    assert Template("{{ levels.grid }}").render(Context({"levels": levels.TOWN})) == "村民小组"


def test_a_towns_household_list_names_its_levels_in_the_rural_words(town, client):
    client.force_login(town.admin)
    html = client.get(reverse("households:list")).content.decode()
    assert 'aria-label="村民小组"' in html and "全部村民小组" in html
    assert "张家村 第1村民小组" in html
    assert "网格" not in html and "社区" not in html


def test_a_streets_household_list_is_as_it_was(world, client):
    client.force_login(world.admin)
    html = client.get(reverse("households:list")).content.decode()
    assert '<select name="grid" aria-label="网格">\n    <option value="">全部网格</option>' in html
    assert "村民小组" not in html and "村(居)" not in html


def test_a_towns_issue_ledger_filters_by_village(town, client):
    client.force_login(town.admin)
    response = client.get(reverse("issues:ledger"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'aria-label="村(居)"' in html and "全部村(居)" in html
    assert "全部社区" not in html


# --- exports and the register template --------------------------------------------------------


def sheet_rows(content, sheet=None):
    workbook = load_workbook(io.BytesIO(content))
    ws = workbook[sheet] if sheet else workbook.worksheets[0]
    return [tuple(r) for r in ws.iter_rows(values_only=True)]


def streamed(response):
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_a_towns_register_export_names_its_columns_as_a_village_register(town, client):
    client.force_login(town.admin)
    rows = sheet_rows(streamed(client.get(reverse("households:export"))))
    assert rows[0] == RURAL_COLUMNS
    assert {(r[0], r[1], r[2]) for r in rows[1:]} == {
        ("张家村", "第1村民小组", "3号"),
        ("张家村", "第2村民小组", "8号"),
        ("李庄村", "第1村民小组", "15号"),
    }


def test_a_towns_export_keeps_its_buildings_when_it_has_some(town, tmp_path):
    building = Node.objects.create(kind=NodeKind.BUILDING, name="集镇1号楼", parent=town.g1)
    make_household(town.g1, "201", "王五", 21, building=building)
    path = tmp_path / "e.xlsx"
    with open(path, "wb") as f:
        write_register(Household.objects.filter(street=town.town), f, levels=levels.TOWN)
    header = read_sheet(path)[0]
    assert header[:5] == ("村(居)", "村民小组", "楼栋", "单元", "门牌号")
    # ...and it imports back into the town unchanged.
    report = import_register(street=town.town, source=path)
    assert report.ok, report.summary()
    assert (report.created, report.updated, report.unchanged) == (0, 0, 4)


def test_a_towns_issue_ledger_export_heads_the_village_column(town, client):
    client.force_login(town.admin)
    rows = sheet_rows(streamed(client.get(reverse("issues:export"))))
    assert rows[0][:3] == ("序号", "村(居)", "户主")


def test_a_towns_visit_ledger_heads_the_village_and_group_columns(town, client):
    from visitplan.models import Campaign

    campaign = Campaign.objects.create(year=2026, name="镇村两级书记大走访", street=town.town)
    client.force_login(town.admin)
    response = client.get(reverse("reports:ledger_visits"), {"campaign": campaign.pk})
    assert response.status_code == 200
    assert sheet_rows(streamed(response))[0][:3] == ("序号", "村(居)", "村民小组")


def test_the_staff_lists_of_a_town_name_its_levels(town):
    from visitplan.sheets import AssignmentResource

    fields = AssignmentResource(user=town.admin).fields
    assert (fields["community"].column_name, fields["grid"].column_name) == ("村(居)", "村民小组")
    assert AssignmentResource().fields["community"].column_name == "社区"


def test_a_streets_exports_keep_their_headers(world, client):
    client.force_login(world.admin)
    assert sheet_rows(streamed(client.get(reverse("households:export"))))[0][:5] == (
        "社区",
        "网格",
        "楼栋",
        "单元",
        "门牌号",
    )
    assert sheet_rows(streamed(client.get(reverse("issues:export"))))[0][:2] == ("序号", "社区")


def test_the_register_template_of_a_town_is_a_village_register(town, client, tmp_path):
    client.force_login(town.admin)
    response = client.get(reverse("admin:households_household_import_template"))
    assert response.status_code == 200
    path = tmp_path / "t.xlsx"
    path.write_bytes(response.content)
    assert read_sheet(path) == [RURAL_COLUMNS]
    instructions = read_sheet(path, INSTRUCTIONS_SHEET_NAME)
    assert [r[0] for r in instructions[1:4]] == ["村(居)", "村民小组", "门牌号"]
    assert "所选镇下新建" in instructions[1][2]
    assert not any("楼栋" in (r[0] or "") or "社区" in (r[2] or "") for r in instructions)

    # The template imports into the town as it is filled in.
    filled = write_register_file(
        tmp_path / "filled.xlsx",
        [{"村(居)": "新村", "村民小组": "第9村民小组", "门牌号": "1号", **register_row(1)}],
        headers=RURAL_COLUMNS,
    )
    report = import_register(street=town.town, source=filled)
    assert report.ok, report.summary()
    assert Node.objects.get(name="第9村民小组").parent.name == "新村"


def test_a_superuser_picks_the_street_whose_template_he_wants(town, admin_client, tmp_path):
    Street.objects.create(name="湖田街道")  # a mix of kinds: his own words are urban
    url = reverse("admin:households_household_import_template")
    urban = sheet_rows(admin_client.get(url).content)[0]
    rural = sheet_rows(admin_client.get(url, {"street": town.town.pk}).content)[0]
    assert urban[:3] == ("社区", "网格", "楼栋")
    assert rural == RURAL_COLUMNS


def test_the_street_admin_sets_whether_his_street_is_a_town(town, client):
    client.force_login(town.admin)
    response = client.get(reverse("admin:households_street_change", args=[town.town.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="township"' in html and '<option value="town" selected>镇</option>' in html
    assert '<option value="township">乡</option>' in html


# --- the village register import -----------------------------------------------------------------


@pytest.fixture
def pingchuan(db):
    return Street.objects.create(name="平川镇", township=TownshipKind.TOWN)


def test_a_village_register_imports_into_a_town_as_villages_and_their_groups(pingchuan, tmp_path):
    path = write_village_register(tmp_path / "village.xlsx")
    report = import_register(street=pingchuan, source=path)

    assert report.ok, report.summary()
    assert (report.total_rows, report.created) == (6, 6)
    assert report.nodes_created == {"community": 2, "grid": 3, "building": 0}
    assert report.summary() == "共 6 行：新增 6 户，更新 0 户，未变 0 户；新建村(居) 2 个、村民小组 3 个"
    tree = {
        (n.parent.name, n.kind, n.name)
        for n in Node.objects.filter(path__startswith=pingchuan.path + ".").select_related("parent")
    }
    assert tree == {
        ("平川镇", NodeKind.COMMUNITY, "张家村"),
        ("平川镇", NodeKind.COMMUNITY, "李庄村"),
        ("张家村", NodeKind.GRID, "第1村民小组"),
        ("张家村", NodeKind.GRID, "第2村民小组"),
        ("李庄村", NodeKind.GRID, "第1村民小组"),
    }
    households = Household.objects.filter(street=pingchuan).select_related("community", "grid")
    assert households.count() == 6
    h = households.get(head_name="村民4")
    assert (h.community.name, h.grid.name, h.building_id, h.unit, h.room) == ("张家村", "第1村民小组", None, "", "4号")
    assert h.path == h.grid.path and h.size == 4
    # Houses are told apart by their 门牌号 within their 村民小组: 1号 of two groups are two houses.
    assert households.filter(room="1号").count() == 1 and households.filter(grid__name="第1村民小组").count() == 4

    again = import_register(street=pingchuan, source=path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 6)


def test_in_a_street_the_same_register_makes_its_groups_buildings(tmp_path):
    street = Street.objects.create(name="湖田街道")
    rows = [village_row(n, 网格="第1网格") for n in range(1, 4)]
    path = write_village_register(
        tmp_path / "v.xlsx", rows, headers=("村", "网格", "村民小组", "门牌号", "户主姓名", "身份证号", "家庭人口")
    )
    report = import_register(street=street, source=path)
    assert report.ok, report.summary()
    assert report.nodes_created == {"community": 2, "grid": 2, "building": 3}


def test_a_village_register_without_door_numbers_takes_the_household_number(pingchuan, tmp_path):
    headers = ("村", "村民小组", "户号", "户主姓名", "身份证号", "家庭人口")
    rows = [village_row(n, 户号=f"35082100{n:02d}") for n in range(1, 4)]
    report = import_register(
        street=pingchuan, source=write_village_register(tmp_path / "v.xlsx", rows, headers=headers)
    )
    assert report.ok, report.summary()
    assert sorted(Household.objects.values_list("room", flat=True)) == ["3508210001", "3508210002", "3508210003"]


def test_a_village_address_gives_the_group_in_a_town(pingchuan, tmp_path):
    headers = ("村", "住址", "户主姓名", "身份证号", "家庭人口")
    rows = [village_row(1, 住址="张家村3组15号"), village_row(2, 住址="张家村5组2号")]
    report = import_register(
        street=pingchuan, source=write_village_register(tmp_path / "v.xlsx", rows, headers=headers)
    )
    assert report.ok, report.summary()
    got = set(Household.objects.values_list("community__name", "grid__name", "building", "room"))
    assert got == {("张家村", "3组", None, "15号"), ("张家村", "5组", None, "2号")}


def test_a_towns_row_errors_say_village_and_group(pingchuan, tmp_path):
    rows = [
        village_row(1),
        village_row(2, 村民小组=""),
        village_row(3, 村="张家村", 村民小组="第1村民小组", 门牌号="1号"),
    ]
    report = import_register(street=pingchuan, source=write_village_register(tmp_path / "bad.xlsx", rows))
    assert not report.ok
    messages = [str(e) for e in report.errors]
    assert "第 4 行【村民小组】：村民小组不能为空" in messages
    assert (
        "第 5 行【门牌号】：与第 3 行是同一户地址（村(居)+村民小组+门牌号相同），同一镇内每户只能出现一次" in messages
    )
    assert not any("网格" in m or "社区" in m or "街道" in m for m in messages)


def test_a_towns_missing_columns_are_named_in_the_rural_words(pingchuan, tmp_path):
    headers = ("村", "户主姓名", "身份证号", "家庭人口")
    report = import_register(
        street=pingchuan, source=write_village_register(tmp_path / "v.xlsx", [village_row(1)], headers=headers)
    )
    message = report.errors[0].message
    assert "村民小组（可写作：" in message and "门牌号（可写作：" in message
    assert "整个文件属于同一村(居)、村民小组时" in message
    assert "社区" not in message.split("可写作")[0]


def test_the_admin_previews_a_village_register_in_the_towns_words(town, client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    client.force_login(town.admin)
    page = client.get(reverse("admin:households_household_import")).content.decode()
    assert "导入到镇" in page and "所属村民小组" in page
    assert "".join(f"<code>{h}</code>" for h in RURAL_COLUMNS) in page
    content = write_village_register(tmp_path / "v.xlsx").read_bytes()
    preview = client.post(
        reverse("admin:households_household_import"),
        {"street": town.town.pk, "file": SimpleUploadedFile("v.xlsx", content)},
    )
    html = preview.content.decode()
    assert preview.status_code == 200 and "确认导入" in html
    assert '<th scope="row">新建村(居)</th>' in html and '<th scope="row">新建村民小组</th>' in html
    assert "新建楼栋" not in html
    found = {header: label for _letter, header, _key, label in preview.context["found"]["columns"]}
    assert found["村"] == "村(居)" and found["村民小组"] == "村民小组"


def test_a_towns_error_file_heads_the_columns_in_its_words(town, client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    client.force_login(town.admin)
    content = write_village_register(tmp_path / "v.xlsx", [village_row(1), village_row(2, 家庭人口="")]).read_bytes()
    preview = client.post(
        reverse("admin:households_household_import"),
        {"street": town.town.pk, "file": SimpleUploadedFile("v.xlsx", content)},
    )
    errors = client.get(preview.context["errors_url"])
    header = sheet_rows(b"".join(errors.streaming_content), SHEET_NAME)[0]
    assert header[:2] == ("村(居)", "村民小组") and header[-1] == "错误原因"
