"""Two people editing one record: the first save wins, the second is refused with one message and
nothing of his is written (core/versioning.py: VersionedModel, VersionedFormMixin, the admin mixins).

Covered for every record a person edits: through the model (a full-row save of a stale instance),
through the admin change form of every admin-editable model (two browsers, as the street admin),
its inlines and ``list_editable`` rows, and through the 一户一策 page (plan and measures).
"""

import datetime

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import connection, transaction
from django.db.models import F
from django.db.models.signals import pre_save
from django.test import Client, RequestFactory
from django.urls import reverse

from core.versioning import GONE_EDIT_MESSAGE, STALE_EDIT_MESSAGE, StaleEditError, VersionedModel, is_versioned
from households.models import FocusGroup, HardshipMeasure, HardshipPlan, Household, Member, Node
from issues import services
from issues.models import HolidayOverride, Issue, Status
from issues.tests.factories import make_issue
from tests.support.threads import race
from visitplan.allocation import reassign_cadre
from visitplan.models import Assignment, Cadre, Campaign, Department, DepartmentQuota, Stage, StageKind, Tier

D = datetime.date
PROJECT_APPS = ("households", "visitplan", "issues", "visits", "reports")


# ------------------------------------------------------------------------------------------------ helpers


def _put(data, name, value):
    """One value as a browser sends it back (a checkbox only when ticked)."""
    if value is None or value is False:
        return
    if value is True:
        data[name] = "on"
    elif isinstance(value, (list, tuple)):
        data[name] = [str(v) for v in value]
    else:
        data[name] = str(value)


def _formset_data(data, formset):
    for name in formset.management_form.fields:
        _put(data, f"{formset.prefix}-{name}", formset.management_form[name].value())
    for form in formset.forms:
        for name in form.fields:
            _put(data, form.add_prefix(name), form[name].value())


def admin_form_data(page):
    """What the browser sends back from an admin change page as loaded (inlines included)."""
    data = {}
    form = page.context["adminform"].form
    for name in form.fields:
        _put(data, name, form[name].value())
    for inline in page.context["inline_admin_formsets"]:
        _formset_data(data, inline.formset)
    return data


def open_change_form(client, user, url):
    client.force_login(user)
    page = client.get(url)
    assert page.status_code == 200, page.content.decode()[:2000]
    assert 'name="seen_version"' in page.content.decode()
    return admin_form_data(page)


def form_value(obj, name):
    """A model field's value as the admin form posts it."""
    field = obj._meta.get_field(name)
    value = getattr(obj, field.attname)
    if value is None:
        return ""
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def change_url(obj, model=None):
    opts = (model or type(obj))._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])


def refused(response):
    """The admin re-shows the form with the message at the top (the check in the form's clean)."""
    page = response.content.decode()
    return response.status_code == 200 and STALE_EDIT_MESSAGE in page


# ------------------------------------------------------------------------------------------------ which models


def _superuser_request():
    from django.contrib.auth.models import User

    request = RequestFactory().get("/")
    request.user = User(username="root", is_superuser=True, is_staff=True, is_active=True)
    return request


@pytest.mark.django_db
def test_every_model_a_person_can_change_in_the_admin_is_versioned():
    """The class is fixed, not the list: a model added to the admin later is caught here."""
    request = _superuser_request()
    editable = [
        model
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in PROJECT_APPS and model_admin.has_change_permission(request)
    ]
    assert {m.__name__ for m in editable} >= {
        "Household", "Member", "Node", "Street", "Community", "Grid", "Building", "FocusGroup", "Department",
        "Cadre", "Campaign", "Stage", "DepartmentQuota", "Assignment", "Issue", "HolidayOverride",
    }  # fmt: skip
    assert [m.__name__ for m in editable if not is_versioned(m)] == []


