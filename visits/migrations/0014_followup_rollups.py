# Placeholder so that concurrent work does not fork the migration graph; filled in by: the follow-up rollups.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("visits", "0013_cadre_rollups")]

    operations = []
