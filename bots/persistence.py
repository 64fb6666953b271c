"""The runner's database writes: order intents, exchange reports, fills, funding, run state.

Every write is fenced (design decision 4): it happens only while `GridBot.lease_fence` still
equals the fence the runner was started with, checked on the locked bot row inside the same
transaction, else `LeaseLost` is raised and nothing is written. A runner that lost its lease to
a newer one therefore cannot overwrite the newer one's state.

Functions here are synchronous (Django ORM); the async runner calls them through
`sync_to_async`. Each write is followed by the matching `bots.broadcast` push (deferred to the
commit by broadcast itself).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import IntegrityError, transaction
from django.utils import timezone

from bots import accounting, broadcast
from bots.grid import DesiredOrder
from bots.models import (
    BotEvent,
    EventLevel,
    Fill,
    FundingPayment,
    GridBot,
    Order,
    OrderStatus,
)
from exchange.types import FillInfo, LiquidityRole, OrderInfo
from exchange.types import FundingPayment as FundingInfo

logger = logging.getLogger(__name__)

FEE_RATE_SCALE = Decimal(1_000_000)  # Lighter fee rates are in millionths
# Lighter charges fees on the USDC grid (6 decimals), rounded up in its own favour.
USDC_QUANTUM = Decimal("0.000001")
# Statuses in which an order may still rest on the book (or might, until reconciled).
ACTIVE_STATUSES = (
    OrderStatus.INTENT,
    OrderStatus.PENDING,
    OrderStatus.OPEN,
    OrderStatus.PARTIALLY_FILLED,
    OrderStatus.UNKNOWN,
)


P = ParamSpec("P")
T = TypeVar("T")


def db(fn: Callable[P, T]) -> Callable[P, Awaitable[T]]:
    """A sync ORM function made awaitable for the runner (one DB thread, as Django expects)."""
    return sync_to_async(fn, thread_sensitive=True)


class LeaseLost(Exception):
    """Another runner holds the bot now (its fence is newer): stop without touching anything."""


def _lock_fenced(bot_id: int, fence: int) -> None:
    # Locking the bot row serialises this write against a new holder's fence UPDATE.
    found = list(
        GridBot.objects.select_for_update()
        .filter(pk=bot_id, lease_fence=fence)
        .values_list("pk", flat=True)
    )
    if not found:
        raise LeaseLost(f"bot {bot_id}: lease fence {fence} is no longer current")


def bot_update(bot: GridBot, fence: int, **fields: Any) -> None:
    """Write run-state fields of the bot (status, centre, heartbeat...), fenced; push it."""
    with transaction.atomic():
        updated = GridBot.objects.filter(pk=bot.pk, lease_fence=fence).update(**fields)
        if not updated:
            raise LeaseLost(f"bot {bot.pk}: lease fence {fence} is no longer current")
        for name, value in fields.items():
            setattr(bot, name, value)
        if set(fields) - {"heartbeat_at"}:
            broadcast.bot_changed(bot)


def desired_state_get(bot_id: int) -> tuple[str, datetime | None]:
    """What the operator wants now: desired state and a pending cancel-all request time."""
    row = GridBot.objects.values_list("desired_state", "cancel_all_requested_at").get(pk=bot_id)
    return row[0], row[1]


def cancel_all_done(bot: GridBot, fence: int, requested_at: datetime) -> None:
    """Clear the operator's cancel-all request, unless a newer one arrived meanwhile."""
    with transaction.atomic():
        _lock_fenced(bot.pk, fence)
        GridBot.objects.filter(pk=bot.pk, cancel_all_requested_at=requested_at).update(
            cancel_all_requested_at=None
        )


def event_add(
    bot: GridBot,
    fence: int,
    kind: str,
    message: str,
    *,
    level: str = EventLevel.INFO,
    data: dict[str, Any] | None = None,
) -> BotEvent:
    """A fenced BotEvent of the runner (mirrored to the log and pushed live)."""
    with transaction.atomic():
        _lock_fenced(bot.pk, fence)
        return _event_create(bot, kind, message, data, level)


def _event_create(
    bot: GridBot,
    kind: str,
    message: str,
    data: dict[str, Any] | None,
    level: str = EventLevel.INFO,
) -> BotEvent:
    event = BotEvent.objects.create(
        bot=bot, account_id=bot.account_id, level=level, kind=kind, message=message,
        data=data or {},
    )  # fmt: skip
    broadcast.bot_event(event)
    log_level = {"debug": 10, "info": 20, "warning": 30, "error": 40}.get(level, 20)
    logger.log(log_level, "bot %s %s: %s: %s", bot.pk, bot.market.symbol, kind, message)
    return event


