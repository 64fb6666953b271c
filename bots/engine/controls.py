"""The exchange side of the operator's controls: cancels and closes, each verified by reading back.

`bots.services` decides *what* to do (desired states, events); this module does it on the exchange
and checks the result: a cancel is done when the open orders read back from the exchange no
longer contain the targets, not when the cancel transaction was accepted (decision 2).

Every exchange call here is an operator command: it draws from the budget's operator lane
(`exchange.budget.operator_lane`), the share that routine traffic never spends, so it never
waits behind the runners' placements or the account refreshes.

`bot_orders_cancel_offline` is what runs when no runner is alive for a bot (a stop or cancel-all
of a crashed or never-started bot): it takes the bot's lease itself, so no runner can start
while it works, and writes through the same fenced persistence as the runner.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

import redis
from asgiref.sync import async_to_sync
from django.conf import settings
from django.utils import timezone

from bots.engine import recording, reports
from bots.engine.leases import BotLease, fence_claim, fence_floor, lease_ttl_seconds
from bots.models import Bot, BotStatus, DesiredState, EventLevel, ExchangeAccount, Order
from bots.strategies.orders import ACTIVE
from exchange.budget import operator_lane
from exchange.errors import pause
from exchange.redis_clients import redis_client
from exchange.types import FillInfo
from lighterweb.crypto import SecretDecryptionError

if TYPE_CHECKING:
    from exchange.client import LighterClient
    from exchange.types import OrderInfo

logger = logging.getLogger(__name__)

T = TypeVar("T")
ERROR_TEXT_LIMIT = 500
CANCEL_VERIFY_TIMEOUT_S = 10.0
# Between read-backs: long enough for a standard-tier cancel (200-300 ms) to execute, short
# enough to answer within a few seconds; each read-back costs one request of the budget.
CANCEL_POLL_S = 0.5
CANCEL_RESEND_S = 2.0
# An account-wide cancel of several accounts: each answers within this or is reported unreachable.
ACCOUNT_CANCEL_TIMEOUT_S = 5.0
CLOSE_ORDER_INDEXES = 3  # close_position retries up to 3 market orders, each needs an index


class ExchangeActionFailed(Exception):
    """An account/market action failed at the exchange; the message is safe to show."""


@dataclass(frozen=True)
class CancelReport:
    """What a verified cancel achieved on one account."""

    account_id: int
    market_id: int | None
    cancelled: int
    remaining: tuple[int, ...] = ()
    error: str = ""
    # From the operator's command (or the start of the cancel) to this account's answer.
    seconds: float = 0.0

    @property
    def verified(self) -> bool:
        """True when the read-back found none of the targeted orders open."""
        return not self.remaining and not self.error


@dataclass(frozen=True)
class CloseReport:
    """The outcome of closing one position."""

    account_id: int
    symbol: str
    status: str
    closed: Decimal
    remaining: Decimal
    reason: str = ""
    # The closing orders' fills, read back once the close ended (`account_market_close`).
    fills: tuple[FillInfo, ...] = ()


@dataclass
class EmergencyReport:
    """Emergency stop of everything: bots stopped and one verified cancel per account."""

    bots_stopped: list[int] = field(default_factory=list)
    cancels: list[CancelReport] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        """True when every account's open orders read back empty."""
        return all(report.verified for report in self.cancels)


# -- clients ------------------------------------------------------------------------------------


def exchange_run(account: ExchangeAccount, call: Callable[[], Awaitable[T]]) -> T:
    """Run one exchange coroutine from sync code, turning failures into ExchangeActionFailed."""
    from exchange.errors import ExchangeError

    try:
        return async_to_sync(call)()
    except (ExchangeError, SecretDecryptionError, OSError, TimeoutError) as exc:
        # Exchange errors never carry the key (client contract); keep the text short anyway.
        message = f"{type(exc).__name__}: {exc}"[:ERROR_TEXT_LIMIT]
        logger.warning("account %s (%s): exchange action failed: %s", account.pk, account, message)
        raise ExchangeActionFailed(message) from exc


