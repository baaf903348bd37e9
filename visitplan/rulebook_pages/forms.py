"""The rulebook's edit forms: one form per section of ``rulebook.SECTIONS``, each rule with a widget
that fits it, and the save that carries the campaign's version.

- numbers: number inputs with their bounds; 走访期间 / 包户走访周期 / 诉求审核: selects;
- the visit methods, tiers, finding kinds and 亲情卡 fields: checkbox lists of the rulebook's
  vocabularies; the focus groups: checkboxes of the register's ``FocusGroup`` vocabulary;
- the issue classes: a name and working days for each of the three (their codes are the issues'
  severities and stay fixed);
- 入户必问: one row per question (text and the service domains it asks about), the domains being
  the ledger's (``settings.RULEBOOK_DOMAINS``: the planning app may not import the ledger);
- 三了解 / 四掌握 / 五到位: one row per item (its group and its words); each item keeps the code
  visits store, a new one gets a new code;
- 监督电话: ``households.validators.validate_phone``.

Every message names the field. A section that would change a rule from a page rendered before
someone else saved the campaign is refused with the project's message (``core.versioning``), here
and again under the row lock when it is written (``save_rules``).
"""

from __future__ import annotations

import re

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction
from django.forms.formsets import BaseFormSet, formset_factory

from core.scope import scope_of
from core.versioning import GONE_EDIT_MESSAGE, STALE_EDIT_MESSAGE, SeenVersionField, StaleEditError, current_version
from households.models import FocusGroup
from households.roles import STREET_ADMIN
from households.validators import normalize_phone, validate_phone

from ..models import Campaign, Tier
from ..rulebook import (
    CARD_FIELDS,
    FINDINGS,
    LABELS,
    METHODS,
    PERIODS,
    REVIEWERS,
    SECTIONS,
    WINDOWS,
    service_domains,
    update_rules,
)

# ------------------------------------------------------------------------------------------ who may edit

EDIT_PERMISSION = "visitplan.change_campaign"


def may_edit_rules(user, campaign=None) -> bool:
    """The street admin (or a superuser) of the campaign's whole street; without ``campaign``:
    whether the user is someone who may edit rulebooks at all."""
    if not (user.is_authenticated and user.is_active):
        return False
    if not (user.is_superuser or STREET_ADMIN in scope_of(user).roles) or not user.has_perm(EDIT_PERMISSION):
        return False
    if campaign is None:
        return True
    paths = scope_of(user).paths
    if paths is None:
        return True
    street = campaign.street.path
    return any(street == p or street.startswith(p + ".") for p in paths)


# ------------------------------------------------------------------------------------------ the sections

# Each section of the rulebook's page is one form; its key names it in the page (anchors, POST).
_KEYS = {
    "走访期间与方式": "visits",
    "走访任务": "targets",
    "重点走访对象": "focus",
    "问题整改": "issues",
    "督导考核（千分制）": "scoring",
    "走访内容与亲情卡": "content",
}
SECTION_KEYS = {title: _KEYS.get(title, f"s{i}") for i, (title, _items) in enumerate(SECTIONS, 1)}

NUMBERS = {  # rule → (lowest, highest)
    "min_visit_minutes": (0, 480),
    "takeover_grace_days": (0, 365),
    "weekly_days": (1, 31),
    "leader_days_per_month": (0, 31),
    "leader_households_per_month": (0, 5000),
    "street_staff_share": (0, 100),
    "plan_days": (1, 60),
    "full_score": (1, 10000),
    "points_per_finding": (0, 1000),
    "interview_at": (1, 1000),
}
SELECTS = {"window": WINDOWS, "link_period": PERIODS, "review_by": REVIEWERS}
METHOD_LISTS = ("counted_methods", "away_only_methods", "timed_methods", "weekly_methods", "leader_methods")
TIER_LISTS = ("weekly_tiers", "interview_tiers")
KIND_LISTS = ("deduct_kinds", "interview_kinds")
GROUP_LISTS = ("away_groups", "weekly_groups", "leader_groups", "staff_groups")
# Lists that may not be left empty (the rule would then never be met).
NOT_EMPTY = {"counted_methods", "weekly_methods", "leader_methods", "interview_tiers", "card_fields"}
UNORDERED = {*METHOD_LISTS, *TIER_LISTS, *KIND_LISTS, *GROUP_LISTS, "card_fields"}

