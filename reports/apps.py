from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "统计报表"

    def ready(self):
        # An export written in the background (the ledgers', the register's: core.jobs) tells its
        # user when it is over.
        from core.jobs import on_background_job_over

        from .ledgers.jobs import notify_finished

        on_background_job_over(notify_finished)
