"""Writing visits and follow-ups: the only code that creates a Visit or settles a FollowUp.

Views, the admin and the benchmark call ``visit_record`` and ``followup_record``; the rules they
check are in ``visits/rules.py``; issues raised on the way go into the ledger through
``issues.services.issue_register`` (deadlines computed there), linked to the visit here
(``RaisedIssue``: the ledger does not know visits).

Both services are idempotent on the ``key`` the form was opened with: a second submit with the same
key — a double tap, a retry after a timeout, the back button — returns the visit the first one
saved (``created=False``) and writes nothing. The unique constraint on ``Visit.key`` makes this hold
for two requests racing each other too. Everything one call writes (the visit, its issues, the
follow-up results, the reopened issues) is one transaction: a refused issue leaves no visit behind.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from households.models import Household
from households.scoping import user_cadre
from visitplan.rulebook import rules_for

from . import rollups, rules, tally

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from django.contrib.auth.base_user import AbstractBaseUser
    from django.db.models import QuerySet

    from visitplan.models import Cadre, Campaign
from .models import FOLLOW_UP_METHODS, FollowUp, FollowUpStatus, Purpose, RaisedIssue, Satisfaction, Visit, VisitMethod
from .questionnaire import checklist_codes, questions


class VisitNotAllowed(Exception):
    """The user may not record this (not a cadre, not their household). Shown as it is."""


@dataclass
class Recorded:
    visit: Visit
    created: bool
    issues: list = field(default_factory=list)
    reopened: list = field(default_factory=list)


NOT_A_CADRE = "您的账号未登记为干部，不能录入走访记录"
NOT_YOURS = "该户不是您的包户，您不能录入该户的走访"
KEY_TAKEN = "表单已过期，请刷新页面后重新提交"


def _now() -> datetime.datetime:
    return timezone.localtime()


def _cadre_of(user):
    cadre = user_cadre(user)
    if cadre is None:
        raise VisitNotAllowed(NOT_A_CADRE)
    return cadre


def _visible(user, household):
    if not Household.objects.visible_to(user).filter(pk=household.pk).exists():
        raise VisitNotAllowed("没有找到该户")


def saved_earlier(key, *, by, household_id: int) -> Recorded | None:
    """The visit an earlier submit of this form (``key``) by ``by`` saved at this household, or None:
    asked first when the field app sends a record again whose answer was lost. It was saved then,
    and stays "saved" even if the household has left the cadre's list since (his own record, found
    by its key: nothing he does not already know)."""
    try:
        key = uuid.UUID(str(key))
    except (TypeError, ValueError):
        return None
    existing = Visit.objects.filter(key=key, created_by=by, household_id=household_id).first()
    if existing is None:
        return None
    return Recorded(visit=existing, created=False, issues=list(existing.issues.all()))


def _recorded_at(value, now):
    """The device's time of an offline record: kept only when it is not later than now (a clock
    running fast is not believed)."""
    if value is None or value > now + datetime.timedelta(minutes=5):
        return None
    return value


def _parse_key(key):
    try:
        return uuid.UUID(str(key))
    except (TypeError, ValueError):
        raise VisitNotAllowed(KEY_TAKEN) from None


def _replay(key, *, by, household):
    """The visit an earlier submit with this key saved, or None. Someone else's key is refused."""
    existing = Visit.objects.filter(key=key).first()
    if existing is None:
        return None
    if existing.created_by_id != by.pk or existing.household_id != household.pk:
        raise VisitNotAllowed(KEY_TAKEN)
    return Recorded(visit=existing, created=False, issues=list(existing.issues.all()))


def visit_errors(
    *,
    campaign: Campaign,
    method: str,
    visited_on: datetime.date,
    started_at: datetime.time | None = None,
    ended_at: datetime.time | None = None,
    short_reason: str = "",
    now: datetime.datetime | None = None,
    **_ignored,
) -> dict[str, str]:
    """The rule errors of a visit form, without saving: the form shows them together with its own
    field errors (a refused issue row must not hide that the visit was too short)."""
    errors, _minutes = rules.check_visit(
        campaign=campaign, purpose=Purpose.VISIT, method=method, visited_on=visited_on, started_at=started_at,
        ended_at=ended_at, short_reason=short_reason, now=now or _now(),
    )  # fmt: skip
    return errors


def _begin(*, by, household, key):
    """What both services check first: a cadre, a household he can see, a usable key; and the
    visit an earlier submit of this form saved, if any (then nothing else is checked)."""
    cadre = _cadre_of(by)
    _visible(by, household)
    key = _parse_key(key)
    return cadre, key, _replay(key, by=by, household=household)


