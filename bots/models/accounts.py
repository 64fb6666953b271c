"""Exchange accounts (with their encrypted keys) and the markets of each network."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import F
from django.views.decorators.debug import sensitive_variables

from bots import validators
from bots.models.fields import money_field
from exchange.budget import budget_name
from lighterweb import keyring
from lighterweb.crypto import (
    SecretDecryptionError,
    decrypt_secret,
    encrypt_secret,
    lock_secret,
    new_salt,
    unlock_secret,
)

if TYPE_CHECKING:
    from exchange.client import LighterClient


class Network(models.TextChoices):
    MAINNET = "mainnet", "Mainnet"
    TESTNET = "testnet", "Testnet"
    PAPER = "paper", "Paper (local simulator)"


# (REST base URL, chain id); `paper` reads settings.LIGHTER_PAPER_URL at call time.
NETWORK_ENDPOINTS: dict[str, tuple[str, int]] = {
    Network.MAINNET: ("https://mainnet.zklighter.elliot.ai", 304),
    Network.TESTNET: ("https://testnet.zklighter.elliot.ai", 300),
}
PAPER_CHAIN_ID = 304


class KeyMode(models.TextChoices):
    """Where an account's API key can be decrypted from (README "Key modes")."""

    REMEMBER = "remember", "Remember (encrypted with the server's key; bots restart by themselves)"
    LOCKED = "locked", "Remember, locked (also needs an unlock passphrase after each restart)"
    SESSION = "session", "Don't remember (kept in memory only; enter it again after a restart)"


LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def validate_base_url(url: str) -> None:
    """Exchange URLs carry signed auth tokens: https only, except to this machine (loopback)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    loopback = host in LOOPBACK_HOSTS or host.startswith("127.")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ValidationError(
            "The base URL must use https:// (plain http:// only to this machine, e.g. the local "
            "simulator at http://127.0.0.1:8089).",
            code="insecure_base_url",
        )


class Tier(models.TextChoices):
    STANDARD = "standard", "Standard (60 requests/min)"
    PREMIUM = "premium", "Premium"


class ExchangeAccount(models.Model):
    """One Lighter account (sub-account) and the API key the bots sign with."""

    name = models.CharField(max_length=100, unique=True)
    network = models.CharField(max_length=10, choices=Network.choices, default=Network.PAPER)
    base_url_override = models.URLField(
        blank=True,
        validators=[validate_base_url],
        help_text="Leave blank to use the network's standard REST address.",
    )
    chain_id_override = models.PositiveIntegerField(
        null=True, blank=True, help_text="Leave blank to use the network's chain id."
    )
    l1_address = models.CharField(
        "L1 address", max_length=42, blank=True, validators=[validators.validate_l1_address]
    )
    account_index = models.BigIntegerField(
        null=True, blank=True, help_text="Type it, or use the action 'Look up from L1 address'."
    )
    api_key_index = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text=f"0 to {validators.MAX_API_KEY_INDEX}."
    )
    key_mode = models.CharField(
        max_length=10,
        choices=KeyMode.choices,
        default=KeyMode.REMEMBER,
        help_text="Where the API key can be decrypted from (changing it needs the key).",
    )
    # Salt of the passphrase derivation (KeyMode.LOCKED); not a secret.
    key_salt = models.CharField(max_length=64, blank=True, default="", editable=False)
    api_private_key_encrypted = models.TextField(blank=True, default="", editable=False)
    eth_private_key_encrypted = models.TextField(blank=True, default="", editable=False)
    tier = models.CharField(max_length=10, choices=Tier.choices, default=Tier.STANDARD)
    # Design decision 3: client order indexes come from this counter, never from the clock.
    next_client_order_index = models.BigIntegerField(default=1, editable=False)
    last_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, default="", editable=False)
    last_check_summary = models.JSONField(default=dict, blank=True, editable=False)
    # None means "the network's default": on for mainnet, off for paper and testnet.
    dead_mans_switch = models.BooleanField(
        null=True,
        blank=True,
        help_text="Keep Lighter's scheduled cancel-all armed while a bot runs "
        "(blank: on for mainnet, off otherwise).",
    )
    dead_mans_switch_armed_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [("unlock_account", "Can unlock an account's passphrase-protected key")]

    def __str__(self) -> str:
        return f"{self.name} ({self.network})"

    def __repr__(self) -> str:
        return f"<ExchangeAccount {self.pk} {self.name!r} {self.network}>"

    @property
    def dead_mans_switch_enabled(self) -> bool:
        """Whether the dead-man's switch applies: the explicit choice, else on for mainnet only."""
        if self.dead_mans_switch is not None:
            return self.dead_mans_switch
        return self.network == Network.MAINNET

    def clean(self) -> None:
        if self.api_key_index is not None and self.api_key_index > validators.MAX_API_KEY_INDEX:
            raise ValidationError(
                {"api_key_index": f"API key index must be at most {validators.MAX_API_KEY_INDEX}."}
            )

    # -- endpoints: the one place that maps a network to addresses --------------------------

    @property
    def base_url(self) -> str:
        """REST base URL: the override, else the network's standard address."""
        if self.base_url_override:
            return self.base_url_override.rstrip("/")
        if self.network == Network.PAPER:
            return str(settings.LIGHTER_PAPER_URL).rstrip("/")
        return NETWORK_ENDPOINTS[self.network][0]

    @property
    def ws_url(self) -> str:
        """Websocket stream URL derived from the REST base URL (same host, /stream)."""
        base = self.base_url
        scheme, _, rest = base.partition("://")
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/stream"

    @property
    def chain_id(self) -> int:
        """Chain id the signer uses: the override, else the network's."""
        if self.chain_id_override is not None:
            return self.chain_id_override
        if self.network == Network.PAPER:
            return PAPER_CHAIN_ID
        return NETWORK_ENDPOINTS[self.network][1]

    # -- secrets: write-only from the outside, decrypted only right before use ---------------

    @sensitive_variables()
    def set_api_private_key(self, plaintext: str, *, passphrase: str = "") -> None:
        """Validate and store the API private key as the key mode says; "" clears it.

        Remember: encrypted with the server's field key. Locked: also under the passphrase (a
        new salt each time). Don't remember: nothing stored; the caller keeps it in memory
        (`keep_unlocked` once the row has an id).
        """
        if plaintext:
            validators.validate_api_private_key(plaintext)
        if self.key_mode == KeyMode.LOCKED and plaintext:
            if not passphrase:
                raise ValidationError({"unlock_passphrase": "A locked key needs a passphrase."})
            self.key_salt = new_salt()
            self.api_private_key_encrypted = lock_secret(plaintext, passphrase, self.key_salt)
        elif self.key_mode == KeyMode.SESSION:
            self.key_salt = ""
            self.api_private_key_encrypted = ""
        else:
            self.key_salt = ""
            self.api_private_key_encrypted = encrypt_secret(plaintext)

    @sensitive_variables()
    def decrypt_api_private_key(self) -> str:
        """The API private key in plaintext, for the exchange client only ("" when unset).

        A locked or don't-remember account answers only in a process that holds its unlocked
        key (lighterweb.keyring); elsewhere it raises SecretDecryptionError, which the exchange
        actions report as a failure.
        """
        if self.key_mode == KeyMode.REMEMBER:
            return decrypt_secret(self.api_private_key_encrypted)
        unlocked = keyring.get(self.pk) if self.pk else None
        if unlocked is None:
            raise SecretDecryptionError(f"the API key of {self.name} is locked: unlock it first")
        return unlocked

    @sensitive_variables()
    def unlock(self, passphrase: str) -> None:
        """Decrypt a locked key with its passphrase into this process's memory.

        Raises WrongPassphrase (lighterweb.crypto) when it does not open the key.
        """
        plaintext = unlock_secret(self.api_private_key_encrypted, passphrase, self.key_salt)
        keyring.keep(self.pk, plaintext)

    @sensitive_variables()
    def keep_unlocked(self, plaintext: str) -> None:
        """Hold a just-entered key in this process's memory (locked / don't-remember modes)."""
        if self.key_mode != KeyMode.REMEMBER and plaintext:
            keyring.keep(self.pk, plaintext)

    @property
    def is_locked(self) -> bool:
        """Whether this process cannot sign for the account until someone unlocks it."""
        return self.key_mode != KeyMode.REMEMBER and not keyring.holds(self.pk)

    @sensitive_variables()
    def set_eth_private_key(self, plaintext: str) -> None:
        """Validate and store (encrypted) the optional ETH private key; "" clears it."""
        if plaintext:
            validators.validate_eth_private_key(plaintext)
        self.eth_private_key_encrypted = encrypt_secret(plaintext)

    @sensitive_variables()
    def decrypt_eth_private_key(self) -> str:
        """The ETH private key in plaintext ("" when unset)."""
        return decrypt_secret(self.eth_private_key_encrypted)

    @property
    def has_api_private_key(self) -> bool:
        if self.key_mode == KeyMode.SESSION:
            return keyring.holds(self.pk)
        return bool(self.api_private_key_encrypted)

    @property
    def has_eth_private_key(self) -> bool:
        return bool(self.eth_private_key_encrypted)

    @property
    def budget_key(self) -> str:
        """The name of the shared request budget this account's client spends."""
        return budget_name(self.l1_address or None, self.account_index)

    def client(self, *, signing: bool = True) -> LighterClient:
        """The one way to build the account's exchange client (a new one per call: the signer
        must not cross a fork, design decision 7). `signing=False` for public reads only."""
        # Imported here: the exchange client pulls in the SDK, which web pages never need.
        from exchange.client import LighterClient

        return LighterClient(
            self.base_url,
            chain_id=self.chain_id,
            ws_url=self.ws_url,
            account_index=self.account_index if signing else None,
            api_key_index=self.api_key_index if signing else None,
            api_private_key=self.decrypt_api_private_key() if signing else None,
            l1_address=self.l1_address or None,
            redis_url=settings.REDIS_URL,
            tier="premium" if self.tier == "premium" else "standard",
            # Unsigned clients (the recorder, market syncs, chart reads) spend the account's own
            # budget too: without an L1 address it is named by the account's index, which an
            # unsigned client does not carry.
            budget_key=self.budget_key,
        )

    def allocate_client_order_indexes(self, count: int = 1) -> range:
        """Reserve `count` consecutive client order indexes for this account.

        The increment is one UPDATE inside a transaction; the row stays locked until commit, so
        concurrent callers (bots sharing the account, several processes) get disjoint ranges.
        """
        if count < 1:
            raise ValueError("count must be positive")
        with transaction.atomic():
            type(self).objects.filter(pk=self.pk).update(
                next_client_order_index=F("next_client_order_index") + count
            )
            end = (
                type(self)
                .objects.filter(pk=self.pk)
                .values_list("next_client_order_index", flat=True)
                .get()
            )
        self.next_client_order_index = end
        return range(end - count, end)


class Market(models.Model):
    """A perpetual market as the exchange describes it; filled by the "Sync markets" action.

    Unique per (network, market_id): every account on one network sees the same market list.
    """

    network = models.CharField(max_length=10, choices=Network.choices, editable=False)
    market_id = models.PositiveIntegerField(editable=False)
    symbol = models.CharField(max_length=32, editable=False)
    size_decimals = models.PositiveSmallIntegerField(editable=False)
    price_decimals = models.PositiveSmallIntegerField(editable=False)
    min_base_amount = money_field(editable=False)
    min_quote_amount = money_field(editable=False)
    max_leverage = models.DecimalField(max_digits=8, decimal_places=2, null=True, editable=False)
    last_price = money_field(null=True, blank=True, editable=False)
    synced_at = models.DateTimeField(null=True, editable=False)

    class Meta:
        ordering = ["network", "symbol"]
        constraints = [
            models.UniqueConstraint(fields=["network", "market_id"], name="market_unique_per_net")
        ]

    def __str__(self) -> str:
        return f"{self.symbol} ({self.network})"
