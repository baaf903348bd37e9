import pytest

from households.models import Household, Node, NodeKind
from households.register import address_key

pytestmark = pytest.mark.django_db


def test_it_gives_every_node_a_path_under_its_parent():
    street = Node.objects.create(kind=NodeKind.STREET, name="湖田街道")
    community = Node.objects.create(kind=NodeKind.COMMUNITY, name="湖田社区", parent=street)
    grid = Node.objects.create(kind=NodeKind.GRID, name="第1网格", parent=community)
    assert grid.path.startswith(community.path + ".") and community.path.startswith(street.path + ".")
    assert list(Node.objects.under(community)) == [community, grid]


def test_it_rekeys_households_when_a_grid_is_renamed():
    from tests.support.world import make_household

    street = Node.objects.create(kind=NodeKind.STREET, name="湖田街道")
    community = Node.objects.create(kind=NodeKind.COMMUNITY, name="湖田社区", parent=street)
    grid = Node.objects.create(kind=NodeKind.GRID, name="第1网格", parent=community)
    household = make_household(grid, "101", "张甲", 1)
    grid.name = "第一网格"
    grid.save()
    household.refresh_from_db()
    assert household.address_key == address_key("湖田社区", "第一网格", "", "1单元", "101")


def test_it_moves_the_subtree_and_households_with_a_node():
    from tests.support.world import make_household

    street = Node.objects.create(kind=NodeKind.STREET, name="湖田街道")
    c1 = Node.objects.create(kind=NodeKind.COMMUNITY, name="湖田社区", parent=street)
    c2 = Node.objects.create(kind=NodeKind.COMMUNITY, name="南纬社区", parent=street)
    grid = Node.objects.create(kind=NodeKind.GRID, name="第1网格", parent=c1)
    household = make_household(grid, "101", "张甲", 1)
    grid.parent = c2
    grid.save()
    household.refresh_from_db()
    assert grid.path.startswith(c2.path + ".") and household.path == grid.path
    assert Household.objects.under(c2).count() == 1 and Household.objects.under(c1).count() == 0
    household.refresh_from_db()
    assert household.community_id == c2.pk
    assert household.address_key == address_key("南纬社区", "第1网格", "", "1单元", "101")
