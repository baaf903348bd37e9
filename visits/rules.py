"""What makes a visit record valid, and who may record one (the campaign plan, "a visit").

The one place for these rules: the visit form, the follow-up form, the admin and the benchmark all
go through ``visits.services``, which calls these functions.

- **Method**: 入户 / 电话 / 微信 / 短信 / 座谈, and 未遇 (a failed attempt is a record too).
- **Date**: not in the future, and inside the campaign's visit window (``visit_window``: the
  rulebook's ``window`` — its stages, first start to last end, as 002 and 003 set them; or its
  whole year, as 001's "每年…上半年、下半年至少各1次" needs).
- **Times**: start and end are required for the timed methods (``rules.timed_methods``: 入户 and
  座谈 by default — the visits the 30-minute rule is about); optional for calls and messages;
  ignored for 未遇. The end may not be before the start, and on the visit day itself not later
  than now (a small tolerance for clocks).
- **Length**: a timed visit lasts at least ``rules.min_visit_minutes`` (002: "每户访问时间不少于
  30分钟"); a shorter one needs a reason.
- **Counts**: whether a recorded visit counts toward the targets (``counts_toward``, stored on the
  visit as ``Visit.counts``): a method the rulebook counts (``rules.counted_methods``), and a method
  it allows only for households away from home (``rules.away_only_methods``, 002's 电话、微信、短信)
  only for a household in one of ``rules.away_groups`` (长期在外). A visit that does not count is
  still recorded, and the form says so.
- **Who**: the cadre the household is assigned to in the campaign (包户到人); besides, leaders
  (their whole scope: they visit focus households anywhere in the street), and community cadres —
  secretaries, 两委 and grid workers — within their scope node. Department and street staff visit
  only the households assigned to them. A user without a cadre record cannot record visits.
"""

from __future__ import annotations

import datetime

from django.db.models import Exists, OuterRef, Q

from households.models import FocusGroup
from visitplan.models import Assignment, Tier
from visitplan.rulebook import rules_for

from .models import Purpose, Visit, VisitMethod

# A clock a few minutes fast on the phone must not make "now" a future end time.
CLOCK_TOLERANCE = datetime.timedelta(minutes=10)

# Tiers that may visit any household inside their scope node, assigned or not.
SCOPE_VISITORS = frozenset({Tier.LEADER, Tier.SECRETARY, Tier.COMMITTEE, Tier.GRID_WORKER})


