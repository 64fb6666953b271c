"""An account's positions as the exchange holds them, and the operator's Close and TP/SL on them.

Read (`account_positions`): one live account read and one open-orders read per page load: size,
entry, mark (position value / size), unrealized PnL, liquidation price, leverage, margin mode,
who owns it (the bots' own positions, `bots.ownership`) and the unattributed rest, and the
position-tied take-profit / stop-loss orders resting on it.

Close (`position_close`, README "Positions"): reduce-only IOC orders at a *worst price* (the
operator's limit, or the best price +/- the allowed slippage), each no larger than what the book
shows within that price, so a thin book is taken in chunks and never beyond the worst price.
After every chunk the position is read back: the result says what is left, never "sent".
Refused while a bot that is not stopped owns part of the position unless the operator includes
the bots: then those bots are emergency-stopped first (stopped at once, every order of the
account on that market cancelled, verified) so no grid re-opens what is being closed. When the
position ends flat, each owning bot's part is booked out of it as a `PositionTransfer` at the
average close price, so the bots' positions and the exchange agree again.

TP/SL (`position_trigger_place`, `position_trigger_cancel`): Lighter's position-tied orders
(size 0, reduce-only): they close whatever the position is when the mark crosses the trigger.

Every exchange call is an operator command: it draws from the budget's operator lane.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bots import ownership, services
from bots.engine.controls import ExchangeActionFailed, account_can_sign, exchange_run
from bots.engine.recording import event_create
from bots.models import DesiredState, EventLevel, ExchangeAccount, Market, PositionTransfer
from bots.strategies.ownership import unattributed as unattributed_of
from exchange.budget import operator_lane
from exchange.orders import TriggerRequest
from exchange.types import OrderSide, PositionSide
from exchange.units import MarketUnits

if TYPE_CHECKING:
    from exchange.client import LighterClient
    from exchange.types import OrderInfo, PositionInfo

_ZERO = Decimal(0)
TRIGGER_TYPES = {
    "take-profit",
    "take-profit-limit",
    "stop-loss",
    "stop-loss-limit",
}
DEFAULT_MAX_SLIPPAGE = Decimal("0.01")
MAX_SLIPPAGE_CAP = Decimal("0.10")
MAX_CHUNKS = 20
# A chunk that filled nothing: wait this long for the book to show liquidity within the worst
# price again before giving up (the close then reports what is left).
REFILL_WAIT_S = 5.0
REFILL_POLL_S = 0.25
CHUNK_RESOLVE_S = 5.0
CLOSE_INDEXES = MAX_CHUNKS


class PositionActionRefused(Exception):
    """The operator's request cannot apply (message names why; the API answers 4xx)."""

    def __init__(self, message: str, *, field: str = "", status: int = 409) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


# -- read ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Owner:
    """One bot of the (account, market): its own position and whether it is stopped."""

    bot_id: int
    name: str
    size: Decimal
    desired_state: str

    @property
    def active(self) -> bool:
        """Not stopped: its grid may trade this market again."""
        return self.desired_state != DesiredState.STOPPED


@dataclass(frozen=True)
class Trigger:
    """A take-profit or stop-loss resting on the position."""

    kind: str  # "take_profit" | "stop_loss"
    order_index: int
    client_order_index: int
    trigger_price: Decimal
    price: Decimal
    status: str


@dataclass(frozen=True)
class PositionRow:
    """One market of the account with a position (signed size: + long, - short)."""

    market_id: int
    symbol: str
    size: Decimal
    side: str
    entry_price: Decimal
    mark_price: Decimal
    unrealized_pnl: Decimal
    liquidation_price: Decimal
    leverage: Decimal
    margin_mode: str
    owners: list[Owner] = field(default_factory=list)
    unattributed: Decimal = _ZERO
    triggers: list[Trigger] = field(default_factory=list)
    price_decimals: int = 2
    size_decimals: int = 4


def _owners(account: ExchangeAccount, market_id: int) -> list[Owner]:
    bots = ownership.market_bots(account.pk).filter(market__market_id=market_id).order_by("pk")
    return [
        Owner(bot.pk, bot.name, ownership.bot_position(bot.pk, account.pk), bot.desired_state)
        for bot in bots
    ]


def _trigger(order: OrderInfo) -> Trigger:
    kind = "take_profit" if order.order_type.startswith("take-profit") else "stop_loss"
    return Trigger(
        kind,
        order.order_index,
        order.client_order_index,
        order.trigger_price,
        order.price,
        order.status,
    )


