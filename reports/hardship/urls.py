from django.urls import path

from . import views

# Included by reports/urls.py under hardship/ (namespace "reports").
urlpatterns = [
    path("", views.hardship_list, name="hardship_list"),
    path("<int:pk>/", views.hardship_plan, name="hardship_plan"),
]
