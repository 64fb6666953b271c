"""URL routes: admin, REST API, dashboard, health check, Prometheus metrics."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from bots.notify.views import metrics
from lighterweb import account_views
from lighterweb.api import api
from lighterweb.healthz import healthz
from lighterweb.twofactor import LoginForm

admin.site.site_header = "LighterWeb"
admin.site.site_title = "LighterWeb"
admin.site.index_title = "Bots, accounts and markets"
admin.site.login_form = LoginForm

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("dashboard/", include("bots.dashboard.urls")),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("account/2fa/", account_views.two_factor, name="two-factor"),
    path(
        "account/logout-everywhere/",
        account_views.logout_everywhere,
        name="logout-everywhere",
    ),
]