HELP = {
    "away_only_methods": "只对标记为“长期在外”的户计入任务的方式（不在“计入走访任务的方式”中的不计）",
    "away_groups": "带这些重点人群标记的户算作长期在外户",
    "min_visit_minutes": "不足此时长的走访须说明原因；0 表示不要求",
    "timed_methods": "对这些方式要求走访时长",
    "takeover_grace_days": "干部接手的户，在此天数内未走访不算未达标",
    "weekly_groups": "不选则不设每周走访任务",
    "street_staff_share": "百分比，0–100",
    "interview_at": "同一社区督查发现达到此数即列入约谈",
}

# The three issue classes: their codes are the ledger's severities.
CLASS_SLOTS = {"general": "第一类问题", "major": "第二类问题", "grave": "第三类问题"}
CLASS_HINTS = {"general": "登记为“一般”的诉求", "major": "登记为“较大”的诉求", "grave": "登记为“特别重大”的诉求"}

MAX_QUESTIONS = 30
MAX_ITEMS = 30
CODE_RE = re.compile(r"^[A-Za-z0-9_]{1,32}$")


def _esc(text: str) -> str:
    """``text`` in a message that Django formats with its parameters (a literal % doubled)."""
    return text.replace("%", "%%")


def _label(name: str) -> str:
    return LABELS.get(name, name)


def focus_group_names(*current) -> list[str]:
    """The register's focus groups in their order, then any name a rule holds that it does not know."""
    names = list(FocusGroup.objects.order_by("order", "id").values_list("name", flat=True))
    for values in current:
        names += [n for n in values if n not in names]
    return names


def _number(name):
    low, high = NUMBERS.get(name, (0, 100_000))
    label = _label(name)
    return forms.IntegerField(
        label=label,
        min_value=low,
        max_value=high,
        help_text=HELP.get(name, ""),
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        error_messages={
            "required": f"请填写“{label}”",
            "invalid": f"“{label}”须填写整数",
            "min_value": _esc(f"“{label}”不能小于 {low}"),
            "max_value": _esc(f"“{label}”不能大于 {high}"),
        },
    )


def _select(name, choices):
    label = _label(name)
    return forms.ChoiceField(
        label=label,
        choices=list(choices.items()),
        help_text=HELP.get(name, ""),
        error_messages={"required": f"请选择“{label}”", "invalid_choice": _esc(f"“{label}”的选项无效，请从列表中选择")},
    )


def _checks(name, choices, *, coerce=str):
    label = _label(name)
    return forms.TypedMultipleChoiceField(
        label=label,
        choices=choices,
        coerce=coerce,
        required=name in NOT_EMPTY,
        help_text=HELP.get(name, ""),
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": f"“{label}”至少选择一项",
            "invalid_choice": _esc(f"“{label}”中有无效的选项，请从列表中选择"),
            "invalid_list": f"“{label}”的格式无效",
        },
    )


def rule_field(name, value, groups):
    """The form field of rule ``name`` (``value``: its current value; ``groups``: the focus groups offered)."""
    if name in NUMBERS:
        return _number(name)
    if name in SELECTS:
        return _select(name, SELECTS[name])
    if name in METHOD_LISTS:
        return _checks(name, list(METHODS.items()))
    if name in TIER_LISTS:
        return _checks(name, Tier.choices, coerce=int)
    if name in KIND_LISTS:
        return _checks(name, list(FINDINGS.items()))
    if name == "card_fields":
        return _checks(name, list(CARD_FIELDS.items()))
    if name in GROUP_LISTS:
        return _checks(name, [(g, g) for g in groups])
    if isinstance(value, bool):  # secretary_sweep, pace_targets …
        return forms.BooleanField(label=_label(name), required=False, help_text=HELP.get(name, ""))
    if name == "supervision_phone":
        label = _label(name)
        return forms.CharField(
            label=label,
            required=False,
            max_length=20,
            help_text="印在亲情卡上的监督电话（手机号或带区号的固定电话）；留空则用本系统设置的监督电话",
            widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
            error_messages={"max_length": _esc(f"“{label}”不能超过 %(limit_value)d 个字符")},
        )
    if isinstance(value, int):  # a number the rulebook gained later: a count up to 100,000
        return _number(name)
    raise ValueError(f"没有规则“{name}”的表单项")


# ------------------------------------------------------------------------------------------ the row forms


