"""The visits partitioned by year of ``visited_on`` on PostgreSQL (docs/decisions/0019-partitioned-visits-and-events.md).

The references to a visit lose their foreign key constraints (here the two of this app; reports'
two in reports 0004, which this depends on): a partitioned table's primary key is (id, visited_on),
and a constraint can only reference a unique key. Then ``core.partitions.partition_table`` rebuilds
the table: the same columns, rows and ids, a sequence owned by ``id`` continuing after the old one,
its constraints and indexes under their names, ``UNIQUE (key, visited_on)`` in place of
``UNIQUE (key)``, one partition a year (the data's, this year's, next year's) and a DEFAULT one.

Django's state of ``Visit`` is unchanged (``id`` the primary key, ``key`` unique). On SQLite only
the references change; the table stays as it is. The way back makes the table plain again.
"""

import django.db.models.deletion
from django.db import migrations, models

from core.partitions import partition_table, unpartition_table


def partition(apps, schema_editor):
    partition_table(schema_editor, "visits_visit", "visited_on", "date")


def unpartition(apps, schema_editor):
    unpartition_table(schema_editor, "visits_visit")


class Migration(migrations.Migration):
    dependencies = [
        ("visits", "0014_followup_rollups"),
        ("issues", "0008_issue_rollups"),
        ("reports", "0004_unconstrained_visit_refs"),
    ]

    operations = [
        migrations.AlterField(
            model_name="followup",
            name="visit",
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="followups", to="visits.visit", verbose_name="回访记录"),
        ),
        migrations.AlterField(
            model_name="raisedissue",
            name="visit",
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, related_name="raised", to="visits.visit", verbose_name="来源走访"),
        ),
        migrations.RunPython(partition, unpartition, elidable=False),
    ]
