from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_groups(sender, **kwargs):
    from .roles import sync_role_groups

    sync_role_groups()


class HouseholdsConfig(AppConfig):
    name = "households"
    verbose_name = "居民底册"

    def ready(self):
        # After each app's migrate: the role groups and their permissions. Not limited to this
        # app's signal, because the visitplan permissions are created after households'.
        post_migrate.connect(_sync_groups, dispatch_uid="households_sync_role_groups")
