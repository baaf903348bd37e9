from django.apps import AppConfig


class VisitsConfig(AppConfig):
    name = "visits"
    verbose_name = "走访记录"

    def ready(self):
        from . import signals  # noqa: F401
