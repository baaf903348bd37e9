"""The reports against a real PostgreSQL streaming replica on loopback (core/replica.py).

A ``pg_basebackup`` of the test server streams into a second cluster on a free port
(tests/support/replica.py: ``StreamingReplica``); ``replica`` points at the test database there.
The tests commit (``transaction=True``): only committed rows reach a replica.

- The dashboard, a ledger page and an export job read the replica, and show what the primary shows;
  the session, the user and the job's own progress are read on the primary.
- A lagging replica (its replay paused): a visit just recorded is not on it; the dashboard says how
  old its figures are; once the lag passes REPLICA_MAX_LAG_SECONDS the dashboard reads the primary
  and counts the visit; the replica catches up when replay resumes.
- Recording a visit (a POST) never touches the replica.
- A replica that has gone away: the dashboard reads the primary.
"""

import io
import re

import pytest
from django.db import DEFAULT_DB_ALIAS, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core import replica
from core.jobs import ProgressReporter, job_create
from core.replica import reading_from_replica
from reports.ledgers import excel
from reports.tests.factories import visit
from tests.support.replica import (
    ReplicaUnavailable,
    StreamingReplica,
    free_port,
    replica_alias,
    standby_settings,
    wait_until,
)
from tests.support.skipping import require_or_skip
from visits.models import Visit
from visits.tests.test_pages import form_data, key_on

# Committed rows (only they reach a replica); ``replica`` is a test mirror: never flushed, never created.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, databases=["default", "replica"])]

NOTICE = "报表数据来自只读副本"
TALLY = re.compile(r'"visits_(householddays|cadrespan|daytotal)"')


@pytest.fixture(scope="module")
def streaming_replica(django_db_setup, django_db_blocker):
    """A replica of the test server for the module (started once the test database exists), named
    ``replica`` before the tests' database set-up, which must know every alias they use."""
    with django_db_blocker.unblock():
        primary = connections[DEFAULT_DB_ALIAS]
        require_or_skip(primary.vendor == "postgresql", "PostgreSQL")
        with primary.cursor() as cursor:
            minimums = standby_settings(cursor)
        server_major = primary.pg_version // 10000
    try:
        server = StreamingReplica(primary.settings_dict, server_major)
    except ReplicaUnavailable as exc:
        require_or_skip(False, str(exc))
    try:
        server.start(minimums)
    except ReplicaUnavailable as exc:
        server.stop()
        require_or_skip(False, f"a streaming replica ({exc})")
    except BaseException:
        server.stop()
        raise
    try:
        with replica_alias(host="127.0.0.1", port=server.port):
            yield server
    finally:
        server.stop()


@pytest.fixture
def on_replica(streaming_replica, settings):
    settings.REPLICA_MAX_LAG_SECONDS = 300
    settings.REPLICA_NOTICE_SECONDS = 1
    replica.forget_lag()
    yield streaming_replica
    replica.forget_lag()


def replica_sql(sql):
    with connections[replica.REPLICA].cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def primary_lsn():
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        return cursor.fetchone()[0]


