from django.urls import path

from . import ledger_views

# Included by reports/urls.py (namespace "reports"); names start with ledger_ / hardship_.
urlpatterns = [
    path("ledgers/", ledger_views.ledger_page, name="ledgers"),
    path("ledgers/visits/", ledger_views.visit_ledger, name="ledger_visits"),
    path("ledgers/hardship/", ledger_views.hardship_ledger, name="ledger_hardship"),
    path("ledgers/monthly/", ledger_views.monthly_ledger, name="ledger_monthly"),
    path("ledgers/supervision/", ledger_views.supervision_ledger, name="ledger_supervision"),
    path("hardship/", ledger_views.hardship_list, name="hardship_list"),
    path("hardship/<int:pk>/", ledger_views.hardship_plan, name="hardship_plan"),
]
