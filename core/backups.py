"""Backups proven to restore: the nightly copy of the database and of the uploaded files, and the
restore into an empty database that checks every table's row count against the copy.

**Backup** (``run_backup``; ``manage.py backup``; the Celery task ``core.tasks.backup_task``, beat
nightly at 03:00, claims the night with ``nightly_backup``):

- PostgreSQL: ``pg_dump --format=custom`` of the configured database. The password goes to pg_dump
  in ``PGPASSWORD``, never on its command line. pg_dump runs in a snapshot exported by a connection
  of ours (``pg_export_snapshot``), and every table is counted in that same snapshot: the counts are
  exactly the rows in the dump. The tools are found by ``pg_tool`` (``PG_BIN_DIR``, else PATH, else
  the newest ``/usr/lib/postgresql/*/bin``), and must be at least the server's major version.
- SQLite: SQLite's online backup API (``sqlite3.Connection.backup``) copies the open database.
- The uploaded files: a tar.gz of ``MEDIA_ROOT``.
- A manifest (``….json``): the files, their sizes, the row count of every table.

Each file is written under a ``.partial`` name and renamed once complete, the manifest last: a
half-written file never looks like a backup, and a run that fails removes what it wrote. Every run
is a ``core.models.Backup`` row (sizes, duration, status, the reason of a failure in Chinese for the
admin page). The backup records themselves (``core_backup``) are left out of the copy: they describe
files on this server, and the copy would hold its own run as "in progress" for ever.

After a successful backup, those whose ``kept_until`` has passed (``BACKUP_KEEP_DAYS`` after they
started) are deleted, files and rows; files of ours without a row (the database was restored) go by
the time in their name. The newest successful backup is always kept, and a failed run deletes
nothing. A failed run tells whoever registered with ``on_backup_failed`` (issues/apps.py: the street
admins' notification — core knows no users' roles nor the notifications) and logs an error.

**Restore** (``restore_backup``; ``manage.py restore FILE [--database-url URL] [--media]``): only into
an empty database (no table at all), with ``pg_restore --no-owner --no-privileges --exit-on-error
--single-transaction`` (all or nothing), or SQLite's backup API into a new file; then every table of
the restored database is counted and compared with the manifest. ``--media`` unpacks the archive
into ``MEDIA_ROOT``, which must hold no file yet.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction
from django.utils import timezone

from .models import Backup, BackupStatus

logger = logging.getLogger(__name__)

PREFIX = "visitplan"
# visitplan-20261206-030000-17.dump / .sqlite3 / -media.tar.gz / .json
NAME_RE = re.compile(
    rf"^(?P<stem>{PREFIX}-(?P<time>\d{{8}}-\d{{6}})-(?P<pk>\d+))(?:\.dump|\.sqlite3|-media\.tar\.gz|\.json)$"
)
PARTIAL = ".partial"
MANIFEST_FORMAT = 1
# A run still "in progress" this long after it started lost its process: it is marked failed, and the
# night's task delivered again takes it over. Far above a backup at district size (bench/README.md).
STALE_AFTER = datetime.timedelta(hours=1)
# A .partial file this old was left by a process killed mid-write.
PARTIAL_MAX_AGE = datetime.timedelta(days=1)
TOOL_TIMEOUT = 6 * 3600  # seconds: pg_dump / pg_restore that hang (a lock never released) end some day
PG_MAGIC = b"PGDMP"
SQLITE_MAGIC = b"SQLite format 3\x00"
POSTGRES, SQLITE = "postgresql", "sqlite"
BACKUP_TABLE = Backup._meta.db_table


class BackupError(Exception):
    """A backup or a restore that cannot be done; the message is Chinese and shown as it is."""


# ------------------------------------------------------------------------------------------- hooks

# Apps above core register what must follow a failed backup: fn(backup). issues/apps.py tells the
# street admins (issues/notifications/backups.py).
_FAILURE_LISTENERS: list[Callable] = []


def on_backup_failed(listener: Callable) -> Callable:
    if listener not in _FAILURE_LISTENERS:
        _FAILURE_LISTENERS.append(listener)
    return listener


def _tell_failure(backup: Backup) -> None:
    logger.error("数据备份 #%s 失败：%s", backup.pk, backup.error)
    for listener in _FAILURE_LISTENERS:
        try:
            with transaction.atomic():
                listener(backup)
        except Exception:  # a broken notifier must not hide the failure it reports (logged above)
            logger.exception("数据备份 #%s 失败的通知未能发出", backup.pk)


# ------------------------------------------------------------------------------------------- words


def human_size(size: int | None) -> str:
    """12.3 MB."""
    if size is None:
        return "—"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover


def human_duration(duration: datetime.timedelta | None) -> str:
    """4.2 秒 / 3 分 05 秒."""
    if duration is None:
        return "—"
    seconds = duration.total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} 秒"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} 分 {rest:02d} 秒"


def _local(moment: datetime.datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M:%S}"


def _tail(text: bytes | str, limit: int = 800) -> str:
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    text = " ".join(text.split())
    return text if len(text) <= limit else "…" + text[-limit:]


# ------------------------------------------------------------------------------------------- places


def backup_dir() -> Path:
    directory = Path(settings.BACKUP_DIR)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BackupError(f"无法创建备份目录 {directory}（BACKUP_DIR）：{error}") from error
    return directory


def engine_of(db: dict) -> str:
    engine = db.get("ENGINE", "")
    if engine.startswith("django.db.backends.postgresql"):
        return POSTGRES
    if engine == "django.db.backends.sqlite3":
        return SQLITE
    return engine.rsplit(".", 1)[-1] or "?"


def describe_database(db: dict) -> str:
    if engine_of(db) == POSTGRES:
        where = f"{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}"
        return f"PostgreSQL 数据库 {db['NAME']}（{where}）"
    return f"SQLite 数据库 {db['NAME']}"


def _write_atomic(path: Path, write: Callable[[Path], None], written: list[Path]) -> int:
    """``write(partial)`` then fsync and rename to ``path``; its size. ``written`` gets the final path
    (the caller removes those of a run that fails) and, meanwhile, the partial one."""
    partial = path.with_name(path.name + PARTIAL)
    written.append(partial)
    write(partial)
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, path)
    written[written.index(partial)] = path
    return path.stat().st_size


def _remove(paths) -> None:
    for path in paths:
        try:
            Path(path).unlink(missing_ok=True)
        except OSError:
            logger.warning("无法删除备份文件 %s", path, exc_info=True)


# ------------------------------------------------------------------------------------------- PostgreSQL tools


def tool_major(path) -> int:
    """15 for 'pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)'."""
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError) as error:
        raise BackupError(f"无法运行 {path}：{error}") from error
    match = re.search(r"\)\s*(\d+)(?:\.(\d+))?", out)
    if not match:
        raise BackupError(f"无法识别 {path} 的版本：{out.strip()}")
    return int(match.group(1))


def _candidates(name: str) -> list[Path]:
    configured = getattr(settings, "PG_BIN_DIR", "")
    if configured:
        path = Path(configured) / name
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise BackupError(f"PG_BIN_DIR（{configured}）下没有可执行的 {name}")
        return [path]
    found = []
    on_path = shutil.which(name)
    if on_path:
        found.append(Path(on_path))

    def version(path: Path):
        try:
            return int(path.parent.parent.name)
        except ValueError:
            return -1

    found += sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=version, reverse=True)
    return found


def pg_tool(name: str, *, server_major: int | None = None) -> tuple[Path, int]:
    """(path, major version) of pg_dump / pg_restore: ``PG_BIN_DIR`` if set, else the first of PATH
    and the newest ``/usr/lib/postgresql/*/bin`` whose major version is at least ``server_major``
    (pg_dump cannot dump a newer server; pg_restore cannot read a newer pg_dump's archive)."""
    candidates = _candidates(name)
    if not candidates:
        raise BackupError(
            f"找不到 {name}：请安装 PostgreSQL 客户端（Debian：apt install postgresql-client），或设置 PG_BIN_DIR"
        )
    seen = []
    for path in candidates:
        major = tool_major(path)
        if server_major is None or major >= server_major:
            return path, major
        seen.append(f"{path}（{major}）")
    raise BackupError(
        f"{name} 的版本低于数据库服务器（PostgreSQL {server_major}）：找到 {'、'.join(seen)}。"
        f"请安装 postgresql-client-{server_major}，或用 PG_BIN_DIR 指定其目录"
    )


def _libpq(db: dict, *, dbname: str | None = None) -> tuple[list[str], dict]:
    """(the connection options of pg_dump / pg_restore, their environment): the password in
    PGPASSWORD, never on the command line; never a password prompt."""
    args = ["--no-password"]
    if db.get("HOST"):
        args += ["--host", str(db["HOST"])]
    if db.get("PORT"):
        args += ["--port", str(db["PORT"])]
    if db.get("USER"):
        args += ["--username", str(db["USER"])]
    args += ["--dbname", dbname or db["NAME"]]
    env = dict(os.environ)
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    options = db.get("OPTIONS") or {}
    if options.get("sslmode"):
        env["PGSSLMODE"] = str(options["sslmode"])
    env.setdefault("PGCONNECT_TIMEOUT", "15")
    return args, env


def _pg_connect(db: dict, *, dbname: str | None = None):
    import psycopg

    params = {
        "dbname": dbname or db["NAME"],
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "sslmode": (db.get("OPTIONS") or {}).get("sslmode") or None,
        "connect_timeout": 15,
    }
    return psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True)


def _pg_tables(conn) -> list[tuple[str, str]]:
    """(schema, table) of every table of ours: everything outside the system schemas."""
    return conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' ORDER BY 1, 2"
    ).fetchall()


def _table_key(schema: str, table: str) -> str:
    return table if schema == "public" else f"{schema}.{table}"


def _pg_counts(conn, *, skip_data=()) -> dict[str, int]:
    from psycopg import sql

    counts = {}
    for schema, table in _pg_tables(conn):
        if table in skip_data:
            counts[_table_key(schema, table)] = 0
            continue
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
        counts[_table_key(schema, table)] = conn.execute(query).fetchone()[0]
    return counts


def _server_major(conn) -> tuple[int, str]:
    number = int(conn.execute("SHOW server_version_num").fetchone()[0])
    return number // 10000, conn.execute("SHOW server_version").fetchone()[0]


# ------------------------------------------------------------------------------------------- backup


def _dump_postgres(db: dict, path: Path, written: list[Path]) -> dict:
    """pg_dump into ``path`` in a snapshot in which every table is counted; the manifest's part."""
    try:
        conn = _pg_connect(db)
    except Exception as error:
        raise BackupError(f"连接数据库失败（{describe_database(db)}）：{_tail(str(error))}") from error
    try:
        major, version = _server_major(conn)
        pg_dump, tool = pg_tool("pg_dump", server_major=major)
        # One snapshot for the counts and the dump: the counts are the dump's rows.
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        counts = _pg_counts(conn, skip_data=(BACKUP_TABLE,))
        args, env = _libpq(db)

        def write(partial: Path):
            command = [str(pg_dump), "--format=custom", f"--snapshot={snapshot}",
                       f"--exclude-table-data={BACKUP_TABLE}", "--file", str(partial), *args]  # fmt: skip
            try:
                done = subprocess.run(command, env=env, capture_output=True, timeout=TOOL_TIMEOUT)
            except subprocess.TimeoutExpired as error:
                raise BackupError(f"pg_dump 失败：超过 {TOOL_TIMEOUT // 3600} 小时仍未完成") from error
            except OSError as error:
                raise BackupError(f"pg_dump 失败：无法运行 {pg_dump}：{error}") from error
            if done.returncode != 0:
                raise BackupError(f"pg_dump 失败（退出码 {done.returncode}）：{_tail(done.stderr) or '没有输出'}")

        size = _write_atomic(path, write, written)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return {"server_version": version, "tool_major": tool, "tables": counts, "dump_bytes": size}


def _sqlite_counts(conn) -> dict[str, int]:
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables if not t.startswith("sqlite_")}


def _dump_sqlite(alias: str, path: Path, written: list[Path]) -> dict:
    """The database copied with SQLite's online backup API (a consistent copy while others write),
    without the backup records, as a standalone file (no WAL). A database file is read through a
    connection of its own (what is committed); an in-memory one (the tests') through Django's,
    outside a transaction (SQLite cannot back up from a connection that is writing)."""
    connection = connections[alias]
    in_memory = connection.is_in_memory_db()
    if in_memory and connection.in_atomic_block:
        raise BackupError("SQLite 内存数据库不能在事务中备份")
    counts = {}

    def write(partial: Path):
        nonlocal counts
        partial.unlink(missing_ok=True)
        source = None
        target = sqlite3.connect(partial)
        try:
            if in_memory:
                connection.ensure_connection()
                connection.connection.backup(target)
            else:
                source = sqlite3.connect(connection.settings_dict["NAME"], timeout=20)
                source.backup(target)
            target.execute(f'DELETE FROM "{BACKUP_TABLE}"')
            target.commit()
            target.execute("PRAGMA journal_mode=DELETE")
            counts = _sqlite_counts(target)
        except sqlite3.Error as error:
            raise BackupError(f"SQLite 备份失败：{error}") from error
        finally:
            target.close()
            if source is not None:
                source.close()

    size = _write_atomic(path, write, written)
    return {"server_version": sqlite3.sqlite_version, "tool_major": None, "tables": counts, "dump_bytes": size}


def _media_files(root: Path, skip: Path):
    """(path, name in the archive) of every regular file under ``root``, symlinks not followed,
    the backup directory left out (were it inside MEDIA_ROOT)."""
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if (here / d).resolve() != skip and not (here / d).is_symlink())
        for name in sorted(files):
            path = here / name
            if path.is_file() and not path.is_symlink():
                yield path, path.relative_to(root).as_posix()


def _archive_media(path: Path, written: list[Path]) -> tuple[int, int]:
    """(size, files) of the tar.gz of MEDIA_ROOT (empty if there is none yet)."""
    root = Path(settings.MEDIA_ROOT)
    skip = Path(settings.BACKUP_DIR).resolve()
    files = 0

    def write(partial: Path):
        nonlocal files
        try:
            with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
                if root.is_dir():
                    for file, name in _media_files(root, skip):
                        tar.add(file, arcname=name, recursive=False)
                        files += 1
        except OSError as error:
            raise BackupError(f"打包上传文件（{root}）失败：{error}") from error

    return _write_atomic(path, write, written), files


def _stem(backup: Backup) -> str:
    return f"{PREFIX}-{timezone.localtime(backup.started_at):%Y%m%d-%H%M%S}-{backup.pk}"


def _mark_interrupted(*, now, exclude) -> int:
    """Runs still "in progress" long after they started lost their process: failed."""
    stale = Backup.objects.filter(status=BackupStatus.RUNNING, started_at__lt=now - STALE_AFTER).exclude(pk=exclude)
    return stale.update(
        status=BackupStatus.FAILED, finished_at=now, error="备份中断：进程在完成前退出（被终止或服务器重启）"
    )


def run_backup(*, backup: Backup | None = None, alias: str = DEFAULT_DB_ALIAS, database: dict | None = None) -> Backup:
    """Back up the database (``database``: its settings, by default those of ``alias``) and
    MEDIA_ROOT now, into BACKUP_DIR; the ``Backup`` row, ok or failed. A failure is recorded with
    its reason, told to the ``on_backup_failed`` listeners, and raises nothing; an ok run then
    prunes the old backups (``prune_backups``)."""
    db = database or connections[alias].settings_dict
    engine = engine_of(db)
    if backup is None:
        backup = Backup.objects.create(started_at=timezone.now(), engine=engine)
    else:
        backup.engine = engine
    started = time.monotonic()
    _mark_interrupted(now=backup.started_at, exclude=backup.pk)
    written: list[Path] = []
    try:
        directory = backup_dir()
        stem = _stem(backup)
        if engine == POSTGRES:
            dump = directory / f"{stem}.dump"
            facts = _dump_postgres(db, dump, written)
        elif engine == SQLITE:
            if database is not None:
                raise BackupError("SQLite 只能备份已连接的数据库")
            dump = directory / f"{stem}.sqlite3"
            facts = _dump_sqlite(alias, dump, written)
        else:
            raise BackupError(f"不支持备份 {engine} 数据库")
        media = directory / f"{stem}-media.tar.gz"
        media_bytes, media_files = _archive_media(media, written)
        manifest = {
            "format": MANIFEST_FORMAT,
            "engine": engine,
            "database": str(db["NAME"]),
            "started_at": timezone.localtime(backup.started_at).isoformat(),
            "server_version": facts["server_version"],
            "pg_dump_major": facts["tool_major"],
            "dump": dump.name,
            "dump_bytes": facts["dump_bytes"],
            "media": media.name,
            "media_bytes": media_bytes,
            "media_files": media_files,
            "tables": facts["tables"],
        }
        body = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode()
        _write_atomic(directory / f"{stem}.json", lambda p: p.write_bytes(body), written)
    except Exception as error:
        _remove(written)
        if isinstance(error, BackupError):
            reason = str(error)
        elif isinstance(error, OSError):
            reason = f"写入备份文件失败（{settings.BACKUP_DIR}）：{error}"
        else:
            logger.exception("数据备份 #%s 出错", backup.pk)
            reason = f"备份出错：{error!r}"
        _finish(backup, started, status=BackupStatus.FAILED, error=reason)
        _tell_failure(backup)
        return backup
    _finish(backup, started, status=BackupStatus.OK, dump_file=dump.name, dump_bytes=facts["dump_bytes"],
            media_file=media.name, media_bytes=media_bytes, media_files=media_files, row_counts=facts["tables"],
            kept_until=backup.started_at + datetime.timedelta(days=settings.BACKUP_KEEP_DAYS))  # fmt: skip
    prune_backups()
    return backup


def _finish(backup: Backup, started: float, **fields) -> None:
    fields.update(finished_at=timezone.now(), duration=datetime.timedelta(seconds=time.monotonic() - started),
                  engine=backup.engine)  # fmt: skip
    Backup.objects.filter(pk=backup.pk).update(**fields)
    for name, value in fields.items():
        setattr(backup, name, value)


def nightly_backup(day: datetime.date) -> Backup | None:
    """The night's backup, once: the ``Backup`` row of ``nightly_for=day`` is the claim (a task
    delivered twice backs up once). A claim still "in progress" after ``STALE_AFTER`` lost its worker
    and is taken over. None when the night is already done, failed (told already) or running."""
    now = timezone.now()
    try:
        with transaction.atomic():
            backup = Backup.objects.create(started_at=now, nightly_for=day)
    except IntegrityError:
        taken = Backup.objects.filter(
            nightly_for=day, status=BackupStatus.RUNNING, started_at__lt=now - STALE_AFTER
        ).update(started_at=now)
        if not taken:
            return None
        backup = Backup.objects.get(nightly_for=day)
    return run_backup(backup=backup)


# ------------------------------------------------------------------------------------------- pruning


@dataclass
class PruneReport:
    rows: int = 0
    files: list[str] = field(default_factory=list)


def prune_backups(*, now=None) -> PruneReport:
    """Delete the backups whose ``kept_until`` has passed, files and rows; the newest successful one
    is always kept. Files of ours without a row (a restored database has none) go when the time in
    their name is ``BACKUP_KEEP_DAYS`` old; ``.partial`` files of a killed run after a day."""
    now = now or timezone.now()
    report = PruneReport()
    directory = Path(settings.BACKUP_DIR)
    newest = Backup.objects.filter(status=BackupStatus.OK).order_by("-started_at", "-pk").first()
    old = Backup.objects.filter(kept_until__lt=now).exclude(status=BackupStatus.RUNNING)
    if newest is not None:
        old = old.exclude(pk=newest.pk)
    kept_stems = set()
    for backup in Backup.objects.exclude(pk__in=old.values("pk")).exclude(dump_file=""):
        match = NAME_RE.match(backup.dump_file)
        if match:
            kept_stems.add(match["stem"])
    with transaction.atomic():
        report.rows = old.delete()[0]
    if not directory.is_dir():
        return report
    cutoff = now - datetime.timedelta(days=settings.BACKUP_KEEP_DAYS)
    for path in sorted(directory.iterdir()):
        if not path.is_file():
            continue
        if path.name.endswith(PARTIAL):
            if NAME_RE.match(path.name[: -len(PARTIAL)]) and path.stat().st_mtime < (now - PARTIAL_MAX_AGE).timestamp():
                _remove([path])
                report.files.append(path.name)
            continue
        match = NAME_RE.match(path.name)
        if match is None or match["stem"] in kept_stems:
            continue
        made = timezone.make_aware(datetime.datetime.strptime(match["time"], "%Y%m%d-%H%M%S"))
        if made < cutoff:
            _remove([path])
            report.files.append(path.name)
    return report


# ------------------------------------------------------------------------------------------- restore


@dataclass
class RestoreReport:
    target: str
    source: str
    seconds: float = 0.0
    expected: dict | None = None  # the manifest's counts (None: no manifest)
    counts: dict = field(default_factory=dict)
    media_files: int | None = None
    media_root: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def mismatches(self) -> list[str]:
        if self.expected is None:
            return []
        lines = []
        for table in sorted(set(self.expected) | set(self.counts)):
            want, got = self.expected.get(table), self.counts.get(table)
            if want != got:
                lines.append(f"{table}：备份时 {'无此表' if want is None else f'{want:,} 行'}，"
                             f"恢复后 {'无此表' if got is None else f'{got:,} 行'}")  # fmt: skip
        return lines

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def lines(self) -> list[str]:
        rows = sum(self.counts.values())
        out = [f"备份文件：{self.source}", f"恢复到：{self.target}，用时 {self.seconds:.1f} 秒"]
        if self.expected is None:
            out.append(f"核对：没有备份清单，无法逐表核对；恢复后共 {len(self.counts)} 张表、{rows:,} 行")
        elif self.ok:
            out.append(f"核对：{len(self.counts)} 张表、共 {rows:,} 行，与备份时逐表一致")
        else:
            out.append(f"核对：{len(self.mismatches)} 张表的行数与备份时不一致：")
            out += [f"  {line}" for line in self.mismatches]
        if self.media_files is not None:
            out.append(f"上传文件：已恢复 {self.media_files} 个文件到 {self.media_root}")
        return out + self.notes


def _find_file(name) -> Path:
    path = Path(name)
    if not path.is_file() and not path.is_absolute() and (Path(settings.BACKUP_DIR) / path).is_file():
        path = Path(settings.BACKUP_DIR) / path
    if not path.is_file():
        raise BackupError(f"没有找到备份文件 {name}（也不在备份目录 {settings.BACKUP_DIR}）")
    return path


def _manifest_of(path: Path) -> dict | None:
    match = NAME_RE.match(path.name)
    manifest = path.with_name(f"{match['stem']}.json") if match else path.with_suffix(".json")
    if not manifest.is_file():
        return None
    try:
        return json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BackupError(f"备份清单 {manifest.name} 无法读取：{error}") from error


def _kind_of(path: Path) -> str:
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head.startswith(PG_MAGIC):
        return POSTGRES
    if head.startswith(SQLITE_MAGIC):
        return SQLITE
    raise BackupError(f"{path.name} 不是本系统的备份文件（既不是 pg_dump 自定义格式，也不是 SQLite 数据库）")


def _media_archive(path: Path, media) -> Path:
    if media not in (None, True, ""):
        archive = Path(media)
    else:
        match = NAME_RE.match(path.name)
        archive = (
            path.with_name(f"{match['stem']}-media.tar.gz") if match else path.with_name(path.stem + "-media.tar.gz")
        )
    if not archive.is_file():
        raise BackupError(f"没有找到上传文件压缩包 {archive}")
    return archive


def _check_media_root() -> Path:
    root = Path(settings.MEDIA_ROOT)
    if root.is_dir():
        existing = next((p for p in root.rglob("*") if p.is_file()), None)
        if existing is not None:
            raise BackupError(
                f"上传文件目录 {root}（MEDIA_ROOT）不是空的（已有 {existing.relative_to(root)} 等文件）："
                "只恢复到空目录，请换一个空目录或先移走这些文件"
            )
    return root


def _restore_media(archive: Path, root: Path) -> int:
    root.mkdir(parents=True, exist_ok=True)
    files = 0
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
            # The "data" filter refuses absolute names, "..", links out of the tree and device files.
            tar.extractall(root, members=members, filter="data")
            files = sum(1 for m in members if m.isfile())
    except (OSError, tarfile.TarError) as error:
        raise BackupError(f"解压上传文件压缩包 {archive.name} 失败：{error}") from error
    return files


def target_database(database_url: str | None) -> dict:
    if not database_url:
        return dict(connections[DEFAULT_DB_ALIAS].settings_dict)
    import environ

    try:
        return environ.Env.db_url_config(database_url)
    except Exception as error:
        raise BackupError(f"--database-url 无法识别：{error}") from error


def _restore_postgres(path: Path, db: dict, manifest: dict | None, report: RestoreReport, after_checks) -> None:
    try:
        conn = _pg_connect(db)
    except Exception as error:
        raise BackupError(
            f"无法连接目标数据库（{describe_database(db)}）：{_tail(str(error))}。"
            f"目标须是一个已建好的空数据库（例如 createdb {db['NAME']}）"
        ) from error
    try:
        tables = _pg_tables(conn)
        if tables:
            names = "、".join(_table_key(*t) for t in tables[:3])
            raise BackupError(
                f"目标数据库 {db['NAME']} 不是空库：已有 {len(tables)} 张表（{names}{'等' if len(tables) > 3 else ''}）。"
                "恢复只写入空数据库：请新建一个空数据库，用 --database-url 指定它"
            )
        major, _version = _server_major(conn)
        dumped = (manifest or {}).get("pg_dump_major") or 0
        pg_restore, _tool = pg_tool("pg_restore", server_major=max(major, dumped))
        after_checks()
        args, env = _libpq(db)
        command = [str(pg_restore), "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
                   *args, str(path)]  # fmt: skip
        started = time.monotonic()
        try:
            done = subprocess.run(command, env=env, capture_output=True, timeout=TOOL_TIMEOUT)
        except (OSError, subprocess.SubprocessError) as error:
            raise BackupError(f"pg_restore 失败：{error}") from error
        report.seconds = time.monotonic() - started
        if done.returncode != 0:
            raise BackupError(
                f"pg_restore 失败（退出码 {done.returncode}）：{_tail(done.stderr) or '没有输出'}。"
                "恢复在一个事务中进行，目标数据库未被改动"
            )
        report.counts = _pg_counts(conn)
    finally:
        conn.close()


def _restore_sqlite(path: Path, db: dict, report: RestoreReport, after_checks) -> None:
    name = str(db["NAME"])
    if not name or name == ":memory:" or name.startswith("file:"):
        raise BackupError(f"SQLite 恢复需要一个数据库文件路径，而不是 {name!r}")
    target = Path(name)
    if target.exists():
        try:
            with sqlite3.connect(f"file:{target}?mode=ro", uri=True) as probe:
                tables = [r[0] for r in probe.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        except sqlite3.Error as error:
            raise BackupError(f"目标文件 {target} 不是 SQLite 数据库：{error}") from error
        if tables:
            raise BackupError(
                f"目标数据库 {target} 不是空库：已有 {len(tables)} 张表。恢复只写入空数据库：请指定一个新的文件路径"
            )
    after_checks()
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    destination = sqlite3.connect(target)
    try:
        source.backup(destination)
        report.counts = _sqlite_counts(destination)
    except sqlite3.Error as error:
        raise BackupError(f"SQLite 恢复失败：{error}") from error
    finally:
        source.close()
        destination.close()
    report.seconds = time.monotonic() - started


def restore_backup(file, *, database_url: str | None = None, media=None) -> RestoreReport:
    """Restore the backup ``file`` (a path, or a name in BACKUP_DIR) into the empty database of
    ``database_url`` (default: the configured one), and with ``media`` (True: the archive next to
    the file; or its path) the uploaded files into the empty MEDIA_ROOT; then count every table
    and compare with the manifest. Raises ``BackupError`` (Chinese) before writing anything when
    the target is not empty or the file is not a backup."""
    path = _find_file(file)
    kind = _kind_of(path)
    manifest = _manifest_of(path)
    db = target_database(database_url)
    engine = engine_of(db)
    if engine != kind:
        raise BackupError(f"{path.name} 是 {kind} 的备份，目标却是 {engine} 数据库")
    report = RestoreReport(target=describe_database(db), source=str(path))
    if manifest is not None:
        report.expected = manifest.get("tables") or {}
        report.source += f"（备份于 {manifest.get('started_at', '?')[:19].replace('T', ' ')}）"
    archive = _media_archive(path, media) if media else None

    def after_checks():  # the database is empty and the tools are there: now the media directory
        if archive is not None:
            report.media_root = str(_check_media_root())

    if kind == POSTGRES:
        _restore_postgres(path, db, manifest, report, after_checks)
    else:
        _restore_sqlite(path, db, report, after_checks)
    if archive is not None:
        report.media_files = _restore_media(archive, Path(report.media_root))
    if BACKUP_TABLE in report.counts:
        report.notes.append("备份记录不随数据恢复（它们记的是原服务器上的文件）：恢复后的“数据备份”列表为空。")
    return report