def account_can_sign(account: ExchangeAccount) -> bool:
    """Whether the account has what signing needs (index, key index, stored key)."""
    return (
        account.account_index is not None
        and account.api_key_index is not None
        and account.has_api_private_key
    )


# -- verified cancels ---------------------------------------------------------------------------


async def _open_targets(
    client: LighterClient, market_id: int | None, own: Collection[int] | None
) -> list[OrderInfo]:
    orders = await client.open_orders(market_id)
    return [o for o in orders if o.is_active and (own is None or o.client_order_index in own)]


async def orders_cancel_verified(
    client: LighterClient,
    market_id: int | None,
    own: Collection[int] | None = None,
    *,
    timeout_s: float = CANCEL_VERIFY_TIMEOUT_S,
) -> tuple[int, list[int]]:
    """Cancel open orders and read back until none of them is open; (cancelled, remaining).

    `own` limits the cancel to those client order indexes (a bot's orders), else every open
    order (of `market_id`, or of every market when None) goes. Cancels are sent again while
    targets stay open, because a runner that has not noticed its stop yet may still place.
    """
    deadline = time.monotonic() + timeout_s
    seen: set[int] = set()
    next_send = 0.0
    while True:
        targets = await _open_targets(client, market_id, own)
        seen.update(o.client_order_index for o in targets)
        if not targets:
            return len(seen), []
        now = time.monotonic()
        if now >= deadline:
            return len(seen), sorted(o.client_order_index for o in targets)
        if now >= next_send:
            next_send = now + CANCEL_RESEND_S
            await _send_cancels(client, market_id, own, targets)
        await pause(CANCEL_POLL_S)


async def _send_cancels(
    client: LighterClient,
    market_id: int | None,
    own: Collection[int] | None,
    targets: list[OrderInfo],
) -> None:
    if own is None:
        # One cancel-all transaction instead of one cancel per order.
        await client.cancel_all(market_id)
        return
    by_market: dict[int, list[int]] = defaultdict(list)
    for order in targets:
        by_market[order.market_id].append(order.order_index)
    for target_market, indexes in by_market.items():
        await client.cancel_orders(target_market, indexes)


def account_cancel_all(account: ExchangeAccount, market_id: int | None) -> CancelReport:
    """Cancel every open order of the account (in one market or all), verified; never raises."""
    if not account_can_sign(account):
        return CancelReport(account.pk, market_id, 0, error="no API key configured")

    async def cancel() -> tuple[int, list[int]]:
        with operator_lane():
            async with account.client() as client:
                return await orders_cancel_verified(client, market_id)

    try:
        cancelled, remaining = exchange_run(account, cancel)
    except ExchangeActionFailed as exc:
        return CancelReport(account.pk, market_id, 0, error=str(exc))
    report = CancelReport(account.pk, market_id, cancelled, tuple(remaining))
    logger.info("account %s: cancel-all market %s: %s", account.pk, market_id, report)
    return report


