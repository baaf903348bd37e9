"""visits 0002 (the visit form) on a database that already has visits — an upgrade, not a fresh
install. ``Visit.key`` arrives empty, a data step gives each old visit a key of its own, and then
the column becomes required and unique, in the same migration. Two visits alike in every old column
(a form saved twice) must not share a key: the default the schema change would fill in is computed
once, so without the data step they collide. On PostgreSQL the schema change after the data step
must not fail with "pending trigger events".

The database is taken back to just before 0002 (and the other apps to the migrations 0002 depends
on), the visits written with the models of that time, and the database taken forward to today.
"""

import datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from visits.models import Visit

D = datetime.date
BEFORE = [
    ("households", "0004_search_indexes"),
    ("issues", "0003_followup_event_ledger_order_index"),
    ("visitplan", "0003_department_head_user"),
    ("visits", "0001_initial"),
]
OLD_COLUMNS = ("household_id", "cadre_id", "campaign_id", "created_by_id", "method", "visited_on", "notes")
# What the form's fields read on a visit from before the form existed: nothing filled in.
FORM_UNFILLED = {
    "purpose": "visit",
    "started_at": None,
    "ended_at": None,
    "duration_minutes": None,
    "short_reason": "",
    "companions": "",
    "answers": {},
    "other_difficulties": "",
    "suggestions": "",
    "checklist": [],
    "card_given": False,
    "satisfaction": "",
}


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor


@pytest.mark.django_db(transaction=True)
def test_every_old_visit_gets_a_key_of_its_own_through_the_upgrade(world):
    w = world
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    rows = [
        (w.ha, w.worker_a, w.worker_a, "in_person", D(2026, 10, 8), "老人独居，腿脚不便"),
        # The same form saved twice (a double tap before the key existed): alike in every old column.
        (w.ha, w.worker_a, w.worker_a, "in_person", D(2026, 10, 9), "反映楼道灯坏了"),
        (w.ha, w.worker_a, w.worker_a, "in_person", D(2026, 10, 9), "反映楼道灯坏了"),
        (w.hb, w.worker_b, w.worker_b, "phone", D(2026, 10, 12), "在外务工，电话联系"),
        (w.hc, w.handler, None, "not_home", D(2026, 10, 13), ""),  # entered by the office, no user kept
    ]  # fmt: skip

    try:
        executor = _migrate(BEFORE)
        OldVisit = executor.loader.project_state(BEFORE).apps.get_model("visits", "Visit")
        assert "key" not in {f.name for f in OldVisit._meta.get_fields()}
        before = {}
        for household, visitor, entered_by, method, day, notes in rows:
            visit = OldVisit.objects.create(
                campaign_id=w.campaign.pk, household_id=household.pk, cadre_id=visitor.cadre.pk,
                created_by_id=entered_by.pk if entered_by else None, method=method, visited_on=day, notes=notes,
            )  # fmt: skip
            before[visit.pk] = tuple(getattr(visit, column) for column in OLD_COLUMNS)
    finally:
        # Forward again in any case: the tests after this one need today's schema.
        _migrate(leaves)

    after = list(Visit.objects.order_by("pk"))
    assert {v.pk: tuple(getattr(v, column) for column in OLD_COLUMNS) for v in after} == before
    keys = [v.key for v in after]
    assert None not in keys
    assert len(set(keys)) == len(rows)
    assert [{field: getattr(v, field) for field in FORM_UNFILLED} for v in after] == [FORM_UNFILLED] * len(rows)

    # The column is unique and required from now on.
    first, twin = after[1], after[2]
    with pytest.raises(IntegrityError), transaction.atomic():
        Visit.objects.filter(pk=twin.pk).update(key=first.key)
    with pytest.raises(IntegrityError), transaction.atomic():
        Visit.objects.filter(pk=twin.pk).update(key=None)
    assert Visit.objects.get(pk=twin.pk).key == twin.key
