"""ExportLog is the access log (exports, reveals, searches): the model and its table renamed.

Django renames the content type after RenameModel; the permissions keep their ids (and so every
group's and user's grants) and get the new codenames here.
"""

from django.conf import settings
from django.db import migrations

ACTIONS = ("add", "change", "delete", "view")


def rename_permissions(apps, schema_editor, old="exportlog", new="accesslog"):
    Permission = apps.get_model("auth", "Permission")
    for action in ACTIONS:
        Permission.objects.filter(content_type__app_label="households", codename=f"{action}_{old}").update(
            codename=f"{action}_{new}"
        )


def restore_permissions(apps, schema_editor):
    rename_permissions(apps, schema_editor, old="accesslog", new="exportlog")


class Migration(migrations.Migration):
    dependencies = [
        ("households", "0009_access_log_search_kind"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RenameModel(old_name="ExportLog", new_name="AccessLog"),
        migrations.RunPython(rename_permissions, restore_permissions),
    ]
