"""The official ledgers page, its Excel downloads, and 我的导出 (the user's background jobs).

Views stay thin: a download parses its filters (choices limited to what the user may see) and
starts an export job (``reports.ledgers.jobs``), which scopes the rows again. A small ledger is
written within the request and handed over at once; a large one is written in the background
while the job's page shows its progress, then its download link. A bad filter sends the user back
to the ledgers page with the reason. Every download is logged (AccessLog).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from core.jobs import get_job_for_user, job_delays, job_status
from core.models import BackgroundJob, JobStatus
from core.params import month_param
from households.export_jobs import export_file_response
from households.masking import can_view_full_pii

from ..bulletin import may_read as may_read_bulletin
from ..monthly import month_label, month_start, previous_month
from . import excel, jobs
from .forms import LedgerFilterForm, visible_campaigns, visible_communities

# A job still queued after this long: the page says the background worker may not be running.
MY_JOBS_SHOWN = 50


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


def start_export(request, kind, export, params):
    """Start the export job (every export view's answer, the 综合评议's too): a finished one hands
    its file over at once, a running one sends the user to its progress page, a failed one too (it
    says why)."""
    job = jobs.start_export_job(kind=kind, user=request.user, params=params, export=export)
    if job.status == JobStatus.DONE:
        return _download(request, job)
    return redirect("reports:export_job", pk=job.pk)


@login_required
def visit_ledger(request):
    """入户走访台账 (?campaign=&community=&from=&to=)."""
    data, back = _filters(request)
    if back:
        return back
    if data["campaign"] is None:
        return _back(request, "还没有可导出的走访活动")
    filters = {k: data[k] for k in ("campaign", "community", "date_from", "date_to")}
    export = excel.visit_ledger_export(request.user, **filters)
    return start_export(request, jobs.VISITS, export, jobs.export_params(**filters))


@login_required
def hardship_ledger(request):
    """特殊困难群体台账（一户一策） (?community=)."""
    data, back = _filters(request)
    if back:
        return back
    export = excel.hardship_ledger_export(request.user, community=data["community"])
    return start_export(request, jobs.HARDSHIP, export, jobs.export_params(community=data["community"]))


@login_required
def monthly_ledger(request):
    """月度大走访活动入户表 (?month=YYYY-MM, by default last month)."""
    today = timezone.localdate()
    month = month_param(request, "month") if request.GET.get("month") else previous_month(today)
    if month is None:
        return _back(request, "月份格式应为 YYYY-MM（如 2026-10）")
    if month > month_start(today):
        return _back(request, "所选月份还没有开始")
    export = excel.monthly_report_export(request.user, month=month)
    return start_export(request, jobs.MONTHLY, export, jobs.export_params(month=month))


@login_required
def supervision_ledger(request):
    """督查扣分表 (?campaign=)."""
    data, back = _filters(request)
    if back:
        return back
    if data["campaign"] is None:
        return _back(request, "还没有可导出的走访活动")
    export = excel.supervision_export(request.user, campaign=data["campaign"])
    return start_export(request, jobs.SUPERVISION, export, jobs.export_params(campaign=data["campaign"]))


# ------------------------------------------------------------------------------------------------ export jobs


def _download(request, job):
    """The job's file, logged in the access log as every export is; gone: back to 我的导出."""
    response = export_file_response(request, job)
    if response is None:
        messages.warning(request, f"文件已过期（只保留 {jobs.keep_days()} 天）或已不在服务器上，请重新导出")
        return redirect("reports:my_exports")
    return response


# Where an export job's page leads back to: the page the export was asked from.
BACK_TO = {
    jobs.EVALUATION: ("reports:evaluation", "返回综合评议"),
    jobs.REGISTER_EXPORT: ("households:list", "返回居民户"),
}
BACK_TO_LEDGERS = ("reports:ledgers", "返回工作台账")


@login_required
def export_job(request, pk):
    """An export job of the user: its progress while it runs (``format=json``: the status only,
    for static/js/job-progress.js), then its download link, or why it failed."""
    job = get_job_for_user(request.user, pk, kinds=jobs.EXPORT_KINDS)
    if request.GET.get("format") == "json":
        response = JsonResponse(job_status(job))
        response["Cache-Control"] = "no-store"
        return response
    now = timezone.now()
    back_url, back_label = BACK_TO.get(job.kind, BACK_TO_LEDGERS)
    context = {
        "job": job,
        "label": jobs.KIND_LABELS.get(job.kind, "导出"),
        "back_url": reverse(back_url),
        "back_label": back_label,
        "status_url": reverse("reports:export_job", args=[job.pk]) + "?format=json",
        "expires_at": jobs.expires_at(job),
        "keep_days": jobs.keep_days(),
        **job_delays(job, now=now),
    }
    return render(request, "reports/export_job.html", context)


@login_required
def export_download(request, pk):
    """The file of the user's finished export job (anybody else's: 404)."""
    job = get_job_for_user(request.user, pk, kinds=jobs.EXPORT_KINDS)
    if job.status != JobStatus.DONE:
        return redirect("reports:export_job", pk=job.pk)
    return _download(request, job)


@login_required
def my_exports(request):
    """我的导出: the user's recent background jobs (exports and register imports), newest first."""
    rows = []
    for job in BackgroundJob.objects.visible_to(request.user)[:MY_JOBS_SHOWN]:
        is_export = job.kind in jobs.EXPORT_KINDS
        if is_export:
            url = reverse("reports:export_job", args=[job.pk])
            label = jobs.KIND_LABELS[job.kind]
            what = job.result.get("what", "") or label
        else:
            url = reverse("admin:households_household_import_job") + f"?job={job.pk}"
            label = "居民底册检查" if job.kind.endswith("_check") else "居民底册导入"
            what = job.params.get("filename", "") or label
        rows.append(
            {
                "job": job,
                "label": label,
                "what": what,
                "url": url,
                "is_export": is_export,
                "kept": is_export and job.status == JobStatus.DONE and job.result_path is not None,
                "expired": is_export and job.status == JobStatus.DONE and job.result_path is None,
                "size": job.result.get("size") if is_export else None,
                "expires_at": jobs.expires_at(job) if is_export else None,
            }
        )
    return render(request, "reports/my_exports.html", {"rows": rows, "keep_days": jobs.keep_days()})
