"""The role groups' permissions: each app declares those of its own models, and sync gives them."""

import importlib

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission

from households.roles import ALL_ROLES, role_permissions, sync_role_groups

APPS_WITH_ROLES = ("core", "households", "visitplan", "issues", "visits")


def test_each_app_declares_only_its_own_models_permissions():
    for app in APPS_WITH_ROLES:
        declared = importlib.import_module(f"{app}.roles").PERMISSIONS
        assert declared, app
        for role, perms in declared.items():
            assert role in ALL_ROLES, (app, role)
            assert perms and all(p.split(".")[0] == app for p in perms), (app, role, perms)


def test_the_collected_table_is_the_union_of_the_apps_declarations():
    collected = role_permissions()
    expected = {role: set() for role in ALL_ROLES}
    for config in apps.get_app_configs():
        try:
            module = importlib.import_module(f"{config.name}.roles")
        except ModuleNotFoundError:
            continue
        for role, perms in getattr(module, "PERMISSIONS", {}).items():
            expected[role] |= set(perms)
    assert {role: set(perms) for role, perms in collected.items()} == expected
    assert "visitplan.change_assignment" in collected["街道管理员"]
    assert "issues.add_issue" in collected["干部/网格员"]
    assert not any(p.startswith(("visitplan.", "visits.")) for p in collected["部门经办人"])


@pytest.mark.django_db
def test_sync_gives_each_group_exactly_the_declared_permissions_and_each_exists():
    sync_role_groups()
    for role, perms in role_permissions().items():
        granted = {
            f"{app}.{code}"
            for app, code in Group.objects.get(name=role).permissions.values_list("content_type__app_label", "codename")
        }
        assert granted == set(perms), role
    every = set().union(*role_permissions().values())
    existing = {f"{a}.{c}" for a, c in Permission.objects.values_list("content_type__app_label", "codename")}
    assert every <= existing, every - existing
