"""The 转给 list of the admin action "将所选干部的包户转给…": whom it offers, how it names and orders them,
and its search box (a script of our own, static/js/select-filter.js: no network)."""

import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from households.models import Node, NodeKind
from households.roles import STREET_ADMIN
from tests.support.browser import log_in, screenshot
from tests.support.world import make_user
from visitplan.models import Assignment, Cadre, Tier

CHANGELIST = "admin:visitplan_cadre_changelist"


@pytest.fixture
def crowd(world):
    """The small street with a 第1网格 in each community, a 第10网格, someone who left, another street."""
    w = world
    w.grid_10 = Node.objects.create(kind=NodeKind.GRID, name="第10网格", parent=w.c1)
    w.wang = Cadre.objects.create(name="汪鑫", tier=Tier.GRID_WORKER, scope=w.grid_c)
    w.zhao = Cadre.objects.create(name="赵十", tier=Tier.GRID_WORKER, scope=w.grid_10)
    w.qian = Cadre.objects.create(name="钱委员", tier=Tier.COMMITTEE, scope=w.grid_a)
    w.gone = Cadre.objects.create(name="孙离岗", tier=Tier.GRID_WORKER, scope=w.grid_a, active=False)
    st2 = Node.objects.create(kind=NodeKind.STREET, name="外街街道")
    c_x = Node.objects.create(kind=NodeKind.COMMUNITY, name="外街社区", parent=st2)
    g_x = Node.objects.create(kind=NodeKind.GRID, name="第1网格", parent=c_x)
    w.outsider = Cadre.objects.create(name="外街网格员", tier=Tier.GRID_WORKER, scope=g_x)
    Assignment.objects.create(campaign=w.campaign, household=w.ha, cadre=w.worker_a.cadre)
    return w


def open_form(client, user, leaving):
    client.force_login(user)
    response = client.post(
        reverse(CHANGELIST), {"action": "reassign_action", ACTION_CHECKBOX_NAME: [c.pk for c in leaving]}
    )
    assert response.status_code == 200, response.content.decode()[:500]
    return response


def offered(response):
    """[(cadre id, label)] of the 转给 list, in the page's order."""
    return [(int(v), str(label)) for v, label in response.context["form"].fields["to_cadre"].choices]


def test_each_entry_names_the_community_and_the_grid(client, crowd):
    w = crowd
    labels = dict(offered(open_form(client, w.admin, [w.worker_a.cadre])))

    assert labels[w.wang.pk] == "汪鑫（网格员 · 南纬社区 / 第1网格）"
    assert labels[w.worker_b.cadre.pk] == "grid_b（网格员 · 湖田社区 / 第2网格）"
    assert labels[w.qian.pk] == "钱委员（两委成员/社区工作者 · 湖田社区 / 第1网格）"
    assert labels[w.secretary.cadre.pk] == "sec1（社区书记 · 湖田社区）"
    assert labels[w.leader.cadre.pk] == "leader（街道班子成员 · 湖田街道）"
    # Two 第1网格 entries, told apart by their community.
    assert len({label for label in labels.values() if "第1网格" in label}) == 2


def test_it_offers_the_active_cadres_of_the_admins_scope_but_not_those_leaving(client, crowd):
    w = crowd
    ids = [pk for pk, _ in offered(open_form(client, w.admin, [w.worker_a.cadre, w.worker_b.cadre]))]

    assert w.worker_a.cadre.pk not in ids and w.worker_b.cadre.pk not in ids  # the ones leaving
    assert w.gone.pk not in ids  # 不在岗
    assert w.outsider.pk not in ids  # another street
    assert {w.wang.pk, w.zhao.pk, w.qian.pk, w.secretary.cadre.pk} <= set(ids)
    assert len(ids) == len(set(ids))


def test_an_admin_of_one_community_is_offered_that_community_only(client, crowd):
    w = crowd
    community_admin = make_user("c1_admin", STREET_ADMIN, scope=w.c1, tier=Tier.STREET_STAFF, staff=True)
    labels = [label for _, label in offered(open_form(client, community_admin, [w.worker_a.cadre]))]

    assert labels and all("湖田社区" in label for label in labels)
    assert not any("南纬社区" in label or "湖田街道" in label for label in labels)


