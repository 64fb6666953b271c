"""The public-bind warning covers every address but loopback (BIND=0 and public ones too)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lighterweb.bind import bind_exposed

BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("bind", "exposed"),
    [
        ("127.0.0.1", False),
        ("127.1", False),
        ("::1", False),
        ("[::1]", False),
        ("localhost", False),
        ("0", True),
        ("0.0.0.0", True),
        ("::", True),
        ("192.168.1.5", True),
        ("203.0.113.7", True),
        ("2001:db8::1", True),
        ("lighter.example.com", True),
    ],
)
def test_only_loopback_is_private(bind, exposed):
    assert bind_exposed(bind) is exposed


@pytest.mark.parametrize(("bind", "status"), [("0", 1), ("203.0.113.7", 1), ("127.0.0.1", 0)])
def test_start_script_check_exits_1_for_an_exposed_address(bind, status):
    result = subprocess.run(
        [sys.executable, "-m", "lighterweb.bind", bind], cwd=BASE_DIR, timeout=60, check=False
    )

    assert result.returncode == status


def test_settings_raise_the_admin_banner_for_bind_0():
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.EXPOSED_PUBLICLY)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "lighterweb.settings", "BIND": "0"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.stdout.strip() == "True", result.stderr
