# Placeholder so that concurrent work does not fork the migration graph; filled in by: the partitioning of visits.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("visits", "0014_followup_rollups"), ("issues", "0008_issue_rollups")]

    operations = []
