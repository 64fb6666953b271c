"""The env file (lighterweb.envfile): named, found or absent, never a silent fallback.

Issue 17: a missing or misspelt env file booted the processes with DEBUG on, SQLite and the
development keys; every process logged ".env not found". The boots run in fresh interpreters,
because the settings are read once per process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from lighterweb import envfile

ROOT = Path(__file__).resolve().parents[1]
SECRETS = {
    "SECRET_KEY": "a-long-production-secret-key-for-the-test-only-0123456789",
    "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
}
SHOW = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DEBUG, s.ALLOWED_HOSTS, s.ENV_FILE_READ)"
)
CHECKOUT_HAS_ENV = (ROOT / ".env").exists() or (ROOT / ".env").is_symlink()
needs_no_checkout_env = pytest.mark.skipif(
    CHECKOUT_HAS_ENV, reason="this checkout has a .env (scripts/start.sh wrote one)"
)


def _clean_env(**extra: str) -> dict[str, str]:
    names = {"DEBUG", "ENV_FILE", "LIGHTERWEB_MODE", *SECRETS}
    env = {k: v for k, v in os.environ.items() if k not in names}
    return {**env, "DJANGO_SETTINGS_MODULE": "lighterweb.settings", **extra}


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _env_file(tmp_path: Path, **values: str) -> Path:
    path = tmp_path / "lighterweb.env"
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    return path


def test_a_named_env_file_that_is_missing_stops_the_boot_naming_it(tmp_path):
    missing = tmp_path / "lighterweb.evn"

    result = _run([sys.executable, "-c", SHOW], _clean_env(ENV_FILE=str(missing)))

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"ENV_FILE={missing}" in result.stderr


def test_a_named_env_file_is_read_and_means_production(tmp_path):
    path = _env_file(tmp_path, ALLOWED_HOSTS="bots.example.com", **SECRETS)

    result = _run([sys.executable, "-c", SHOW], _clean_env(ENV_FILE=str(path)))

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "['bots.example.com']", str(path)]


def test_manage_py_env_file_option_reads_that_file(tmp_path):
    path = _env_file(tmp_path, DEBUG="false", ALLOWED_HOSTS="from-the-file.example", **SECRETS)
    code = "from django.conf import settings as s; print(s.DEBUG, s.ALLOWED_HOSTS)"

    result = _run(
        [sys.executable, "manage.py", "--env-file", str(path), "shell", "-c", code], _clean_env()
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == ["False", "['from-the-file.example']"]


def test_manage_py_env_file_option_names_a_missing_file(tmp_path):
    missing = tmp_path / "nope.env"

    result = _run([sys.executable, "manage.py", f"--env-file={missing}", "check"], _clean_env())

    assert result.returncode != 0
    assert f"ENV_FILE={missing} does not exist" in result.stderr


@needs_no_checkout_env
def test_production_mode_without_debug_or_an_env_file_refuses_to_boot():
    result = _run([sys.executable, "-c", SHOW], _clean_env(LIGHTERWEB_MODE="production"))

    assert result.returncode != 0
    assert "refusing to fall back to development settings" in result.stderr


@needs_no_checkout_env
def test_production_mode_with_its_environment_set_boots_without_a_file():
    # systemd's EnvironmentFile= sets the variables itself: no file for the process to read.
    env = _clean_env(LIGHTERWEB_MODE="production", DEBUG="false", **SECRETS)

    result = _run([sys.executable, "-c", SHOW], env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "False"


@needs_no_checkout_env
def test_no_env_file_at_all_is_development_and_logs_nothing():
    code = "import logging; logging.basicConfig(level=logging.DEBUG); " + SHOW

    result = _run([sys.executable, "-c", code], _clean_env())

    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "True"
    # django-environ's "... .env doesn't exist - if you're not configuring ..." line.
    assert "doesn't exist" not in result.stderr
    assert "not found" not in result.stderr


def test_an_unknown_mode_is_refused(monkeypatch):
    monkeypatch.setenv("LIGHTERWEB_MODE", "prod")

    with pytest.raises(ImproperlyConfigured, match="LIGHTERWEB_MODE"):
        envfile.production_mode()


def test_the_checkouts_env_file_is_found_and_the_real_environment_wins(tmp_path, monkeypatch):
    monkeypatch.delenv("ENV_FILE", raising=False)
    monkeypatch.setenv("LW_TEST_KEPT", "from-the-environment")
    monkeypatch.delenv("LW_TEST_ADDED", raising=False)
    (tmp_path / ".env").write_text("LW_TEST_KEPT=from-the-file\nLW_TEST_ADDED=from-the-file\n")

    loaded = envfile.env_file_load(tmp_path)

    assert loaded == tmp_path / ".env"
    assert os.environ["LW_TEST_KEPT"] == "from-the-environment"
    assert os.environ.pop("LW_TEST_ADDED") == "from-the-file"


def test_a_dangling_env_symlink_is_an_error_not_no_file(tmp_path, monkeypatch):
    monkeypatch.delenv("ENV_FILE", raising=False)
    (tmp_path / ".env").symlink_to(tmp_path / "etc" / "lighterweb.env")

    with pytest.raises(ImproperlyConfigured, match="does not exist"):
        envfile.env_file_load(tmp_path)


def test_no_env_file_reads_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("ENV_FILE", raising=False)

    assert envfile.env_file_load(tmp_path) is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_env_file_says_whose_it_is(tmp_path, monkeypatch):
    path = _env_file(tmp_path, DEBUG="false")
    path.chmod(0)
    monkeypatch.setenv("ENV_FILE", str(path))

    with pytest.raises(ImproperlyConfigured, match="service user"):
        envfile.env_file_load(tmp_path)


@pytest.mark.parametrize(
    ("argv", "rest", "named"),
    [
        (["manage.py", "--env-file", "/e", "migrate"], ["manage.py", "migrate"], "/e"),
        (
            ["manage.py", "--env-file=/e", "check", "-v", "2"],
            ["manage.py", "check", "-v", "2"],
            "/e",
        ),
        (
            ["manage.py", "shell", "-c", "--env-file"],
            ["manage.py", "shell", "-c", "--env-file"],
            None,
        ),
    ],
)
def test_manage_py_takes_only_a_leading_env_file_option(argv, rest, named, monkeypatch):
    monkeypatch.setenv("ENV_FILE", "")  # recorded, so the value set here is undone afterwards

    assert envfile.argv_env_file(argv) == rest
    assert os.environ["ENV_FILE"] == (named or "")
