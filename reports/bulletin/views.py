"""The 督查通报 page and its Excel download (?campaign=&month=YYYY-MM), for the street admins and
leaders. Views parse and call: the figures are ``reports.bulletin``'s, scoped by ``visible_to``."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from core.params import int_param, month_param
from visitplan.models import Campaign

from ..models import FindingKind
from ..monthly import month_label, month_start, previous_month
from . import is_final, lines_for, may_read, totals
from .excel import bulletin_response

BAD_MONTH = "月份格式应为 YYYY-MM（如 2026-10）"
FUTURE_MONTH = "所选月份还没有开始"


def _campaign(request):
    campaigns = Campaign.objects.visible_to(request.user).select_related("street")
    wanted = int_param(request, "campaign")  # junk or another street's: the current campaign
    campaign = campaigns.filter(pk=wanted).prefetch_related("stages").first() if wanted is not None else None
    campaign = campaign or campaigns.current(timezone.localdate())
    if campaign is None:
        raise Http404("还没有走访活动")
    return campaign, campaigns


def _month(request, today):
    """(the month asked for, or last month; the reason it was not taken, or '')."""
    if not request.GET.get("month"):
        return previous_month(today), ""
    month = month_param(request, "month")
    if month is None:
        return previous_month(today), BAD_MONTH
    if month > month_start(today):
        return previous_month(today), FUTURE_MONTH
    return month, ""


def _months(campaign, today, selected):
    """(YYYY-MM, label) of the campaign's months up to this one, newest first, with the selected one."""
    start, stop = campaign.span()
    first, last = month_start(start), min(month_start(stop), month_start(today))
    months = []
    while last >= first and len(months) < 60:
        months.append(last)
        last = previous_month(last)
    if selected not in months:
        months.append(selected)
    return [(f"{m:%Y-%m}", month_label(m) + ("（本月，至今）" if m == month_start(today) else ""))
            for m in sorted(months, reverse=True)]  # fmt: skip


def _require(user):
    if not may_read(user):
        raise PermissionDenied("督查通报供街道管理员和领导查看")


@login_required
def bulletin_page(request):
    """One month of one campaign: per community the findings by kind, the points, the score, the
    visits and the issues; a link to the Excel file."""
    user = request.user
    _require(user)
    today = timezone.localdate()
    campaign, campaigns = _campaign(request)
    month, problem = _month(request, today)
    if problem:
        messages.error(request, f"{problem}，已显示{month_label(month)}")
    lines, bulletin = lines_for(user, campaign, month)
    return render(
        request,
        "reports/bulletin.html",
        {
            "campaign": campaign,
            "campaigns": campaigns,
            "month": month,
            "month_value": f"{month:%Y-%m}",
            "month_label": month_label(month),
            "months": _months(campaign, today, month),
            "running": month == month_start(today),
            "lines": lines,
            "total": totals(lines),
            "bulletin": bulletin,
            "final": bulletin is not None and is_final(bulletin),
            "kinds": FindingKind.choices,
        },
    )


@login_required
def bulletin_export(request):
    """The same month as an Excel file (logged); a bad month goes back to the page with the reason."""
    user = request.user
    _require(user)
    today = timezone.localdate()
    campaign, _campaigns = _campaign(request)
    month, problem = _month(request, today)
    if problem:
        messages.error(request, problem)
        return redirect(f"{reverse('reports:bulletin')}?campaign={campaign.pk}")
    lines, _bulletin = lines_for(user, campaign, month)
    return bulletin_response(request, campaign=campaign, month=month, lines=lines)
