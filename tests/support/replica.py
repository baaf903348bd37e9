"""A read replica for the tests of core/replica.py.

``replica_alias(...)``: ``connections["replica"]`` and the router for the duration of a test,
without ``DATABASE_REPLICA_URL`` (Django builds its connections from DATABASES once; overriding the
setting would not add one). Either the primary's own connection under the name ``replica`` (the
unit tests: the test's transaction and data are there), or a connection to another server.

``StreamingReplica``: a real PostgreSQL streaming replica of the test server on loopback — a
``pg_basebackup -R -X stream`` of the cluster of ``DATABASE_URL`` into a temporary folder, started
with ``pg_ctl`` on a free port (as the ``postgres`` OS user when the tests run as root: PostgreSQL
refuses to run as root), stopped and deleted afterwards. The primary must accept replication
connections from 127.0.0.1 (pg_hba.conf: ``host replication all 127.0.0.1/32 trust``; .ci/run
adds it) with ``wal_level`` replica or logical (PostgreSQL's default).
"""

from __future__ import annotations

import copy
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from django.db import DEFAULT_DB_ALIAS, connections
from django.test import override_settings

from core import replica as core_replica

ROUTERS = ["core.replica.ReplicaRouter"]


@contextmanager
def replica_alias(*, host=None, port=None, share_primary=False):
    """``connections["replica"]`` (the test database's name on ``host``:``port``, or the primary's
    own connection with ``share_primary``) and the ReplicaRouter, removed afterwards — before the
    test database's teardown, which must not find an alias it did not set up."""
    assert core_replica.REPLICA not in connections.settings, "a replica alias is already configured"
    settings_dict = copy.deepcopy(connections[DEFAULT_DB_ALIAS].settings_dict)
    if host is not None:
        settings_dict["HOST"] = host
    if port is not None:
        settings_dict["PORT"] = port
    settings_dict["TEST"] = {**settings_dict.get("TEST", {}), "MIRROR": DEFAULT_DB_ALIAS}
    connections.settings[core_replica.REPLICA] = settings_dict
    if share_primary:
        connections[core_replica.REPLICA] = connections[DEFAULT_DB_ALIAS]
    core_replica.forget_lag()
    try:
        with override_settings(DATABASE_ROUTERS=ROUTERS):
            yield
    finally:
        if not share_primary:
            connections[core_replica.REPLICA].close()
        del connections[core_replica.REPLICA]
        del connections.settings[core_replica.REPLICA]
        core_replica.forget_lag()


# ------------------------------------------------------------------------------------------------ a real one


class ReplicaUnavailable(Exception):
    """The replica cannot be made here (no PostgreSQL binaries, no replication access)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin_dir(server_major: int) -> Path | None:
    """The binaries of the server's own major version (a standby must run the primary's)."""
    folder = Path(f"/usr/lib/postgresql/{server_major}/bin")
    if (folder / "pg_basebackup").is_file() and (folder / "pg_ctl").is_file():
        return folder
    return None


# Settings a hot standby must have at least as high as its primary's.
STANDBY_MINIMUMS = (
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
)


class StreamingReplica:
    """A streaming replica of the test server: ``start()``, then ``port``; ``stop()`` deletes it."""

    def __init__(self, primary: dict, server_major: int):
        self.primary = primary  # the primary's settings_dict (HOST, PORT, USER)
        self.bin = pg_bin_dir(server_major)
        if self.bin is None:
            raise ReplicaUnavailable(f"pg_basebackup / pg_ctl of PostgreSQL {server_major} (/usr/lib/postgresql/*/bin)")
        self.root = Path(tempfile.mkdtemp(prefix="visitplan-replica-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.started = False
        # PostgreSQL does not run as root: the files and the server are the postgres user's then.
        self.as_user = "postgres" if os.geteuid() == 0 else None

    def _run(self, *args, timeout=60):
        command = [str(a) for a in args]
        if self.as_user:
            command = ["runuser", "-u", self.as_user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)

    def start(self, standby_settings: dict[str, str]) -> None:
        if self.as_user:
            entry = pwd.getpwnam(self.as_user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        host = self.primary.get("HOST") or "127.0.0.1"
        backup = self._run(
            self.bin / "pg_basebackup",
            "-h", host, "-p", self.primary.get("PORT") or 5432, "-U", self.primary.get("USER") or "postgres",
            "-D", self.data, "-R", "-X", "stream", "--checkpoint=fast", "--no-password",
            timeout=300,
        )  # fmt: skip
        if backup.returncode != 0:
            raise ReplicaUnavailable(
                f"pg_basebackup failed: {backup.stderr.strip()} — the primary's pg_hba.conf needs "
                "'host replication all 127.0.0.1/32 trust' (.ci/run adds it)"
            )
        # Debian keeps the configuration in /etc: the copy has none of its own.
        conf = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": "''",
            "hot_standby": "on",
            "fsync": "off",
            "shared_buffers": "'32MB'",
            "logging_collector": "off",
            **standby_settings,
        }
        self._write("postgresql.conf", "".join(f"{k} = {v}\n" for k, v in conf.items()))
        self._write("pg_hba.conf", "host all all 127.0.0.1/32 trust\n")
        self._write("pg_ident.conf", "")
        started = self._run(
            self.bin / "pg_ctl", "-D", self.data, "-l", self.root / "server.log", "-w", "-t", "60", "start", timeout=90
        )
        self.started = True
        if started.returncode != 0:
            raise ReplicaUnavailable(f"the replica did not start: {started.stdout.strip()} {self.log_tail()}")

    def _write(self, name, text):
        path = self.data / name
        path.write_text(text, encoding="utf-8")
        if self.as_user:
            entry = pwd.getpwnam(self.as_user)
            os.chown(path, entry.pw_uid, entry.pw_gid)
        path.chmod(0o600)

    def log_tail(self, lines=20) -> str:
        log = self.root / "server.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""

    def stop(self) -> None:
        if self.started:
            self._run(self.bin / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop", timeout=60)
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)


def standby_settings(cursor) -> dict[str, str]:
    """The primary's values of STANDBY_MINIMUMS (a standby with less refuses to start)."""
    cursor.execute("SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", [list(STANDBY_MINIMUMS)])
    return dict(cursor.fetchall())


def wait_until(condition, *, timeout=20.0, every=0.1, what="the condition"):
    """Poll ``condition()`` until it is true; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(every)
