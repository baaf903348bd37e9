"""manage.py backup: back up the database and the uploaded files now (core/backups.py).

The same function as the nightly Celery task (``core.tasks.backup_task``), without its claim of the
night: every run makes a new backup. A backup is always of this moment, so there is no ``--date``.
A failure is recorded (the admin's 数据备份 list), told to the street admins, and ends the command
with status 1.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone


class Command(BaseCommand):
    help = (
        "立即备份数据库（PostgreSQL：pg_dump 自定义格式；SQLite：在线备份）和上传文件，写入 BACKUP_DIR，并删除过期备份"
    )

    def handle(self, *args, **options):
        from core.backups import human_duration, human_size, run_backup

        backup = run_backup()
        if backup.status != "ok":
            raise CommandError(f"备份失败：{backup.error}")
        rows = sum(backup.row_counts.values())
        self.stdout.write(f"备份完成：{settings.BACKUP_DIR}")
        self.stdout.write(
            f"  数据库：{backup.dump_file}（{human_size(backup.dump_bytes)}，{len(backup.row_counts)} 张表、{rows:,} 行）"
        )
        self.stdout.write(
            f"  上传文件：{backup.media_file}（{human_size(backup.media_bytes)}，{backup.media_files} 个文件）"
        )
        self.stdout.write(
            f"  用时 {human_duration(backup.duration)}；保留至 {timezone.localtime(backup.kept_until):%Y-%m-%d %H:%M}"
        )
