"""Background jobs: one row per piece of work a person started and waits for (a large import, an
export), so that the page can show its progress and its result, and only to that person.

The row is the truth for the pages; Celery only carries the id. ``core.jobs`` holds the functions
that create, claim, advance, finish and fail a job — nothing else writes these fields.
"""

from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils import timezone

from .scope import scope_of


class JobStatus(models.TextChoices):
    QUEUED = "queued", "排队中"
    RUNNING = "running", "进行中"
    DONE = "done", "已完成"
    FAILED = "failed", "失败"


FINISHED_STATUSES = (JobStatus.DONE, JobStatus.FAILED)


class BackgroundJobQuerySet(models.QuerySet):
    def visible_to(self, who):
        """A job is its user's alone: nobody else sees it, superusers included (its result may
        hold residents' data the user uploaded)."""
        user = scope_of(who).user
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(user=user)


class BackgroundJob(models.Model):
    """One piece of background work. ``kind`` names what it is (``"households.register_import"``);
    ``params`` holds the ids the task needs (never residents' data), ``result`` what the result page
    shows, ``result_file`` a file the user may download (relative to MEDIA_ROOT)."""

    kind = models.CharField("类型", max_length=64, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="用户", on_delete=models.CASCADE, related_name="+")
    status = models.CharField("状态", max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    done = models.PositiveIntegerField("已完成", default=0)
    total = models.PositiveIntegerField("总量", null=True, blank=True)
    message = models.CharField("说明", max_length=500, blank=True)
    params = models.JSONField("参数", default=dict, blank=True)
    result = models.JSONField("结果", default=dict, blank=True)
    result_file = models.CharField("结果文件", max_length=255, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    started_at = models.DateTimeField("开始时间", null=True, blank=True)
    finished_at = models.DateTimeField("结束时间", null=True, blank=True)
    # Moved by every claim and progress report: a running job whose heartbeat stopped long ago
    # lost its worker (core.jobs.job_claim takes it over).
    heartbeat_at = models.DateTimeField("最近进展", null=True, blank=True)

    objects = BackgroundJobQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "后台任务"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"], name="core_job_user_created")]

    def __str__(self):
        return f"{self.kind} #{self.pk} {self.get_status_display()}"

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def percent(self) -> int | None:
        """0–100, or None while the amount of work is not known yet."""
        if self.status == JobStatus.DONE:
            return 100
        if not self.total:
            return None
        return min(100, self.done * 100 // self.total)

    @property
    def result_path(self) -> Path | None:
        """The result file on disk, or None (none recorded, gone, or pointing outside MEDIA_ROOT)."""
        if not self.result_file:
            return None
        root = Path(settings.MEDIA_ROOT).resolve()
        path = (root / self.result_file).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return None
        return path


class BackupStatus(models.TextChoices):
    RUNNING = "running", "进行中"
    OK = "ok", "成功"
    FAILED = "failed", "失败"


class BackupQuerySet(models.QuerySet):
    def visible_to(self, who):
        """The backup records are the server's, not a place's: whoever holds ``core.view_backup``
        (the street admins, core/roles.py) sees them all; nobody else any."""
        user = scope_of(who).user
        if not getattr(user, "is_authenticated", False) or not user.has_perm("core.view_backup"):
            return self.none()
        return self


class Backup(models.Model):
    """One run of ``core.backups.run_backup`` (the nightly task or ``manage.py backup``): the files
    it wrote under ``BACKUP_DIR``, their sizes, how long it took, and why it failed. Written by
    ``core.backups`` only; the admin lists them read-only.

    ``nightly_for``: the night the Celery task ran it for (unique: a task delivered twice backs
    up once); empty for a backup run by hand. ``row_counts``: {table: rows} in the dump, read in
    the dump's own snapshot — ``manage.py restore`` checks the restored database against it."""

    started_at = models.DateTimeField("开始时间", db_index=True)
    finished_at = models.DateTimeField("结束时间", null=True, blank=True)
    duration = models.DurationField("用时", null=True, blank=True)
    status = models.CharField("状态", max_length=16, choices=BackupStatus.choices, default=BackupStatus.RUNNING)
    engine = models.CharField("数据库", max_length=32, blank=True)
    dump_file = models.CharField("数据库备份文件", max_length=255, blank=True)
    dump_bytes = models.BigIntegerField("数据库备份大小（字节）", null=True, blank=True)
    media_file = models.CharField("上传文件压缩包", max_length=255, blank=True)
    media_bytes = models.BigIntegerField("上传文件压缩包大小（字节）", null=True, blank=True)
    media_files = models.PositiveIntegerField("上传文件数", null=True, blank=True)
    row_counts = models.JSONField("各表行数", default=dict, blank=True)
    error = models.TextField("失败原因", blank=True)
    kept_until = models.DateTimeField("保留至", null=True, blank=True)
    nightly_for = models.DateField("夜间备份日期", null=True, blank=True, unique=True)

    objects = BackupQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = "数据备份"
        ordering = ["-started_at", "-pk"]

    def __str__(self):
        return f"数据备份 {timezone.localtime(self.started_at):%Y-%m-%d %H:%M} {self.get_status_display()}"
