from django.apps import AppConfig


class VisitsConfig(AppConfig):
    name = "visits"
    verbose_name = "走访记录"

    def ready(self):
        from . import followups, rollups, signals  # noqa: F401

        # The ledger's hooks: a cadre reopens what his 回头看 found unsolved; the export's 回访结果.
        followups.connect_ledger()
