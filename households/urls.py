from django.urls import path

from . import views

app_name = "households"
urlpatterns = [
    path("", views.household_list, name="list"),
    path("export/", views.household_export, name="export"),
    path("<int:pk>/", views.household_detail, name="detail"),
    path("<int:pk>/reveal/", views.household_reveal, name="reveal"),
    path("<int:pk>/call/", views.household_call, name="call"),
]
