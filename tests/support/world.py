"""Builders of the small street (the ``world`` fixture, tests/fixtures/world.py): valid ID numbers,
households and users with their role and cadre."""

from django.contrib.auth.models import Group, User

from households.models import Household
from households.validators import id_check_char
from visitplan.models import Cadre


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
