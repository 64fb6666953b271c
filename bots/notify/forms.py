"""Admin form of a notification channel: write-only secrets, alert kinds as checkboxes."""

from __future__ import annotations

from typing import Any

from django import forms

from bots.forms import KEEP_HELP, SecretInput
from bots.models import AlertKind, ChannelKind, NotificationChannel


class NotificationChannelAdminForm(forms.ModelForm):  # type: ignore[type-arg]
    """NotificationChannel fields plus write-only inputs for the bot token and HMAC secret."""

    alert_kinds = forms.MultipleChoiceField(
        choices=AlertKind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Which alerts this channel receives.",
    )
    webhook_url = forms.URLField(
        label="Webhook URL",
        required=False,
        assume_scheme="https",
        max_length=500,
        help_text="Receives each alert as a JSON POST.",
    )
    telegram_bot_token = forms.CharField(
        label="Telegram bot token",
        required=False,
        strip=True,
        widget=SecretInput(),
        help_text=f"From @BotFather. {KEEP_HELP}",
    )
    webhook_secret = forms.CharField(
        label="Webhook HMAC secret (optional)",
        required=False,
        strip=True,
        widget=SecretInput(),
        help_text=f"Signs each request (X-LighterWeb-Signature). {KEEP_HELP}",
    )
    clear_webhook_secret = forms.BooleanField(
        label="Remove the stored webhook secret (send unsigned)", required=False
    )

    class Meta:
        model = NotificationChannel
        fields = [
            "name",
            "kind",
            "enabled",
            "telegram_chat_id",
            "telegram_commands",
            "webhook_url",
            "email_to",
            "alert_kinds",
            "min_level",
            "bots",
            "quiet_hours_start",
            "quiet_hours_end",
            "time_zone",
            "summary_hour",
        ]

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        has_token = self.instance.has_telegram_bot_token or data.get("telegram_bot_token")
        if data.get("kind") == ChannelKind.TELEGRAM and not has_token:
            self.add_error("telegram_bot_token", "A Telegram channel needs its bot token.")
        return data

    def save(self, commit: bool = True) -> NotificationChannel:
        channel: NotificationChannel = super().save(commit=False)
        # Blank means "keep": renaming a channel must not wipe its secrets.
        if self.cleaned_data.get("telegram_bot_token"):
            channel.set_telegram_bot_token(self.cleaned_data["telegram_bot_token"])
        if self.cleaned_data.get("webhook_secret"):
            channel.set_webhook_secret(self.cleaned_data["webhook_secret"])
        elif self.cleaned_data.get("clear_webhook_secret"):
            channel.set_webhook_secret("")
        if commit:
            channel.save()
            self.save_m2m()
        return channel
