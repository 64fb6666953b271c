"""Websocket URL routes: the dashboard's consumers (bots.dashboard.routing)."""

from __future__ import annotations

from django.urls import URLPattern

from bots.dashboard.routing import websocket_urlpatterns as bots_websocket_urlpatterns

websocket_urlpatterns: list[URLPattern] = [*bots_websocket_urlpatterns]