def order_intents_create(
    bot: GridBot, fence: int, orders: Sequence[DesiredOrder], **run_state: Any
) -> list[Order]:
    """Persist orders as intents with fresh client indexes from the account counter.

    Runs before anything is sent (design decision 2): a crash after this and before the send
    leaves intents that recovery resolves by asking the exchange for their client indexes.
    `run_state` (centre, last price) is written to the bot in the same transaction: one commit
    on the way from a fill to its replenish order.
    """
    with transaction.atomic():
        _lock_fenced(bot.pk, fence)
        if run_state:
            GridBot.objects.filter(pk=bot.pk).update(**run_state)
            for name, value in run_state.items():
                setattr(bot, name, value)
            broadcast.bot_changed(bot)
        if not orders:
            return []
        indexes = bot.account.allocate_client_order_indexes(len(orders))
        rows = Order.objects.bulk_create(
            Order(
                bot=bot,
                account_id=bot.account_id,
                market_id=bot.market_id,
                client_order_index=index,
                side=str(order.side),
                price=order.price,
                size_base=order.size_base,
                level_index=order.level,
                status=OrderStatus.INTENT,
            )
            for index, order in zip(indexes, orders, strict=True)
        )
        for row in rows:
            broadcast.order_changed(row)
    return rows


def orders_sent(
    bot: GridBot,
    fence: int,
    rows: Sequence[Order],
    tx_hashes: Sequence[str],
    note: tuple[str, str, dict[str, Any]] | None = None,
) -> None:
    """Intents accepted by the exchange: pending until the stream or REST says more.

    `note` (kind, message, data) is the plan's BotEvent, written in the same transaction.
    """
    now = timezone.now()
    with transaction.atomic():
        _lock_fenced(bot.pk, fence)
        if note is not None:
            _event_create(bot, *note)
        for row, tx_hash in zip(rows, tx_hashes, strict=True):
            # A fast stream report may already have moved the row past pending.
            Order.objects.filter(pk=row.pk, status=OrderStatus.INTENT).update(
                status=OrderStatus.PENDING, tx_hash=tx_hash, sent_at=now
            )
            row.status, row.tx_hash, row.sent_at = OrderStatus.PENDING, tx_hash, now
            broadcast.order_changed(row)


def orders_refused(bot: GridBot, fence: int, rows: Sequence[Order], reason: str) -> None:
    """Intents the exchange refused outright (HTTP 400): rejected with its reason."""
    now = timezone.now()
    with transaction.atomic():
        _lock_fenced(bot.pk, fence)
        for row in rows:
            Order.objects.filter(pk=row.pk).update(
                status=OrderStatus.REJECTED, reason=reason[:500], resolved_at=now
            )
            row.status, row.reason = OrderStatus.REJECTED, reason
            broadcast.order_changed(row)


def status_of(info: OrderInfo) -> str:
    """Our Order status for an exchange order report."""
    if info.status == "filled":
        return OrderStatus.FILLED
    if info.is_active:
        return OrderStatus.PARTIALLY_FILLED if info.filled_size > 0 else OrderStatus.OPEN
    return OrderStatus.CANCELED if info.status.startswith("canceled") else OrderStatus.REJECTED


def orders_report(bot: GridBot, fence: int, infos: Iterable[OrderInfo]) -> list[Order]:
    """Apply exchange order reports to this bot's rows; returns the rows that changed.

    Reports of orders that are not this bot's (other bots on the account, foreign orders) are
    ignored here; recovery reports foreign ones.
    """
    by_index = {info.client_order_index: info for info in infos}
    if not by_index:
        return []
    changed: list[Order] = []
    now = timezone.now()
    with transaction.atomic():
        _lock_fenced(bot.pk, fence)
        rows = Order.objects.filter(bot=bot, client_order_index__in=list(by_index))
        for row in rows:
            info = by_index[row.client_order_index]
            status = status_of(info)
            if row.status in (OrderStatus.FILLED, OrderStatus.CANCELED) and status != row.status:
                continue  # terminal rows never move back (a stale report arrived late)
            if (row.status, row.filled_base, row.order_index) == (
                status,
                info.filled_size,
                info.order_index,
            ):
                continue
            row.status = status
            row.order_index = info.order_index or row.order_index
            row.filled_base = max(row.filled_base, info.filled_size)
            row.exchange_status = info.status
            if status in (OrderStatus.CANCELED, OrderStatus.REJECTED):
                row.reason = info.status
            if status not in ACTIVE_STATUSES:
                row.resolved_at = now
            row.save(
                update_fields=[
                    "status", "order_index", "filled_base", "exchange_status", "reason",
                    "resolved_at", "updated_at",
                ]
            )  # fmt: skip
            broadcast.order_changed(row)
            changed.append(row)
    return changed


