"""千分制: the score per community and the interview list (约谈名单), in one place. The dashboard, the
findings page, the 督查扣分表, the monthly 督查通报 and the tests all read these functions.

Every number and list comes from the campaign's rulebook (``visitplan.rulebook.rules_for``), so a
campaign scores as the document it follows says (002: "采取千分制倒扣分办法,每发现1起不入户、虚假入户、
不整改、虚假整改、整改不彻底等问题扣1分,扣完为止。对不入户、虚假入户,征求意见不实,问题不整改、虚假整改、
整改不彻底等问题出现3个(含3个)以上的,由街道纪工委对包村居干部和社区“两委”成员进行约谈"):

- every community starts a campaign with ``full_score`` points;
- each finding of a kind in ``deduct_kinds`` costs its community ``points_per_finding`` points,
  never below 0; a finding of another kind (002: 征求意见不实) costs nothing;
- a community with ``interview_at`` findings or more of the kinds in ``interview_kinds`` (002
  counts 征求意见不实 too) puts its cadres of the ``interview_tiers`` on the interview list (002:
  包村居 street staff, the secretary and the 两委 members), each with the reason.

A rule changed on the rulebook page is read at the next call: nothing is stored here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, F, IntegerField, Q, Value
from django.db.models.functions import Greatest

from households.models import NodeKind, subtree_q_any
from visitplan.models import Cadre
from visitplan.rulebook import describe_value, rules_for

from .models import FindingKind

KIND_LABELS = dict(FindingKind.choices)


def kinds_text(by_kind: dict, kinds=None) -> str:
    """'不入户 2、征求意见不实 1': the kinds with findings, in the order of ``FindingKind``."""
    wanted = set(kinds) if kinds is not None else None
    return "、".join(
        f"{label} {by_kind[code]}"
        for code, label in KIND_LABELS.items()
        if by_kind.get(code) and (wanted is None or code in wanted)
    )


@dataclass
class CommunityScore:
    community_id: int
    name: str
    findings: int  # every finding of the campaign, whatever its kind
    score: int
    full_score: int
    interview_at: int
    by_kind: dict = field(default_factory=dict)  # kind → findings
    counted: int = 0  # the findings of the kinds that count toward 约谈
    interview_kinds: tuple = ()
    rank: int = 0

    @property
    def deducted(self) -> int:
        """The points the findings cost (倒扣分): what the score falls short of the full score."""
        return self.full_score - self.score

    @property
    def interview(self) -> bool:
        return self.counted >= self.interview_at

    @property
    def kinds(self) -> str:
        return kinds_text(self.by_kind)

    @property
    def reason(self) -> str:
        """Why the community is on the interview list: '3 条（不入户 2、征求意见不实 1）'."""
        return f"{self.counted} 条（{kinds_text(self.by_kind, self.interview_kinds)}）"


def _kind_counts(campaign):
    """One filtered Count per finding kind of ``campaign`` (annotation name → Count)."""
    return {f"k_{kind}": Count("findings", filter=Q(findings__campaign=campaign, findings__kind=kind))
            for kind in FindingKind.values}  # fmt: skip


def _sum(names):
    total = Value(0)
    for name in names:
        total = total + name
    return total


def community_scores(campaign, communities) -> list[CommunityScore]:
    """The score of each community in ``communities`` (a Node queryset), best first; one query
    (a filtered Count per kind, the score computed from those of ``deduct_kinds``)."""
    rules = rules_for(campaign)
    kinds = FindingKind.values
    deducting = [F(f"k_{k}") for k in kinds if k in rules.deduct_kinds]
    lost = Value(rules.points_per_finding) * _sum(deducting) if deducting else Value(0)
    rows = (
        communities.filter(kind=NodeKind.COMMUNITY)
        .annotate(**_kind_counts(campaign))
        .annotate(points=Greatest(Value(rules.full_score) - lost, Value(0), output_field=IntegerField()))
        .order_by("-points", "path")
        .values_list("pk", "name", "points", *(f"k_{k}" for k in kinds))
    )
    scores = []
    for pk, name, points, *counts in rows:
        by_kind = dict(zip(kinds, counts, strict=True))
        scores.append(CommunityScore(
            community_id=pk, name=name, findings=sum(counts), score=points, full_score=rules.full_score,
            interview_at=rules.interview_at, by_kind=by_kind, interview_kinds=tuple(rules.interview_kinds),
            counted=sum(n for k, n in by_kind.items() if k in rules.interview_kinds),
        ))  # fmt: skip
    rank, previous = 0, None
    for position, s in enumerate(scores, start=1):
        if s.score != previous:  # equal scores share a rank (1, 1, 3 …)
            rank, previous = position, s.score
        s.rank = rank
    return scores


def interview_list(campaign, communities):
    """约谈名单: the active cadres of the rulebook's ``interview_tiers`` working in a community with
    ``interview_at`` or more findings of the ``interview_kinds``, as a list of Cadres, each with
    ``community_name``, ``counted`` (the findings that count) and ``reason`` ('3 条（不入户 2、征求意见不实 1）');
    one query for the communities, one for the cadres."""
    rules = rules_for(campaign)
    kinds = [k for k in FindingKind.values if k in rules.interview_kinds]
    if not kinds or not rules.interview_tiers:
        return []
    counts = {f"k_{k}": Count("findings", filter=Q(findings__campaign=campaign, findings__kind=k)) for k in kinds}
    flagged = list(
        communities.filter(kind=NodeKind.COMMUNITY)
        .annotate(**counts)
        .annotate(n=_sum([F(name) for name in counts]))
        .filter(n__gte=rules.interview_at)
        .values_list("path", "name", "n", *counts)
    )
    if not flagged:
        return []
    why = {path: (name, n, dict(zip(kinds, by_kind, strict=True))) for path, name, n, *by_kind in flagged}
    q = subtree_q_any(why, "scope__path")
    cadres = list(
        Cadre.objects.filter(q, active=True, tier__in=rules.interview_tiers)
        .select_related("scope")
        .order_by("scope__path", "tier", "name")
    )
    for cadre in cadres:
        path = next((p for p in why if cadre.scope.path == p or cadre.scope.path.startswith(p + ".")), None)
        name, n, by_kind = why.get(path, ("", 0, {}))
        cadre.community_name = name
        cadre.counted = n  # not ``findings``: the reverse relation of Finding.cadre
        cadre.reason = f"{n} 条（{kinds_text(by_kind)}）"
    return cadres


def finding_cost(campaign, kind) -> str:
    """What one finding of ``kind`` means in ``campaign``, for the message after recording it:
    '扣1分' / '不扣分，计入约谈' / '不扣分'."""
    rules = rules_for(campaign)
    points = rules.finding_points(kind)
    if points:
        return f"扣{points}分"
    return "不扣分，计入约谈" if kind in rules.interview_kinds else "不扣分"


def rules_text(campaign) -> dict:
    """The scoring rules of ``campaign`` in words, for the pages' hints (the same words as the rulebook page)."""
    rules = rules_for(campaign)
    return {
        "full_score": rules.full_score,
        "points": rules.points_per_finding,
        "deduct": describe_value("deduct_kinds", rules.deduct_kinds),
        "interview_at": rules.interview_at,
        "interview_kinds": describe_value("interview_kinds", rules.interview_kinds),
        "interview_tiers": describe_value("interview_tiers", rules.interview_tiers),
    }
