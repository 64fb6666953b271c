"""A hedge leg's stream reports as strategy events (no I/O): fills once per trade, order ends
held until the fills their report counts were told (docs/hedge.md, "Ordering the strategy
relies on")."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from bots.engine.reports import status_of
from bots.strategies.grid import Side
from bots.strategies.orders import is_active
from bots.strategies.protocol import Filled, Leg, OrderEnded
from exchange.types import FillInfo, OrderInfo


@dataclass
class LegOrders:
    """Our orders on one leg: what the strategy was told of each, and ends held back."""

    leg: Leg
    market_id: int
    # Client index -> base told to the strategy as filled.
    told: dict[int, Decimal] = field(default_factory=dict)
    # Ends whose order report counts more filled than the fills told so far.
    held_ends: dict[int, OrderInfo] = field(default_factory=dict)
    trades: set[int] = field(default_factory=set)
    # Client index -> filled size its order report shows beyond the fills told so far: an
    # order reported filled before its fill reports is still working for the strategy.
    unfilled_told: dict[int, Decimal] = field(default_factory=dict)

    def track(self, index: int) -> None:
        """An order of ours was sent (or is about to be) under this client index."""
        self.told.setdefault(index, Decimal(0))

    def is_ours(self, index: int) -> bool:
        """Whether the client index is one of our orders on this leg."""
        return index in self.told

    def told_fill(self, index: int, size_base: Decimal) -> None:
        """A fill of ours was told to the strategy by another path (A's intake)."""
        self.told[index] = self.told.get(index, Decimal(0)) + size_base
        self._caught_up(index)

    def awaiting_fills(self) -> set[int]:
        """Our orders whose report shows more filled than the fills told so far."""
        return set(self.unfilled_told)

    def fills_given_up(self, index: int) -> None:
        """Stop awaiting the fills of this order (lost with a socket: the positions tell)."""
        self.unfilled_told.pop(index, None)

    def _caught_up(self, index: int) -> None:
        reported = self.unfilled_told.get(index)
        if reported is not None and self.told.get(index, Decimal(0)) >= reported:
            del self.unfilled_told[index]

    def fills(self, infos: Iterable[FillInfo]) -> list[tuple[Filled, FillInfo]]:
        """Fills of our orders on this market not told yet, oldest first."""
        told: list[tuple[Filled, FillInfo]] = []
        for info in sorted(infos, key=lambda f: (f.timestamp_ms, f.trade_id)):
            index = info.client_order_index
            if info.market_id != self.market_id or index not in self.told:
                continue
            if info.trade_id in self.trades:
                continue
            self.trades.add(info.trade_id)
            self.told[index] += info.size
            self._caught_up(index)
            side = Side(str(info.side))
            told.append((Filled(self.leg, side, info.size, None, index, info.price), info))
        return told

    def ends(self, infos: Iterable[OrderInfo]) -> list[OrderEnded]:
        """Our orders that left the book without filling in full; an end whose report counts
        more filled than was told waits for those fills (`released`)."""
        ended: list[OrderEnded] = []
        for info in infos:
            index = info.client_order_index
            if info.market_id != self.market_id or index not in self.told:
                continue
            if info.filled_size > self.told[index]:
                self.unfilled_told[index] = info.filled_size
            if is_active(status_of(info)) or info.filled_size >= info.initial_size:
                continue
            if info.filled_size > self.told[index]:
                self.held_ends[index] = info
                continue
            ended.append(OrderEnded(self.leg, index, info.status))
        return ended

    def released(self) -> list[OrderEnded]:
        """Held ends whose fills have all been told now."""
        due = [i for i, info in self.held_ends.items() if info.filled_size <= self.told[i]]
        return [OrderEnded(self.leg, i, self.held_ends.pop(i).status) for i in due]
