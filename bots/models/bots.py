"""What every bot kind shares: the operator's desired state and the engine-owned run state.

`Bot` is the parent of `GridBot` and `HedgeBot` (multi-table inheritance): a grid and a hedge
bot are both a `Bot` row with the same id, so orders, fills, funding payments and events point to
`Bot` whatever the kind, and the engine (leases, fences, heartbeat, controls) reads and writes
only these common columns.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.db.models import Q

from bots.models.accounts import ExchangeAccount, Market


class MarginMode(models.TextChoices):
    CROSS = "cross", "Cross"
    ISOLATED = "isolated", "Isolated"


class DesiredState(models.TextChoices):
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    STOPPED = "stopped", "Stopped"


class BotStatus(models.TextChoices):
    STOPPED = "stopped", "Stopped"
    STARTING = "starting", "Starting"
    RUNNING = "running", "Running"
    # Running through transient exchange failures (5xx, 429, network, a reconnect): retried
    # with bounded backoff, the reason in status_message; back to running by itself.
    DEGRADED = "degraded", "Degraded"
    PAUSED = "paused", "Paused"
    STOPPING = "stopping", "Stopping"
    ERROR = "error", "Error"
    # Waiting for an operator to unlock the account's key (bots.engine.locked); nothing is sent.
    LOCKED = "locked", "Locked (waiting for unlock)"


class Bot(models.Model):
    """A bot of any kind: its name, its first leg and the state the engine runs it by.

    `account` is the account of the bot's first leg (a grid's only account, a hedge bot's maker
    account A); a hedge bot's second account lives on `HedgeBot`.
    """

    # The kind's fields an operator may change while the bot runs: its runner applies them
    # (read with the desired state). Every other field is fixed for a run.
    LIVE_SETTINGS: ClassVar[tuple[str, ...]] = ()
    # Why the kind does not pause (None: it does); the services refuse a pause with it and the
    # engine runs the kind without pause and cancel-all (`EngineOptions.pausable`).
    NO_PAUSE: ClassVar[str | None] = None

    name = models.CharField(max_length=100)
    account = models.ForeignKey(ExchangeAccount, on_delete=models.PROTECT, related_name="bots")
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="bots")
    desired_state = models.CharField(
        max_length=8, choices=DesiredState.choices, default=DesiredState.STOPPED, editable=False
    )
    status = models.CharField(
        max_length=8, choices=BotStatus.choices, default=BotStatus.STOPPED, editable=False
    )
    status_message = models.TextField(blank=True, default="", editable=False)
    # Set by the "Cancel all" action; the runner clears it once the exchange confirms.
    cancel_all_requested_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Engine-owned run state: the fence of the current lease holder (runner writes are
    # conditional on it), liveness and crash history.
    lease_fence = models.BigIntegerField(default=0, editable=False)
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    crash_count = models.PositiveIntegerField(default=0, editable=False)
    last_crash_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    stopped_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            # A paused bot still owns its resting orders, so it counts as active. This covers a
            # grid and a hedge bot's maker leg on the same account and market; a hedge bot's
            # taker leg is checked by `bots.validators.active_leg_errors` (another table).
            models.UniqueConstraint(
                fields=["account", "market"],
                condition=~Q(desired_state="stopped"),
                name="one_active_bot_per_account_market",
                violation_error_message="A bot is already active on this account and market.",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def pausable(cls) -> bool:
        """Whether the kind pauses (keeps its resting orders and places nothing new)."""
        return cls.NO_PAUSE is None

    @property
    def kind(self) -> str:
        """`grid` or `hedge` (one query when the child row is not loaded yet)."""
        if type(self).__name__ != "Bot":
            return type(self).__name__.removesuffix("Bot").lower()
        return "hedge" if hasattr(self, "hedgebot") else "grid"
