"""The official ledgers page, its Excel downloads, and the 一户一策 pages (特殊困难群体台账).

Views stay thin: a download parses its filters (choices limited to what the user may see) and
hands them to ``reports.ledgers``, which scopes the rows again and logs the export; a bad filter
sends the user back to the ledgers page with the reason. The 一户一策 page reads the household
through ``get_household_for_user`` (404 for outsiders), lets users who may change households edit
the plan (POST-redirect-GET) and shows it read-only to the others.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.shortcuts import redirect, render
from django.utils import timezone

from core.params import MAX_DATE, MIN_DATE, date_in_range, int_param, month_param
from core.versioning import StaleEditError, stale_message
from households.masking import can_view_full_pii, mask_id_number, mask_phone
from households.models import FocusGroup, HardshipPlan, Node, NodeKind
from households.scoping import get_household_for_user
from issues.exporting import household_address
from visitplan.models import Campaign

from . import ledgers
from .forms_hardship import HardshipPlanForm, MeasureFormSet, PlanTakenError, hardship_plan_save
from .monthly import month_label, month_start, previous_month

HARDSHIP_PAGE_SIZE = 30
EDIT_PERMISSION = "households.change_household"


def _campaigns(user):
    return Campaign.objects.visible_to(user).select_related("street")


def _communities(user):
    return Node.objects.visible_to(user, ancestors=False).filter(kind=NodeKind.COMMUNITY).order_by("path")


class LedgerFilterForm(forms.Form):
    """The filters of the downloads; campaigns and communities limited to the user's."""

    campaign = forms.ModelChoiceField(
        label="走访活动", queryset=Campaign.objects.none(), required=False,
        error_messages={"invalid_choice": "没有找到该走访活动"},
    )  # fmt: skip
    community = forms.ModelChoiceField(
        label="社区", queryset=Node.objects.none(), required=False, error_messages={"invalid_choice": "没有找到该社区"}
    )
    date_from = forms.DateField(label="开始日期", required=False, error_messages={"invalid": "开始日期格式应为 YYYY-MM-DD"})
    date_to = forms.DateField(label="结束日期", required=False, error_messages={"invalid": "结束日期格式应为 YYYY-MM-DD"})

    def __init__(self, query, *, user):
        # The page's parameters are from / to; Python names them date_from / date_to.
        data = {
            "campaign": query.get("campaign", ""),
            "community": query.get("community", ""),
            "date_from": query.get("from", ""),
            "date_to": query.get("to", ""),
        }
        super().__init__(data)
        self.user = user
        self.fields["campaign"].queryset = _campaigns(user)
        self.fields["community"].queryset = _communities(user)

    def clean(self):
        data = super().clean()
        for name, label in (("date_from", "开始日期"), ("date_to", "结束日期")):
            if data.get(name) and not date_in_range(data[name]):
                self.add_error(name, f"{label}超出可选范围（{MIN_DATE.year}—{MAX_DATE.year}年）")
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError("开始日期不能晚于结束日期")
        if not self.errors and data.get("campaign") is None:
            data["campaign"] = _campaigns(self.user).current(on=timezone.localdate())
        return data

    def first_error(self):
        return next((e for errors in self.errors.values() for e in errors), "筛选条件有误")


def _back(request, message):
    messages.error(request, message)
    return redirect("reports:ledgers")


def _filters(request):
    """(cleaned filters, None) or (None, redirect back with the reason)."""
    form = LedgerFilterForm(request.GET, user=request.user)
    if not form.is_valid():
        return None, _back(request, form.first_error())
    return form.cleaned_data, None


# ------------------------------------------------------------------------------------------------ the page

MONTHS_OFFERED = 12


def _recent_months(today):
    """(YYYY-MM, label) for this month and the eleven before it, newest first."""
    months, first = [], month_start(today)
    for _ in range(MONTHS_OFFERED):
        months.append((f"{first:%Y-%m}", month_label(first) + ("（本月，至今）" if first == month_start(today) else "")))
        first = previous_month(first)
    return months


@login_required
def ledger_page(request):
    """One card per ledger, each with its filters and a download button."""
    today = timezone.localdate()
    campaigns = list(_campaigns(request.user))
    current = _campaigns(request.user).current(on=today)
    return render(
        request,
        "reports/ledgers.html",
        {
            "campaigns": campaigns,
            "current_campaign": current,
            "communities": list(_communities(request.user)),
            "months": _recent_months(today),
            "last_month": f"{previous_month(today):%Y-%m}",
            "can_view_full_pii": can_view_full_pii(request.user),
        },
    )


# ------------------------------------------------------------------------------------------------ downloads


