"""区级看板: every street of a district side by side, with the headline figures of its own dashboard.

Each street's row is its current campaign's figures, counted by ``reports.dashboard``'s panels
(coverage, visits, issues, follow-ups, the community scores) for the reader narrowed to that
street (``visitplan.scope.StreetScope``): the numbers are those the street's dashboard shows for
the same campaign and period, never a second way of counting them. The panels run once per street
(a fixed number of queries each): fine for the ten or so streets of a district; the per-grid
rollups (visits/rollups.py, decision 0018) make each cheaper. Decision: docs/decisions/0017-districts.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db.models import Q

from core.scope import scope_of
from households.levels import for_street
from households.models import District, Node, NodeKind
from visitplan.models import Campaign, running_on
from visitplan.scope import StreetScope, district_of

from . import dashboard as figures
from . import scoring


@dataclass
class StreetRow:
    street: object
    levels: object
    campaign: object = None
    period: object = None
    coverage: dict | None = None
    visits: dict | None = None
    issues: dict | None = None
    followups: dict | None = None
    communities: int = 0
    findings: int = 0
    deducted: int = 0
    lowest_score: int | None = None


def reader_district(user, wanted=None):
    """The district ``user`` reads: a district's own people their district; superusers the one
    they choose (``wanted``, a pk) or the first; anyone else is refused (403)."""
    district = district_of(user)
    if district is not None:
        return district
    if user.is_superuser:
        districts = District.objects.order_by("name", "pk")
        chosen = districts.filter(pk=wanted).first() if wanted is not None else None
        return chosen or districts.first()
    raise PermissionDenied("区级看板供区（县）领导和区级管理人员查看")


def district_streets(user, district):
    """The district's streets that ``user`` sees (Node.visible_to, ancestors=False), in tree order."""
    return list(
        Node.objects.visible_to(user, ancestors=False)
        .filter(kind=NodeKind.STREET, district=district)
        .order_by("order", "path")
    )


def street_row(user, street, *, today) -> StreetRow:
    """One street's row by itself (the district page reads them all at once: ``district_rows``)."""
    return _rows(user, [street], today=today)[0]


def district_rows(user, district, *, today) -> list[StreetRow]:
    """Every street's row."""
    return _rows(user, district_streets(user, district), today=today)


def _rows(user, streets, *, today) -> list[StreetRow]:
    """The rows of ``streets``: each street's current campaign (the one its dashboard opens on) and
    the headline figures of its dashboard's panels for the reader narrowed to the street
    (``StreetScope``). The campaigns and the reader's communities are read once for all the streets,
    the figures by ``dashboard.headlines`` (the rollups of every street at once), the scores per
    street (one query each)."""
    by_street = {}
    for campaign in Campaign.objects.visible_to(user).filter(street__in=streets).prefetch_related("stages"):
        by_street.setdefault(campaign.street_id, []).append(campaign)  # latest first (Meta.ordering)
    paths = dict(figures.scope_communities(user).filter(district_q(streets)).values_list("pk", "path"))
    rows, parts = [], []
    for street in streets:
        row = StreetRow(street=street, levels=for_street(street))
        rows.append(row)
        row.campaign = running_on([(c, *c.span()) for c in by_street.get(street.pk, [])], today)
        if row.campaign is None:
            continue
        row.period = figures.Period.of(row.campaign, today=today)
        # the reader's communities under this street: those StreetScope leaves him
        ids = [pk for pk, path in paths.items() if path.startswith(street.path + ".")]
        row.communities = len(ids)
        parts.append((row, StreetScope(scope_of(user), street), ids))
    found = figures.headlines(user, [(scope, row.period, ids) for row, scope, ids in parts], today=today)
    for (row, scope, _ids), (covered, visits, issues, followups) in zip(parts, found):
        row.coverage, row.visits, row.issues, row.followups = covered, visits, issues, followups
        scores = scoring.community_scores(row.campaign, figures.scope_communities(scope))
        row.findings = sum(s.findings for s in scores)
        row.deducted = sum(s.deducted for s in scores)
        row.lowest_score = min((s.score for s in scores), default=None)
    return rows


def district_q(streets):
    """The nodes under ``streets`` (by path)."""
    q = Q(pk__in=[])
    for street in streets:
        q |= Q(path__startswith=street.path + ".")
    return q


def totals(rows) -> dict:
    """The district's sums over its streets (the counts; rates are recomputed from them)."""
    counted = [r for r in rows if r.coverage is not None]
    households = sum(r.coverage["total"] for r in counted)
    visited = sum(r.coverage["visited"] for r in counted)
    close_due = sum(r.issues["close_due"] for r in counted)
    close_on_time = sum(r.issues["close_on_time"] for r in counted)
    answered = sum(r.followups["answered"] for r in counted)
    satisfied = sum(r.followups["satisfied"] for r in counted)
    return {
        "streets": len(rows),
        "households": households,
        "visited": visited,
        "pct": figures.pct(visited, households),
        "visits": sum(r.visits["count"] for r in counted),
        "issues": sum(r.issues["total"] for r in counted),
        "open": sum(r.issues["open"] for r in counted),
        "overdue": sum(r.issues["overdue"] for r in counted),
        "close_pct": figures.pct(close_on_time, close_due),
        "satisfied_pct": figures.pct(satisfied, answered),
        "findings": sum(r.findings for r in counted),
    }
