"""Forms of the issue pages: the ledger filter, the register form and one form per workflow action.

The forms only parse input. Transitions are decided by ``issues.services`` (which also says which
actions a user may take), deadlines by ``issues.deadlines``; the forms hand over plain values.
Every action form carries the issue ``version`` it was rendered with, so that the service can refuse a
stale or double submit (StaleIssueError) instead of overwriting someone else's change.
"""

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Q

from core.params import parse_int
from households.models import Household
from visitplan.models import Cadre, Department

from .deadlines import class_choices, issue_rules, upcoming_window
from .models import OPEN_STATUSES, Category, Level, Severity, Status
from .services import MAX_EXTENSION_DAYS


def _textarea(rows=3, placeholder=""):
    return forms.Textarea(attrs={"rows": rows, "placeholder": placeholder})


def person_name(user):
    """How a user is named on the pages: the cadre's name, else the account's full name or login.

    Lists select_related("…__cadre") so that this costs no query per row.
    """
    if user is None:
        return ""
    try:
        cadre = user.cadre
    except ObjectDoesNotExist:
        cadre = None
    return display_name(cadre.name if cadre is not None else "", user.first_name, user.last_name, user.get_username())


def display_name(cadre_name, first_name, last_name, username):
    """The cadre's name, else the account's full name, else the login; "" for nobody."""
    if cadre_name:
        return cadre_name
    full = f"{first_name or ''} {last_name or ''}".strip()
    return full or username or ""


# ------------------------------------------------------------------------------------------------ ledger