class _RowFormSet(BaseFormSet):
    default_error_messages = {
        "missing_management_form": "表单数据不完整，请刷新本页后重新填写",
        "too_many_forms": "最多 %(num)d 行",
    }
    empty_message = ""

    def filled(self) -> list[dict]:
        return [f.cleaned_data for f in self.forms if f.cleaned_data.get(self.key_field)]

    def clean(self):
        if any(self.errors):
            return
        if not self.filled():
            raise ValidationError(self.empty_message, code="empty")


def _with_codes(rows: list[dict], prefix: str) -> list[str]:
    """The code of each row: its own when it is well formed and not taken by an earlier row,
    else a new one (``<prefix><n>``, the first n free)."""
    taken, codes = set(), []
    for row in rows:
        code = (row.get("code") or "").strip()
        codes.append(code if CODE_RE.match(code) and code not in taken else "")
        taken.add(codes[-1])
    n = 0
    for i, code in enumerate(codes):
        if not code:
            while f"{prefix}{n + 1}" in taken:
                n += 1
            n += 1
            codes[i] = f"{prefix}{n}"
            taken.add(codes[i])
    return codes


class QuestionForm(forms.Form):
    code = forms.CharField(required=False, widget=forms.HiddenInput)
    text = forms.CharField(
        label="问题",
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"max_length": "“问题”不能超过 %(limit_value)d 个字"},
    )
    domains = forms.MultipleChoiceField(
        label="对应的民生事项",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "invalid_choice": "“对应的民生事项”中有无效的选项",
            "invalid_list": "“对应的民生事项”的格式无效",
        },
    )

    def __init__(self, *args, domains=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["domains"].choices = list(domains)

    def clean(self):
        data = super().clean()
        if data.get("domains") and not (data.get("text") or "").strip():
            self.add_error("text", "请填写“问题”的内容，或取消所选的民生事项")
        return data


class _QuestionFormSet(_RowFormSet):
    key_field = "text"
    empty_message = "“入户必问”至少保留一个问题"
    default_error_messages = {**_RowFormSet.default_error_messages, "too_many_forms": "“入户必问”最多 %(num)d 个问题"}

    def values(self, order) -> list[dict]:
        rows = self.filled()
        codes = _with_codes(rows, "q")
        return [
            {"code": code, "text": row["text"].strip(), "domains": [c for c in order if c in row["domains"]]}
            for code, row in zip(codes, rows, strict=True)
        ]


QuestionFormSet = formset_factory(
    QuestionForm,
    formset=_QuestionFormSet,
    extra=2,
    max_num=MAX_QUESTIONS,
    validate_max=True,
    absolute_max=MAX_QUESTIONS + 2,
)


class ChecklistItemForm(forms.Form):
    code = forms.CharField(required=False, widget=forms.HiddenInput)
    group = forms.CharField(
        label="分组",
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"placeholder": "如：三了解"}),
        error_messages={"max_length": "“分组”不能超过 %(limit_value)d 个字"},
    )
    label = forms.CharField(
        label="内容",
        required=False,
        max_length=40,
        widget=forms.TextInput(attrs={"placeholder": "如：了解家庭成员"}),
        error_messages={"max_length": "“内容”不能超过 %(limit_value)d 个字"},
    )

    def clean(self):
        data = super().clean()
        if (data.get("label") or "").strip() and not (data.get("group") or "").strip():
            self.add_error("group", "请填写“分组”，如“三了解”")
        return data


class _ChecklistFormSet(_RowFormSet):
    key_field = "label"
    empty_message = "“三了解、四掌握、五到位”至少保留一项"
    default_error_messages = {
        **_RowFormSet.default_error_messages,
        "too_many_forms": "“三了解、四掌握、五到位”最多 %(num)d 项",
    }

    def values(self) -> list:
        rows = self.filled()
        codes = _with_codes(rows, "item")
        groups: dict[str, list] = {}
        for code, row in zip(codes, rows, strict=True):
            groups.setdefault(row["group"].strip(), []).append([code, row["label"].strip()])
        return [[group, items] for group, items in groups.items()]


ChecklistFormSet = formset_factory(
    ChecklistItemForm,
    formset=_ChecklistFormSet,
    extra=3,
    max_num=MAX_ITEMS,
    validate_max=True,
    absolute_max=MAX_ITEMS + 3,
)


# ------------------------------------------------------------------------------------------ a section


