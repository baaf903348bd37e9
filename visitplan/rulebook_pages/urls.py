from django.urls import path

from . import views

app_name = "visitplan"

urlpatterns = [
    path("<int:pk>/rules/", views.rulebook, name="rulebook"),
    path("<int:pk>/rules/edit/", views.rulebook_edit, name="rulebook_edit"),
]
