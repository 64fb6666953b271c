"""Simulator-only endpoints under ``/sim/`` (never on real Lighter): accounts, prices, faults,
clock, request budget, websocket drops, a state dump and a reset. JSON in, JSON out; errors are
400 ``{"error": "..."}`` naming the field.

They are for tools on the same machine (the server listens on loopback only). Every request
that is not a GET must say ``Content-Type: application/json`` (else 415): a web page can make a
browser send a cross-site ``text/plain`` form post without asking, never a JSON one.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from exchange.simulator import payloads
from exchange.simulator.faults import FaultConfigError, FaultRule
from exchange.simulator.types import SimError
from exchange.simulator.venue import AdminVenue


class AdminError(Exception):
    """A malformed ``/sim/`` request."""


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    data = await request.json()
    if not isinstance(data, dict):
        raise AdminError("body must be a JSON object")
    return data


JSON = "application/json"
TIERS = ("standard", "premium")


def _required(body: dict[str, Any], name: str) -> Any:
    if name not in body:
        raise AdminError(f"{name} is required")
    return body[name]


def _amount(value: Any, name: str, *, positive: bool) -> Decimal:
    """A finite decimal (string or number), > 0 or >= 0: NaN, infinities and negatives are
    refused here rather than breaking margin maths and the state dump later."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise AdminError(f"{name} must be a decimal string")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise AdminError(f"{name} must be a decimal string") from exc
    if not amount.is_finite():
        raise AdminError(f"{name} must be a finite decimal")
    if amount < 0 or (positive and amount == 0):
        raise AdminError(f"{name} must be {'positive' if positive else 'zero or more'}")
    return amount


def _integer(value: Any, name: str, *, minimum: int | None = None) -> int:
    if isinstance(value, str) and value.lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise AdminError(f"{name} must be an integer")
    if minimum is not None and value < minimum:
        raise AdminError(f"{name} must be at least {minimum}")
    return value


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise AdminError(f"{name} must be true or false")
    return value


