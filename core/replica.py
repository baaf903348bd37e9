"""只读副本 · Reports from a read replica (docs/decisions/0016-read-replica.md).

With ``DATABASE_REPLICA_URL`` set, ``DATABASES["replica"]`` is a PostgreSQL streaming replica of
the primary (``default``) and ``ReplicaRouter`` is the project's database router. It sends a read
to the replica only inside ``reading_from_replica()`` — never by default — so everything else,
and above all a read that must see the request's own write, stays on the primary:

- every write goes to the primary (``db_for_write``), and so does every query Django marks as one
  (``select_for_update``, ``get_or_create``, a related manager's ``add``…);
- inside the block, a read of a table the block has written goes to the primary (the write's rows
  are not on the replica yet: an export job's progress, written as it goes, is read back on the
  primary while its ledger is read from the replica), and so does every read while a transaction
  is open on the primary (``transaction.atomic``: what it reads it reads to write). The router sees
  a query's model, not its joins: code that writes rows and then reads them through another model
  belongs in a transaction, or outside the block;
- on entering the block the replica's lag is checked (``replica_lag``, cached a few seconds): a
  replica that cannot be reached, or that lags more than ``REPLICA_MAX_LAG_SECONDS``, sends the
  whole block to the primary — stale figures would mislead a leader more than a slower page does.
  A warning is logged once each time the replica goes out of use, and once when it is back.

Where the block is entered:

- ``ReplicaMiddleware``: GET and HEAD requests of the pages in ``REPLICA_URL_NAMES`` (the dashboard,
  its panels, the 总结 / 综合评议 / 督查通报 pages and the ledgers page: pages that only read; never a
  page a POST redirects to, nor an export job's page, which must see the job it has just written).
  The view runs in the block; a database error out of it while it read the replica (the replica
  went away, a query cancelled by a recovery conflict) runs the view once more on the primary.
  ``request.replica_read`` is the block (``ReplicaRead``): the base template's notice
  (templates/_replica_notice.html) says how old the figures are once they lag
  ``REPLICA_NOTICE_SECONDS`` or more.
- the export jobs: ``with reading_from_replica():`` around building and writing the file (the job's
  own claim, progress and finish are writes and go to the primary anyway).

Without ``DATABASE_REPLICA_URL`` there is no replica alias and no router: the block reads the
primary and ``request.replica_read`` says so; nothing else changes.

The lag is measured on the replica: 0 when it has replayed all the WAL it received (an idle
primary sends nothing, so the time since the last replayed commit would grow without any lag),
else the time since the last commit it replayed. Its ``now()`` is compared with the primary's
commit times: the two servers' clocks must be kept in step (NTP).
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from .health import DATABASE_ERRORS

log = logging.getLogger(__name__)

REPLICA = "replica"

# GET / HEAD pages that only read: they run in reading_from_replica(). Not listed on purpose: the
# pages with a form (findings, phone checks, hardship plans, the map's places: a POST redirects
# back to them and they must show what it saved), the export downloads (GET requests that write
# a job and read it back) and the job and 我的导出 pages (they follow the user's own jobs).
REPLICA_URL_NAMES = frozenset(
    {
        "reports:dashboard",
        "reports:district",
        "reports:unvisited",
        "reports:behind",
        "reports:cadre",
        "reports:issues",
        "reports:visits",
        "reports:followups",
        "reports:summary",
        "reports:evaluation",
        "reports:bulletin",
        "reports:ledgers",
    }
)

# How long a measured lag is trusted before it is measured again, and how long a replica that
# could not be reached is left alone (connecting to a host that does not answer costs the
# connect timeout, 3 s: once per DOWN_RETRY_SECONDS, not on every page).
LAG_CACHE_SECONDS = 3.0
DOWN_RETRY_SECONDS = 30.0

# Seconds behind the primary; 0 when the replica has replayed all it received, or is no standby
# at all (a test mirror, or a promoted one). NULL: it has not replayed a commit since it started.
LAG_SQL = """
SELECT CASE
    WHEN NOT pg_is_in_recovery() THEN 0
    WHEN pg_last_wal_receive_lsn() IS NOT NULL AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
    ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())
