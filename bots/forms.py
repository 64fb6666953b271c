"""Admin forms. Private keys are write-only: never rendered back, "leave blank to keep"."""

from __future__ import annotations

from typing import Any

from django import forms
from django.views.decorators.debug import sensitive_variables

from bots import exports, selectors, validators
from bots.models import ExchangeAccount, KeyMode
from lighterweb import keyring

# Form fields that carry a secret (kept out of error reports by the admin views).
SECRET_POST_FIELDS = ("api_private_key", "eth_private_key", "unlock_passphrase")
# Where the key signs: moving an account there must not carry the stored key along unasked.
ENDPOINT_FIELDS = ("network", "base_url_override", "chain_id_override")
# What says which account on the exchange this is: its bots' runners trade it as it was.
IDENTITY_FIELDS = (*ENDPOINT_FIELDS, "l1_address", "account_index", "api_key_index")
MIN_PASSPHRASE_CHARS = 12

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
    key_mode = forms.ChoiceField(
        label="Key mode",
        choices=KeyMode.choices,
        required=False,
        help_text="Where the API key can be decrypted from; changing it needs the key again.",
    )
    unlock_passphrase = forms.CharField(
        label="Unlock passphrase",
        required=False,
        strip=False,
        widget=SecretInput(),
        help_text=(
            "Only for the 'remember, locked' mode: with a new API key, the passphrase that will "
            f"unlock it after each restart (at least {MIN_PASSPHRASE_CHARS} characters). Never "
            "stored: a forgotten passphrase means entering the key again."
        ),
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
            "key_mode",
        ]
        labels = {"chain_id_override": "Chain ID override", "api_key_index": "API key index"}

    def clean_key_mode(self) -> str:
        # Not sent (an older form, a script): the account keeps its mode.
        return str(self.cleaned_data.get("key_mode") or self.instance.key_mode)

    @sensitive_variables()
    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        account = self.instance
        key = cleaned.get("api_private_key", "")
        passphrase = cleaned.get("unlock_passphrase", "")
        mode = cleaned.get("key_mode") or KeyMode.REMEMBER
        if account.pk is not None:
            self._bots_check(account)
            moved = [name for name in ENDPOINT_FIELDS if name in self.changed_data]
            stored = bool(account.api_private_key_encrypted) or keyring.holds(account.pk)
            if mode != account.key_mode:
                moved.append("key_mode")
            if stored and not key and moved:
                what = ", ".join(moved)
                self.add_error(
                    "api_private_key",
                    f"Enter the API key again to change {what}: a stored key never follows the "
                    "account to another address or key mode unasked.",
                )
            eth_kept = not cleaned.get("eth_private_key") and not cleaned.get(
                "clear_eth_private_key"
            )
            if set(moved) & set(ENDPOINT_FIELDS) and account.has_eth_private_key and eth_kept:
                self.add_error(
                    "eth_private_key", "Enter the ETH key again (or remove it) to change this."
                )
        if mode == KeyMode.LOCKED and key and len(passphrase) < MIN_PASSPHRASE_CHARS:
            self.add_error(
                "unlock_passphrase",
                f"A locked key needs an unlock passphrase of {MIN_PASSPHRASE_CHARS}+ characters.",
            )
        if passphrase and mode != KeyMode.LOCKED:
            self.add_error("unlock_passphrase", "Only the 'remember, locked' mode uses one.")
        return cleaned

    def _bots_check(self, account: ExchangeAccount) -> None:
        """An account whose bots run keeps its identity (their runners trade it as it was, and
        their orders would be left on the old one); one with bots keeps its network (their
        markets are that network's)."""
        moved = [name for name in IDENTITY_FIELDS if name in self.changed_data]
        if not moved:
            return
        labels = [str(self.fields[name].label or name) for name in moved if name in self.fields]
        bots = list(selectors.account_bots(account))
        running = [str(bot) for bot in bots if selectors.bot_not_stopped(bot)]
        if running:
            self.add_error(
                None,
                f"Stop {', '.join(running)} before changing {', '.join(labels)}: their runners "
                "trade this account as it is, and their orders would stay on the old one.",
            )
        elif "network" in moved and bots:
            self.add_error(
                "network",
                f"{', '.join(str(bot) for bot in bots)} trade markets of {account.network}: "
                "delete them, or add another account for the other network.",
            )

    @sensitive_variables()
    def save(self, commit: bool = True) -> ExchangeAccount:
        account: ExchangeAccount = super().save(commit=False)
        # Blank means "keep": an admin editing the name must not wipe the key.
        if self.cleaned_data.get("api_private_key"):
            account.set_api_private_key(
                self.cleaned_data["api_private_key"],
                passphrase=self.cleaned_data.get("unlock_passphrase", ""),
            )
        if self.cleaned_data.get("eth_private_key"):
            account.set_eth_private_key(self.cleaned_data["eth_private_key"])
        elif self.cleaned_data.get("clear_eth_private_key"):
            account.set_eth_private_key("")
        if commit:
            account.save()
            self.save_m2m()
        return account


class ExportForm(forms.Form):
    """What the admin's CSV export writes: one kind of row over an optional UTC date range."""

    kind = forms.ChoiceField(choices=[(k, k.capitalize()) for k in ("fills", "orders", "events")])
    since = forms.DateTimeField(
        required=False,
        help_text="Inclusive, in the site's time zone (YYYY-MM-DD or YYYY-MM-DD HH:MM:SS).",
    )
    until = forms.DateTimeField(required=False, help_text="Exclusive; empty: up to now.")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in ("since", "until"):
            data[name] = exports.aware(data.get(name))
        since, until = data.get("since"), data.get("until")
        if since is not None and until is not None and until <= since:
            self.add_error("until", "The end of the range must be after its start.")
        return data
