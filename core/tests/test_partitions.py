"""The yearly partitions of the visits and the issue events (core/partitions.py, visits 0015,
issues 0009; docs/decisions/0019-partitioned-visits-and-events.md). PostgreSQL only, but for the
years a migration covers.

- An upgrade, not a fresh install: rows written while the tables are partitioned are taken down
  with the way back (the tables plain again), more rows written with the models of before, the
  database taken forward again. Every row comes back with every value and its id, in its year's
  partition (an event at 00:00 on 1 January in Asia/Shanghai in the new year's); the rows that
  referenced them still do; the next id continues after the old sequence; the same form key on
  the same day is refused; deleting through the ORM still cascades and sets null.
- ``ensure_partitions`` creates a missing year, moves into it the rows DEFAULT held for it, and
  does nothing the second time; the monthly task and a campaign's save call it.
"""

import datetime
import json

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from core.partitions import PARTITIONED, ensure_partitions, partition_name, years_to_cover
from core.tasks import ensure_partitions_task
from issues.models import IssueEvent, Notification
from issues.tests.factories import make_issue
from reports.models import Finding, PhoneCheck
from visitplan.models import Campaign
from visits.models import FollowUp, RaisedIssue, Visit

D = datetime.date
UTC = datetime.UTC
TODAY = D(2026, 12, 7)
# Just before the two partitioning migrations (reports' references have lost their constraints already).
BEFORE = [
    ("visits", "0014_followup_rollups"),
    ("issues", "0008_issue_rollups"),
    ("reports", "0004_unconstrained_visit_refs"),
]
TABLES = ("visits_visit", "issues_issueevent")


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor


def sql(query, params=()):
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


def partitioned(table) -> bool:
    return bool(sql("SELECT 1 FROM pg_partitioned_table WHERE partrelid = %s::regclass", [table]))


def partitions_of(table) -> set[str]:
    return {
        r[0] for r in sql("SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = %s::regclass", [table])
    }


def rows(table) -> dict[int, dict]:
    """Every column of every row, by id, as the database has it."""
    return {i: json.loads(r) for i, r in sql(f"SELECT id, row_to_json(t)::text FROM {table} t")}


def placed(table) -> dict[int, str]:
    """The partition each row is in, by id."""
    return dict(sql(f"SELECT id, tableoid::regclass::text FROM {table}"))


def visit(w, day, household=None, **fields):
    return Visit.objects.create(campaign=w.campaign, household=household or w.ha, cadre=w.worker_a.cadre,
                                visited_on=day, created_by=w.worker_a, **fields)  # fmt: skip


def test_a_migration_covers_the_datas_years_this_year_and_the_next():
    assert years_to_cover([], today=TODAY) == [2026, 2027]
    assert years_to_cover([2026, 2023], today=TODAY) == [2023, 2024, 2025, 2026, 2027]
    # A mistyped year far away gets its partition, not every year up to it.
    assert years_to_cover([1926, 2026], today=TODAY) == [1926, 2026, 2027]


# ---------------------------------------------------------------------------------------------- the upgrade


