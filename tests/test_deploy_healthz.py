"""/healthz under production settings answers a monitor on the server itself (issue 17).

The monitor probes `http://127.0.0.1:8000/healthz`: plain HTTP and a loopback Host that is not
in ALLOWED_HOSTS. It used to get a 400 with a DisallowedHost traceback logged per probe, and a
probe by the public name got redirected to HTTPS (the settings named a setting Django does not
have). The settings are read once per process, so each case boots them in a fresh interpreter
with DEBUG=false, both the sync and the async (daphne's) middleware path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from lighterweb.redis_server import free_port

ROOT = Path(__file__).resolve().parents[1]
PROBES = """
import asyncio, json
import django
django.setup()
from asgiref.testing import ApplicationCommunicator
from django.core.asgi import get_asgi_application
from django.test import Client

def sync(path, host):
    return Client().get(path, HTTP_HOST=host).status_code

async def asgi(path, host):
    # The ASGI handler daphne drives (AsyncClient would add a second Host header).
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", host.encode())],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
    }
    communicator = ApplicationCommunicator(get_asgi_application(), scope)
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(30)
    await communicator.wait(30)
    return start["status"]

def run_async(path, host):
    return asyncio.run(asgi(path, host))

print(json.dumps({
    "loopback": sync("/healthz", "127.0.0.1:8000"),
    "localhost": sync("/healthz", "localhost:8000"),
    "loopback_async": run_async("/healthz", "127.0.0.1:8000"),
    "public_name": sync("/healthz", "bots.example.com"),
    "public_name_async": run_async("/healthz", "bots.example.com"),
    "admin_public_name": sync("/admin/login/", "bots.example.com"),
    "admin_loopback": sync("/admin/login/", "127.0.0.1:8000"),
    "unknown_host": sync("/healthz", "evil.example.com"),
}))
"""


@pytest.fixture(scope="module")
def production_probes(tmp_path_factory):
    """(status codes, stderr) of the probes against production settings."""
    tmp = tmp_path_factory.mktemp("healthz")
    names = {"ENV_FILE", "LIGHTERWEB_MODE", "SECURE_SSL_REDIRECT", "ALLOWED_HOSTS"}
    env = {key: value for key, value in os.environ.items() if key not in names}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "lighterweb.settings",
            "DEBUG": "false",
            "SECRET_KEY": "a-long-production-secret-key-for-the-test-only-0123456789",
            "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "ALLOWED_HOSTS": "bots.example.com",
            "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
            # Nothing listens there: the report is a quick 503, as while the processes start.
            "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
            "LOG_LEVEL": "INFO",
        }
    )
    result = subprocess.run(
        [sys.executable, "-c", PROBES],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1]), result.stderr


def test_plain_http_healthz_is_not_redirected_with_production_settings(production_probes):
    codes, _ = production_probes

    # The redirect is on (the admin is redirected), but /healthz answers over plain HTTP.
    assert codes["admin_public_name"] == 301
    assert codes["public_name"] == 503
    assert codes["public_name_async"] == 503


def test_a_loopback_probe_is_answered_not_refused(production_probes):
    codes, _ = production_probes

    assert codes["loopback"] == 503
    assert codes["localhost"] == 503
    assert codes["loopback_async"] == 503


def test_loopback_hosts_are_allowed_for_healthz_only(production_probes):
    codes, _ = production_probes

    assert codes["admin_loopback"] == 400
    assert codes["unknown_host"] == 400


def test_probes_log_no_traceback_and_the_503_not_as_an_error(production_probes):
    _, stderr = production_probes
    loopback_and_public_lines = [line for line in stderr.splitlines() if "healthz degraded" in line]

    # The two refused requests above (admin on loopback, unknown host) are the only ones
    # Django reports as DisallowedHost.
    assert stderr.count("DisallowedHost: Invalid HTTP_HOST header") == 2
    assert "127.0.0.1:8000'. You may need" in stderr  # the admin one, not /healthz's
    assert len(loopback_and_public_lines) == 5
    assert all(" INFO lighterweb.healthz " in line for line in loopback_and_public_lines)
    assert "ERROR django.request Service Unavailable" not in stderr