def test_the_records_edited_on_pages_and_inlines_are_versioned_too():
    for model in (Member, HardshipPlan, HardshipMeasure, Stage, DepartmentQuota):
        assert is_versioned(model), model
    field = Household._meta.get_field("version")
    assert (field.default, field.editable) == (1, False)
    # One field, one definition: every versioned model inherits it.
    versioned = [m for m in apps.get_models() if issubclass(m, VersionedModel)]
    assert {m._meta.get_field("version").verbose_name for m in versioned} == {"版本"}


# ------------------------------------------------------------------------------------------------ the model


def _make(name, w):
    """A saved record of each versioned model, and a field to change on it."""
    if name == "household":
        return w.ha, "notes"
    if name == "member":
        return Member.objects.create(household=w.ha, name="张小明", relation="子"), "work"
    if name == "node":
        return w.grid_b, "code"
    if name == "focusgroup":
        return FocusGroup.objects.create(name="测试人群"), "aliases"
    if name == "hardshipplan":
        return HardshipPlan.objects.create(household=w.ha, situation="无固定收入", responsible="李委员"), "goal"
    if name == "hardshipmeasure":
        plan = HardshipPlan.objects.create(household=w.ha, situation="无固定收入", responsible="李委员")
        return HardshipMeasure.objects.create(plan=plan, content="申请临时救助"), "unit"
    if name == "department":
        return w.dept, "head_name"
    if name == "cadre":
        return w.worker_a.cadre, "position"
    if name == "campaign":
        return w.campaign, "name"
    if name == "stage":
        return Stage.objects.create(
            campaign=w.campaign, kind=StageKind.VISIT, starts_on=D(2026, 3, 1), ends_on=D(2026, 3, 31)
        ), "kind"
    if name == "departmentquota":
        return DepartmentQuota.objects.create(
            campaign=w.campaign, department=w.dept, community=w.c1, households=5
        ), "households"
    if name == "assignment":
        return Assignment.objects.get(household=w.hc), "source"
    if name == "issue":
        return make_issue(w.ha), "hotline_ticket"
    if name == "holidayoverride":
        return HolidayOverride.objects.create(date=D(2027, 2, 10), is_workday=False, note="春节"), "note"
    raise AssertionError(name)


VALUES = {  # field -> (the first editor's value, the second's)
    "notes": ("独居", "子女在外地"), "work": ("青岛港", "退休"), "code": ("G1", "G2"), "aliases": ("甲", "乙"),
    "goal": ("落实低保", "解决就业"), "unit": ("区民政局", "区人社局"), "head_name": ("王局长", "李局长"),
    "position": ("网格长", "专职网格员"), "name": ("春季大走访", "秋季大走访"), "kind": (StageKind.RECTIFY, StageKind.FOLLOW_UP),
    "households": (6, 7), "source": (Assignment.Source.AUTO, Assignment.Source.MANUAL), "hotline_ticket": ("A1", "B2"),
    "note": ("春节（改）", "春节调休"),
}  # fmt: skip

MODELS = [
    "household", "member", "node", "focusgroup", "hardshipplan", "hardshipmeasure", "department", "cadre",
    "campaign", "stage", "departmentquota", "assignment", "issue", "holidayoverride",
]  # fmt: skip


@pytest.mark.parametrize("name", MODELS)
def test_of_two_instances_loaded_at_the_same_version_only_the_first_save_is_kept(world, name):
    obj, field = _make(name, world)
    model = type(obj)
    first, second = model.objects.get(pk=obj.pk), model.objects.get(pk=obj.pk)
    seen = first.version
    mine, theirs = VALUES[field]
    setattr(first, field, mine)
    first.save()
    assert first.version == seen + 1
    setattr(second, field, theirs)
    with pytest.raises(StaleEditError) as caught:
        second.save()
    assert caught.value.message == STALE_EDIT_MESSAGE
    assert second.version == seen  # still what it loaded: a retry fails again until reloaded
    fresh = model.objects.get(pk=obj.pk)
    assert (getattr(fresh, field), fresh.version) == (mine, seen + 1)


