from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_groups(sender, **kwargs):
    from .roles import sync_role_groups

    sync_role_groups()


class HouseholdsConfig(AppConfig):
    name = "households"
    verbose_name = "居民底册"

    def ready(self):
        # After every migrate (permissions exist by then): the role groups and their permissions.
        post_migrate.connect(_sync_groups, sender=self, dispatch_uid="households_sync_role_groups")
