"""seed_demo places every building of the demo street (经度 / 纬度) for the 网格图."""

import math

import pytest
from django.core.management import call_command

from households.models import Node, NodeKind
from reports.management.commands.seed_demo import DEMO_ORIGIN, building_place

pytestmark = pytest.mark.django_db


def metres(a, b):
    """Distance between two (longitude, latitude) places, equirectangular (fine over a few km)."""
    lat = math.radians(float(a[1]))
    east = (float(a[0]) - float(b[0])) * 111_320 * math.cos(lat)
    north = (float(a[1]) - float(b[1])) * 111_320
    return math.hypot(east, north)


def test_every_demo_building_has_a_place_of_its_own_in_a_compact_cluster():
    call_command("seed_demo", households=300)
    buildings = list(Node.objects.filter(kind=NodeKind.BUILDING).values_list("parent_id", "longitude", "latitude"))

    assert buildings and all(lng is not None and lat is not None for _grid, lng, lat in buildings)
    places = [(lng, lat) for _grid, lng, lat in buildings]
    assert len(set(places)) == len(places)
    assert max(metres(DEMO_ORIGIN, p) for p in places) < 2000  # one street, not a city
    by_grid = {}
    for grid, lng, lat in buildings:
        by_grid.setdefault(grid, []).append((lng, lat))
    for grid_places in by_grid.values():
        for i, a in enumerate(grid_places):
            for b in grid_places[i + 1 :]:
                assert 20 < metres(a, b) < 250  # neighbours: tens of metres apart


def test_the_places_are_arithmetic_not_random():
    assert building_place(0, 1, 0) == building_place(0, 1, 0)
    assert building_place(0, 1, 0) == (round_dec(DEMO_ORIGIN[0]), round_dec(DEMO_ORIGIN[1]))
    assert building_place(0, 1, 1)[0] > building_place(0, 1, 0)[0]  # the next one east
    assert building_place(0, 1, 4)[1] < building_place(0, 1, 0)[1]  # the next row south


def round_dec(value):
    from decimal import Decimal

    return Decimal(repr(value)).quantize(Decimal("0.000001"))