class LedgerFilterForm(forms.Form):
    """The ledger's filters. ``apply`` narrows an already scoped queryset; nothing here widens it."""

    status = forms.ChoiceField(label="状态", required=False)
    category = forms.ChoiceField(label="类别", required=False)
    department = forms.TypedChoiceField(label="责任单位", required=False, coerce=int, empty_value=None)
    community = forms.TypedChoiceField(label="社区", required=False, coerce=int, empty_value=None)
    due = forms.ChoiceField(
        label="时限",
        required=False,
        choices=[("", "全部时限"), ("overdue", "逾期"), ("week", "7日内到期"), ("reopened", "重新办理")],
    )
    q = forms.CharField(label="搜索", required=False, max_length=100)

    OPEN = "open"

    def __init__(self, data=None, *, communities=(), departments=(), levels=None):
        super().__init__(data)
        community = levels.community if levels is not None else "社区"  # households.levels: 村(居) in a 镇
        self.fields["community"].label = community
        self.fields["status"].choices = [("", "全部状态"), (self.OPEN, "未办结（全部在办）")] + list(Status.choices)
        self.fields["category"].choices = [("", "全部类别")] + list(Category.choices)
        self.fields["department"].choices = [("", "全部责任单位")] + [(d.pk, d.name) for d in departments]
        self.fields["community"].choices = [("", f"全部{community}")] + [(c.pk, c.name) for c in communities]

    def apply(self, queryset, *, today):
        """The filtered queryset; an invalid value is ignored (a bookmarked link never errors)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        status = data.get("status")
        if status == self.OPEN:
            queryset = queryset.open()
        elif status:
            queryset = queryset.filter(status=status)
        if data.get("category"):
            queryset = queryset.filter(category=data["category"])
        if data.get("department"):
            queryset = queryset.filter(department_id=data["department"])
        if data.get("community"):
            queryset = queryset.filter(community_id=data["community"])
        due = data.get("due")
        if due == "overdue":
            queryset = queryset.overdue(on=today)
        elif due == "week":
            queryset = queryset.open().filter(due_this_week_q(today))
        elif due == "reopened":
            queryset = queryset.filter(reopened_q())
        term = (data.get("q") or "").strip()
        if term:
            queryset = queryset.filter(search_q(term))
        return queryset

    @property
    def active(self):
        """True when any filter is set (the page says so and offers to clear them)."""
        self.is_valid()  # the valid fields filter even when another one is not (see apply)
        return any(getattr(self, "cleaned_data", {}).get(k) for k in self.fields)


def due_this_week_q(today):
    """7日内到期: a running deadline (the plan's while no plan is posted, or the close deadline) within
    ``deadlines.upcoming_window(today)`` — today and the six days after, whatever the weekday. Combine
    with ``.open()``."""
    window = upcoming_window(today)
    return Q(due_on__range=window) | Q(plan_due_on__range=window, plan_posted_on__isnull=True)


def reopened_q():
    """重新办理: reopened after a 回头看 and still running against its new deadlines."""
    return Q(reopened_on__isnull=False, status__in=OPEN_STATUSES)


def search_q(term):
    """#123 or 123 → the issue number; otherwise the text, the 12345 ticket or a householder's name."""
    # The householder through a subquery on the indexed name, not a join of every issue to its household.
    householders = Household.objects.filter(head_name__startswith=term).values("pk")
    # contains, not icontains: Chinese has no case, and UPPER() on every text doubles the cost of the scan.
    q = Q(text__contains=term) | Q(hotline_ticket=term) | Q(household_id__in=householders)
    number = parse_int(term.lstrip("#＃"))
    if number is not None:
        q |= Q(pk=number)
    return q


# ------------------------------------------------------------------------------------------------ register


class IssueRegisterForm(forms.Form):
    text = forms.CharField(label="诉求内容", max_length=2000, widget=_textarea(4, "群众反映的问题、诉求或意见建议"))
    category = forms.ChoiceField(label="类别", choices=[("", "请选择类别")] + list(Category.choices))
    # Choices: the classes of the rulebook the issue will follow (``rules``), e.g. "立刻办理（15个工作日）".
    severity = forms.ChoiceField(label="等级", initial=Severity.GENERAL, help_text="括号内为办结时限")
    hotline_ticket = forms.CharField(label="12345工单号", max_length=32, required=False)
    special_hardship = forms.BooleanField(label="特殊困难群体（一户一策）", required=False)
    answer_on_the_spot = forms.CharField(
        label="现场答复（即知即办）",
        required=False,
        max_length=2000,
        widget=_textarea(2, "已当场答复或办结的，填写答复内容，诉求直接销号"),
    )

    def __init__(self, *args, rules=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["severity"].choices = class_choices(rules)

    def clean_text(self):
        text = self.cleaned_data["text"].strip()
        if not text:
            raise forms.ValidationError("请填写诉求内容")
        return text

    def clean_hotline_ticket(self):
        return self.cleaned_data["hotline_ticket"].strip()

    def clean_answer_on_the_spot(self):
        return self.cleaned_data["answer_on_the_spot"].strip()


# ------------------------------------------------------------------------------------------------ actions


class ActionForm(forms.Form):
    """Base of the workflow forms: the version the page was rendered with, and what to pass the service."""

    action = ""  # the name used by services.allowed_actions
    title = ""  # the heading of the form on the issue page
    submit = "提交"
    versioned = True  # whether the service takes ``version`` itself
    primary = True

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args, issue=None, user=None, **kwargs):
        self.issue = issue
        self.user = user
        super().__init__(*args, **kwargs)
        if issue is not None and not self.is_bound:
            self.initial.setdefault("version", issue.version)

    def service_kwargs(self):
        """Keyword arguments for the service, besides issue, by and version."""
        return {}

    def success_message(self, issue):
        return f"{self.title}：已保存"


def _text_field(label, placeholder="", required=True, rows=3):
    return forms.CharField(label=label, required=required, max_length=4000, widget=_textarea(rows, placeholder))


class AcceptForm(ActionForm):
    action, title, submit = "accept", "审核通过", "审核通过，待交办"
    # Choices: the classes of the issue's rulebook, with their days.
    severity = forms.ChoiceField(label="诉求等级", required=False, help_text="括号内为办结时限；调整后重算办结时限")
    severity_reason = _text_field("调整等级理由", "调整等级时必填", required=False, rows=2)
    note = _text_field("审核意见", "可不填", required=False, rows=2)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["severity"].choices = class_choices(issue_rules(self.issue) if self.issue is not None else None)
        if self.issue is not None and not self.is_bound:
            self.initial.setdefault("severity", self.issue.severity)

    def clean(self):
        data = super().clean()
        severity = data.get("severity")
        changed = bool(severity) and self.issue is not None and severity != self.issue.severity
        if changed and not (data.get("severity_reason") or "").strip():
            self.add_error("severity_reason", "调整诉求等级须填写理由")
        return data

    def service_kwargs(self):
        severity = self.cleaned_data.get("severity") or None
        return {
            "note": self.cleaned_data["note"].strip(),
            "severity": severity,
            "severity_reason": self.cleaned_data["severity_reason"].strip(),
        }


class ReturnForm(ActionForm):
    action, title, submit, primary = "return", "退回登记人", "退回", False
    reason = _text_field("退回理由", "如：信息不全、不属于诉求范围")

    def service_kwargs(self):
        return {"reason": self.cleaned_data["reason"].strip()}


class ResubmitForm(ActionForm):
    action, title, submit = "resubmit", "补充后重新提交", "重新提交审核"
    text = forms.CharField(label="诉求内容", max_length=2000, widget=_textarea(5))
    note = _text_field("补充说明", "补充了哪些情况（可不填）", required=False, rows=2)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.issue is not None and not self.is_bound:
            self.initial.setdefault("text", self.issue.text)

    def clean_text(self):
        text = self.cleaned_data["text"].strip()
        if not text:
            raise forms.ValidationError("请填写诉求内容")
        return text

    def service_kwargs(self):
        return {"text": self.cleaned_data["text"], "note": self.cleaned_data["note"].strip()}


class PersonSelect(forms.Select):
    """A select whose options carry their person's department (``data-department``), so that the
    issue page's script can offer only the chosen department's people."""

    def __init__(self, *args, department_of=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.department_of = department_of if department_of is not None else {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex=subindex, attrs=attrs)
        department = self.department_of.get(parse_int(value))
        if department is not None:
            option["attrs"]["data-department"] = str(department)
        return option


class RouteForm(ActionForm):
    action, title, submit = "route", "交办责任单位", "交办"
    department = forms.ModelChoiceField(
        label="责任单位", queryset=Department.objects.none(), empty_label="请选择责任单位"
    )
    assignee = forms.TypedChoiceField(label="责任人", required=False, coerce=int, empty_value=None, widget=PersonSelect)
    note = _text_field("交办意见", "办理要求、联系人等", required=False, rows=2)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = Department.objects.all()
        # Responsible persons are the login users of the departments' cadres. Once a department is chosen
        # (a bound form) only its people are offered; before that every option carries its department and
        # the page's script offers only the chosen department's. clean() checks it either way.
        cadres = (
            Cadre.objects.active()
            .filter(department__isnull=False, user__isnull=False, user__is_active=True)
            .select_related("department")
            .order_by("department__name", "name")
        )
        chosen = parse_int(self.data.get("department")) if self.is_bound else None
        self._department_of = {}
        people = []
        for cadre in cadres:
            self._department_of[cadre.user_id] = cadre.department_id
            people.append((cadre.user_id, cadre.department_id, f"{cadre.name}（{cadre.department.name}）"))
        none = ("", "暂不指定（由单位内部分派）")
        field = self.fields["assignee"]
        # Any department's person is a valid choice, so that clean() can say what is wrong with him.
        field.choices = [none, *((user_id, label) for user_id, _d, label in people)]
        # The list shown: once a department is chosen, its people only.
        field.widget.choices = [none, *((u, label) for u, d, label in people if chosen is None or d == chosen)]
        field.widget.department_of = self._department_of

    def clean(self):
        data = super().clean()
        department, assignee = data.get("department"), data.get("assignee")
        if department is not None and assignee is not None and self._department_of.get(assignee) != department.pk:
            self.add_error("assignee", "责任人须是所选责任单位的人员")
        return data

    def service_kwargs(self):
        assignee_id = self.cleaned_data["assignee"]
        assignee = get_user_model().objects.get(pk=assignee_id) if assignee_id else None
        return {
            "department": self.cleaned_data["department"],
            "assignee": assignee,
            "note": self.cleaned_data["note"].strip(),
        }


class MisrouteForm(ActionForm):
    action, title, submit, primary = "misroute", "退办（非本单位职责）", "退办", False
    reason = _text_field("退办理由", "说明不属于本单位职责的依据，建议的责任单位")

    def service_kwargs(self):
        return {"reason": self.cleaned_data["reason"].strip()}


class PlanForm(ActionForm):
    action, title, submit = "post_plan", "上报解决方案", "上报方案"
    plan = _text_field("解决方案", "措施、责任人、完成时间", rows=4)

    def service_kwargs(self):
        return {"plan": self.cleaned_data["plan"].strip()}


class ProgressForm(ActionForm):
    action, title, submit = "add_progress", "填报办理进展", "保存进展"
    text = _text_field("办理进展", "已做的工作、下一步安排")

    def service_kwargs(self):
        return {"text": self.cleaned_data["text"].strip()}


class ResolveForm(ActionForm):
    action, title, submit = "resolve", "办结并答复居民", "办结"
    answer = _text_field("答复居民情况", "向居民答复的内容、方式和时间", rows=4)

    def service_kwargs(self):
        return {"answer": self.cleaned_data["answer"].strip()}


class CloseForm(ActionForm):
    action, title, submit = "close", "销号", "确认销号"
    note = _text_field("销号意见", "可不填", required=False, rows=2)

    def service_kwargs(self):
        return {"note": self.cleaned_data["note"].strip()}


class ExplainForm(ActionForm):
    action, title, submit, primary = "explain", "解疑释惑（政策外诉求）", "答复并销号", False
    explanation = _text_field("解释答复内容", "向居民解释的政策依据和答复情况", rows=4)

    def service_kwargs(self):
        return {"explanation": self.cleaned_data["explanation"].strip()}


class ExtensionRequestForm(ActionForm):
    action, title, submit, primary = "request_extension", "申请延期", "提交延期申请", False
    days = forms.IntegerField(label="延期（工作日）", min_value=1, max_value=MAX_EXTENSION_DAYS, initial=5)
    reason = _text_field("延期理由", "客观原因、已做的工作、预计完成时间")

    def service_kwargs(self):
        return {"days": self.cleaned_data["days"], "reason": self.cleaned_data["reason"].strip()}


class ExtensionDecisionForm(ActionForm):
    action, title, submit = "decide_extension", "审批延期申请", "提交审批"
    # The service locks the issue and claims the pending request: a second submit finds it decided.
    versioned = False
    approve = forms.TypedChoiceField(
        label="审批意见",
        choices=[("1", "同意延期"), ("0", "不同意")],
        coerce=lambda v: v == "1",
        widget=forms.RadioSelect,
        initial="1",
    )
    note = _text_field("说明", "可不填", required=False, rows=2)

    def service_kwargs(self):
        return {"approve": self.cleaned_data["approve"], "note": self.cleaned_data["note"].strip()}


class EscalateForm(ActionForm):
    action, title, submit, primary = "escalate", "提级办理", "提级", False
    level = forms.ChoiceField(label="办理层级", choices=Level.choices)
    person = forms.TypedChoiceField(label="分包责任人", coerce=int)
    note = _text_field("说明", "提级原因、协调事项", required=False, rows=2)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cadres = (
            Cadre.objects.visible_to(self.user)
            .active()
            .filter(user__isnull=False, user__is_active=True)
            .select_related("department")
            .order_by("tier", "name")
            if self.user is not None
            else Cadre.objects.none()
        )
        choices = []
        for cadre in cadres:
            where = cadre.department.name if cadre.department_id else cadre.get_tier_display()
            choices.append((cadre.user_id, f"{cadre.name}（{where}）"))
        self.fields["person"].choices = [("", "请选择责任人")] + choices
        if self.issue is not None and not self.is_bound:
            # Offer the next level up as the default.
            order = [value for value, _ in Level.choices]
            current = order.index(self.issue.level) if self.issue.level in order else 0
            self.initial.setdefault("level", order[min(current + 1, len(order) - 1)])

    def service_kwargs(self):
        return {
            "level": self.cleaned_data["level"],
            "person": get_user_model().objects.get(pk=self.cleaned_data["person"]),
            "note": self.cleaned_data["note"].strip(),
        }


class ReopenForm(ActionForm):
    action, title, submit, primary = "reopen", "重新办理（回访不满意）", "重新办理", False
    reason = _text_field("重新办理原因", "回访情况、居民意见")

    def service_kwargs(self):
        return {"reason": self.cleaned_data["reason"].strip()}


class MergeForm(ActionForm):
    action, title, submit, primary = "merge", "合并重复诉求", "合并", False
    into = forms.TypedChoiceField(label="合并到", coerce=int, widget=forms.RadioSelect)
    note = _text_field("说明", "可不填", required=False, rows=2)

    def __init__(self, *args, candidates=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["into"].choices = [(c.pk, f"#{c.pk}") for c in candidates]

    def service_kwargs(self):
        return {"note": self.cleaned_data["note"].strip()}


# In the order the issue page shows them. The merge form lives on its own page (it needs candidates).
ACTION_FORMS = {
    form.action: form
    for form in (
        AcceptForm,
        ReturnForm,
        ResubmitForm,
        RouteForm,
        PlanForm,
        ProgressForm,
        ResolveForm,
        CloseForm,
        ExtensionDecisionForm,
        ExtensionRequestForm,
        ExplainForm,
        MisrouteForm,
        EscalateForm,
        ReopenForm,
        MergeForm,
    )
}
