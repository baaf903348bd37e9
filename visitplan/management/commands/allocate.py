"""``python manage.py allocate --campaign ID [--dry-run]``: 包户到人 for one campaign."""

from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError

from visitplan.allocation import allocate
from visitplan.models import Campaign


class Command(BaseCommand):
    help = "按规则自动分配包户（包户到人）；可重复运行，不会改动手工指定的包户"

    def add_arguments(self, parser):
        parser.add_argument("--campaign", type=int, required=True, help="走访活动的 ID")
        parser.add_argument("--dry-run", action="store_true", help="只试算并显示结果，不写入数据库")

    def handle(self, *args, campaign, dry_run, **options):
        try:
            obj = Campaign.objects.select_related("street").get(pk=campaign)
        except Campaign.DoesNotExist:
            raise CommandError(f"走访活动 {campaign} 不存在") from None
        try:
            report = allocate(obj, dry_run=dry_run)
        except IntegrityError as exc:
            raise CommandError(f"分配时有人同时修改了包户，本次未写入，请重试（{exc}）") from None
        for line in report.summary_lines():
            self.stdout.write(line)
        if report.uncovered:
            self.stdout.write(f"未落实包户干部的户（{len(report.uncovered)} 户）：")
            for household_id, address, reason in report.uncovered:
                self.stdout.write(f"  [{household_id}] {address}：{reason}")
        self.stdout.write(f"用时 {report.seconds:.1f} 秒")
