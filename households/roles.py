"""The roles (Django groups) and what each may do. Group names are what staff see in the admin."""

from core.scope import scope_of

STREET_ADMIN = "街道管理员"
LEADER = "领导"
SECRETARY = "社区书记"
CADRE = "干部/网格员"
DEPARTMENT_HANDLER = "部门经办人"

# The 区 (县) office above the streets (docs/decisions/0017-districts.md): they read every street of
# their district (households.models.DistrictMember), with masked PII, and write nothing of a street.
DISTRICT_LEADER = "区级领导"
DISTRICT_ADMIN = "区级管理员"
DISTRICT_ROLES = (DISTRICT_LEADER, DISTRICT_ADMIN)

STREET_ROLES = (STREET_ADMIN, LEADER, SECRETARY, CADRE, DEPARTMENT_HANDLER)
ALL_ROLES = STREET_ROLES + DISTRICT_ROLES

# Roles that see everything under their scope node; the others see their scope and what is assigned to them.
# (The district roles see every street of their district: visitplan.scope.UserScope.)
NODE_WIDE_ROLES = (STREET_ADMIN, LEADER, SECRETARY)

# Model permissions per role, as "app_label.codename". Each app declares those of its own models in
# its ``roles`` module (a ``PERMISSIONS`` dict: role → permissions); ``role_permissions()`` collects
# them. Leaders only read.
_REGISTER_MODELS = ("households.household", "households.member")
_TREE_MODELS = (
    "households.node",
    "households.street",
    "households.community",
    "households.grid",
    "households.building",
)


def model_permissions(models, actions) -> list[str]:
    """ "app.action_model" for each model ("app.model") and action ("view", "add", …)."""
    return [f"{m.split('.')[0]}.{a}_{m.split('.')[1]}" for m in models for a in actions]


PERMISSIONS = {
    STREET_ADMIN: model_permissions(
        _REGISTER_MODELS + _TREE_MODELS + ("households.focusgroup", "households.columnalias"),
        ("view", "add", "change", "delete"),
    )
    + ["households.view_full_pii", "households.view_accesslog"],
    LEADER: model_permissions(_REGISTER_MODELS + _TREE_MODELS, ("view",)),
    SECRETARY: model_permissions(_REGISTER_MODELS, ("view", "change")) + model_permissions(_TREE_MODELS, ("view",)),
    CADRE: model_permissions(_REGISTER_MODELS, ("view", "change")),
    DEPARTMENT_HANDLER: model_permissions(("households.household",), ("view",)),
    # The district roles have no admin permission: they read through the pages (区级看板, the
    # street dashboards, the ledgers), not the street office's admin; districts and their accounts
    # (households.District, DistrictMember) are kept by superusers.
}


def role_permissions() -> dict[str, list[str]]:
    """Role → permissions, from the ``PERMISSIONS`` of every installed app's ``roles`` module."""
    import importlib
    import importlib.util

    from django.apps import apps

    collected: dict[str, list[str]] = {role: [] for role in ALL_ROLES}
    for config in apps.get_app_configs():
        name = f"{config.name}.roles"
        if importlib.util.find_spec(name) is None:
            continue
        for role, perms in getattr(importlib.import_module(name), "PERMISSIONS", {}).items():
            collected[role].extend(perms)
    return collected


def user_roles(user) -> frozenset[str]:
    """The user's role names, from his Scope (core.scope: looked up once per user object)."""
    return scope_of(user).roles


def group_names(user) -> frozenset[str]:
    """The names of the user's groups, read from the database (the Scope calls this once)."""
    if not user.is_authenticated:
        return frozenset()
    return frozenset(user.groups.values_list("name", flat=True))


def sync_role_groups():
    """Create the role groups and give each its permissions (idempotent; run after migrate)."""
    from django.contrib.auth.models import Group, Permission

    for role, perms in role_permissions().items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            wanted.extend(Permission.objects.filter(content_type__app_label=app_label, codename=codename))
        group.permissions.set(wanted)
