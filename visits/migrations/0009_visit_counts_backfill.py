"""Visit.counts for the visits recorded before the rulebook: every campaign so far follows the
product default, which counts every method but 未遇 (docs/decisions/0003: data in its own migration)."""

from django.db import migrations


def backfill(apps, schema_editor):
    Visit = apps.get_model("visits", "Visit")
    Visit.objects.filter(purpose="visit").exclude(method="not_home").update(counts=True)


class Migration(migrations.Migration):
    dependencies = [("visits", "0008_visit_counts")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