class SectionForm(forms.Form):
    """The rules of one section of the rulebook (``names``), for ``campaign`` whose rules are ``rules``."""

    section = forms.CharField(widget=forms.HiddenInput)
    seen_version = SeenVersionField()

    def __init__(self, data=None, *, key, title, names, campaign, rules, groups, domains):
        super().__init__(data, auto_id=f"id_{key}_%s")
        self.key, self.title, self.names, self.campaign, self.rules = key, title, names, campaign, rules
        self.domains = domains
        self.initial.update(section=key, seen_version=campaign.version)
        for name in names:
            value = getattr(rules, name)
            if name == "classes":
                for c in rules.class_list():
                    slot = CLASS_SLOTS.get(c["code"], c["code"])
                    self.fields[f"class_{c['code']}_label"] = forms.CharField(
                        label="名称",
                        max_length=30,
                        error_messages={"required": f"请填写{slot}的名称",
                                        "max_length": f"{slot}的名称不能超过 %(limit_value)d 个字"},
                    )  # fmt: skip
                    self.fields[f"class_{c['code']}_days"] = forms.IntegerField(
                        label="办结时限（工作日）",
                        min_value=1,
                        max_value=365,
                        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
                        error_messages={"required": f"请填写{slot}的办结时限", "invalid": f"{slot}的办结时限须填写整数",
                                        "min_value": f"{slot}的办结时限不能小于 1 个工作日",
                                        "max_value": f"{slot}的办结时限不能大于 365 个工作日"},
                    )  # fmt: skip
                    self.initial[f"class_{c['code']}_label"] = c["label"]
                    self.initial[f"class_{c['code']}_days"] = c["days"]
            elif name not in ("questions", "checklist"):
                self.fields[name] = rule_field(name, value, groups)
                self.initial[name] = list(value) if isinstance(value, tuple) else value
        self.questions = self.checklist = None
        if "questions" in names:
            initial = [{"code": q.get("code", ""), "text": q.get("text", ""), "domains": list(q.get("domains", []))}
                       for q in rules.question_list()]  # fmt: skip
            self.questions = QuestionFormSet(
                data, prefix="questions", initial=initial, form_kwargs={"domains": domains}, auto_id="id_%s"
            )
        if "checklist" in names:
            initial = [{"code": code, "group": group, "label": label}
                       for group, items in rules.checklist_groups() for code, label in items]  # fmt: skip
            self.checklist = ChecklistFormSet(data, prefix="checklist", initial=initial, auto_id="id_%s")
        self._changes = None

    # -- reading

    @property
    def formsets(self):
        return [fs for fs in (self.questions, self.checklist) if fs is not None]

    def class_rows(self):
        """(slot, hint, name field, days field) of each issue class, for the page."""
        return [
            (CLASS_SLOTS.get(c["code"], c["code"]), CLASS_HINTS.get(c["code"], ""),
             self[f"class_{c['code']}_label"], self[f"class_{c['code']}_days"])
            for c in self.rules.class_list()
        ]  # fmt: skip

    def rule_fields(self):
        """(rule, bound field) of the plain rules, in the section's order."""
        return [(name, self[name]) for name in self.names if name in self.fields]

    def clean_supervision_phone(self):
        value = (self.cleaned_data.get("supervision_phone") or "").strip()
        if not value:
            return ""
        try:
            validate_phone(value)
        except ValidationError as exc:
            reason = exc.messages[0].removeprefix("联系电话")
            raise ValidationError(f"“{_label('supervision_phone')}”{reason}", code="invalid_phone") from exc
        return normalize_phone(value)

    def clean(self):
        data = super().clean()
        if "weekly_tiers" in self.fields and data.get("weekly_groups") and not data.get("weekly_tiers"):
            self.add_error("weekly_tiers", f"已选“{_label('weekly_groups')}”，请选择“{_label('weekly_tiers')}”")
        if "away_only_methods" in self.fields and "counted_methods" in data and "away_only_methods" in data:
            extra = [m for m in data["away_only_methods"] if m not in data["counted_methods"]]
            if extra:
                names = "、".join(METHODS[m] for m in extra)
                self.add_error(
                    "away_only_methods",
                    f"“{_label('away_only_methods')}”中的{names}不在“{_label('counted_methods')}”中",
                )
        return data

    def is_valid(self):
        valid = super().is_valid()
        valid = all([fs.is_valid() for fs in self.formsets]) and valid
        if not valid:
            return False
        self._changes = self._compute_changes()
        if self._changes:
            current = current_version(self.campaign)
            if current is None:
                self.add_error(None, ValidationError(GONE_EDIT_MESSAGE, code="gone"))
                return False
            if self.cleaned_data.get("seen_version") != current:
                self.add_error(None, ValidationError(STALE_EDIT_MESSAGE, code="stale"))
                return False
        return True

    # -- what changes

    def values(self) -> dict:
        """Each rule of the section as the form has it (``update_rules``' values)."""
        data, out = self.cleaned_data, {}
        for name in self.names:
            if name == "classes":
                out[name] = [{"code": c["code"], "label": data[f"class_{c['code']}_label"].strip(),
                              "days": data[f"class_{c['code']}_days"]} for c in self.rules.class_list()]  # fmt: skip
            elif name == "questions":
                out[name] = self.questions.values([code for code, _label in self.domains])
            elif name == "checklist":
                out[name] = self.checklist.values()
            elif name in UNORDERED:
                order = [value for value, _label in self.fields[name].choices]
                chosen = set(data[name])
                out[name] = [v for v in order if v in chosen]
            else:
                out[name] = data[name]
        return out

    def _compute_changes(self) -> dict:
        rules, changes = self.rules, {}
        for name, value in self.values().items():
            if name in UNORDERED:
                same = set(value) == set(getattr(rules, name))
            elif name == "classes":
                same = _classes(value) == _classes(rules.class_list())
            elif name == "questions":
                same = _questions(value) == _questions(rules.question_list())
            elif name == "checklist":
                same = _checklist(value) == _checklist(rules.checklist_groups())
            else:
                same = value == getattr(rules, name)
            if not same:
                changes[name] = value
        return changes

    def changes(self) -> dict:
        """{rule: new value} of the rules this section changes (after ``is_valid``)."""
        if self._changes is None:
            raise ValueError("changes() needs a valid form")
        return self._changes

    @property
    def has_errors(self) -> bool:
        return bool(self.errors) or any(fs.total_error_count() for fs in self.formsets)

    @property
    def seen(self):
        return self.cleaned_data.get("seen_version")


