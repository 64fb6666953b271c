"""Reads of who owns which position (design.md "Ownership"; README "How positions are owned").

A bot's position on an account is the sum of its own fills and adoptions (`PositionTransfer`)
there: a grid (and a hedge bot's maker leg) on its account, a hedge bot's taker leg on the taker
account (`market_bots`). Per (account, market) the exchange's position — as of the account's
last exchange check, `last_check_summary` — splits into the bots' positions and an
*unattributed* remainder, computed by the pure `bots.strategies.ownership`. The start check
(`start_question`) says what a starting bot must adopt or leave.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet

from bots.models import (
    Bot,
    BotStatus,
    DesiredState,
    ExchangeAccount,
    Fill,
    GridBot,
    HedgeBot,
    Market,
)
from bots.models import PositionTransfer as TransferRow
from bots.strategies import ownership

_ZERO = Decimal(0)
_SIGN = {"buy": 1, "sell": -1}


# The key of `ExchangeAccount.last_check_summary` that says when its positions were read, when
# a runner read them after the account's full check (`bots.engine.ownership.positions_store`).
POSITIONS_AT = "positions_at"


def plain(size: Decimal) -> str:
    """A size as an operator reads it: no trailing zeros, no exponent (0.0300000000 -> 0.03)."""
    return f"{size.normalize():f}" if size else "0"


def bot_position(
    bot_id: int, account_id: int | None = None, as_of: datetime | None = None
) -> Decimal:
    """The bot's own position in base units: its fills plus its adoptions (exact, no ledger),
    on `account_id` (a hedge bot trades two accounts: each leg is its own position there);
    None: on every account (a grid's one). `as_of`: its fills executed until then only (what
    an exchange position read then holds; adoptions move no position, so all of them count)."""
    fills = Fill.objects.filter(bot_id=bot_id)
    if as_of is not None:
        fills = fills.filter(executed_at__lte=as_of)
    transfers = TransferRow.objects.filter(bot_id=bot_id)
    if account_id is not None:
        fills, transfers = (
            fills.filter(account_id=account_id),
            transfers.filter(account_id=account_id),
        )
    signed = fills.values_list("side", "size_base")
    sizes = transfers.values_list("size_base", flat=True)
    return sum((_SIGN[side] * size for side, size in signed), _ZERO) + sum(sizes, _ZERO)


def market_bots(account_id: int) -> QuerySet[Bot]:
    """Every bot trading on this account, of any kind and in any state: grids and hedge bots'
    maker legs by their account, hedge bots' taker legs by their taker account."""
    return Bot.objects.filter(Q(account_id=account_id) | Q(hedgebot__taker_account_id=account_id))


def bot_of_kind(bot_id: int) -> GridBot | HedgeBot:
    """The bot as its own kind (a hedge bot or a grid), with its account and market."""
    hedge = HedgeBot.objects.select_related("account", "taker_account", "market").filter(pk=bot_id)
    found = hedge.first()
    if found is not None:
        return found
    return GridBot.objects.select_related("account", "market").get(pk=bot_id)


def bot_positions(
    account_id: int, market_id: int, as_of: datetime | None = None
) -> dict[int, Decimal]:
    """The own position on this account of every bot trading it on this market (flat ones
    included; a hedge bot with the leg it has here), `as_of` as in `bot_position`."""
    ids = market_bots(account_id).filter(market_id=market_id).values_list("pk", flat=True)
    return {pk: bot_position(pk, account_id, as_of) for pk in ids}


def positions_read_at(account: ExchangeAccount) -> datetime | None:
    """When the account's stored positions were read: its full check, or a runner's read of
    its positions since (`bots.engine.ownership.positions_store`).

    The unattributed remainder compares them with the bots' fills executed until then: a fill
    since would otherwise show as unattributed until the next read (a minute or two on a running
    account, after every fill)."""
    summary: dict[str, Any] = account.last_check_summary or {}
    read = summary.get(POSITIONS_AT)
    try:
        runner_read = datetime.fromisoformat(read) if isinstance(read, str) else None
    except ValueError:
        runner_read = None
    times = [t for t in (account.last_checked_at, runner_read) if t is not None]
    return max(times) if times else None


