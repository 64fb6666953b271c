"""REST surface: accounts, orders and transactions of ``/api/v1/`` (lighter-api.md §2).

Private endpoints (``accountActiveOrders``, ``accountInactiveOrders``, ``accountOrders``,
``accountLimits``) need an auth token for the account they name.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from aiohttp import web

from exchange.simulator import payloads
from exchange.simulator import serialize as ser
from exchange.simulator.engine import Engine
from exchange.simulator.rest import (
    API,
    INVALID_PARAM,
    auth_token,
    ok,
    param_bool,
    param_cursor,
    param_int,
    param_str,
)
from exchange.simulator.types import SimError
from exchange.simulator.venue import AccountVenue


class AccountRest:
    """Account, order and transaction handlers bound to one server (its narrow interface)."""

    def __init__(self, venue: AccountVenue) -> None:
        self.venue = venue

    @property
    def engine(self) -> Engine:
        """The server's current engine (a state reset replaces it)."""
        return self.venue.engine

    def routes(self) -> list[web.RouteDef]:
        """The account, order and transaction routes."""
        get = {
            "account": self.account,
            "accountsByL1Address": self.accounts_by_l1,
            "apikeys": self.apikeys,
            "nextNonce": self.next_nonce,
            "accountActiveOrders": self.active_orders,
            "accountInactiveOrders": self.inactive_orders,
            "accountOrders": self.account_orders,
            "tx": self.tx,
            "positionFunding": self.position_funding,
            "pnl": self.pnl,
            "accountLimits": self.account_limits,
        }
        table = [web.get(API + name, handler) for name, handler in get.items()]
        table += [
            web.post(API + "sendTx", self.send_tx),
            web.post(API + "sendTxBatch", self.send_tx_batch),
        ]
        return table

    def _require_auth(self, request: web.Request, account_index: int) -> None:
        self.venue.check_auth(auth_token(request), account_index)

    def _market(self, market_id: int) -> Any:
        spec = payloads.market(self.engine, market_id)
        if spec is None:
            raise SimError(21602, "invalid market index")
        return spec

    # -- accounts ---------------------------------------------------------------------------

    async def account(self, request: web.Request) -> web.Response:
        """``GET account?by=index|l1_address&value=``."""
        by, value = param_str(request, "by"), param_str(request, "value")
        active_only = param_bool(request, "active_only")
        if by == "index":
            try:
                found = [self.venue.account_or_error(int(value))]
            except ValueError as exc:
                raise SimError(21102, "invalid account index") from exc
        elif by == "l1_address":
            found = self.engine.accounts_by_l1(value)
            if not found:
                raise SimError(21100, "account not found")
        else:
            raise SimError(INVALID_PARAM, "invalid param : by")
        rows = [payloads.detailed_account(self.engine, a, active_only=active_only) for a in found]
        return ok({"total": len(rows), "accounts": rows})

    async def accounts_by_l1(self, request: web.Request) -> web.Response:
        """``GET accountsByL1Address``."""
        l1 = param_str(request, "l1_address")
        found = self.engine.accounts_by_l1(l1)
        if not found:
            raise SimError(21100, "account not found")
        rows = [payloads.account_summary(self.engine, a) for a in found]
        return ok({"l1_address": l1, "sub_accounts": rows})

    async def apikeys(self, request: web.Request) -> web.Response:
        """``GET apikeys`` (all keys when api_key_index is absent or 255)."""
        account_index = param_int(request, "account_index")
        self.venue.account_or_error(account_index)
        key_index = param_int(request, "api_key_index", 255)
        keys = self.engine.api_keys(account_index, None if key_index == 255 else key_index)
        if key_index != 255 and not keys:
            raise SimError(21109, "api key not found")
        rows = [
            {
                "account_index": k.account_index,
                "api_key_index": k.api_key_index,
                "nonce": self.engine.next_nonce(account_index, k.api_key_index),
                "public_key": k.public_key_hex,
                "transaction_time": 0,
            }
            for k in keys
        ]
        return ok({"api_keys": rows})

    async def next_nonce(self, request: web.Request) -> web.Response:
        """``GET nextNonce``."""
        account_index = param_int(request, "account_index")
        key_index = param_int(request, "api_key_index")
        self.venue.account_or_error(account_index)
        return ok({"nonce": self.engine.next_nonce(account_index, key_index)})

    async def account_limits(self, request: web.Request) -> web.Response:
        """``GET accountLimits`` (auth required)."""
        account_index = param_int(request, "account_index")
        account = self.venue.account_or_error(account_index)
        self._require_auth(request, account_index)
        # Fee ticks are in 1e-6 (lighter-go FeeTick); the tier's rates of the first market.
        first = payloads.markets(self.engine)[0]
        return ok(
            {
                "max_llp_percentage": 100,
                "user_tier": account.tier,
                "can_create_public_pool": False,
                "max_llp_amount": "0.000000",
                "current_maker_fee_tick": first.maker_fee_ppm.get(account.tier, 0),
                "current_taker_fee_tick": first.taker_fee_ppm.get(account.tier, 0),
                "effective_lit_stakes": "0.000000",
                "leased_lit": "0.000000",
                "user_tier_name": account.tier,
                "bo_user_tier_name": account.tier,
                "bo_fee_rate": 0.0,
            }
        )

    # -- orders (private) -------------------------------------------------------------------

    async def active_orders(self, request: web.Request) -> web.Response:
        """``GET accountActiveOrders`` (auth required)."""
        account_index = param_int(request, "account_index")
        self.venue.account_or_error(account_index)
        self._require_auth(request, account_index)
        market_id = param_int(request, "market_id", 255)
        orders = self.engine.active_orders(account_index, None if market_id == 255 else market_id)
        return ok({"orders": [payloads.order_json(self.engine, o) for o in orders]})

    async def inactive_orders(self, request: web.Request) -> web.Response:
        """``GET accountInactiveOrders`` (auth required), newest first, cursor-paged."""
        account_index = param_int(request, "account_index")
        self.venue.account_or_error(account_index)
        self._require_auth(request, account_index)
        limit = max(1, min(100, param_int(request, "limit")))
        market_id = param_int(request, "market_id", 255)
        orders, cursor = self.engine.inactive_orders(
            account_index,
            None if market_id == 255 else market_id,
            ask_filter=param_int(request, "ask_filter", -1),
            limit=limit,
            cursor=param_cursor(request),
        )
        body: dict[str, Any] = {"orders": [payloads.order_json(self.engine, o) for o in orders]}
        if cursor is not None:
            body["next_cursor"] = str(cursor)
        return ok(body)

    async def account_orders(self, request: web.Request) -> web.Response:
        """``GET accountOrders?client_order_indexes=1,2`` (auth required)."""
        account_index = param_int(request, "account_index")
        self.venue.account_or_error(account_index)
        self._require_auth(request, account_index)
        raw = param_str(request, "client_order_indexes")
        try:
            indexes = [int(x) for x in raw.split(",") if x.strip()]
        except ValueError as exc:
            raise SimError(INVALID_PARAM, "invalid param : client_order_indexes") from exc
        if len(indexes) > 20:
            raise SimError(INVALID_PARAM, "invalid param : client_order_indexes")
        orders = self.engine.orders_by_client_index(account_index, indexes)
        return ok({"orders": [payloads.order_json(self.engine, o) for o in orders]})

    async def position_funding(self, request: web.Request) -> web.Response:
        """``GET positionFunding``."""
        account_index = param_int(request, "account_index")
        self.venue.account_or_error(account_index)
        limit = max(1, min(100, param_int(request, "limit")))
        market_id = param_int(request, "market_id", 255)
        fundings, cursor = self.engine.position_fundings(
            account_index,
            market_id=None if market_id == 255 else market_id,
            side=request.query.get("side", "all"),
            limit=limit,
            cursor=param_cursor(request),
        )
        rows = [payloads.position_funding_json(self.engine, f) for f in fundings]
        body: dict[str, Any] = {"position_fundings": rows}
        if cursor is not None:
            body["next_cursor"] = str(cursor)
        return ok(body)

    async def pnl(self, request: web.Request) -> web.Response:
        """``GET pnl``: one entry at the end timestamp with the account's trade PnL so far.

        The simulator keeps no PnL history; this is the documented simplification.
        """
        account = self.venue.account_or_error(int(param_str(request, "value")))
        resolution = param_str(request, "resolution")
        end = param_int(request, "end_timestamp")
        trade_pnl = sum((p.realized_pnl for p in account.positions.values()), start=Decimal(0))
        entry = {
            name: 0.0
            for name in (
                "inflow outflow pool_pnl pool_inflow pool_outflow pool_total_shares spot_inflow "
                "spot_outflow staked_lit staking_inflow staking_outflow staking_pnl "
                "trade_spot_pnl volume"
            ).split()
        }
        entry.update({"timestamp": end // 1000, "trade_pnl": float(trade_pnl)})
        return ok({"resolution": resolution, "pnl": [entry]})

    # -- transactions -----------------------------------------------------------------------

    async def tx(self, request: web.Request) -> web.Response:
        """``GET tx?by=hash&value=``."""
        by, value = param_str(request, "by"), param_str(request, "value")
        record = self.engine.tx(value) if by == "hash" else None
        if record is None:
            raise SimError(21500, "transaction not found")
        return web.json_response(ser.tx_json(record, record.l1_address))

    async def send_tx(self, request: web.Request) -> web.Response:
        """``POST sendTx`` (urlencoded or multipart form)."""
        form = await request.post()
        try:
            tx_type = int(_field(form, "tx_type"))
            tx_info = json.loads(_field(form, "tx_info"))
        except (KeyError, ValueError) as exc:
            raise SimError(21501, "invalid tx info") from exc
        protection = _field(form, "price_protection", "true").lower() not in ("false", "0")
        reply = await self.venue.accept_tx(
            tx_type, tx_info, peer=request.remote or "", price_protection=protection
        )
        return web.json_response(reply)

    async def send_tx_batch(self, request: web.Request) -> web.Response:
        """``POST sendTxBatch``: ``tx_types`` and ``tx_infos`` are JSON array strings."""
        form = await request.post()
        try:
            tx_types = [int(t) for t in json.loads(_field(form, "tx_types"))]
            tx_infos = [_as_obj(i) for i in json.loads(_field(form, "tx_infos"))]
        except (KeyError, ValueError, TypeError) as exc:
            raise SimError(21501, "invalid tx info") from exc
        reply = await self.venue.accept_batch(tx_types, tx_infos, peer=request.remote or "")
        return web.json_response(reply)


def _field(form: Any, name: str, default: str | None = None) -> str:
    # Multipart parts with a content type arrive as FileField; urlencoded ones as str.
    if name not in form:
        if default is None:
            raise KeyError(name)
        return default
    value = form[name]
    if isinstance(value, web.FileField):
        raw: bytes = value.file.read()
        return raw.decode()
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode()
    return str(value)


def _as_obj(value: Any) -> dict[str, Any]:
    # tx_infos entries are JSON strings (double-encoded) but objects are accepted too.
    obj = json.loads(value) if isinstance(value, str) else value
    if not isinstance(obj, dict):
        raise TypeError("tx_info must be an object")
    return obj
