"""Snapshots (``subscribed/<kind>`` payloads) of every websocket channel the simulator serves."""

from __future__ import annotations

from typing import Any

from exchange.simulator import payloads, serialize
from exchange.simulator.engine import Engine
from exchange.simulator.feeds import Feeds
from exchange.simulator.types import Account, SimError
from exchange.simulator.ws import ChannelError


class ChannelSnapshots:
    """Builds the first frame of a subscription from the engine's current state."""

    def __init__(self, engine: Engine, feeds: Feeds) -> None:
        self.engine = engine
        self.feeds = feeds

    def _account(self, account_index: int) -> Account:
        account = payloads.find_account(self.engine, account_index)
        if account is None:
            raise ChannelError(30005, "Invalid Channel")
        return account

    def snapshot(self, kind: str, args: list[str]) -> dict[str, Any]:
        """``subscribed/<kind>`` payload for a channel; ChannelError when it does not exist."""
        try:
            return self._snapshot(kind, args)
        except (ValueError, IndexError, SimError) as exc:
            raise ChannelError(30005, "Invalid Channel") from exc

    def _snapshot(self, kind: str, args: list[str]) -> dict[str, Any]:
        if kind in ("order_book", "ticker", "trade", "candle"):
            spec = payloads.market(self.engine, int(args[0]))
            if spec is None:
                raise ChannelError(30005, "Invalid Channel")
            if kind == "order_book":
                return self.feeds.book_snapshot(spec.market_id)
            if kind == "ticker":
                return self.feeds.ticker_snapshot(spec.market_id)
            if kind == "trade":
                trades = self.engine.recent_trades(spec.market_id, 50)
                return {
                    "liquidation_trades": [],
                    "nonce": self.feeds.next_nonce(),
                    "trades": [payloads.trade_json(self.engine, t) for t in trades],
                }
            if args[1] not in payloads.CANDLE_RESOLUTIONS_MS:
                raise ChannelError(30005, "Invalid Channel")
            return self.feeds.candle_snapshot(spec.market_id, args[1])
        if kind == "market_stats":
            if args[0] != "all" and payloads.market(self.engine, int(args[0])) is None:
                raise ChannelError(30005, "Invalid Channel")
            return self.feeds.market_stats_snapshot(args[0])
        if kind == "height":
            return {"height": self.engine.state.block_height}
        return self._account_snapshot(kind, args)

    def _account_snapshot(self, kind: str, args: list[str]) -> dict[str, Any]:
        account = self._account(int(args[-1]))
        index = account.index
        if kind == "account_all":
            return self.feeds.account_all(index, trades=None)
        if kind == "account_all_orders":
            orders = self.engine.active_orders(index, None)
            return {"orders": payloads.orders_by_market(self.engine, orders)}
        if kind == "account_orders":
            market_id = int(args[0])
            orders = self.engine.active_orders(index, market_id)
            grouped = payloads.orders_by_market(self.engine, orders)
            return {"account": index, "nonce": self.feeds.next_nonce(), "orders": grouped}
        if kind == "account_market":
            market_id = int(args[0])
            if payloads.market(self.engine, market_id) is None:
                raise ChannelError(30005, "Invalid Channel")
            return payloads.account_market(self.engine, account, market_id)
        if kind == "account_tx":
            txs = self.engine.account_txs(index, 50)
            return {"txs": [serialize.tx_json(tx, tx.l1_address) for tx in txs]}
        if kind == "user_stats":
            return {"stats": payloads.user_stats(self.engine, account)}
        if kind == "account_all_assets":
            return {"assets": payloads.assets(self.engine, account)}
        if kind == "account_all_positions":
            return self.feeds.account_all_positions(index)
        if kind == "account_all_trades":
            trades, _ = self.engine.trades(account_index=index, limit=50)
            volume = payloads.account_volume(self.engine, index)
            return {
                "trades": payloads.trades_by_market(self.engine, trades),
                "total_volume": volume["total_volume"],
                "monthly_volume": volume["monthly_volume"],
                "weekly_volume": volume["weekly_volume"],
                "daily_volume": volume["daily_volume"],
            }
        raise ChannelError(30005, "Invalid Channel")
