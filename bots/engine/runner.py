"""The async loop of one grid bot: stream events in -> grid plan -> one batch out -> DB + events.

`run_bot(bot_id, fence=..., lease=...)` is what `bots.tasks.run_bot_task` runs. The loop:

1. opens the account stream for the bot's market and waits for the first book;
2. recovers (`bots.engine.recovery`): adopts our resting orders, records missed fills, takes over
the
   position, keeps the lattice anchor of earlier runs;
3. reacts to events: a book change may roll the centre (only when the price crosses a step), a
   fill moves the centre to its level, an order report updates the live set. After each burst of
   events the plan is diffed against the live orders and, if anything differs, the cancels and
   creates go out as ONE `sendTxBatch`, intents persisted first (design decision 2);
4. ticks at least every `CONTROL_POLL_SECONDS`: reads the operator's desired state (stop, pause),
   renews the lease and writes the heartbeat every `HEARTBEAT_SECONDS`, reconciles over REST every
   `RECONCILE_SECONDS` and after reconnects, keeps the dead-man's switch armed.

Every DB write is fenced (`bots.engine.recording`); `LeaseLost` ends the loop without touching the
exchange again. Any other exception reaches the one top-level handler in `run_bot`, which logs the
traceback and marks the bot `error` with the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from bots.engine import intake, recording, recovery
from bots.engine.db_thread import db, own_db_thread
from bots.engine.recording import LeaseLost
from bots.engine.setup import Lease, bot_load, client_for, grid_config, live_order
from bots.models import BotStatus, DesiredState, EventLevel, Fill, GridBot, Order
from bots.strategies.accounting import Ledger
from bots.strategies.grid import (
    GridState,
    LiveOrder,
    MarketView,
    Side,
    desired_orders,
    on_fill,
    on_price,
    plan,
    risk_check,
)
from bots.strategies.orders import is_active
from exchange.client import LighterClient
from exchange.errors import ExchangeError, RejectedError
from exchange.orders import OrderRequest
from exchange.streams import (
    AccountStream,
    StreamEvent,
)
from exchange.types import OrderSide

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
CONTROL_POLL_SECONDS = 0.5
RECONCILE_SECONDS = 60.0
FIRST_BOOK_TIMEOUT_S = 20.0
# After a refused batch, wait before planning again instead of hammering the exchange.
REFUSED_BACKOFF_S = 5.0
DEAD_MANS_SWITCH_REARM_S = 60.0
# Ended orders remembered so a late fill report still finds its order's side and level.
ENDED_KEPT = 256


class BotRunner:
    """The state of one running bot; `run()` is the loop (see the module docstring)."""

    def __init__(self, bot: GridBot, fence: int, lease: Lease | None) -> None:
        self.bot = bot
        self.fence = fence
        self.lease = lease
        self.symbol = bot.market.symbol
        self.market_id = bot.market.market_id
        self.config = grid_config(bot)
        self.state: GridState | None = None
        self.position = Decimal(0)
        # The bot's books, folded from its fills at startup (recovery); names each round trip.
        self.ledger = Ledger()
        self.live: dict[int, LiveOrder] = {}
        # Filled size last reported per live order, and orders that just left the live set
        # (their fill report may come after the order report that ended them).
        self.filled: dict[int, Decimal] = {}
        # Batches sent since the last record (`bots.engine.intake.record` writes them).
        self.sent: list[recording.SentBatch] = []
        self.ended: OrderedDict[int, LiveOrder] = OrderedDict()
        self.cancelling: set[int] = set()
        self.paused = False
        self.client: LighterClient
        self.stream: AccountStream
        self.events: asyncio.Queue[StreamEvent] = asyncio.Queue()
        self.reconcile_due = True
        self._refused_until = 0.0
        self._next_heartbeat = 0.0
        self._next_reconcile = 0.0
        self._next_dms = 0.0
        self._next_control = 0.0
        self.finished: str | None = None
        # True while waiting for events with nothing to do (tests wait for quiet this way).
        self.idle = False
        self.book_fresh = True
        self.foreign_seen: set[int] = set()
        # Figures for tests and the benchmark: requests sent per plan, fill -> accepted latency.
        self.sends = 0
        self.on_accepted: Callable[[list[int]], None] | None = None

    # --- small helpers ------------------------------------------------------------------------

    async def event(
        self, kind: str, message: str, level: str = EventLevel.INFO, **data: Any
    ) -> None:
        """Record a BotEvent of this bot (fenced)."""
        await db(recording.event_add)(self.bot, self.fence, kind, message, level=level, data=data)

    async def update(self, **fields: Any) -> None:
        """Write run-state fields of the bot (fenced)."""
        await db(recording.bot_update)(self.bot, self.fence, **fields)

    def market_view(self) -> MarketView | None:
        """Best bid/ask and mid of the replicated book (None until both sides are known)."""
        book = self.stream.book(self.market_id)
        mid = book.mid
        if mid is None:
            return None
        return MarketView(book.best_bid, book.best_ask, mid)

    def track(self, rows: list[Order]) -> None:
        """Mirror Order rows into the live set (terminal rows leave it)."""
        for row in rows:
            index = row.client_order_index
            if is_active(row.status):
                self.live[index] = live_order(row)
                self.filled[index] = row.filled_base
                continue
            self.cancelling.discard(index)
            if index in self.live:
                self.forget(index, self.live[index])

    def forget(self, index: int, order: LiveOrder) -> None:
        """An order left the book: out of the live set, kept a while among the ended."""
        self.live.pop(index, None)
        self.filled.pop(index, None)
        self.ended[index] = order
        while len(self.ended) > ENDED_KEPT:
            self.ended.popitem(last=False)

    # --- the loop -----------------------------------------------------------------------------

    async def run(self) -> str:
        """Run until stopped (returns the final status) or the lease is lost (raises)."""
        async with client_for(self.bot) as client:
            self.client = client
            self.stream = client.open_stream([self.market_id])
            await self.stream.start()
            pump = asyncio.create_task(self._pump())
            try:
                await self._wait_first_book()
                await recovery.startup(self)
                await self.update(
                    status=BotStatus.RUNNING, status_message="", started_at=timezone.now()
                )
                await self.replan()
                return await self._loop()
            finally:
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pump
                await self.stream.stop()

    async def _pump(self) -> None:
        # One reader of the stream feeding a queue: waiting on the queue with a timeout is safe,
        # cancelling an async generator's __anext__ would end the generator.
        async for event in self.stream.events():
            self.events.put_nowait(event)

    async def _wait_first_book(self) -> None:
        deadline = time.monotonic() + FIRST_BOOK_TIMEOUT_S
        while self.market_view() is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ExchangeError(f"{self.symbol}: no order book within {FIRST_BOOK_TIMEOUT_S}s")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    event = await self.events.get()
                await self.on_event(event)

    async def _loop(self) -> str:
        while True:
            batch: list[StreamEvent] = []
            self.idle = True
            # asyncio.timeout, never wait_for: on Python 3.11 wait_for swallows a cancel that
            # lands in the turn an event arrives, and the cancelled runner would run on.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CONTROL_POLL_SECONDS):
                    batch.append(await self.events.get())
            self.idle = False
            while not self.events.empty():
                batch.append(self.events.get_nowait())
            # The plan needs only memory: the replenish goes out before the bookkeeping.
            burst = intake.take_in(self, batch)
            if batch:
                await self.replan()
            await intake.record(self, burst)
            final = await self.tick()
            if final is not None:
                await intake.record(self, intake.Burst())  # anything sent since the last record
                return final

    async def on_event(self, event: StreamEvent) -> None:
        """Apply one stream event to the bot's state and record it (sends are `replan`'s)."""
        await intake.record(self, intake.take_in(self, [event]))

    async def apply_new_fills(self, new: list[Fill]) -> None:
        """Each newly recorded fill moves the position and the centre to its level."""
        for fill in new:
            self.fill_applied(Side(fill.side), fill.size_base, fill.level_index)

    def fill_applied(self, side: Side, size_base: Decimal, level: int | None) -> None:
        """One of our orders traded `size_base`: the position moves, and the grid to its level."""
        self.position += size_base * side.sign
        if level is not None:
            self.move_to_fill(side, level)

    def move_to_fill(self, side: Side, level: int) -> None:
        """An order at `level` traded: the centre moves there (idempotent, see grid.on_fill)."""
        # The book that made this fill has not reached us yet (fills come first): rolling on
        # the old mid would undo the move the fill just made.
        self.book_fresh = False
        if self.state is not None:
            self.state = on_fill(self.state, self.config, side, level)

    # --- control ------------------------------------------------------------------------------

    async def tick(self) -> str | None:
        """Control, heartbeat, lease, reconcile, dead-man's switch; a final status ends the loop."""
        if self.finished is not None:
            return self.finished
        now = time.monotonic()
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + HEARTBEAT_SECONDS
            if self.lease is not None and not await asyncio.to_thread(self.lease.renew):
                raise LeaseLost(f"bot {self.bot.pk}: lease renewal refused")
            await self.update(heartbeat_at=timezone.now())
        if now < self._next_control:
            return None
        self._next_control = now + CONTROL_POLL_SECONDS
        desired, cancel_all_at = await db(recording.desired_state_get, writes=False)(self.bot.pk)
        if cancel_all_at is not None and desired != DesiredState.STOPPED:
            await self.cancel_all_orders(cancel_all_at)
        if desired == DesiredState.STOPPED:
            await self.stop_orders("stopped by the operator")
            await self.update(status=BotStatus.STOPPED, stopped_at=timezone.now())
            await self.event("stopped", "orders cancelled (verified); position kept")
            await recovery.dead_mans_switch_release(self)
            return BotStatus.STOPPED
        if (desired == DesiredState.PAUSED) != self.paused:
            self.paused = desired == DesiredState.PAUSED
            status = BotStatus.PAUSED if self.paused else BotStatus.RUNNING
            await self.update(status=status)
            await self.event(
                str(status), "resting orders kept, nothing new placed" if self.paused else "resumed"
            )
            if not self.paused:
                await self.replan()
        if self.reconcile_due or now >= self._next_reconcile:
            self.reconcile_due = False
            self._next_reconcile = now + RECONCILE_SECONDS
            await recovery.reconcile(self)
            await self.replan()
        if now >= self._next_dms:
            self._next_dms = now + DEAD_MANS_SWITCH_REARM_S
            await recovery.dead_mans_switch_arm(self)
        return None

    async def cancel_all_orders(self, requested_at: datetime) -> None:
        """The operator's "cancel all" for this bot (see `recovery.cancel_all_request`)."""
        await recovery.cancel_all_request(self, requested_at)

    async def stop_orders(self, reason: str) -> None:
        """Cancel every active order of the bot, verified (see `recovery.orders_cancel`)."""
        await recovery.orders_cancel(self, reason)

    # --- planning -----------------------------------------------------------------------------

    async def replan(self) -> None:
        """Roll if the price crossed a step, diff desired vs live, send the difference at once."""
        if self.paused or self.state is None or time.monotonic() < self._refused_until:
            return
        market = self.market_view()
        if market is None:
            return
        if self.book_fresh:
            self.state = on_price(self.state, self.config, market.mid)
        run_state: dict[str, Any] = {}
        if self.state.centre != self.bot.centre_index:
            run_state = {"centre_index": self.state.centre, "last_price": market.mid}
        risk = risk_check(self.config, self.position, market.mid)
        if risk.triggered:
            await recovery.risk_exit(self, risk)
            return
        desired = desired_orders(self.state, self.config, market, self.position)
        live = [o for i, o in self.live.items() if i not in self.cancelling]
        diff = plan(desired, live)
        if not diff.creates and not diff.cancels:
            if run_state:
                await self.update(**run_state)
            return
        rows = await db(recording.order_intents_create)(
            self.bot, self.fence, diff.creates, **run_state
        )
        self.track(rows)
        cancels = [o.client_order_index for o in diff.cancels]
        self.cancelling.update(cancels)
        requests = [
            OrderRequest(
                OrderSide(row.side),
                row.size_base,
                row.price,
                row.client_order_index,
                post_only=self.config.post_only,
            )
            for row in rows
        ]
        try:
            tickets = await self.client.replace_orders(self.market_id, cancels, requests)
        except RejectedError as exc:
            self._refused_until = time.monotonic() + REFUSED_BACKOFF_S
            self.cancelling.difference_update(cancels)
            await db(recording.orders_refused)(self.bot, self.fence, rows, str(exc))
            self.track(rows)
            await self.event("batch_refused", str(exc), EventLevel.ERROR, centre=self.state.centre)
            return
        self.sends += 1
        if self.on_accepted is not None:
            self.on_accepted([r.client_order_index for r in rows])
        hashes = {t.client_order_index: t.tx_hash for t in tickets}
        note = (
            "plan",
            f"centre {self.state.centre} @ {market.mid}: {diff.reason}",
            {"centre": self.state.centre, "created": [r.client_order_index for r in rows],
             "cancelled": cancels},
        )  # fmt: skip
        # Recorded (pending, tx hashes, the plan event) with the burst the loop records next.
        self.sent.append(
            recording.SentBatch(rows, [hashes.get(r.client_order_index, "") for r in rows], note)
        )
        self.track(rows)