@pytest.mark.parametrize("name", ["member", "cadre", "hardshipmeasure"])
def test_a_save_of_a_record_deleted_meanwhile_is_refused_and_not_re_inserted(world, name):
    obj, field = _make(name, world)
    model = type(obj)
    loaded = model.objects.get(pk=obj.pk)
    if name == "cadre":  # cadres are PROTECTed by their assignments
        Assignment.objects.filter(cadre=obj).delete()
    model.objects.filter(pk=obj.pk).delete()
    setattr(loaded, field, VALUES[field][0])
    with pytest.raises(StaleEditError) as caught:
        loaded.save()
    assert caught.value.message == GONE_EDIT_MESSAGE
    assert not model.objects.filter(pk=obj.pk).exists()


def test_update_fields_saves_bump_and_check_the_version_too(world):
    cadre = Cadre.objects.get(pk=world.worker_a.cadre.pk)
    stale = Cadre.objects.get(pk=cadre.pk)
    cadre.phone = "13900001111"
    cadre.save(update_fields=["phone"])
    assert Cadre.objects.get(pk=cadre.pk).version == 2
    stale.position = "网格长"
    with pytest.raises(StaleEditError):
        stale.save(update_fields=["position"])
    assert Cadre.objects.get(pk=cadre.pk).position == ""


def test_a_refused_save_leaves_the_callers_transaction_usable(world):
    stale = Department.objects.get(pk=world.dept.pk)
    Department.objects.filter(pk=world.dept.pk).update(phone="13800000000", version=F("version") + 1)
    with transaction.atomic():
        stale.head_name = "王局长"
        with pytest.raises(StaleEditError):
            stale.save()
        Department.objects.create(name="区人社局")  # the transaction goes on
    assert Department.objects.filter(name="区人社局").exists()
    assert Department.objects.get(pk=world.dept.pk).head_name == ""


def test_rows_inserted_without_the_column_start_at_version_1(world):
    """Raw INSERTs (allocation's COPY, executemany) may leave ``version`` out: it has a database default."""
    table = connection.ops.quote_name(FocusGroup._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} (name, aliases, {connection.ops.quote_name('order')}) "
                       "VALUES (%s, '', 0)", ["原始插入"])  # fmt: skip
    assert FocusGroup.objects.get(name="原始插入").version == 1


def test_a_full_row_save_of_an_issue_cannot_undo_a_workflow_step(world):
    """The services UPDATE … WHERE version and bump it; a full-row save of a copy loaded before
    must not put the old status back."""
    issue = make_issue(world.ha)
    stale = Issue.objects.get(pk=issue.pk)
    services.issue_accept(issue=issue, by=world.admin, version=issue.version)
    stale.hotline_ticket = "12345-0001"
    with pytest.raises(StaleEditError):
        stale.save()
    fresh = Issue.objects.get(pk=issue.pk)
    assert (fresh.status, fresh.hotline_ticket, fresh.version) == (Status.ACCEPTED, "", 2)
    # A full-row save of a fresh copy is checked and bumps the version the services check next.
    fresh.hotline_ticket = "12345-0001"
    fresh.save()
    with pytest.raises(services.StaleIssueError):
        services.issue_route(issue=fresh, by=world.admin, version=2, department=world.dept)
    services.issue_route(issue=fresh, by=world.admin, version=3, department=world.dept)


def test_handing_a_cadres_households_over_bumps_the_moved_assignments(world):
    w = world
    loaded = Assignment.objects.get(household=w.hc)
    successor = Cadre.objects.create(name="新干部", tier=Tier.DEPARTMENT, scope=w.street, department=w.dept)
    reassign_cadre(from_cadre=w.handler.cadre, to_cadre=successor)
    moved = Assignment.objects.get(pk=loaded.pk)
    assert (moved.cadre, moved.version) == (successor, 2)
    loaded.source = Assignment.Source.AUTO
    with pytest.raises(StaleEditError):
        loaded.save()  # would have handed the household back to the cadre who left
    assert Assignment.objects.get(pk=loaded.pk).cadre == successor


