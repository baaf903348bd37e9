"""亲情卡 from the admin: "打印所选干部的亲情卡" on the cadres, "打印所选社区或网格的亲情卡" on the tree;
both open the cards page (visits:cards) for what was ticked, and only for what the user may see."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.urls import reverse

from households.models import Node, NodeKind
from visitplan.models import Cadre, Tier

pytestmark = pytest.mark.django_db

CARDS = "/visits/cards/"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def run(client, changelist, action, objects):
    return client.post(reverse(changelist), {"action": action, ACTION_CHECKBOX_NAME: [o.pk for o in objects]})


def warnings(client, response):
    followed = client.get(response["Location"]) if response.status_code == 302 else response
    return [str(m) for m in followed.context["messages"]]


def test_one_cadre_ticked_opens_his_cards(world):
    w = world
    cadre = w.worker_a.cadre
    response = run(logged_in(w.admin), "admin:visitplan_cadre_changelist", "print_cards_action", [cadre])
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('visits:cards')}?cadre={cadre.pk}"
    assert reverse("visits:cards") == CARDS


def test_several_cadres_ticked_are_asked_to_choose_one(world):
    w = world
    client = logged_in(w.admin)
    response = run(
        client, "admin:visitplan_cadre_changelist", "print_cards_action", [w.worker_a.cadre, w.worker_b.cadre]
    )
    assert not response.get("Location", "").startswith(CARDS)
    assert any("请只勾选一名干部" in m and "2 名" in m for m in warnings(client, response))


def test_the_leader_who_only_reads_may_print_too(world):
    w = world
    response = run(logged_in(w.leader), "admin:visitplan_cadre_changelist", "print_cards_action", [w.worker_b.cadre])
    assert response["Location"] == f"{CARDS}?cadre={w.worker_b.cadre.pk}"


def test_a_cadre_outside_the_users_node_cannot_be_printed_from_the_list(world):
    w = world
    other = Cadre.objects.create(name="南纬网格员", tier=Tier.GRID_WORKER, scope=w.grid_c)
    client = logged_in(w.secretary)  # 湖田社区's secretary
    response = run(client, "admin:visitplan_cadre_changelist", "print_cards_action", [other])
    assert not response.get("Location", "").startswith(CARDS)


@pytest.mark.parametrize(
    ("changelist", "node", "parameter"),
    [
        ("admin:households_grid_changelist", "grid_a", "grid"),
        ("admin:households_community_changelist", "c1", "community"),
        ("admin:households_node_changelist", "grid_c", "grid"),
        ("admin:households_node_changelist", "c2", "community"),
    ],
)
def test_a_community_or_grid_ticked_opens_its_cards(world, changelist, node, parameter):
    w = world
    target = getattr(w, node)
    response = run(logged_in(w.admin), changelist, "print_contact_cards", [target])
    assert response.status_code == 302
    assert response["Location"] == f"{CARDS}?{parameter}={target.pk}"


def test_a_street_or_several_nodes_are_refused_with_a_reason(world):
    w = world
    client = logged_in(w.admin)
    response = run(client, "admin:households_node_changelist", "print_contact_cards", [w.street])
    assert any("亲情卡按社区或网格打印" in m for m in warnings(client, response))
    response = run(client, "admin:households_grid_changelist", "print_contact_cards", [w.grid_a, w.grid_b])
    assert any("请只勾选一个" in m and "2 个" in m for m in warnings(client, response))


def test_a_grid_outside_the_users_node_is_not_printed(world):
    w = world
    st2 = Node.objects.create(kind=NodeKind.STREET, name="外街街道")
    cx = Node.objects.create(kind=NodeKind.COMMUNITY, name="外街社区", parent=st2)
    gx = Node.objects.create(kind=NodeKind.GRID, name="第1网格", parent=cx)
    for changelist in ("admin:households_grid_changelist", "admin:households_node_changelist"):
        response = run(logged_in(w.admin), changelist, "print_contact_cards", [gx])
        assert not response.get("Location", "").startswith(CARDS)
    response = run(logged_in(w.secretary), "admin:households_grid_changelist", "print_contact_cards", [w.grid_c])
    assert not response.get("Location", "").startswith(CARDS)
