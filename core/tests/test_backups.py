"""Backups proven to restore (core/backups.py, ``manage.py backup`` / ``restore``, ``core.tasks.backup_task``).

- PostgreSQL: the demo street is seeded, backed up with ``manage.py backup``, restored with
  ``manage.py restore --media`` into a new, empty database, and every table's row count and the md5
  of the key tables (households, members, assignments, visits, issues and their events) are compared
  between the two, as are the uploaded files; the new database is dropped at the end. A restore into
  a database that is not empty is refused. A failing pg_dump and an unknown database are recorded as
  failed backups and told to the street admins; the password goes to pg_dump in PGPASSWORD only.
- SQLite: the online backup API copies the database, which restores into a new file with the same rows.
- Old backups are pruned, files and rows; the newest good one stays; a failed run prunes nothing.
- The nightly task backs up once per night; the admin lists backups to the street admin only.
"""

from __future__ import annotations

import datetime
import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from core import backups
from core.backups import BackupError, nightly_backup, prune_backups, restore_backup, run_backup
from core.models import Backup, BackupStatus
from core.tasks import backup_task
from issues.models import Notification

# The tables whose content (not only their count) must come back exactly.
KEY_TABLES = (
    "households_household",
    "households_member",
    "visitplan_assignment",
    "visits_visit",
    "issues_issue",
    "issues_issueevent",
)
PLAN_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture
def places(settings, tmp_path):
    settings.BACKUP_DIR = tmp_path / "backups"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PG_BIN_DIR = ""
    plans = tmp_path / "media" / "plans" / "2026"
    plans.mkdir(parents=True)
    (plans / "湖田社区.png").write_bytes(PLAN_BYTES)
    return tmp_path


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


def failure_notes():
    return list(Notification.objects.filter(title="数据备份失败").select_related("user").order_by("user__username"))


# ---------------------------------------------------------------------------------------------- PostgreSQL


def pg_tables(cursor) -> list[str]:
    cursor.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
        "AND table_type = 'BASE TABLE' ORDER BY 1"
    )
    return [r[0] for r in cursor.fetchall()]


def pg_snapshot(cursor) -> tuple[dict, dict]:
    """({table: rows} of every table, {key table: md5 of its rows in id order})."""
    counts = {}
    for table in pg_tables(cursor):
        cursor.execute(f'SELECT count(*) FROM "{table}"')
        counts[table] = cursor.fetchone()[0]
    sums = {}
    for table in KEY_TABLES:
        cursor.execute(f"SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM \"{table}\" t")
        sums[table] = cursor.fetchone()[0]
    return counts, sums


@pytest.fixture
def new_database(on_postgres):
    """An empty database next to the test database, dropped at the end; its URL."""
    import psycopg
    from psycopg import sql

    s = connection.settings_dict
    name = f"{s['NAME']}_restored"
    admin = {"dbname": "postgres", "user": s["USER"], "password": s.get("PASSWORD") or None,
             "host": s.get("HOST") or "127.0.0.1", "port": s.get("PORT") or 5432}  # fmt: skip
    admin = {k: v for k, v in admin.items() if v}

    def execute(statement):
        with psycopg.connect(**admin, autocommit=True) as conn:
            conn.execute(sql.SQL(statement).format(sql.Identifier(name)))

    execute("DROP DATABASE IF EXISTS {} WITH (FORCE)")
    execute("CREATE DATABASE {}")
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    url = f"postgres://{auth}@{admin['host']}:{admin['port']}/{name}"
    yield url, {**admin, "dbname": name}
    execute("DROP DATABASE IF EXISTS {} WITH (FORCE)")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # committed data: pg_dump reads it from another session