# ------------------------------------------------------------------------------------------------ the admin change form


def _admin_case(name, w):
    """(record, model whose admin edits it, the first editor's change, the second's, check of a
    field the second editor changed) for every admin-editable model."""
    if name == "household":
        return w.ha, None, {"head_name": "张甲（改）"}, {"notes": "老人独居"}
    if name == "member":
        return (
            Member.objects.create(household=w.ha, name="张小明", relation="子"),
            None,
            {"work": "青岛港"},
            {"health": "高血压"},
        )
    if name == "node":
        return w.grid_b, None, {"name": "第2网格（改）"}, {"code": "G02"}
    if name in ("street", "community", "grid", "building"):
        proxy = apps.get_model("households", name)
        node = {"street": w.street, "community": w.c2, "grid": w.grid_c, "building": Node.objects.get(name="1号楼")}[
            name
        ]
        return node, proxy, {"name": node.name + "（改）"}, {"code": "X9"}
    if name == "focusgroup":
        return FocusGroup.objects.get(name="老党员"), None, {"aliases": "党员老同志"}, {"order": "9"}
    if name == "department":
        return w.dept, None, {"head_name": "王局长"}, {"phone": "13800001111"}
    if name == "cadre":
        return w.worker_a.cadre, None, {"position": "网格长"}, {"unit": "湖田社区居委会"}
    if name == "campaign":
        return w.campaign, None, {"name": "春季大走访"}, {"year": "2027"}  # the rules: the rulebook's page
    if name == "stage":
        stage = Stage.objects.create(
            campaign=w.campaign, kind=StageKind.VISIT, starts_on=D(2026, 3, 1), ends_on=D(2026, 3, 31)
        )
        return stage, None, {"ends_on": "2026-04-30"}, {"starts_on": "2026-03-05"}
    if name == "departmentquota":
        quota = DepartmentQuota.objects.create(campaign=w.campaign, department=w.dept, community=w.c1, households=5)
        return quota, None, {"households": "6"}, {"households": "7"}
    if name == "assignment":
        return Assignment.objects.get(household=w.hc), None, {"source": "auto"}, {"tier": str(Tier.GRID_WORKER)}
    if name == "holidayoverride":
        override = HolidayOverride.objects.create(date=D(2027, 2, 10), is_workday=False, note="春节")
        return override, None, {"note": "春节（改）"}, {"date": "2027-02-11"}
    raise AssertionError(name)


ADMIN_MODELS = [
    "household", "member", "node", "street", "community", "grid", "building", "focusgroup", "department", "cadre",
    "campaign", "stage", "departmentquota", "assignment", "holidayoverride",
]  # fmt: skip


@pytest.mark.parametrize("name", ADMIN_MODELS)
def test_the_second_of_two_admin_editors_is_refused_and_nothing_of_his_is_written(world, name):
    w = world
    obj, model, mine, theirs = _admin_case(name, w)
    url = change_url(obj, model)
    before = {field: form_value(obj, field) for field in theirs}
    alice, bob = Client(), Client()
    a = open_change_form(alice, w.admin, url)
    b = open_change_form(bob, w.admin, url)
    assert a["seen_version"] == str(obj.version)

    response = alice.post(url, {**a, **mine})
    assert response.status_code == 302, response.content.decode()[:3000]
    response = bob.post(url, {**b, **theirs})
    assert refused(response), response.content.decode()[:3000]

    fresh = type(obj).objects.get(pk=obj.pk)
    assert fresh.version == obj.version + 1
    assert {f: form_value(fresh, f) for f in mine} == mine
    if set(theirs) != set(mine):
        assert {f: form_value(fresh, f) for f in theirs} == before

    # Reloaded, Bob's change goes through: the refusal was about the version only.
    b = open_change_form(bob, w.admin, url)
    response = bob.post(url, {**b, **theirs})
    assert response.status_code == 302, response.content.decode()[:3000]
    fresh = type(obj).objects.get(pk=obj.pk)
    assert {f: form_value(fresh, f) for f in theirs} == theirs and fresh.version == obj.version + 2


