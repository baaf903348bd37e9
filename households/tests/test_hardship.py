"""一户一策's rules (households/hardship.py): who is on the 特殊困难群体台账, the state of a plan, and
``hardship_plan_save``, the one writer of a plan. The page is tested in reports/tests/test_hardship.py."""

import datetime

import pytest
from django.db.models import F

from core.versioning import StaleEditError
from households.hardship import (
    PlanTakenError,
    hardship_households,
    hardship_plan_save,
    measure_status,
    plan_status,
    with_plan_status,
)
from households.models import FocusGroup, HardshipMeasure, HardshipPlan, Household

pytestmark = pytest.mark.django_db
D = datetime.date


def make_plan(household, *measures):
    plan = HardshipPlan.objects.create(household=household, situation="户主患慢性病，无固定收入", responsible="张书记")
    for order, (content, done_on) in enumerate(measures):
        HardshipMeasure.objects.create(plan=plan, content=content, done_on=done_on, order=order)
    return plan


def test_the_ledger_holds_the_tagged_the_planned_and_the_flagged_households_the_user_may_see(world):
    world.ha.tags.add(FocusGroup.objects.get(name="低保户"))
    make_plan(world.hc)
    flagged = Household.objects.filter(pk=world.hb.pk).values("pk")
    nobody = Household.objects.none().values("pk")

    assert set(hardship_households(world.admin, flagged=flagged)) == {world.ha, world.hb, world.hc}
    assert set(hardship_households(world.admin, flagged=nobody)) == {world.ha, world.hc}
    assert set(hardship_households(world.secretary, flagged=flagged)) == {world.ha, world.hb}  # not 南纬社区's hc
    assert set(hardship_households(world.worker_b, flagged=flagged)) == {world.hb}


def test_a_plan_shows_its_measures_and_how_many_are_done(world):
    make_plan(world.ha, ("协助申请医疗救助", D(2026, 6, 20)), ("推荐公益性岗位", None))
    rows = {h.pk: h for h in with_plan_status(Household.objects.all())}
    assert plan_status(rows[world.ha.pk].plan_id, rows[world.ha.pk].measure_count, rows[world.ha.pk].done_count) == (
        "2项措施，1项已完成"
    )
    assert (
        plan_status(rows[world.hb.pk].plan_id, rows[world.hb.pk].measure_count, rows[world.hb.pk].done_count)
        == "无方案"
    )
    today = D(2026, 7, 1)
    assert measure_status(D(2026, 6, 30), D(2026, 6, 20), today=today) == "已完成（2026-06-20）"
    assert measure_status(D(2026, 6, 30), None, today=today) == "逾期未完成"
    assert measure_status(D(2026, 7, 1), None, today=today) == "未完成"


def test_it_writes_a_new_plan_with_its_measures_in_the_order_given(world):
    plan = HardshipPlan(household=world.hb, situation="老人瘫痪在床", responsible="李委员")
    measures = [HardshipMeasure(content="申请护理补贴", order=0), HardshipMeasure(content="联系家庭医生", order=2)]
    saved = hardship_plan_save(household=world.hb, plan=plan, measures=measures, by=world.secretary)
    fresh = HardshipPlan.objects.get(household=world.hb)
    assert saved.pk == fresh.pk and fresh.updated_by == world.secretary
    assert [(m.content, m.order) for m in fresh.measures.all()] == [("申请护理补贴", 0), ("联系家庭医生", 2)]


def test_it_changes_and_removes_measures_of_an_existing_plan(world):
    plan = make_plan(world.ha, ("协助申请医疗救助", None), ("推荐公益性岗位", None))
    first, second = plan.measures.all()
    plan.goal = "落实低保"
    second.done_on = D(2026, 6, 1)
    hardship_plan_save(household=world.ha, plan=plan, measures=[second], removed=[first], by=world.admin)
    fresh = HardshipPlan.objects.get(pk=plan.pk)
    assert (fresh.goal, fresh.version, fresh.updated_by) == ("落实低保", 2, world.admin)
    assert [(m.content, m.done_on) for m in fresh.measures.all()] == [("推荐公益性岗位", D(2026, 6, 1))]


def test_a_measure_changed_meanwhile_refuses_the_whole_save(world):
    plan = make_plan(world.ha, ("协助申请医疗救助", None))
    measure = plan.measures.get()
    HardshipMeasure.objects.filter(pk=measure.pk).update(unit="区医保局", version=F("version") + 1)  # someone else
    plan.goal = "后来者"
    measure.unit = "区卫健局"
    extra = HardshipMeasure(content="送温暖慰问", order=1)
    with pytest.raises(StaleEditError):
        hardship_plan_save(household=world.ha, plan=plan, measures=[measure, extra], by=world.admin)
    fresh = HardshipPlan.objects.get(pk=plan.pk)
    assert (fresh.goal, fresh.version) == ("", 1)  # the plan's save is rolled back with the rest
    assert list(fresh.measures.values_list("content", "unit")) == [("协助申请医疗救助", "区医保局")]


def test_a_plan_created_by_someone_else_meanwhile_is_not_overwritten(world):
    make_plan(world.hb)
    late = HardshipPlan(household=world.hb, situation="子女下岗", responsible="王委员")
    with pytest.raises(PlanTakenError, match="刚刚已由他人创建"):
        hardship_plan_save(household=world.hb, plan=late, measures=[HardshipMeasure(content="x")], by=world.admin)
    assert list(HardshipPlan.objects.values_list("situation", flat=True)) == ["户主患慢性病，无固定收入"]
    assert not HardshipMeasure.objects.exists()


def test_the_plan_of_another_household_is_refused(world):
    plan = make_plan(world.ha)
    plan.goal = "别人的方案"
    with pytest.raises(ValueError):
        hardship_plan_save(household=world.hb, plan=plan, measures=[], by=world.admin)
    assert HardshipPlan.objects.get(pk=plan.pk).goal == ""