def test_a_seeded_database_backs_up_and_restores_into_a_new_one_with_every_row(new_database, places, settings, capsys):
    import psycopg

    url, target = new_database
    call_command("seed_demo", households=300)
    with connection.cursor() as cursor:
        before_counts, before_sums = pg_snapshot(cursor)
    assert before_counts["households_household"] == 300
    assert before_counts["visits_visit"] > 0 and before_counts["issues_issue"] > 0
    assert set(before_counts) >= set(connection.introspection.django_table_names(include_views=False))

    call_command("backup")
    out = capsys.readouterr().out
    backup = Backup.objects.get()
    assert backup.status == BackupStatus.OK and backup.engine == "postgresql"
    assert backup.dump_bytes > 0 and backup.media_files == 1 and backup.duration is not None
    dump = Path(settings.BACKUP_DIR) / backup.dump_file
    assert dump.stat().st_size == backup.dump_bytes and dump.read_bytes().startswith(b"PGDMP")
    assert f"{len(before_counts)} 张表" in out and backup.dump_file in out
    assert not [name for name in files_in(dump.parent) if name.endswith(".partial")]

    # Not into a database that holds tables: the test database itself.
    with pytest.raises(CommandError, match="不是空库"):
        call_command("restore", str(dump))

    settings.MEDIA_ROOT = places / "media-restored"
    call_command("restore", backup.dump_file, database_url=url, media=True)
    out = capsys.readouterr().out
    assert "与备份时逐表一致" in out and "已恢复 1 个文件" in out

    with connection.cursor() as cursor:
        source_counts, source_sums = pg_snapshot(cursor)
    with psycopg.connect(**target) as conn, conn.cursor() as cursor:
        restored_counts, restored_sums = pg_snapshot(cursor)
    assert source_counts == {**before_counts, "core_backup": 1}  # nothing changed meanwhile but the record
    # Every table, every row; the backup records alone are not in the copy (core/backups.py).
    assert set(restored_counts) == set(source_counts)
    assert restored_counts == {**source_counts, "core_backup": 0}
    assert restored_sums == source_sums and all(restored_sums.values())
    assert (places / "media-restored" / "plans" / "2026" / "湖田社区.png").read_bytes() == PLAN_BYTES

    # The restored database is a working copy of this one: its migrations are all there.
    with psycopg.connect(**target) as conn:
        migrations = conn.execute("SELECT count(*) FROM django_migrations").fetchone()[0]
    assert migrations == source_counts["django_migrations"]


