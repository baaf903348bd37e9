"""包户到人: the one module holding the allocation rules (the campaign plan, "who visits whom").

Called by the Campaign admin action, by ``manage.py allocate --campaign ID`` and by the
demo seeder. Nothing else decides who visits whom.

Interpretation of the rules
===========================

Households of a campaign are ``Household.objects.under(campaign.street)``. Tiers are filled
in this order, each one seeing what the earlier ones (and earlier runs, and hand-made
assignments) already did:

Every number and group below is the campaign's rulebook's (``visitplan.rulebook.rules_for``).

1. 街道班子成员 (leaders): the *focus households* — tagged with a group of ``rules.leader_groups``
   (by name or alias; 000: 驻区企业、党员代表、困难家庭、低保户、残疾人、信访人员; 003: 上访户、困难户、
   老党员…; a group the register lacks is reported) — of the communities under the leader's scope
   node (a street scope covers all its communities; a community, grid or building scope
   covers the community it lies in). A focus household gets one leader, the least
   loaded one that covers it; households are taken community by community in turn
   (round-robin over communities, address order within one) so that a cap that is too
   small still spreads the leaders over every community. Cap per leader =
   ``rules.leader_households_per_month`` × calendar months touched by the 集中走访 stage
   (at least 1; no stage counts as one month and is reported).
2. 部门挂包 (departments): for every ``DepartmentQuota`` the department's active tier-2
   cadres get ``households`` households of that community in total, dealt round-robin
   (least loaded first). Cadres whose scope lies on the community's branch of the tree
   are preferred; when there are none, every active tier-2 cadre of the department
   takes part. Only households no department has yet in this campaign are eligible,
   and households without any 包户 cadre go first, an even share of each grid (a contiguous run
   in each), so every grid keeps households for its own grid worker. Existing tier-2 assignments of the
   department in the community (hand-made ones too) count toward the quota.
3. 街道干部 (包村居组, scope = a community, or a node under it): at least
   ``ceil(rules.street_staff_share% × households of the community)`` households have a tier-3
   assignment; the households of ``rules.staff_groups`` go first (002: "街道干部职工要重点走访上访老户、
   困难户等家庭"), then households without any 包户 cadre, an even share of each grid as for
   departments; dealt round-robin.
4. 社区书记 (scope = community), when the rulebook has 户户到 (``rules.secretary_sweep``): every
   household of the community gets a tier-4 assignment. With two or more active secretaries each household gets one of them
   (round-robin), not all of them.
5. 两委成员/社区工作者 "by proximity": a cadre scoped to a *building* takes that building's
   households that still have no 包户 cadre (shared evenly, contiguous, between the
   building's tier-5 cadres). Then per grid, the grid's still-unlinked households are
   shared between the grid-scoped tier-5 cadres and the grid workers: each tier-5 cadre
   ends up with ``(unlinked + what these cadres already hold in the grid) // (n5 + n6)``
   households, taken as one contiguous run in address order (building, unit, room,
   compared naturally: 2 < 10). Without a grid worker the tier-5 cadres share all of
   them.
6. 网格员 (scope = grid; a building scope means that building's grid): every household of
   the grid still without a 包户 cadre (兜底全覆盖), shared evenly and contiguously when a
   grid has two workers.

"Linked" (包户干部) means an assignment of tier 2, 3, 5 or 6 to an *active* cadre. The
leader's focus visits (tier 1) and the secretary's sweep (tier 4) come in addition and
do not make a household linked. Assignments to cadres who are no longer active are never
touched but count for nothing (not linked, not toward any target): they are reported so
the office can hand them over with ``reassign_cadre``. The database constraints still
apply to them (one tier-2 assignment per household and campaign; one row per household,
cadre and campaign).

Uncovered = households that are not linked after all tiers; the report names each one
(community, grid, address, householder) with the reason.

Guarantees: hand-made assignments (source=manual) are never moved or deleted and count
toward every target; a second run creates nothing; inactive cadres, and cadres with
``takes_households`` unticked (参与包户: office staff who do not visit), get nothing new; the
whole run is one transaction holding a row lock on the campaign (PostgreSQL), so two
concurrent runs cannot double-assign (the unique constraints protect as well).

Speed: one query per kind of data (nodes, households, focus tags, assignments, cadres,
quotas), decisions in memory, then one bulk write: COPY on PostgreSQL, ``executemany`` in
batches of 5,000 elsewhere. 100,000 households (about 200,000 new rows) take a few
seconds to decide and a few more to write on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import heapq
import math
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cache

from django.db import connection, transaction
from django.db.models import Count, F
from django.utils import timezone

from households.models import FocusGroup, Household, Node, NodeKind, subtree_q

from .models import Assignment, Cadre, Campaign, DepartmentQuota, StageKind, Tier, assignments_changed
from .rulebook import rules_for

__all__ = [
    "LINK_TIERS",
    "AllocationReport",
    "ReassignReport",
    "allocate",
    "coverage",
    "months_touched",
    "reassign_cadre",
]

#: Tiers whose assignment makes a household "linked" (has its 包户干部).
LINK_TIERS = frozenset({Tier.DEPARTMENT, Tier.STREET_STAFF, Tier.COMMITTEE, Tier.GRID_WORKER})
#: The focus group that leaders visit besides the 五个重点访.
BATCH_SIZE = 5000

TIER_SHORT = {
    Tier.LEADER: "街道班子成员",
    Tier.DEPARTMENT: "部门挂包干部",
    Tier.STREET_STAFF: "街道干部",
    Tier.SECRETARY: "社区书记",
    Tier.COMMITTEE: "两委成员/社区工作者",
    Tier.GRID_WORKER: "网格员",
}


def _n(value: int) -> str:
    return f"{value:,}"


@dataclass
class AllocationReport:
    campaign: Campaign
    dry_run: bool = False
    households: int = 0
    created_by_tier: dict = field(default_factory=lambda: {t: 0 for t in Tier})
    existing_by_tier: dict = field(default_factory=lambda: {t: 0 for t in Tier})
    #: (household_id, address text, reason), in address order.
    uncovered: list = field(default_factory=list)
    #: Chinese sentences: missing cadres, unmet quotas, scopes that do not fit, …
    problems: list = field(default_factory=list)
    #: Chinese sentences that need no action (e.g. leaders' lists are full).
    notes: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def created(self) -> int:
        return sum(self.created_by_tier.values())

    def summary_lines(self) -> list[str]:
        lines = [f"{self.campaign}：共 {_n(self.households)} 户" + ("（试算，未写入）" if self.dry_run else "")]
        verb = "拟新增" if self.dry_run else "新增"
        for tier in Tier:
            lines.append(
                f"{TIER_SHORT[tier]}：{verb} {_n(self.created_by_tier.get(tier, 0))} 户，"
                f"原有 {_n(self.existing_by_tier.get(tier, 0))} 户"
            )
        lines.append(f"合计{verb}包户关系：{_n(self.created)} 条")
        lines.append(f"未落实包户干部：{_n(len(self.uncovered))} 户")
        if self.problems:
            lines.append(f"需要处理的问题：{len(self.problems)} 项")
            lines.extend(f"· {p}" for p in self.problems)
        if self.notes:
            lines.append("说明：")
            lines.extend(f"· {n}" for n in self.notes)
        return lines


@dataclass
class ReassignReport:
    from_cadre: Cadre
    to_cadre: Cadre
    moved: int = 0
    dropped: int = 0
    skipped: list = field(default_factory=list)

    def summary_lines(self) -> list[str]:
        lines = [
            f"{self.from_cadre.name} → {self.to_cadre.name}：转交 {_n(self.moved)} 户，"
            f"重复去除 {_n(self.dropped)} 户，未转 {_n(len(self.skipped))} 户"
        ]
        lines.extend(f"· {s}" for s in self.skipped)
        return lines


# --------------------------------------------------------------------------- helpers

_DIGITS = re.compile(r"(\d+)")


@cache
def _natural(text: str) -> tuple:
    """Sort key comparing numbers by value: 2号楼 < 10号楼, 101 < 1001."""
    key = []
    for part in _DIGITS.split(text or ""):
        if not part:
            continue
        key.append((0, int(part), "") if part.isdigit() and part.isascii() else (1, 0, part))
    return tuple(key)


def months_touched(starts_on, ends_on) -> int:
    """Calendar months a date range touches (15 Mar – 10 May is 3), at least 1."""
    if not starts_on or not ends_on:
        return 1
    return max(1, (ends_on.year - starts_on.year) * 12 + ends_on.month - starts_on.month + 1)


def _even_takes(own: list[int], n: int) -> list[int]:
    """How many of n new items each cadre takes so that own[i] + takes[i] is as even as possible."""
    takes = [0] * len(own)
    if not own or n <= 0:
        return takes
    heap = [(o, i) for i, o in enumerate(own)]
    heapq.heapify(heap)
    for _ in range(n):
        load, i = heapq.heappop(heap)
        takes[i] += 1
        heapq.heappush(heap, (load + 1, i))
    return takes


@dataclass
class _Cadre:
    pk: int
    name: str
    tier: int
    scope_id: int
    department_id: int | None


class _Allocator:
    """Loads a campaign's street into memory, decides, and returns the new rows."""

    def __init__(self, campaign: Campaign):
        self.campaign = campaign
        self.street = campaign.street
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.new: list[tuple[int, int, int, int | None]] = []  # household, cadre, tier, department
        self.created: Counter = Counter()
        self.existing: Counter = Counter()
        self.reasons: dict[int, str] = {}

    # ------------------------------------------------------------------ loading

    def load(self):
        street = self.street
        self.nodes = {}
        for pk, kind, name, parent_id, order, path in Node.objects.under(street).values_list(
            "pk", "kind", "name", "parent_id", "order", "path"
        ):
            self.nodes[pk] = (kind, name, parent_id, order, path)
        self._node_key_cache = {}

        rows = list(
            Household.objects.under(street)
            .order_by()
            .values_list("pk", "community_id", "grid_id", "building_id", "unit", "room", "head_name")
        )
        nk = self._node_key
        no_building = (0,)
        rows.sort(
            key=lambda r: (
                nk(r[1]),
                nk(r[2]),
                (1, nk(r[3])) if r[3] else no_building,
                _natural(r[4]),
                _natural(r[5]),
                r[0],
            )
        )
        self.order = [r[0] for r in rows]
        self.info = {r[0]: r for r in rows}
        self.by_comm = defaultdict(list)
        self.by_grid = defaultdict(list)
        self.by_building = defaultdict(list)
        for r in rows:
            self.by_comm[r[1]].append(r[0])
            self.by_grid[r[2]].append(r[0])
            if r[3]:
                self.by_building[r[3]].append(r[0])
        self.communities = sorted(
            (pk for pk, n in self.nodes.items() if n[0] == NodeKind.COMMUNITY), key=self._node_key
        )
        self.grids = sorted((pk for pk, n in self.nodes.items() if n[0] == NodeKind.GRID), key=self._node_key)

        # Existing assignments of the campaign, one query.
        self.pairs: set[tuple[int, int]] = set()
        self.t2_dept: dict[int, int | None] = {}  # every tier-2 row (DB constraint), active or not
        self.tier_hh = {t: set() for t in Tier}  # households per tier, active cadres only
        self.linked: set[int] = set()
        self.load_count: Counter = Counter()
        inactive = 0
        for hh, cadre_id, tier, dept_id, active in Assignment.objects.filter(campaign=self.campaign).values_list(
            "household_id", "cadre_id", "tier", "department_id", "cadre__active"
        ):
            self.pairs.add((hh, cadre_id))
            if tier == Tier.DEPARTMENT:
                self.t2_dept[hh] = dept_id
            if tier == Tier.LEADER and active:
                self.load_count[("cap", cadre_id)] += 1  # the cap is per campaign, wherever the household is
            info = self.info.get(hh)
            if info is None:
                continue  # not a household of this street
            self.existing[tier] += 1
            if not active:
                inactive += 1
                continue
            self._count(hh, cadre_id, tier, dept_id)
        if inactive:
            self.problems.append(
                f"有 {_n(inactive)} 条包户关系的干部已不在岗（不计入覆盖和指标），"
                "请在“干部”列表中用“将所选干部的包户转给…”转交"
            )

        self.cadres = [
            _Cadre(*row)
            for row in Cadre.objects.filter(active=True, takes_households=True)
            .order_by("pk")
            .values_list("pk", "name", "tier", "scope_id", "department_id")
        ]

    def _count(self, hh, cadre_id, tier, dept_id):
        """Book one (existing or new) assignment of an active cadre into the in-memory state."""
        _, cid, gid, bid, *_ = self.info[hh]
        self.tier_hh[tier].add(hh)
        if tier in LINK_TIERS:
            self.linked.add(hh)
        lc = self.load_count
        lc[("comm", cadre_id, tier, cid)] += 1
        if tier == Tier.DEPARTMENT:
            lc[("dept", dept_id, cid)] += 1
        if tier in (Tier.COMMITTEE, Tier.GRID_WORKER):
            lc[("grid", cadre_id, gid)] += 1
            if bid:
                lc[("bldg", cadre_id, bid)] += 1

    def _add(self, hh, cadre_id, tier, dept_id=None):
        self.new.append((hh, cadre_id, tier, dept_id))
        self.pairs.add((hh, cadre_id))
        if tier == Tier.DEPARTMENT:
            self.t2_dept[hh] = dept_id
        if tier == Tier.LEADER:
            self.load_count[("cap", cadre_id)] += 1
        self.created[tier] += 1
        self._count(hh, cadre_id, tier, dept_id)

    # ------------------------------------------------------------------ tree helpers

    def _node_key(self, pk):
        key = self._node_key_cache.get(pk)
        if key is None:
            node = self.nodes.get(pk)
            key = (node[3], _natural(node[1]), pk) if node else (0, (), pk or 0)
            self._node_key_cache[pk] = key
        return key

    def _ancestor_of_kind(self, pk, kind):
        while pk is not None and pk in self.nodes:
            if self.nodes[pk][0] == kind:
                return pk
            pk = self.nodes[pk][2]
        return None

    def _name(self, pk):
        return self.nodes[pk][1] if pk in self.nodes else "?"

    def _grid_name(self, gid):
        return f"{self._name(self.nodes[gid][2])}{self._name(gid)}" if gid in self.nodes else "?"

    def address(self, hh) -> str:
        _, cid, gid, bid, unit, room, head = self.info[hh]
        place = "".join(p for p in (self._name(bid) if bid else "", unit, room) if p)
        return f"{self._name(cid)} {self._name(gid)} {place}（户主：{head}）"

    def _scope_problem(self, cadre, wanted):
        kind = self.nodes[cadre.scope_id][0]
        label = dict(NodeKind.choices).get(kind, kind)
        self.problems.append(
            f"{TIER_SHORT[cadre.tier]}{cadre.name}的工作范围是{label}“{self._name(cadre.scope_id)}”，"
            f"应为{wanted}，本次未参与分配"
        )

    def _in_street(self, cadre):
        return cadre.scope_id in self.nodes

    def _pick(self, hh, cadres, load_key):
        """The least loaded cadre (then lowest pk) not yet linked to the household, or None."""
        best = None
        lc = self.load_count
        for c in cadres:
            if (hh, c.pk) in self.pairs:
                continue
            key = (lc[load_key(c)], c.pk)
            if best is None or key < best[0]:
                best = (key, c)
        return best[1] if best else None

    def _spread(self, households, need):
        """Unlinked households first, ordered so that the first ``need`` are an even share of every
        grid (one contiguous run in each, address order kept): departments and street staff take a
        part of each grid, and every grid keeps households for its own grid worker."""
        unlinked = [h for h in households if h not in self.linked]
        linked = [h for h in households if h in self.linked]
        if need >= len(unlinked):
            return unlinked + linked
        by_grid = defaultdict(list)
        for h in unlinked:
            by_grid[self.info[h][2]].append(h)
        exact = {g: need * len(hs) / len(unlinked) for g, hs in by_grid.items()}
        shares = {g: math.floor(x) for g, x in exact.items()}
        for g in sorted(exact, key=lambda g: shares[g] - exact[g])[: need - sum(shares.values())]:
            shares[g] += 1  # largest remainders first, so the shares add up to need
        first = [h for g, hs in by_grid.items() for h in hs[: shares[g]]]
        taken = set(first)
        return first + [h for h in unlinked if h not in taken] + linked

    def _deal(self, households, cadres, need, tier, load_key, dept_id=None):
        """Round-robin: give up to `need` of `households`, each to the least loaded cadre."""
        given = 0
        if need <= 0 or not cadres:
            return 0
        for hh in households:
            if given >= need:
                break
            cadre = self._pick(hh, cadres, load_key)
            if cadre is not None:
                self._add(hh, cadre.pk, tier, dept_id)
                given += 1
        return given

    # ------------------------------------------------------------------ the tiers

    def leaders(self):
        campaign = self.campaign
        rules = rules_for(campaign)
        visit = next((s for s in campaign.stages.all() if s.kind == StageKind.VISIT), None)
        months = months_touched(visit.starts_on, visit.ends_on) if visit else 1
        cap = rules.leader_households_per_month * months

        by_comm = defaultdict(list)
        for c in self.cadres:
            if c.tier != Tier.LEADER or not self._in_street(c):
                continue
            if self.nodes[c.scope_id][0] == NodeKind.STREET:
                for cid in self.communities:
                    by_comm[cid].append(c)
            else:
                by_comm[self._ancestor_of_kind(c.scope_id, NodeKind.COMMUNITY)].append(c)

        focus = self._tagged(rules.leader_groups, "班子成员重点走访")
        if not focus:
            return
        if visit is None:
            self.problems.append("走访活动没有“集中走访”阶段，班子成员每人走访上限按 1 个月计算")

        queues = []
        for cid in self.communities:
            todo = [h for h in self.by_comm.get(cid, ()) if h in focus and h not in self.tier_hh[Tier.LEADER]]
            if not todo:
                continue
            if not by_comm.get(cid):
                self.problems.append(
                    f"{self._name(cid)}有 {_n(len(todo))} 户重点户，但没有覆盖该社区的在岗街道班子成员"
                )
                continue
            queues.append((cid, todo))

        over_cap = Counter()
        lc = self.load_count
        # Round-robin over communities, address order within each.
        position = 0
        while queues:
            still = []
            for cid, todo in queues:
                hh = todo[position]
                best = None
                for c in by_comm[cid]:
                    if lc[("cap", c.pk)] >= cap or (hh, c.pk) in self.pairs:
                        continue
                    key = (lc[("cap", c.pk)], c.pk)
                    if best is None or key < best[0]:
                        best = (key, c)
                if best is None:
                    over_cap[cid] += 1
                else:
                    self._add(hh, best[1].pk, Tier.LEADER)
                if position + 1 < len(todo):
                    still.append((cid, todo))
            queues = still
            position += 1
        # Not a problem: the leaders' lists are full at their target, and these focus households
        # still have their own 包户 cadre.
        for cid, n in over_cap.items():
            self.notes.append(
                f"{self._name(cid)}另有 {_n(n)} 户重点户由包户干部走访：班子成员每人 {_n(cap)} 户"
                f"（每月 {rules.leader_households_per_month} 户 × {months} 个月）已排满"
            )

    def departments(self):
        quotas = list(
            DepartmentQuota.objects.filter(campaign=self.campaign)
            .select_related("department", "community")
            .order_by("community__path", "pk")
        )
        by_dept = defaultdict(list)
        for c in self.cadres:
            if c.tier == Tier.DEPARTMENT and c.department_id:
                by_dept[c.department_id].append(c)
            elif c.tier == Tier.DEPARTMENT and quotas:
                self.problems.append(f"部门挂包干部{c.name}没有填写所属部门，本次未参与分配")
        scope_paths = dict(
            Node.objects.filter(pk__in={c.scope_id for cs in by_dept.values() for c in cs}).values_list("pk", "path")
        )

        def on_branch(cadre, cpath):
            spath = scope_paths.get(cadre.scope_id, "")
            return bool(spath) and (spath == cpath or cpath.startswith(spath + ".") or spath.startswith(cpath + "."))

        per_community = defaultdict(list)
        for quota in quotas:
            cid, dept, community = quota.community_id, quota.department, quota.community
            if cid not in self.nodes or self.nodes[cid][0] != NodeKind.COMMUNITY:
                self.problems.append(f"安排表中“{community}”不是本街道的社区，已跳过（{dept}）")
                continue
            have = self.load_count[("dept", dept.pk, cid)]
            need = quota.households - have
            if need <= 0:
                continue
            cadres = by_dept.get(dept.pk, [])
            cadres = [c for c in cadres if on_branch(c, community.path)] or cadres
            if not cadres:
                self.problems.append(
                    f"{dept}没有在岗的挂包干部：{community.name}安排 {_n(quota.households)} 户，"
                    f"已有 {_n(have)} 户，还差 {_n(need)} 户"
                )
                continue
            per_community[cid].append({"quota": quota, "cadres": cadres, "have": have, "need": need, "given": 0})

        # The departments of one community take free households in turn, so a shortage is shared.
        for cid, entries in per_community.items():
            free = [h for h in self.by_comm.get(cid, ()) if h not in self.t2_dept]
            free = self._spread(free, sum(entry["need"] for entry in entries))
            open_entries = list(entries)
            turn = 0
            for hh in free:
                if not open_entries:
                    break
                for k in range(len(open_entries)):
                    entry = open_entries[(turn + k) % len(open_entries)]
                    cadre = self._pick(hh, entry["cadres"], lambda c: ("comm", c.pk, Tier.DEPARTMENT, cid))
                    if cadre is not None:
                        self._add(hh, cadre.pk, Tier.DEPARTMENT, entry["quota"].department_id)
                        entry["given"] += 1
                        break
                else:
                    continue
                index = (turn + k) % len(open_entries)
                if entry["given"] >= entry["need"]:
                    open_entries.pop(index)
                    turn = index % len(open_entries) if open_entries else 0
                else:
                    turn = (index + 1) % len(open_entries)
            for entry in entries:
                if entry["given"] < entry["need"]:
                    quota = entry["quota"]
                    self.problems.append(
                        f"{quota.community.name}可分给{quota.department}的户数不足：安排 {_n(quota.households)} 户，"
                        f"已有 {_n(entry['have'])} 户，本次只能新增 {_n(entry['given'])} 户（其余户已由其他部门包户）"
                    )

    def _community_cadres(self, tier):
        by_comm = defaultdict(list)
        for c in self.cadres:
            if c.tier != tier or not self._in_street(c):
                continue
            cid = self._ancestor_of_kind(c.scope_id, NodeKind.COMMUNITY)
            if cid is None:
                self._scope_problem(c, "社区")
            else:
                by_comm[cid].append(c)
        return by_comm

    def _tagged(self, names, purpose) -> set[int]:
        """The street's households in the focus groups ``names`` (by name or alias) of the rulebook;
        a group the register does not know is reported."""
        if not names:
            return set()
        groups, known = [], set()
        for pk, name, aliases in FocusGroup.objects.values_list("pk", "name", "aliases"):
            words = {name, *(a.strip() for a in re.split(r"[、,，]", aliases or "") if a.strip())}
            hit = words & set(names)
            if hit:
                groups.append(pk)
                known |= hit
        for name in names:
            if name not in known:
                self.notes.append(f"活动规则的{purpose}人群“{name}”在底册中没有对应的重点人群标签")
        return set(
            Household.tags.through.objects.filter(
                focusgroup__in=groups, household__in=Household.objects.under(self.street)
            ).values_list("household_id", flat=True)
        )

    def street_staff(self):
        rules = rules_for(self.campaign)
        share = rules.street_staff_share
        by_comm = self._community_cadres(Tier.STREET_STAFF)
        have_t3 = self.tier_hh[Tier.STREET_STAFF]
        # 002: "街道干部职工要重点走访上访老户、困难户等家庭" — those households first, then an even share of each grid.
        first_groups = self._tagged(rules.staff_groups, "街道干部重点走访")
        for cid in self.communities:
            households = self.by_comm.get(cid, [])
            if not households:
                continue
            target = math.ceil(len(households) * share / 100)
            have = sum(1 for h in households if h in have_t3)
            need = target - have
            if need <= 0:
                continue
            cadres = by_comm.get(cid)
            if not cadres:
                self.problems.append(
                    f"{self._name(cid)}没有在岗的街道干部（包村居组）：应覆盖 {_n(target)} 户（{share}%），"
                    f"已有 {_n(have)} 户"
                )
                continue
            candidates = [h for h in households if h not in have_t3]
            first = [h for h in candidates if h in first_groups]
            rest = self._spread([h for h in candidates if h not in first_groups], max(need - len(first), 0))
            todo = first + rest
            given = self._deal(
                todo, cadres, need, Tier.STREET_STAFF, lambda c, cid=cid: ("comm", c.pk, Tier.STREET_STAFF, cid)
            )
            if given < need:
                self.problems.append(f"{self._name(cid)}街道干部包户未达 {share}%：还差 {_n(need - given)} 户")

    def secretaries(self):
        if not rules_for(self.campaign).secretary_sweep:
            return
        by_comm = self._community_cadres(Tier.SECRETARY)
        have_t4 = self.tier_hh[Tier.SECRETARY]
        for cid in self.communities:
            households = self.by_comm.get(cid, [])
            todo = [h for h in households if h not in have_t4]
            if not todo:
                continue
            cadres = by_comm.get(cid)
            if not cadres:
                self.problems.append(f"{self._name(cid)}没有在岗的社区书记：{_n(len(todo))} 户未安排户户到走访")
                continue
            self._deal(todo, cadres, len(todo), Tier.SECRETARY, lambda c, cid=cid: ("comm", c.pk, Tier.SECRETARY, cid))

    def _take_runs(self, households, cadres, takes, fallback=()):
        """Contiguous runs: the first cadre takes the first takes[0] households, and so on."""
        pos = 0
        left = []
        for c, n in zip(cadres, takes):
            for hh in households[pos : pos + n]:
                if (hh, c.pk) in self.pairs:
                    left.append(hh)
                else:
                    self._add(hh, c.pk, c.tier)
            pos += n
        left.extend(households[pos:])
        rest = []
        for hh in left:
            other = next((c for c in fallback if (hh, c.pk) not in self.pairs), None)
            if other is None:
                rest.append(hh)
            else:
                self._add(hh, other.pk, other.tier)
        return rest

    def proximity(self):
        """Tiers 5 and 6 together: building-scoped 两委 first, then per grid 两委 + 网格员."""
        b5, g5, g6 = defaultdict(list), defaultdict(list), defaultdict(list)
        for c in self.cadres:
            if c.tier not in (Tier.COMMITTEE, Tier.GRID_WORKER) or not self._in_street(c):
                continue
            kind = self.nodes[c.scope_id][0]
            if c.tier == Tier.COMMITTEE and kind == NodeKind.BUILDING:
                b5[c.scope_id].append(c)
            elif c.tier == Tier.COMMITTEE and kind == NodeKind.GRID:
                g5[c.scope_id].append(c)
            elif c.tier == Tier.GRID_WORKER and kind in (NodeKind.GRID, NodeKind.BUILDING):
                g6[self._ancestor_of_kind(c.scope_id, NodeKind.GRID)].append(c)
            else:
                self._scope_problem(c, "网格或楼栋")

        lc = self.load_count
        for bid in sorted(b5, key=self._node_key):
            cadres = b5[bid]
            todo = [h for h in self.by_building.get(bid, ()) if h not in self.linked]
            if todo:
                takes = _even_takes([lc[("bldg", c.pk, bid)] for c in cadres], len(todo))
                self._take_runs(todo, cadres, takes)

        for gid in self.grids:
            todo = [h for h in self.by_grid.get(gid, ()) if h not in self.linked]
            if not todo:
                continue
            c5, c6 = g5.get(gid, []), g6.get(gid, [])
            if not c5 and not c6:
                reason = f"{self._grid_name(gid)}没有在岗网格员"
                for h in todo:
                    self.reasons[h] = reason
                continue
            own5 = [lc[("grid", c.pk, gid)] for c in c5]
            own6 = [lc[("grid", c.pk, gid)] for c in c6]
            if c6:
                share = (len(todo) + sum(own5) + sum(own6)) // (len(c5) + len(c6))
                takes5, remaining = [], len(todo)
                for own in own5:
                    take = min(max(0, share - own), remaining)
                    takes5.append(take)
                    remaining -= take
                takes = takes5 + _even_takes(own6, remaining)
            else:
                takes = _even_takes(own5, len(todo))
            rest = self._take_runs(todo, c5 + c6, takes, fallback=c6 + c5)
            for h in rest:
                self.reasons[h] = f"{self._grid_name(gid)}的网格员和两委成员都已以其他身份关联该户"

    def uncovered(self):
        out = []
        for hh in self.order:
            if hh not in self.linked:
                out.append((hh, self.address(hh), self.reasons.get(hh, "没有可分配的包户干部")))
        return out

    def run(self, progress=None):
        self.load()
        tiers = (self.leaders, self.departments, self.street_staff, self.secretaries, self.proximity)
        for done, tier in enumerate(tiers):
            if progress is not None:
                progress("decide", done, len(tiers))
            tier()