def duration_minutes(started_at, ended_at) -> int | None:
    if started_at is None or ended_at is None:
        return None
    start = datetime.datetime.combine(datetime.date(2000, 1, 1), started_at)
    end = datetime.datetime.combine(datetime.date(2000, 1, 1), ended_at)
    return int((end - start).total_seconds() // 60)


def visit_window(campaign) -> tuple[datetime.date, datetime.date]:
    """The days a visit of the campaign may fall on (``rules.window``): its stages, or its year."""
    if rules_for(campaign).window == "year":
        return datetime.date(campaign.year, 1, 1), datetime.date(campaign.year, 12, 31)
    return campaign.span()


def is_timed(campaign, method) -> bool:
    """Does the minimum duration apply to a visit by ``method``?"""
    return method in rules_for(campaign).timed_methods


def is_away(household, rules) -> bool:
    """Is the household marked as living away (长期在外: one of ``rules.away_groups``)?"""
    if not rules.away_groups or household is None:
        return False
    return FocusGroup.objects.filter(households=household, name__in=rules.away_groups).exists()


def counts_toward(visit) -> bool:
    """Does this visit count toward the targets (``Visit.counts``; see the module docstring)?"""
    if visit.purpose != Purpose.VISIT or visit.method == VisitMethod.NOT_HOME:
        return False
    rules = rules_for(visit.campaign)
    if visit.method not in rules.counted_methods:
        return False
    if visit.method in rules.away_only_methods:
        return is_away(visit.household, rules)
    return True


def counting_q(campaign) -> Q:
    """``counts_toward`` as a filter over a campaign's visits (``recount``)."""
    rules = rules_for(campaign)
    q = Q(purpose=Purpose.VISIT, method__in=[m for m in rules.counted_methods if m != VisitMethod.NOT_HOME])
    if rules.away_only_methods:
        away = Exists(FocusGroup.objects.filter(households=OuterRef("household_id"), name__in=rules.away_groups))
        q &= ~Q(method__in=rules.away_only_methods) | Q(away)
    return q


def recount(campaign) -> int:
    """Set ``Visit.counts`` of every visit of the campaign by its rulebook (after a rule changed,
    or after visits were written in bulk); returns the number of visits that changed. The caller
    rebuilds the tallies (``visits.tally.rebuild``)."""
    visits = Visit.objects.filter(campaign=campaign)
    q = counting_q(campaign)
    changed = visits.filter(q).exclude(counts=True).update(counts=True)
    return changed + visits.exclude(q).exclude(counts=False).update(counts=False)


def not_counted_reason(campaign, method, household) -> str:
    """Why a visit by ``method`` to ``household`` will not count (empty when it counts): the form's notice."""
    rules = rules_for(campaign)
    label = dict(VisitMethod.choices).get(method, method)
    if method == VisitMethod.NOT_HOME:
        return ""
    if method not in rules.counted_methods:
        return f"按本次活动规则，“{label}”不计入走访任务（记录仍会保存）"
    if method in rules.away_only_methods and not is_away(household, rules):
        groups = "、".join(rules.away_groups) or "长期在外"
        return f"按本次活动规则，“{label}”只对{groups}的户计入走访任务，本户不计入（记录仍会保存）"
    return ""


def method_hint(campaign, household) -> str:
    """The visit form's line under 走访方式: which methods count toward the targets in this campaign,
    for this household (so a cadre knows before he saves that a WeChat message will not count)."""
    rules = rules_for(campaign)
    labels = dict(VisitMethod.choices)
    counted = "、".join(labels.get(m, m) for m in rules.counted_methods)
    hint = f"本次活动计入走访任务的方式：{counted}"
    if rules.away_only_methods:
        only = "、".join(labels.get(m, m) for m in rules.away_only_methods)
        groups = "、".join(rules.away_groups) or "长期在外"
        mark = "本户已标记" if is_away(household, rules) else "本户未标记"
        hint += f"；其中{only}只对{groups}的户计入（{mark}{groups}）"
    return hint


def check_visit(
    *,
    campaign,
    purpose,
    method,
    visited_on,
    started_at,
    ended_at,
    short_reason,
    now: datetime.datetime,
) -> tuple[dict[str, str], int | None]:
    """The field errors of a visit ({field: message}, empty when valid) and its length in minutes."""
    errors: dict[str, str] = {}
    allowed = {m for m, _ in VisitMethod.choices}
    if method not in allowed:
        errors["method"] = "请选择走访方式"
    today = now.date()
    if visited_on is None:
        errors["visited_on"] = "请填写走访日期"
    elif visited_on > today:
        errors["visited_on"] = f"走访日期 {visited_on:%Y-%m-%d} 晚于今天，不能预先登记"
    else:
        first, last = visit_window(campaign)
        if not first <= visited_on <= last:
            errors["visited_on"] = (
                f"走访日期 {visited_on:%Y-%m-%d} 不在“{campaign}”活动期间（{first:%Y-%m-%d} 至 {last:%Y-%m-%d}）"
            )

    if method == VisitMethod.NOT_HOME:
        return errors, None  # a failed attempt: no length, no reason

    rules = rules_for(campaign)
    timed = method in rules.timed_methods and purpose == Purpose.VISIT
    if timed and started_at is None:
        errors["started_at"] = "请填写开始时间"
    if timed and ended_at is None:
        errors["ended_at"] = "请填写结束时间"
    minutes = duration_minutes(started_at, ended_at)
    if minutes is not None and minutes < 0:
        errors["ended_at"] = "结束时间早于开始时间"
        minutes = None
    if visited_on == today and "visited_on" not in errors:
        latest = (now + CLOCK_TOLERANCE).time()
        if ended_at is not None and ended_at > latest and "ended_at" not in errors:
            errors["ended_at"] = f"结束时间 {ended_at:%H:%M} 晚于现在，请按实际时间填写"
        elif started_at is not None and started_at > latest and "started_at" not in errors:
            errors["started_at"] = f"开始时间 {started_at:%H:%M} 晚于现在，请按实际时间填写"
    if timed and minutes is not None and minutes < rules.min_visit_minutes and not (short_reason or "").strip():
        errors["short_reason"] = f"本次{minutes}分钟，不足{rules.min_visit_minutes}分钟，请说明原因"
    return errors, minutes


def is_assigned(cadre, household, campaign) -> bool:
    return Assignment.objects.filter(campaign=campaign, cadre=cadre, household=household).exists()


def may_visit(cadre, household, campaign) -> bool:
    """May this cadre record a visit to this household in this campaign? (see the module docstring)"""
    if cadre is None or not cadre.active:
        return False
    if is_assigned(cadre, household, campaign):
        return True
    if cadre.tier in SCOPE_VISITORS and cadre.scope_id:
        scope = cadre.scope.path
        return household.path == scope or household.path.startswith(scope + ".")
    return False
