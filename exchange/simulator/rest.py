"""REST surface: ``/``, ``/info`` and the public market data of ``/api/v1/`` (lighter-api.md §2).

Handlers are thin: parse params -> engine / payloads -> JSON. Errors are HTTP 400
``{"code": 21xxx, "message": ...}``, refused auth tokens HTTP 401, budget overruns 429/23000.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from exchange.simulator import payloads
from exchange.simulator import serialize as ser
from exchange.simulator.engine import Engine
from exchange.simulator.types import SimError
from exchange.simulator.venue import MarketVenue

INVALID_PARAM = 20001
API = "/api/v1/"


def ok(body: dict[str, Any]) -> web.Response:
    """A ``code: 200`` JSON reply."""
    return web.json_response({"code": 200, **body})


def param_int(request: web.Request, name: str, default: int | None = None) -> int:
    """Integer query parameter; missing (without default) or malformed -> 400 invalid param."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        if default is None:
            raise SimError(INVALID_PARAM, f"invalid param : {name} is required")
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SimError(INVALID_PARAM, f"invalid param : {name}") from exc


def param_str(request: web.Request, name: str, default: str | None = None) -> str:
    """String query parameter; missing without default -> 400 invalid param."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        if default is None:
            raise SimError(INVALID_PARAM, f"invalid param : {name} is required")
        return default
    return raw


def param_cursor(request: web.Request) -> int | None:
    """The ``cursor`` query parameter (our cursors are integers rendered as strings)."""
    raw = request.query.get("cursor")
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise SimError(INVALID_PARAM, "invalid param : cursor") from exc


def to_seconds(timestamp: int) -> int:
    """Lighter mixes s and ms in timestamps; anything past year 5138 in seconds is ms."""
    return timestamp // 1000 if timestamp > 100_000_000_000 else timestamp


def param_bool(request: web.Request, name: str) -> bool:
    """Boolean query parameter (``true``/``1``)."""
    return request.query.get(name, "").lower() in ("true", "1")


def auth_token(request: web.Request) -> str | None:
    """The token from the ``authorization`` header or the ``auth``/``authorization`` query."""
    return (
        request.headers.get("authorization")
        or request.query.get("auth")
        or request.query.get("authorization")
    )


class MarketRest:
    """Public market-data handlers bound to one server (through its narrow interface)."""

    def __init__(self, venue: MarketVenue) -> None:
        self.venue = venue

    @property
    def engine(self) -> Engine:
        """The server's current engine (a state reset replaces it)."""
        return self.venue.engine

    def routes(self) -> list[web.RouteDef]:
        """All REST routes."""
        get = {
            "orderBooks": self.order_books,
            "orderBookDetails": self.order_book_details,
            "orderBookOrders": self.order_book_orders,
            "recentTrades": self.recent_trades,
            "trades": self.trades,
            "candles": self.candles,
            "fundings": self.fundings,
            "exchangeStats": self.exchange_stats,
            "funding-rates": self.funding_rates,
        }
        table = [web.get("/", self.status), web.get("/info", self.info)]
        table += [web.get(API + name, handler) for name, handler in get.items()]
        return table

    # -- helpers ----------------------------------------------------------------------------

    def _market(self, market_id: int) -> Any:
        spec = payloads.market(self.engine, market_id)
        if spec is None:
            raise SimError(21602, "invalid market index")
        return spec

    # -- root -------------------------------------------------------------------------------

    async def status(self, request: web.Request) -> web.Response:
        """``GET /``."""
        now_s = self.venue.clock.now_ms() // 1000
        return web.json_response({"status": 200, "network_id": 304, "timestamp": now_s})

    async def info(self, request: web.Request) -> web.Response:
        """``GET /info``."""
        return web.json_response({"contract_address": "0x" + "0" * 40})

    # -- markets ----------------------------------------------------------------------------

    def _selected_markets(self, request: web.Request) -> list[Any]:
        market_id = param_int(request, "market_id", 255)
        if market_id == 255:
            return payloads.markets(self.engine)
        return [self._market(market_id)]

    async def order_books(self, request: web.Request) -> web.Response:
        """``GET orderBooks``."""
        rows = [ser.order_book_json(m) for m in self._selected_markets(request)]
        return ok({"order_books": rows})

    async def order_book_details(self, request: web.Request) -> web.Response:
        """``GET orderBookDetails`` (perps only: the simulator has no spot markets)."""
        rows = [
            ser.order_book_detail_json(m, payloads.stats_values(self.engine, m))
            for m in self._selected_markets(request)
        ]
        return ok({"order_book_details": rows, "spot_order_book_details": []})

    async def order_book_orders(self, request: web.Request) -> web.Response:
        """``GET orderBookOrders``: individual resting orders, best first."""
        spec = self._market(param_int(request, "market_id"))
        limit = max(1, min(250, param_int(request, "limit")))
        asks, bids = self.engine.book_orders(spec.market_id, limit)
        return ok(
            {
                "total_asks": len(asks),
                "asks": [ser.simple_order_json(o, spec) for o in asks],
                "total_bids": len(bids),
                "bids": [ser.simple_order_json(o, spec) for o in bids],
            }
        )

    async def recent_trades(self, request: web.Request) -> web.Response:
        """``GET recentTrades``: newest first."""
        spec = self._market(param_int(request, "market_id"))
        limit = max(1, min(100, param_int(request, "limit")))
        trades = self.engine.recent_trades(spec.market_id, limit)
        return ok({"trades": [ser.trade_json(t, spec) for t in trades]})

    async def trades(self, request: web.Request) -> web.Response:
        """``GET trades`` filtered by market / account / order, cursor-paged."""
        param_str(request, "sort_by")
        limit = max(1, min(100, param_int(request, "limit")))
        market_id = param_int(request, "market_id", 255)
        account_index = param_int(request, "account_index", -1)
        order_index = param_int(request, "order_index", -1)
        trades, cursor = self.engine.trades(
            market_id=None if market_id == 255 else market_id,
            account_index=None if account_index < 0 else account_index,
            order_index=None if order_index < 0 else order_index,
            limit=limit,
            cursor=param_cursor(request),
            sort_dir=request.query.get("sort_dir", "desc"),
        )
        body: dict[str, Any] = {"trades": [payloads.trade_json(self.engine, t) for t in trades]}
        if cursor is not None:
            body["next_cursor"] = str(cursor)
        return ok(body)

    async def candles(self, request: web.Request) -> web.Response:
        """``GET candles``."""
        spec = self._market(param_int(request, "market_id"))
        resolution = param_str(request, "resolution")
        if resolution not in payloads.CANDLE_RESOLUTIONS_MS:
            raise SimError(22402, "invalid resolution: resolution unsupported")
        start, end = param_int(request, "start_timestamp"), param_int(request, "end_timestamp")
        if end <= start:
            raise SimError(
                22400, "invalid timestamps: end_timestamp must be greater than start_timestamp"
            )
        count_back = param_int(request, "count_back")
        candles = self.engine.candles(spec.market_id, resolution, start, end, count_back)
        return ok({"r": resolution, "c": [payloads.candle_json(spec, c) for c in candles]})

    async def fundings(self, request: web.Request) -> web.Response:
        """``GET fundings``."""
        spec = self._market(param_int(request, "market_id"))
        resolution = param_str(request, "resolution")
        start, end = param_int(request, "start_timestamp"), param_int(request, "end_timestamp")
        count_back = param_int(request, "count_back")
        records = self.engine.fundings(
            spec.market_id, to_seconds(start), to_seconds(end), count_back
        )
        rows = [
            {
                "timestamp": r.timestamp_s,
                "value": ser.dec(r.value, 8),
                "rate": ser.dec(r.rate * 100, 4),
                "direction": r.direction,
            }
            for r in records
        ]
        return ok({"resolution": resolution, "fundings": rows})

    async def funding_rates(self, request: web.Request) -> web.Response:
        """``GET funding-rates``: this venue's current rate per market, 8h-equivalent fraction.

        Real Lighter also lists other venues' rates (binance, bybit, ...); the simulator knows
        only its own, so every row says ``"exchange": "lighter"``.
        """
        rows = []
        for spec in payloads.markets(self.engine):
            hourly_percent = payloads.stats_values(self.engine, spec)["current_funding_rate"]
            rate = hourly_percent / 100 * 8
            rows.append(
                {
                    "market_id": spec.market_id,
                    "exchange": "lighter",
                    "symbol": spec.symbol,
                    "rate": ser.num(rate),
                }
            )
        return ok({"funding_rates": rows})

    async def exchange_stats(self, request: web.Request) -> web.Response:
        """``GET exchangeStats``."""
        rows, usd_volume, count = [], Decimal(0), 0
        for spec in payloads.markets(self.engine):
            stats = payloads.stats_values(self.engine, spec)
            rows.append(
                {
                    "symbol": spec.symbol,
                    "last_trade_price": ser.num(stats["last_trade_price"]),
                    "daily_trades_count": stats["daily_trades_count"],
                    "daily_base_token_volume": ser.num(stats["daily_base_token_volume"]),
                    "daily_quote_token_volume": ser.num(stats["daily_quote_token_volume"]),
                    "daily_price_change": ser.num(stats["daily_price_change"]),
                }
            )
            usd_volume += Decimal(str(stats["daily_quote_token_volume"]))
            count += stats["daily_trades_count"]
        return ok(
            {
                "total": len(rows),
                "order_book_stats": rows,
                "daily_usd_volume": ser.num(usd_volume),
                "daily_trades_count": count,
            }
        )
