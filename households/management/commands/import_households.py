"""``python manage.py import_households FILE.xlsx --street NAME [--dry-run]``: import a 居民底册."""

from django.core.management.base import BaseCommand, CommandError

from households.models import Street
from households.register import import_register_file


class Command(BaseCommand):
    help = "导入居民底册（Excel 模板）；全部正确才写入，重复导入同一文件不会产生重复数据"

    def add_arguments(self, parser):
        parser.add_argument("file", help="居民底册 .xlsx 文件")
        parser.add_argument("--street", required=True, help="导入到哪个街道（名称；不存在时新建）")
        parser.add_argument("--dry-run", action="store_true", help="只检查并统计，不写入数据库")

    def handle(self, *args, file, street, dry_run, **options):
        try:
            report = import_register_file(file, street_name=street, dry_run=dry_run)
        except Street.MultipleObjectsReturned:
            raise CommandError(f"有多个名为“{street}”的街道，请先在管理后台改名区分") from None
        if not report.ok:
            raise CommandError(report.summary())
        self.stdout.write(report.summary())
