"""What makes a visit record valid, and who may record one (the campaign plan, "a visit").

The one place for these rules: the visit form, the follow-up form, the admin and the benchmark all
go through ``visits.services``, which calls these functions.

- **Method**: 入户 / 电话 / 微信 / 短信 / 座谈, and 未遇 (a failed attempt is a record too).
- **Date**: not in the future, and inside the campaign (``Campaign.span()``: first stage start to
  last stage end, or the campaign's year when it has no stages).
- **Times**: start and end are required for 入户 and 座谈 (the visits the 30-minute rule is about);
  optional for calls and messages; ignored for 未遇. The end may not be before the start, and on
  the visit day itself not later than now (a small tolerance for clocks).
- **Length**: 入户 and 座谈 last at least ``campaign.min_visit_minutes`` (30 by default, from the
  campaign documents: "每次入户走访不少于30分钟"); a shorter one needs a reason.
- **Who**: the cadre the household is assigned to in the campaign (包户到人); besides, leaders
  (their whole scope: they visit focus households anywhere in the street), and community cadres —
  secretaries, 两委 and grid workers — within their scope node. Department and street staff visit
  only the households assigned to them. A user without a cadre record cannot record visits.
"""

from __future__ import annotations

import datetime

from visitplan.models import Assignment, Tier

from .models import Purpose, VisitMethod

# Visits the duration rule applies to; calls and messages have no meaningful "30 minutes".
TIMED_METHODS = frozenset({VisitMethod.IN_PERSON, VisitMethod.MEETING})

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
        first, last = campaign.span()
        if not first <= visited_on <= last:
            errors["visited_on"] = (
                f"走访日期 {visited_on:%Y-%m-%d} 不在“{campaign}”活动期间（{first:%Y-%m-%d} 至 {last:%Y-%m-%d}）"
            )

    if method == VisitMethod.NOT_HOME:
        return errors, None  # a failed attempt: no length, no reason

    timed = method in TIMED_METHODS and purpose == Purpose.VISIT
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
    if timed and minutes is not None and minutes < campaign.min_visit_minutes and not (short_reason or "").strip():
        errors["short_reason"] = f"本次{minutes}分钟，不足{campaign.min_visit_minutes}分钟，请说明原因"
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
