from django.urls import path

from . import plan_views, views

app_name = "households"
urlpatterns = [
    path("", views.household_list, name="list"),
    path("export/", views.household_export, name="export"),
    path("<int:pk>/", views.household_detail, name="detail"),
    path("<int:pk>/reveal/", views.household_reveal, name="reveal"),
    path("<int:pk>/call/", views.household_call, name="call"),
    # 平面图 of a community or grid (the 网格图): upload, delete, the scoped image.
    path("nodes/<int:pk>/plan/", plan_views.plan_upload, name="plan_upload"),
    path("nodes/<int:pk>/plan/delete/", plan_views.plan_delete, name="plan_delete"),
    path("nodes/<int:pk>/plan/image", plan_views.plan_image, name="plan_image"),
]
