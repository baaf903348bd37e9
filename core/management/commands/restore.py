"""manage.py restore FILE [--database-url URL] [--media [ARCHIVE]]: restore a backup into an empty database.

FILE is a ``.dump`` (PostgreSQL) or ``.sqlite3`` written by ``manage.py backup`` (a path, or a name
in BACKUP_DIR). The target — the configured database, or ``--database-url`` — must be empty (create
it first: ``createdb NAME``); there is no option to overwrite. Then every table is counted and
compared with the backup's manifest; a difference ends the command with status 1. ``--media``
unpacks the uploaded files (the archive next to FILE, or the one given) into MEDIA_ROOT, which must
hold no file yet. See core/backups.py.
"""

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "把备份恢复到一个空数据库（只恢复到空库），并逐表核对行数；--media 同时把上传文件恢复到空的 MEDIA_ROOT"

    def add_arguments(self, parser):
        parser.add_argument("file", help="备份文件（.dump 或 .sqlite3），路径或备份目录中的文件名")
        parser.add_argument(
            "--database-url", help="目标数据库，如 postgres://user@host:5432/新库名；默认本系统配置的数据库"
        )
        parser.add_argument(
            "--media",
            nargs="?",
            const=True,
            default=None,
            metavar="ARCHIVE",
            help="同时恢复上传文件：默认用备份文件旁的 …-media.tar.gz，也可指定压缩包",
        )

    def handle(self, *args, file, database_url, media, **options):
        from core.backups import BackupError, restore_backup

        try:
            report = restore_backup(file, database_url=database_url, media=media)
        except BackupError as error:
            raise CommandError(f"恢复失败：{error}") from error
        for line in report.lines():
            self.stdout.write(line)
        if not report.ok:
            raise CommandError("恢复后的行数与备份时不一致，请勿使用该数据库")
        self.stdout.write("恢复完成。把 DATABASE_URL 指向该数据库即可使用；代码比备份新时先运行 manage.py migrate。")
