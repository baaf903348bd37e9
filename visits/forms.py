"""Forms of the visit pages. They only parse input; the rules are ``visits.rules`` (called by
``visits.services``), the ledger's are ``issues.services``. Every form carries the ``key`` it was
opened with, so that a second submit of the same form saves nothing new."""

import datetime
import re
import uuid

from django import forms
from django.core.exceptions import ValidationError

from issues.deadlines import class_choices
from issues.domains import DOMAIN_LABELS
from issues.models import Category, Severity
from visitplan.rulebook import PRODUCT_DEFAULT

from .models import FOLLOW_UP_METHODS, Satisfaction, VisitMethod
from .questionnaire import questions as rulebook_questions


def _area(rows=2, placeholder=""):
    return forms.Textarea(attrs={"rows": rows, "placeholder": placeholder})


TIME_HINT = "24小时制，如 14:30（也可直接输入 1430）"
TIME_INVALID = "请按24小时制填写时间，如 14:30（小时 00–23，分钟 00–59）"
# What a phone keyboard gives for "14:30": the colon may be a full-width one, a dot, a space or
# missing (a numeric keypad has no colon). 上午/下午, AM/PM are refused: 24-hour time only.
_TIME_SEPARATORS = re.compile(r"[：:.。,，\s]+")
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::00)?")


def parse_24h_time(value) -> datetime.time | None:
    """ "14:30", "14：30", "14.30", "1430", "930" → a time; None for anything else (a 12-hour "2:30 PM" too)."""
    text = _TIME_SEPARATORS.sub(":", str(value).strip()).strip(":")
    if text.isdigit() and len(text) in (3, 4):
        text = f"{text[:-2]}:{text[-2:]}"
    m = _TIME.fullmatch(text)
    if not m or int(m[1]) > 23 or int(m[2]) > 59:
        return None
    return datetime.time(int(m[1]), int(m[2]))


class TimeText(forms.TimeInput):
    """A time typed as text, shown as HH:MM: a phone set to 12-hour time shows the native time
    picker's "02:00 PM" cut to "02:00" in a narrow field; a text field shows what is stored."""

    input_type = "text"

    def __init__(self, attrs=None):
        base = {"inputmode": "numeric", "pattern": "([01]?[0-9]|2[0-3]):[0-5][0-9]", "maxlength": "5",
                "placeholder": "时:分", "autocomplete": "off", "data-time": ""}  # fmt: skip
        super().__init__(attrs={**base, **(attrs or {})}, format="%H:%M")


class _SharedHintBoundField(forms.BoundField):
    """The two time fields share one hint (``time-hint``, set on the widget); a field in error is
    described by its own message too (``<id>_error``, as Django does for the other fields)."""

    def build_widget_attrs(self, attrs, widget=None):
        attrs = super().build_widget_attrs(attrs, widget)
        shared = (widget or self.field.widget).attrs.get("aria-describedby")
        if shared and self.errors and self.auto_id:
            attrs["aria-describedby"] = f"{shared} {self.auto_id}_error"
        return attrs


