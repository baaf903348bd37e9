"""``python manage.py import_households FILE --street NAME [--dry-run] [--errors-file OUT.xlsx]
[--map 列名=字段 …] [--sheet NAME] [--community NAME] [--grid NAME]``: import a 居民底册 (.xlsx,
.xls or .csv, the template or the office's own layout), reporting its progress on stderr.

``--map`` takes the same column mapping as the admin's preview ("户主名=head_name", "序号=" to
ignore a column); the fields are listed by ``--fields``."""

from django.core.management.base import BaseCommand, CommandError

from households.column_aliases import office_table
from households.import_errors import ErrorFileWriter
from households.levels import for_street
from households.models import Street
from households.register import import_register_file

# Errors listed on the terminal; all of them go to --errors-file.
ERRORS_LISTED = 1000


class Command(BaseCommand):
    help = "导入居民底册（模板或本单位的表格：.xlsx、.xls、.csv）；全部正确才写入，重复导入同一文件不会产生重复数据"

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", help="居民底册文件（.xlsx、.xls 或 .csv）")
        parser.add_argument("--street", help="导入到哪个街道（名称；不存在时新建）")
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="列名=字段",
            help="指定某列对应的字段，如 --map 户主名=head_name；字段留空表示忽略该列（--map 序号=）；可重复",
        )
        parser.add_argument("--sheet", help="文件中有多个工作表可导入时，指定工作表名称")
        parser.add_argument("--community", help="文件中没有“社区”列时：整份文件所属的社区")
        parser.add_argument("--grid", help="文件中没有“网格”列时：整份文件所属的网格")
        parser.add_argument("--fields", action="store_true", help="列出可用于 --map 的字段及其常见列名")
        parser.add_argument("--dry-run", action="store_true", help="只检查并统计，不写入数据库")
        parser.add_argument(
            "--errors-file",
            metavar="OUT.xlsx",
            help="有误时把全部有误的行（原样，末列为错误原因）写入这个 Excel 文件",
        )

    def handle(self, *args, file, street, dry_run, errors_file=None, **options):
        if options["fields"]:
            for field in office_table("register").fields:
                self.stdout.write(f"{field.key}\t{field.label}\t{'、'.join(field.aliases)}")
            return
        if not file or not street:
            raise CommandError("请给出文件和 --street 街道名称")
        read = {
            "mapping": _mapping(options["map"]),
            "sheet": options.get("sheet") or None,
            "defaults": {k: options[k] for k in ("community", "grid") if options.get(k)},
        }
        progress = _Progress(self.stderr)
        try:
            if errors_file:
                existing = Street.objects.filter(name=street.strip()).first()
                with ErrorFileWriter(errors_file, levels=for_street(existing) if existing else None) as writer:
                    report = import_register_file(
                        file,
                        street_name=street,
                        dry_run=dry_run,
                        max_errors=ERRORS_LISTED,
                        on_bad_row=writer.add,
                        progress=progress,
                        **read,
                    )
            else:
                report = import_register_file(
                    file, street_name=street, dry_run=dry_run, max_errors=ERRORS_LISTED, progress=progress, **read
                )
        except Street.MultipleObjectsReturned:
            raise CommandError(f"有多个名为“{street}”的街道，请先在管理后台改名区分") from None
        if not report.ok:
            message = report.summary()
            if errors_file and writer.rows:
                message += f"\n有误的 {writer.rows} 行已写入 {errors_file}"
            raise CommandError(message)
        self.stdout.write(report.summary())


def _mapping(items) -> dict[str, str]:
    keys = {f.key for f in office_table("register").fields}
    mapping = {}
    for item in items:
        header, sep, field = item.partition("=")
        if not sep or not header.strip():
            raise CommandError(f"--map 应写成“列名=字段”，如 户主名=head_name（现为“{item}”）")
        field = field.strip()
        if field and field not in keys:
            raise CommandError(f"没有名为“{field}”的字段；可用的字段：{'、'.join(sorted(keys))}")
        mapping[header.strip()] = field
    return mapping


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
