"""manage.py build_monthly_report [--month YYYY-MM]: the 月度大走访活动入户表 job, for any month.

The same function as the Celery beat task (``reports.monthly.build_monthly_report``); by default
the month before today (Asia/Shanghai), as the job of the 1st builds it. Running it twice for the
same month gives the same rows.
"""

from django.core.management.base import BaseCommand

from core import clock
from reports.management.months import month_argument


class Command(BaseCommand):
    help = "生成月度大走访活动入户表（每名干部的走访天数、户数、次数，收集和解决的诉求）；重复运行结果相同"

    def add_arguments(self, parser):
        parser.add_argument("--month", type=month_argument, help="月份 YYYY-MM，默认上个月（北京时间）")

    def handle(self, *args, **options):
        from reports.monthly import build_monthly_report, previous_month, summary_line

        month = options["month"] or previous_month(clock.today())
        reports = build_monthly_report(month=month)
        if not reports:
            self.stdout.write("没有街道，未生成任何入户表")
        for report in reports:
            self.stdout.write(summary_line(report))
