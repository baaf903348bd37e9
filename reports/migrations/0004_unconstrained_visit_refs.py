# The visits table becomes partitioned by year (visits 0015, docs/decisions/0019-partitioned-visits-and-events.md):
# no foreign key constraint can reference it any more, so these two references lose theirs first
# (their indexes stay; on_delete still runs in the ORM).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0003_monthly_targets_stage_notice"),
    ]

    operations = [
        migrations.AlterField(
            model_name="finding",
            name="visit",
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="findings", to="visits.visit", verbose_name="走访记录"),
        ),
        migrations.AlterField(
            model_name="phonecheck",
            name="visit",
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, related_name="phone_checks", to="visits.visit", verbose_name="被核查的走访"),
        ),
    ]
