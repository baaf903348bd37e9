from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from core import health

from . import views

admin.site.site_header = "入户走访工作平台 · 管理后台"
admin.site.site_title = "入户走访管理后台"
admin.site.index_title = "街道工作台"

urlpatterns = [
    path("", views.home, name="home"),
    # The field app: its service worker must be served from the root to control every page.
    path("", include("visits.root_urls")),
    path("login/", auth_views.LoginView.as_view(template_name="registration/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Every logged-in user changes his own password (the admin's page is for staff only).
    path(
        "account/password/",
        auth_views.PasswordChangeView.as_view(template_name="registration/account_password_change.html"),
        name="password_change",
    ),
    path(
        "account/password/done/",
        auth_views.PasswordChangeDoneView.as_view(template_name="registration/account_password_done.html"),
        name="password_change_done",
    ),
    path("households/", include("households.urls")),
    path("visits/", include("visits.urls")),
    path("reports/", include("reports.urls")),
    path("issues/", include("issues.urls")),
    path("notifications/", include("issues.notifications.urls")),
    # 活动规则: each campaign's rulebook, read by all who see the campaign, edited by the street admin.
    path("campaigns/", include("visitplan.rulebook_pages.urls")),
    path("admin/", admin.site.urls),
    # 运行状态 for the monitoring: public JSON, no personal data (core/health.py).
    path("healthz", health.healthz, name="healthz"),
]

# A database error raised outside a view (the session, the user) gets the 503 page too.
handler500 = "core.health.server_error"
