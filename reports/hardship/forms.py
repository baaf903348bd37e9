"""The 一户一策 plan form and its measures (an inline formset): they parse the page.

The plan and each measure carry the version the page was rendered with (``VersionedFormMixin``);
``households.hardship.hardship_plan_save`` writes what they parsed.
"""

from __future__ import annotations

from django import forms
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
            "situation": forms.Textarea(
                attrs={"rows": 3, "placeholder": "家庭困难的具体情况：收入、疾病、残疾、住房、就业等"}
            ),
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


class BaseMeasureFormSet(forms.BaseInlineFormSet):
    def edits(self) -> tuple[list[HardshipMeasure], list[HardshipMeasure]]:
        """(new and changed measures, removed measures) of a valid formset, nothing saved; each
        measure's ``order`` is its row on the page, so the measures keep the order of the rows."""
        for position, form in enumerate(self.forms):
            form.instance.order = position
        measures = self.save(commit=False)
        return measures, list(self.deleted_objects)


MeasureFormSet = forms.inlineformset_factory(
    HardshipPlan,
    HardshipMeasure,
    form=HardshipMeasureForm,
    formset=BaseMeasureFormSet,
    extra=EXTRA_MEASURES,
    can_delete=True,
    max_num=MAX_MEASURES,
    validate_max=True,
    absolute_max=MAX_MEASURES,  # a forged TOTAL_FORMS builds no more rows than that (Django's default adds 1,000)
)
