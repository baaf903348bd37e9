from django.apps import AppConfig


class IssuesConfig(AppConfig):
    name = "issues"
    verbose_name = "问题整改"

    def ready(self):
        # Calendar overrides recompute open deadlines after commit, wherever they are saved.
        from visitplan.rulebook import on_rules_changed

        from . import rollups, signals  # noqa: F401  (rollups: the dashboard's issue counts, kept by signals too)
        from .deadlines import rules_changed

        # A change to a campaign's plan_days or classes moves the deadlines of its open issues.
        on_rules_changed(rules_changed)

        # A failed backup (core/backups.py) is told to the street admins.
        from core.backups import on_backup_failed

        from .notifications.backups import notify_backup_failed

        on_backup_failed(notify_backup_failed)

        # A job started from the admin (core/admin_jobs.py) tells its user when it is over.
        from core.jobs import on_background_job_over

        from .notifications.jobs import notify_admin_job_over

        on_background_job_over(notify_admin_job_over)
