# Placeholder so that concurrent work does not fork the migration graph; filled in by: the issue-figure rollups.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("issues", "0007_step_notifications")]

    operations = []