def replayed(lsn):
    return replica_sql(f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn")


def received(lsn):
    return replica_sql(f"SELECT pg_last_wal_receive_lsn() >= '{lsn}'::pg_lsn")


def caught_up():
    """Wait until the replica has replayed everything the primary has written so far."""
    lsn = primary_lsn()
    wait_until(lambda: replayed(lsn), timeout=30, what="the replica's replay")
    replica.forget_lag()


def lag_now():
    """The replica's lag measured now (not the cached one); 0 when it cannot tell."""
    replica.forget_lag()
    return replica.replica_lag() or 0.0


def reader(user):
    client = Client()
    client.force_login(user)
    return client


def dashboard(client):
    """GET the dashboard; (the response, the queries on the primary, those on the replica)."""
    with CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as on_primary:
        with CaptureQueriesContext(connections[replica.REPLICA]) as on_replica:
            response = client.get(reverse("reports:dashboard"))
    assert response.status_code == 200
    return response, [q["sql"] for q in on_primary], [q["sql"] for q in on_replica]


@pytest.fixture
def street(on_replica, rw):
    """The small street with three visits (ha is still unvisited), committed and replayed."""
    w = rw
    visit(w, w.hb, w.worker_b, w.campaign.stages.get(kind="visit").starts_on, minutes=40)
    visit(w, w.hc, w.handler, w.campaign.stages.get(kind="visit").starts_on, minutes=35)
    visit(w, w.hb, w.worker_b, w.campaign.stages.get(kind="visit").ends_on, method="phone")
    caught_up()
    return w


def test_the_dashboard_reads_the_replica_and_shows_the_primarys_figures(street, settings):
    w = street
    admin = reader(w.admin)
    response, on_primary, on_replica = dashboard(admin)
    read = response.wsgi_request.replica_read
    assert read.on_replica and read.lag is not None
    # The figures are read on the replica (the tally tables), the session and the user on the primary.
    assert any(TALLY.search(sql) for sql in on_replica)
    assert not any(TALLY.search(sql) for sql in on_primary)
    assert any('"django_session"' in sql for sql in on_primary)
    assert not any('"django_session"' in sql for sql in on_replica)
    # The same page read on the primary shows the same figures.
    settings.REPLICA_MAX_LAG_SECONDS = -1
    replica.forget_lag()
    primary_page, on_primary, on_replica = dashboard(admin)
    assert primary_page.wsgi_request.replica_read.reason == replica.LAGGING
    assert any(TALLY.search(sql) for sql in on_primary) and on_replica == [replica.LAG_SQL]  # only the lag asked
    assert response.context["board"] == primary_page.context["board"]
    assert response.context["board"].coverage["visited"] == 2


def test_the_ledgers_page_and_an_export_read_the_replica(street):
    w = street
    with CaptureQueriesContext(connections[replica.REPLICA]) as on_replica:
        assert reader(w.admin).get(reverse("reports:ledgers")).status_code == 200
    assert any('"visitplan_campaign"' in q["sql"] for q in on_replica)
    # An export job's run in the block (as reports.ledgers.jobs runs them): its progress is written
    # to the primary as it goes, its ledger read from the replica, with the rows the primary has.
    job = job_create(kind="reports.export_ledger_visits", user=w.admin)
    with CaptureQueriesContext(connections[replica.REPLICA]) as on_replica:
        with reading_from_replica() as read:
            reporter = ProgressReporter(job)
            reporter(0, 0, "正在生成", force=True)
            export = excel.visit_ledger_export(w.admin, campaign=w.campaign)
            rows = export.write(io.BytesIO(), lambda done: reporter(done, export.rows, force=True))
    assert read.on_replica and read.written == {"core_backgroundjob"}
    assert any('"visits_visit"' in q["sql"] for q in on_replica)
    assert not any('"core_backgroundjob"' in q["sql"] for q in on_replica)
    assert rows == export.rows == Visit.objects.filter(campaign=w.campaign).count() == 3


def test_a_lagging_replica_says_so_then_gives_way_to_the_primary(street, settings):
    w = street
    admin, cadre = reader(w.admin), reader(w.worker_a)
    replica_sql("SELECT pg_wal_replay_pause()")
    try:
        wait_until(lambda: replica_sql("SELECT pg_get_wal_replay_pause_state()") == "paused", what="the pause")
        # A visit recorded on the primary (the visit form): it never touches the replica.
        url = reverse("visits:visit", args=[w.ha.pk])
        with CaptureQueriesContext(connections[replica.REPLICA]) as on_replica:
            form = cadre.get(url)
            assert cadre.post(url, form_data(key_on(form))).status_code == 302
        assert not on_replica.captured_queries
        lsn = primary_lsn()
        wait_until(lambda: received(lsn), what="the replica receiving the visit")
        assert Visit.objects.count() == 4
        assert Visit.objects.using(replica.REPLICA).count() == 3
        # Behind by a second or more: the page says how old its figures are, and they are the replica's.
        replica.forget_lag()
        wait_until(lambda: lag_now() >= 1.5, what="a lag of 1.5 s")
        response, _, on_replica = dashboard(admin)
        read = response.wsgi_request.replica_read
        assert read.on_replica and read.lag >= 1 and any(TALLY.search(sql) for sql in on_replica)
        assert NOTICE in response.content.decode()
        assert response.context["board"].coverage["visited"] == 2  # ha's visit is not there yet
        # Behind by more than REPLICA_MAX_LAG_SECONDS: the primary, the visit counted, nothing to say.
        settings.REPLICA_MAX_LAG_SECONDS = 2
        wait_until(lambda: lag_now() > 2, what="a lag over 2 s")
        response, _, on_replica = dashboard(admin)
        assert response.wsgi_request.replica_read.reason == replica.LAGGING
        assert not any(TALLY.search(sql) for sql in on_replica)
        assert NOTICE not in response.content.decode()
        assert response.context["board"].coverage["visited"] == 3
    finally:
        replica_sql("SELECT pg_wal_replay_resume()")
    # Replay resumed: the replica catches up and is read again, with the visit.
    caught_up()
    response, _, on_replica = dashboard(admin)
    assert response.wsgi_request.replica_read.on_replica and any(TALLY.search(sql) for sql in on_replica)
    assert response.context["board"].coverage["visited"] == 3


def test_a_replica_gone_away_leaves_the_dashboard_on_the_primary(street, caplog):
    w = street
    connection = connections[replica.REPLICA]
    connection.close()
    port = connection.settings_dict["PORT"]
    connection.settings_dict["PORT"] = free_port()  # nothing listens there
    try:
        with CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as on_primary:
            response = reader(w.admin).get(reverse("reports:dashboard"))
    finally:
        connection.close()
        connection.settings_dict["PORT"] = port
    assert response.status_code == 200
    assert response.wsgi_request.replica_read.reason == replica.UNREACHABLE
    assert any(TALLY.search(q["sql"]) for q in on_primary)
    assert response.context["board"].coverage["visited"] == 2
    assert "Read replica unusable (OperationalError)" in caplog.text
