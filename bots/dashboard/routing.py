"""Websocket routes of the dashboard (mounted by lighterweb.routing)."""

from __future__ import annotations

from django.urls import URLPattern, path

from bots.dashboard.consumers import BotConsumer, DashboardConsumer, HedgeConsumer

websocket_urlpatterns: list[URLPattern] = [
    path("ws/dashboard/", DashboardConsumer.as_asgi(), name="ws-dashboard"),
    path("ws/bots/<int:bot_id>/", BotConsumer.as_asgi(), name="ws-bot"),
    path("ws/hedge/<int:bot_id>/", HedgeConsumer.as_asgi(), name="ws-hedge"),
]