@pytest.mark.django_db(transaction=True)
def test_an_upgrade_keeps_every_row_its_id_and_its_references_in_the_partition_of_its_year(
    world, on_postgres, monkeypatch
):
    monkeypatch.setattr("core.clock.today", lambda: TODAY)
    w = world
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    # Written on the partitioned tables: the way down takes them along.
    issue = make_issue(w.ha, raised_by=w.worker_a)
    spare = make_issue(w.hb, raised_by=w.worker_a)
    recent = visit(w, D(2026, 10, 8), notes="老人独居，腿脚不便")
    RaisedIssue.objects.create(issue=spare, visit=recent)
    first_event = IssueEvent.objects.create(issue=issue, kind="registered", text="登记", to_status="registered")

    try:
        executor = _migrate(BEFORE)
        assert not partitioned("visits_visit") and not partitioned("issues_issueevent")
        old = executor.loader.project_state(BEFORE).apps
        OldVisit, OldEvent = old.get_model("visits", "Visit"), old.get_model("issues", "IssueEvent")
        common = {"campaign_id": w.campaign.pk, "cadre_id": w.worker_a.cadre.pk, "created_by_id": w.worker_a.pk}
        a = OldVisit.objects.create(household_id=w.ha.pk, visited_on=D(2024, 5, 1), method="phone", **common)
        b = OldVisit.objects.create(household_id=w.hb.pk, visited_on=D(2025, 12, 31), answers={"health": {"answer": "高血压", "needs_help": True}},
                                    checklist=["know_family"], started_at=datetime.time(9), ended_at=datetime.time(9, 40),
                                    duration_minutes=40, satisfaction="satisfied", **common)  # fmt: skip
        c = OldVisit.objects.create(household_id=w.ha.pk, visited_on=D(2026, 1, 1), card_given=True, **common)
        # The last id taken, then deleted: an id is never handed out twice, also after the upgrade.
        gone = OldVisit.objects.create(household_id=w.hc.pk, visited_on=D(2026, 2, 2), **common)
        gone_id = gone.pk
        gone.delete()
        # The way down put back the key unique on its own, whatever the day.
        with pytest.raises(IntegrityError), transaction.atomic():
            OldVisit.objects.create(household_id=w.ha.pk, visited_on=D(2026, 3, 3), key=a.key, **common)
        events = {}
        for name, at in (
            ("2024", datetime.datetime(2024, 7, 1, 2, 0, tzinfo=UTC)),
            ("last second of 2025", datetime.datetime(2025, 12, 31, 15, 59, 59, tzinfo=UTC)),  # 23:59:59+08
            ("first second of 2026", datetime.datetime(2025, 12, 31, 16, 0, tzinfo=UTC)),  # 00:00+08
        ):
            event = OldEvent.objects.create(issue_id=issue.pk, kind="note", text=name, data={"n": name})
            OldEvent.objects.filter(pk=event.pk).update(at=at)
            events[name] = event.pk
        old.get_model("visits", "RaisedIssue").objects.create(issue_id=issue.pk, visit_id=b.pk)
        followup = old.get_model("visits", "FollowUp").objects.create(
            campaign_id=w.campaign.pk, household_id=w.hb.pk, issue_id=issue.pk, cadre_id=w.worker_a.cadre.pk,
            listed_on=D(2026, 1, 5), due_on=D(2026, 1, 20), visit_id=c.pk,
        )  # fmt: skip
        finding = old.get_model("reports", "Finding").objects.create(
            campaign_id=w.campaign.pk, community_id=w.c1.pk, method="phone", kind="fake_visit", visit_id=c.pk,
            evidence="电话核实未入户", found_on=D(2026, 1, 9),
        )  # fmt: skip
        check = old.get_model("reports", "PhoneCheck").objects.create(
            campaign_id=w.campaign.pk, community_id=w.c1.pk, household_id=w.ha.pk, visit_id=c.pk, drawn_on=D(2026, 1, 8)
        )
        note = old.get_model("issues", "Notification").objects.create(
            user_id=w.admin.pk, event_id=events["first second of 2026"], issue_id=issue.pk, title="待交办"
        )
        before = {table: rows(table) for table in TABLES}
    finally:
        # Forward again in any case: the tests after this one need today's schema.
        _migrate(leaves)

    assert partitioned("visits_visit") and partitioned("issues_issueevent")
    for table in TABLES:
        assert rows(table) == before[table]
        assert partitions_of(table) == {f"{table}_default", *(partition_name(table, y) for y in range(2024, 2028))}
    assert placed("visits_visit") == {
        a.pk: "visits_visit_y2024", b.pk: "visits_visit_y2025", c.pk: "visits_visit_y2026",
        recent.pk: "visits_visit_y2026",
    }  # fmt: skip
    in_partition = placed("issues_issueevent")
    assert in_partition[events["2024"]] == "issues_issueevent_y2024"
    assert in_partition[events["last second of 2025"]] == "issues_issueevent_y2025"
    assert in_partition[events["first second of 2026"]] == "issues_issueevent_y2026"
    assert in_partition[first_event.pk] == f"issues_issueevent_y{timezone.localdate(first_event.at).year}"

    # The references, through today's models.
    assert RaisedIssue.objects.get(issue=issue).visit == Visit.objects.get(pk=b.pk)
    assert RaisedIssue.objects.get(issue=spare).visit.notes == "老人独居，腿脚不便"
    assert FollowUp.objects.get(pk=followup.pk).visit.visited_on == D(2026, 1, 1)
    assert Finding.objects.get(pk=finding.pk).visit_id == c.pk
    assert PhoneCheck.objects.get(pk=check.pk).visit.card_given is True
    assert Notification.objects.get(pk=note.pk).event.text == "first second of 2026"

    # New rows: ids after every id the old sequence gave; the same form key once per day.
    new = visit(w, D(2026, 12, 1))
    assert new.pk > gone_id > max(before["visits_visit"])
    assert IssueEvent.objects.create(issue=issue, kind="note", text="新").pk > max(before["issues_issueevent"])
    with pytest.raises(IntegrityError), transaction.atomic():
        visit(w, D(2026, 12, 1), key=new.key)
    assert Visit.objects.filter(key=new.key).count() == 1

    # on_delete runs in the ORM now that the database has no constraint.
    Visit.objects.get(pk=c.pk).delete()
    assert FollowUp.objects.get(pk=followup.pk).visit_id is None
    assert Finding.objects.get(pk=finding.pk).visit_id is None
    assert not PhoneCheck.objects.filter(pk=check.pk).exists()
    Visit.objects.get(pk=b.pk).delete()
    assert not RaisedIssue.objects.filter(issue=issue).exists()
    IssueEvent.objects.get(pk=events["first second of 2026"]).delete()
    assert not Notification.objects.filter(pk=note.pk).exists()


