from django.apps import AppConfig


class VisitplanConfig(AppConfig):
    name = "visitplan"
    verbose_name = "走访计划"

    def ready(self):
        # The staff lists an office imports from its own spreadsheets (households.column_aliases):
        # their fields and the usual other names of their columns.
        from households.column_aliases import register_table

        from .sheets import departments, roster

        register_table(roster.TABLE, "干部名册", roster.FIELDS)
        register_table(departments.TABLE, "责任单位", departments.FIELDS)
