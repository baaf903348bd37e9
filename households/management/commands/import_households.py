"""``python manage.py import_households FILE.xlsx --street NAME [--dry-run] [--errors-file OUT.xlsx]``:
import a 居民底册, reporting its progress on stderr."""

from django.core.management.base import BaseCommand, CommandError

from households.import_errors import ErrorFileWriter
from households.models import Street
from households.register import import_register_file

# Errors listed on the terminal; all of them go to --errors-file.
ERRORS_LISTED = 1000


class Command(BaseCommand):
    help = "导入居民底册（Excel 模板）；全部正确才写入，重复导入同一文件不会产生重复数据"

    def add_arguments(self, parser):
        parser.add_argument("file", help="居民底册 .xlsx 文件")
        parser.add_argument("--street", required=True, help="导入到哪个街道（名称；不存在时新建）")
        parser.add_argument("--dry-run", action="store_true", help="只检查并统计，不写入数据库")
        parser.add_argument(
            "--errors-file",
            metavar="OUT.xlsx",
            help="有误时把全部有误的行（原样，末列为错误原因）写入这个 Excel 文件",
        )

    def handle(self, *args, file, street, dry_run, errors_file=None, **options):
        progress = _Progress(self.stderr)
        try:
            if errors_file:
                with ErrorFileWriter(errors_file) as writer:
                    report = import_register_file(
                        file,
                        street_name=street,
                        dry_run=dry_run,
                        max_errors=ERRORS_LISTED,
                        on_bad_row=writer.add,
                        progress=progress,
                    )
            else:
                report = import_register_file(
                    file, street_name=street, dry_run=dry_run, max_errors=ERRORS_LISTED, progress=progress
                )
        except Street.MultipleObjectsReturned:
            raise CommandError(f"有多个名为“{street}”的街道，请先在管理后台改名区分") from None
        if not report.ok:
            message = report.summary()
            if errors_file and writer.rows:
                message += f"\n有误的 {writer.rows} 行已写入 {errors_file}"
            raise CommandError(message)
        self.stdout.write(report.summary())


class _Progress:
    """import_register's progress as lines on stderr, one every 10,000 rows or so."""

    EVERY = 10_000

    def __init__(self, stream):
        self.stream = stream
        self.next_check = self.EVERY

    def __call__(self, step, done, total):
        if step == "check":
            if done >= self.next_check:
                self.stream.write(f"已检查 {done} 行…")
                self.next_check = done + self.EVERY
        elif done == 0:
            self.stream.write(f"检查完成，正在写入 {total} 户…")
        elif done == total or done % self.EVERY < 2000:  # after every fifth batch of 2,000
            self.stream.write(f"已写入 {done}/{total} 户")