END
"""

ON_REPLICA, NOT_CONFIGURED, UNREACHABLE, LAGGING = "", "not_configured", "unreachable", "lagging"


@dataclass
class ReplicaRead:
    """One ``reading_from_replica()`` block: where its reads go and why."""

    on_replica: bool  # decided on entering: the replica is there and close enough
    lag: float | None = None  # seconds behind, as measured (None: not measured, or unreachable)
    reason: str = ON_REPLICA  # why the block reads the primary: NOT_CONFIGURED, UNREACHABLE, LAGGING
    written: set[str] = field(default_factory=set)  # the tables the block wrote: read on the primary

    def reads_replica(self, model) -> bool:
        """Whether the block reads ``model`` from the replica (a transaction aside)."""
        return self.on_replica and self.written.isdisjoint(_tables(model))

    @property
    def notice(self) -> str:
        """How old the figures are ("约 12 秒前") when read from a replica lagging REPLICA_NOTICE_SECONDS
        or more; else ""."""
        if not self.on_replica or self.lag is None or self.lag < settings.REPLICA_NOTICE_SECONDS:
            return ""
        if self.lag < 120:
            return f"约 {round(self.lag)} 秒前"
        return f"约 {round(self.lag / 60)} 分钟前"


_current: contextvars.ContextVar[ReplicaRead | None] = contextvars.ContextVar("replica_read", default=None)


def current() -> ReplicaRead | None:
    """The ``reading_from_replica()`` block the code runs in, if any."""
    return _current.get()


def replica_configured() -> bool:
    return REPLICA in connections.settings


# ------------------------------------------------------------------------------------------------ the lag


_lock = threading.Lock()
_measured: tuple[float, float | None] | None = None  # (monotonic time it expires, lag or None)
_out_of_use: str = ON_REPLICA  # the last reason logged (a warning once per change)


def measure_lag() -> float | None:
    """Seconds the replica is behind (its own answer, not cached); None when it cannot tell yet.
    Raises DatabaseError when it cannot be reached."""
    connection = connections[REPLICA]
    if connection.vendor != "postgresql":
        return 0.0  # a test mirror of the primary's database: nothing to replay
    with connection.cursor() as cursor:
        cursor.execute(LAG_SQL)
        (lag,) = cursor.fetchone()
    return None if lag is None else max(0.0, float(lag))


def replica_lag() -> float | None:
    """The replica's lag in seconds, measured at most every LAG_CACHE_SECONDS; None when it cannot
    be reached (asked again after DOWN_RETRY_SECONDS) or cannot tell."""
    global _measured
    now = time.monotonic()
    with _lock:
        if _measured is not None and now < _measured[0]:
            return _measured[1]
    try:
        lag = measure_lag()
    except DatabaseError as exc:
        # Django closes a connection that failed at the end of the request (close_old_connections).
        mark_unreachable(exc)
        return None
    with _lock:
        _measured = (now + LAG_CACHE_SECONDS, lag)
    return lag


def mark_unreachable(exc: BaseException | None = None) -> None:
    """The replica failed: read the primary for DOWN_RETRY_SECONDS before asking it again."""
    global _measured
    with _lock:
        _measured = (time.monotonic() + DOWN_RETRY_SECONDS, None)
    _tell(UNREACHABLE, detail=type(exc).__name__ if exc is not None else "")


def forget_lag() -> None:
    """Measure again on the next block (tests; after the replica was repaired)."""
    global _measured, _out_of_use
    with _lock:
        _measured = None
        _out_of_use = ON_REPLICA


def _tell(reason: str, *, lag: float | None = None, detail: str = "") -> None:
    """Log when the replica goes out of use (a warning) and when it is back (info), once each."""
    global _out_of_use
    with _lock:
        if reason == _out_of_use:
            return
        before, _out_of_use = _out_of_use, reason
    if reason == UNREACHABLE:
        log.warning("只读副本无法使用，报表改从主库读取 Read replica unusable (%s): reports read the primary", detail)
    elif reason == LAGGING:
        log.warning(
            "只读副本落后 %.0f 秒（上限 %s 秒），报表改从主库读取 Read replica %.0f s behind: reports read the primary",
            lag or 0,
            settings.REPLICA_MAX_LAG_SECONDS,
            lag or 0,
        )
    elif before != ON_REPLICA:
        log.info("只读副本恢复使用 Read replica back in use")


def _decide() -> ReplicaRead:
    if not replica_configured():
        return ReplicaRead(on_replica=False, reason=NOT_CONFIGURED)
    lag = replica_lag()
    if lag is None:
        return ReplicaRead(on_replica=False, reason=UNREACHABLE)
    if lag > settings.REPLICA_MAX_LAG_SECONDS:
        _tell(LAGGING, lag=lag)
        return ReplicaRead(on_replica=False, lag=lag, reason=LAGGING)
    _tell(ON_REPLICA)
    return ReplicaRead(on_replica=True, lag=lag)


@contextmanager
def reading_from_replica():
    """Reads within the block go to the replica (see the module's docstring for when they do not);
    yields the ``ReplicaRead``. Also a decorator. A block inside another one is the outer one."""
    outer = _current.get()
    if outer is not None:
        yield outer
        return
    read = _decide()
    token = _current.set(read)
    try:
        yield read
    finally:
        _current.reset(token)


# ------------------------------------------------------------------------------------------------ the router


def _tables(model) -> set[str]:
    """The tables a query of ``model`` reads or a write of it writes (its own and its parents')."""
    opts = model._meta.concrete_model._meta
    return {opts.db_table, *(parent._meta.db_table for parent in opts.get_parent_list())}


def _in_transaction() -> bool:
    """A transaction of the code's own is open on the primary (not the test case's wrapping one)."""
    connection = connections[DEFAULT_DB_ALIAS]
    if not connection.in_atomic_block:
        return False
    blocks = connection.atomic_blocks
    return not blocks or any(not getattr(block, "_from_testcase", False) for block in blocks)


class ReplicaRouter:
    """``DATABASE_ROUTERS`` when ``DATABASE_REPLICA_URL`` is set: writes to the primary, reads to
    the replica only inside ``reading_from_replica()``; migrations on the primary only."""

    def db_for_read(self, model, **hints):
        read = _current.get()
        if read is None or not read.reads_replica(model) or _in_transaction():
            return DEFAULT_DB_ALIAS
        return REPLICA

    def db_for_write(self, model, **hints):
        read = _current.get()
        if read is not None:
            read.written |= _tables(model)
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        if {obj1._state.db, obj2._state.db} <= {DEFAULT_DB_ALIAS, REPLICA}:
            return True  # the same rows
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return False if db == REPLICA else None


# ------------------------------------------------------------------------------------------------ the pages


class ReplicaMiddleware:
    """Runs the views of ``REPLICA_URL_NAMES`` (GET, HEAD) in ``reading_from_replica()``; sets
    ``request.replica_read`` for them. After core.health's middleware in MIDDLEWARE: a database
    error out of a view that read the replica is this one's to retry on the primary first."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            return self.get_response(request)
        finally:
            token = request.__dict__.pop("_replica_token", None)
            if token is not None:
                _current.reset(token)

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = request.resolver_match
        if request.method not in ("GET", "HEAD") or match is None or match.view_name not in REPLICA_URL_NAMES:
            return None
        if _current.get() is not None:
            return None
        # The session and the user are read now, on the primary: a login just made is not on the replica yet.
        user = getattr(request, "user", None)
        if user is not None:
            user.is_authenticated  # noqa: B018 (evaluates the lazy user)
        read = _decide()
        request._replica_token = _current.set(read)
        request._replica_view = (view_func, view_args, view_kwargs)
        request.replica_read = read
        return None

    def process_exception(self, request, exception):
        read = getattr(request, "replica_read", None)
        if read is None or not read.on_replica or not isinstance(exception, DATABASE_ERRORS):
            return None
        mark_unreachable(exception)
        read.on_replica, read.reason = False, UNREACHABLE
        view_func, view_args, view_kwargs = request._replica_view
        return view_func(request, *view_args, **view_kwargs)
