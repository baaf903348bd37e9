"""一户一策: one plan of measures for each household in special hardship (特殊困难群体台账).

The plan and its measures are ``HardshipPlan`` and ``HardshipMeasure`` (households.models). Here are
their rules: which households are on the ledger (``hardship_households``), the state of a plan and
of a measure as the page and the ledger show it, and ``hardship_plan_save``, the one function that
writes a plan. The page is reports.hardship's, the Excel ledger reports.ledgers'.

Both are optimistic-locked (core.versioning): the plan and each measure carry the version the page
was rendered with, and of two people who opened the page at once the second to save is refused
with nothing of his written. Every save of the page saves the plan, so the plan's version is the
page's: a page saved by someone else in the meantime is stale as a whole.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from .models import HardshipMeasure, HardshipPlan, Household

# The focus groups that put a household on the 特殊困难群体台账 (FocusGroup names).
HARDSHIP_GROUPS = ("特殊困难群体", "困难群众", "低保户")


class PlanTakenError(Exception):
    """Someone else created this household's plan in the meantime."""


# ------------------------------------------------------------------------------------------------ selectors


def hardship_households(user, *, flagged: QuerySet) -> QuerySet[Household]:
    """The households of the 特殊困难群体台账 that ``user`` may see: tagged with one of
    ``HARDSHIP_GROUPS``, already given a plan, or among ``flagged`` (a queryset of household ids:
    those with a request marked 特殊困难群体, which the issue ledger, an app above this one, knows)."""
    tagged = Household.tags.through.objects.filter(focusgroup__name__in=HARDSHIP_GROUPS).values("household_id")
    planned = HardshipPlan.objects.values("household_id")
    return Household.objects.visible_to(user).filter(Q(pk__in=tagged) | Q(pk__in=flagged) | Q(pk__in=planned))


def with_plan_status(households: QuerySet[Household]) -> QuerySet[Household]:
    """Annotate ``plan_id``, ``measure_count`` and ``done_count`` (one subquery each, no GROUP BY
    over the household rows)."""
    measures = HardshipMeasure.objects.filter(plan__household=OuterRef("pk")).order_by().values("plan__household")
    done = measures.filter(done_on__isnull=False)
    return households.annotate(
        plan_id=F("hardship_plan__id"),
        measure_count=Coalesce(Subquery(measures.annotate(n=Count("pk")).values("n"), output_field=IntegerField()), 0),
        done_count=Coalesce(Subquery(done.annotate(n=Count("pk")).values("n"), output_field=IntegerField()), 0),
    )


def plan_status(plan_id: int | None, measure_count: int, done_count: int) -> str:
    """无方案 / 3项措施，1项已完成."""
    if plan_id is None:
        return "无方案"
    return f"{measure_count}项措施，{done_count}项已完成"


def measure_status(due_on: datetime.date | None, done_on: datetime.date | None, *, today: datetime.date) -> str:
    if done_on:
        return f"已完成（{done_on:%Y-%m-%d}）"
    if due_on and due_on < today:
        return "逾期未完成"
    return "未完成"


# ------------------------------------------------------------------------------------------------ the service


@transaction.atomic
def hardship_plan_save(
    *,
    household: Household,
    plan: HardshipPlan,
    measures: Sequence[HardshipMeasure],
    removed: Iterable[HardshipMeasure] = (),
    by: AbstractBaseUser,
) -> HardshipPlan:
    """Write the plan of ``household`` as edited on its page: all of it or nothing.

    ``plan``: the household's plan with the edits applied (a new, unsaved one when it has none);
    ``measures``: its new and changed measures, each with its ``order`` (its row on the page);
    ``removed``: the measures taken off the plan. Each carries the version the page was rendered
    with: ``StaleEditError`` when one of them changed since, ``PlanTakenError`` when the household's
    plan was created by someone else meanwhile; either way nothing is written.
    """
    if plan.household_id != household.pk:
        raise ValueError(f"plan {plan.pk} is not the plan of household {household.pk}")
    plan.updated_by = by
    try:
        with transaction.atomic():
            plan.save()
    except IntegrityError:  # the one plan per household was created by another user meanwhile
        raise PlanTakenError("该户的帮扶方案刚刚已由他人创建，请刷新后再修改") from None
    for measure in removed:
        measure.delete()
    for measure in measures:
        measure.plan = plan
        measure.save()
    return plan
