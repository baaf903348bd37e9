"""千分制: the score per community and the interview list (约谈名单), in one place (the campaign plan,
"Supervision (督导检查)"). The dashboard, the 督查扣分表 and the tests all read these functions.

- every community starts a campaign with ``FULL_SCORE`` (1000) points;
- each finding (不入户, 虚假入户, 不整改, 虚假整改, 整改不彻底) costs its community
  ``POINTS_PER_FINDING`` (1) point (千分制倒扣分), never below 0;
- a community with ``INTERVIEW_AT`` (3) findings or more puts its responsible cadres on the
  interview list: the 包村居 street staff scoped to it (tier 3) and its 两委 members (tier 5).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, IntegerField, Q, Value
from django.db.models.functions import Greatest

from households.models import NodeKind, subtree_q_any
from visitplan.models import Cadre, Tier

FULL_SCORE = 1000
POINTS_PER_FINDING = 1
INTERVIEW_AT = 3
INTERVIEW_TIERS = (Tier.STREET_STAFF, Tier.COMMITTEE)


@dataclass
class CommunityScore:
    community_id: int
    name: str
    findings: int
    score: int
    rank: int = 0

    @property
    def deducted(self) -> int:
        """The points the findings cost (倒扣分): what the score falls short of ``FULL_SCORE``."""
        return FULL_SCORE - self.score

    @property
    def interview(self) -> bool:
        return self.findings >= INTERVIEW_AT


def community_scores(campaign, communities) -> list[CommunityScore]:
    """The score of each community in ``communities`` (a Node queryset), best first; one query."""
    rows = (
        communities.filter(kind=NodeKind.COMMUNITY)
        .annotate(n=Count("findings", filter=Q(findings__campaign=campaign)))
        .annotate(
            points=Greatest(
                Value(FULL_SCORE)
                - Value(POINTS_PER_FINDING) * Count("findings", filter=Q(findings__campaign=campaign)),
                Value(0),
                output_field=IntegerField(),
            )
        )  # fmt: skip
        .order_by("-points", "path")
        .values_list("pk", "name", "n", "points")
    )
    scores = [CommunityScore(community_id=pk, name=name, findings=n, score=points) for pk, name, n, points in rows]
    rank, previous = 0, None
    for position, s in enumerate(scores, start=1):
        if s.score != previous:  # equal scores share a rank (1, 1, 3 …)
            rank, previous = position, s.score
        s.rank = rank
    return scores


def interview_list(campaign, communities):
    """约谈名单: the active tier-3 and tier-5 cadres working in a community with 3+ findings, as a
    Cadre queryset (with ``community_name``); one query for the communities, one for the cadres."""
    flagged = list(
        communities.filter(kind=NodeKind.COMMUNITY)
        .annotate(n=Count("findings", filter=Q(findings__campaign=campaign)))
        .filter(n__gte=INTERVIEW_AT)
        .values_list("path", "name")
    )
    if not flagged:
        return []
    q = subtree_q_any((path for path, _name in flagged), "scope__path")
    cadres = list(
        Cadre.objects.filter(q, active=True, tier__in=INTERVIEW_TIERS)
        .select_related("scope")
        .order_by("scope__path", "tier", "name")
    )
    names = dict(flagged)
    for cadre in cadres:
        cadre.community_name = next(
            (n for p, n in names.items() if cadre.scope.path == p or cadre.scope.path.startswith(p + ".")), ""
        )
    return cadres