def _classes(items):
    return [(c["code"], c["label"], c["days"]) for c in items]


def _questions(items):
    return [(q.get("code", ""), q.get("text", ""), tuple(sorted(q.get("domains", ())))) for q in items]


def _checklist(groups):
    return [(group, tuple((code, label) for code, label in items)) for group, items in groups]


def section_forms(campaign, rules, data=None, only=None) -> list[SectionForm]:
    """A form for each section of the rulebook; the one keyed ``only`` bound to ``data``."""
    groups = focus_group_names(*(getattr(rules, name) for name in GROUP_LISTS))
    domains = service_domains()
    forms_ = []
    for title, items in SECTIONS:
        key = SECTION_KEYS[title]
        forms_.append(
            SectionForm(
                data if key == only else None,
                key=key,
                title=title,
                names=[name for name, _label in items],
                campaign=campaign,
                rules=rules,
                groups=groups,
                domains=domains,
            )
        )
    return forms_


def section_post_data(campaign, key) -> dict:
    """What the section ``key``'s form posts when nothing is changed (the page's own values)."""
    from ..rulebook import rules_for

    form = next(f for f in section_forms(campaign, rules_for(campaign)) if f.key == key)
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if isinstance(field, forms.BooleanField):
            if value:
                data[name] = "on"
        elif isinstance(value, list | tuple):
            data[name] = [str(v) for v in value]
        elif value is not None:
            data[name] = str(value)
    for fs in form.formsets:
        data.update(
            {f"{fs.prefix}-TOTAL_FORMS": str(len(fs.initial)), f"{fs.prefix}-INITIAL_FORMS": str(len(fs.initial))}
        )
        for i, row in enumerate(fs.initial):
            for k, v in row.items():
                data[f"{fs.prefix}-{i}-{k}"] = [str(x) for x in v] if isinstance(v, list) else str(v)
    return data


# ------------------------------------------------------------------------------------------ the save


@transaction.atomic
def save_rules(campaign, changes: dict, *, user, seen_version) -> list[str]:
    """``update_rules`` (logged, recomputed) if the campaign still has the version the page was
    rendered with; else ``StaleEditError`` and nothing is written."""
    if not changes:
        return []
    current = (
        Campaign.objects.select_for_update().filter(pk=campaign.pk).values_list("version", flat=True).first()
    )  # the campaign was read through Campaign.objects.visible_to by the page
    if current is None:
        raise StaleEditError(GONE_EDIT_MESSAGE)
    return update_rules(campaign, changes, user=user, version=seen_version)
