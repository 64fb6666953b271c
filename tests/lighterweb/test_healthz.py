"""GET /healthz: no login, JSON report, 200 only when db, Redis, workers and beat are all fine."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.db import connection

from lighterweb.healthz import health_report
from lighterweb.redis_server import free_port
from tests.browser.live_stack import database_url

pytestmark = pytest.mark.django_db
BASE_DIR = Path(__file__).resolve().parents[2]
# Celery traffic of these tests goes to its own database so that flushes of db 15 by other
# tests cannot eat the broker's queues.


def _point_at(settings, url: str) -> None:
    settings.REDIS_URL = url
    settings.CELERY_BROKER_URL = url


def _celery_url(redis_url: str) -> str:
    # The session's own claimed database (tests/conftest.py), so parallel sessions never mix.
    return redis_url


def test_healthz_needs_no_login_and_reports_every_part(client, settings, redis_url):
    _point_at(settings, _celery_url(redis_url))

    response = client.get("/healthz")

    body = response.json()
    assert set(body) == {"status", "database", "redis", "celery", "beat"}
    assert body["database"]["ok"] is True
    assert body["redis"]["ok"] is True


def test_anonymous_healthz_tells_neither_host_name_nor_database_vendor(client, settings, redis_url):
    _point_at(settings, _celery_url(redis_url))

    body = client.get("/healthz").json()

    assert {name: set(part) for name, part in body.items() if name != "status"} == {
        "database": {"ok"},
        "redis": {"ok"},
        "celery": {"ok"},
        "beat": {"ok"},
    }
    assert connection.vendor not in str(body)


def test_staff_get_the_details(admin_client, settings, redis_url):
    _point_at(settings, _celery_url(redis_url))

    body = admin_client.get("/healthz").json()

    assert body["database"]["vendor"] == connection.vendor
    assert "workers" in body["celery"]


def test_healthz_without_workers_is_degraded_with_503(admin_client, settings, redis_url):
    _point_at(settings, _celery_url(redis_url))
    redis.Redis.from_url(_celery_url(redis_url)).delete(settings.BEAT_HEARTBEAT_KEY)

    response = admin_client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["celery"] == {"ok": False, "workers": []}
    assert body["beat"]["last_seen_seconds_ago"] is None


def test_healthz_with_redis_down_answers_quickly_with_503(client, settings):
    _point_at(settings, f"redis://127.0.0.1:{free_port()}/0")

    started = time.monotonic()
    response = client.get("/healthz")
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response.json()["redis"]["ok"] is False
    # A bound, not a performance goal: the endpoint must not hang on a dead Redis.
    assert elapsed < 10


def test_stale_beat_heartbeat_is_reported_not_ok(settings, redis_url):
    url = _celery_url(redis_url)
    _point_at(settings, url)
    redis.Redis.from_url(url).set(settings.BEAT_HEARTBEAT_KEY, str(time.time() - 3600))

    report = health_report()

    assert report["beat"]["ok"] is False
    assert report["beat"]["last_seen_seconds_ago"] >= 3599


# Runs in a pytest process of its own (scripts/test.sh): after the rest of the suite in the same
# process it sees no worker reply, for a reason not yet found (it passes alone and after the
# worker-kill test; see the session note).
@pytest.mark.slow
@pytest.mark.isolated
def test_healthz_is_ok_with_a_real_worker_and_beat(admin_client, settings, redis_url, tmp_path):
    url = _celery_url(redis_url)
    _point_at(settings, url)
    redis.Redis.from_url(url).flushdb()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": url,
        "CELERY_BROKER_URL": url,
        "CELERY_RESULT_BACKEND": url,
    }
    celery = [sys.executable, "-m", "celery", "-A", "lighterweb"]
    worker = subprocess.Popen(
        [
            *celery,
            "worker",
            "-Q",
            "celery,bots",
            "-P",
            "solo",
            "-n",
            f"healthz-test-{os.getpid()}@%h",
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "worker.log").open("wb"),
    )
    beat = subprocess.Popen(
        [*celery, "beat", "-s", str(tmp_path / "beat-schedule")],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Each probe blocks for up to the ping timeout, so this loop waits without sleeping.
        # A loaded 2-core CI machine can take a while to boot Django + Celery twice.
        deadline = time.monotonic() + 120
        body: dict = {}
        while time.monotonic() < deadline:
            response = admin_client.get("/healthz")
            body = response.json()
            if response.status_code == 200:
                break
        worker_log = (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
        assert body["status"] == "ok", (body["celery"], body["beat"], worker_log)
        assert any(name.startswith("healthz-test-") for name in body["celery"]["workers"])
        assert body["beat"]["ok"] is True
    finally:
        for process in (beat, worker):
            process.terminate()
        for process in (beat, worker):
            process.wait(timeout=30)
