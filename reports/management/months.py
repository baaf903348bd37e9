"""The ``--month YYYY-MM`` argument of the monthly jobs' commands (build_monthly_report, build_bulletin)."""

from django.core.management.base import CommandError


def month_argument(value):
    """argparse ``type=``: the first day of month ``value``, or the command's error in Chinese."""
    from reports.monthly import parse_month

    try:
        return parse_month(value)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
