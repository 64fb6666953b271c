"""The mutable state of the simulated exchange, shared by the pure engine modules.

`ExchangeState` holds accounts, books, live and past orders, counters and the events of the
current `advance()`. It never reads a clock or global randomness: `now_ms` is set by the engine
and the only random source is the engine's seeded `random.Random`.
"""

from __future__ import annotations

import random
from collections import defaultdict
from decimal import Decimal

from exchange.simulator.book import OrderBook
from exchange.simulator.config import SimConfig
from exchange.simulator.constants import CLIENT_INDEX_LIMIT
from exchange.simulator.history import History
from exchange.simulator.types import (
    Account,
    BalanceChanged,
    Event,
    MarketSpec,
    Order,
    OrderChanged,
    Position,
    PositionChanged,
)


class ExchangeState:
    """Everything the engine mutates. Modules receive it explicitly; nothing is global."""

    def __init__(self, config: SimConfig, *, now_ms: int) -> None:
        self.config = config
        self.now_ms = now_ms
        self.rng = random.Random(config.seed)
        self.markets: dict[int, MarketSpec] = {m.market_id: m for m in config.markets}
        self.books: dict[int, OrderBook] = {m: OrderBook(m) for m in self.markets}
        self.accounts: dict[int, Account] = {}
        self.live_orders: dict[int, Order] = {}
        self.account_live: dict[int, dict[int, Order]] = defaultdict(dict)
        self.live_by_client: dict[tuple[int, int], Order] = {}
        self.last_by_client: dict[tuple[int, int], Order] = {}
        self.all_orders: dict[int, Order] = {}
        self.inactive: dict[int, list[Order]] = defaultdict(list)
        self.conditional: dict[int, dict[int, Order]] = {m: {} for m in self.markets}
        self.expiries: list[tuple[int, int]] = []
        self.scheduled_cancel_alls: list[tuple[int, int]] = []
        self.twaps: list[tuple[int, int]] = []
        self.tied: dict[int, set[int]] = defaultdict(set)
        # Insertion-ordered sets (dict keys) so flushed events keep a deterministic order.
        self._dirty_positions: dict[tuple[int, int], None] = {}
        self._dirty_balances: dict[int, None] = {}
        self.reference: dict[int, int] = {
            m.market_id: m.units.price_ticks(m.initial_price, is_ask=False) for m in config.markets
        }
        self.history = History(self.markets)
        self.treasury = Decimal(0)
        self.premium_samples: dict[int, list[Decimal]] = {m: [] for m in self.markets}
        self.events: list[Event] = []
        self.block_height = 1
        self.tx_hash = ""
        self._order_seq = 0
        self._trade_id = 0

    # -- counters -------------------------------------------------------------------------

    def next_order_index(self) -> int:
        """Exchange order indexes start at 2**48 so they never collide with client indexes."""
        self._order_seq += 1
        return CLIENT_INDEX_LIMIT + self._order_seq

    def next_account_index(self) -> int:
        """One above the highest user account index (system accounts live far above)."""
        user = [i for i, a in self.accounts.items() if not a.is_system]
        return max(user, default=0) + 1

    def next_trade_id(self) -> int:
        """Monotonic trade id."""
        self._trade_id += 1
        return self._trade_id

    def transaction_time_us(self) -> int:
        """Lighter's µs transaction_time for something happening now."""
        return self.now_ms * 1000

    # -- lookups --------------------------------------------------------------------------

    def market(self, market_id: int) -> MarketSpec:
        """The market spec (callers validated the id)."""
        return self.markets[market_id]

    def mark_price(self, market_id: int) -> int:
        """Mark price in ticks: the reference (index) price path value."""
        return self.reference[market_id]

    def position(self, account: Account, market_id: int) -> Position:
        """The account's position row in a market, created flat on first touch."""
        pos = account.positions.get(market_id)
        if pos is None:
            spec = self.markets[market_id]
            pos = Position(
                market_id=market_id,
                initial_margin_fraction=account.leverage.get(market_id, spec.default_imf),
                margin_mode=account.margin_modes.get(market_id, 0),
            )
            account.positions[market_id] = pos
        return pos

    # -- order lifecycle bookkeeping ------------------------------------------------------

    def track_live(self, order: Order) -> None:
        """Register a newly live order in the lookup tables."""
        self.live_orders[order.order_index] = order
        self.account_live[order.owner_account_index][order.order_index] = order
        self.all_orders[order.order_index] = order
        if order.position_tied:
            self.tied[order.owner_account_index].add(order.order_index)
        if order.client_order_index:
            key = (order.owner_account_index, order.client_order_index)
            self.live_by_client[key] = order
            self.last_by_client[key] = order

    def finish(self, order: Order, status: str) -> None:
        """Move an order to a terminal status, off the book and out of the live tables."""
        was_live = order.order_index in self.live_orders
        if order.status == "open":
            self.books[order.market_id].remove(order)
        self.conditional[order.market_id].pop(order.order_index, None)
        order.status = status
        order.updated_at = self.now_ms
        order.transaction_time = self.transaction_time_us()
        order.block_height = self.block_height
        system = self.accounts[order.owner_account_index].is_system
        if system:
            # The liquidity agent churns orders every step; keep no history of them.
            self.all_orders.pop(order.order_index, None)
        if was_live:
            del self.live_orders[order.order_index]
            if order.position_tied:
                self.tied[order.owner_account_index].discard(order.order_index)
            self.account_live[order.owner_account_index].pop(order.order_index, None)
            if order.client_order_index:
                key = (order.owner_account_index, order.client_order_index)
                if self.live_by_client.get(key) is order:
                    del self.live_by_client[key]
                self.last_by_client[key] = order
        if not system:
            self.inactive[order.owner_account_index].append(order)
            # A finished order never changes again, so the event can carry it without a copy.
            self.events.append(OrderChanged(order.owner_account_index, order))
        if was_live and (order.to_trigger_order_id_0 or order.to_trigger_order_id_1):
            self._cancel_children(order)

    def children(self, parent: Order) -> list[Order]:
        """Live OTO/OTOCO children waiting on `parent` (lighter-api.md §3.7)."""
        out = []
        for child_index in (parent.to_trigger_order_id_0, parent.to_trigger_order_id_1):
            child = self.live_orders.get(child_index) if child_index else None
            if child is not None and child.parent_order_index == parent.order_index:
                out.append(child)
        return out

    def _cancel_children(self, parent: Order) -> None:
        """A parent that ends without any fill takes its waiting children with it.

        Here rather than in `links` because `finish` needs it and `links` builds on the state.
        """
        if parent.filled_base_amount:
            return
        for child in self.children(parent):
            if child.trigger_status == "parent-order":
                self.finish(child, "canceled-child")

    # -- events ---------------------------------------------------------------------------

    def emit_order(self, order: Order) -> None:
        """Record an OrderChanged event with a snapshot of `order`."""
        if self.accounts[order.owner_account_index].is_system:
            return
        self.events.append(OrderChanged(order.owner_account_index, order.snapshot()))

    def emit_position(self, account: Account, market_id: int) -> None:
        """Note that a position changed; one PositionChanged per position is emitted at flush."""
        if not account.is_system:
            self._dirty_positions[(account.index, market_id)] = None

    def emit_balance(self, account: Account) -> None:
        """Note that a balance changed; one BalanceChanged per account is emitted at flush."""
        if not account.is_system:
            self._dirty_balances[account.index] = None

    def touch(self, account: Account, market_id: int) -> None:
        """emit_position + emit_balance in one call (the per-fill hot path)."""
        if not account.is_system:
            self._dirty_positions[(account.index, market_id)] = None
            self._dirty_balances[account.index] = None

    def flush(self) -> None:
        """Emit the coalesced position and balance events of the step that just ran.

        Why coalesced: a taker sweeping many levels changes its position once per fill, but
        clients want one account update per transaction.
        """
        for account_index, market_id in self._dirty_positions:
            self.events.append(PositionChanged(account_index, market_id))
        for account_index in self._dirty_balances:
            self.events.append(BalanceChanged(account_index))
        self._dirty_positions.clear()
        self._dirty_balances.clear()