def orders_resolved_missing(bot: GridBot, fence: int, rows: Sequence[Order], reason: str) -> None:
    """Rows the exchange has no record of: never executed (a crash before or during the send)."""
    orders_refused(bot, fence, rows, reason)


def fee_of(info: FillInfo) -> Decimal:
    """Quote fee of a fill (positive when paid) from Lighter's rate in millionths."""
    fee = info.quote * Decimal(info.fee_rate_e6) / FEE_RATE_SCALE
    return fee.quantize(USDC_QUANTUM, rounding=ROUND_CEILING)


def fills_record(
    bot: GridBot, fence: int, infos: Iterable[FillInfo], ledger: accounting.Ledger
) -> list[Fill]:
    """Record this bot's fills exactly once (unique trade id per account); returns the new ones.

    A fill belongs to the bot when its client index is one of the bot's orders on its market.
    New fills are booked, oldest first, in `ledger` (the runner's books, loaded at startup by
    `selectors.bot_ledger`), which names the round trip each one belongs to.
    """
    candidates = [f for f in infos if f.market_id == bot.market.market_id]
    if not candidates:
        return []
    orders = {
        o.client_order_index: o
        for o in Order.objects.filter(
            bot=bot, client_order_index__in={f.client_order_index for f in candidates}
        )
    }
    created: list[Fill] = []
    with transaction.atomic():
        _lock_fenced(bot.pk, fence)
        known = set(
            Fill.objects.filter(
                account_id=bot.account_id, trade_id__in=[f.trade_id for f in candidates]
            ).values_list("trade_id", flat=True)
        )
        for info in sorted(candidates, key=lambda f: (f.timestamp_ms, f.trade_id)):
            order = orders.get(info.client_order_index)
            if order is None or info.trade_id in known:
                continue
            known.add(info.trade_id)
            side, level = str(info.side), order.level_index
            fee, is_maker = fee_of(info), info.role is LiquidityRole.MAKER
            ledger.apply_fill(
                accounting.Fill(info.trade_id, side, info.price, info.size, fee, is_maker, level)
            )
            try:
                with transaction.atomic():
                    fill = Fill.objects.create(
                        account_id=bot.account_id,
                        market_id=bot.market_id,
                        order=order,
                        bot=bot,
                        trade_id=info.trade_id,
                        side=side,
                        price=info.price,
                        size_base=info.size,
                        fee=fee,
                        is_maker=is_maker,
                        level_index=level,
                        round_trip_id=ledger.round_trip_of(info.trade_id),
                        executed_at=datetime.fromtimestamp(info.timestamp_ms / 1000, tz=UTC),
                    )
            except IntegrityError:
                # Another runner of the account recorded it between our read and insert.
                continue
            broadcast.fill_recorded(fill)
            _event_create(
                bot,
                "fill",
                f"{fill.side} {fill.size_base} @ {fill.price} (level {fill.level_index})",
                {"trade_id": fill.trade_id, "level_index": fill.level_index},
            )
            created.append(fill)
    return created


def funding_record(bot: GridBot, fence: int, payments: Iterable[FundingInfo]) -> int:
    """Record funding payments of the bot's market once (unique per account); returns new count."""
    count = 0
    with transaction.atomic():
        _lock_fenced(bot.pk, fence)
        for payment in payments:
            if payment.market_id != bot.market.market_id:
                continue
            _, created = FundingPayment.objects.get_or_create(
                account_id=bot.account_id,
                funding_id=payment.funding_id,
                defaults={
                    "market_id": bot.market_id,
                    "bot": bot,
                    "amount": payment.change,
                    "rate": payment.rate,
                    "position_size_base": payment.position_size,
                    "paid_at": datetime.fromtimestamp(payment.timestamp_s, tz=UTC),
                },
            )
            count += created
    return count


def active_orders(bot: GridBot) -> list[Order]:
    """The bot's orders that may still rest (for the plan and for recovery)."""
    return list(Order.objects.filter(bot=bot, status__in=ACTIVE_STATUSES))
