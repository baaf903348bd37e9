"""Migrations 0006/0007 on a database that already has export-log rows (an upgrade, not a fresh
install): the backfill fills them, and on PostgreSQL the schema change does not fail with
"pending trigger events" (it did while the backfill ran in 0006's transaction)."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("households", "0005_hardshipplan_hardshipmeasure")]


@pytest.mark.django_db(transaction=True)
def test_the_access_log_migrations_upgrade_a_database_with_rows():
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    User = old.get_model("auth", "User")
    ExportLog = old.get_model("households", "ExportLog")
    user = User.objects.create(username="exporter")
    ExportLog.objects.create(user=user, what="居民底册（页面导出）", rows=12)
    ExportLog.objects.create(user=None, what="问题整改台账", rows=3)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(leaves)

    new = executor.loader.project_state(leaves).apps.get_model("households", "AccessLog")
    rows = sorted(new.objects.values_list("what", "kind", "residents", "username"))
    assert rows == [("居民底册（页面导出）", "export", 12, "exporter"), ("问题整改台账", "export", 3, "")]


@pytest.mark.django_db(transaction=True)
def test_the_rename_to_access_log_keeps_every_grant():
    """0010 renames ExportLog to AccessLog: a group that could read the export log reads the access
    log after the upgrade, through the same permission row, and no permission is left behind."""
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    before = [("households", "0009_access_log_search_kind")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    Permission = old.get_model("auth", "Permission")
    Group = old.get_model("auth", "Group")
    view = Permission.objects.get(content_type__app_label="households", codename="view_exportlog")
    group = Group.objects.create(name="审计")
    group.permissions.add(view)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(leaves)

    new = executor.loader.project_state(leaves).apps
    codenames = set(
        new.get_model("auth", "Group").objects.get(name="审计").permissions.values_list("codename", flat=True)
    )
    assert codenames == {"view_accesslog"}
    assert (
        new.get_model("auth", "Permission")
        .objects.get(content_type__app_label="households", codename="view_accesslog")
        .pk
        == view.pk
    )
    assert not new.get_model("auth", "Permission").objects.filter(codename__endswith="_exportlog").exists()
    assert new.get_model("contenttypes", "ContentType").objects.get(app_label="households", model="accesslog")
