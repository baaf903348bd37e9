"""亲情卡 (连心卡): which households have one, which cards a page prints, and marking them given.

- ``has_card``: the one test of "this household has a card in the campaign": a visit of the
  campaign recorded one (``Visit.card_given``) or the cards page marked it given (``CardIssued``,
  已发放). The 未发亲情卡 marks and counts of 我的包户 and of the cards page ask it.
- ``select``: the cards a user may print — his own households (no choice), a cadre's
  (``?cadre=``), a grid's (``?grid=``) or a community's (``?community=``); a cadre and a node
  together: that cadre's households in that node. Only node-wide roles (street admin, leader,
  secretary) choose another cadre or a whole node; cadres through ``Cadre.objects.visible_to``,
  nodes through ``Node.objects.visible_to`` (another node's answers 404, as a missing one),
  households through ``Household.objects.visible_to``. A plain cadre's ``?grid=`` /
  ``?community=`` narrow his own households.
- the cadre on each card (``card_cadre``): the chosen cadre; for a grid or a community, the
  household's own 包户干部 in the campaign — the active cadre of a linked tier closest to the
  household (网格员, then 两委, 街道干部, 部门), else its secretary, else its leader. A household
  without an active cadre gets no card (``Selection.without_cadre`` counts them).
- ``mark_given``: record the selection's cards as given on a day, by a user (once per household
  and cadre: a second mark keeps the first).
- what a card prints is the campaign's rule (``Rules.card_fields``, visitplan/rulebook.py
  ``CARD_FIELDS``): the cadre's name, unit, position and phone, the supervision phone
  (``supervision_phone``: the campaign's own, else the installation's ``SUPERVISION_PHONE``) and,
  where the rule asks for them (001: 相关责任单位、责任人名单及联系电话), the responsible units of
  the household's community (``responsible_units``).

Everything is one query per list, whatever the number of households (no query per household).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.db.models import (
    BooleanField,
    Case,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.http import Http404

from households.models import Household, Node, NodeKind
from households.scoping import is_node_wide, user_cadre
from visitplan.allocation import LINK_TIERS
from visitplan.models import Assignment, Cadre, Department, DepartmentQuota, Tier
from visitplan.rulebook import CARD_FIELDS

from .models import CardIssued, Visit

NOT_FOUND_CADRE = "没有找到该干部"
NOT_FOUND_NODE = "没有找到该网格或社区"


def has_card(campaign, household="pk"):
    """A condition on households (or on rows whose household id is at ``household``): it has a
    亲情卡 in the campaign — a visit recorded one, or the cards page marked one given."""
    given_in_visit = Visit.objects.filter(campaign=campaign, household=OuterRef(household), card_given=True)
    marked = CardIssued.objects.filter(campaign=campaign, household=OuterRef(household))
    return ExpressionWrapper(Q(Exists(given_in_visit)) | Q(Exists(marked)), output_field=BooleanField())


def _card_cadre_id(campaign):
    """The cadre printed on a household's card when a node is chosen (see the module docstring)."""
    rank = Case(
        *[When(tier=tier, then=Value(order)) for order, tier in enumerate(sorted(LINK_TIERS, reverse=True))],
        When(tier=Tier.SECRETARY, then=Value(len(LINK_TIERS))),
        default=Value(len(LINK_TIERS) + 1),
        output_field=IntegerField(),
    )
    holders = (
        Assignment.objects.filter(campaign=campaign, household=OuterRef("pk"), cadre__active=True)
        .annotate(rank=rank)
        .order_by("rank", "pk")
        .values("cadre_id")[:1]
    )
    return Subquery(holders, output_field=IntegerField())


@dataclass
class Selection:
    """The cards of one choice: ``households`` (annotated ``card_cadre_id`` and ``has_card``, in
    address order), who or what was chosen, and the households left without a card cadre."""

    campaign: object
    cadre: Cadre | None
    node: Node | None
    households: object
    without_cadre: int = 0

    @property
    def title(self) -> str:
        parts = []
        if self.node is not None:
            parts.append(_node_label(self.node))
        if self.cadre is not None:
            parts.append(self.cadre.name)
        return " · ".join(parts)


def _node_label(node) -> str:
    if node.kind == NodeKind.GRID and node.parent_id:
        return f"{node.parent.name} {node.name}"
    return node.name


def _chosen_node(user, kind, pk, *, whole):
    """The grid or community ``pk`` the user may choose: in his subtree for a whole node, else
    (narrowing his own households) any node on his branch; None when none."""
    nodes = Node.objects.visible_to(user, ancestors=not whole).filter(kind=kind)
    return nodes.select_related("parent").filter(pk=pk).first() if pk is not None else None


