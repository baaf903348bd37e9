"""A small street with two grids in one community and a second community, and one user per role."""

from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group, User

from households.models import Household, Node, NodeKind
from households.roles import CADRE, DEPARTMENT_HANDLER, LEADER, SECRETARY, STREET_ADMIN, sync_role_groups
from households.validators import id_check_char
from visitplan.models import Assignment, Cadre, Campaign, Department, Tier


def valid_id(serial: int, born: str = "19700101", region: str = "370302") -> str:
    first17 = f"{region}{born}{serial % 1000:03d}"
    return first17 + id_check_char(first17)


def make_household(grid, room, name, serial, building=None):
    community = grid.parent
    return Household.objects.create(
        street=community.parent,
        community=community,
        grid=grid,
        building=building,
        unit="1单元",
        room=room,
        head_name=name,
        id_number=valid_id(serial),
        phone=f"1380000{serial:04d}",
        size=3,
    )


def make_user(username, role, *, scope, tier, staff=False, department=None):
    user = User.objects.create_user(username, password="pw-test-123", is_staff=staff)
    user.groups.add(Group.objects.get(name=role))
    Cadre.objects.create(user=user, name=username, tier=tier, scope=scope, department=department)
    return user


@pytest.fixture
def world(db):
    sync_role_groups()
    street = Node.objects.create(kind=NodeKind.STREET, name="湖田街道")
    c1 = Node.objects.create(kind=NodeKind.COMMUNITY, name="湖田社区", parent=street)
    c2 = Node.objects.create(kind=NodeKind.COMMUNITY, name="南纬社区", parent=street)
    grid_a = Node.objects.create(kind=NodeKind.GRID, name="第1网格", parent=c1)
    grid_b = Node.objects.create(kind=NodeKind.GRID, name="第2网格", parent=c1)
    grid_c = Node.objects.create(kind=NodeKind.GRID, name="第1网格", parent=c2)
    b1 = Node.objects.create(kind=NodeKind.BUILDING, name="1号楼", parent=grid_a)
    ha = make_household(grid_a, "101", "张甲", 1, building=b1)
    hb = make_household(grid_b, "202", "李乙", 2)
    hc = make_household(grid_c, "303", "王丙", 3)
    dept = Department.objects.create(name="区民政局")
    w = SimpleNamespace(
        street=street, c1=c1, c2=c2, grid_a=grid_a, grid_b=grid_b, grid_c=grid_c, ha=ha, hb=hb, hc=hc, dept=dept
    )
    w.admin = make_user("admin", STREET_ADMIN, scope=street, tier=Tier.STREET_STAFF, staff=True)
    w.leader = make_user("leader", LEADER, scope=street, tier=Tier.LEADER, staff=True)
    w.secretary = make_user("sec1", SECRETARY, scope=c1, tier=Tier.SECRETARY, staff=True)
    w.worker_a = make_user("grid_a", CADRE, scope=grid_a, tier=Tier.GRID_WORKER)
    w.worker_b = make_user("grid_b", CADRE, scope=grid_b, tier=Tier.GRID_WORKER)
    w.handler = make_user("dept1", DEPARTMENT_HANDLER, scope=street, tier=Tier.DEPARTMENT, department=dept)
    w.campaign = Campaign.objects.create(year=2026, name="入户大走访", street=street)
    Assignment.objects.create(campaign=w.campaign, household=hc, cadre=w.handler.cadre, source="manual")
    return w
