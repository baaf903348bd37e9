# The follow-up panel's figures per campaign and grid (visits/rollups.py; decision 0018).

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Count, Q

SATISFACTION = ("satisfied", "basic", "unsatisfied")


def fill(apps, schema_editor):
    """The rows of the follow-ups already there (what visits.rollups.refresh_followups counts)."""
    FollowUp = apps.get_model("visits", "FollowUp")
    FollowUpCount = apps.get_model("visits", "FollowUpCount")
    done = Q(status="done")
    rows = (
        FollowUp.objects.values("campaign_id", "household__grid_id")
        .annotate(
            total=Count("pk"),
            done=Count("pk", filter=done),
            solved=Count("pk", filter=done & Q(solved=True)),
            reopened=Count("pk", filter=Q(reopened=True)),
            **{s: Count("pk", filter=done & Q(satisfaction=s)) for s in SATISFACTION},
        )
        .order_by()
    )
    FollowUpCount.objects.bulk_create(
        [
            FollowUpCount(
                campaign_id=r["campaign_id"],
                grid_id=r["household__grid_id"],
                **{c: r[c] for c in ("total", "done", "solved", "reopened", *SATISFACTION)},
            )
            for r in rows
        ],
        batch_size=2000,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("visits", "0013_cadre_rollups"),
        ("households", "0016_district_version"),
    ]

    operations = [
        migrations.CreateModel(
            name="FollowUpCount",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("total", models.IntegerField(default=0)),
                ("done", models.IntegerField(default=0)),
                ("solved", models.IntegerField(default=0)),
                ("reopened", models.IntegerField(default=0)),
                ("satisfied", models.IntegerField(default=0)),
                ("basic", models.IntegerField(default=0)),
                ("unsatisfied", models.IntegerField(default=0)),
                (
                    "campaign",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="visitplan.campaign"
                    ),
                ),
                (
                    "grid",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="households.node"
                    ),
                ),
            ],
            options={
                "verbose_name": "网格回头看汇总",
                "verbose_name_plural": "网格回头看汇总",
                "constraints": [models.UniqueConstraint(fields=("campaign", "grid"), name="followup_count_once")],
            },
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
