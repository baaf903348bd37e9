"""The access-log rows written before 0006: every one an export, one row one resident, the user
name copied onto the row. A migration of its own (see 0006)."""

from django.conf import settings
from django.db import migrations
from django.db.models import F, OuterRef, Subquery


def backfill(apps, schema_editor):
    """Rows written before: every one is an export; one row = one resident; the user name copied."""
    ExportLog = apps.get_model("households", "ExportLog")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    ExportLog.objects.update(residents=F("rows"))
    ExportLog.objects.filter(user__isnull=False).update(
        username=Subquery(User.objects.filter(pk=OuterRef("user_id")).values("username")[:1])
    )



class Migration(migrations.Migration):

    dependencies = [
        ("households", "0006_version_and_access_log"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