def _write(campaign, new, progress=None):
    """Insert the new rows in bulk: COPY on PostgreSQL (psycopg 3), batched executemany elsewhere.

    Like ``bulk_create`` this skips ``save()`` and signals; it is several times faster for
    the 200,000 rows of a 100,000-household street (SQLite caps ``bulk_create`` at 999
    parameters per statement). Indexes and constraints apply as usual. ``progress(rows written)``
    after every BATCH_SIZE rows.
    """
    meta = Assignment._meta
    qn = connection.ops.quote_name
    names = ("campaign", "household", "cadre", "tier", "department", "source", "created_at")
    columns = ", ".join(qn(meta.get_field(n).column) for n in names)
    table = qn(meta.db_table)
    auto = str(Assignment.Source.AUTO)
    now = timezone.now()
    with connection.cursor() as cursor:
        raw = getattr(cursor, "cursor", None)
        if connection.vendor == "postgresql" and hasattr(raw, "copy"):
            # One COPY per batch: the progress is reported between them, not while the connection copies.
            for i in range(0, len(new), BATCH_SIZE):
                with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for hh, cadre_id, tier, dept_id in new[i : i + BATCH_SIZE]:
                        copy.write_row((campaign.pk, hh, cadre_id, int(tier), dept_id, auto, now))
                if progress is not None:
                    progress(min(i + BATCH_SIZE, len(new)))
            return
        created_at = connection.ops.adapt_datetimefield_value(now)
        sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(names))})"
        for i in range(0, len(new), BATCH_SIZE):
            cursor.executemany(
                sql,
                [
                    (campaign.pk, hh, cadre_id, int(tier), dept_id, auto, created_at)
                    for hh, cadre_id, tier, dept_id in new[i : i + BATCH_SIZE]
                ],
            )
            if progress is not None:
                progress(min(i + BATCH_SIZE, len(new)))


