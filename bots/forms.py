"""Admin forms. Private keys are write-only: never rendered back, "leave blank to keep"."""

from __future__ import annotations

from typing import Any

from django import forms
from django.views.decorators.debug import sensitive_variables

from bots import validators
from bots.models import ExchangeAccount

# Form fields that carry a secret (kept out of error reports by the admin views).
SECRET_POST_FIELDS = ("api_private_key", "eth_private_key")

KEEP_HELP = (
    "Write-only: stored encrypted and never shown again. Leave blank to keep the current one."
)


class SecretInput(forms.PasswordInput):
    """A password input that never renders a value, whatever the form holds."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(
            attrs={"autocomplete": "new-password", **(attrs or {})}, render_value=False
        )


class ExchangeAccountAdminForm(forms.ModelForm):  # type: ignore[type-arg]
    """ExchangeAccount fields plus write-only inputs for the two private keys."""

    base_url_override = forms.URLField(
        label="Base URL override",
        required=False,
        assume_scheme="https",
        help_text="Leave blank to use the network's standard REST address.",
    )
    api_private_key = forms.CharField(
        label="API private key",
        required=False,
        strip=True,
        widget=SecretInput(),
        validators=[validators.validate_api_private_key],
        help_text=KEEP_HELP,
    )
    eth_private_key = forms.CharField(
        label="ETH private key (optional)",
        required=False,
        strip=True,
        widget=SecretInput(),
        validators=[validators.validate_eth_private_key],
        help_text=KEEP_HELP,
    )
    clear_eth_private_key = forms.BooleanField(
        label="Remove the stored ETH private key", required=False
    )

    class Meta:
        model = ExchangeAccount
        fields = [
            "name",
            "network",
            "base_url_override",
            "chain_id_override",
            "l1_address",
            "account_index",
            "api_key_index",
            "tier",
        ]

    @sensitive_variables()
    def save(self, commit: bool = True) -> ExchangeAccount:
        account: ExchangeAccount = super().save(commit=False)
        # Blank means "keep": an admin editing the name must not wipe the key.
        if self.cleaned_data.get("api_private_key"):
            account.set_api_private_key(self.cleaned_data["api_private_key"])
        if self.cleaned_data.get("eth_private_key"):
            account.set_eth_private_key(self.cleaned_data["eth_private_key"])
        elif self.cleaned_data.get("clear_eth_private_key"):
            account.set_eth_private_key("")
        if commit:
            account.save()
            self.save_m2m()
        return account
