"""Recompute the open issues' deadlines, e.g. after installing a chinesecalendar with a new year."""

from django.core.management.base import BaseCommand

from issues.deadlines import recompute_open_deadlines
from issues.workdays import clear_cache


class Command(BaseCommand):
    help = "重算未办结诉求的办理时限（升级 chinesecalendar 或批量修改节假日后运行）"

    def add_arguments(self, parser):
        parser.add_argument("--year", type=int, action="append", help="只重算涉及这些年份的时限（可重复）")

    def handle(self, *args, year=None, **options):
        clear_cache()
        changed = recompute_open_deadlines(years=set(year) if year else None)
        self.stdout.write(f"已重算 {changed} 条未办结诉求的时限")
