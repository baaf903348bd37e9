from django.apps import AppConfig


class IssuesConfig(AppConfig):
    name = "issues"
    verbose_name = "问题整改"

    def ready(self):
        # Calendar overrides recompute open deadlines after commit, wherever they are saved.
        from . import signals  # noqa: F401
