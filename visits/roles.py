"""The visits' permissions per role (collected by households.roles.role_permissions).

Visits, follow-ups and the cards given are written by the visit and cards pages and the 回头看 job only; the admin lists them
read-only, to those who oversee.
"""

from households.roles import LEADER, SECRETARY, STREET_ADMIN, model_permissions

_VISIT_MODELS = ("visits.visit", "visits.followup", "visits.cardissued")

PERMISSIONS = {role: model_permissions(_VISIT_MODELS, ("view",)) for role in (STREET_ADMIN, LEADER, SECRETARY)}
