"""What the route tables need from the server, as narrow protocols (the server implements them).

`rest`, `rest_accounts` and `admin_api` are handed the server as one of these instead of
importing `SimServer`: the server imports the route tables, never the reverse, so the simulator
has no import cycle and each table states exactly what it touches.
"""

from __future__ import annotations

from typing import Any, Protocol

from exchange.simulator.clock import SimClock
from exchange.simulator.engine import Engine
from exchange.simulator.faults import FaultInjector
from exchange.simulator.ratelimit import RequestBudget
from exchange.simulator.types import Account


class MarketVenue(Protocol):
    """Public market data: the engine (read at call time: a reset replaces it) and the clock."""

    @property
    def engine(self) -> Engine:
        """The current engine."""

    @property
    def clock(self) -> SimClock:
        """Simulated time."""


class AccountVenue(MarketVenue, Protocol):
    """Accounts and transactions: auth, account lookup and the sequencer's front door."""

    def check_auth(self, token: str | None, account_index: int) -> None:
        """Raise AuthError unless ``token`` is valid for ``account_index`` now."""

    def account_or_error(self, account_index: int) -> Account:
        """The account, or SimError 21100 like Lighter."""

    async def accept_tx(
        self, tx_type: int, tx_info: dict[str, Any], *, peer: str, price_protection: bool = True
    ) -> dict[str, Any]:
        """Validate and queue one tx; returns Lighter's RespSendTx body."""

    async def accept_batch(
        self, tx_types: list[int], tx_infos: list[dict[str, Any]], *, peer: str
    ) -> dict[str, Any]:
        """Validate and queue a batch (all or nothing); returns RespSendTxBatch."""


class AdminVenue(MarketVenue, Protocol):
    """The ``/sim/`` controls: faults, budget, websockets, time and the saved state."""

    @property
    def faults(self) -> FaultInjector:
        """Injected failures."""

    @property
    def budget(self) -> RequestBudget:
        """The request budget."""

    def websocket_sessions(self) -> int:
        """Open websocket connections."""

    async def drop_websockets(self, reason: str) -> int:
        """Close every websocket now; returns how many were open."""

    async def pump(self) -> None:
        """Advance the engine to now and publish what happened."""

    def state_changed(self) -> None:
        """The venue changed outside a tx (the state file must be written again)."""

    async def reset_state(self) -> None:
        """Start the venue over from its config, ids never reused."""
