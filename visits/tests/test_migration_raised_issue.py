"""The move of ``Issue.visit`` to ``visits.RaisedIssue`` (visits 0005: the table, 0006: the copy,
issues 0005: the old column dropped) on a database whose issues are linked to visits — an upgrade,
not a fresh install. Every link survives, an issue from the hotline stays without one; on SQLite
and on PostgreSQL (where a copy and a schema change in one transaction can fail with "pending
trigger events", hence three migrations).

The rows are written with today's models, the database taken back to before the move (which puts
the links back on the issues: the way down is tested too), one more issue linked the old way, and
the database taken forward again.
"""

import datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from issues.tests.factories import make_issue
from visits.models import RaisedIssue, Visit

D = datetime.date
BEFORE = [("issues", "0004_record_versions"), ("visits", "0004_tallies")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor


def _issue_columns():
    with connection.cursor() as cursor:
        return {c.name for c in connection.introspection.get_table_description(cursor, "issues_issue")}


@pytest.mark.django_db(transaction=True)
def test_every_issue_keeps_its_visit_through_the_upgrade(world):
    w = world
    visits = [
        Visit.objects.create(campaign=w.campaign, household=household, cadre=w.worker_a.cadre, visited_on=D(2026, 10, day),
                             created_by=w.worker_a)
        for day, household in ((8, w.ha), (9, w.ha), (12, w.hb))
    ]  # fmt: skip
    raised = {}
    for n, visit in enumerate(visits):
        for _ in range(n + 1):  # one, two and three issues
            issue = make_issue(visit.household, raised_by=w.worker_a)
            visit.issues.add(issue)
            raised[issue.pk] = visit.pk
    hotline = make_issue(w.hc, hotline_ticket="12345-0001")
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()

    try:
        executor = _migrate(BEFORE)
        assert "visit_id" in _issue_columns()
        OldIssue = executor.loader.project_state(BEFORE).apps.get_model("issues", "Issue")
        assert dict(OldIssue.objects.filter(visit__isnull=False).values_list("pk", "visit_id")) == raised
        assert OldIssue.objects.get(pk=hotline.pk).visit_id is None
        # An issue raised in a visit on the old version, just before the upgrade.
        old_style = OldIssue.objects.get(pk=max(raised))
        old_style.pk = old_style.id = None
        old_style.text = "升级前登记的诉求"
        old_style.save()
        raised[old_style.pk] = old_style.visit_id
    finally:
        # Forward again in any case: the tests after this one need today's schema.
        _migrate(leaves)

    assert "visit_id" not in _issue_columns()
    assert len(raised) == 7
    assert dict(RaisedIssue.objects.values_list("issue_id", "visit_id")) == raised
    assert not RaisedIssue.objects.filter(issue_id=hotline.pk).exists()
    # Read back from the visit's side as the pages do.
    on_third = sorted(pk for pk, visit_pk in raised.items() if visit_pk == visits[2].pk)
    assert sorted(visits[2].issues.values_list("pk", flat=True)) == on_third
