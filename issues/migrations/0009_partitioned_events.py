# Placeholder so that concurrent work does not fork the migration graph; filled in by: the partitioning of issue events.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("issues", "0008_issue_rollups"), ("visits", "0015_partitioned_visits")]

    operations = []
