"""Dashboard URLs (mounted at /dashboard/ by lighterweb.urls)."""

from __future__ import annotations

from django.urls import path

from bots.dashboard import hedge_views, positions_views, views

app_name = "dashboard"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("bots/<int:bot_id>/", views.bot_page, name="bot"),
    path("bots/<int:bot_id>/<slug:action>/", views.bot_action, name="bot-action"),
    path("hedge/<int:bot_id>/", hedge_views.hedge_bot_page, name="hedge-bot"),
    path(
        "hedge/<int:bot_id>/<slug:action>/",
        hedge_views.hedge_bot_action,
        name="hedge-bot-action",
    ),
    path("emergency-stop/", views.emergency_stop_all, name="emergency-stop-all"),
    path("cancel-all/", views.cancel_all, name="cancel-all"),
    path(
        "accounts/<int:account_id>/positions/",
        positions_views.positions_page,
        name="positions",
    ),
    path(
        "accounts/<int:account_id>/positions/<int:market_index>/close/",
        positions_views.position_close,
        name="position-close",
    ),
    path(
        "accounts/<int:account_id>/positions/<int:market_index>/tpsl/",
        positions_views.position_tpsl,
        name="position-tpsl",
    ),
    path(
        "accounts/<int:account_id>/positions/<int:market_index>/tpsl/<int:order_index>/cancel/",
        positions_views.position_tpsl_cancel,
        name="position-tpsl-cancel",
    ),
]