def _normalise_answers(answers, rules) -> dict:
    """The answers to the campaign's questions (keyed by question code; others dropped), the ones
    left blank left out; a question of several domains ticked 需要帮助 keeps the one it was filed
    under (its first unless another of them was chosen)."""
    sheet = {q.code: q for q in questions(rules)}
    cleaned = {}
    for code, value in (answers or {}).items():
        q = sheet.get(code)
        if q is None or not isinstance(value, dict):
            continue
        text = (value.get("answer") or "").strip()
        needs_help = bool(value.get("needs_help"))
        if text or needs_help:
            cleaned[code] = {"answer": text, "needs_help": needs_help}
            if needs_help and len(q.domains) > 1:
                cleaned[code]["domain"] = q.category_for(value.get("domain"))
    return cleaned


def help_files_issue(user) -> bool:
    """Does a question ticked 需要帮助 by ``user`` file an issue (visits.forms.visit_issues)? Only
    for one who may register issues; for another the tick stays on the answer."""
    from issues.services import has_role

    return has_role(user, "register")


def _register_issues(items, *, household, by, visit, registered_on):
    from issues.services import IssueActionError, issue_register

    raised = []
    for number, item in enumerate(items, start=1):
        try:
            raised.append(
                issue_register(
                    household=household,
                    raised_by=by,
                    registered_on=registered_on,
                    text=item.get("text", ""),
                    category=item.get("category", ""),
                    severity=item.get("severity") or "general",
                    special_hardship=bool(item.get("special_hardship")),
                    answer_on_the_spot=item.get("answer_on_the_spot", "") or "",
                )
            )
        except IssueActionError as exc:
            raise ValidationError({"issues": f"第{number}条诉求：{exc}"}) from None
    RaisedIssue.objects.bulk_create(RaisedIssue(issue=issue, visit=visit) for issue in raised)
    return raised


def _insert(visit, *, by, household):
    """INSERT the visit; a concurrent submit of the same key that committed first wins."""
    try:
        with transaction.atomic():
            visit.save()
    except IntegrityError:
        replay = _replay(visit.key, by=by, household=household)
        if replay is None:
            raise
        return replay
    return None


def visit_record(
    *,
    household: Household,
    by: AbstractBaseUser,
    campaign: Campaign,
    key: str | uuid.UUID,
    method: str,
    visited_on: datetime.date,
    started_at: datetime.time | None = None,
    ended_at: datetime.time | None = None,
    short_reason: str = "",
    companions: str = "",
    answers: dict | None = None,
    other_difficulties: str = "",
    suggestions: str = "",
    checklist: Iterable[str] = (),
    card_given: bool = False,
    satisfaction: str = "",
    notes: str = "",
    issues: Sequence[dict] = (),
    now: datetime.datetime | None = None,
    recorded_at: datetime.datetime | None = None,
) -> Recorded:
    """入户走访: record one visit (a failed attempt too) and the issues the resident raised in it.

    Raises ``VisitNotAllowed`` (no cadre, not visible, not the cadre's household) or
    ``ValidationError`` with field errors (visits/rules.py; ``issues`` for a refused issue).
    """
    cadre, key, replay = _begin(by=by, household=household, key=key)
    if replay is not None:
        return replay
    if not rules.may_visit(cadre, household, campaign):
        raise VisitNotAllowed(NOT_YOURS)
    errors, minutes = rules.check_visit(
        campaign=campaign,
        purpose=Purpose.VISIT,
        method=method,
        visited_on=visited_on,
        started_at=started_at,
        ended_at=ended_at,
        short_reason=short_reason,
        now=now or _now(),
    )
    if satisfaction and satisfaction not in Satisfaction.values:
        errors["satisfaction"] = "请选择正确的满意度"
    if errors:
        raise ValidationError(errors)
    failed = method == VisitMethod.NOT_HOME
    book = rules_for(campaign)
    visit = Visit(
        campaign=campaign,
        household=household,
        cadre=cadre,
        purpose=Purpose.VISIT,
        method=method,
        visited_on=visited_on,
        started_at=None if failed else started_at,
        ended_at=None if failed else ended_at,
        duration_minutes=minutes,
        short_reason=(short_reason or "").strip(),
        companions=(companions or "").strip(),
        answers={} if failed else _normalise_answers(answers, book),
        other_difficulties=(other_difficulties or "").strip(),
        suggestions=(suggestions or "").strip(),
        checklist=[] if failed else [c for c in checklist_codes(book) if c in set(checklist or ())],
        card_given=bool(card_given),
        satisfaction="" if failed else satisfaction,
        notes=(notes or "").strip(),
        key=key,
        created_by=by,
        recorded_at=_recorded_at(recorded_at, now or _now()),
    )
    with transaction.atomic():
        replay = _insert(visit, by=by, household=household)
        if replay is not None:
            return replay
        raised = _register_issues(issues, household=household, by=by, visit=visit, registered_on=visited_on)
        # Last, just before the commit: the day total of a community is one row that every visit of
        # that day updates, so its row lock is held for as short a time as possible.
        tally.record(visit, household=household)
    return Recorded(visit=visit, created=True, issues=raised)


# ---------------------------------------------------------------------------------------------- 回头看


