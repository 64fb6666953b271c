"""Trade, funding and candle history of the simulated exchange (pure reads over stored rows)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal

from exchange.simulator.types import Candle, FundingRecord, MarketSpec, PositionFunding, Trade

RESOLUTION_MS: dict[str, int] = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "1w": 604_800_000,
}
DAY_MS = 86_400_000


class History:
    """Append-only trades (per market and per account), fundings and position fundings."""

    def __init__(self, markets: dict[int, MarketSpec]) -> None:
        self.markets = markets
        self.trades: list[Trade] = []
        self.by_market: dict[int, list[Trade]] = {m: [] for m in markets}
        # Trade timestamps per market, kept alongside by_market for bisecting time ranges.
        self.stamps: dict[int, list[int]] = {m: [] for m in markets}
        self.by_account: dict[int, list[Trade]] = defaultdict(list)
        self.fundings: dict[int, list[FundingRecord]] = {m: [] for m in markets}
        self.position_fundings: dict[int, list[PositionFunding]] = defaultdict(list)

    def add_trade(self, trade: Trade) -> None:
        """Store a trade under its market and both accounts."""
        self.trades.append(trade)
        self.by_market[trade.market_id].append(trade)
        self.stamps[trade.market_id].append(trade.timestamp)
        self.by_account[trade.ask_account_id].append(trade)
        if trade.bid_account_id != trade.ask_account_id:
            self.by_account[trade.bid_account_id].append(trade)

    def recent_trades(self, market_id: int, limit: int) -> list[Trade]:
        """Newest first, at most `limit`."""
        rows = self.by_market.get(market_id, [])
        return rows[-limit:][::-1] if limit > 0 else []

    def query_trades(
        self,
        *,
        market_id: int | None,
        account_index: int | None,
        order_index: int | None,
        limit: int,
        cursor: int | None,
        descending: bool,
    ) -> tuple[list[Trade], int | None]:
        """Filtered trades paged by trade id; returns (rows, next cursor or None)."""
        if account_index is not None:
            rows = self.by_account.get(account_index, [])
        elif market_id is not None:
            rows = self.by_market.get(market_id, [])
        else:
            rows = self.trades
        seq = reversed(rows) if descending else iter(rows)
        out: list[Trade] = []
        for trade in seq:
            if cursor is not None and (
                trade.trade_id >= cursor if descending else trade.trade_id <= cursor
            ):
                continue
            if market_id is not None and trade.market_id != market_id:
                continue
            if order_index is not None and order_index not in (trade.ask_id, trade.bid_id):
                continue
            out.append(trade)
            if len(out) > limit:
                break
        if len(out) > limit:
            return out[:limit], out[limit - 1].trade_id
        return out, None

    def candles(
        self, market_id: int, resolution: str, start_ms: int, end_ms: int, count_back: int
    ) -> list[Candle]:
        """OHLCV buckets of `resolution` from trades in [start_ms, end_ms], oldest first.

        Buckets without trades are omitted; at most the last `count_back` are returned.
        """
        step = RESOLUTION_MS[resolution]
        rows = self.by_market.get(market_id, [])
        stamps = self.stamps.get(market_id, [])
        lo = bisect_left(stamps, start_ms - start_ms % step)
        hi = bisect_right(stamps, end_ms)
        spec = self.markets[market_id]
        units = spec.units
        out: list[Candle] = []
        bucket: list[Trade] = []
        for trade in rows[lo:hi]:
            if bucket and trade.timestamp // step != bucket[0].timestamp // step:
                out.append(_candle(bucket, step, units.size))
                bucket = []
            bucket.append(trade)
        if bucket:
            out.append(_candle(bucket, step, units.size))
        return out[-count_back:] if count_back > 0 else out

    def daily(self, market_id: int, now_ms: int) -> list[Trade]:
        """Trades of the last 24 hours."""
        rows = self.by_market.get(market_id, [])
        stamps = self.stamps.get(market_id, [])
        return rows[bisect_left(stamps, now_ms - DAY_MS) :]

    def query_fundings(
        self, market_id: int, start_s: int, end_s: int, count_back: int
    ) -> list[FundingRecord]:
        """Hourly funding records in [start_s, end_s], oldest first, last `count_back`."""
        rows = [r for r in self.fundings.get(market_id, []) if start_s <= r.timestamp_s <= end_s]
        return rows[-count_back:] if count_back > 0 else rows

    def query_position_fundings(
        self,
        account_index: int,
        *,
        market_id: int | None = None,
        side: str = "all",
        limit: int = 100,
        cursor: int | None = None,
    ) -> tuple[list[PositionFunding], int | None]:
        """The account's funding payments, newest first, paged by funding id."""
        out: list[PositionFunding] = []
        for row in reversed(self.position_fundings.get(account_index, [])):
            if cursor is not None and row.funding_id >= cursor:
                continue
            if market_id is not None and row.market_id != market_id:
                continue
            if side != "all" and row.position_side != side:
                continue
            out.append(row)
            if len(out) > limit:
                return out[:limit], out[limit - 1].funding_id
        return out, None


def _candle(bucket: list[Trade], step: int, to_size: Callable[[int], Decimal]) -> Candle:
    prices = [t.price for t in bucket]
    lots = sum(t.size for t in bucket)
    quote = sum((t.usd_amount for t in bucket), Decimal(0))
    return Candle(
        t=bucket[0].timestamp - bucket[0].timestamp % step,
        o=prices[0],
        h=max(prices),
        l=min(prices),
        c=prices[-1],
        v=to_size(lots),
        quote_volume=quote,
        last_trade_id=bucket[-1].trade_id,
    )
