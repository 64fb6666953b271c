"""ASGI entry point: HTTP through Django, websockets through Channels (authenticated)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lighterweb.settings")

# Django must be set up before anything imports models (consumers do).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from lighterweb.limits import RequestBodyLimit  # noqa: E402
from lighterweb.origins import SameOriginValidator  # noqa: E402
from lighterweb.routing import websocket_urlpatterns  # noqa: E402

# Locally daphne serves /static/ itself (as runserver would); on a VPS the reverse proxy serves
# the collected files from STATIC_ROOT.
django_http_app = ASGIStaticFilesHandler(django_asgi_app) if settings.DEBUG else django_asgi_app
# Oversized bodies are refused (413) before Django reads them (lighterweb.limits).
http_app = RequestBodyLimit(django_http_app)

application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