def exchange_positions(account: ExchangeAccount) -> dict[str, Decimal] | None:
    """Signed positions by symbol at the account's last exchange check (None: never checked)."""
    summary: dict[str, Any] | None = account.last_check_summary
    if not summary or "positions" not in summary:
        return None
    positions: dict[str, Decimal] = {}
    for item in summary.get("positions") or []:
        try:
            size = abs(Decimal(str(item.get("size", "0"))))
        except ArithmeticError:
            continue
        positions[str(item.get("symbol", ""))] = -size if item.get("side") == "short" else size
    return positions


@dataclass(frozen=True)
class MarketOwnershipRow:
    """One market of an account: the exchange's position, the bots' own, the remainder."""

    market_id: int
    symbol: str
    exchange_base: Decimal | None
    bots: list[tuple[int, str, Decimal]]
    unattributed: Decimal | None


def account_ownership(account: ExchangeAccount) -> list[MarketOwnershipRow]:
    """Every market of the account with a position or a bot: who owns what (by symbol)."""
    reported = exchange_positions(account)
    as_of = positions_read_at(account)
    bots = list(market_bots(account.pk).select_related("market"))
    symbols = {b.market.symbol for b in bots} | set(reported or {})
    markets = {
        m.symbol: m for m in Market.objects.filter(network=account.network, symbol__in=symbols)
    }
    rows = []
    for symbol in sorted(symbols):
        market = markets.get(symbol)
        owners = [
            (b.pk, b.name, bot_position(b.pk, account.pk, as_of))
            for b in bots
            if b.market.symbol == symbol
        ]
        exchange = None if reported is None else reported.get(symbol, _ZERO)
        if exchange is None:
            remainder = None
        else:
            remainder = ownership.unattributed(exchange, (p for _, _, p in owners))
        if exchange == 0 and remainder == 0 and not any(p for _, _, p in owners):
            continue
        rows.append(
            MarketOwnershipRow(
                market.market_id if market else -1, symbol, exchange, owners, remainder
            )
        )
    return rows


def market_unattributed(bot: GridBot) -> Decimal | None:
    """The unattributed remainder on the bot's (account, market) at the last exchange check."""
    reported = exchange_positions(bot.account)
    if reported is None:
        return None
    exchange = reported.get(bot.market.symbol, _ZERO)
    owned = bot_positions(bot.account_id, bot.market_id, positions_read_at(bot.account))
    return ownership.unattributed(exchange, owned.values())


@dataclass(frozen=True)
class StartQuestion:
    """What a starting bot must adopt or leave: `size_base` not its own, of which `held_by`
    stopped bots hold their parts (id, name, size) and the rest is unattributed."""

    size_base: Decimal
    held_by: list[tuple[int, str, Decimal]]

    def describe(self, symbol: str) -> str:
        """One operator-facing sentence."""
        parts = [
            f"{plain(size)} {symbol} held by stopped bot {name}" for _, name, size in self.held_by
        ]
        rest = self.size_base - sum((s for _, _, s in self.held_by), _ZERO)
        if rest:
            parts.append(f"{plain(rest)} {symbol} unattributed")
        return (
            f"a position of {self.size_base} {symbol} here is not this bot's ({'; '.join(parts)})"
        )


def start_question(bot: GridBot) -> StartQuestion:
    """What the bot would have to adopt or leave if it started now (size 0: nothing to ask).

    Without an exchange check of the account, the unattributed part is unknown and taken as 0;
    the runner re-checks against the exchange at startup either way.
    """
    reported = exchange_positions(bot.account)
    # As of the read the exchange's figure comes from (all of them without one).
    as_of = None if reported is None else positions_read_at(bot.account)
    positions = bot_positions(bot.account_id, bot.market_id, as_of)
    others = market_bots(bot.account_id).filter(market_id=bot.market_id).exclude(pk=bot.pk)
    live = {
        pk
        for pk, desired, status in others.values_list("pk", "desired_state", "status")
        if desired != DesiredState.STOPPED or status not in (BotStatus.STOPPED, BotStatus.ERROR)
    }
    names = dict(others.values_list("pk", "name"))
    exchange = (
        sum(positions.values(), _ZERO)
        if reported is None
        else reported.get(bot.market.symbol, _ZERO)
    )
    size = ownership.not_yours(
        exchange, positions.get(bot.pk, _ZERO), (positions[pk] for pk in live)
    )
    held = [
        (pk, names[pk], p) for pk, p in sorted(positions.items()) if pk in names and pk not in live
    ]
    return StartQuestion(size, [h for h in held if h[2] != 0])
