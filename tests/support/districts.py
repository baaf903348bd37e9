"""Builders of a district (区/县) over streets of the test worlds, and of its people."""

from django.contrib.auth.models import Group, User

from households.models import District, DistrictMember, Node, NodeKind
from tests.support.world import make_household


def make_district(name, *streets):
    district = District.objects.create(name=name)
    Node.objects.filter(pk__in=[s.pk for s in streets]).update(district=district)
    for s in streets:
        s.district = district
    return district


def make_district_user(username, role, district, *, staff=False):
    """A district's account: the role's group and its DistrictMember row, no cadre."""
    user = User.objects.create_user(username, password="pw-test-123", is_staff=staff)
    user.groups.add(Group.objects.get(name=role))
    DistrictMember.objects.create(user=user, district=district)
    return user


def make_street(name, *, households=1, serial=500):
    """A second street: one community, one grid, ``households`` households (head names 《name》户主n)."""
    street = Node.objects.create(kind=NodeKind.STREET, name=name)
    community = Node.objects.create(kind=NodeKind.COMMUNITY, name=f"{name[:2]}社区", parent=street)
    grid = Node.objects.create(kind=NodeKind.GRID, name=f"{name[:2]}网格", parent=community)
    made = [make_household(grid, f"{i + 1}01", f"{name[:2]}户主{i + 1}", serial + i) for i in range(households)]
    return street, community, grid, made
