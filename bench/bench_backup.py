#!/usr/bin/env python
"""The nightly backup and its restore at district size, on PostgreSQL: how long, how large, and every row back.

Usage (see bench/README.md):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/visitplan_benchbackup .venv/bin/python bench/bench_backup.py [--households 100000 --visits 300000] [--reuse-db]

Steps:
a. drop and recreate the bench database, migrate, and seed it with the leaders' benchmark builders
   (bench/bench_reports.py: COPY; 100,000 households over 10 communities × 10 grids, their members,
   cadres, assignments, 300,000 visits, 40,000 issues, follow-ups, 一户一策 plans, findings) —
   or, with ``--reuse-db``, take the database an earlier run seeded;
b. uploaded files in ``bench/out/backup/media``: one 平面图 per community and per grid (110 files of
   300 KB of random bytes, as incompressible as a PNG);
c. ``manage.py backup`` in a child process (BACKUP_DIR ``bench/out/backup/files``): wall time, peak
   RSS, the dump's and the media archive's sizes, next to the database's own size;
d. a new, empty database ``<name>_restored``; ``manage.py restore FILE --database-url … --media`` in
   a child process, the media into an empty directory: wall time and peak RSS (pg_restore's own time
   is in the command's output, the rest is its check of every table's row count);
e. every table's row count, and the md5 of the key tables (households, members, assignments, visits,
   issues and their events), compared between the bench database and the restored one; the restored
   media compared file by file. The restored database is dropped at the end (``--keep`` keeps it).

Prints a table; exits 1 when the restored data differ, 2 when it refuses to run (DATABASE_URL must
be PostgreSQL and its name must contain "bench").
"""

import argparse
import hashlib
import os
import random
import re
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
OUT = REPO / "bench" / "out" / "backup"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "visitplan.settings")
os.environ.setdefault("DEBUG", "False")  # measure what production runs; children inherit it
# The bench's own places: the children (manage.py backup / restore) inherit them.
os.environ["BACKUP_DIR"] = str(OUT / "files")
os.environ["MEDIA_ROOT"] = str(OUT / "media")

# The same guard rails, child runner and table as the other benchmarks; the leaders' bench's builders.
from bench_register import database_settings, finish, fmt_mb, print_tail, run_child, step  # noqa: E402

KEY_TABLES = (
    "households_household",
    "households_member",
    "visitplan_assignment",
    "visits_visit",
    "issues_issue",
    "issues_issueevent",
)
PLAN_BYTES = 300 * 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=100_000, help="households, over 100 grids (default 100000)")
    parser.add_argument("--visits", type=int, default=300_000, help="visits (default 300000)")
    parser.add_argument("--issues", type=int, default=40_000, help="issues (default 40000)")
    parser.add_argument("--followups", type=int, default=10_000, help="follow-ups (default 10000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--reuse-db", action="store_true", help="back up the database an earlier run seeded")
    parser.add_argument("--keep", action="store_true", help="keep the restored database")
    args = parser.parse_args()

    db = database_settings()
    if db is None:
        return 2
    start_load = os.getloadavg()[0]
    results = seed(db, args)
    make_media()
    results += measure(db, args)
    results.append(("machine load (1-min average) at the start / the end",
                    f"{start_load:.1f} / {os.getloadavg()[0]:.1f}", f"{os.cpu_count()} CPUs", None))  # fmt: skip
    return finish(results)


# ---------------------------------------------------------------------------------------------- a, b


def seed(db, args):
    import django

    if args.reuse_db:
        django.setup()
        from django.core.management import call_command

        from households.models import Household
        from visits.models import Visit

        step("a", "reuse the seeded database (migrate)")
        call_command("migrate", verbosity=0)
        print(f"   {Household.objects.count():,} households, {Visit.objects.count():,} visits")
        return []
    from bench_reports import seed_database

    started = time.perf_counter()
    _world, results = seed_database(db, args)  # a. recreate, migrate; b. of bench_reports: COPY
    print(f"   seeded in {time.perf_counter() - started:.0f} s")
    return results


def make_media():
    from households.models import Node, NodeKind

    step("b", "uploaded files: one 平面图 per community and grid")
    root = Path(os.environ["MEDIA_ROOT"])
    shutil.rmtree(root, ignore_errors=True)
    rng = random.Random(7)
    nodes = Node.objects.filter(kind__in=[NodeKind.COMMUNITY, NodeKind.GRID]).order_by("path")
    for node in nodes:
        folder = root / "plans" / node.path.replace(".", "/")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"plan-{node.pk}.png").write_bytes(rng.randbytes(PLAN_BYTES))
    files = sum(1 for p in root.rglob("*") if p.is_file())
    print(f"   {files} files, {files * PLAN_BYTES / 1024 / 1024:.0f} MB in {root}")


# ---------------------------------------------------------------------------------------------- c, d, e


def admin_params(db, name="postgres"):
    params = {"dbname": name, "user": db.get("USER") or None, "password": db.get("PASSWORD") or None,
              "host": db.get("HOST") or None, "port": db.get("PORT") or None}  # fmt: skip
    return {k: v for k, v in params.items() if v}