# --------------------------------------------------------------------------- public API


def allocate(campaign: Campaign, *, dry_run: bool = False, progress=None) -> AllocationReport:
    """Fill the campaign's 包户到人 tier by tier; see the module docstring for the rules.

    ``progress(step, done, total)``, for a background job's page: ``("load", 0, 0)`` while the
    street is read, ``("decide", tiers done, 5)`` before each tier, ``("write", rows, new rows)``
    while the new rows are written (not in a dry run)."""
    started = time.monotonic()
    ctx = contextlib.nullcontext() if dry_run else transaction.atomic()
    with ctx:
        if not dry_run:
            # Serialises concurrent runs on PostgreSQL (a no-op on SQLite, whose IMMEDIATE
            # transactions serialise writers anyway).
            Campaign.objects.select_for_update().filter(pk=campaign.pk).values_list("pk").first()
        if progress is not None:
            progress("load", 0, 0)
        campaign = Campaign.objects.select_related("street").prefetch_related("stages").get(pk=campaign.pk)
        allocator = _Allocator(campaign)
        allocator.run(progress)
        if not dry_run and allocator.new:
            total = len(allocator.new)
            if progress is not None:
                progress("write", 0, total)
            _write(campaign, allocator.new, None if progress is None else lambda done: progress("write", done, total))
            # The raw write skips save(): the figures kept per cadre and grid are recounted for its grids.
            grids = sorted({allocator.info[hh][2] for hh, *_ in allocator.new})
            assignments_changed.send(sender=Assignment, campaign_id=campaign.pk, grid_ids=grids)
    report = AllocationReport(campaign=campaign, dry_run=dry_run, households=len(allocator.order))
    for tier in Tier:
        report.created_by_tier[tier] = allocator.created[tier]
        report.existing_by_tier[tier] = allocator.existing[tier]
    report.uncovered = allocator.uncovered()
    report.problems = allocator.problems
    report.notes = allocator.notes
    report.seconds = time.monotonic() - started
    return report