def test_a_change_form_posted_without_the_version_is_refused(world):
    client = Client()
    url = change_url(world.dept)
    data = open_change_form(client, world.admin, url)
    del data["seen_version"]
    assert refused(client.post(url, {**data, "head_name": "无版本"}))
    assert Department.objects.get(pk=world.dept.pk).head_name == ""


def test_a_form_that_changes_nothing_is_not_refused(world):
    """Only the version moved (a no-op save by someone else): nothing of the editor's would be lost."""
    client = Client()
    url = change_url(world.campaign)
    data = open_change_form(client, world.admin, url)
    Campaign.objects.filter(pk=world.campaign.pk).update(version=F("version") + 1)
    assert client.post(url, data).status_code == 302


def test_a_read_only_change_page_has_no_version_field(world):
    client = Client()
    client.force_login(world.leader)  # leaders only read
    for url in (change_url(world.campaign), change_url(world.dept), change_url(world.grid_b)):
        page = client.get(url)
        assert page.status_code == 200 and "seen_version" not in page.content.decode(), url


def test_adding_a_record_in_the_admin_starts_at_version_1(world):
    client = Client()
    client.force_login(world.admin)
    response = client.post(reverse("admin:visitplan_department_add"), {"name": "区人社局", "level": "district"})
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Department.objects.get(name="区人社局").version == 1


def test_a_save_that_loses_the_race_after_the_check_writes_nothing(world):
    """Someone saves between the form's check and the UPDATE: the whole changeform (inlines too)
    rolls back and the editor is sent back to the page with the message."""
    w = world
    stage = Stage.objects.create(
        campaign=w.campaign, kind=StageKind.VISIT, starts_on=D(2026, 3, 1), ends_on=D(2026, 3, 31)
    )
    client = Client()
    url = change_url(w.campaign)
    data = open_change_form(client, w.admin, url)
    data["name"] = "后来者"
    assert data["stages-0-id"] == str(stage.pk)
    data["stages-0-ends_on"] = "2026-04-30"

    def someone_else_saves(sender, instance, **kwargs):
        Campaign.objects.filter(pk=instance.pk).update(version=F("version") + 1)

    pre_save.connect(someone_else_saves, sender=Campaign)
    try:
        response = client.post(url, data)
    finally:
        pre_save.disconnect(someone_else_saves, sender=Campaign)

    assert response.status_code == 302 and response["Location"] == url
    assert STALE_EDIT_MESSAGE in client.get(url).content.decode()
    assert Campaign.objects.get(pk=w.campaign.pk).name == "入户大走访"
    assert Stage.objects.get(pk=stage.pk).ends_on == D(2026, 3, 31)


# ------------------------------------------------------------------------------------------------ admin inlines


def _campaign_with_rows(w):
    stage = Stage.objects.create(
        campaign=w.campaign, kind=StageKind.VISIT, starts_on=D(2026, 3, 1), ends_on=D(2026, 3, 31)
    )
    quota = DepartmentQuota.objects.create(campaign=w.campaign, department=w.dept, community=w.c1, households=5)
    return stage, quota


def test_every_inline_row_carries_its_version(world):
    _campaign_with_rows(world)
    client = Client()
    client.force_login(world.admin)
    page = client.get(change_url(world.campaign)).content.decode()
    assert 'name="stages-0-seen_version" value="1"' in page
    assert 'name="quotas-0-seen_version" value="1"' in page


def test_two_editors_of_one_inline_row_the_second_is_refused(world):
    w = world
    stage, quota = _campaign_with_rows(w)
    url = change_url(w.campaign)
    alice, bob = Client(), Client()
    a = open_change_form(alice, w.admin, url)
    b = open_change_form(bob, w.admin, url)
    a["quotas-0-households"] = "8"
    assert alice.post(url, a).status_code == 302
    b["stages-0-ends_on"] = "2026-04-15"
    assert refused(bob.post(url, b))
    assert Stage.objects.get(pk=stage.pk).ends_on == D(2026, 3, 31)
    assert DepartmentQuota.objects.get(pk=quota.pk).households == 8


