"""GET /metrics: Prometheus text format, for a bearer token or a direct loopback caller.

Who gets in:
- a request with `Authorization: Bearer <METRICS_TOKEN>` (when the setting is non-empty), from
  anywhere;
- a request from the loopback interface that did not come through a reverse proxy (no
  `X-Forwarded-For`): Prometheus on the same host scraping 127.0.0.1:8000 directly. Through the
  proxy every request looks local to daphne, so proxied requests always need the token.
Everyone else gets 401. The figures are not secret, but bot names, addresses and PnL are nobody
else's business.
"""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from bots.notify.metrics import LighterWebCollector

REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(LighterWebCollector())


def metrics_allowed(request: HttpRequest) -> bool:
    """Whether the caller may read the metrics (see the module docstring)."""
    token = str(settings.METRICS_TOKEN)
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header[len("Bearer ") :].strip().encode(), token.encode())
    if "X-Forwarded-For" in request.headers:
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


@login_not_required
@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Every LighterWeb series, read at scrape time."""
    if not metrics_allowed(request):
        response = HttpResponse(
            "Send Authorization: Bearer <METRICS_TOKEN>, or scrape from this host.\n",
            status=401,
            content_type="text/plain",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