def _speed(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise AdminError("speed must be a number")
    try:
        speed = float(value)
    except ValueError as exc:
        raise AdminError("speed must be a number") from exc
    if not math.isfinite(speed) or speed <= 0:
        raise AdminError("speed must be a finite number above 0")
    return speed


def _api_keys(value: Any) -> dict[int, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise AdminError("api_keys must map key indexes to public key hex strings")
    keys = {_integer(k, "api_keys index", minimum=0): v for k, v in value.items()}
    return {k: v.removeprefix("0x") for k, v in keys.items()}


class AdminApi:
    """``/sim/`` handlers bound to one server (through its narrow interface)."""

    def __init__(self, venue: AdminVenue) -> None:
        self.venue = venue

    def routes(self) -> list[web.RouteDef]:
        """All ``/sim/`` routes."""
        wrap = self._wrap
        return [
            web.post("/sim/accounts", wrap(self.create_account)),
            web.post("/sim/price", wrap(self.set_price)),
            web.get("/sim/faults", wrap(self.get_faults)),
            web.post("/sim/faults", wrap(self.set_faults)),
            web.delete("/sim/faults", wrap(self.clear_faults)),
            web.get("/sim/clock", wrap(self.get_clock)),
            web.post("/sim/clock", wrap(self.set_clock)),
            web.get("/sim/ratelimit", wrap(self.get_ratelimit)),
            web.post("/sim/ratelimit", wrap(self.set_ratelimit)),
            web.post("/sim/ws/drop", wrap(self.drop_websockets)),
            web.get("/sim/state", wrap(self.state)),
            web.post("/sim/reset", wrap(self.reset)),
        ]

    def _wrap(self, handler: Any) -> Any:
        async def wrapped(request: web.Request) -> web.Response:
            if request.method not in ("GET", "HEAD") and request.content_type != JSON:
                return web.json_response(
                    {"error": f"Content-Type must be {JSON} (/sim/ is for local tools)"},
                    status=415,
                )
            try:
                body = await _body(request)
                result: dict[str, Any] = await handler(body)
            except (AdminError, FaultConfigError, ValueError, KeyError, TypeError) as exc:
                return web.json_response({"error": str(exc)}, status=400)
            except SimError as exc:
                return web.json_response({"code": exc.code, "error": exc.message}, status=400)
            return web.json_response(result)

        return wrapped

    async def create_account(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a funded account: ``{l1_address, collateral, api_keys: {idx: pubkey}}``."""
        l1_address = _required(body, "l1_address")
        if not isinstance(l1_address, str) or not l1_address:
            raise AdminError("l1_address must be a non-empty string")
        tier = body.get("tier", "standard")
        if tier not in TIERS:
            raise AdminError(f"tier must be one of {', '.join(TIERS)}")
        index = body.get("index")
        account = self.venue.engine.add_account(
            l1_address,
            _amount(body.get("collateral", "0"), "collateral", positive=False),
            api_keys=_api_keys(body.get("api_keys", {})),
            index=None if index is None else _integer(index, "index", minimum=0),
            tier=tier,
        )
        self.venue.state_changed()
        return {"index": account.index, "l1_address": account.l1_address, "tier": account.tier}

    async def set_price(self, body: dict[str, Any]) -> dict[str, Any]:
        """Jump a market's reference price: ``{market_id, price}``."""
        market_id = _integer(_required(body, "market_id"), "market_id")
        if payloads.market(self.venue.engine, market_id) is None:
            raise AdminError(f"market_id {market_id} is not a market")
        price = _amount(_required(body, "price"), "price", positive=True)
        self.venue.engine.set_reference_price(market_id, price)
        await self.venue.pump()
        return {"market_id": market_id, "price": str(price)}

    async def get_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        """Active fault rules."""
        return self.venue.faults.state()

    async def set_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        """Replace the rules: ``{rules: [{kind, target, probability, count, ...}], seed}``."""
        rules = [FaultRule.from_dict(r) for r in body.get("rules", [])]
        seed = body.get("seed")
        self.venue.faults.set_rules(rules, seed=None if seed is None else _integer(seed, "seed"))
        return self.venue.faults.state()

    async def clear_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        """Switch every fault off."""
        self.venue.faults.clear()
        return self.venue.faults.state()

    async def get_clock(self, body: dict[str, Any]) -> dict[str, Any]:
        """Clock state."""
        return self.venue.clock.state()

    async def set_clock(self, body: dict[str, Any]) -> dict[str, Any]:
        """``{manual: bool}``, ``{speed: x}``, ``{advance_ms: n}`` or ``{set_ms: t}``; then the
        engine runs everything due up to the new time before the reply."""
        clock = self.venue.clock
        if "manual" in body:
            clock.set_manual(_flag(body["manual"], "manual"))
        if "speed" in body:
            clock.set_speed(_speed(body["speed"]))
        if "advance_ms" in body:
            clock.advance(_integer(body["advance_ms"], "advance_ms", minimum=0))
        if "set_ms" in body:
            clock.set(_integer(body["set_ms"], "set_ms", minimum=0))
        await self.venue.pump()
        return clock.state()

    async def get_ratelimit(self, body: dict[str, Any]) -> dict[str, Any]:
        """Request budget settings."""
        return self.venue.budget.state()

    async def set_ratelimit(self, body: dict[str, Any]) -> dict[str, Any]:
        """``{enabled, standard_per_minute, premium_weight_per_minute, reset}``."""
        budget = self.venue.budget
        if "enabled" in body:
            budget.enabled = _flag(body["enabled"], "enabled")
        for name in ("standard_per_minute", "premium_weight_per_minute"):
            if name in body:
                setattr(budget, name, _integer(body[name], name, minimum=0))
        if _flag(body.get("reset", True), "reset"):
            budget.reset()
        return budget.state()

    async def drop_websockets(self, body: dict[str, Any]) -> dict[str, Any]:
        """Close every websocket connection now."""
        return {"dropped": await self.venue.drop_websockets("dropped by /sim/ws/drop")}

    async def reset(self, body: dict[str, Any]) -> dict[str, Any]:
        """``{confirm: "reset"}``: start the venue over from its config (every account back to
        its configured collateral, no positions, orders or history; ids never reused)."""
        if body.get("confirm") != "reset":
            raise AdminError('confirm must be "reset" (this forgets every position and order)')
        await self.venue.reset_state()
        return {"reset": True, "accounts": len(payloads.all_accounts(self.venue.engine))}

    async def state(self, body: dict[str, Any]) -> dict[str, Any]:
        """Dump: clock, markets (top of book, mark price), accounts, faults, budget."""
        engine = self.venue.engine
        markets = []
        for spec in payloads.markets(engine):
            asks, bids = engine.book_levels(spec.market_id, 5)
            markets.append(
                {
                    "market_id": spec.market_id,
                    "symbol": spec.symbol,
                    "asks": payloads.levels_json(spec, asks),
                    "bids": payloads.levels_json(spec, bids),
                    "stats": {k: str(v) for k, v in payloads.stats_values(engine, spec).items()},
                }
            )
        accounts = [payloads.account_summary(engine, a) for a in payloads.all_accounts(engine)]
        return {
            "clock": self.venue.clock.state(),
            "markets": markets,
            "accounts": accounts,
            "faults": self.venue.faults.state(),
            "ratelimit": self.venue.budget.state(),
            "websocket_sessions": self.venue.websocket_sessions(),
        }