@login_required
def visit_ledger(request):
    """入户走访台账 (?campaign=&community=&from=&to=)."""
    data, back = _filters(request)
    if back:
        return back
    if data["campaign"] is None:
        return _back(request, "还没有可导出的走访活动")
    return ledgers.visit_ledger_response(
        request, campaign=data["campaign"], community=data["community"], date_from=data["date_from"], date_to=data["date_to"]
    )


@login_required
def hardship_ledger(request):
    """特殊困难群体台账（一户一策） (?community=)."""
    data, back = _filters(request)
    if back:
        return back
    return ledgers.hardship_ledger_response(request, community=data["community"])


@login_required
def monthly_ledger(request):
    """月度大走访活动入户表 (?month=YYYY-MM, by default last month)."""
    today = timezone.localdate()
    month = month_param(request, "month") if request.GET.get("month") else previous_month(today)
    if month is None:
        return _back(request, "月份格式应为 YYYY-MM（如 2026-10）")
    if month > month_start(today):
        return _back(request, "所选月份还没有开始")
    return ledgers.monthly_report_response(request, month=month)


@login_required
def supervision_ledger(request):
    """督查扣分表 (?campaign=)."""
    data, back = _filters(request)
    if back:
        return back
    if data["campaign"] is None:
        return _back(request, "还没有可导出的走访活动")
    return ledgers.supervision_response(request, campaign=data["campaign"])


# ------------------------------------------------------------------------------------------------ 一户一策


@login_required
def hardship_list(request):
    """The special-hardship households the user may see, each with the state of its plan."""
    communities = list(_communities(request.user))
    households = ledgers.hardship_households(request.user)
    wanted = int_param(request, "community")
    community = next((c for c in communities if c.pk == wanted), None)
    if community is not None:
        households = households.filter(community=community)
    households = (
        ledgers.with_plan_status(households)
        .select_related("community", "grid", "building")
        .prefetch_related(Prefetch("tags", queryset=FocusGroup.objects.only("name", "order")))
        .order_by("path", "unit", "room", "pk")
    )
    page = Paginator(households, HARDSHIP_PAGE_SIZE).get_page(request.GET.get("page"))
    full = can_view_full_pii(request.user)
    for h in page.object_list:
        h.address_shown = household_address(h, full=full)
        h.plan_status = ledgers.plan_status(h.plan_id, h.measure_count, h.done_count)
    return render(
        request,
        "reports/hardship_list.html",
        {
            "page": page,
            "communities": communities,
            "community": community,
            "querystring": f"community={community.pk}" if community else "",
            "groups": "、".join(ledgers.HARDSHIP_GROUPS),
        },
    )


@login_required
def hardship_plan(request, pk):
    """The 一户一策 plan of one household: an editable form for users who may change households,
    read-only for the others (leaders, department handlers). A page opened before someone else saved
    the plan is refused whole, with the message (reports/forms_hardship.py)."""
    household = get_household_for_user(request.user, pk)
    plan = HardshipPlan.objects.filter(household=household).select_related("updated_by__cadre").first()
    can_edit = request.user.has_perm(EDIT_PERMISSION)
    form = formset = stale = None
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied("您没有修改帮扶方案的权限")
        form = HardshipPlanForm(request.POST, instance=plan or HardshipPlan(household=household))
        formset = MeasureFormSet(request.POST, instance=form.instance, prefix="measures")
        if form.is_valid() and formset.is_valid():
            try:
                hardship_plan_save(form=form, formset=formset, by=request.user)
            except PlanTakenError as exc:
                messages.error(request, str(exc))
            except StaleEditError as exc:  # lost the race after the version check: nothing was written
                messages.error(request, exc.message)
            else:
                messages.success(request, "帮扶方案已保存")
            return redirect("reports:hardship_plan", pk=household.pk)
        # A stale page: one message on top, in place of "correct the errors below".
        stale = stale_message(form) or next(filter(None, map(stale_message, formset.forms)), None)
    elif can_edit:
        form = HardshipPlanForm(instance=plan or HardshipPlan(household=household))
        formset = MeasureFormSet(instance=form.instance, prefix="measures")
    full = can_view_full_pii(request.user)
    today = timezone.localdate()
    measures = list(plan.measures.all()) if plan else []
    for m in measures:
        m.status = ledgers.measure_status(m.due_on, m.done_on, today=today)
    return render(
        request,
        "reports/hardship_plan.html",
        {
            "h": household,
            "address": household_address(household, full=full),
            # Masked for every role: the plan needs no full number (查看完整信息 is on the household page).
            "id_shown": mask_id_number(household.id_number),
            "phone_shown": mask_phone(household.phone),
            "tags": list(household.tags.all()),
            "plan": plan,
            "measures": measures,
            "can_edit": can_edit,
            "form": form,
            "formset": formset,
            "stale": stale,
        },
    )
