"""The visits' permissions per role (collected by households.roles.role_permissions).

Visits and follow-ups are written by the visit pages and the 回头看 job only; the admin lists them
read-only, to those who oversee.
"""

from households.roles import LEADER, SECRETARY, STREET_ADMIN, model_permissions

_VISIT_MODELS = ("visits.visit", "visits.followup")

PERMISSIONS = {role: model_permissions(_VISIT_MODELS, ("view",)) for role in (STREET_ADMIN, LEADER, SECRETARY)}