def select(user, campaign, *, cadre_id=None, grid_id=None, community_id=None) -> Selection:
    """The cards the user asked for (the ids as the page read them: None when absent; a parameter
    present with a junk value is passed as 0, which names nothing and answers 404).
    Raises Http404 for a cadre or node the user may not choose; returns a selection with
    ``cadre`` and ``node`` None and no households when a node-wide user has chosen nothing and
    has no households of his own."""
    wide = is_node_wide(user)
    cadre = user_cadre(user)
    if cadre_id is not None:
        if not wide and getattr(cadre, "pk", None) != cadre_id:
            raise Http404(NOT_FOUND_CADRE)
        cadre = Cadre.objects.visible_to(user).select_related("department").filter(pk=cadre_id).first()
        if cadre is None:
            raise Http404(NOT_FOUND_CADRE)
    node = None
    whole = wide and cadre_id is None
    for kind, pk in ((NodeKind.COMMUNITY, community_id), (NodeKind.GRID, grid_id)):
        if pk is None:
            continue
        found = _chosen_node(user, kind, pk, whole=whole)
        if found is None or (node is not None and not found.path.startswith(node.path + ".")):
            raise Http404(NOT_FOUND_NODE)
        node = found
    households = Household.objects.visible_to(user)
    if node is not None:
        households = households.filter(grid=node) if node.kind == NodeKind.GRID else households.filter(community=node)
    whole_node = node is not None and whole
    if whole_node:
        # A whole grid or community: each household with its own cadre; one without gets no card.
        households = households.annotate(card_cadre_id=_card_cadre_id(campaign))
        without = households.filter(card_cadre_id__isnull=True).count()
        households = households.filter(card_cadre_id__isnull=False)
        cadre = None
    elif cadre is not None:
        mine = Assignment.objects.filter(campaign=campaign, cadre=cadre).values("household_id")
        households = households.filter(pk__in=mine).annotate(card_cadre_id=Value(cadre.pk, output_field=IntegerField()))
        without = 0
    chose_nothing = wide and cadre_id is None and node is None  # his own households, if he has any
    if (cadre is None and not whole_node) or (chose_nothing and not households.exists()):
        nothing = Household.objects.none().annotate(
            card_cadre_id=Value(None, output_field=IntegerField()), has_card=Value(False, output_field=BooleanField())
        )
        return Selection(campaign=campaign, cadre=None, node=None, households=nothing)
    households = households.annotate(has_card=has_card(campaign)).order_by("path", "unit", "room", "id")
    return Selection(campaign=campaign, cadre=cadre, node=node, households=households, without_cadre=without)


def card_cadres(rows) -> dict:
    """{cadre id: Cadre} of the cards of ``rows`` (households annotated ``card_cadre_id``), one query."""
    ids = {h.card_cadre_id for h in rows}
    return Cadre.objects.select_related("department").in_bulk(ids)


def mark_given(campaign, households, *, by, on: datetime.date) -> int:
    """Record the cards of ``households`` (a selection's, annotated ``card_cadre_id``) as given on
    ``on`` by ``by``; answers how many were new. A card already recorded (same household and
    cadre) keeps its first record."""
    rows = list(households.values_list("pk", "card_cadre_id"))
    known = set(
        CardIssued.objects.filter(campaign=campaign, household__in=households.order_by().values("pk")).values_list(
            "household_id", "cadre_id"
        )
    )
    new = [
        CardIssued(campaign=campaign, household_id=h, cadre_id=c, given_on=on, given_by=by)
        for h, c in rows
        if (h, c) not in known
    ]
    CardIssued.objects.bulk_create(new, batch_size=500, ignore_conflicts=True)
    return len(new)


# ---------------------------------------------------------------------------------------------- what a card prints


def card_fields(rules) -> list[str]:
    """The fields the campaign's cards print (``Rules.card_fields``, the known ones, in their order)."""
    return [name for name in rules.card_fields if name in CARD_FIELDS]


def supervision_phone(rules) -> str:
    """The 监督电话 on the cards: the campaign's own rule, else the installation's setting ("" for neither)."""
    return (rules.supervision_phone or "").strip() or (getattr(settings, "SUPERVISION_PHONE", "") or "").strip()


def responsible_units(campaign, community_ids) -> dict[int, list[Department]]:
    """相关责任单位 of the cards, per community: the departments taking part in the campaign there —
    with a quota for the community (部门包户安排表) or households of it in their charge (an
    assignment naming the department, or a department cadre's) — with their head and phone, in the
    order of the departments list. A community no department serves gets none. Three queries,
    whatever the number of cards."""
    ids = {pk for pk in community_ids if pk is not None}
    if campaign is None or not ids:
        return {}
    pairs = set(
        DepartmentQuota.objects.filter(campaign=campaign, community_id__in=ids).values_list(
            "community_id", "department_id"
        )
    )
    charged = (
        Assignment.objects.filter(campaign=campaign, household__community_id__in=ids)
        .annotate(
            unit=Coalesce(
                F("department_id"),
                Case(When(cadre__tier=Tier.DEPARTMENT, then=F("cadre__department_id")), output_field=IntegerField()),
                output_field=IntegerField(),
            )
        )
        .filter(unit__isnull=False)
        .order_by()
        .values_list("household__community_id", "unit")
        .distinct()
    )
    pairs |= set(charged)
    departments = Department.objects.filter(pk__in={d for _c, d in pairs}).only("name", "level", "head_name", "phone")
    rank = {d.pk: (n, d) for n, d in enumerate(departments.order_by("level", "name"))}
    units: dict[int, list[Department]] = {}
    for community_id, department_id in pairs:
        if department_id in rank:
            units.setdefault(community_id, []).append(rank[department_id])
    return {c: [d for _n, d in sorted(found, key=lambda item: item[0])] for c, found in units.items()}
