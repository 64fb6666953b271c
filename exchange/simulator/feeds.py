"""Engine events and book diffs -> websocket ``update/...`` frames.

The engine reports orders, trades, positions, balances and txs as events; the order book is
diffed here every tick (Lighter sends only changed levels every 50 ms, with nonce continuity:
``begin_nonce`` of an update equals ``nonce`` of the previous frame the client saw).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from exchange.simulator import payloads, serialize
from exchange.simulator.engine import Engine
from exchange.simulator.types import (
    BalanceChanged,
    Event,
    FundingApplied,
    Order,
    OrderChanged,
    PositionChanged,
    PriceChanged,
    Trade,
    TradeExecuted,
    TxExecuted,
)
from exchange.simulator.ws import WsHub, reply_channel

logger = logging.getLogger(__name__)


@dataclass
class BookState:
    """What subscribers of one market's book last saw."""

    asks: dict[int, int] = field(default_factory=dict)
    bids: dict[int, int] = field(default_factory=dict)
    nonce: int = 0
    last_updated_at_us: int = 0


def _diff(old: dict[int, int], new: dict[int, int]) -> list[tuple[int, int]]:
    changed = [(p, s) for p, s in new.items() if old.get(p) != s]
    changed += [(p, 0) for p in old if p not in new]
    return changed