def due_followups(cadre: Cadre, household: Household) -> QuerySet[FollowUp]:
    """The follow-ups of this household on this cadre's list that are still due, oldest issue first."""
    return (
        FollowUp.objects.due()
        .filter(cadre=cadre, household=household)
        .select_related("issue", "issue__department")
        .order_by("issue__registered_on", "issue_id")
    )


def followup_record(
    *,
    household: Household,
    by: AbstractBaseUser,
    key: str | uuid.UUID,
    method: str,
    visited_on: datetime.date,
    results: Sequence[dict],
    notes: str = "",
    issues: Sequence[dict] = (),
    now: datetime.datetime | None = None,
    recorded_at: datetime.datetime | None = None,
) -> Recorded:
    """回头看: one contact settling some of the household's due follow-ups; "not solved" reopens.

    ``results``: ``[{"followup": id, "solved": bool, "satisfaction": code, "note": text}]``, one per
    follow-up answered (the others stay due). An issue found unsolved that had been closed or
    answered is reopened through ``issues.services.issue_reopen``; one still open gets the result
    on its timeline. ``issues`` are new requests raised in the call, registered like a visit's.
    """
    from issues import services as ledger
    from issues.models import Status

    cadre, key, replay = _begin(by=by, household=household, key=key)
    if replay is not None:
        return replay
    errors = {}
    if method not in dict(FOLLOW_UP_METHODS):
        errors["method"] = "请选择回访方式"
    today = (now or _now()).date()
    if visited_on is None:
        errors["visited_on"] = "请填写回访日期"
    elif visited_on > today:
        errors["visited_on"] = f"回访日期 {visited_on:%Y-%m-%d} 晚于今天"
    due = {f.pk: f for f in due_followups(cadre, household)}
    answered = []
    for item in results or ():
        followup = due.get(item.get("followup"))
        if followup is None:
            continue  # settled meanwhile (or not this cadre's): nothing to record twice
        if item.get("solved") is None:
            continue  # left blank: stays on the list
        if item.get("satisfaction") not in Satisfaction.values:
            errors["results"] = f"诉求 #{followup.issue_id}：请选择居民满意度"
        answered.append((followup, item))
    if not answered and not errors:
        errors["results"] = "请至少填写一项回访结果（是否解决、满意度）" if due else "该户没有待回访的诉求"
    if errors:
        raise ValidationError(errors)

    visit = Visit(
        campaign_id=answered[0][0].campaign_id,
        household=household,
        cadre=cadre,
        purpose=Purpose.FOLLOW_UP,
        method=method,
        visited_on=visited_on,
        notes=(notes or "").strip(),
        key=key,
        created_by=by,
        recorded_at=_recorded_at(recorded_at, now or _now()),
    )
    method_label = dict(FOLLOW_UP_METHODS)[method]
    reopened = []
    settled = 0
    with transaction.atomic():
        replay = _insert(visit, by=by, household=household)
        if replay is not None:
            return replay
        for followup, item in answered:
            solved = bool(item["solved"])
            note = (item.get("note") or "").strip()
            # Claim it: a concurrent submit that got here first has settled it already.
            claimed = FollowUp.objects.filter(pk=followup.pk, status=FollowUpStatus.DUE).update(
                status=FollowUpStatus.DONE,
                visit=visit,
                solved=solved,
                satisfaction=item["satisfaction"],
                note=note,
                done_on=visited_on,
                done_by=by,
            )
            if not claimed:
                continue
            settled += 1
            issue = followup.issue
            issue.refresh_from_db()  # the version and status as they are now, not as listed
            satisfaction = Satisfaction(item["satisfaction"]).label
            text = (
                f"回头看（{method_label}）：{'问题已解决' if solved else '居民反映问题未解决'}，{satisfaction}。{note}".rstrip(
                    "。"
                )
                + "。"
            )
            ledger.issue_record_followup(
                issue=issue, by=by, text=text, solved=solved, satisfaction=item["satisfaction"]
            )
            if not solved and issue.status in (Status.RESOLVED, Status.CLOSED):
                try:
                    ledger.issue_reopen(issue=issue, by=by, reason=text)
                except ledger.IssueActionError as exc:
                    raise ValidationError({"results": f"诉求 #{issue.pk} 重新办理失败：{exc}"}) from None
                FollowUp.objects.filter(pk=followup.pk).update(reopened=True)
                reopened.append(issue)
        if settled:  # the dashboard's counts of the household's grid (visits/rollups.py)
            rollups.followups_changed({f.campaign_id for f, _item in answered}, [household.pk])
        if not settled:
            # Another submit (another tab, another device) settled them a moment ago: keep nothing.
            raise ValidationError({"results": "这些诉求刚刚已完成回访，请刷新页面查看"})
        raised = _register_issues(issues, household=household, by=by, visit=visit, registered_on=visited_on)
    return Recorded(visit=visit, created=True, issues=raised, reopened=reopened)
