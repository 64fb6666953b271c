"""scripts/start.sh from a fresh clone: embedded Redis, healthy, clean stop, fast rerun."""

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from lighterweb.redis_server import free_port, redis_reachable

BASE_DIR = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _run_check(clone: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "scripts/start.sh", "--check"],
        cwd=clone,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _clone(target: Path) -> Path:
    if (BASE_DIR / ".git").exists():
        subprocess.run(["git", "clone", "-q", str(BASE_DIR), str(target)], check=True, timeout=120)
    else:
        # A source tarball: copy it without the local state a fresh machine would not have.
        ignored = shutil.ignore_patterns(".venv", "var", ".env", "*.egg-info", "__pycache__")
        shutil.copytree(BASE_DIR, target, ignore=ignored)
    return target


def _start_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.pop("VIRTUAL_ENV", None)
    env.update(
        {
            # Nothing listens there, so start.sh must run the embedded redis-server itself.
            "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
            "PORT": str(free_port()),
            "LIGHTER_PAPER_URL": f"http://127.0.0.1:{free_port()}",
            # No network here: reuse this virtualenv instead of installing into a new one.
            "LIGHTERWEB_VENV": sys.prefix,
            "LIGHTERWEB_SKIP_INSTALL": "1",
            "ADMIN_PASSWORD": "a-long-test-password-123",
            "LIGHTERWEB_CHECK_TIMEOUT": "150",
        }
    )
    return env


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """One fresh clone started once in check mode: (clone, env, result)."""
    clone = _clone(tmp_path_factory.mktemp("start") / "lighterweb")
    env = _start_env()
    assert not redis_reachable(env["REDIS_URL"], timeout_seconds=0.2)
    return clone, env, _run_check(clone, env)


def test_fresh_clone_comes_up_healthy_with_embedded_redis(first_run):
    _, _, result = first_run

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "Healthy at" in result.stdout
    assert "Created the admin user 'admin'" in result.stdout


def test_first_run_writes_the_secrets_to_a_private_env_file(first_run):
    clone, _, _ = first_run

    env_file = clone / ".env"

    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert "FIELD_ENCRYPTION_KEYS=" in env_file.read_text()
    assert "SECRET_KEY=" in env_file.read_text()


def test_stop_leaves_nothing_listening(first_run):
    _, env, _ = first_run

    assert not redis_reachable(env["REDIS_URL"], timeout_seconds=0.2)
    assert _port_free(int(env["PORT"]))


def test_second_start_reuses_env_database_and_admin(first_run):
    clone, env, _ = first_run
    env_before = (clone / ".env").read_text()

    second = _run_check(clone, env)

    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-4000:]
    assert "Created the admin user" not in second.stdout
    assert "Writing .env" not in second.stdout
    assert (clone / ".env").read_text() == env_before


def test_public_bind_prints_a_loud_warning(tmp_path):
    clone = _clone(tmp_path / "lighterweb")
    env = {**_start_env(), "BIND": "0.0.0.0"}

    result = _run_check(clone, env)

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "WARNING: binding to 0.0.0.0" in result.stderr


def _paper_account(clone: Path) -> dict[str, object]:
    saved = json.loads((clone / "var" / "sim-state.json").read_text())
    assert saved["clean"] is True  # written when start.sh stopped the sim process
    return next(a for a in saved["engine"]["accounts"] if a["index"] == 100)


def test_a_restart_keeps_the_paper_venue(first_run):
    clone, env, _ = first_run
    before = _paper_account(clone)

    again = _run_check(clone, env)

    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
    # Restored, not re-created: a fresh venue would open the account anew.
    assert _paper_account(clone)["created_at"] == before["created_at"]
