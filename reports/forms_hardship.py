"""一户一策: the plan form of one household in special hardship, its measures (an inline formset),
and ``hardship_plan_save``, the one function that writes them.

The plan and each measure carry the version the page was rendered with (``VersionedFormMixin``):
of two people who opened the page at once, the second to save is refused and nothing of his is
written. Every save of the page saves the plan, so its version is the page's: a page saved by
someone else in the meantime is stale as a whole."""

from __future__ import annotations

from django import forms
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.versioning import VersionedFormMixin
from households.models import HardshipMeasure, HardshipPlan

MAX_MEASURES = 30
EXTRA_MEASURES = 2  # empty rows to fill in; more appear after saving (no script needed on a phone)


def _date_input():
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


DATE_ERROR = {"invalid": "请输入正确的日期，如 2026-12-31"}


class HardshipPlanForm(VersionedFormMixin, forms.ModelForm):
    class Meta:
        model = HardshipPlan
        fields = ("situation", "goal", "responsible")
        widgets = {
            "situation": forms.Textarea(attrs={"rows": 3, "placeholder": "家庭困难的具体情况：收入、疾病、残疾、住房、就业等"}),
            "goal": forms.TextInput(attrs={"placeholder": "如：年底前落实低保、解决就业1人"}),
            "responsible": forms.TextInput(attrs={"placeholder": "姓名、单位"}),
        }
        error_messages = {
            "situation": {"required": "请填写困难情况"},
            "responsible": {"required": "请填写帮扶责任人"},
        }


class HardshipMeasureForm(VersionedFormMixin, forms.ModelForm):
    class Meta:
        model = HardshipMeasure
        fields = ("content", "unit", "due_on", "done_on")
        widgets = {
            "content": forms.TextInput(attrs={"placeholder": "如：协助申请临时救助"}),
            "due_on": _date_input(),
            "done_on": _date_input(),
        }
        error_messages = {
            "content": {"required": "请填写帮扶措施", "max_length": "帮扶措施不能超过300字"},
            "due_on": DATE_ERROR,
            "done_on": DATE_ERROR,
        }

    def clean_done_on(self):
        done_on = self.cleaned_data.get("done_on")
        if done_on and done_on > timezone.localdate():
            raise forms.ValidationError("完成日期不能晚于今天")
        return done_on


MeasureFormSet = forms.inlineformset_factory(
    HardshipPlan,
    HardshipMeasure,
    form=HardshipMeasureForm,
    extra=EXTRA_MEASURES,
    can_delete=True,
    max_num=MAX_MEASURES,
    validate_max=True,
    absolute_max=MAX_MEASURES,  # a forged TOTAL_FORMS builds no more rows than that (Django's default adds 1,000)
)


class PlanTakenError(Exception):
    """Someone else created this household's plan in the meantime."""


@transaction.atomic
def hardship_plan_save(*, form: HardshipPlanForm, formset, by) -> HardshipPlan:
    """Save a valid plan form and its valid measure formset; measures keep the order of the rows.

    Raises ``StaleEditError`` (and writes nothing) when the plan or a measure changed after the
    forms' version check."""
    plan = form.save(commit=False)
    plan.updated_by = by
    try:
        with transaction.atomic():
            plan.save()
    except IntegrityError:  # the one plan per household was created by another user meanwhile
        raise PlanTakenError("该户的帮扶方案刚刚已由他人创建，请刷新后再修改") from None
    formset.instance = plan
    for position, measure_form in enumerate(formset.forms):
        measure_form.instance.order = position
    formset.save()
    return plan
