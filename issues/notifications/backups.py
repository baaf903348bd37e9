"""数据备份失败: the street admins are told, in-app and through the channels (``notify``).

core backs up (core/backups.py) but knows neither the roles nor the notifications, so this app
registers ``notify_backup_failed`` with ``core.backups.on_backup_failed`` at start-up (issues/apps.py).
Once per failed run: the run is recorded failed once, and this is called then.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.utils import timezone

from core.models import Backup, BackupStatus
from households.roles import STREET_ADMIN

from .services import notify


def street_admins():
    users = get_user_model().objects.filter(is_active=True, cadre__active=True, groups__name=STREET_ADMIN)
    return users.distinct().order_by("pk")


def message(backup: Backup) -> tuple[str, str]:
    """(title, body) of the notice."""
    started = timezone.localtime(backup.started_at)
    last = Backup.objects.filter(status=BackupStatus.OK).order_by("-started_at").first()
    since = (
        f"最近一次成功的备份在 {timezone.localtime(last.started_at):%Y-%m-%d %H:%M}。"
        if last
        else "目前还没有成功的备份。"
    )
    body = (
        f"{started:%Y-%m-%d %H:%M} 开始的数据备份失败：{backup.error}\n"
        f"{since}请联系系统运维人员检查数据库服务和备份目录，排除后运行 manage.py backup 重新备份。"
        "备份记录见管理后台“系统 › 数据备份”。"
    )
    return "数据备份失败", body


def notify_backup_failed(backup: Backup) -> int:
    title, body = message(backup)
    return notify(street_admins(), title=title, body=body)
