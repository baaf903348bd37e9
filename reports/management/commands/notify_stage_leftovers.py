"""manage.py notify_stage_leftovers [--date YYYY-MM-DD]: the daily 阶段遗留事项 job, for any day.

The same function as the Celery beat task (``reports.leftovers.notify_stage_leftovers``): on the day
after a 集中走访 or 集中整改 stage ends, the street admins and the secretaries of the communities with
something left are told what it left undone. Running it twice (or on the next days) tells nobody
twice.
"""

from django.core.management.base import BaseCommand

from core import clock
from households.management.arguments import day as _day


class Command(BaseCommand):
    help = "阶段遗留事项通知：集中走访、集中整改阶段结束后次日，把仍未走访的户、仍未办结的诉求通知街道管理员和相关社区书记；重复运行不会重复通知"

    def add_arguments(self, parser):
        parser.add_argument("--date", type=_day, help="日期 YYYY-MM-DD，默认今天（北京时间）")

    def handle(self, *args, **options):
        from reports.leftovers import notify_stage_leftovers

        report = notify_stage_leftovers(day=options["date"] or clock.today())
        for line in report.lines():
            self.stdout.write(line)
