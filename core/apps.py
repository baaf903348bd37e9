from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "系统"

    def ready(self):
        from django.contrib import admin

        from .admin import harden_admin_site

        # django.contrib.admin comes first in INSTALLED_APPS: every admin module is loaded by now.
        harden_admin_site(admin.site)
