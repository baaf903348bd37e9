"""manage.py build_bulletin [--month YYYY-MM]: the monthly 督查通报 job, for any finished month.

The same function as the Celery beat task (``reports.bulletin.build_bulletins``); by default the
month before today (Asia/Shanghai), as the job of the 1st builds it. Running it twice for the same
month gives the same rows and tells nobody twice.
"""

from django.core.management.base import BaseCommand, CommandError

from core import clock
from reports.management.months import month_argument


class Command(BaseCommand):
    help = "生成月度督查通报（各社区当月督查发现、扣分和得分、走访、诉求办理），并通知街道管理员和领导；重复运行不会重复通知"

    def add_arguments(self, parser):
        parser.add_argument("--month", type=month_argument, help="月份 YYYY-MM，默认上个月（北京时间）")

    def handle(self, *args, **options):
        from reports.bulletin import build_bulletins
        from reports.monthly import month_label, month_start, previous_month

        today = clock.today()
        month = options["month"] or previous_month(today)
        if month >= month_start(today):
            raise CommandError(f"月份：{month_label(month)}还没有结束，只能为已结束的月份生成督查通报")
        bulletins = build_bulletins(month)
        if not bulletins:
            self.stdout.write(f"{month_label(month)}没有进行中的走访活动，未生成督查通报")
        for b in bulletins:
            if b.notified:
                told = f"，已通知 {b.notified} 人"
            elif b.notified_at:
                told = "（此前已通知，未重复通知）"
            else:
                told = "（没有可通知的街道管理员或领导，下次运行时再通知）"
            self.stdout.write(f"{b.campaign} {month_label(b.month)}督查通报：{len(b.lines)} 个社区{told}")
