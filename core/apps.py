from django.apps import AppConfig

THIRD_PARTY_NAMES = {"axes": "登录防护"}


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "系统"

    def ready(self):
        from django.apps import apps
        from django.contrib import admin

        from .admin import harden_admin_site

        # Third-party apps whose names gettext cannot reach: the admin's app list shows these.
        for label, name in THIRD_PARTY_NAMES.items():
            if label in apps.app_configs:
                apps.get_app_config(label).verbose_name = name

        # django.contrib.admin comes first in INSTALLED_APPS: every admin module is loaded by now.
        harden_admin_site(admin.site)
