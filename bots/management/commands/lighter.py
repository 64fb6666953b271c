"""Operator CLI on the exchange client: look at an account and act on it when something is off.

    python manage.py lighter ACCOUNT positions
    python manage.py lighter ACCOUNT orders
    python manage.py lighter ACCOUNT fills [--limit N]
    python manage.py lighter ACCOUNT cancel-all [SYMBOL]
    python manage.py lighter ACCOUNT close SYMBOL

ACCOUNT is an ExchangeAccount name (or primary key). Writes are verified: cancel-all reports the
open orders left afterwards, close reports closed / partially closed / failed from the account.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bots.models import ExchangeAccount
from exchange.client import LighterClient
from exchange.errors import ExchangeError
from exchange.types import MarketInfo

logger = logging.getLogger(__name__)

T = TypeVar("T")
ACTIONS = ("positions", "orders", "fills", "cancel-all", "close")
CLOSE_ATTEMPTS = 3


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [list(map(str, headers))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def _time(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


class Command(BaseCommand):
    help = "Inspect and act on a Lighter account: positions, orders, fills, cancel-all, close."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("account", help="ExchangeAccount name or id")
        parser.add_argument("action", choices=ACTIONS)
        parser.add_argument("symbol", nargs="?", help="market symbol (cancel-all, close)")
        parser.add_argument("--limit", type=int, default=20, help="how many fills to show")

    def handle(self, *args: Any, **options: Any) -> None:
        account = self._account(options["account"])
        action: str = options["action"]
        symbol: str | None = options["symbol"]
        if action == "close" and not symbol:
            raise CommandError("close needs a SYMBOL")
        if account.account_index is None or account.api_key_index is None:
            raise CommandError(f"{account.name}: set the account index and API key index first")
        if not account.has_api_private_key:
            raise CommandError(f"{account.name}: store an API private key first")
        # Client order indexes come from the account's counter (never the clock), reserved
        # before going async because the ORM is synchronous.
        close_ids = (
            account.allocate_client_order_indexes(CLOSE_ATTEMPTS) if action == "close" else None
        )
        client = account.client()
        actions: dict[str, Callable[[LighterClient], Awaitable[str]]] = {
            "positions": self._positions,
            "orders": self._orders,
            "fills": lambda c: self._fills(c, options["limit"]),
            "cancel-all": lambda c: self._cancel_all(c, symbol),
            "close": lambda c: self._close(c, symbol or "", list(close_ids or ())),
        }
        try:
            output = asyncio.run(self._with(client, actions[action]))
        except ExchangeError as exc:
            logger.warning("lighter %s %s failed: %s", account.name, action, exc)
            raise CommandError(f"{account.name}: {type(exc).__name__}: {exc}") from exc
        self.stdout.write(output)

    @staticmethod
    def _account(ref: str) -> ExchangeAccount:
        found = ExchangeAccount.objects.filter(name=ref).first()
        if found is None and ref.isdigit():
            found = ExchangeAccount.objects.filter(pk=int(ref)).first()
        if found is None:
            raise CommandError(f"no exchange account named {ref!r}")
        return found

    @staticmethod
    async def _with(client: LighterClient, action: Callable[[LighterClient], Awaitable[T]]) -> T:
        async with client:
            return await action(client)

    @staticmethod
    async def _symbols(client: LighterClient) -> dict[int, MarketInfo]:
        return {m.market_id: m for m in await client.markets()}

    async def _positions(self, client: LighterClient) -> str:
        account = await client.account()
        rows = [
            (
                p.symbol,
                p.side,
                p.size,
                p.avg_entry_price,
                p.unrealized_pnl,
                p.realized_pnl,
                p.liquidation_price,
                f"{p.leverage}x",
                p.margin_mode,
            )
            for p in account.positions
            if p.size != 0
        ]
        head = (
            f"account {account.account_index}: collateral {account.collateral}, "
            f"available {account.available_balance}, equity {account.equity}"
        )
        if not rows:
            return f"{head}\nno open positions"
        headers = ("symbol", "side", "size", "entry", "uPnL", "rPnL", "liq", "lev", "margin")
        return f"{head}\n{_table(headers, rows)}"

    async def _orders(self, client: LighterClient) -> str:
        markets = await self._symbols(client)
        orders = await client.open_orders()
        if not orders:
            return "no open orders"
        rows = [
            (
                markets[o.market_id].symbol if o.market_id in markets else o.market_id,
                o.side,
                o.order_type,
                o.time_in_force,
                o.price,
                o.initial_size,
                o.filled_size,
                o.status,
                o.client_order_index,
                o.order_index,
            )
            for o in sorted(orders, key=lambda o: (o.market_id, o.side, o.price))
        ]
        headers = (
            "symbol",
            "side",
            "type",
            "tif",
            "price",
            "size",
            "filled",
            "status",
            "client#",
            "order#",
        )
        return f"{len(orders)} open orders\n{_table(headers, rows)}"

    async def _fills(self, client: LighterClient, limit: int) -> str:
        markets = await self._symbols(client)
        fills = (await client.fills(limit=limit)).items
        if not fills:
            return "no fills"
        rows = [
            (
                _time(f.timestamp_ms),
                markets[f.market_id].symbol if f.market_id in markets else f.market_id,
                f.side,
                f.role,
                f.price,
                f.size,
                f.client_order_index,
                f.trade_id,
            )
            for f in fills
        ]
        headers = ("time (UTC)", "symbol", "side", "role", "price", "size", "client#", "trade#")
        return _table(headers, rows)

    async def _cancel_all(self, client: LighterClient, symbol: str | None) -> str:
        market = await client.market(symbol) if symbol else None
        before = await client.open_orders(market.market_id if market else None)
        await client.cancel_all(market.market_id if market else None)
        after = await client.open_orders(market.market_id if market else None)
        scope = market.symbol if market else "all markets"
        verdict = "done" if not after else f"{len(after)} orders still open, check again"
        return f"cancel-all {scope}: {len(before)} open before, {len(after)} after: {verdict}"

    async def _close(self, client: LighterClient, symbol: str, ids: list[int]) -> str:
        result = await client.close_position(symbol, ids, attempts=len(ids))
        lines = [
            f"close {result.symbol}: {result.status} after {result.attempts} attempt(s)",
            f"  position before {result.initial_size}, closed {result.closed_size}, "
            f"remaining {result.remaining_size}",
        ]
        if result.reason and result.remaining_size:
            lines.append(f"  exchange said: {result.reason}")
        for ticket in result.tickets:
            lines.append(
                f"  order {ticket.client_order_index}: {ticket.state} "
                f"filled {ticket.filled_size} at {ticket.average_price or '-'}"
            )
        return "\n".join(lines)
