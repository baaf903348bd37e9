from django.urls import path

from . import views

# Included by reports/urls.py under map/ (namespace "reports").
urlpatterns = [
    path("building/<int:pk>/", views.building_map, name="map_building"),
    path("community/<int:pk>/", views.community_map, name="map_community"),
    path("grid/<int:pk>/", views.grid_map, name="map_grid"),
    path("grid/<int:pk>/spots/", views.save_spots, name="map_spots"),
]
