"""督导检查: recording findings and the 电话调查 tool. The only code that writes a Finding or a
PhoneCheck; the points they cost are ``reports/scoring.py``'s (read from the campaign's rulebook).

Only the street office records findings (街道管理员; superusers too): supervision is the
street's job over its communities. The community of a finding is the one of the visit, issue or
cadre it is about, so nobody types it and it cannot disagree with the evidence.
"""

from __future__ import annotations

import random

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from households.models import Node, NodeKind
from households.roles import STREET_ADMIN, user_roles
from visits.models import Visit

from .models import CheckMethod, Finding, FindingKind, PhoneCheck

MAX_SAMPLE = 50


class SupervisionError(Exception):
    """Shown to the user as it is."""


def may_supervise(user) -> bool:
    return bool(user.is_authenticated and user.is_active and (user.is_superuser or STREET_ADMIN in user_roles(user)))


def _require(user):
    if not may_supervise(user):
        raise SupervisionError("只有街道管理员可以记录督查结果")


def _community_of(*, visit=None, issue=None, cadre=None):
    if visit is not None:
        return visit.household.community
    if issue is not None:
        return issue.community
    if cadre is not None and cadre.scope_id:
        node = cadre.scope.ancestor_of_kind(NodeKind.COMMUNITY)
        if node is not None:
            return node
    raise SupervisionError("督查发现须关联一条走访记录、一条诉求或一名社区层级的干部")


def finding_record(
    *, by, campaign, kind, method, evidence, found_on=None, visit=None, issue=None, cadre=None
) -> Finding:
    """Record one finding (any ``FindingKind``: 不入户, 虚假入户, 征求意见不实, 不整改, 虚假整改, 整改不彻底);
    what it costs its community and whether it counts toward 约谈 is the campaign's rulebook's
    (reports/scoring.py)."""
    _require(by)
    if kind not in FindingKind.values:
        raise SupervisionError("问题类型：请选择不入户、虚假入户、征求意见不实、不整改、虚假整改或整改不彻底")
    if method not in CheckMethod.values:
        raise SupervisionError("请选择检查方式")
    evidence = (evidence or "").strip()
    if not evidence:
        raise SupervisionError("请填写情况说明（证据）")
    found_on = found_on or timezone.localdate()
    if found_on > timezone.localdate():
        raise SupervisionError("发现日期不能晚于今天")
    community = _community_of(visit=visit, issue=issue, cadre=cadre)
    if not Node.objects.visible_to(by, ancestors=False).filter(pk=community.pk).exists():
        raise SupervisionError("该社区不在您的管辖范围内")
    if cadre is None and visit is not None:
        cadre = visit.cadre
    return Finding.objects.create(
        campaign=campaign, community=community, kind=kind, method=method, evidence=evidence, found_on=found_on,
        visit=visit, issue=issue, cadre=cadre, recorded_by=by,
    )  # fmt: skip


def phone_check_draw(*, by, campaign, community, size, seed=None, today=None) -> list[PhoneCheck]:
    """Draw ``size`` visited households of ``community`` at random for a phone check.

    Each drawn item is the household's latest counted visit of the campaign; a household already
    drawn in the campaign is not drawn again. Households without a phone number cannot be called and are skipped.
    """
    _require(by)
    if not 1 <= size <= MAX_SAMPLE:
        raise SupervisionError(f"抽查户数应在1至{MAX_SAMPLE}之间")
    if not Node.objects.visible_to(by, ancestors=False).filter(pk=community.pk, kind=NodeKind.COMMUNITY).exists():
        raise SupervisionError("该社区不在您的管辖范围内")
    today = today or timezone.localdate()
    drawn = PhoneCheck.objects.filter(campaign=campaign, household=OuterRef("household_id"))
    candidates = list(
        Visit.objects.counted()
        .filter(campaign=campaign, household__community=community)
        .exclude(household__phone="")
        .annotate(taken=Exists(drawn))
        .filter(taken=False)
        .order_by("household_id", "-visited_on", "-id")
        .values_list("pk", "household_id")
    )
    latest = {}
    for visit_id, household_id in candidates:
        latest.setdefault(household_id, visit_id)  # the first per household is its latest visit
    households = sorted(latest)
    picked = random.Random(seed).sample(households, min(size, len(households)))
    checks = []
    with transaction.atomic():
        for household_id in sorted(picked):
            try:
                with transaction.atomic():
                    checks.append(PhoneCheck.objects.create(
                        campaign=campaign, community=community, household_id=household_id, visit_id=latest[household_id],
                        drawn_by=by, drawn_on=today,
                    ))  # fmt: skip
            except IntegrityError:
                continue  # drawn a moment ago by someone else
    return checks


def phone_check_record(*, check: PhoneCheck, by, reached: bool, was_visited=None, reported_minutes=None,
                       satisfaction="", note="", called_on=None) -> PhoneCheck:  # fmt: skip
    """What the resident said. "Was not visited" becomes a 虚假入户 finding in the same step."""
    _require(by)
    called_on = called_on or timezone.localdate()
    with transaction.atomic():
        check = PhoneCheck.objects.select_for_update().get(pk=check.pk)
        if check.called_on is not None:
            raise SupervisionError("该户的电话调查已记录，请刷新页面")
        check.called_on = called_on
        check.reached = bool(reached)
        check.was_visited = was_visited if reached else None
        check.reported_minutes = reported_minutes if reached else None
        check.satisfaction = satisfaction if reached else ""
        check.note = (note or "").strip()
        if reached and was_visited is False:
            visit = Visit.objects.select_related("household__community", "cadre").get(pk=check.visit_id)
            check.finding = finding_record(
                by=by, campaign=check.campaign, kind=FindingKind.FAKE_VISIT, method=CheckMethod.PHONE, visit=visit,
                found_on=called_on,
                evidence=f"电话调查：居民表示{visit.visited_on:%Y年%m月%d日}未被走访（台账记录走访人 {visit.cadre.name}）。{check.note}".strip(),
            )  # fmt: skip
        check.save()
    return check