def recreate(db, name):
    import psycopg
    from psycopg import sql

    with psycopg.connect(**admin_params(db), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop(db, name):
    import psycopg
    from psycopg import sql

    with psycopg.connect(**admin_params(db), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def snapshot(conn):
    """({table: rows}, {key table: md5 of its rows in id order}, seconds)."""
    started = time.perf_counter()
    tables = [r[0] for r in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
        "AND table_type = 'BASE TABLE' ORDER BY 1"
    )]  # fmt: skip
    counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    sums = {t: conn.execute(f"SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM \"{t}\" t").fetchone()[0]
            for t in KEY_TABLES}  # fmt: skip
    return counts, sums, time.perf_counter() - started


def media_digest(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


def measure(db, args):
    import psycopg
    from django.db import connection

    from core.models import Backup

    results = []
    name = db["NAME"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database()), version()")
        db_bytes, version = cursor.fetchone()
    print(f"   {version.split(',')[0]}; database {db_bytes / 1024 / 1024:,.0f} MB on disk")

    step("c", "manage.py backup (child process)")
    shutil.rmtree(OUT / "files", ignore_errors=True)
    before = Backup.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    done = run_child([sys.executable, "manage.py", "backup"])
    print_tail(done["output"], lines=5)
    backup = Backup.objects.filter(pk__gt=before).order_by("-pk").first()
    if done["returncode"] != 0 or backup is None or backup.status != "ok":
        print("   the backup failed")
        return [("backup", "failed", "ok", False)]
    rows = sum(backup.row_counts.values())
    results += [
        ("database on disk (pg_database_size)", f"{db_bytes / 1024 / 1024:,.0f} MB", "", None),
        ("backup: manage.py backup, wall time", f"{done['seconds']:.1f} s", "information", None),
        ("backup: of which pg_dump + archive (Backup.duration)", f"{backup.duration.total_seconds():.1f} s", "", None),
        ("backup: peak RSS of the command", fmt_mb(done["rss_mb"]), "", None),
        ("backup: dump (pg_dump custom format)", f"{backup.dump_bytes / 1024 / 1024:,.1f} MB",
         f"{len(backup.row_counts)} tables, {rows:,} rows", None),
        ("backup: media archive (tar.gz)", f"{backup.media_bytes / 1024 / 1024:,.1f} MB",
         f"{backup.media_files} files", None),
    ]  # fmt: skip

    step("d", f"manage.py restore into the new database {name}_restored (child process)")
    restored = f"{name}_restored"
    recreate(db, restored)
    target = {**db, "NAME": restored}
    auth = target["USER"] + (f":{target['PASSWORD']}" if target.get("PASSWORD") else "")
    url = f"postgres://{auth}@{target.get('HOST') or '127.0.0.1'}:{target.get('PORT') or 5432}/{restored}"
    media_restored = OUT / "media-restored"
    shutil.rmtree(media_restored, ignore_errors=True)
    env_media = os.environ["MEDIA_ROOT"]
    os.environ["MEDIA_ROOT"] = str(media_restored)
    try:
        dump = Path(os.environ["BACKUP_DIR"]) / backup.dump_file
        done = run_child([sys.executable, "manage.py", "restore", str(dump), "--database-url", url, "--media"])
    finally:
        os.environ["MEDIA_ROOT"] = env_media
    print_tail(done["output"], lines=7)
    pg_restore = re.search(r"用时 ([\d.]+) 秒", done["output"])
    ok = done["returncode"] == 0
    results += [
        ("restore: manage.py restore --media, wall time", f"{done['seconds']:.1f} s", "information", None),
        ("restore: of which pg_restore", f"{pg_restore.group(1)} s" if pg_restore else "n/a", "", None),
        ("restore: peak RSS of the command", fmt_mb(done["rss_mb"]), "", None),
        ("restore: the command's own check (every table's rows)", "ok" if ok else "FAILED", "ok", ok),
    ]

    step("e", "every table's row count and the key tables' md5, source against restored")
    with psycopg.connect(**admin_params(db, name)) as conn:
        source_counts, source_sums, seconds = snapshot(conn)
    with psycopg.connect(**admin_params(db, restored)) as conn:
        restored_counts, restored_sums, _ = snapshot(conn)
    print(f"   counted and summed in {seconds:.1f} s per database")
    expected = {**source_counts, "core_backup": 0}  # the backup records are not in the copy (core/backups.py)
    differ = sorted(t for t in set(expected) | set(restored_counts) if expected.get(t) != restored_counts.get(t))
    for table in differ:
        print(f"   {table}: {expected.get(table)} → {restored_counts.get(table)}")
    filled = [t for t in KEY_TABLES if source_counts[t]]  # the md5 of an empty table is NULL
    same_sums = restored_sums == source_sums and all(source_sums[t] for t in filled)
    same_media = media_digest(Path(env_media)) == media_digest(media_restored)
    results += [
        ("restored: tables with the same row count", f"{len(expected) - len(differ)} of {len(expected)}",
         f"all ({sum(expected.values()):,} rows)", not differ),
        ("restored: md5 of " + ", ".join(t.split("_", 1)[1] for t in filled), "equal" if same_sums else "DIFFER",
         "equal", same_sums),
        ("restored: uploaded files", "equal" if same_media else "DIFFER", "equal", same_media),
    ]  # fmt: skip
    if not args.keep:
        drop(db, restored)
    return results


if __name__ == "__main__":
    sys.exit(main())
