"""The site as it runs for real, for browser tests and bench/push_latency.py.

`daphne` (web + websockets) and a Celery worker on the `bots` queue run as subprocesses of the
caller, pointed at the caller's database and Redis through DATABASE_URL / REDIS_URL, exactly as
`scripts/start.sh` runs them. Chromium is Debian's package driven by Playwright (never
`playwright install`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

# The product's free_port; bench/push_latency.py takes it from here with the rest of the stack.
from lighterweb.redis_server import free_port as free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


def database_url(database: dict[str, Any]) -> str:
    """A DATABASE_URL for a Django DATABASES entry (the test database once it exists)."""
    engine = database["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{database['NAME']}"
    user, password = database.get("USER", ""), database.get("PASSWORD", "")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    port = f":{database['PORT']}" if database.get("PORT") else ""
    return f"postgres://{auth}{database.get('HOST') or 'localhost'}{port}/{database['NAME']}"


def stack_env(db_url: str, redis_url: str) -> dict[str, str]:
    """Environment of the subprocesses: the caller's database and Redis, debug static files."""
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": db_url,
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "CELERY_RESULT_BACKEND": redis_url,
            "DEBUG": "true",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


@contextmanager
def running(
    command: list[str], env: dict[str, str], log_path: Path, ready_url: str | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` (output to `log_path`) until the block ends; wait for `ready_url` to answer."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        try:
            if ready_url is not None:
                _wait_http(ready_url, process, log_path)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT_S)


def daphne(env: dict[str, str], port: int, log_path: Path) -> Any:
    """The web process (HTTP + websockets) on 127.0.0.1:`port`."""
    command = [_bin("daphne"), "-b", "127.0.0.1", "-p", str(port), "lighterweb.asgi:application"]
    return running(command, env, log_path, ready_url=f"http://127.0.0.1:{port}/admin/login/")


def bots_worker(env: dict[str, str], log_path: Path) -> Any:
    """A Celery worker on the `bots` queue (threads pool), as in the Procfile."""
    command = [
        _bin("celery"),
        "-A",
        "lighterweb",
        "worker",
        "-Q",
        "bots",
        "-P",
        "threads",
        "-c",
        "4",
        "-n",
        f"bots-test-{os.getpid()}@%h",
        "--without-heartbeat",
        "--without-gossip",
        "--without-mingle",
    ]
    return running(command, env, log_path)


def _wait_http(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    # Bounded wait for a server to answer at all (any HTTP status counts as "up").
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: server exited; see {log_path}")
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"{url}: no answer within {START_TIMEOUT_S} s; see {log_path}")


def browser_missing() -> str:
    """Why the browser tests cannot run here ("" when they can)."""
    try:
        import playwright.sync_api  # noqa: F401 - only whether it imports
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install -y chromium)"
    return ""


def require_browser() -> None:
    """Called at a browser test module's top: locally a missing browser skips its tests with the
    reason; under CI it is a failure."""
    missing = browser_missing()
    if not missing:
        return
    if os.environ.get("CI"):
        pytest.fail(missing, pytrace=False)
    pytest.skip(missing, allow_module_level=True)
