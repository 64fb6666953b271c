"""GET /healthz: database, Redis, Celery workers and beat, with short timeouts (no login).

HTTP 200 with `"status": "ok"` when everything answers, 503 with `"degraded"` otherwise, so a
load balancer or systemd watchdog can act on the code alone. Anonymous callers get only ok / not
ok per component; the details (database vendor, timings, worker names, which carry the host name,
error types) are for logged-in staff (and GET /api/health). Every probe is bounded (about a
second in the worst case) so the endpoint never hangs.

Monitors run on the server itself and probe `http://127.0.0.1:8000/healthz`: plain HTTP, a
loopback Host that is not in a production ALLOWED_HOSTS. `healthz_loopback_middleware` (first in
MIDDLEWARE) answers exactly that request before host validation and the HTTPS redirect, so it
gets the report instead of a 400 with a DisallowedHost traceback per probe; every other request,
including /healthz under any other Host, goes through the normal checks (SECURE_REDIRECT_EXEMPT
keeps plain-HTTP /healthz from being redirected on the allowed hosts). A 503 is the expected
answer while the processes start, so it is logged at INFO, not as a server error.
"""

from __future__ import annotations

import logging
import time
from typing import Any, cast

import redis
from asgiref.sync import iscoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.request import split_domain_port
from django.utils.decorators import sync_and_async_middleware
from django.utils.log import log_response
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu.connection import Connection
from kombu.exceptions import KombuError

from lighterweb.celery import app as celery_app

logger = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 0.5
# Beat writes its heartbeat every CELERY_BEAT_HEARTBEAT_SECONDS; allow a few missed beats.
BEAT_STALE_FACTOR = 4
HEALTHZ_PATH = "/healthz"
# Host names (port stripped) a probe on the server itself uses.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})


def check_database() -> dict[str, Any]:
    """Run SELECT 1 on the default database."""
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("healthz: database check failed: %s", exc)
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "vendor": connection.vendor, "ms": _ms_since(started)}


def check_redis(client: redis.Redis) -> dict[str, Any]:
    """PING Redis."""
    started = time.monotonic()
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        logger.warning("healthz: redis check failed: %s", exc)
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "ms": _ms_since(started)}


def check_celery_workers() -> dict[str, Any]:
    """Names of the Celery workers answering a broadcast ping within the probe timeout."""
    try:
        with Connection(  # type: ignore[no-untyped-call]
            settings.CELERY_BROKER_URL,
            connect_timeout=PROBE_TIMEOUT_SECONDS,
            transport_options={"socket_timeout": 1, "socket_connect_timeout": 1},
        ) as conn:
            replies = celery_app.control.ping(timeout=PROBE_TIMEOUT_SECONDS, connection=conn)
    except (KombuError, redis.RedisError, OSError) as exc:
        logger.warning("healthz: celery ping failed: %s", exc)
        return {"ok": False, "workers": [], "error": type(exc).__name__}
    workers = sorted(name for reply in replies for name in reply)
    return {"ok": bool(workers), "workers": workers}


def check_beat(client: redis.Redis) -> dict[str, Any]:
    """Seconds since celery beat last ran its heartbeat task (None when never seen)."""
    try:
        # A sync client: the stubs also allow an awaitable, which this never is.
        raw = cast("bytes | None", client.get(settings.BEAT_HEARTBEAT_KEY))
    except (redis.RedisError, OSError) as exc:
        return {"ok": False, "last_seen_seconds_ago": None, "error": type(exc).__name__}
    if raw is None:
        return {"ok": False, "last_seen_seconds_ago": None}
    ago = max(0.0, time.time() - float(raw))
    stale_after = settings.CELERY_BEAT_HEARTBEAT_SECONDS * BEAT_STALE_FACTOR
    return {"ok": ago <= stale_after, "last_seen_seconds_ago": round(ago, 1)}


def health_report() -> dict[str, Any]:
    """Every check, and the overall status ("ok" only when all pass)."""
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=PROBE_TIMEOUT_SECONDS,
        socket_connect_timeout=PROBE_TIMEOUT_SECONDS,
    )
    try:
        report: dict[str, Any] = {"database": check_database(), "redis": check_redis(client)}
        if report["redis"]["ok"]:
            report["celery"] = check_celery_workers()
            report["beat"] = check_beat(client)
        else:
            # Both live in Redis: probing them again would only wait for the same timeout.
            report["celery"] = {"ok": False, "workers": [], "error": "redis unavailable"}
            report["beat"] = {"ok": False, "last_seen_seconds_ago": None}
    finally:
        client.close()
    healthy = all(part["ok"] for part in report.values())
    return {"status": "ok" if healthy else "degraded", **report}


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """JSON health report; 200 when all is well, 503 otherwise."""
    report = health_report()
    status = 200 if report["status"] == "ok" else 503
    user = getattr(request, "user", None)  # a loopback probe is answered before the auth middleware
    if not (user is not None and user.is_authenticated and user.is_staff):
        report = public_report(report)
    response = JsonResponse(report, status=status)
    if response.status_code != 200:
        failing = ", ".join(
            name for name, part in report.items() if name != "status" and not part["ok"]
        )
        # Marks the response as logged, so Django's request logger does not add an ERROR line.
        log_response(
            "healthz degraded (%s)",
            failing,
            response=response,
            request=request,
            logger=logger,
            level="info",
        )
    return response


@sync_and_async_middleware
def healthz_loopback_middleware(get_response: Any) -> Any:
    """Answer /healthz asked with a loopback Host directly (see the module docstring).

    Sync and async: under daphne the chain stays async (no thread hop for every request).
    """
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> HttpResponse:
            if _loopback_probe(request):
                return await sync_to_async(healthz)(request)
            response: HttpResponse = await get_response(request)
            return response

        return async_middleware

    def middleware(request: HttpRequest) -> HttpResponse:
        if _loopback_probe(request):
            return healthz(request)
        response: HttpResponse = get_response(request)
        return response

    return middleware


def _loopback_probe(request: HttpRequest) -> bool:
    if request.path != HEALTHZ_PATH:
        return False
    # The raw header: request.get_host() is the ALLOWED_HOSTS check this request must skip.
    domain, _port = split_domain_port(request.META.get("HTTP_HOST", ""))
    return domain in LOOPBACK_HOSTS


def public_report(report: dict[str, Any]) -> dict[str, Any]:
    """`report` reduced to the overall status and ok / not ok per component."""
    return {
        name: part if name == "status" else {"ok": bool(part["ok"])}
        for name, part in report.items()
    }


def _ms_since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
