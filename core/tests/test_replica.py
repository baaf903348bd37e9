"""只读副本 (core/replica.py): the router, the lag check and the middleware, with ``replica`` the
primary's own connection under another name (tests/support/replica.py: ``replica_alias``) — where a
read would go is what is tested here; a real streaming replica is tests/test_replica_streaming.py.

- Reads go to the replica only inside ``reading_from_replica()``; writes never do; inside it, a
  transaction on the primary or a write of the block sends the reads back to the primary.
- A replica lagging over REPLICA_MAX_LAG_SECONDS, or one that cannot be reached, leaves the block
  on the primary (a warning logged once); the lag is measured at most every few seconds.
- The middleware runs the listed pages' GET / HEAD in the block, nothing else; the page says how
  old its figures are from REPLICA_NOTICE_SECONDS on; a database error out of a page that read the
  replica is answered from the primary.
"""

import logging

import pytest
from django.contrib.auth.models import User
from django.db import OperationalError, connections, router, transaction
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import resolve, reverse

from core import replica
from core.models import BackgroundJob
from core.replica import ReplicaMiddleware, ReplicaRouter, reading_from_replica
from households.models import Household, Node, NodeKind
from tests.support.replica import replica_alias

NOTICE = "报表数据来自只读副本"


@pytest.fixture
def lag(monkeypatch):
    """The replica's measured lag, set by the test (a number, or an exception to raise); counts the measurements."""

    class Lag:
        value = 0.0
        measured = 0

    def measure():
        Lag.measured += 1
        if isinstance(Lag.value, BaseException):
            raise Lag.value
        return Lag.value

    monkeypatch.setattr(replica, "measure_lag", measure)
    return Lag


@pytest.fixture
def on_replica(db, lag):
    with replica_alias(share_primary=True):
        yield lag


@pytest.fixture
def routed(monkeypatch):
    """Where every read was routed (ReplicaRouter.db_for_read's answers)."""
    choices = []
    original = ReplicaRouter.db_for_read

    def spy(self, model, **hints):
        chosen = original(self, model, **hints)
        choices.append(chosen)
        return chosen

    monkeypatch.setattr(ReplicaRouter, "db_for_read", spy)
    return choices


# ------------------------------------------------------------------------------------------------ the router


def test_reads_go_to_the_replica_only_inside_the_block(on_replica):
    assert Household.objects.all().db == "default"
    with reading_from_replica() as read:
        assert read.on_replica and read.lag == 0
        assert Household.objects.all().db == "replica"
        assert Household.objects.filter(room="101").exists() is False  # it runs, on the replica alias
    assert Household.objects.all().db == "default"


def test_writes_always_go_to_the_primary_and_reads_of_what_the_block_wrote_follow(on_replica):
    with reading_from_replica():
        assert router.db_for_write(Household) == "default"
        assert Household.objects.select_for_update().db == "default"
        assert Household.objects.all().db == "default"  # the block has asked to write households
    with reading_from_replica() as read:
        assert Node.objects.all().db == "replica"
        street = Node.objects.create(kind=NodeKind.STREET, name="湖田街道")
        assert street._state.db == "default" and read.written == {"households_node"}
        # The street is not on a real replica yet: the block reads nodes on the primary from now on…
        assert Node.objects.all().db == "default"
        assert Node.objects.get(pk=street.pk) == street
        # …and the rest still on the replica (an export job's progress does not move its ledger).
        assert Household.objects.all().db == "replica"
        BackgroundJob.objects.create(kind="test", user=User.objects.create_user("job-owner"))
        assert BackgroundJob.objects.all().db == "default" and Household.objects.all().db == "replica"


def test_a_transaction_on_the_primary_reads_the_primary(on_replica):
    with reading_from_replica():
        with transaction.atomic():
            assert Household.objects.all().db == "default"
        assert Household.objects.all().db == "replica"


def test_an_inner_block_is_the_outer_one(on_replica):
    with reading_from_replica() as outer:
        with reading_from_replica() as inner:
            assert inner is outer
    assert on_replica.measured == 1


def test_it_works_as_a_decorator(on_replica):
    @reading_from_replica()
    def where():
        return Household.objects.all().db

    assert where() == "replica" and where() == "replica"
    assert replica.current() is None


def test_without_a_replica_the_block_reads_the_primary(db, settings, lag):
    settings.DATABASE_ROUTERS = ["core.replica.ReplicaRouter"]
    with reading_from_replica() as read:
        assert (read.on_replica, read.reason) == (False, replica.NOT_CONFIGURED)
        assert Household.objects.all().db == "default"
    assert lag.measured == 0


def test_objects_of_both_aliases_may_be_related_and_the_replica_is_never_migrated(on_replica):
    with reading_from_replica():
        street = Node.objects.create(kind=NodeKind.STREET, name="湖田街道")
    with reading_from_replica():
        same = Node.objects.get(pk=street.pk)
    assert same._state.db == "replica"
    community = Node(kind=NodeKind.COMMUNITY, name="湖田社区")
    community._state.db = "default"
    assert router.allow_relation(community, same)
    assert router.allow_migrate("replica", "households") is False
    assert router.allow_migrate("default", "households") is True


# ------------------------------------------------------------------------------------------------ the lag


def test_a_replica_lagging_over_the_limit_is_not_read(on_replica, settings, caplog):
    settings.REPLICA_MAX_LAG_SECONDS = 300
    on_replica.value = 301.0
    with caplog.at_level(logging.WARNING, logger="core.replica"):
        with reading_from_replica() as read:
            assert (read.on_replica, read.reason, read.lag) == (False, replica.LAGGING, 301.0)
            assert Household.objects.all().db == "default"
            assert read.notice == ""  # the figures are the primary's: nothing to say
        replica.forget_lag()
        on_replica.value = 300.0
        with reading_from_replica() as read:
            assert read.on_replica and Household.objects.all().db == "replica"
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        "只读副本落后 301 秒（上限 300 秒），报表改从主库读取 Read replica 301 s behind: reports read the primary"
    ]