def coverage(campaign: Campaign) -> dict[int, dict]:
    """Per community (in tree order): households, linked households, street-staff share.

    Four aggregate queries. Only assignments of active cadres count, as in ``allocate``.
    Keys of each value: name, total, linked, unlinked, linked_percent, street_staff,
    street_staff_percent, street_staff_target, street_staff_ok, secretary.
    """
    street = campaign.street
    households = Household.objects.under(street)
    totals = dict(households.order_by().values_list("community_id").annotate(n=Count("pk")))
    in_street = subtree_q(street.path, "household__path")
    active = Assignment.objects.filter(in_street, campaign=campaign, cadre__active=True).order_by()

    def distinct_per_community(qs):
        return dict(qs.values_list("household__community_id").annotate(n=Count("household_id", distinct=True)))

    linked = distinct_per_community(active.filter(tier__in=list(LINK_TIERS)))
    staff = distinct_per_community(active.filter(tier=Tier.STREET_STAFF))
    secretary = distinct_per_community(active.filter(tier=Tier.SECRETARY))
    share = rules_for(campaign).street_staff_share
    out = {}
    communities = sorted(
        Node.objects.filter(kind=NodeKind.COMMUNITY, path__startswith=street.path + ".").values_list(
            "order", "name", "pk"
        ),
        key=lambda c: (c[0], _natural(c[1]), c[2]),
    )
    for _, name, pk in communities:
        total = totals.get(pk, 0)
        n_linked, n_staff = linked.get(pk, 0), staff.get(pk, 0)
        target = math.ceil(total * share / 100)
        out[pk] = {
            "name": name,
            "total": total,
            "linked": n_linked,
            "unlinked": total - n_linked,
            "linked_percent": round(100 * n_linked / total, 1) if total else 0.0,
            "street_staff": n_staff,
            "street_staff_percent": round(100 * n_staff / total, 1) if total else 0.0,
            "street_staff_target": target,
            "street_staff_ok": n_staff >= target,
            "secretary": secretary.get(pk, 0),
        }
    return out


