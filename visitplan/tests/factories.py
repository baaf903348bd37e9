"""Test helpers: a street with communities, grids, buildings and households, cadres, a campaign.

Plain functions (no factory_boy magic) so a test reads like the street it builds.
"""

import datetime
import itertools
from dataclasses import dataclass, field

from households.models import Building, Community, FocusGroup, Grid, Household, Street
from households.validators import id_check_char
from visitplan.models import Cadre, Campaign, Department, DepartmentQuota, Stage, StageKind, Tier

_seq = itertools.count(1)


def id_number(n: int | None = None, born: datetime.date = datetime.date(1970, 1, 1)) -> str:
    """A valid GB 11643 ID number (370202 = 青岛市南区), different for every n."""
    n = next(_seq) if n is None else n
    first17 = f"370202{born:%Y%m%d}{n % 1000:03d}"
    return first17 + id_check_char(first17)


def street(name="八大峡街道"):
    return Street.objects.create(name=name)


def community(parent, name):
    return Community.objects.create(name=name, parent=parent)


def grid(parent, name):
    return Grid.objects.create(name=name, parent=parent)


def building(parent, name):
    return Building.objects.create(name=name, parent=parent)


def household(grid_node, room, *, building_node=None, unit="", head_name=None, tags=()):
    community_node = grid_node.parent
    h = Household.objects.create(
        street=community_node.parent,
        community=community_node,
        grid=grid_node,
        building=building_node,
        unit=unit,
        room=str(room),
        head_name=head_name or f"户主{room}",
        id_number=id_number(),
    )
    if tags:
        h.tags.set(FocusGroup.objects.filter(name__in=tags))
    return h


def cadre(name, tier, scope, *, department=None, active=True, user=None, **extra):
    return Cadre.objects.create(
        name=name, tier=tier, scope=scope, department=department, active=active, user=user, **extra
    )


def department(name="区民政局"):
    return Department.objects.get_or_create(name=name)[0]


def campaign(street_node, *, visit=(datetime.date(2026, 3, 1), datetime.date(2026, 4, 30)), **extra):
    c = Campaign.objects.create(year=2026, name="大走访", street=street_node, **extra)
    if visit:
        Stage.objects.create(campaign=c, kind=StageKind.VISIT, starts_on=visit[0], ends_on=visit[1])
    return c


def quota(campaign_obj, department_obj, community_node, households):
    return DepartmentQuota.objects.create(
        campaign=campaign_obj, department=department_obj, community=community_node, households=households
    )


@dataclass
class Town:
    """A small street: what build_street made, by name."""

    street: Street
    communities: list = field(default_factory=list)
    grids: dict = field(default_factory=dict)  # community name -> [grid, …]
    buildings: dict = field(default_factory=dict)  # grid pk -> [building, …]
    households: list = field(default_factory=list)

    def in_community(self, c):
        return [h for h in self.households if h.community_id == c.pk]

    def in_grid(self, g):
        return [h for h in self.households if h.grid_id == g.pk]


def build_street(*, communities=2, grids=2, buildings=2, units=1, rooms=5, tags_every=0, tags=("老党员",)):
    """communities × grids × buildings × units × rooms households; every n-th one tagged."""
    town = Town(street=street())
    n = 0
    for ci in range(1, communities + 1):
        c = community(town.street, f"{ci}社区")
        town.communities.append(c)
        town.grids[c.name] = []
        for gi in range(1, grids + 1):
            g = grid(c, f"第{gi}网格")
            town.grids[c.name].append(g)
            town.buildings[g.pk] = []
            for bi in range(1, buildings + 1):
                b = building(g, f"{bi}号楼")
                town.buildings[g.pk].append(b)
                for ui in range(1, units + 1):
                    for ri in range(1, rooms + 1):
                        n += 1
                        tagged = tags_every and n % tags_every == 0
                        town.households.append(
                            household(
                                g,
                                str(100 + ri),
                                building_node=b,
                                unit=f"{ui}单元",
                                tags=tags if tagged else (),
                            )
                        )
    return town


def staff_town(town, *, leaders=1, street_staff=1, secretaries=1, grid_workers=1):
    """Give every community and grid its cadres; returns dict role -> [cadre, …]."""
    made = {"leaders": [], "street_staff": [], "secretaries": [], "grid_workers": []}
    for i in range(leaders):
        made["leaders"].append(cadre(f"班子{i + 1}", Tier.LEADER, town.street))
    for c in town.communities:
        for i in range(street_staff):
            made["street_staff"].append(cadre(f"{c.name}街道干部{i + 1}", Tier.STREET_STAFF, c))
        for i in range(secretaries):
            made["secretaries"].append(cadre(f"{c.name}书记{i + 1}", Tier.SECRETARY, c))
        for g in town.grids[c.name]:
            for i in range(grid_workers):
                made["grid_workers"].append(cadre(f"{c.name}{g.name}网格员{i + 1}", Tier.GRID_WORKER, g))
    return made
