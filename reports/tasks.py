"""Celery tasks of reports: the 月度大走访活动入户表 (``reports.monthly.build_monthly_report``).

Idempotent by construction (the project runs with ``acks_late``): each street's report of the
month is rebuilt in one transaction (rows deleted, then written fresh), so a task delivered twice
leaves the same rows. Beat runs it on the 1st of every month at 06:00 Asia/Shanghai for the month
before; ``manage.py build_monthly_report --month YYYY-MM`` runs the same function for any month.
"""

from __future__ import annotations

from celery import shared_task

from core import clock


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=120, retry_backoff_max=1800, max_retries=3)
def build_monthly_report_task(month_iso: str | None = None) -> dict:
    """Build the reports of ``month_iso`` (YYYY-MM), by default the month before today in Asia/Shanghai."""
    from .monthly import build_monthly_report, parse_month, previous_month

    month = parse_month(month_iso) if month_iso else previous_month(clock.today())
    reports = build_monthly_report(month=month)
    return {"month": f"{month:%Y-%m}", "streets": len(reports), "rows": sum(len(r.cadre_rows) for r in reports)}