def _row(account: ExchangeAccount, position: PositionInfo, orders: list[OrderInfo]) -> PositionRow:
    owners = _owners(account, position.market_id)
    market = Market.objects.filter(network=account.network, market_id=position.market_id).first()
    size = position.signed_size
    mark = position.position_value / position.size if position.size else _ZERO
    return PositionRow(
        market_id=position.market_id,
        symbol=position.symbol,
        size=size,
        side=position.side.value if size else "flat",
        entry_price=position.avg_entry_price,
        mark_price=mark,
        unrealized_pnl=position.unrealized_pnl,
        liquidation_price=position.liquidation_price,
        leverage=position.leverage,
        margin_mode=position.margin_mode.value,
        owners=owners,
        unattributed=unattributed_of(size, (o.size for o in owners)),
        triggers=[
            _trigger(o)
            for o in orders
            if o.market_id == position.market_id and o.order_type in TRIGGER_TYPES and o.is_active
        ],
        price_decimals=market.price_decimals if market else 2,
        size_decimals=market.size_decimals if market else 4,
    )


def account_positions(account: ExchangeAccount) -> list[PositionRow]:
    """The account's open positions, read live from the exchange (two requests)."""
    _require_signing(account)

    async def read() -> tuple[list[Any], list[Any]]:
        with operator_lane():
            async with account.client() as client:
                positions = await client.positions()
                orders = await client.open_orders() if positions else []
                return positions, orders

    positions, orders = exchange_run(account, read)
    return [_row(account, p, orders) for p in positions if p.size]


def _require_signing(account: ExchangeAccount) -> None:
    if not account_can_sign(account):
        raise PositionActionRefused(
            "Set the account index, API key index and key first.", field="account", status=400
        )


# -- close --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    """One reduce-only IOC order of a close and what it filled."""

    client_order_index: int
    size: Decimal
    filled: Decimal
    state: str
    average_price: Decimal | None = None


@dataclass
class CloseOutcome:
    """What a close achieved, read back from the account after every chunk."""

    account_id: int
    market_id: int
    symbol: str
    status: str  # closed | partially_closed | failed
    initial_size: Decimal
    remaining_size: Decimal
    worst_price: Decimal
    chunks: list[Chunk] = field(default_factory=list)
    average_price: Decimal | None = None
    reason: str = ""
    bots_stopped: list[int] = field(default_factory=list)

    @property
    def closed_size(self) -> Decimal:
        """How much of the position was closed (absolute)."""
        return abs(self.initial_size) - abs(self.remaining_size)


def _depth_within(levels: Sequence[Any], worst: Decimal, selling: bool) -> Decimal:
    """Size the book shows at prices no worse than `worst` for our side."""
    return sum(
        (lvl.size for lvl in levels if (lvl.price >= worst if selling else lvl.price <= worst)),
        _ZERO,
    )


async def _close_chunks(
    client: LighterClient,
    market_id: int,
    *,
    worst_price: Decimal | None,
    max_slippage: Decimal,
    indexes: Iterator[int],
) -> CloseOutcome:
    info = await client.market(market_id)
    units = MarketUnits(size_decimals=info.size_decimals, price_decimals=info.price_decimals)
    position = (await client.account()).position(market_id)
    outcome = CloseOutcome(0, market_id, info.symbol, "closed", _ZERO, _ZERO, _ZERO)
    if position is None or position.size == 0:
        outcome.reason = "no position"
        return outcome
    long = position.side is PositionSide.LONG
    selling = long
    side = OrderSide.SELL if selling else OrderSide.BUY
    outcome.initial_size = remaining = position.signed_size
    if worst_price is None:
        top = await client.book_top(market_id)
        best = top.bid if selling else top.ask
        if best is None:
            raise PositionActionRefused(f"{info.symbol}: the book is empty on the closing side")
        worst_price = best * (1 - max_slippage) if selling else best * (1 + max_slippage)
    worst_price = units.price(units.price_ticks(worst_price, is_ask=not selling))
    outcome.worst_price = worst_price
    quote = _ZERO
    for _ in range(MAX_CHUNKS):
        book = await client.order_book(market_id, depth=50)
        available = _depth_within(book.bids if selling else book.asks, worst_price, selling)
        deadline = time.monotonic() + REFILL_WAIT_S
        while available <= 0 and time.monotonic() < deadline:
            await asyncio.sleep(REFILL_POLL_S)
            book = await client.order_book(market_id, depth=50)
            available = _depth_within(book.bids if selling else book.asks, worst_price, selling)
        if available <= 0:
            outcome.reason = f"no liquidity within the worst price {worst_price}"
            break
        size = min(abs(remaining), available)
        ticket = await client.place_order(
            market_id, side, size, worst_price, next(indexes), ioc=True, reduce_only=True
        )
        ticket = await client.resolve(ticket, CHUNK_RESOLVE_S, final=True)
        after = (await client.account()).position(market_id)
        now = _ZERO if after is None or after.side is not position.side else after.signed_size
        filled = abs(remaining) - abs(now)
        quote += ticket.filled_quote
        outcome.chunks.append(
            Chunk(ticket.client_order_index, size, filled, ticket.state.value, ticket.average_price)
        )
        remaining = now
        if remaining == 0:
            break
        if filled <= 0:
            outcome.reason = ticket.reason or "the order filled nothing"
            break
    outcome.remaining_size = remaining
    closed = outcome.closed_size
    traded = sum((c.filled for c in outcome.chunks), _ZERO)
    if traded and quote:
        outcome.average_price = units.price(units.price_ticks(quote / traded, is_ask=selling))
    if remaining == 0:
        outcome.status = "closed"
    else:
        outcome.status = "partially_closed" if closed > 0 else "failed"
        outcome.reason = outcome.reason or f"{ownership.plain(abs(remaining))} left"
    return outcome