def test_an_inline_row_changed_on_its_own_page_meanwhile_is_refused(world):
    """The stage was edited on the stage admin (the campaign's version did not move): the campaign
    form that still shows the old stage must not write it back."""
    w = world
    stage, _quota = _campaign_with_rows(w)
    url = change_url(w.campaign)
    alice, bob = Client(), Client()
    b = open_change_form(bob, w.admin, url)
    a = open_change_form(alice, w.admin, change_url(stage))
    assert alice.post(change_url(stage), {**a, "ends_on": "2026-04-30"}).status_code == 302
    b["stages-0-kind"] = StageKind.RECTIFY
    assert refused(bob.post(url, b))
    fresh = Stage.objects.get(pk=stage.pk)
    assert (fresh.kind, fresh.ends_on, fresh.version) == (StageKind.VISIT, D(2026, 4, 30), 2)


def test_an_inline_row_deleted_meanwhile_is_refused_with_its_own_message(world):
    w = world
    _stage, quota = _campaign_with_rows(w)
    url = change_url(w.campaign)
    client = Client()
    data = open_change_form(client, w.admin, url)
    DepartmentQuota.objects.filter(pk=quota.pk).delete()
    data["quotas-0-households"] = "9"
    data["name"] = "改名"
    response = client.post(url, data)
    assert response.status_code == 200 and GONE_EDIT_MESSAGE in response.content.decode()
    assert not DepartmentQuota.objects.exists()  # not re-created from the stale row
    assert Campaign.objects.get(pk=w.campaign.pk).name == "入户大走访"


# ------------------------------------------------------------------------------------------------ list_editable


def _changelist_data(page):
    data = {"_save": "保存"}
    _formset_data(data, page.context["cl"].formset)
    return data


def test_list_editable_rows_carry_their_version_and_the_second_editor_is_refused(world):
    url = reverse("admin:households_focusgroup_changelist")
    alice, bob = Client(), Client()
    alice.force_login(world.admin)
    bob.force_login(world.admin)
    page = alice.get(url)
    html = page.content.decode()
    groups = list(page.context["cl"].formset.queryset)
    for i, group in enumerate(groups):
        assert f'name="form-{i}-seen_version" value="{group.version}"' in html  # rendered, not only in the form
    a = _changelist_data(page)
    b = _changelist_data(bob.get(url))
    row = next(i for i, g in enumerate(groups) if g.name == "老党员")

    a[f"form-{row}-aliases"] = "党员老同志"
    assert alice.post(url, a).status_code == 302
    b[f"form-{row}-order"] = "9"
    response = bob.post(url, b)
    assert response.status_code == 200 and STALE_EDIT_MESSAGE in response.content.decode()
    fresh = FocusGroup.objects.get(name="老党员")
    assert (fresh.aliases, fresh.order, fresh.version) == ("党员老同志", groups[row].order, 2)


# ------------------------------------------------------------------------------------------------ the 一户一策 page


@pytest.fixture
def plan(world):
    plan = HardshipPlan.objects.create(household=world.ha, situation="户主患慢性病，无固定收入", goal="落实低保",
                                       responsible="张书记（湖田社区）")  # fmt: skip
    HardshipMeasure.objects.create(plan=plan, content="协助申请医疗救助", unit="区医保局", order=0)
    HardshipMeasure.objects.create(plan=plan, content="推荐公益性岗位", unit="区人社局", order=1)
    return plan


def plan_url(household):
    return reverse("reports:hardship_plan", args=[household.pk])


def open_plan_page(client, user, household):
    client.force_login(user)
    page = client.get(plan_url(household))
    assert page.status_code == 200
    data = {}
    form = page.context["form"]
    for name in form.fields:
        _put(data, name, form[name].value())
    _formset_data(data, page.context["formset"])
    return page, data


