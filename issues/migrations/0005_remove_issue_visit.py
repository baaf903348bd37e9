# Issue.visit moved to the visits app (visits.RaisedIssue); visits 0006 copies the links and
# runs before this migration (its run_before).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('issues', '0004_record_versions'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='issue',
            name='visit',
        ),
    ]
