"""Settings fail loudly on a missing production secret, and harden themselves in production."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

BASE_DIR = Path(__file__).resolve().parents[2]


def _load_settings(**env: str) -> subprocess.CompletedProcess[str]:
    """Import the settings in a fresh interpreter with exactly these variables overriding."""
    child_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "lighterweb.settings", **env}
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.SESSION_COOKIE_SECURE, settings.SECURE_HSTS_SECONDS)"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


PRODUCTION_SECRETS = {
    "SECRET_KEY": "a-long-production-secret-key-for-the-test-only-0123456789",
    "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
}


@pytest.mark.parametrize("missing", ["SECRET_KEY", "FIELD_ENCRYPTION_KEYS"])
def test_production_boot_without_a_secret_names_the_variable(missing):
    # Empty values override any developer .env (read without overwrite).
    result = _load_settings(DEBUG="false", **{**PRODUCTION_SECRETS, missing: ""})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr


def test_production_boot_with_secrets_sets_secure_cookies_and_hsts():
    result = _load_settings(DEBUG="false", **PRODUCTION_SECRETS)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "31536000"]


def test_debug_boot_needs_no_secrets():
    result = _load_settings(DEBUG="true", SECRET_KEY="", FIELD_ENCRYPTION_KEYS="")

    assert result.returncode == 0, result.stderr


def test_sqlite_uses_wal_and_immediate_transactions():
    from django.conf import settings

    options = settings.DATABASES["default"].get("OPTIONS", {})
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        pytest.skip("running against another database")

    assert options["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in options["init_command"]