def position_close(
    account: ExchangeAccount,
    market_id: int,
    *,
    actor: str,
    confirm: bool,
    worst_price: Decimal | None = None,
    max_slippage: Decimal | None = None,
    include_bots: bool = False,
) -> CloseOutcome:
    """Close the account's position on `market_id` (verified, reduce-only, chunked).

    `worst_price` set: a limit close (nothing trades beyond it); else a market close bounded by
    `max_slippage` from the best price. Refused while an active bot owns part of the position
    unless `include_bots` (then those bots are emergency-stopped first).
    """
    if not confirm:
        raise PositionActionRefused(
            "Closing trades on the exchange: confirm it explicitly.", field="confirm", status=400
        )
    if worst_price is not None and worst_price <= 0:
        raise PositionActionRefused("must be positive", field="worst_price", status=400)
    slippage = DEFAULT_MAX_SLIPPAGE if max_slippage is None else max_slippage
    if not _ZERO < slippage <= MAX_SLIPPAGE_CAP:
        raise PositionActionRefused(
            f"must be above 0 and at most {MAX_SLIPPAGE_CAP}", field="max_slippage", status=400
        )
    _require_signing(account)
    owners = _owners(account, market_id)
    active = [o for o in owners if o.active and o.size]
    if active and not include_bots:
        names = ", ".join(f"{o.name} ({ownership.plain(o.size)})" for o in active)
        raise PositionActionRefused(
            f"Bots that are not stopped own part of this position: {names}. Stop them first, "
            "or include them (they are emergency-stopped before the close).",
            field="include_bots",
        )
    stopped: list[int] = []
    for owner in active:
        bot = ownership.bot_of_kind(owner.bot_id)
        services.bot_emergency_stop(bot, actor=f"{actor} (closing the position)")
        stopped.append(bot.pk)
    indexes = iter(account.allocate_client_order_indexes(CLOSE_INDEXES))

    async def close() -> CloseOutcome:
        with operator_lane():
            async with account.client() as client:
                return await _close_chunks(
                    client,
                    market_id,
                    worst_price=worst_price,
                    max_slippage=slippage,
                    indexes=indexes,
                )

    outcome = exchange_run(account, close)
    outcome.account_id = account.pk
    outcome.bots_stopped = stopped
    _record_close(account, outcome, owners, actor)
    return outcome


def _record_close(
    account: ExchangeAccount, outcome: CloseOutcome, owners: list[Owner], actor: str
) -> None:
    market = Market.objects.filter(network=account.network, market_id=outcome.market_id).first()
    text = (
        f"position {outcome.symbol} close by {actor}: {outcome.status}, "
        f"{ownership.plain(outcome.closed_size)} closed in {len(outcome.chunks)} order(s) "
        f"within {outcome.worst_price}, {ownership.plain(abs(outcome.remaining_size))} left"
        + (f" ({outcome.reason})" if outcome.reason and outcome.status != "closed" else "")
    )
    level = EventLevel.INFO if outcome.status == "closed" else EventLevel.WARNING
    data = {
        "status": outcome.status,
        "closed": str(outcome.closed_size),
        "remaining": str(outcome.remaining_size),
        "worst_price": str(outcome.worst_price),
        "chunks": len(outcome.chunks),
    }
    flat = outcome.status == "closed" and outcome.chunks and market is not None
    price = outcome.average_price or outcome.worst_price
    for owner in owners:
        bot = ownership.bot_of_kind(owner.bot_id)
        if flat and market is not None and owner.size:
            PositionTransfer.objects.create(
                account=account,
                market=market,
                bot=bot,
                size_base=-owner.size,
                price=price,
                note=f"closed by {actor}"[:200],
            )
        event_create(bot, "position_close", text, data, level)


# -- TP/SL --------------------------------------------------------------------------------------