class Feeds:
    """Owns the per-market book states, sequence numbers and the event fan-out."""

    def __init__(
        self,
        engine: Engine,
        hub: WsHub,
        *,
        is_stale: Callable[[int], bool] = lambda market_id: False,
        offset: int = 1,
    ) -> None:
        self.engine = engine
        self.hub = hub
        self.offset = offset
        self.is_stale = is_stale
        self.books: dict[int, BookState] = {}
        self._dirty_stats: set[int] = set()
        self._seq = 0
        self._pending: list[Coroutine[Any, Any, None]] = []

    def next_nonce(self) -> int:
        """A server-wide increasing sequence number for frames that carry ``nonce``."""
        self._seq += 1
        return self._seq

    # -- order book -------------------------------------------------------------------------

    def _levels(self, market_id: int) -> tuple[dict[int, int], dict[int, int]]:
        asks, bids = self.engine.book_levels(market_id, None)
        return dict(asks), dict(bids)

    def book_snapshot(self, market_id: int) -> dict[str, Any]:
        """``subscribed/order_book`` payload; flushes pending changes to existing listeners
        first so the new subscriber's snapshot nonce is the next update's ``begin_nonce``."""
        spec = payloads.market(self.engine, market_id)
        assert spec is not None
        self._flush_book(market_id, schedule=True)
        state = self.books.setdefault(market_id, BookState())
        if not state.asks and not state.bids and state.nonce == 0:
            state.asks, state.bids = self._levels(market_id)
        asks = sorted(state.asks.items())
        bids = sorted(state.bids.items(), reverse=True)
        book = {
            "code": 0,
            "asks": payloads.levels_json(spec, asks),
            "bids": payloads.levels_json(spec, bids),
            "offset": self.offset,
            "nonce": state.nonce,
            "last_updated_at": state.last_updated_at_us,
            "begin_nonce": 0,
        }
        return {
            "last_updated_at": state.last_updated_at_us,
            "offset": self.offset,
            "order_book": book,
        }

    def _flush_book(self, market_id: int, *, schedule: bool) -> asyncio.Task[None] | None:
        channel = reply_channel("order_book", [str(market_id)])
        state = self.books.get(market_id)
        if state is None or self.is_stale(market_id):
            return None
        asks, bids = self._levels(market_id)
        ask_changes, bid_changes = _diff(state.asks, asks), _diff(state.bids, bids)
        if not ask_changes and not bid_changes:
            return None
        spec = payloads.market(self.engine, market_id)
        assert spec is not None
        begin = state.nonce
        state.asks, state.bids = asks, bids
        state.nonce = self.next_nonce()
        state.last_updated_at_us = self.engine.now_ms * 1000
        recipients = set(self.hub.listeners(channel))
        if not recipients:
            return None
        book = {
            "code": 0,
            "asks": payloads.levels_json(spec, sorted(ask_changes)),
            "bids": payloads.levels_json(spec, sorted(bid_changes, reverse=True)),
            "offset": self.offset,
            "nonce": state.nonce,
            "last_updated_at": state.last_updated_at_us,
            "begin_nonce": begin,
        }
        payload = {
            "last_updated_at": state.last_updated_at_us,
            "offset": self.offset,
            "order_book": book,
        }
        # Recipients are fixed now, before any await, so a session that subscribes meanwhile
        # never receives a delta older than its snapshot.
        coro = self.hub.publish_to(recipients, "order_book", [str(market_id)], payload)
        if schedule:
            return asyncio.get_running_loop().create_task(coro)
        self._pending.append(coro)
        return None

    async def tick(self) -> None:
        """One 50 ms tick: book deltas, ticker and throttled market stats."""
        for spec in payloads.markets(self.engine):
            market_id = spec.market_id
            before = self._best(market_id)
            self._flush_book(market_id, schedule=False)
            if self._best(market_id) != before:
                self._dirty_stats.add(market_id)
        pending, self._pending = self._pending, []
        for coro in pending:
            await coro
        await self._publish_stats()

    def _best(self, market_id: int) -> tuple[Any, ...]:
        state = self.books.get(market_id)
        if state is None:
            return ()
        return (min(state.asks.items(), default=None), max(state.bids.items(), default=None))

    # -- market stats, ticker ---------------------------------------------------------------

    def market_stats_snapshot(self, target: str) -> dict[str, Any]:
        """``market_stats`` payload for one market id or ``all``."""
        if target == "all":
            return {
                "market_stats": {
                    str(spec.market_id): self._stats(spec.market_id)
                    for spec in payloads.markets(self.engine)
                }
            }
        return {"market_stats": self._stats(int(target))}

    def _stats(self, market_id: int) -> dict[str, Any]:
        spec = payloads.market(self.engine, market_id)
        assert spec is not None
        return serialize.market_stats_json(spec, payloads.stats_values(self.engine, spec))

    def ticker_snapshot(self, market_id: int) -> dict[str, Any]:
        """``ticker`` payload: best ask and bid."""
        spec = payloads.market(self.engine, market_id)
        assert spec is not None
        asks, bids = self.engine.book_levels(market_id, 1)
        empty = {"price": "", "size": ""}
        ask = payloads.levels_json(spec, asks[:1])
        bid = payloads.levels_json(spec, bids[:1])
        now_us = self.engine.now_ms * 1000
        return {
            "last_updated_at": now_us,
            "nonce": self._seq,
            "ticker": {
                "s": spec.symbol,
                "a": ask[0] if ask else empty,
                "b": bid[0] if bid else empty,
                "last_updated_at": now_us,
            },
        }

    async def _publish_stats(self) -> None:
        dirty, self._dirty_stats = self._dirty_stats, set()
        for market_id in sorted(dirty):
            key = str(market_id)
            if self.hub.has_listeners(reply_channel("market_stats", [key])):
                await self.hub.publish("market_stats", [key], self.market_stats_snapshot(key))
            if self.hub.has_listeners(reply_channel("ticker", [key])):
                await self.hub.publish("ticker", [key], self.ticker_snapshot(market_id))
        if dirty and self.hub.has_listeners("market_stats:all"):
            stats = {str(m): self._stats(m) for m in sorted(dirty)}
            await self.hub.publish("market_stats", ["all"], {"market_stats": stats})

    # -- engine events ----------------------------------------------------------------------

    async def dispatch(self, events: Iterable[Event]) -> None:
        """Turn one batch of engine events into channel updates (coalesced per account)."""
        trades_by_account: dict[int, list[Trade]] = {}
        touched: set[int] = set()
        balance: set[int] = set()
        # (account, market) -> (changed orders, new trades) for account_market.
        per_market: dict[tuple[int, int], tuple[list[Order], list[Trade]]] = {}
        for event in events:
            if isinstance(event, OrderChanged):
                await self._order_changed(event)
                key = (event.account_index, event.order.market_id)
                per_market.setdefault(key, ([], []))[0].append(event.order)
            elif isinstance(event, TradeExecuted):
                trade = event.trade
                self._dirty_stats.add(trade.market_id)
                await self._public_trade(trade)
                await self._candles(trade.market_id)
                for account in {trade.ask_account_id, trade.bid_account_id}:
                    trades_by_account.setdefault(account, []).append(trade)
                    touched.add(account)
                    per_market.setdefault((account, trade.market_id), ([], []))[1].append(trade)
            elif isinstance(event, PositionChanged):
                touched.add(event.account_index)
                per_market.setdefault((event.account_index, event.market_id), ([], []))
            elif isinstance(event, BalanceChanged):
                balance.add(event.account_index)
                touched.add(event.account_index)
            elif isinstance(event, TxExecuted):
                await self._tx_executed(event)
            elif isinstance(event, PriceChanged | FundingApplied):
                self._dirty_stats.add(event.market_id)
        for account_index in sorted(touched):
            await self._account_updates(
                account_index, trades_by_account.get(account_index, []), account_index in balance
            )
        for (account_index, market_id), (orders, trades) in sorted(per_market.items()):
            args = [str(market_id), str(account_index)]
            if not self.hub.has_listeners(reply_channel("account_market", args)):
                continue
            owner = payloads.find_account(self.engine, account_index)
            if owner is not None:
                payload = payloads.account_market(
                    self.engine, owner, market_id, orders=orders, trades=trades
                )
                await self.hub.publish("account_market", args, payload)

    async def _order_changed(self, event: OrderChanged) -> None:
        account = str(event.account_index)
        market = str(event.order.market_id)
        grouped = payloads.orders_by_market(self.engine, [event.order])
        if self.hub.has_listeners(reply_channel("account_all_orders", [account])):
            await self.hub.publish("account_all_orders", [account], {"orders": grouped})
        if self.hub.has_listeners(reply_channel("account_orders", [market, account])):
            payload = {"account": event.account_index, "nonce": self.next_nonce()}
            await self.hub.publish(
                "account_orders", [market, account], {**payload, "orders": grouped}
            )

    async def _public_trade(self, trade: Trade) -> None:
        market = str(trade.market_id)
        if self.hub.has_listeners(reply_channel("trade", [market])):
            payload = {
                "liquidation_trades": [],
                "nonce": self.next_nonce(),
                "trades": [payloads.trade_json(self.engine, trade)],
            }
            await self.hub.publish("trade", [market], payload)

    def candle_snapshot(self, market_id: int, resolution: str) -> dict[str, Any]:
        """``candle`` payload: the current bucket of ``resolution`` (empty without trades)."""
        spec = payloads.market(self.engine, market_id)
        assert spec is not None
        step = payloads.CANDLE_RESOLUTIONS_MS[resolution]
        now = self.engine.now_ms
        candles = self.engine.candles(market_id, resolution, now - now % step, now + 1, 1)
        return {"candles": [payloads.candle_json(spec, c) for c in candles]}

    async def _candles(self, market_id: int) -> None:
        for resolution in payloads.CANDLE_RESOLUTIONS_MS:
            args = [str(market_id), resolution]
            if self.hub.has_listeners(reply_channel("candle", args)):
                await self.hub.publish("candle", args, self.candle_snapshot(market_id, resolution))

    async def _tx_executed(self, event: TxExecuted) -> None:
        tx = event.tx
        account = str(tx.account_index)
        if self.hub.has_listeners(reply_channel("account_tx", [account])):
            await self.hub.publish(
                "account_tx", [account], {"txs": [serialize.tx_json(tx, tx.l1_address)]}
            )
        if self.hub.has_listeners("height"):
            await self.hub.publish("height", [], {"height": tx.block_height})

    async def _account_updates(
        self, account_index: int, trades: list[Trade], balance_changed: bool
    ) -> None:
        key = str(account_index)
        account = payloads.find_account(self.engine, account_index)
        if account is None:
            return
        if self.hub.has_listeners(reply_channel("account_all", [key])):
            await self.hub.publish(
                "account_all", [key], self.account_all(account_index, trades=trades)
            )
        if trades and self.hub.has_listeners(reply_channel("account_all_trades", [key])):
            await self.hub.publish(
                "account_all_trades",
                [key],
                {"trades": payloads.trades_by_market(self.engine, trades)},
            )
        if self.hub.has_listeners(reply_channel("account_all_positions", [key])):
            await self.hub.publish(
                "account_all_positions", [key], self.account_all_positions(account_index)
            )
        if self.hub.has_listeners(reply_channel("user_stats", [key])):
            await self.hub.publish(
                "user_stats", [key], {"stats": payloads.user_stats(self.engine, account)}
            )
        if balance_changed and self.hub.has_listeners(reply_channel("account_all_assets", [key])):
            await self.hub.publish(
                "account_all_assets", [key], {"assets": payloads.assets(self.engine, account)}
            )

    def account_all(self, account_index: int, *, trades: list[Trade] | None) -> dict[str, Any]:
        """``account_all`` payload; the snapshot's trades are history, updates carry new ones."""
        account = self.engine.account(account_index)
        if trades is None:
            trades, _ = self.engine.trades(account_index=account_index, limit=50)
        counts = payloads.account_volume(self.engine, account_index)
        return {
            "account": account_index,
            **counts,
            "funding_histories": payloads.funding_histories(self.engine, account_index),
            "positions": payloads.positions_by_market(self.engine, account),
            "shares": [],
            "trades": payloads.trades_by_market(self.engine, trades),
            "assets": payloads.assets(self.engine, account),
        }

    def account_all_positions(self, account_index: int) -> dict[str, Any]:
        """``account_all_positions`` payload."""
        account = self.engine.account(account_index)
        return {
            "positions": payloads.positions_by_market(self.engine, account),
            "shares": [],
            "last_funding_round": None,
            "last_funding_discount": None,
        }
