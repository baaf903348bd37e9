"""manage.py send_reminders [--date YYYY-MM-DD] [--deliver-now]: the daily reminder job, for any day.

The same function as the Celery beat task (``issues.reminders.send_reminders``). The in-app
notifications are written at once; the emails are queued for the Celery worker (``make run``
starts one), exactly as the scheduled job does. ``--deliver-now`` sends them from this process
instead, without a broker (the delivery task is applied here: failed sends are retried at
once, without the backoff, then marked failed). Running it twice for the same day sends nothing
the second time.
"""

from django.core.management.base import BaseCommand

from core import clock
from households.management.arguments import day as _day


class Command(BaseCommand):
    help = "发送诉求办理督办提醒（方案/办结即将到期、逾期、逾期升级）；同一天重复运行不会重复发送"

    def add_arguments(self, parser):
        parser.add_argument("--date", type=_day, help="提醒日期 YYYY-MM-DD，默认今天（北京时间）")
        parser.add_argument("--deliver-now", action="store_true", help="在本进程内直接发送邮件，不交给 Celery 后台任务")

    def handle(self, *args, **options):
        from issues.reminders import send_reminders

        day = options["date"] or clock.today()
        report = send_reminders(day=day, deliver_now=options["deliver_now"])
        for line in report.lines():
            self.stdout.write(line)
        if report.workday and report.deliveries:
            where = "已在本进程发送（结果见“外发记录”）" if options["deliver_now"] else "已交给 Celery 后台任务发送"
            self.stdout.write(f"  外发：{where}")