def accounts_cancel_all(
    accounts: list[ExchangeAccount],
    market_id: int | None,
    *,
    timeout_s: float = ACCOUNT_CANCEL_TIMEOUT_S,
    since: float | None = None,
) -> list[CancelReport]:
    """`account_cancel_all` of several accounts at once, one report each, in their order.

    The accounts are cancelled concurrently and each is bounded by `timeout_s`, so an unreachable
    or slow account neither hides the others' verified results nor delays them: it is reported
    with its own error after at most `timeout_s`. Never raises. `since` (a `time.monotonic()`
    instant, default now) is when the operator asked: each report says how long its answer took.
    """
    from exchange.errors import ExchangeError

    started = time.monotonic() if since is None else since

    reports: dict[int, CancelReport] = {}
    clients: list[tuple[ExchangeAccount, LighterClient]] = []
    for account in accounts:
        if not account_can_sign(account):
            reports[account.pk] = CancelReport(account.pk, market_id, 0, error="no API key")
            continue
        try:
            clients.append((account, account.client()))
        except SecretDecryptionError as exc:
            reports[account.pk] = CancelReport(account.pk, market_id, 0, error=str(exc))

    async def one(account: ExchangeAccount, client: LighterClient) -> CancelReport:
        report = await bounded(account, client)
        return dataclasses.replace(report, seconds=round(time.monotonic() - started, 3))

    async def bounded(account: ExchangeAccount, client: LighterClient) -> CancelReport:
        try:
            with operator_lane():
                async with asyncio.timeout(timeout_s), client:
                    # The read-back's own bound ends first: "still open" beats "no answer".
                    cancelled, remaining = await orders_cancel_verified(
                        client, market_id, timeout_s=max(timeout_s - 1, timeout_s / 2)
                    )
        except TimeoutError:
            error = f"no verified answer within {timeout_s:g}s (exchange unreachable?)"
            return CancelReport(account.pk, market_id, 0, error=error)
        except (ExchangeError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:ERROR_TEXT_LIMIT]
            return CancelReport(account.pk, market_id, 0, error=error)
        return CancelReport(account.pk, market_id, cancelled, tuple(remaining))

    async def every() -> list[CancelReport]:
        return list(await asyncio.gather(*(one(a, c) for a, c in clients)))

    if clients:
        for report in async_to_sync(every)():
            reports[report.account_id] = report
    for account in accounts:
        logger.info("account %s: cancel-all market %s: %s", account.pk, market_id,
                    reports[account.pk])  # fmt: skip
    return [reports[account.pk] for account in accounts]


# -- a bot without a live runner ----------------------------------------------------------------


def _redis() -> redis.Redis:
    return redis_client(settings.REDIS_URL)


def bot_orders_cancel_offline(bot_id: int, *, reason: str) -> str:
    """Cancel a bot's orders while no runner is alive, verified; finish its stop if asked.

    Returns "runner-alive" (the live runner will act), "outfenced", "done" or "failed".
    """
    client_redis = _redis()
    lease = BotLease(client_redis, bot_id, ttl_s=lease_ttl_seconds())
    try:
        fence = lease.acquire(floor=fence_floor(bot_id))
        if fence is None:
            return "runner-alive"
        if not fence_claim(bot_id, fence):
            return "outfenced"
        # Any kind: a hedge bot's resting orders are its maker leg's, on its first account.
        bot = Bot.objects.select_related("account", "market").get(pk=bot_id)
        return _cancel_with_fence(bot, fence, reason)
    finally:
        lease.release()
        client_redis.close()


LOCKED_STOP_MESSAGE = (
    "stopped while the account's key is locked: nothing could be cancelled; resting orders are "
    "left to the dead-man's switch"
)


def bot_order_indexes(bot: Bot) -> tuple[set[int], list[int]]:
    """The client indexes of the bot's orders on its first account's market: all of them (what
    a cancel may target) and those whose rows may still rest (whose end is read back)."""
    rows = Order.objects.filter(bot=bot, account_id=bot.account_id, market=bot.market)
    own = set(rows.values_list("client_order_index", flat=True))
    active = list(rows.filter(status__in=ACTIVE).values_list("client_order_index", flat=True))
    return own, active


async def leftovers_cancel(
    client: LighterClient, market_id: int, own: set[int], active: list[int]
) -> tuple[int, list[int], list[OrderInfo]]:
    """Cancel whatever of `own` rests (verified), then read the end of every `active` order:
    (cancelled, still open, the exchange's reports of `active`)."""
    cancelled, remaining = await orders_cancel_verified(client, market_id, own)
    finals = await client.orders_by_client_index(active) if active else []
    return cancelled, remaining, finals


