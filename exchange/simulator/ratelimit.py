"""Request budget per L1 address (or IP when unauthenticated), rolling 60 s, like Lighter's.

Standard tier: 60 requests per minute, unweighted, transactions included. Premium tier: a weight
budget per minute (24,000 by default) with Lighter's endpoint weights.

Who pays (lighter-api.md §1.2, §6.3: "authenticating requests makes only L1 limits apply"): a
transaction, signed by an account's key, and a read carrying a valid auth token are charged to
that account's L1 address; any other read is charged to the client's IP, whatever account it
names (`read_account`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from exchange.simulator.auth import AuthError, AuthToken, check_token

WINDOW_MS = 60_000

# Lighter's published weights; everything not listed weighs DEFAULT_WEIGHT.
ENDPOINT_WEIGHTS: dict[str, int] = {
    "sendTx": 6,
    "sendTxBatch": 6,
    "nextNonce": 6,
    "accountInactiveOrders": 100,
    "apikeys": 150,
    "trades": 600,
    "recentTrades": 600,
}
DEFAULT_WEIGHT = 300


def read_account(
    token: str | None,
    *,
    now_ms: int,
    key_exists: Callable[[int, int], bool],
    signature_ok: Callable[[str, AuthToken], bool] | None = None,
) -> int | None:
    """The account whose L1 address pays for a read: the one a valid auth token names, else
    None (the IP pays; an account named in the query string does not make a read its own)."""
    if not token:
        return None
    try:
        parsed = check_token(
            token,
            account_index=None,
            now_ms=now_ms,
            key_exists=key_exists,
            signature_ok=signature_ok,
        )
    except AuthError:
        return None
    return parsed.account_index


def endpoint_weight(endpoint: str) -> int:
    """Weight of one call to ``endpoint`` (the last path segment, e.g. ``sendTx``)."""
    return ENDPOINT_WEIGHTS.get(endpoint, DEFAULT_WEIGHT)


@dataclass
class RequestBudget:
    """Sliding-window budget. ``enabled=False`` lets everything through (tests' default)."""

    enabled: bool = True
    standard_per_minute: int = 60
    premium_weight_per_minute: int = 24_000
    _spent: dict[str, deque[tuple[int, int]]] = field(default_factory=dict)

    def charge(self, key: str, *, tier: str, endpoint: str, now_ms: int) -> bool:
        """Spend budget for one request; False (and nothing spent) when it would exceed it."""
        if not self.enabled:
            return True
        if tier == "premium":
            cost, limit = endpoint_weight(endpoint), self.premium_weight_per_minute
        else:
            cost, limit = 1, self.standard_per_minute
        window = self._spent.setdefault(key, deque())
        while window and window[0][0] <= now_ms - WINDOW_MS:
            window.popleft()
        used = sum(weight for _, weight in window)
        if used + cost > limit:
            return False
        window.append((now_ms, cost))
        return True

    def reset(self) -> None:
        """Forget all spending (tests, ``/sim/ratelimit``)."""
        self._spent.clear()

    def state(self) -> dict[str, object]:
        """JSON-ready settings for ``/sim/ratelimit``."""
        return {
            "enabled": self.enabled,
            "standard_per_minute": self.standard_per_minute,
            "premium_weight_per_minute": self.premium_weight_per_minute,
        }