# ---------------------------------------------------------------------------------------------- keeping ahead


def test_a_missing_year_is_created_with_the_rows_default_held_for_it_once(world, on_postgres):
    w = world
    assert not sql("SELECT to_regclass('visits_visit_y2035')")[0][0]
    early, late = visit(w, D(2035, 6, 1), notes="早到的一条"), visit(w, D(2036, 2, 1))
    issue = make_issue(w.ha)
    eve = IssueEvent.objects.create(issue=issue, kind="note", text="除夕")
    new_year = IssueEvent.objects.create(issue=issue, kind="note", text="元旦")
    IssueEvent.objects.filter(pk=eve.pk).update(at=datetime.datetime(2034, 12, 31, 15, 59, 59, tzinfo=UTC))
    IssueEvent.objects.filter(pk=new_year.pk).update(at=datetime.datetime(2034, 12, 31, 16, 0, tzinfo=UTC))
    note = Notification.objects.create(user=w.admin, event=new_year, issue=issue, title="元旦")
    assert set(placed("visits_visit").values()) == {"visits_visit_default"}
    before = {table: rows(table) for table in TABLES}

    assert ensure_partitions("visits_visit", "visited_on", "date", [2035]) == ["visits_visit_y2035"]
    assert ensure_partitions("issues_issueevent", "at", "timestamptz", [2035]) == ["issues_issueevent_y2035"]
    assert placed("visits_visit") == {early.pk: "visits_visit_y2035", late.pk: "visits_visit_default"}
    assert placed("issues_issueevent")[new_year.pk] == "issues_issueevent_y2035"
    assert placed("issues_issueevent")[eve.pk] == "issues_issueevent_default"
    assert {table: rows(table) for table in TABLES} == before
    assert Notification.objects.get(pk=note.pk).event == new_year

    # Again: nothing to do, nothing moved.
    assert ensure_partitions("visits_visit", "visited_on", "date", [2035, 2036]) == ["visits_visit_y2036"]
    assert ensure_partitions("visits_visit", "visited_on", "date", [2035, 2036]) == []
    assert placed("visits_visit") == {early.pk: "visits_visit_y2035", late.pk: "visits_visit_y2036"}
    assert {table: rows(table) for table in TABLES} == before
    # A visit of the new year goes straight into its partition.
    summer = visit(w, D(2035, 7, 1))
    assert placed("visits_visit")[summer.pk] == "visits_visit_y2035"


def test_the_monthly_task_creates_next_years_partitions(on_postgres, monkeypatch):
    monkeypatch.setattr("core.clock.today", lambda: D(2040, 3, 1))
    expected = [partition_name(spec.table, y) for spec in PARTITIONED for y in (2040, 2041)]
    assert not any(sql("SELECT to_regclass(%s)", [name])[0][0] for name in expected)

    result = ensure_partitions_task.delay().get()

    assert result == {"years": [2040, 2041], "created": expected}
    for spec in PARTITIONED:
        assert {partition_name(spec.table, 2040), partition_name(spec.table, 2041)} <= partitions_of(spec.table)
    assert ensure_partitions_task.delay().get()["created"] == []


def test_a_campaign_saved_for_a_new_year_gets_its_partitions(world, on_postgres):
    assert partition_name("visits_visit", 2045) not in partitions_of("visits_visit")
    Campaign.objects.create(year=2045, name="入户大走访", street=world.street)
    assert partition_name("visits_visit", 2045) in partitions_of("visits_visit")
    assert partition_name("issues_issueevent", 2045) in partitions_of("issues_issueevent")
    first = visit(world, D(2045, 5, 4))
    assert placed("visits_visit")[first.pk] == "visits_visit_y2045"


def test_a_campaign_saved_while_the_visits_are_locked_is_saved_all_the_same(world, on_postgres, caplog):
    """The lock not had in time (a long report, here another session's lock): logged, the campaign saved."""
    import threading

    locked, release = threading.Event(), threading.Event()

    def hold_the_lock():
        from django.db import connections

        other = connections.create_connection("default")
        other.set_autocommit(False)
        with other.cursor() as cursor:
            cursor.execute("LOCK TABLE visits_visit IN ACCESS SHARE MODE")
            locked.set()
            release.wait(30)
        other.rollback()
        other.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert locked.wait(10)
        campaign = Campaign.objects.create(year=2046, name="入户大走访", street=world.street)
    finally:
        release.set()
        holder.join()
    assert Campaign.objects.filter(pk=campaign.pk).exists()
    assert partition_name("visits_visit", 2046) not in partitions_of("visits_visit")
    assert "partitions not created" in caplog.text
