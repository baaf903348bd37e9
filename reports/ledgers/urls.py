from django.urls import path

from . import views

# Included by reports/urls.py under ledgers/ (namespace "reports"); names start with ledger_.
urlpatterns = [
    path("", views.ledger_page, name="ledgers"),
    path("visits/", views.visit_ledger, name="ledger_visits"),
    path("hardship/", views.hardship_ledger, name="ledger_hardship"),
    path("monthly/", views.monthly_ledger, name="ledger_monthly"),
    path("supervision/", views.supervision_ledger, name="ledger_supervision"),
    path("exports/", views.my_exports, name="my_exports"),
    path("exports/<int:pk>/", views.export_job, name="export_job"),
    path("exports/<int:pk>/download/", views.export_download, name="export_download"),
]
