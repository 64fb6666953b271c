"""Simulator-only endpoints under ``/sim/`` (never on real Lighter): accounts, prices, faults,
clock, request budget, websocket drops and a state dump. JSON in, JSON out; errors are 400
``{"error": "..."}``.
"""

from __future__ import annotations

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


def _decimal(value: Any, name: str) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise AdminError(f"{name} must be a decimal string") from exc


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
        keys = {int(k): str(v).removeprefix("0x") for k, v in body.get("api_keys", {}).items()}
        account = self.venue.engine.add_account(
            str(body["l1_address"]),
            _decimal(body.get("collateral", "0"), "collateral"),
            api_keys=keys,
            index=body.get("index"),
            tier=str(body.get("tier", "standard")),
        )
        self.venue.state_changed()
        return {"index": account.index, "l1_address": account.l1_address, "tier": account.tier}

    async def set_price(self, body: dict[str, Any]) -> dict[str, Any]:
        """Jump a market's reference price: ``{market_id, price}``."""
        market_id = int(body["market_id"])
        if payloads.market(self.venue.engine, market_id) is None:
            raise AdminError(f"unknown market {market_id}")
        self.venue.engine.set_reference_price(market_id, _decimal(body["price"], "price"))
        await self.venue.pump()
        return {"market_id": market_id, "price": str(body["price"])}

    async def get_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        """Active fault rules."""
        return self.venue.faults.state()

    async def set_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        """Replace the rules: ``{rules: [{kind, target, probability, count, ...}], seed}``."""
        rules = [FaultRule.from_dict(r) for r in body.get("rules", [])]
        seed = body.get("seed")
        self.venue.faults.set_rules(rules, seed=None if seed is None else int(seed))
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
            clock.set_manual(bool(body["manual"]))
        if "speed" in body:
            clock.set_speed(float(body["speed"]))
        if "advance_ms" in body:
            clock.advance(int(body["advance_ms"]))
        if "set_ms" in body:
            clock.set(int(body["set_ms"]))
        await self.venue.pump()
        return clock.state()

    async def get_ratelimit(self, body: dict[str, Any]) -> dict[str, Any]:
        """Request budget settings."""
        return self.venue.budget.state()

    async def set_ratelimit(self, body: dict[str, Any]) -> dict[str, Any]:
        """``{enabled, standard_per_minute, premium_weight_per_minute, reset}``."""
        budget = self.venue.budget
        if "enabled" in body:
            budget.enabled = bool(body["enabled"])
        if "standard_per_minute" in body:
            budget.standard_per_minute = int(body["standard_per_minute"])
        if "premium_weight_per_minute" in body:
            budget.premium_weight_per_minute = int(body["premium_weight_per_minute"])
        if body.get("reset", True):
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
