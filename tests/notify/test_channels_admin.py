"""Channels in the admin: write-only secrets, per-kind validation, "Send test", failure state;
secrets encrypted at rest and rotated with the exchange keys."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from bots.models import NotificationChannel
from lighterweb.crypto import generate_key
from tests.notify.conftest import TELEGRAM_TOKEN, make_channel

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "hmac-secret-for-tests"


def _form(**overrides):
    data = {
        "name": "ops hook",
        "kind": "webhook",
        "enabled": "on",
        "webhook_url": "https://hooks.example.com/x",
        "alert_kinds": ["bot_error", "fills"],
        "min_level": "info",
        "time_zone": "UTC",
        "summary_hour": "8",
        "telegram_commands": "on",
    }
    data.update(overrides)
    return data


def test_adding_a_webhook_channel_stores_the_secret_encrypted_and_never_shows_it(admin_client):
    response = admin_client.post(
        reverse("admin:bots_notificationchannel_add"), _form(webhook_secret=SECRET)
    )

    assert response.status_code == 302
    channel = NotificationChannel.objects.get(name="ops hook")
    assert channel.alert_kinds == ["bot_error", "fills"]
    assert SECRET not in channel.webhook_secret_encrypted
    assert channel.decrypt_webhook_secret() == SECRET
    page = admin_client.get(reverse("admin:bots_notificationchannel_change", args=[channel.pk]))
    assert SECRET not in page.content.decode()
    assert "HMAC secret set" in page.content.decode()


def test_saving_with_the_secret_left_blank_keeps_it(admin_client):
    channel = make_channel("webhook", webhook_url="https://hooks.example.com/x", secret=SECRET)

    admin_client.post(
        reverse("admin:bots_notificationchannel_change", args=[channel.pk]),
        _form(name=channel.name, webhook_secret=""),
    )

    channel.refresh_from_db()
    assert channel.decrypt_webhook_secret() == SECRET


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"kind": "telegram", "telegram_chat_id": "1"},
            "telegram_bot_token",
            "needs its bot token",
        ),
        (
            {"kind": "telegram", "telegram_bot_token": "1:x"},
            "telegram_chat_id",
            "needs the chat id",
        ),
        ({"webhook_url": ""}, "webhook_url", "needs its URL"),
        ({"kind": "email"}, "email_to", "needs an address"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "Unknown time zone"),
        ({"quiet_hours_start": "22:00"}, "quiet_hours_end", "both ends"),
        ({"summary_hour": "24"}, "summary_hour", "less than or equal to 23"),
    ],
)
def test_bad_channels_get_a_field_error(admin_client, overrides, field, message):
    response = admin_client.post(reverse("admin:bots_notificationchannel_add"), _form(**overrides))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors[field])
    assert not NotificationChannel.objects.exists()


def test_send_test_action_reaches_the_webhook_and_reports_success(
    admin_client, notify_env, webhook
):
    channel = make_channel("webhook", webhook_url=webhook.url)

    response = admin_client.post(
        reverse("admin:bots_notificationchannel_changelist"),
        {"action": "send_test", "_selected_action": [channel.pk]},
        follow=True,
    )

    assert "test message sent" in response.content.decode()
    assert [r.json()["kind"] for r in webhook.requests] == ["test"]


def test_send_test_to_a_dead_endpoint_reports_and_marks_the_failure(admin_client, notify_env):
    channel = make_channel("webhook", webhook_url="http://127.0.0.1:9/unreachable")

    response = admin_client.post(
        reverse("admin:bots_notificationchannel_changelist"),
        {"action": "send_test", "_selected_action": [channel.pk]},
        follow=True,
    )

    assert "webhook unreachable" in response.content.decode()
    listing = admin_client.get(
        reverse("admin:bots_notificationchannel_changelist")
    ).content.decode()
    assert "failing (1 in a row)" in listing
    assert "/unreachable" not in listing  # only the host: webhook paths may hold secrets


def test_telegram_link_admin_renders(admin_client):
    assert admin_client.get(reverse("admin:bots_telegramlink_add")).status_code == 200


def test_rotate_field_keys_reencrypts_channel_secrets(settings):
    old, new = generate_key(), generate_key()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    channel = make_channel("telegram", token=TELEGRAM_TOKEN, telegram_chat_id="5")
    settings.FIELD_ENCRYPTION_KEYS = [new, old]

    out = io.StringIO()
    call_command("rotate_field_keys", stdout=out)
    settings.FIELD_ENCRYPTION_KEYS = [new]

    assert "1 notification channel(s)" in out.getvalue()
    assert (
        NotificationChannel.objects.get(pk=channel.pk).decrypt_telegram_bot_token()
        == TELEGRAM_TOKEN
    )


@pytest.mark.parametrize(
    ("role", "allowed"), [("admin", True), ("operator", False), ("viewer", False)]
)
def test_the_admin_role_manages_channels_and_links_and_no_one_else_sees_them(client, role, allowed):
    # A team's *admin* (not a superuser) got 403 on every alert page: only superusers could say
    # where alerts go. Channels hold bot tokens and webhook secrets (write-only, never shown) and
    # links say who commands the bots from Telegram: the admin role's, nobody else's.
    from tests.lighterweb.factories import make_user

    client.force_login(make_user(f"{role}-user", role=role))
    pages = [
        reverse("admin:bots_notificationchannel_changelist"),
        reverse("admin:bots_notificationchannel_add"),
        reverse("admin:bots_telegramlink_changelist"),
        reverse("admin:bots_telegramlink_add"),
    ]
    assert {client.get(page).status_code for page in pages} == ({200} if allowed else {403})
    response = client.post(
        reverse("admin:bots_notificationchannel_add"), _form(webhook_secret=SECRET)
    )
    assert response.status_code == (302 if allowed else 403)
    assert NotificationChannel.objects.filter(name="ops hook").exists() == allowed