def _measures(plan):
    return [(m.content, m.unit) for m in HardshipMeasure.objects.filter(plan=plan).order_by("order", "pk")]


def test_the_plan_page_carries_the_version_of_the_plan_and_of_each_measure(world, plan):
    page, _data = open_plan_page(Client(), world.admin, world.ha)
    html = page.content.decode()
    assert 'name="seen_version" value="1"' in html
    assert 'name="measures-0-seen_version" value="1"' in html and 'name="measures-1-seen_version" value="1"' in html


def test_plan_fields_and_a_measure_edited_at_once_the_second_save_is_refused(world, plan):
    w = world
    alice, bob = Client(), Client()
    _, a = open_plan_page(alice, w.admin, w.ha)
    _, b = open_plan_page(bob, w.secretary, w.ha)

    a["situation"] = "户主住院，家中无人照料"
    assert alice.post(plan_url(w.ha), a).status_code == 302
    b["measures-0-content"] = "协助申请大病救助"
    b["measures-2-content"] = "联系家庭医生上门"  # a new row too
    response = bob.post(plan_url(w.ha), b)
    page = response.content.decode()
    assert response.status_code == 200 and page.count(STALE_EDIT_MESSAGE) == 1
    assert "请按提示修改后重新提交" not in page  # the message says what to do: refresh

    fresh = HardshipPlan.objects.get(pk=plan.pk)
    assert (fresh.situation, fresh.updated_by, fresh.version) == ("户主住院，家中无人照料", w.admin, 2)
    assert _measures(plan) == [("协助申请医疗救助", "区医保局"), ("推荐公益性岗位", "区人社局")]


def test_a_measure_and_the_plan_fields_edited_at_once_the_second_save_is_refused(world, plan):
    w = world
    alice, bob = Client(), Client()
    _, a = open_plan_page(alice, w.admin, w.ha)
    _, b = open_plan_page(bob, w.secretary, w.ha)

    a["measures-1-unit"] = "区就业服务中心"
    assert alice.post(plan_url(w.ha), a).status_code == 302
    b["goal"] = "年底前实现就业1人"
    response = bob.post(plan_url(w.ha), b)
    assert response.status_code == 200 and STALE_EDIT_MESSAGE in response.content.decode()

    fresh = HardshipPlan.objects.get(pk=plan.pk)
    assert (fresh.goal, fresh.updated_by, fresh.version) == ("落实低保", w.admin, 2)
    assert _measures(plan) == [("协助申请医疗救助", "区医保局"), ("推荐公益性岗位", "区就业服务中心")]

    # Reloaded, Bob's change goes through and keeps Alice's.
    _, b = open_plan_page(bob, w.secretary, w.ha)
    b["goal"] = "年底前实现就业1人"
    assert bob.post(plan_url(w.ha), b).status_code == 302
    fresh = HardshipPlan.objects.get(pk=plan.pk)
    assert (fresh.goal, fresh.version) == ("年底前实现就业1人", 3)
    assert _measures(plan)[1] == ("推荐公益性岗位", "区就业服务中心")


def test_a_measure_deleted_meanwhile_is_not_brought_back(world, plan):
    w = world
    alice, bob = Client(), Client()
    _, a = open_plan_page(alice, w.admin, w.ha)
    _, b = open_plan_page(bob, w.secretary, w.ha)
    a["measures-1-DELETE"] = "on"
    assert alice.post(plan_url(w.ha), a).status_code == 302
    b["measures-1-content"] = "推荐公益性岗位（保洁）"
    response = bob.post(plan_url(w.ha), b)
    assert response.status_code == 200 and GONE_EDIT_MESSAGE in response.content.decode()
    assert _measures(plan) == [("协助申请医疗救助", "区医保局")]


