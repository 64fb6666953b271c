"""URL routes: admin, REST API, dashboard, health check, Prometheus metrics."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from bots.notify.views import metrics
from lighterweb import account_views
from lighterweb.api import api, api_not_found
from lighterweb.healthz import healthz
from lighterweb.twofactor import LoginForm

admin.site.site_header = "LighterWeb"
admin.site.site_title = "LighterWeb"
admin.site.index_title = "Bots, accounts and markets"
admin.site.login_form = LoginForm

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    # ninja's own page for the bare root is Django's HTML 404: answer it like any unknown path.
    path("api/", api_not_found),
    path("api/", api.urls),
    # After the API's own routes: every other /api/ path is a JSON 404 (lighterweb.api).
    re_path(r"^api(?:/(?P<rest>.*))?$", api_not_found),
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
