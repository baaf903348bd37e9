from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured
from django.db.models.signals import post_migrate


def _sync_groups(sender, **kwargs):
    from .roles import sync_role_groups

    sync_role_groups()


def check_defusedxml():
    """openpyxl parses XML through defusedxml only when defusedxml is installed and
    OPENPYXL_DEFUSEDXML is not "False" (openpyxl/xml/__init__.py). Uploads are read by
    python-calamine (core.table_read) today; should openpyxl ever read one again (import-export's
    own formats do), it must not expand entities: refuse to start otherwise."""
    import openpyxl.xml

    if not getattr(openpyxl.xml, "DEFUSEDXML", False):
        raise ImproperlyConfigured(
            "openpyxl is not using defusedxml (openpyxl.xml.DEFUSEDXML is False): install defusedxml "
            "(requirements.txt) and do not set OPENPYXL_DEFUSEDXML=False; uploaded Excel files must "
            "not be parsed with XML entity expansion."
        )


class HouseholdsConfig(AppConfig):
    name = "households"
    verbose_name = "居民底册"

    def ready(self):
        check_defusedxml()
        from .column_aliases import register_table
        from .register.layout import FIELDS

        register_table("register", "居民底册", FIELDS)
        # After each app's migrate: the role groups and their permissions. Not limited to this
        # app's signal, because the visitplan permissions are created after households'.
        post_migrate.connect(_sync_groups, dispatch_uid="households_sync_role_groups")