def leftovers_record(bot: Bot, fence: int, active: list[int], finals: list[OrderInfo]) -> None:
    """The ends `leftovers_cancel` read, on the bot's rows; an active row the exchange has no
    record of was an intent of a dead runner that never went out."""
    reports.orders_report(bot, fence, finals)
    seen = {info.client_order_index for info in finals}
    never_sent = [
        row
        for row in Order.objects.filter(
            bot=bot, account_id=bot.account_id, client_order_index__in=active
        )
        if row.client_order_index not in seen
    ]
    if never_sent:
        recording.orders_resolved_missing(bot, fence, never_sent, "never executed by the exchange")


def _cancel_with_fence(bot: Bot, fence: int, reason: str) -> str:
    account, market_id = bot.account, bot.market.market_id
    if account.is_locked:
        return _locked_cancel(bot, fence, reason)
    own, active = bot_order_indexes(bot)

    async def cancel() -> tuple[int, list[int], list[OrderInfo]]:
        with operator_lane():
            async with account.client() as client:
                return await leftovers_cancel(client, market_id, own, active)

    try:
        cancelled, remaining, finals = exchange_run(account, cancel)
    except ExchangeActionFailed as exc:
        recording.event_add(bot, fence, "cancel_failed", f"{reason}: {exc}", level=EventLevel.ERROR)
        return "failed"
    leftovers_record(bot, fence, active, finals)
    if remaining:
        recording.event_add(
            bot,
            fence,
            "cancel_failed",
            f"{reason}: {len(remaining)} orders still open after {CANCEL_VERIFY_TIMEOUT_S:.0f}s",
            level=EventLevel.ERROR,
            data={"remaining": remaining},
        )
        return "failed"
    desired, _ = recording.desired_state_get(bot.pk)
    changes: dict[str, Any] = {"cancel_all_requested_at": None}
    if desired == DesiredState.STOPPED:
        changes |= {"status": BotStatus.STOPPED, "stopped_at": timezone.now()}
    recording.bot_update(bot, fence, **changes)
    recording.event_add(
        bot,
        fence,
        "orders_cancelled",
        f"{reason}: {cancelled} orders cancelled (verified); position kept",
        data={"cancelled": cancelled},
    )
    return "done"


def _locked_cancel(bot: Bot, fence: int, reason: str) -> str:
    """No key in this process (engine.key_handoff hands it to bots workers only): a stop still
    ends, saying what was left; a cancel-all waits for a runner with the key."""
    desired, _ = recording.desired_state_get(bot.pk)
    if desired != DesiredState.STOPPED:
        recording.event_add(
            bot, fence, "cancel_failed", f"{reason}: the account's key is locked",
            level=EventLevel.WARNING,
        )  # fmt: skip
        return "failed"
    recording.bot_update(
        bot, fence, status=BotStatus.STOPPED, stopped_at=timezone.now(),
        status_message=LOCKED_STOP_MESSAGE,
    )  # fmt: skip
    recording.event_add(bot, fence, "stopped", LOCKED_STOP_MESSAGE, level=EventLevel.WARNING)
    return "done"


# -- positions ----------------------------------------------------------------------------------


def account_market_close(account: ExchangeAccount, market_id: int) -> CloseReport:
    """Close the account's position on one market with verified reduce-only market orders; the
    report carries the closing orders' fills (for the owning bot's books)."""
    indexes = account.allocate_client_order_indexes(CLOSE_ORDER_INDEXES)

    async def close() -> tuple[Any, list[FillInfo]]:
        with operator_lane():
            async with account.client() as client:
                result = await client.close_position(market_id, indexes)
                page = await client.fills(market_id, limit=100)
        return result, [f for f in page.items if f.client_order_index in indexes]

    result, fills = exchange_run(account, close)
    logger.warning("account %s: closed %s position: %s", account.pk, result.symbol, result)
    return CloseReport(
        account.pk,
        result.symbol,
        result.status.value,
        result.closed_size,
        result.remaining_size,
        result.reason,
        tuple(fills),
    )