async def run_bot(bot_id: int, *, fence: int, lease: Lease | None = None) -> str:
    """Run one bot until it stops; returns its final status ("stopped", "error", "lease_lost")."""
    return await run_runner(await runner_create(bot_id, fence=fence, lease=lease))


async def runner_create(bot_id: int, *, fence: int, lease: Lease | None = None) -> BotRunner:
    """A runner for the bot as it is in the database now (not started)."""
    return BotRunner(await db(bot_load)(bot_id), fence, lease)


async def run_runner(runner: BotRunner) -> str:
    """Run a runner to its end; the one top-level handler of the loop.

    Any error is logged with its traceback and the bot is marked `error` with the message
    (fenced, so a runner that lost its lease writes nothing).
    """
    bot_id = runner.bot.pk
    with own_db_thread(f"bot-{bot_id}-db"):
        return await _run_reporting_crashes(runner, bot_id)


async def _run_reporting_crashes(runner: BotRunner, bot_id: int) -> str:
    try:
        return await runner.run()
    except LeaseLost as exc:
        logger.warning("bot %s %s: %s; exiting", bot_id, runner.symbol, exc)
        return "lease_lost"
    except Exception as exc:  # the loop's one top-level handler (house style 6)
        logger.exception("bot %s %s crashed", bot_id, runner.symbol)
        message = f"{type(exc).__name__}: {exc}"[:500]
        try:
            await runner.update(status=BotStatus.ERROR, status_message=message)
            await runner.event("error", message, EventLevel.ERROR)
        except LeaseLost:
            logger.warning("bot %s %s: lease lost while reporting the crash", bot_id, runner.symbol)
        return BotStatus.ERROR
