"""Copy every Issue.visit into a RaisedIssue row. A migration of its own, between the schema change
(0005) and the drop of the old column (issues 0005, which runs after this one): on PostgreSQL a
schema change in the transaction that wrote rows fails with "pending trigger events"."""

from django.db import migrations

BATCH = 5000


def copy_links(apps, schema_editor):
    Issue = apps.get_model("issues", "Issue")
    RaisedIssue = apps.get_model("visits", "RaisedIssue")
    links = Issue.objects.filter(visit__isnull=False).order_by("pk").values_list("pk", "visit_id")
    last = 0
    while batch := list(links.filter(pk__gt=last)[:BATCH]):
        RaisedIssue.objects.bulk_create(RaisedIssue(issue_id=issue_id, visit_id=visit_id) for issue_id, visit_id in batch)
        last = batch[-1][0]


def restore_links(apps, schema_editor):
    Issue = apps.get_model("issues", "Issue")
    RaisedIssue = apps.get_model("visits", "RaisedIssue")
    links = RaisedIssue.objects.order_by("pk").values_list("pk", "visit_id")
    last = 0
    while batch := list(links.filter(pk__gt=last)[:BATCH]):
        Issue.objects.bulk_update([Issue(pk=issue_id, visit_id=visit_id) for issue_id, visit_id in batch], ["visit"])
        last = batch[-1][0]


class Migration(migrations.Migration):

    dependencies = [
        ("visits", "0005_raisedissue"),
    ]

    # The old column goes only once the links are copied; the ledger's migration names no visits
    # migration, as its models name no visits model.
    run_before = [
        ("issues", "0005_remove_issue_visit"),
    ]

    operations = [migrations.RunPython(copy_links, restore_links)]
