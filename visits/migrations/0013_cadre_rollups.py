# Placeholder so that concurrent work does not fork the migration graph; filled in by: the cadre-target rollups.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("visits", "0012_grid_rollups")]

    operations = []
