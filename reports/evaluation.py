"""综合评议: the yearly rating of each cadre, and of each unit, by what its households say and do.

001: "群眾對聯戶黨員干部滿意度…由聯系戶對相關科室、黨員干部聯系群眾工作進行綜合評議". One place for the
rule; the page, its Excel export and whatever asks later call ``evaluate``.

Per cadre of the campaign's street (active, ``Cadre.objects.visible_to`` the reader):

- **满意率**: the residents' answers about him — the satisfaction recorded on his visits (入户走访:
  the household's word at the door) and on the 回头看 on his list (``FollowUp.cadre``: the word
  once the issue was handled) — 满意 + 基本满意 over every answer (the dashboard's ``SATISFIED``);
- **覆盖率**: his assigned households visited for him in the campaign over his assigned households,
  as ``visits.targets.tallied_figures`` counts them (``sweep_done`` / ``assigned``: his own visits,
  and for a household he took over the visits made before the takeover) — for the tiers the
  campaign's rulebook holds to a household target; a leader is held to his month, not to
  households, and has none;
- **按时办结率**: the issues he raised in the campaign (registered within its span) closed with the
  answer to the resident by their deadline, over those closed (the dashboard's ``close_on_time``
  over ``answered_q``);
- **综合得分**: the weighted mean of the rates he has (``WEIGHTS``); a rate without anything to count
  (no answer, no household, no issue closed) is left out and its weight shared by the others; a
  cadre with none of them has no score and is listed last.

Units: a department for the departments' cadres (tier 2), the community for the community's cadres
(secretaries, 两委, grid workers: the community of their work node), the street for its leaders and
street staff (tiers 1 and 3). A unit's rates are over its cadres' counts added up (not an average of
their rates), and its score is made from them the same way.

Every figure is an aggregate grouped by cadre: a fixed number of queries whatever the number of
cadres (``tests: reports/tests/test_evaluation.py``).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db.models import Count, Q
from openpyxl import Workbook

from core.spreadsheets import safe_cell
from households.models import Node, NodeKind, subtree_q
from households.roles import LEADER, STREET_ADMIN, user_roles
from issues.models import Issue
from visitplan.models import Assignment, Cadre, Tier
from visits import targets
from visits.models import FollowUp, FollowUpStatus, Purpose, Visit

from .dashboard import SATISFIED, answered_q, issue_figure_q, pct
from .ledgers.excel import header_sheet

# The composite's weights (out of 100): what residents say counts most, with coverage — the campaign's
# point is every household — and the issues closed on time after them.
WEIGHTS = {"satisfaction": 40, "coverage": 40, "on_time": 20}
RATE_LABELS = {"satisfaction": "满意率", "coverage": "覆盖率", "on_time": "按时办结率"}

DEPARTMENT, COMMUNITY, STREET = "department", "community", "street"
UNIT_KINDS = {DEPARTMENT: "部门", COMMUNITY: "社区", STREET: "街道"}
COMMUNITY_TIERS = frozenset({Tier.SECRETARY, Tier.COMMITTEE, Tier.GRID_WORKER})
STREET_TIERS = frozenset({Tier.LEADER, Tier.STREET_STAFF})


@dataclass
class Counts:
    """The counts every rate is made of; a unit's are its cadres' added up."""

    satisfied: int = 0
    answered: int = 0
    visited: int = 0
    assigned: int = 0
    on_time: int = 0
    closed: int = 0
    # held to a household target (a rate of 0 of 0 assigned is "none", not 0 %)
    held: bool = False

    def add(self, other: Counts) -> None:
        for name in ("satisfied", "answered", "visited", "assigned", "on_time", "closed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.held = self.held or other.held

    @property
    def rates(self) -> dict[str, float | None]:
        """Each rate in percent, None when there is nothing to count."""
        return {
            "satisfaction": pct(self.satisfied, self.answered) if self.answered else None,
            "coverage": pct(self.visited, self.assigned) if self.held and self.assigned else None,
            "on_time": pct(self.on_time, self.closed) if self.closed else None,
        }

    @property
    def composite(self) -> float | None:
        rates = {k: v for k, v in self.rates.items() if v is not None}
        if not rates:
            return None
        weight = sum(WEIGHTS[k] for k in rates)
        return round(sum(WEIGHTS[k] * v for k, v in rates.items()) / weight, 1)


@dataclass
class Rated:
    """One line of the ranking: a cadre or a unit."""

    key: object
    name: str
    counts: Counts = field(default_factory=Counts)
    rank: int | None = None
    # a cadre's
    tier: int | None = None
    tier_label: str = ""
    position: str = ""
    unit_kind: str = ""
    unit_key: object = None
    unit_name: str = ""
    # a unit's
    kind: str = ""
    kind_label: str = ""
    cadres: int = 0

    @property
    def rates(self):
        return self.counts.rates

    @property
    def composite(self):
        return self.counts.composite


@dataclass
class Evaluation:
    campaign: object
    first: datetime.date
    last: datetime.date
    cadres: list[Rated]
    units: list[Rated]
    weights: dict = field(default_factory=lambda: dict(WEIGHTS))


# Who reads the 综合评议: the street office and its leaders (the page, the export).
READERS = frozenset({STREET_ADMIN, LEADER})


def may_evaluate(user) -> bool:
    return bool(user.is_authenticated and user.is_active and (user.is_superuser or READERS & user_roles(user)))


def unit_of(tier, *, department_id, department_name, community, street) -> tuple[str, object, str]:
    """(kind, key, name) of the unit a cadre is rated with (module docstring)."""
    if tier == Tier.DEPARTMENT:
        return DEPARTMENT, department_id, department_name or "未设部门"
    if tier in COMMUNITY_TIERS and community is not None:
        return COMMUNITY, community.pk, community.name
    return STREET, street.pk, street.name


def rank(lines: list[Rated]) -> list[Rated]:
    """Highest score first (1, 1, 3 for a tie); those without a score last, unranked; then by name."""
    lines.sort(key=lambda r: (r.composite is None, -(r.composite or 0), r.name, str(r.key)))
    previous, place = None, 0
    for number, line in enumerate(lines, start=1):
        if line.composite is None:
            break
        if line.composite != previous:
            place, previous = number, line.composite
        line.rank = place
    return lines


def evaluate(user, campaign, *, today: datetime.date) -> Evaluation:
    """The campaign's 综合评议 as ``user`` may see it: every active cadre of its street he may see,
    and their units, each ranked (module docstring)."""
    street = campaign.street
    first, last = campaign.span()
    cadres = Cadre.objects.visible_to(user).filter(subtree_q(street.path, "scope__path"), active=True)
    people = list(
        cadres.values("pk", "name", "tier", "position", "department_id", "department__name", "scope__path").order_by(
            "tier", "scope__path", "name", "pk"
        )
    )
    counts = {c["pk"]: Counts() for c in people}

    # 满意率: his visits' answers and his 回头看's.
    said = Q(satisfaction__in=SATISFIED)
    visits = (
        Visit.objects.visible_to(user)
        .filter(campaign=campaign, cadre__in=cadres, purpose=Purpose.VISIT)
        .exclude(satisfaction="")
    )
    followups = (
        FollowUp.objects.visible_to(user)
        .filter(campaign=campaign, cadre__in=cadres, status=FollowUpStatus.DONE)
        .exclude(satisfaction="")
    )
    for rows in (visits, followups):
        for r in rows.values("cadre_id").annotate(n=Count("pk"), ok=Count("pk", filter=said)).order_by():
            c = counts[r["cadre_id"]]
            c.answered += r["n"]
            c.satisfied += r["ok"]

    # 覆盖率: the targets' own count over the tallies.
    assignments = Assignment.objects.visible_to(user).filter(campaign=campaign, cadre__in=cadres)
    for cadre_id, f in targets.tallied_figures(assignments, campaign=campaign, today=today).items():
        c = counts[cadre_id]
        c.held, c.assigned, c.visited = True, f["assigned"], f["sweep_done"]

    # 按时办结率: the issues he raised in the campaign, closed; and of those, closed by the deadline.
    raised = (
        Issue.objects.visible_to(user)
        .filter(subtree_q(street.path), raised_by_cadre__in=cadres, registered_on__range=(first, last))
        .filter(answered_q())
    )
    on_time = issue_figure_q("close_on_time", today=today)
    for r in raised.values("raised_by_cadre_id").annotate(n=Count("pk"), ok=Count("pk", filter=on_time)).order_by():
        c = counts[r["raised_by_cadre_id"]]
        c.closed, c.on_time = r["n"], r["ok"]

    # The units: the communities by the first two segments of the work node's path (the street is the root).
    community_paths = {c["pk"]: ".".join(c["scope__path"].split(".")[:2]) for c in people}
    communities = {
        n.path: n
        for n in Node.objects.filter(kind=NodeKind.COMMUNITY, path__in=set(community_paths.values())).only("pk", "name", "path")
    }  # fmt: skip
    lines, units = [], {}
    for c in people:
        kind, key, unit_name = unit_of(c["tier"], department_id=c["department_id"], department_name=c["department__name"],
                                       community=communities.get(community_paths[c["pk"]]), street=street)  # fmt: skip
        line = Rated(key=c["pk"], name=c["name"], counts=counts[c["pk"]], tier=c["tier"], tier_label=Tier(c["tier"]).label,
                     position=c["position"], unit_kind=kind, unit_key=key, unit_name=unit_name)  # fmt: skip
        lines.append(line)
        unit = units.setdefault((kind, key), Rated(key=key, name=unit_name, kind=kind, kind_label=UNIT_KINDS[kind]))
        unit.counts.add(line.counts)
        unit.cadres += 1
    return Evaluation(campaign=campaign, first=first, last=last, cadres=rank(lines), units=rank(list(units.values())))


# ------------------------------------------------------------------------------------------------ the Excel file

CADRE_SHEET, UNIT_SHEET = "干部综合评议", "单位综合评议"
CADRE_HEADERS = ("排名", "姓名", "层级", "职务", "评议单位", "满意/基本满意", "评价数", "满意率（%）", "已走访户", "包户数",
                 "覆盖率（%）", "按时办结", "已办结", "按时办结率（%）", "综合得分")  # fmt: skip
UNIT_HEADERS = ("排名", "单位", "类别", "干部人数", "满意/基本满意", "评价数", "满意率（%）", "已走访户", "包户数",
                "覆盖率（%）", "按时办结", "已办结", "按时办结率（%）", "综合得分")  # fmt: skip


def _figures(line: Rated) -> tuple:
    c, rates = line.counts, line.rates
    return (c.satisfied, c.answered, rates["satisfaction"], c.visited if c.held else None, c.assigned if c.held else None,
            rates["coverage"], c.on_time, c.closed, rates["on_time"], line.composite)  # fmt: skip


def write_workbook(evaluation: Evaluation, fileobj, progress=None) -> int:
    """Two sheets, cadres and units, each ranked; every text through ``core.spreadsheets.safe_cell``
    (a name a spreadsheet would run as a formula stays text). Returns the rows written;
    ``progress(rows)`` after every row. The export (a job: reports.ledgers.excel.evaluation_export)
    writes it to a file, logged when downloaded."""
    workbook = Workbook(write_only=True)
    count = 0

    def append(sheet, row):
        nonlocal count
        sheet.append([safe_cell(sheet, v) for v in row])
        count += 1
        if progress is not None:
            progress(count)

    sheet = header_sheet(workbook, CADRE_SHEET, CADRE_HEADERS, (6, 10, 20, 14, 16, *([10] * 10)))
    for line in evaluation.cadres:
        append(sheet, (line.rank, line.name, line.tier_label, line.position, line.unit_name, *_figures(line)))
    sheet = header_sheet(workbook, UNIT_SHEET, UNIT_HEADERS, (6, 16, 8, 9, *([10] * 10)))
    for line in evaluation.units:
        append(sheet, (line.rank, line.name, line.kind_label, line.cadres, *_figures(line)))
    workbook.save(fileobj)
    return count
