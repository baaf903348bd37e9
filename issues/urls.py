from django.urls import path

from . import views

app_name = "issues"
urlpatterns = [
    path("", views.ledger, name="ledger"),
    path("review/", views.review_queue, name="review"),
    path("mine/", views.my_issues, name="mine"),
    path("new/", views.issue_new, name="new"),
    path("export/", views.ledger_export, name="export"),
    path("<int:pk>/", views.issue_detail, name="detail"),
    path("<int:pk>/merge/", views.issue_merge, name="merge"),
    path("<int:pk>/act/<slug:action>/", views.issue_act, name="act"),
]
