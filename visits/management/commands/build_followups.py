"""manage.py build_followups [--date YYYY-MM-DD]: the daily 回头看 job, for any day.

The same function as the Celery beat task (``visits.followups.build_followups``). Running it twice
for the same day (or on later days) lists nothing twice.
"""

from django.core.management.base import BaseCommand

from core import clock
from households.management.arguments import day as _day


class Command(BaseCommand):
    help = "生成回头看名单：整改回头看阶段开始后，把已销号、解疑释惑或仍在办理的诉求列入登记干部的回访名单；重复运行不会重复列入"

    def add_arguments(self, parser):
        parser.add_argument("--date", type=_day, help="日期 YYYY-MM-DD，默认今天（北京时间）")

    def handle(self, *args, **options):
        from visits.followups import build_followups

        report = build_followups(day=options["date"] or clock.today())
        for line in report.lines():
            self.stdout.write(line)
