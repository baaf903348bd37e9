"""The planning models' permissions per role (collected by households.roles.role_permissions)."""

from households.roles import LEADER, SECRETARY, STREET_ADMIN, model_permissions

_PLAN_MODELS = (
    "visitplan.department",
    "visitplan.cadre",
    "visitplan.campaign",
    "visitplan.stage",
    "visitplan.departmentquota",
    "visitplan.assignment",
)

PERMISSIONS = {
    STREET_ADMIN: model_permissions(_PLAN_MODELS, ("view", "add", "change", "delete")),
    LEADER: model_permissions(_PLAN_MODELS, ("view",)),
    SECRETARY: model_permissions(_PLAN_MODELS, ("view",)),
}
