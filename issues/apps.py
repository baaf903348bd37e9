from django.apps import AppConfig


class IssuesConfig(AppConfig):
    name = "issues"
    verbose_name = "问题整改"

    def ready(self):
        # Calendar overrides recompute open deadlines after commit, wherever they are saved.
        from visitplan.rulebook import on_rules_changed

        from . import signals  # noqa: F401
        from .deadlines import rules_changed

        # A change to a campaign's plan_days or classes moves the deadlines of its open issues.
        on_rules_changed(rules_changed)

        # A failed backup (core/backups.py) is told to the street admins.
        from core.backups import on_backup_failed

        from .notifications.backups import notify_backup_failed

        on_backup_failed(notify_backup_failed)