def test_the_list_is_sorted_by_community_grid_and_name(client, crowd):
    w = crowd
    labels = [label for _, label in offered(open_form(client, w.admin, [w.worker_a.cadre]))]

    places = [re.search(r"· (.*)）$", label).group(1) for label in labels]
    # The street's own cadres first, then each community together, its grids in number order.
    first_community = next(i for i, p in enumerate(places) if "社区" in p)
    assert all("社区" not in p for p in places[:first_community])
    communities = [p.split(" / ")[0] for p in places[first_community:]]
    assert communities == sorted(communities)
    hutian = [p for p in places if p.startswith("湖田社区")]
    assert hutian == ["湖田社区", "湖田社区 / 第1网格", "湖田社区 / 第2网格", "湖田社区 / 第10网格"]
    # Within a place, by name.
    grid_a = [label.split("（")[0] for label in labels if "湖田社区 / 第1网格" in label]
    assert grid_a == sorted(grid_a)


def test_the_page_has_a_labelled_search_box_over_the_list(client, crowd):
    html = open_form(client, crowd.admin, [crowd.worker_a.cadre]).content.decode()

    assert '<label for="to-cadre-filter">搜索接收干部</label>' in html
    assert 'id="to-cadre-filter" data-filter-for="id_to_cadre"' in html
    assert re.search(r'<select name="to_cadre"[^>]*size="12"', html)
    assert re.search(r'<script src="/static/js/select-filter\.js" defer>', html)
    assert "cdn" not in html.lower() and "https://" not in html


def test_a_cadre_not_offered_is_refused_and_nothing_moves(client, crowd):
    w = crowd
    client.force_login(w.admin)
    for target in (w.outsider, w.gone, w.worker_a.cadre):
        response = client.post(
            reverse(CHANGELIST),
            {"action": "reassign_action", ACTION_CHECKBOX_NAME: [w.worker_a.cadre.pk], "apply": "1",
             "to_cadre": target.pk, "campaign": ""},
        )  # fmt: skip
        assert response.status_code == 200
        assert "所选干部不在可选范围内" in response.content.decode()
    assert Assignment.objects.filter(cadre=w.worker_a.cadre).count() == 1


def test_choosing_from_the_list_hands_the_households_over(client, crowd):
    w = crowd
    client.force_login(w.admin)
    response = client.post(
        reverse(CHANGELIST),
        {"action": "reassign_action", ACTION_CHECKBOX_NAME: [w.worker_a.cadre.pk], "apply": "1",
         "to_cadre": w.qian.pk, "campaign": ""},
    )  # fmt: skip
    assert response.status_code == 302
    assert Assignment.objects.filter(cadre=w.qian, household=w.ha).exists()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_typing_in_the_search_box_narrows_the_list(live_server, crowd, browser_page):
    w = crowd
    page = browser_page
    page.set_viewport_size({"width": 1100, "height": 900})
    log_in(page, live_server, "admin")
    page.goto(f"{live_server.url}{reverse(CHANGELIST)}")
    page.check(f"input[name='{ACTION_CHECKBOX_NAME}'][value='{w.worker_a.cadre.pk}']")
    page.select_option("select[name=action]", "reassign_action")
    page.click("button[name=index]")
    page.wait_for_load_state()

    search = page.get_by_label("搜索接收干部")
    assert search.is_visible()

    def visible():
        return page.eval_on_selector_all("#id_to_cadre option", "os => os.filter(o => !o.hidden).map(o => o.text)")

    everyone = visible()
    assert len(everyone) > 5
    # A list of 12 rows, not the admin's one-line select.
    assert page.eval_on_selector("#id_to_cadre", "s => s.getBoundingClientRect().height") > 150
    screenshot(page, "reassign_list")
    search.fill("南纬 第1网格")
    assert visible() == ["汪鑫（网格员 · 南纬社区 / 第1网格）"]
    assert "找到 1 人" in page.inner_text("#to-cadre-count")
    screenshot(page, "reassign_search")
    # Enter picks the only match instead of sending the form.
    search.press("Enter")
    assert page.eval_on_selector("#id_to_cadre", "s => s.value") == str(w.wang.pk)
    search.fill("")
    assert visible() == everyone

    search.fill("湖田 第1网格")
    assert sorted(visible()) == sorted(t for t in everyone if "湖田社区 / 第1网格" in t)
    page.select_option("#id_to_cadre", str(w.qian.pk))
    page.click("input[name=apply]")
    page.wait_for_load_state()
    assert Assignment.objects.filter(cadre=w.qian, household=w.ha).exists()