def position_trigger_place(
    account: ExchangeAccount,
    market_id: int,
    *,
    actor: str,
    confirm: bool,
    take_profit: Decimal | None = None,
    stop_loss: Decimal | None = None,
    max_slippage: Decimal | None = None,
) -> list[Trigger]:
    """Place a position-tied take-profit and/or stop-loss; returns the triggers now resting."""
    if not confirm:
        raise PositionActionRefused("Confirm the TP/SL explicitly.", field="confirm", status=400)
    if take_profit is None and stop_loss is None:
        raise PositionActionRefused(
            "give a take-profit and/or a stop-loss price", field="take_profit", status=400
        )
    for name, value in (("take_profit", take_profit), ("stop_loss", stop_loss)):
        if value is not None and value <= 0:
            raise PositionActionRefused("must be positive", field=name, status=400)
    slippage = DEFAULT_MAX_SLIPPAGE if max_slippage is None else max_slippage
    if not _ZERO < slippage <= MAX_SLIPPAGE_CAP:
        raise PositionActionRefused(
            f"must be above 0 and at most {MAX_SLIPPAGE_CAP}", field="max_slippage", status=400
        )
    _require_signing(account)
    indexes = iter(account.allocate_client_order_indexes(2))

    async def place() -> list[Any]:
        with operator_lane():
            async with account.client() as client:
                position = (await client.account()).position(market_id)
                if position is None or position.size == 0:
                    raise PositionActionRefused("there is no position on this market")
                long = position.side is PositionSide.LONG
                mark = position.position_value / position.size
                side = OrderSide.BUY if long else OrderSide.SELL

                def leg(trigger: Decimal) -> TriggerRequest:
                    # Limit price once triggered: the trigger less the allowed slippage.
                    price = trigger * (1 - slippage) if long else trigger * (1 + slippage)
                    return TriggerRequest(trigger, price, next(indexes))

                if take_profit is not None and (
                    take_profit <= mark if long else take_profit >= mark
                ):
                    raise PositionActionRefused(
                        f"a take-profit of a {position.side.value} must be "
                        f"{'above' if long else 'below'} the mark {mark:.2f}",
                        field="take_profit",
                        status=400,
                    )
                if stop_loss is not None and (stop_loss >= mark if long else stop_loss <= mark):
                    raise PositionActionRefused(
                        f"a stop-loss of a {position.side.value} must be "
                        f"{'below' if long else 'above'} the mark {mark:.2f}",
                        field="stop_loss",
                        status=400,
                    )
                if take_profit is not None and stop_loss is not None:
                    tickets = await client.place_grouped(
                        market_id,
                        take_profit=leg(take_profit),
                        stop_loss=leg(stop_loss),
                        position_side=side,
                    )
                else:
                    trigger = take_profit if take_profit is not None else stop_loss
                    assert trigger is not None
                    tickets = [
                        await client.place_position_trigger(
                            market_id,
                            leg(trigger),
                            take_profit=take_profit is not None,
                            position_side=side,
                        )
                    ]
                for ticket in tickets:
                    await client.resolve(ticket, CHUNK_RESOLVE_S)
                return [
                    o
                    for o in await client.open_orders(market_id)
                    if o.order_type in TRIGGER_TYPES and o.is_active
                ]

    orders = exchange_run(account, place)
    triggers = [_trigger(o) for o in orders]
    parts = [f"take-profit at {take_profit}"] if take_profit is not None else []
    parts += [f"stop-loss at {stop_loss}"] if stop_loss is not None else []
    _record_bots(account, market_id, "position_tpsl", f"{' and '.join(parts)} set by {actor}")
    return triggers


def position_trigger_cancel(
    account: ExchangeAccount, market_id: int, order_index: int, *, actor: str, confirm: bool
) -> None:
    """Cancel one TP/SL of the position (verified: it is no longer open)."""
    if not confirm:
        raise PositionActionRefused("Confirm the cancel explicitly.", field="confirm", status=400)
    _require_signing(account)

    async def cancel() -> Any:
        with operator_lane():
            async with account.client() as client:
                orders = await client.open_orders(market_id)
                target = [o for o in orders if o.order_index == order_index]
                if not target or target[0].order_type not in TRIGGER_TYPES:
                    raise PositionActionRefused(
                        f"no TP/SL {order_index} on this market", field="order_index", status=404
                    )
                return await client.cancel_verified(market_id, target[0].client_order_index)

    ticket = exchange_run(account, cancel)
    if not ticket.is_final:
        raise ExchangeActionFailed(f"TP/SL {order_index} still open after the cancel")
    _record_bots(account, market_id, "position_tpsl", f"TP/SL {order_index} cancelled by {actor}")


def _record_bots(account: ExchangeAccount, market_id: int, kind: str, text: str) -> None:
    for bot in ownership.market_bots(account.pk).filter(market__market_id=market_id):
        event_create(bot, kind, text, None, EventLevel.INFO)
