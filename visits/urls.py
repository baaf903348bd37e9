from django.urls import path

from . import offline, todo, views

app_name = "visits"
urlpatterns = [
    path("", views.my_households, name="mine"),
    path("todo/", todo.todo_page, name="todo"),
    path("followups/", views.followup_list, name="followups"),
    path("cards/", views.contact_cards, name="cards"),
    path("h/<int:pk>/", views.household_page, name="household"),
    path("h/<int:pk>/visit/", views.visit_new, name="visit"),
    path("h/<int:pk>/followup/", views.followup_new, name="followup"),
    path("<int:pk>/", views.visit_detail, name="detail"),
    path("offline/", offline.offline_page, name="offline"),
    path("offline/state.json", offline.state, name="offline_state"),
]