def test_a_plan_created_by_someone_else_meanwhile_is_not_overwritten(world):
    w = world
    alice, bob = Client(), Client()
    _, a = open_plan_page(alice, w.admin, w.hb)
    _, b = open_plan_page(bob, w.secretary, w.hb)
    a.update(situation="老人瘫痪在床", responsible="李委员")
    assert alice.post(plan_url(w.hb), a).status_code == 302
    b.update(situation="子女下岗", responsible="王委员")
    response = bob.post(plan_url(w.hb), b)
    assert response.status_code == 200 and STALE_EDIT_MESSAGE in response.content.decode()
    plan = HardshipPlan.objects.get(household=w.hb)
    assert (plan.situation, plan.responsible, plan.version) == ("老人瘫痪在床", "李委员", 1)


def test_a_plan_save_that_loses_the_race_after_the_check_writes_nothing(world, plan):
    w = world
    client = Client()
    _, data = open_plan_page(client, w.admin, w.ha)
    data["goal"] = "后来者"
    data["measures-0-unit"] = "区卫健局"

    def someone_else_saves(sender, instance, **kwargs):
        HardshipPlan.objects.filter(pk=instance.pk).update(version=F("version") + 1)

    pre_save.connect(someone_else_saves, sender=HardshipPlan)
    try:
        response = client.post(plan_url(w.ha), data)
    finally:
        pre_save.disconnect(someone_else_saves, sender=HardshipPlan)
    assert response.status_code == 302 and response["Location"] == plan_url(w.ha)
    assert STALE_EDIT_MESSAGE in client.get(plan_url(w.ha)).content.decode()
    assert HardshipPlan.objects.get(pk=plan.pk).goal == "落实低保"
    assert _measures(plan)[0] == ("协助申请医疗救助", "区医保局")


# ------------------------------------------------------------------------------------------------ PostgreSQL: two at once


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_of_two_simultaneous_cadre_saves_exactly_one_wins(world, on_postgres):
    pk = world.worker_a.cadre.pk
    for round_ in range(5):  # a few rounds, so the two threads really overlap at least sometimes
        seen = Cadre.objects.get(pk=pk).version

        def edit(position, seen=seen):
            def call():
                cadre = Cadre.objects.get(pk=pk)
                cadre.version = seen  # both loaded the same version
                cadre.position = position
                cadre.save()
                return position

            return call

        outcomes = race(edit(f"甲{round_}"), edit(f"乙{round_}"))
        winners = [r for r, e in outcomes if e is None]
        losers = [e for r, e in outcomes if e is not None]
        assert len(winners) == 1, outcomes
        assert len(losers) == 1 and isinstance(losers[0], StaleEditError), outcomes
        fresh = Cadre.objects.get(pk=pk)
        assert fresh.version == seen + 1 and fresh.position == winners[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_of_two_simultaneous_plan_page_saves_exactly_one_is_kept(world, plan, on_postgres):
    w = world
    alice, bob = Client(), Client()
    _, a = open_plan_page(alice, w.admin, w.ha)
    _, b = open_plan_page(bob, w.admin, w.ha)
    a["goal"], a["measures-0-unit"] = "爱丽丝的目标", "爱丽丝的单位"
    b["goal"], b["measures-0-unit"] = "鲍勃的目标", "鲍勃的单位"

    outcomes = race(lambda: alice.post(plan_url(w.ha), a), lambda: bob.post(plan_url(w.ha), b))

    assert all(e is None for _, e in outcomes), outcomes
    responses = [r for r, _ in outcomes]
    assert sorted(r.status_code for r in responses) in ([200, 302], [302, 302]), [r.status_code for r in responses]
    fresh = HardshipPlan.objects.get(pk=plan.pk)
    assert fresh.version == 2
    # Whoever won, the plan and its measure are his together: never one editor's goal with the other's unit.
    assert (fresh.goal, _measures(plan)[0][1]) in (("爱丽丝的目标", "爱丽丝的单位"), ("鲍勃的目标", "鲍勃的单位"))
    messages_seen = [alice.get(plan_url(w.ha)).content.decode(), bob.get(plan_url(w.ha)).content.decode()]
    assert sum("帮扶方案已保存" in m for m in messages_seen) == 1
