"""Read side of the Lighter client: markets, prices, account, orders, fills, funding (no SDK).

`ReadApi` needs only the transport (which carries the budget and, for private endpoints, the
auth token) and the account index; `exchange.client.LighterClient` builds it. Every method
returns typed values.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from exchange import parse
from exchange.errors import ExchangeError, RejectedError
from exchange.http import RestTransport
from exchange.tickets import Ticket
from exchange.types import (
    AccountInfo,
    ApiKeyInfo,
    BookTop,
    Candle,
    FillInfo,
    FundingPayment,
    FundingRate,
    LiquidityRole,
    MarketInfo,
    OrderBook,
    OrderInfo,
    OrderSide,
    Page,
    PositionInfo,
    Trade,
    TxResult,
    VenueFundingRate,
)

CANDLE_RESOLUTIONS_MS: dict[str, int] = {
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
MAX_CANDLES_PER_CALL = 500
MAX_CLIENT_INDEXES_PER_CALL = 20
TX_NOT_FOUND = 21500


class ReadApi:
    """Typed reads over Lighter's REST API for one account (or public reads only).

    The market list is cached (markets change rarely; `markets(refresh=True)` reloads it).
    """

    def __init__(self, http: RestTransport, account_index: int | None = None) -> None:
        self._http = http
        self.account_index = account_index
        self._markets: dict[int, MarketInfo] = {}
        self._markets_lock = asyncio.Lock()

    def _require_account(self) -> int:
        if self.account_index is None:
            raise ExchangeError("this call needs an account_index")
        return self.account_index

    # --- markets and prices -------------------------------------------------------------------

    async def markets(self, refresh: bool = False) -> list[MarketInfo]:
        """All markets with their trading rules; cached until `refresh=True`."""
        async with self._markets_lock:
            if refresh or not self._markets:
                body = await self._http.get("orderBookDetails")
                self._markets = {m.market_id: m for m in parse.parse_markets(body)}
        return sorted(self._markets.values(), key=lambda m: m.market_id)

    async def market(self, market: int | str) -> MarketInfo:
        """One market by id or symbol (case-insensitive); reloads once when unknown."""
        cached = self._markets.get(market) if isinstance(market, int) else None
        if cached is not None:
            return cached  # every send asks: no lock, no sorted copy of the list
        for refresh in (False, True):
            for info in await self.markets(refresh=refresh):
                if info.market_id == market or (
                    isinstance(market, str) and info.symbol.upper() == market.upper()
                ):
                    return info
        raise ExchangeError(f"unknown market {market!r}")

    async def order_book(self, market_id: int, depth: int = 100) -> OrderBook:
        """Resting orders aggregated into price levels, best first (at most `depth` orders)."""
        body = await self._http.get(
            "orderBookOrders", {"market_id": market_id, "limit": max(1, min(depth, 250))}
        )
        return parse.parse_order_book_orders(body, market_id)

    async def book_top(self, market_id: int) -> BookTop:
        """Best bid and ask from REST (the stream's cache is fresher when one is running)."""
        return (await self.order_book(market_id, depth=20)).top()

    async def recent_trades(self, market_id: int, limit: int = 50) -> list[Trade]:
        """Latest public trades of a market, oldest first."""
        body = await self._http.get(
            "recentTrades", {"market_id": market_id, "limit": max(1, min(limit, 100))}
        )
        return list(parse.parse_trades(body).items)

    async def last_trade_price(self, market_id: int) -> Decimal | None:
        """Price of the latest trade, None when the market never traded."""
        trades = await self.recent_trades(market_id, limit=1)
        return trades[-1].price if trades else None

    async def candles(
        self, market_id: int, resolution: str, start_ms: int, end_ms: int
    ) -> list[Candle]:
        """Candles in [start_ms, end_ms], paging through Lighter's 500-per-call limit."""
        step = CANDLE_RESOLUTIONS_MS.get(resolution)
        if step is None:
            raise ExchangeError(f"unsupported resolution {resolution!r}")
        found: dict[int, Candle] = {}
        page_start = start_ms
        while page_start <= end_ms:
            page_end = min(end_ms, page_start + step * (MAX_CANDLES_PER_CALL - 1))
            body = await self._http.get(
                "candles",
                {
                    "market_id": market_id,
                    "resolution": resolution,
                    "start_timestamp": page_start,
                    "end_timestamp": page_end,
                    "count_back": MAX_CANDLES_PER_CALL,
                },
            )
            for candle in parse.parse_candles(body):
                if start_ms <= candle.timestamp_ms <= end_ms:
                    found[candle.timestamp_ms] = candle
            page_start = page_end + step
        return [found[t] for t in sorted(found)]

    async def fundings(
        self, market_id: int, start_s: int, end_s: int, resolution: str = "1h"
    ) -> list[FundingRate]:
        """Realised funding rates of a market per hour (or day)."""
        body = await self._http.get(
            "fundings",
            {
                "market_id": market_id,
                "resolution": resolution,
                "start_timestamp": start_s,
                "end_timestamp": end_s,
                "count_back": 500,
            },
        )
        return parse.parse_fundings(body)

    async def funding_rates(self) -> list[VenueFundingRate]:
        """Current 8h-equivalent funding rates across venues."""
        return parse.parse_funding_rates(await self._http.get("funding-rates"))

    # --- accounts -----------------------------------------------------------------------------

    async def accounts_by_l1_address(self, l1_address: str) -> list[int]:
        """Account indexes owned by an L1 address, master first; [] when there are none."""
        try:
            body = await self._http.get("accountsByL1Address", {"l1_address": l1_address})
        except RejectedError as exc:
            if exc.code == 21100:  # "account not found"
                return []
            raise
        return [a.account_index for a in parse.parse_sub_accounts(body)]

    async def account(self, account_index: int | None = None) -> AccountInfo:
        """Balances and positions of our account (or `account_index`)."""
        index = account_index if account_index is not None else self._require_account()
        body = await self._http.get("account", {"by": "index", "value": index})
        accounts = parse.parse_accounts(body)
        if not accounts:
            raise RejectedError(21100, f"account {index} not found")
        return accounts[0]

    async def positions(self) -> list[PositionInfo]:
        """Open (non-flat) positions of our account."""
        return [p for p in (await self.account()).positions if p.size != 0]

    async def api_keys(self) -> list[ApiKeyInfo]:
        """API keys registered on our account."""
        body = await self._http.get("apikeys", {"account_index": self._require_account()})
        return parse.parse_api_keys(body)

    async def next_nonce(self, api_key_index: int) -> int:
        """The nonce the exchange expects next from (our account, `api_key_index`)."""
        body = await self._http.get(
            "nextNonce",
            {"account_index": self._require_account(), "api_key_index": api_key_index},
        )
        return parse.parse_next_nonce(body)

    # --- orders, fills, funding ---------------------------------------------------------------

    async def open_orders(self, market_id: int | None = None) -> list[OrderInfo]:
        """Active orders of our account, in one market or all."""
        body = await self._http.get(
            "accountActiveOrders",
            {"account_index": self._require_account(), "market_id": market_id},
            auth=True,
        )
        return list(parse.parse_orders(body).items)

    async def closed_orders(
        self,
        market_id: int | None = None,
        side: OrderSide | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[OrderInfo]:
        """Filled and cancelled orders, newest first, one page at a time."""
        ask_filter = None if side is None else (1 if side is OrderSide.SELL else 0)
        body = await self._http.get(
            "accountInactiveOrders",
            {
                "account_index": self._require_account(),
                "limit": max(1, min(limit, 100)),
                "market_id": market_id,
                "ask_filter": ask_filter,
                "cursor": cursor,
            },
            auth=True,
        )
        return parse.parse_orders(body)

    async def orders_by_client_index(self, client_order_indexes: list[int]) -> list[OrderInfo]:
        """Our orders (active or not) with these client order indexes."""
        found: list[OrderInfo] = []
        for i in range(0, len(client_order_indexes), MAX_CLIENT_INDEXES_PER_CALL):
            chunk = client_order_indexes[i : i + MAX_CLIENT_INDEXES_PER_CALL]
            body = await self._http.get(
                "accountOrders",
                {"account_index": self._require_account(), "client_order_indexes": chunk},
                auth=True,
            )
            found.extend(parse.parse_orders(body).items)
        return found

    async def order_status(
        self,
        *,
        order_index: int | None = None,
        client_order_index: int | None = None,
        ticket: Ticket | None = None,
    ) -> OrderInfo | None:
        """An order by exchange index, client index or ticket, with its fill ratio.

        Looks at active orders first, then recent history; None when the exchange has no record.
        """
        if ticket is not None:
            client_order_index = ticket.client_order_index
        if client_order_index is not None:
            for order in await self.orders_by_client_index([client_order_index]):
                if order.client_order_index == client_order_index:
                    return order
            return None
        if order_index is None:
            raise ExchangeError("order_status needs order_index or client_order_index")
        for order in await self.open_orders():
            if order.order_index == order_index:
                return order
        cursor: str | None = None
        for _page in range(5):
            page = await self.closed_orders(cursor=cursor)
            for order in page.items:
                if order.order_index == order_index:
                    return order
            cursor = page.next_cursor
            if cursor is None:
                break
        return None

    async def fills(
        self,
        market_id: int | None = None,
        *,
        order_index: int | None = None,
        side: OrderSide | None = None,
        role: LiquidityRole | None = None,
        trade_type: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[FillInfo]:
        """Our fills, newest first, filtered; side and time are also checked client-side."""
        account = self._require_account()
        body = await self._http.get(
            "trades",
            {
                "sort_by": "timestamp",
                "sort_dir": "desc",
                "limit": max(1, min(limit, 100)),
                "account_index": account,
                "market_id": market_id,
                "order_index": order_index,
                "role": role.value if role else None,
                "type": trade_type,
                "ask_filter": None if side is None else int(side is OrderSide.SELL),
                "from": start_ms,
                "cursor": cursor,
            },
            auth=True,
        )
        page = parse.parse_trades(body)
        fills = [f for f in (parse.parse_fill(t, account) for t in page.items) if f is not None]
        fills = [
            f
            for f in fills
            if (side is None or f.side is side)
            and (role is None or f.role is role)
            and (order_index is None or f.order_index == order_index)
            and (start_ms is None or f.timestamp_ms >= start_ms)
            and (end_ms is None or f.timestamp_ms <= end_ms)
        ]
        fills.sort(key=lambda f: (f.timestamp_ms, f.trade_id), reverse=True)
        return Page(items=tuple(fills), next_cursor=page.next_cursor)

    async def funding_payments(
        self,
        market_id: int | None = None,
        *,
        side: str = "all",
        start_s: int | None = None,
        end_s: int | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[FundingPayment]:
        """Funding paid or received on our positions, one page at a time."""
        body = await self._http.get(
            "positionFunding",
            {
                "account_index": self._require_account(),
                "limit": max(1, min(limit, 100)),
                "market_ids": None if market_id is None else str(market_id),
                "side": side,
                "start_timestamp": start_s,
                "end_timestamp": end_s,
                "cursor": cursor,
            },
            auth=True,
        )
        return parse.parse_position_fundings(body)

    async def tx(self, tx_hash: str) -> TxResult | None:
        """A transaction's status and sequencer error; None while the exchange has no record."""
        try:
            body = await self._http.get("tx", {"by": "hash", "value": tx_hash})
        except RejectedError as exc:
            if exc.code in (TX_NOT_FOUND, 29404) or exc.status == 404:
                return None
            raise
        return parse.parse_tx(body)
