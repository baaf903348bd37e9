"""The official ledgers page and its Excel downloads.

Views stay thin: a download parses its filters (choices limited to what the user may see) and
hands them to ``reports.ledgers.excel``, which scopes the rows again and logs the export; a bad
filter sends the user back to the ledgers page with the reason.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone

from core.params import month_param
from households.masking import can_view_full_pii

from ..bulletin import may_read as may_read_bulletin
from ..monthly import month_label, month_start, previous_month
from . import excel
from .forms import LedgerFilterForm, visible_campaigns, visible_communities


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
        months.append(
            (f"{first:%Y-%m}", month_label(first) + ("（本月，至今）" if first == month_start(today) else ""))
        )
        first = previous_month(first)
    return months


@login_required
def ledger_page(request):
    """One card per ledger, each with its filters and a download button."""
    today = timezone.localdate()
    campaigns = list(visible_campaigns(request.user))
    current = visible_campaigns(request.user).current(on=today)
    return render(
        request,
        "reports/ledgers.html",
        {
            "campaigns": campaigns,
            "current_campaign": current,
            "communities": list(visible_communities(request.user)),
            "months": _recent_months(today),
            "last_month": f"{previous_month(today):%Y-%m}",
            "can_view_full_pii": can_view_full_pii(request.user),
            "can_read_bulletin": may_read_bulletin(request.user),
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
    return excel.visit_ledger_response(
        request,
        campaign=data["campaign"],
        community=data["community"],
        date_from=data["date_from"],
        date_to=data["date_to"],
    )


@login_required
def hardship_ledger(request):
    """特殊困难群体台账（一户一策） (?community=)."""
    data, back = _filters(request)
    if back:
        return back
    return excel.hardship_ledger_response(request, community=data["community"])


@login_required
def monthly_ledger(request):
    """月度大走访活动入户表 (?month=YYYY-MM, by default last month)."""
    today = timezone.localdate()
    month = month_param(request, "month") if request.GET.get("month") else previous_month(today)
    if month is None:
        return _back(request, "月份格式应为 YYYY-MM（如 2026-10）")
    if month > month_start(today):
        return _back(request, "所选月份还没有开始")
    return excel.monthly_report_response(request, month=month)


@login_required
def supervision_ledger(request):
    """督查扣分表 (?campaign=)."""
    data, back = _filters(request)
    if back:
        return back
    if data["campaign"] is None:
        return _back(request, "还没有可导出的走访活动")
    return excel.supervision_response(request, campaign=data["campaign"])
