from django.urls import path

from . import views

# Included by reports/urls.py under bulletin/ (namespace "reports").
urlpatterns = [
    path("", views.bulletin_page, name="bulletin"),
    path("export/", views.bulletin_export, name="bulletin_export"),
]
