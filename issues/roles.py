"""The issue ledger's permissions per role (collected by households.roles.role_permissions).

What a role may do to an issue beyond these (accept, route, close…) is issues/services.ACTION_ROLES.
"""

from households.roles import CADRE, DEPARTMENT_HANDLER, LEADER, SECRETARY, STREET_ADMIN, model_permissions

_ISSUE_MODELS = ("issues.issue", "issues.issueevent", "issues.extensionrequest")
_CALENDAR_MODELS = ("issues.holidayoverride",)

PERMISSIONS = {
    STREET_ADMIN: model_permissions(_ISSUE_MODELS + _CALENDAR_MODELS, ("view", "add", "change", "delete")),
    LEADER: model_permissions(_ISSUE_MODELS, ("view",)),
    SECRETARY: model_permissions(("issues.issue",), ("view", "add", "change"))
    + model_permissions(("issues.issueevent", "issues.extensionrequest"), ("view",)),
    CADRE: model_permissions(("issues.issue",), ("view", "add")),
    DEPARTMENT_HANDLER: model_permissions(("issues.issue",), ("view", "change"))
    + model_permissions(("issues.issueevent", "issues.extensionrequest"), ("view", "add")),
}