def fake_pg_dump(directory: Path, *, version="99.0", fail=True) -> Path:
    """A pg_dump that records its argv and PGPASSWORD, writes half a file and fails like a broken disk."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "pg_dump"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "--version" ]; then echo "pg_dump (PostgreSQL) {version}"; exit 0; fi\n'
        f'echo "$@" > "{directory}/argv"\n'
        f'echo "$PGPASSWORD" > "{directory}/password"\n'
        'while [ $# -gt 0 ]; do if [ "$1" = "--file" ]; then echo PGDMP-half > "$2"; fi; shift; done\n'
        + (
            'echo "pg_dump: error: could not read block 7 in file base/16384/2619: read only 0 of 8192 bytes" >&2\n'
            "exit 1\n"
            if fail
            else "exit 0\n"
        )
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return directory


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_failing_pg_dump_is_recorded_failed_told_to_the_street_admins_and_leaves_no_file(
    world, on_postgres, places, settings
):
    bin_dir = fake_pg_dump(places / "bin")
    settings.PG_BIN_DIR = str(bin_dir)
    database = {**connection.settings_dict, "PASSWORD": "s3cret-pw"}  # trust on loopback: accepted, unused

    backup = run_backup(database=database)

    backup.refresh_from_db()
    assert backup.status == BackupStatus.FAILED
    assert backup.error.startswith("pg_dump 失败（退出码 1）：") and "could not read block 7" in backup.error
    assert backup.finished_at is not None and backup.duration is not None and not backup.dump_file
    assert files_in(Path(settings.BACKUP_DIR)) == []  # the half-written dump is gone, no .partial either
    # The password reached pg_dump in its environment, never on its command line.
    assert (bin_dir / "password").read_text().strip() == "s3cret-pw"
    argv = (bin_dir / "argv").read_text()
    assert "s3cret-pw" not in argv and "--format=custom" in argv and "--snapshot=" in argv
    notes = failure_notes()
    assert [n.user for n in notes] == [world.admin]  # the street admin; not the leader nor the secretary
    assert "pg_dump 失败" in notes[0].body and "manage.py backup" in notes[0].body


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_backup_of_an_unknown_database_fails_with_its_name(world, on_postgres, places, settings):
    backup = run_backup(database={**connection.settings_dict, "NAME": "visitplan_no_such_database"})

    assert Backup.objects.get(pk=backup.pk).status == BackupStatus.FAILED
    assert "连接数据库失败" in backup.error and "visitplan_no_such_database" in backup.error
    assert files_in(Path(settings.BACKUP_DIR)) == []
    assert [n.user for n in failure_notes()] == [world.admin]


def test_pg_dump_older_than_the_server_is_refused_with_the_versions(places, settings):
    settings.PG_BIN_DIR = str(fake_pg_dump(places / "bin", version="13.4", fail=False))
    with pytest.raises(BackupError, match=r"版本低于数据库服务器（PostgreSQL 15）.*（13）.*postgresql-client-15"):
        backups.pg_tool("pg_dump", server_major=15)
    assert backups.pg_tool("pg_dump", server_major=13)[1] == 13
    settings.PG_BIN_DIR = str(places / "nowhere")
    with pytest.raises(BackupError, match="PG_BIN_DIR"):
        backups.pg_tool("pg_restore")


# ---------------------------------------------------------------------------------------------- SQLite


def require_sqlite():
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite path (the PostgreSQL one is tested above)")


def sqlite_rows(conn, table) -> list[tuple]:
    return conn.execute(f'SELECT * FROM "{table}" ORDER BY id').fetchall()


@pytest.mark.django_db(transaction=True)
def test_on_sqlite_the_online_backup_restores_into_a_new_file_with_every_row(world, places, settings, capsys):
    require_sqlite()
    call_command("backup")
    backup = Backup.objects.get()
    assert backup.status == BackupStatus.OK and backup.engine == "sqlite"
    copy = Path(settings.BACKUP_DIR) / backup.dump_file
    assert copy.suffix == ".sqlite3"
    manifest = json.loads(copy.with_suffix(".json").read_text())
    assert manifest["tables"]["households_household"] == 3 and manifest["media_files"] == 1

    target = places / "restored" / "db.sqlite3"
    settings.MEDIA_ROOT = places / "media-restored"
    call_command("restore", str(copy), database_url=f"sqlite:///{target}", media=True)
    assert "与备份时逐表一致" in capsys.readouterr().out

    # A plain connection to the test database: the rows as stored, without Django's converters.
    source = sqlite3.connect(connection.settings_dict["NAME"], uri=True)
    tables = [r[0] for r in source.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    restored = sqlite3.connect(target)
    try:
        assert [
            r[0] for r in restored.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        ] == tables
        for table in tables:
            want = source.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            got = restored.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            assert got == (0 if table == "core_backup" else want), table
        for table in ("households_household", "households_member", "auth_user", "visitplan_cadre"):
            assert sqlite_rows(restored, table) == sqlite_rows(source, table)
    finally:
        restored.close()
        source.close()
    assert (places / "media-restored" / "plans" / "2026" / "湖田社区.png").read_bytes() == PLAN_BYTES

    # Not into a file that holds tables, nor media into a directory that holds files.
    with pytest.raises(BackupError, match="不是空库"):
        restore_backup(copy, database_url=f"sqlite:///{target}")
    settings.MEDIA_ROOT = places / "media"
    with pytest.raises(BackupError, match="MEDIA_ROOT"):
        restore_backup(copy, database_url=f"sqlite:///{places / 'other.sqlite3'}", media=True)
    assert not (places / "other.sqlite3").exists()  # refused before anything was written


@pytest.mark.django_db
def test_an_in_memory_sqlite_database_inside_a_transaction_fails_instead_of_waiting(world, places):
    require_sqlite()  # SQLite cannot back up from a connection that is writing: it would wait for ever
    backup = run_backup()
    assert backup.status == BackupStatus.FAILED and "不能在事务中备份" in backup.error


@pytest.mark.django_db
def test_a_restore_refuses_what_is_not_a_backup(places):
    junk = places / "notes.dump"
    junk.write_text("not a dump")
    with pytest.raises(BackupError, match="不是本系统的备份文件"):
        restore_backup(junk, database_url=f"sqlite:///{places / 'x.sqlite3'}")
    with pytest.raises(BackupError, match="没有找到备份文件"):
        restore_backup("visitplan-20260101-030000-1.dump")


@pytest.mark.django_db
def test_a_backup_directory_that_cannot_be_made_fails_and_is_told(world, places, settings):
    blocker = places / "a-file"
    blocker.write_text("x")
    settings.BACKUP_DIR = blocker / "backups"
    backup = run_backup()
    assert backup.status == BackupStatus.FAILED and "无法创建备份目录" in backup.error
    assert Backup.objects.get().error == backup.error
    assert [n.user for n in failure_notes()] == [world.admin]


# ---------------------------------------------------------------------------------------------- pruning


def old_backup(directory: Path, *, days_ago: float, status=BackupStatus.OK, keep_days=14) -> Backup:
    started = timezone.now() - datetime.timedelta(days=days_ago)
    backup = Backup.objects.create(started_at=started, status=status, engine="sqlite")
    if status == BackupStatus.OK:
        stem = backups._stem(backup)
        for name in (f"{stem}.sqlite3", f"{stem}-media.tar.gz", f"{stem}.json"):
            (directory / name).write_bytes(b"old")
        backup.dump_file, backup.media_file = f"{stem}.sqlite3", f"{stem}-media.tar.gz"
    backup.kept_until = started + datetime.timedelta(days=keep_days)
    backup.save()
    return backup


def stray(directory: Path, *, days_ago: float, pk: int, suffix=".dump") -> str:
    moment = timezone.localtime(timezone.now() - datetime.timedelta(days=days_ago))
    name = f"visitplan-{moment:%Y%m%d-%H%M%S}-{pk}{suffix}"
    (directory / name).write_bytes(b"x")
    return name


@pytest.mark.django_db(transaction=True)  # committed: pg_dump and SQLite's backup read from outside
def test_a_good_backup_prunes_backups_past_their_days_files_and_rows(places, settings):
    settings.BACKUP_KEEP_DAYS = 14
    directory = Path(settings.BACKUP_DIR)
    directory.mkdir()
    expired = old_backup(directory, days_ago=20)
    expired_failure = old_backup(directory, days_ago=15, status=BackupStatus.FAILED)
    recent = old_backup(directory, days_ago=3)
    restored_away = stray(directory, days_ago=30, pk=900)  # a file of ours without its row
    restored_recent = stray(directory, days_ago=2, pk=901)
    foreign = directory / "readme.txt"
    foreign.write_text("运维说明")
    killed = directory / (stray(directory, days_ago=3, pk=902) + ".partial")
    (directory / killed.name[: -len(".partial")]).rename(killed)
    os.utime(killed, (killed.stat().st_mtime - 2 * 86400,) * 2)

    backup = run_backup()

    assert backup.status == BackupStatus.OK
    assert set(Backup.objects.values_list("pk", flat=True)) == {recent.pk, backup.pk}
    assert not Backup.objects.filter(pk__in=[expired.pk, expired_failure.pk]).exists()
    left = files_in(directory)
    assert not [n for n in left if n.startswith(expired.dump_file[:-8])]
    assert recent.dump_file in left and recent.media_file in left and backup.dump_file in left
    assert restored_away not in left and restored_recent in left and "readme.txt" in left
    assert killed.name not in left
    assert backup.kept_until - backup.started_at == datetime.timedelta(days=14)


@pytest.mark.django_db
def test_the_newest_good_backup_is_kept_and_a_failed_run_prunes_nothing(places, settings):
    directory = Path(settings.BACKUP_DIR)
    directory.mkdir()
    older = old_backup(directory, days_ago=40)
    newest = old_backup(directory, days_ago=30)
    settings.BACKUP_DIR = places / "a-file" / "backups"
    (places / "a-file").write_text("x")
    assert run_backup().status == BackupStatus.FAILED
    assert Backup.objects.filter(pk__in=[older.pk, newest.pk]).count() == 2  # a failed run deletes nothing

    settings.BACKUP_DIR = directory
    report = prune_backups()
    assert report.rows == 1 and not Backup.objects.filter(pk=older.pk).exists()
    assert Backup.objects.filter(pk=newest.pk).exists()  # past its days, but the last good one
    assert newest.dump_file in files_in(directory) and older.dump_file not in files_in(directory)


# ---------------------------------------------------------------------------------------------- nightly task


@pytest.mark.django_db(transaction=True)  # committed: pg_dump and SQLite's backup read from outside
def test_the_nightly_task_backs_up_once_per_night(places, settings, monkeypatch):
    calls = []
    real = backups.run_backup
    monkeypatch.setattr(backups, "run_backup", lambda **kw: calls.append(kw) or real(**kw))

    first = backup_task.delay("2026-12-07").get()
    again = backup_task.delay("2026-12-07").get()

    assert first["status"] == "ok" and first["dump_bytes"] > 0 and again == {"day": "2026-12-07", "status": "already"}
    assert len(calls) == 1 and Backup.objects.get().nightly_for == datetime.date(2026, 12, 7)


@pytest.mark.django_db(transaction=True)  # committed: pg_dump and SQLite's backup read from outside
def test_a_night_whose_worker_died_is_taken_over_and_other_stale_runs_marked_failed(places, settings):
    long_ago = timezone.now() - backups.STALE_AFTER - datetime.timedelta(minutes=5)
    night = Backup.objects.create(started_at=long_ago, nightly_for=datetime.date(2026, 12, 7))
    by_hand = Backup.objects.create(started_at=long_ago)
    running = Backup.objects.create(started_at=timezone.now(), nightly_for=datetime.date(2026, 12, 8))

    assert nightly_backup(datetime.date(2026, 12, 8)) is None  # another worker is on it
    taken = nightly_backup(datetime.date(2026, 12, 7))

    assert taken.pk == night.pk and taken.status == BackupStatus.OK and taken.started_at > long_ago
    by_hand.refresh_from_db()
    assert by_hand.status == BackupStatus.FAILED and "备份中断" in by_hand.error
    assert Backup.objects.get(pk=running.pk).status == BackupStatus.RUNNING


def test_the_beat_runs_the_backup_every_night(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["backup-nightly"]
    assert entry["task"] == "core.tasks.backup_task"
    assert entry["schedule"].hour == {3} and entry["schedule"].minute == {0}


# ---------------------------------------------------------------------------------------------- admin


@pytest.mark.django_db
def test_the_street_admin_reads_the_backups_in_the_admin_and_nobody_else(client, world, places):
    ok = Backup.objects.create(started_at=timezone.now(), status=BackupStatus.OK, engine="postgresql",
                               dump_file="visitplan-20261207-030000-1.dump", dump_bytes=123 * 1024 * 1024,
                               media_bytes=5 * 1024, duration=datetime.timedelta(seconds=83),
                               row_counts={"a": 1, "b": 2})  # fmt: skip
    Backup.objects.create(
        started_at=timezone.now(), status=BackupStatus.FAILED, error="pg_dump 失败（退出码 1）：磁盘已满"
    )
    client.force_login(world.admin)
    page = client.get("/admin/core/backup/")
    assert page.status_code == 200
    text = page.content.decode().replace("\xa0", " ")
    for shown in ("123.0 MB", "5.0 KB", "1 分 23 秒", "成功", "失败", "pg_dump 失败（退出码 1）：磁盘已满"):
        assert shown in text, shown
    detail = client.get(f"/admin/core/backup/{ok.pk}/change/")
    assert detail.status_code == 200 and "2 张表，共 3 行" in detail.content.decode()
    assert client.post(f"/admin/core/backup/{ok.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Backup.objects.filter(pk=ok.pk).exists()
    assert client.get("/admin/core/backup/add/").status_code == 403

    for other in (world.leader, world.secretary):
        client.force_login(other)
        assert client.get("/admin/core/backup/").status_code == 403
    assert Group.objects.get(name="街道管理员").permissions.filter(codename="view_backup").exists()
    assert not Group.objects.exclude(name="街道管理员").filter(permissions__codename="view_backup").exists()
