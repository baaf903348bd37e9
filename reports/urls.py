from django.urls import include, path

from . import district_views, views

app_name = "reports"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("district/", district_views.district, name="district"),
    path("unvisited/", views.unvisited, name="unvisited"),
    path("behind/", views.behind, name="behind"),
    path("cadre/", views.cadre_households, name="cadre"),
    path("issues/", views.issue_rows, name="issues"),
    path("visits/", views.visit_rows, name="visits"),
    path("followups/", views.followup_rows, name="followups"),
    path("findings/", views.findings, name="findings"),
    path("phone-checks/", views.phone_checks, name="phone_checks"),
    path("phone-checks/<int:pk>/", views.phone_check, name="phone_check"),
    path("summary/", views.summary, name="summary"),
    path("evaluation/", views.evaluation_page, name="evaluation"),
    path("evaluation/export/", views.evaluation_export, name="evaluation_export"),
    path("ledgers/", include("reports.ledgers.urls")),
    path("hardship/", include("reports.hardship.urls")),
    path("bulletin/", include("reports.bulletin.urls")),
    path("map/", include("reports.maps.urls")),
]
