"""The roles (Django groups) and what each may do. Group names are what staff see in the admin."""

STREET_ADMIN = "街道管理员"
LEADER = "领导"
SECRETARY = "社区书记"
CADRE = "干部/网格员"
DEPARTMENT_HANDLER = "部门经办人"

ALL_ROLES = (STREET_ADMIN, LEADER, SECRETARY, CADRE, DEPARTMENT_HANDLER)

# Roles that see everything under their scope node; the others see their scope and what is assigned to them.
NODE_WIDE_ROLES = (STREET_ADMIN, LEADER, SECRETARY)

# Model permissions per role, as "app_label.codename". Leaders only read.
_REGISTER_MODELS = ("households.household", "households.member")
_TREE_MODELS = (
    "households.node",
    "households.street",
    "households.community",
    "households.grid",
    "households.building",
)
_PLAN_MODELS = (
    "visitplan.department",
    "visitplan.cadre",
    "visitplan.campaign",
    "visitplan.stage",
    "visitplan.departmentquota",
    "visitplan.assignment",
)


_ISSUE_MODELS = ("issues.issue", "issues.issueevent", "issues.extensionrequest")
_CALENDAR_MODELS = ("issues.holidayoverride",)
# Written by the visit pages and the 回头看 job only; the admin lists them read-only.
_VISIT_MODELS = ("visits.visit", "visits.followup")


def _perms(models, actions):
    return [f"{m.split('.')[0]}.{a}_{m.split('.')[1]}" for m in models for a in actions]


ROLE_PERMISSIONS = {
    STREET_ADMIN: _perms(
        _REGISTER_MODELS + _TREE_MODELS + _PLAN_MODELS + _ISSUE_MODELS + _CALENDAR_MODELS + ("households.focusgroup",),
        ("view", "add", "change", "delete"),
    )
    + _perms(_VISIT_MODELS, ("view",))
    + ["households.view_full_pii", "households.view_exportlog"],
    LEADER: _perms(_REGISTER_MODELS + _TREE_MODELS + _PLAN_MODELS + _ISSUE_MODELS + _VISIT_MODELS, ("view",)),
    SECRETARY: _perms(_REGISTER_MODELS, ("view", "change"))
    + _perms(_VISIT_MODELS, ("view",))
    + _perms(_TREE_MODELS + _PLAN_MODELS, ("view",))
    + _perms(("issues.issue",), ("view", "add", "change"))
    + _perms(("issues.issueevent", "issues.extensionrequest"), ("view",)),
    CADRE: _perms(_REGISTER_MODELS, ("view", "change")) + _perms(("issues.issue",), ("view", "add")),
    DEPARTMENT_HANDLER: _perms(("households.household",), ("view",))
    + _perms(("issues.issue",), ("view", "change"))
    + _perms(("issues.issueevent", "issues.extensionrequest"), ("view", "add")),
}


def user_roles(user) -> set[str]:
    if not user.is_authenticated:
        return set()
    cached = getattr(user, "_visitplan_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._visitplan_roles = cached
    return cached


def sync_role_groups():
    """Create the role groups and give each its permissions (idempotent; run after migrate)."""
    from django.contrib.auth.models import Group, Permission

    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            wanted.extend(Permission.objects.filter(content_type__app_label=app_label, codename=codename))
        group.permissions.set(wanted)