class TimeOfDayField(forms.TimeField):
    """A time of day in 24-hour form (parse_24h_time), with the error in Chinese."""

    widget = TimeText
    default_error_messages = {"invalid": TIME_INVALID}

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", TIME_HINT)
        super().__init__(**kwargs)

    def get_bound_field(self, form, field_name):
        return _SharedHintBoundField(form, self, field_name)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, datetime.time):
            return value
        parsed = parse_24h_time(value)
        if parsed is None:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return parsed


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
    """入户走访台账 row: method, when, the campaign's 入户必问 and checklist, the card, satisfaction,
    notes. The questions and the checklist are those of the campaign's rulebook (``rules``:
    ``visitplan.rulebook.rules_for(campaign)``; the product default when none is given)."""

    method = forms.ChoiceField(label="走访方式", choices=VisitMethod.choices, initial=VisitMethod.IN_PERSON,
                               widget=forms.RadioSelect)  # fmt: skip
    visited_on = forms.DateField(label="走访日期", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    # The hint under both (visit_form.html, id "time-hint") says they are 24-hour times.
    started_at = TimeOfDayField(label="开始时间", required=False, widget=TimeText({"aria-describedby": "time-hint"}))
    ended_at = TimeOfDayField(label="结束时间", required=False, widget=TimeText({"aria-describedby": "time-hint"}))
    short_reason = forms.CharField(label="时长不足30分钟的原因", required=False, max_length=200,
                                   widget=forms.TextInput(attrs={"placeholder": "如：居民有事外出，另约时间"}))  # fmt: skip
    companions = forms.CharField(label="同行人员", required=False, max_length=200,
                                 widget=forms.TextInput(attrs={"placeholder": "如：社区网格员 李敏"}))  # fmt: skip
    other_difficulties = forms.CharField(label="其他困难", required=False, widget=_area(2))
    suggestions = forms.CharField(label="意见建议", required=False, widget=_area(2))
    checklist = forms.MultipleChoiceField(
        label="三了解 · 四掌握 · 五到位", required=False, widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": "三了解 · 四掌握 · 五到位：没有“%(value)s”这一项，请刷新页面后重新勾选"},
    )  # fmt: skip
    card_given = forms.BooleanField(label="已发放亲情卡（连心卡）", required=False)
    satisfaction = forms.ChoiceField(label="群众满意度", required=False, choices=[("", "未评价")] + list(Satisfaction.choices),
                                     widget=forms.RadioSelect)  # fmt: skip
    notes = forms.CharField(label="民情日记", required=False, widget=_area(3, "走访见闻、家庭变化、需要跟进的事"))

    def __init__(self, *args, rules=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.rules = rules or PRODUCT_DEFAULT
        self.sheet = rulebook_questions(self.rules)
        self.fields["checklist"].choices = [
            (code, label) for _group, items in self.rules.checklist_groups() for code, label in items
        ]
        page = ["key", "method", "visited_on", "started_at", "ended_at", "short_reason", "companions"]
        for q in self.sheet:
            # The answer box is described by its question (the <p id="q-text-…"> above it); each
            # 需要帮助 box is named by its question, not nine times by the same two words.
            answer = _area(2, "居民的回答；没有困难可填“无”")
            answer.attrs["aria-describedby"] = f"q-text-{q.code}"
            self.fields[f"q_{q.code}"] = forms.CharField(label=q.label, required=False, max_length=1000, widget=answer)
            self.fields[f"h_{q.code}"] = forms.BooleanField(
                label="需要帮助", required=False,
                widget=forms.CheckboxInput(attrs={"aria-label": f"{q.label}：需要帮助"}),
            )  # fmt: skip
            page += [f"q_{q.code}", f"h_{q.code}"]
            if len(q.domains) > 1:
                # A question of several domains: the cadre says which one its 需要帮助 is filed under.
                self.fields[f"d_{q.code}"] = forms.ChoiceField(
                    label="诉求类别", required=False, initial=q.domains[0],
                    choices=[(d, DOMAIN_LABELS[d]) for d in q.domains],
                    error_messages={"invalid_choice": f"诉求类别须为{'或'.join(DOMAIN_LABELS[d] for d in q.domains)}"},
                )  # fmt: skip
                self.fields[f"d_{q.code}"].summary_label = f"{q.label} 诉求类别"
                page.append(f"d_{q.code}")
        # The order of the page (the questions come before 其他困难): the error summary follows it.
        self.order_fields(page)

    def time_fields(self):
        return [self["started_at"], self["ended_at"]]

    def questions(self):
        """Per question, for the template: the question, its answer and 需要帮助 fields, and the
        choice of domain of a question that has several (else None)."""
        return [
            {"q": q, "answer": self[f"q_{q.code}"], "help": self[f"h_{q.code}"],
             "domain": self[f"d_{q.code}"] if f"d_{q.code}" in self.fields else None}
            for q in self.sheet
        ]  # fmt: skip

    def checklist_groups(self):
        """(group, [(code, label, ticked, input id)]): the ids number the boxes as Django's widget would."""
        chosen = set(self["checklist"].value() or [])
        ids = iter(f"{self['checklist'].auto_id}_{i}" for i in range(len(self.fields["checklist"].choices)))
        return [
            (group, [(code, label, code in chosen, next(ids)) for code, label in items])
            for group, items in self.rules.checklist_groups()
        ]

    def _category(self, q):
        return q.category_for(self.cleaned_data.get(f"d_{q.code}"))

    def answers(self):
        data = self.cleaned_data
        answers = {}
        for q in self.sheet:
            item = {"answer": data.get(f"q_{q.code}", ""), "needs_help": data.get(f"h_{q.code}", False)}
            if len(q.domains) > 1:
                item["domain"] = self._category(q)
            answers[q.code] = item
        return answers

    def help_issues(self, raised=()):
        """The issues the questions ticked 需要帮助 file (after ``is_valid``): one per question, under
        its domain (the chosen one of several; 其他 for an open question), its answer as the text —
        except where the cadre has registered a request of that category among ``raised`` (the
        居民诉求 rows) already. A tick without an answer (and no such row) is an error on the answer."""
        if self.cleaned_data.get("method") == VisitMethod.NOT_HOME:
            return []  # 未遇: nothing was asked
        taken = {item.get("category") for item in raised}
        issues = []
        for q in self.sheet:
            if not self.cleaned_data.get(f"h_{q.code}"):
                continue
            category = self._category(q)
            if category in taken:
                continue
            text = (self.cleaned_data.get(f"q_{q.code}") or "").strip()
            if not text:
                label = dict(Category.choices).get(category, category)
                self.add_error(
                    f"q_{q.code}",
                    f"勾选了“需要帮助”，请写明需要帮助解决的困难（或在下方“居民诉求”中登记一条{label}诉求）",
                )
                continue
            issues.append({"text": text, "category": category, "severity": Severity.GENERAL, "answer_on_the_spot": ""})
        return issues

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
            "answers": self.answers(),
            "other_difficulties": data.get("other_difficulties", ""),
            "suggestions": data.get("suggestions", ""),
            "checklist": data.get("checklist", []),
            "card_given": data.get("card_given", False),
            "satisfaction": data.get("satisfaction", ""),
            "notes": data.get("notes", ""),
        }


def visit_issues(form, formset, *, files_help=True):
    """What a visit files in the ledger (a valid form and formset): the 居民诉求 rows, then one for
    each question ticked 需要帮助 that no row of its category covers (``VisitForm.help_issues``;
    it may add errors to the form — check ``form.errors`` before saving). ``files_help`` False (a
    user who may not register issues): the ticks stay on the answers only."""
    raised = raised_issues(formset)
    return raised + form.help_issues(raised) if files_help else raised


def _field_target(bound_field) -> str:
    """The id of the input an error link goes to: the first choice of a list of radios or boxes."""
    if bound_field.is_hidden:
        return ""
    widget = bound_field.field.widget
    if isinstance(widget, forms.RadioSelect | forms.CheckboxSelectMultiple):
        return f"{bound_field.auto_id}_0"
    return bound_field.auto_id or ""


def _form_errors(form, prefix=""):
    items = [{"label": prefix.rstrip(" ·"), "message": m, "target": ""} for m in form.non_field_errors()]
    for name in form.fields:  # the order of the page, whatever the order the errors were added in
        bound = form[name]
        label = "表单" if bound.is_hidden else f"{prefix}{getattr(bound.field, 'summary_label', bound.label)}"
        items += [{"label": label, "message": m, "target": _field_target(bound)} for m in bound.errors]
    return items


def error_summary(form, formset=None) -> list[dict]:
    """Every error of a visit or follow-up form and of its issue rows, in the order of the page,
    for the box at its top: each {"label", "message", "target"} (target: the id of the field to go
    to, "" for an error of the whole form)."""
    items = _form_errors(form)
    if formset is not None and formset.is_bound:
        items += [{"label": "居民诉求", "message": m, "target": ""} for m in formset.non_form_errors()]
        number = 0
        for row in formset.forms:
            if formset.can_delete and formset._should_delete_form(row):
                continue
            number += 1
            items += _form_errors(row, prefix=f"诉求{number} · ")
    return items


class RaisedIssueForm(forms.Form):
    """One request raised during a visit or a follow-up; it goes into the ledger as it is."""

    text = forms.CharField(
        label="诉求内容", max_length=2000, widget=_area(2, "居民反映的问题或需求，尽量写清地点、人、事")
    )
    category = forms.ChoiceField(label="类别", choices=[("", "请选择")] + list(Category.choices))
    # Choices: the classes of the rulebook the issue will follow (``rules``), with their days to close.
    severity = forms.ChoiceField(label="等级", initial=Severity.GENERAL)
    on_the_spot = forms.BooleanField(label="现场答复 / 即知即办（直接销号）", required=False)
    answer = forms.CharField(
        label="答复内容", required=False, max_length=2000, widget=_area(2, "当场如何答复、办理了什么")
    )

    def __init__(self, *args, rules=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["severity"].choices = class_choices(rules)

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
            for name in ("solved", "sat", "note"):  # the error summary names the issue each belongs to
                field = self.fields[f"{name}_{f.pk}"]
                field.summary_label = f"诉求#{f.issue_id} {field.label}"

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
