"""Who owns a position (design.md "Ownership"), as pure arithmetic.

Per (account, market): the exchange's position is the sum of the positions of the bots that
trade there (each the sum of its own fills and adoptions) plus an explicit *unattributed*
remainder (manual trades, a liquidation, positions nobody adopted). Everything that shows or
checks the remainder computes it here, so the dashboard, the API and the runner agree.

No Django, no I/O: sizes in base units, positive long, negative short.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

_ZERO = Decimal(0)


class Choice(StrEnum):
    """The operator's answer when a bot starts where a position is not its own."""

    ADOPT = "adopt"  # the bot takes it over: its caps and PnL count it from now on
    LEAVE = "leave"  # it stays unattributed (or with the stopped bot that holds it)


def unattributed(exchange_base: Decimal, bot_positions: Iterable[Decimal]) -> Decimal:
    """The part of the exchange's position that no bot owns."""
    return exchange_base - sum(bot_positions, _ZERO)


@dataclass(frozen=True)
class MarketOwnership:
    """One (account, market): the exchange's position, each bot's own one, and the remainder."""

    exchange_base: Decimal
    bots: tuple[tuple[int, Decimal], ...]
    unattributed: Decimal

    @property
    def balanced(self) -> bool:
        """Always true by construction: exchange = sum of the bots + unattributed."""
        return self.exchange_base == sum((p for _, p in self.bots), _ZERO) + self.unattributed


def market_ownership(
    exchange_base: Decimal, bot_positions: Mapping[int, Decimal]
) -> MarketOwnership:
    """Split the exchange's position of one (account, market) by owner."""
    bots = tuple(sorted(bot_positions.items()))
    return MarketOwnership(exchange_base, bots, unattributed(exchange_base, bot_positions.values()))


def not_yours(exchange_base: Decimal, own_base: Decimal, live_others: Iterable[Decimal]) -> Decimal:
    """What a starting bot must adopt or leave: the exchange's position minus its own and minus
    what bots that still run there own (the unattributed remainder plus stopped bots' positions)."""
    return exchange_base - own_base - sum(live_others, _ZERO)


@dataclass
class RemainderWatch:
    """Every reconcile's check: the unattributed remainder may change only by an operator's
    choice, never by itself. A change seen once may be a fill in flight between the exchange's
    position and our fills (the caller looks again soon); seen twice in a row it is a venue that
    changed under the bots: a manual trade, a liquidation, a reset venue."""

    symbol: str
    baseline: Decimal | None = None
    suspect: str | None = None

    def observe(self, exchange_base: Decimal, bot_positions: Iterable[Decimal]) -> str | None:
        """Check one reading; the problem when it is the second unexplained one in a row, or
        None (a first one only sets `suspect`)."""
        positions = list(bot_positions)
        now = unattributed(exchange_base, positions)
        if self.baseline is None or now == self.baseline:
            self.baseline, self.suspect = now, None
            return None
        owned = sum(positions, _ZERO)
        problem = (
            f"position {exchange_base} {self.symbol} where the bots' fills make {owned} and "
            f"{self.baseline} is unattributed (unexplained {now - self.baseline})"
        )
        if self.suspect is not None:
            return f"{self.suspect}, then {problem}"
        self.suspect = problem
        return None

    def accept(self, exchange_base: Decimal, bot_positions: Iterable[Decimal]) -> None:
        """Take this reading as the baseline (startup, after the operator's choice)."""
        self.baseline = unattributed(exchange_base, bot_positions)
        self.suspect = None
