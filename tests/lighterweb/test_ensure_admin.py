"""ensure_admin: the first admin user is created once, with a given or generated password."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def _run() -> str:
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    return out.getvalue()


def test_admin_password_from_the_environment_is_used_and_not_printed(monkeypatch):
    monkeypatch.setenv("ADMIN_PASSWORD", "an-env-given-password-42")

    output = _run()

    user = get_user_model().objects.get(username="admin")
    assert user.is_superuser and user.check_password("an-env-given-password-42")
    assert "an-env-given-password-42" not in output


def test_without_terminal_or_password_one_is_generated_and_shown_once(monkeypatch):
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO())

    output = _run()

    password = output.split("generated password is: ")[1].split()[0]
    assert get_user_model().objects.get(username="admin").check_password(password)


def test_second_run_changes_nothing(monkeypatch):
    monkeypatch.setenv("ADMIN_PASSWORD", "an-env-given-password-42")
    _run()
    monkeypatch.setenv("ADMIN_PASSWORD", "another-password-entirely")

    output = _run()

    assert output == ""
    assert get_user_model().objects.get().check_password("an-env-given-password-42")
