"""Login: throttling and lockout (django-axes), TOTP two-factor (django-otp), 12-character
passwords, a sliding idle timeout, log out everywhere."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from lighterweb.models import AuditEntry
from tests.lighterweb.factories import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-only"
LOGIN = "/admin/login/?next=/admin/"


def _login(client: Client, username: str, password: str = PASSWORD, **extra: str):
    return client.post(LOGIN, {"username": username, "password": password, **extra})


def _logged_in(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


def _code(device: TOTPDevice) -> str:
    return f"{TOTP(device.bin_key, device.step, device.t0, device.digits).token():06d}"


def test_too_many_wrong_passwords_lock_the_user_out_even_with_the_right_one(settings):
    settings.AXES_FAILURE_LIMIT = 3
    make_user("alice", role="viewer")
    client = Client()
    for _ in range(3):
        _login(client, "alice", "wrong-password-123")

    response = _login(client, "alice")

    assert response.status_code == 429
    assert not _logged_in(client)
    assert AuditEntry.objects.filter(action="lockout", actor="alice").exists()
    assert AuditEntry.objects.filter(action="login_failed", actor="alice").count() >= 3


def test_failures_from_one_address_lock_it_out_whatever_the_username(settings):
    settings.AXES_FAILURE_LIMIT = 3
    make_user("carol", role="viewer")
    client = Client(REMOTE_ADDR="10.9.8.7")
    for name in ("x1", "x2", "x3"):
        _login(client, name, "wrong-password-123")

    assert _login(client, "carol").status_code == 429
    assert _login(Client(REMOTE_ADDR="10.9.8.6"), "carol").status_code == 302


def test_an_admin_unlocks_a_locked_out_user(settings, admin_client):
    settings.AXES_FAILURE_LIMIT = 2
    make_user("bob", role="viewer")
    for _ in range(2):
        _login(Client(), "bob", "wrong-password-123")
    from axes.models import AccessAttempt

    admin_client.post(
        "/admin/axes/accessattempt/",
        {
            "action": "unlock",
            "_selected_action": list(AccessAttempt.objects.values_list("pk", flat=True)),
        },
    )

    client = Client()
    assert _login(client, "bob").status_code == 302
    assert _logged_in(client)
    assert AuditEntry.objects.filter(action="unlock", target="bob").exists()


@pytest.fixture
def dave_device() -> TOTPDevice:
    return TOTPDevice.objects.create(user=make_user("dave", role="admin"), confirmed=True)


def test_a_user_with_an_authenticator_is_refused_without_its_code(dave_device):
    client = Client()

    assert _login(client, "dave").status_code == 200  # the form again, with its error
    assert not _logged_in(client)


def test_a_user_with_an_authenticator_is_refused_with_a_wrong_code(dave_device):
    client = Client()
    wrong = "000000" if _code(dave_device) != "000000" else "111111"

    _login(client, "dave", otp_token=wrong)

    assert not _logged_in(client)
    assert AuditEntry.objects.filter(action="login_failed", actor="dave").exists()


def test_a_user_with_an_authenticator_logs_in_with_its_code(dave_device):
    client = Client()

    assert _login(client, "dave", otp_token=_code(dave_device)).status_code == 302
    assert _logged_in(client)


def test_required_two_factor_confines_an_admin_to_enrolment_until_a_code_is_confirmed(settings):
    settings.REQUIRE_2FA = True
    make_user("erin", role="admin")
    client = Client()
    _login(client, "erin")

    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/account/2fa/")
    assert client.get("/api/status").status_code == 403
    client.get("/account/2fa/")  # shows the key of a new, unconfirmed authenticator
    device = TOTPDevice.objects.get(user__username="erin", confirmed=False)

    client.post("/account/2fa/", {"otp_token": _code(device)})

    device.refresh_from_db()
    assert device.confirmed
    assert _logged_in(client)


def test_required_two_factor_leaves_viewers_alone(settings):
    settings.REQUIRE_2FA = True
    make_user("fay", role="viewer")
    client = Client()
    _login(client, "fay")

    assert _logged_in(client)


@pytest.mark.parametrize("password", ["short-pw-1", "12345678901234", "password1234"])
def test_weak_passwords_are_refused(password):
    with pytest.raises(ValidationError):
        validate_password(password)


def test_a_twelve_character_password_is_accepted():
    validate_password("grid-bot-key-42")


def test_ensure_admin_refuses_a_weak_admin_password_and_its_generated_one_is_valid(monkeypatch):
    monkeypatch.setenv("ADMIN_PASSWORD", "short1")
    with pytest.raises(CommandError, match="ADMIN_PASSWORD"):
        call_command("ensure_admin", stdout=io.StringIO())
    monkeypatch.delenv("ADMIN_PASSWORD")
    monkeypatch.setattr("sys.stdin", io.StringIO())
    out = io.StringIO()

    call_command("ensure_admin", stdout=out)

    validate_password(out.getvalue().split("generated password is: ")[1].split()[0])


def test_every_request_pushes_the_idle_timeout_on(settings):
    settings.SESSION_COOKIE_AGE = 12 * 3600
    make_user("gus", role="viewer")
    client = Client()
    _login(client, "gus")
    Session.objects.update(expire_date=timezone.now() + timedelta(minutes=1))

    assert _logged_in(client)

    expiry = Session.objects.get().expire_date
    assert expiry > timezone.now() + timedelta(hours=11)


def test_an_idle_session_has_ended():
    make_user("hal", role="viewer")
    client = Client()
    _login(client, "hal")
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))

    assert not _logged_in(client)


def test_log_out_everywhere_ends_every_session_of_the_user():
    make_user("ivy", role="viewer")
    laptop, phone = Client(), Client()
    _login(laptop, "ivy")
    _login(phone, "ivy")
    make_user("other", role="viewer")
    other = Client()
    _login(other, "other")

    laptop.post("/account/logout-everywhere/")

    assert not _logged_in(laptop)
    assert not _logged_in(phone)
    assert _logged_in(other)
    assert AuditEntry.objects.filter(action="logout_everywhere", actor="ivy").exists()
