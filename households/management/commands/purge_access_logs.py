"""``manage.py purge_access_logs [--date YYYY-MM-DD] [--dry-run]``: delete access-log rows past the retention.

The retention is ``settings.ACCESS_LOG_RETENTION_DAYS`` (default 365 days). The log is kept at least
six months: a retention below 183 days is refused and nothing is deleted. Rows are deleted only if
older than 00:00 of (``--date``, default today in local time, minus the retention). Running it
twice for the same day deletes nothing the second time.
"""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from households.management.arguments import day as _day
from households.models import RetentionTooShort, purge_access_logs


class Command(BaseCommand):
    help = "删除超过保存期限（ACCESS_LOG_RETENTION_DAYS，默认365天，不少于183天）的访问日志"

    def add_arguments(self, parser):
        parser.add_argument("--date", type=_day, help="按哪一天计算保存期限 YYYY-MM-DD，默认今天")
        parser.add_argument("--dry-run", action="store_true", help="只统计将删除的条数，不删除")

    def handle(self, *args, **options):
        today = options["date"] or timezone.localdate()
        try:
            cutoff, count = purge_access_logs(today=today, dry_run=options["dry_run"])
        except RetentionTooShort as exc:
            raise CommandError(str(exc)) from None
        verb = "将删除" if options["dry_run"] else "已删除"
        self.stdout.write(f"{verb} {cutoff:%Y-%m-%d %H:%M} 之前的访问日志 {count} 条")
