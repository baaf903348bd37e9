from django.apps import AppConfig


class VisitplanConfig(AppConfig):
    name = "visitplan"
    verbose_name = "走访计划"