def test_an_unreachable_replica_is_not_read_and_not_asked_again_at_once(on_replica, caplog):
    on_replica.value = OperationalError("connection refused")
    with caplog.at_level(logging.WARNING, logger="core.replica"):
        for _ in range(3):
            with reading_from_replica() as read:
                assert (read.on_replica, read.reason) == (False, replica.UNREACHABLE)
                assert Household.objects.all().db == "default"
    assert on_replica.measured == 1  # then left alone for DOWN_RETRY_SECONDS
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "只读副本无法使用，报表改从主库读取 Read replica unusable (OperationalError): reports read the primary"
    ]


def test_the_lag_is_measured_again_after_a_few_seconds(on_replica, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(replica.time, "monotonic", lambda: clock[0])
    on_replica.value = 4.0
    for _ in range(3):
        with reading_from_replica() as read:
            assert read.lag == 4.0
    assert on_replica.measured == 1
    clock[0] += replica.LAG_CACHE_SECONDS + 0.1
    on_replica.value = 0.0
    with reading_from_replica() as read:
        assert read.lag == 0.0
    assert on_replica.measured == 2


def test_a_replica_that_cannot_tell_its_lag_is_not_read(on_replica):
    on_replica.value = None  # started, nothing replayed yet
    with reading_from_replica() as read:
        assert not read.on_replica and Household.objects.all().db == "default"


@pytest.mark.parametrize(
    "seconds,notice", [(0.0, ""), (4.9, ""), (5.0, "约 5 秒前"), (12.4, "约 12 秒前"), (180.0, "约 3 分钟前")]
)
def test_the_notice_says_how_old_the_figures_are(settings, seconds, notice):
    settings.REPLICA_NOTICE_SECONDS = 5
    assert replica.ReplicaRead(on_replica=True, lag=seconds).notice == notice


# ------------------------------------------------------------------------------------------------ the pages


def test_the_listed_names_are_the_reports_read_only_pages():
    for name in replica.REPLICA_URL_NAMES:
        assert reverse(name).startswith("/reports/"), name
    for name in ("reports:findings", "reports:phone_checks", "reports:my_exports", "reports:ledger_visits"):
        assert name not in replica.REPLICA_URL_NAMES  # a POST redirects there, or the page writes


@pytest.fixture
def admin_client(rw):
    client = Client()
    client.force_login(rw.admin)
    return client


@pytest.mark.parametrize("method", ["get", "head"])
def test_a_listed_page_reads_the_replica(on_replica, routed, admin_client, method):
    for name in ("reports:dashboard", "reports:ledgers", "reports:summary"):
        routed.clear()
        response = getattr(admin_client, method)(reverse(name))
        assert response.status_code == 200, name
        assert response.wsgi_request.replica_read.on_replica
        assert "replica" in routed, name
    assert replica.current() is None  # over with the request


def test_other_pages_read_the_primary(on_replica, routed, admin_client):
    assert admin_client.get(reverse("reports:my_exports")).status_code == 200
    assert admin_client.get(reverse("reports:findings")).status_code == 200
    assert routed and set(routed) == {"default"}


@pytest.mark.parametrize(
    "method,read", [("get", True), ("head", True), ("post", False), ("put", False), ("delete", False)]
)
def test_only_get_and_head_of_a_listed_page_read_the_replica(on_replica, method, read):
    # The access rules answer any other method of these pages first; the middleware does not rely on it.
    request = getattr(RequestFactory(), method)("/reports/")
    request.resolver_match = resolve("/reports/")
    seen = []

    def view(request):
        seen.append(replica.current())
        return HttpResponse()

    middleware = ReplicaMiddleware(lambda request: middleware.process_view(request, view, (), {}) or view(request))
    middleware(request)
    assert (seen[0] is not None and seen[0].on_replica) is read
    assert hasattr(request, "replica_read") is read
    assert replica.current() is None


def test_the_page_says_how_old_its_figures_are(on_replica, settings, admin_client):
    settings.REPLICA_NOTICE_SECONDS = 5
    on_replica.value = 2.0
    assert NOTICE not in admin_client.get(reverse("reports:dashboard")).content.decode()
    replica.forget_lag()
    on_replica.value = 12.0
    page = admin_client.get(reverse("reports:dashboard")).content.decode()
    assert "报表数据来自只读副本，约 12 秒前更新" in page
    replica.forget_lag()
    on_replica.value = settings.REPLICA_MAX_LAG_SECONDS + 1.0  # read from the primary: current figures
    assert NOTICE not in admin_client.get(reverse("reports:dashboard")).content.decode()
    # A page not read from the replica never says it.
    assert NOTICE not in admin_client.get(reverse("reports:my_exports")).content.decode()


def test_a_replica_failing_under_a_page_is_answered_from_the_primary(on_replica, admin_client, caplog):
    failed = []

    def replica_down(execute, sql, params, many, context):
        read = replica.current()
        if read is not None and read.on_replica and not failed:
            failed.append(sql)
            raise OperationalError("terminating connection due to conflict with recovery")
        return execute(sql, params, many, context)

    with caplog.at_level(logging.WARNING, logger="core.replica"):
        with connections["default"].execute_wrapper(replica_down):
            response = admin_client.get(reverse("reports:dashboard"))
    assert failed and response.status_code == 200
    assert response.wsgi_request.replica_read.reason == replica.UNREACHABLE
    assert "Read replica unusable (OperationalError)" in caplog.text
    with reading_from_replica() as read:  # not asked again at once
        assert not read.on_replica
