"""Forms of the visit pages. They only parse input; the rules are ``visits.rules`` (called by
``visits.services``), the ledger's are ``issues.services``. Every form carries the ``key`` it was
opened with, so that a second submit of the same form saves nothing new."""

import uuid

from django import forms
from django.core.exceptions import ValidationError

from issues.domains import SERVICE_DOMAINS
from issues.models import Category, Severity

from .models import FOLLOW_UP_METHODS, Satisfaction, VisitMethod
from .questionnaire import CHECKLIST, QUESTIONS


def _area(rows=2, placeholder=""):
    return forms.Textarea(attrs={"rows": rows, "placeholder": placeholder})


class KeyedForm(forms.Form):
    key = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("key", uuid.uuid4())

    def add_service_errors(self, exc: ValidationError):
        """A ValidationError of a service: its fields onto this form's fields, the rest on top."""
        for name, messages in exc.message_dict.items():
            for message in messages:
                self.add_error(name if name in self.fields else None, message)


class VisitForm(KeyedForm):
    """入户走访台账 row: method, when, the nine questions, the checklist, the card, satisfaction, notes."""

    method = forms.ChoiceField(label="走访方式", choices=VisitMethod.choices, initial=VisitMethod.IN_PERSON,
                               widget=forms.RadioSelect)  # fmt: skip
    visited_on = forms.DateField(label="走访日期", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    started_at = forms.TimeField(
        label="开始时间", required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    ended_at = forms.TimeField(
        label="结束时间", required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    short_reason = forms.CharField(label="时长不足30分钟的原因", required=False, max_length=200,
                                   widget=forms.TextInput(attrs={"placeholder": "如：居民有事外出，另约时间"}))  # fmt: skip
    companions = forms.CharField(label="同行人员", required=False, max_length=200,
                                 widget=forms.TextInput(attrs={"placeholder": "如：社区网格员 李敏"}))  # fmt: skip
    other_difficulties = forms.CharField(label="其他困难", required=False, widget=_area(2))
    suggestions = forms.CharField(label="意见建议", required=False, widget=_area(2))
    checklist = forms.MultipleChoiceField(
        label="三了解 · 四掌握 · 五到位",
        required=False,
        choices=[(code, label) for _group, items in CHECKLIST for code, label in items],
        widget=forms.CheckboxSelectMultiple,
    )
    card_given = forms.BooleanField(label="已发放亲情卡（连心卡）", required=False)
    satisfaction = forms.ChoiceField(label="群众满意度", required=False, choices=[("", "未评价")] + list(Satisfaction.choices),
                                     widget=forms.RadioSelect)  # fmt: skip
    notes = forms.CharField(label="民情日记", required=False, widget=_area(3, "走访见闻、家庭变化、需要跟进的事"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for code, label in SERVICE_DOMAINS:
            self.fields[f"q_{code}"] = forms.CharField(label=label, required=False, max_length=1000,
                                                       widget=_area(2, "居民的回答；没有困难可填“无”"))  # fmt: skip
            self.fields[f"h_{code}"] = forms.BooleanField(label="需要帮助", required=False)

    def questions(self):
        """(code, label, question, answer field, needs-help field) for the template."""
        return [(code, label, QUESTIONS[code], self[f"q_{code}"], self[f"h_{code}"]) for code, label in SERVICE_DOMAINS]

    def checklist_groups(self):
        chosen = set(self["checklist"].value() or [])
        return [(group, [(code, label, code in chosen) for code, label in items]) for group, items in CHECKLIST]

    def service_kwargs(self):
        data = self.cleaned_data
        return {
            "key": data["key"],
            "method": data["method"],
            "visited_on": data["visited_on"],
            "started_at": data.get("started_at"),
            "ended_at": data.get("ended_at"),
            "short_reason": data.get("short_reason", ""),
            "companions": data.get("companions", ""),
            "answers": {
                code: {"answer": data.get(f"q_{code}", ""), "needs_help": data.get(f"h_{code}", False)}
                for code, _label in SERVICE_DOMAINS
            },
            "other_difficulties": data.get("other_difficulties", ""),
            "suggestions": data.get("suggestions", ""),
            "checklist": data.get("checklist", []),
            "card_given": data.get("card_given", False),
            "satisfaction": data.get("satisfaction", ""),
            "notes": data.get("notes", ""),
        }


class RaisedIssueForm(forms.Form):
    """One request raised during a visit or a follow-up; it goes into the ledger as it is."""

    text = forms.CharField(
        label="诉求内容", max_length=2000, widget=_area(2, "居民反映的问题或需求，尽量写清地点、人、事")
    )
    category = forms.ChoiceField(label="类别", choices=[("", "请选择")] + list(Category.choices))
    severity = forms.ChoiceField(label="等级", choices=Severity.choices, initial=Severity.GENERAL)
    on_the_spot = forms.BooleanField(label="现场答复 / 即知即办（直接销号）", required=False)
    answer = forms.CharField(
        label="答复内容", required=False, max_length=2000, widget=_area(2, "当场如何答复、办理了什么")
    )

    def clean(self):
        data = super().clean()
        if data.get("on_the_spot") and not (data.get("answer") or "").strip():
            self.add_error("answer", "现场答复需填写答复内容")
        return data

    def as_issue(self):
        data = self.cleaned_data
        return {
            "text": data["text"],
            "category": data["category"],
            "severity": data["severity"],
            "answer_on_the_spot": data["answer"] if data.get("on_the_spot") else "",
        }


MAX_RAISED_ISSUES = 10
# absolute_max: a forged TOTAL_FORMS builds no more rows than that (Django's default adds 1,000 to max_num).
RaisedIssueFormSet = forms.formset_factory(RaisedIssueForm, extra=0, max_num=MAX_RAISED_ISSUES, validate_max=True,
                                           absolute_max=MAX_RAISED_ISSUES, can_delete=True)  # fmt: skip


def raised_issues(formset):
    """The issues of a valid formset, rows marked deleted or left empty skipped."""
    return [f.as_issue() for f in formset.forms if f.has_changed() and not f.cleaned_data.get("DELETE")]


class FollowUpForm(KeyedForm):
    """回头看: how the resident was reached, then per due issue: solved or not, satisfaction, a note."""

    method = forms.ChoiceField(
        label="回访方式", choices=FOLLOW_UP_METHODS, initial=VisitMethod.PHONE, widget=forms.RadioSelect
    )
    visited_on = forms.DateField(label="回访日期", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    notes = forms.CharField(label="回访情况记录", required=False, widget=_area(2))

    SOLVED_CHOICES = [("yes", "已解决"), ("no", "未解决")]

    def __init__(self, *args, followups=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.followups = list(followups)
        for f in self.followups:
            self.fields[f"solved_{f.pk}"] = forms.ChoiceField(label="问题是否解决", required=False, choices=self.SOLVED_CHOICES,
                                                              widget=forms.RadioSelect)  # fmt: skip
            self.fields[f"sat_{f.pk}"] = forms.ChoiceField(label="居民满意度", required=False, choices=Satisfaction.choices,
                                                           widget=forms.RadioSelect)  # fmt: skip
            self.fields[f"note_{f.pk}"] = forms.CharField(label="说明", required=False, max_length=1000,
                                                          widget=_area(1, "居民怎么说"))  # fmt: skip

    def items(self):
        return [(f, self[f"solved_{f.pk}"], self[f"sat_{f.pk}"], self[f"note_{f.pk}"]) for f in self.followups]

    def clean(self):
        data = super().clean()
        for f in self.followups:
            if data.get(f"solved_{f.pk}") and not data.get(f"sat_{f.pk}"):
                self.add_error(f"sat_{f.pk}", "请选择居民满意度")
        return data

    def service_kwargs(self):
        data = self.cleaned_data
        results = []
        for f in self.followups:
            solved = data.get(f"solved_{f.pk}")
            results.append({
                "followup": f.pk,
                "solved": None if not solved else solved == "yes",
                "satisfaction": data.get(f"sat_{f.pk}", ""),
                "note": data.get(f"note_{f.pk}", ""),
            })  # fmt: skip
        return {"key": data["key"], "method": data["method"], "visited_on": data["visited_on"],
                "notes": data.get("notes", ""), "results": results}  # fmt: skip
