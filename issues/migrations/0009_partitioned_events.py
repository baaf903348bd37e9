"""The issue events partitioned by year of ``at`` in the office's time zone on PostgreSQL
(docs/decisions/0019-partitioned-visits-and-events.md): partitions cut at ``'2026-01-01 00:00+08'``.

``Notification.event`` loses its foreign key constraint first (a partitioned table's primary key is
(id, at), and a constraint can only reference a unique key); then
``core.partitions.partition_table`` rebuilds the table with its rows, ids, sequence, constraints and
index names, one partition a year (the data's, this year's, next year's) and a DEFAULT one.

Django's state of ``IssueEvent`` is unchanged. On SQLite only the reference changes. The way back
makes the table plain again.
"""

import django.db.models.deletion
from django.db import migrations, models

from core.partitions import partition_table, unpartition_table


def partition(apps, schema_editor):
    partition_table(schema_editor, "issues_issueevent", "at", "timestamptz")


def unpartition(apps, schema_editor):
    unpartition_table(schema_editor, "issues_issueevent")


class Migration(migrations.Migration):
    dependencies = [("issues", "0008_issue_rollups"), ("visits", "0015_partitioned_visits")]

    operations = [
        migrations.AlterField(
            model_name="notification",
            name="event",
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="issues.issueevent", verbose_name="办理记录"),
        ),
        migrations.RunPython(partition, unpartition, elidable=False),
    ]