def reassign_cadre(*, from_cadre: Cadre, to_cadre: Cadre, campaign: Campaign | None = None, on=None) -> ReassignReport:
    """A cadre leaves: hand all their assignments (of one campaign, or all) to another cadre.

    Moved rows become manual and take the receiving cadre's tier and department, and record the
    handover: ``taken_over_on`` (``on``, by default today) and ``taken_over_from`` (the leaver) —
    the visits the household had by then stay counted for the receiver, who gets time for the rest
    (visits/targets.py). Where the receiver already has the household in that campaign, the
    leaver's row is dropped (he held it already). A move that would give a household a second
    department (tier 2) is skipped and reported.
    """
    on = on or timezone.localdate()
    if from_cadre.pk == to_cadre.pk:
        raise ValueError("不能把包户转给干部本人，请选择另一名干部")
    with transaction.atomic():
        locked = {
            c.pk: c
            for c in Cadre.objects.select_for_update().filter(pk__in=[from_cadre.pk, to_cadre.pk]).order_by("pk")
        }
        to = locked.get(to_cadre.pk)
        source = locked.get(from_cadre.pk)
        if to is None or source is None:
            raise ValueError("干部不存在")
        if not to.active:
            raise ValueError(f"{to.name}已不在岗，不能接收包户")
        if to.tier == Tier.DEPARTMENT and not to.department_id:
            raise ValueError(f"{to.name}是部门挂包干部但没有所属部门，请先补充所属部门")
        report = ReassignReport(from_cadre=source, to_cadre=to)

        mine = Assignment.objects.filter(cadre=source)
        if campaign is not None:
            mine = mine.filter(campaign=campaign)
        rows = list(
            mine.select_for_update(of=("self",))
            .order_by("pk")
            .values_list("pk", "campaign_id", "household_id", "household__grid_id")
        )
        if not rows:
            return report
        theirs = set(
            Assignment.objects.filter(cadre=to, campaign_id__in=mine.values("campaign_id")).values_list(
                "campaign_id", "household_id"
            )
        )
        other_department = {}
        if to.tier == Tier.DEPARTMENT:
            other_department = {
                (c, h): d
                for c, h, d in Assignment.objects.filter(
                    tier=Tier.DEPARTMENT,
                    campaign_id__in=mine.values("campaign_id"),
                    household_id__in=mine.values("household_id"),
                )
                .exclude(cadre=source)
                .values_list("campaign_id", "household_id", "department__name")
            }
        move, drop, skip = [], [], []
        for pk, campaign_id, hh, _ in rows:
            if (campaign_id, hh) in theirs:
                drop.append(pk)
            elif (campaign_id, hh) in other_department:
                skip.append((campaign_id, hh))
            else:
                move.append(pk)
        department_id = to.department_id if to.tier == Tier.DEPARTMENT else None
        for i in range(0, len(drop), 500):
            Assignment.objects.filter(pk__in=drop[i : i + 500]).delete()
        for i in range(0, len(move), 500):
            # The version moves too: an assignment's edit form opened before the handover cannot save over it.
            Assignment.objects.filter(pk__in=move[i : i + 500]).update(
                cadre=to,
                tier=to.tier,
                department_id=department_id,
                source=Assignment.Source.MANUAL,
                taken_over_on=on,
                taken_over_from=source,
                version=F("version") + 1,
            )
        report.moved, report.dropped = len(move), len(drop)
        # Queryset updates and deletes skip save(): the figures per cadre and grid are recounted.
        changed = set(move) | set(drop)
        grids = {}
        for pk, campaign_id, _, grid_id in rows:
            if pk in changed:
                grids.setdefault(campaign_id, set()).add(grid_id)
        for campaign_id, grid_ids in sorted(grids.items()):
            assignments_changed.send(sender=Assignment, campaign_id=campaign_id, grid_ids=sorted(grid_ids))
        if skip:
            names = dict(Campaign.objects.filter(pk__in={c for c, _ in skip}).values_list("pk", "name"))
            households = {
                h.pk: h for h in Household.objects.filter(pk__in=[h for _, h in skip][:500]).select_related("building")
            }
            for campaign_id, hh in skip:
                household = households.get(hh)
                label = str(household) if household else f"#{hh}"
                report.skipped.append(
                    f"{names.get(campaign_id, '')}：{label}已由{other_department[(campaign_id, hh)] or '其他部门'}包户，"
                    f"一户只能由一个部门包户，未转给{to.name}"
                )
    return report
