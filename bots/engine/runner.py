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
4. applies the operator's desired state (stop, pause, cancel-all) as soon as a command is pushed
   (`bots.engine.commands`), before planning again; with no push it reads the desired state only
   every `CONTROL_FALLBACK_SECONDS`, in case a push was lost;
5. ticks at least every `TICK_SECONDS`: renews the lease and writes the heartbeat every
   `HEARTBEAT_SECONDS`, reconciles over REST every `RECONCILE_SECONDS` and after reconnects,
   keeps the dead-man's switch armed.

Every DB write is fenced (`bots.engine.recording`); `LeaseLost` ends the loop without touching the
exchange again. Any other exception reaches the one top-level handler in `run_bot`, which logs the
traceback and marks the bot `error` with the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from django.conf import settings
from django.utils import timezone
from redis.exceptions import RedisError

from bots import selectors
from bots.engine import intake, legs, locked, marks, ownership, recording, recovery, session_log
from bots.engine.commands import Command, Shutdown, command_listen
from bots.engine.db_thread import db, own_db_thread
from bots.engine.leases import Lease
from bots.engine.legs import Item, LegState
from bots.engine.recording import LeaseLost
from bots.engine.reports import VenueChanged
from bots.engine.working import WorkingOrders
from bots.models import BotStatus, DesiredState, EventLevel, Fill, GridBot, Order
from bots.strategies.accounting import Ledger
from bots.strategies.grid import MarketView, Side, tick_from_decimals
from bots.strategies.ownership import RemainderWatch
from bots.strategies.protocol import (
    Cancel,
    Decide,
    Event,
    Filled,
    Halt,
    Leg,
    OrderTraded,
    OwnPosition,
    Place,
)
from exchange.budget import operator_lane
from exchange.client import LighterClient
from exchange.errors import ExchangeError, RejectedError, TransientError
from exchange.orders import OrderRequest
from exchange.streams import AccountStream, StreamEvent
from exchange.types import MarginMode, OrderInfo, OrderSide
from lighterweb import metrics

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
# What `run_bot` returns when the worker shut the runner down (the bot should run on).
SHUTDOWN = "shutdown"
TICK_SECONDS = 0.5
# Commands are pushed; this slow read only catches a push lost to a Redis blip.
CONTROL_FALLBACK_SECONDS = 5.0
RECONCILE_SECONDS = 60.0
FIRST_BOOK_TIMEOUT_S = 20.0
# After a refused batch, wait before planning again instead of hammering the exchange.
REFUSED_BACKOFF_S = 5.0

DEAD_MANS_SWITCH_REARM_S = 60.0
STOP_VERIFY_TIMEOUT_S = 10.0
POSITION_RECHECK_S = 2.0
# A batch not confirmed by the stream this long after its send is checked against the exchange.
CONFIRM_AFTER_S = 3.0
# Waiting out an unreachable or failing exchange: first wait, doubling up to the last one.
WEATHER_FIRST_S = 2.0
WEATHER_MAX_S = 30.0
FLATTEN_CLIENT_INDEXES = 3


class WorkerShutdown(Exception):
    """A `Shutdown` arrived while the runner waited for something else."""


class SendDropped(Exception):
    """An operator command arrived while a placement waited for budget: the command is applied
    first, and the placement (planned before it) is not sent (nor retried)."""


class BotRunner:
    """One running bot: the state it owns and `run()`, the loop (see the module docstring)."""

    def __init__(self, bot: GridBot, fence: int, lease: Lease | None) -> None:
        self.bot = bot
        self.fence = fence
        self.lease = lease
        self.symbol = bot.market.symbol
        self.market_id = bot.market.market_id
        # The strategy's legs (the grid has one); `leg` is the one whose book it plans from.
        self.leg = Leg(bot.account_id, bot.market_id)
        self.legs: dict[Leg, LegState] = {self.leg: LegState(self.leg, bot.account)}
        # The grid core, noting what it sees and decides (bots.engine.session_log).
        self.strategy: session_log.LoggedGridStrategy = session_log.LoggedGridStrategy(
            self.leg, bot.grid_config()
        )
        # The bot's books, folded from its fills at startup; names each round trip.
        self.ledger = Ledger()
        # The exchange's mark price per market, published (throttled) with the PnL at it.
        self.marks = marks.MarkBook()
        # Batches sent since the last record (recorded with the next burst).
        self.sent: list[recording.SentBatch] = []
        self.paused = False
        # Every leg's stream events, the operator's commands and the worker's end, in one queue.
        self.events: asyncio.Queue[Item] = asyncio.Queue()
        self.reconcile_due = True
        self._refused_until = 0.0
        self._plan_deferred = False
        self._refused_since: float | None = None
        self._confirm_at: float | None = None
        self._next_heartbeat = 0.0
        self._next_reconcile = 0.0
        self._next_dms = 0.0
        self._next_control = 0.0
        self.finished: str | None = None
        # True while waiting for events with nothing to do (tests wait for quiet this way).
        self.idle = False
        self.foreign_seen: set[int] = set()
        # Every reconcile checks the unattributed remainder of the market did not move.
        self.watch = RemainderWatch(self.symbol)
        # Why the bot stopped placing for good (a venue that changed under it), if it did.
        self.halted: str | None = None
        # Figures for tests and the benchmark: requests sent per plan, fill -> accepted latency,
        # reads of the desired state, the last command applied.
        self.sends = 0
        self.control_reads = 0
        self.last_command = 0
        self.on_accepted: Callable[[list[int]], None] | None = None
        # A pushed command not yet applied, and a placement on its way out (see `_still_ours`).
        self._command_waiting = False
        self._placing = False
        # Ran its grid once (a later outage is *degraded*, not *starting*); failing right now.
        self._ran = False
        self._degraded = False

    @property
    def client(self) -> LighterClient:
        """This run's client of the (first) leg's account."""
        return self.legs[self.leg].client

    @property
    def stream(self) -> AccountStream:
        """This run's stream of the (first) leg's account."""
        return self.legs[self.leg].stream

    @property
    def orders(self) -> WorkingOrders:
        """Our working orders on the (first) leg."""
        return self.legs[self.leg].orders

    @property
    def indexes(self) -> recording.ClientIndexes:
        """Client order indexes reserved ahead from the (first) leg's account counter."""
        return self.legs[self.leg].indexes

    @property
    def position(self) -> Decimal:
        """The bot's position in base units (positive long)."""
        return self.strategy.position_base

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

    def tell(self, events: list[Event]) -> None:
        """Tell the strategy what happened (intents come only from `replan`'s decision)."""
        for event in events:
            self.strategy.on_event(event)

    # --- the loop -----------------------------------------------------------------------------

    async def run(self) -> str:
        """Run until stopped (returns the final status) or the lease is lost (raises)."""
        # A fresh start (also after waiting out the exchange): nothing queued, all timers due.
        # (The same queue object: a shutdown put there while waiting must still end the run.)
        stale = [self.events.get_nowait() for _ in range(self.events.qsize())]
        if any(isinstance(event, Shutdown) for event in stale):
            return await self.shut_down()
        self.reconcile_due = True
        self._next_heartbeat = self._next_reconcile = self._next_dms = self._next_control = 0.0
        async with contextlib.AsyncExitStack() as clients:
            await self._connect(clients)
            tasks = [
                asyncio.create_task(legs.pump(state.leg, state.stream, self._enqueue))
                for state in self.legs.values()
            ]
            tasks.append(
                asyncio.create_task(
                    command_listen(settings.REDIS_URL, self.bot.pk, self._command_arrived)
                )
            )
            try:
                await self._wait_first_book()
                await self.startup()
                await self.update(
                    status=BotStatus.RUNNING, status_message="", started_at=timezone.now()
                )
                self._ran, self._degraded = True, False
                await self.replan()
                return await self._loop()
            except VenueChanged as exc:
                return await self.halt(f"the exchange changed under the bot: {exc}")
            except WorkerShutdown:
                return await self.shut_down()
            finally:
                for task in tasks:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                for state in self.legs.values():
                    await state.stream.stop()

    async def _connect(self, clients: contextlib.AsyncExitStack) -> None:
        """One client per distinct account (entered on `clients`), a started stream per leg."""
        by_account: dict[int, LighterClient] = {}
        for state in self.legs.values():
            client = by_account.get(state.account.pk)
            if client is None:
                client = await clients.enter_async_context(state.account.client())
                # Checked again after any wait for budget, right before the HTTP send; the
                # lease is renewed while any request waits for budget.
                client.guard_sends(self._still_ours, alive=self._lease_renewed)
                by_account[state.account.pk] = client
            state.connect(client, client.open_stream([self.market_id]))
            await state.stream.start()

    async def _wait_first_book(self) -> None:
        deadline = time.monotonic() + FIRST_BOOK_TIMEOUT_S
        while self.market_view() is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransientError(f"{self.symbol}: no order book within {FIRST_BOOK_TIMEOUT_S}s")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    event = await self.events.get()
                await self.on_event(event)

    async def _loop(self) -> str:
        while True:
            batch: list[Item] = []
            self.idle = True
            # asyncio.timeout, never wait_for: on Python 3.11 wait_for swallows a cancel that
            # lands in the turn an event arrives, and the cancelled runner would run on.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TICK_SECONDS):
                    batch.append(await self.events.get())
            self.idle = False
            while not self.events.empty():
                batch.append(self.events.get_nowait())
            if any(isinstance(e, Shutdown) for e in batch):
                return await self.shut_down()
            arrived = time.perf_counter()
            commands = [e for e in batch if isinstance(e, Command)]
            stream = [e for e in batch if isinstance(e, tuple)]
            burst = self.take_in(stream)
            sends = self.sends
            final: str | None = None
            if commands or time.monotonic() >= self._next_control:
                # A command is applied before anything else is planned: nothing is sent on the
                # strength of a plan made before the operator's stop or cancel-all.
                await self.record(burst)
                burst = intake.Burst()
                final = await self.control(commands)
                if final is None and stream:
                    # The burst may hold a fill whose replenish is due (the fallback read fell
                    # in the same turn); a pause or cancel-all just applied makes this a no-op.
                    await self.replan()
            elif burst.concerns_market or (stream and self._plan_deferred):
                # The decision needs only memory: the replenish goes out before the bookkeeping.
                # A burst with nothing of this bot's market (another bot's orders and fills on
                # the same account, marks) changes no plan: no decision for it.
                await self.replan()
                if self.sends > sends and any(
                    isinstance(e, Filled | OrderTraded) for e in burst.events
                ):
                    metrics.observe(
                        "fill_replenish_seconds", time.perf_counter() - arrived, bot=self.bot.pk
                    )
            await self.record(burst)
            if final is None:
                final = await self.tick()
            if final is not None:
                await self.record(intake.Burst())  # anything sent since the last record
                return final

    def take_in(self, items: list[tuple[Leg, StreamEvent]]) -> intake.Burst:
        """Apply a burst of the legs' stream events to their clients, the working orders and
        the strategy."""
        for leg, event in items:
            self.legs[leg].client.apply_event(event)
        events = [event for leg, event in items if leg == self.leg]
        self.marks.take(events)
        burst = intake.take_in(events, self.leg, self.market_id, self.orders, self.ledger)
        self.tell(burst.events)
        if burst.reconcile:
            metrics.counter_add("stream_reconnects", bot=self.bot.pk)
        self.reconcile_due = self.reconcile_due or burst.reconcile
        return burst

    async def on_event(self, event: Item) -> None:
        """Apply one stream event and record it (sends are `replan`'s); a command that arrives
        meanwhile (while stopping, or before the first book) is applied by the loop next."""
        if isinstance(event, Shutdown):
            raise WorkerShutdown  # ends whatever waits (first book, a stop's read-back)
        if isinstance(event, Command):
            self._next_control = 0.0
            return
        await self.record(self.take_in([event]))

    async def record(self, burst: intake.Burst) -> None:
        """Record the batches sent since the last record and a burst in one transaction, then
        align memory with what the database says."""
        if not burst and not self.sent and not self.strategy.log.due:
            return
        if self.halted is not None:
            burst.fills = []  # the venue contradicts our records: nothing more is booked
        sent, self.sent = self.sent, []
        log = self.strategy.log.take()  # the core's session log, in the same transaction
        changed, new = await db(intake.record)(self.bot, self.fence, burst, self.ledger, sent, log)
        await self._note_unexpected_ends(changed)
        self.orders.track(changed)
        # The database stays the backstop: a fill it recorded that memory did not book (an
        # order the runner did not know) still moves the position and the grid.
        self.apply_new_fills([f for f in new if f.trade_id not in burst.booked])

    def apply_new_fills(self, new: list[Fill]) -> None:
        """Each newly recorded fill moves the position and the centre to its level."""
        self.tell([self._filled(fill) for fill in new])

    async def _still_ours(self) -> None:
        """The fence guards our database writes; this guards our sends: a runner whose lease
        passed to a successor must not send, nor a placement planned before an operator command
        that arrived while it waited. Run by the client right before the HTTP send and at every
        pause of a send's wait for budget."""
        await self._lease_renewed()
        if self._placing and self._command_waiting:
            raise SendDropped("an operator command arrived first; placement not sent")

    async def _lease_renewed(self) -> None:
        """Renew the lease (at every pause of any wait for budget, reads included): a runner
        waiting on the budget is alive, and a wait longer than the TTL (three bots starting on
        one account) must not let the lease lapse, which would let a restart queued meanwhile
        run the bot a second time. LeaseLost when a successor holds it."""
        if self.lease is None:
            return
        try:
            renewed = await asyncio.to_thread(self.lease.renew)
        except RedisError as exc:
            # Weather: the send waits for Redis (the lease cannot be checked meanwhile).
            raise TransientError(f"Redis unreachable, lease not checked: {exc}") from exc
        if not renewed:
            # Expired with nobody else holding it (Redis restarted empty): taken again;
            # held by another runner: LeaseLost, nothing sent.
            await self.keep_lease()

    def _enqueue(self, item: Item) -> None:
        # Looked up at each event: a benchmark wraps the queue's put to time arrivals.
        self.events.put_nowait(item)

    def _command_arrived(self, command: Command) -> None:
        self._command_waiting = True
        self.events.put_nowait(command)

    def _filled(self, fill: Fill) -> Filled:
        # Recorded fills carry their Order row (fills_record sets it): no query here.
        index = fill.order.client_order_index if fill.order else None
        return Filled(
            self.leg, Side(fill.side), fill.size_base, fill.level_index, index, fill.price
        )

    async def _note_unexpected_ends(self, rows: list[Order]) -> None:
        for row in rows:
            ended = row.status in ("canceled", "rejected")
            if ended and not self.orders.expected_end(row.client_order_index):
                await self.event(
                    "order_missing",
                    f"{row.side} level {row.level_index} @ {row.price} ended: {row.reason}",
                    EventLevel.WARNING,
                    client_order_index=row.client_order_index,
                    reason=row.reason,
                )

    # --- recovery -----------------------------------------------------------------------------

    async def apply_settings(self) -> None:
        """Apply the bot's leverage and margin mode to its market and read them back: no order
        goes out before the exchange confirms them (a 200 alone is not applied)."""
        bot = self.bot
        mode = MarginMode(bot.margin_mode)
        try:
            await legs.settings_apply(
                self.client, self.market_id, bot.leverage, mode, refusal_check=False
            )
        except TransientError:
            raise
        except ExchangeError as exc:
            raise ExchangeError(
                f"{self.symbol}: leverage {bot.leverage}x {mode.value} {exc}"
            ) from exc
        await self.event(
            "settings_applied",
            f"leverage {bot.leverage}x, {mode.value} margin (read back from the exchange)",
            leverage=str(bot.leverage),
            margin_mode=mode.value,
        )

    async def startup(self) -> None:
        """Apply the settings, reconcile with the exchange, take over the position, restore the
        lattice, report."""
        await self.apply_settings()
        self.ledger = await db(selectors.bot_ledger, writes=False)(self.bot)
        found = await self.reconcile(grace_s=0.0)
        market = self.market_view()
        assert market is not None  # the runner waited for the first book
        # Adopted at the exchange's mark (the mid until the first mark arrives).
        await self.settle_ownership(found, self.marks.mark(self.market_id) or market.mid)
        bot = self.bot
        state = self.strategy.start(market.mid, bot.anchor_price, bot.centre_index)
        await self.update(
            anchor_price=state.anchor,
            centre_index=state.centre,
            last_price=self.marks.mark(self.market_id) or market.mid,
        )
        await self.event(
            "recovered",
            f"adopted {found.adopted} resting orders, resolved {found.resolved}, recorded "
            f"{len(found.fills)} missed fills, position "
            f"{self.position.quantize(tick_from_decimals(self.bot.market.size_decimals))} "
            f"{self.symbol}; "
            f"centre {state.centre} @ {market.mid}",
            adopted=found.adopted,
            resolved=found.resolved,
            fills=len(found.fills),
            position=str(self.position),
            anchor=str(state.anchor),
        )

    async def reconcile(
        self, *, fills: bool = True, grace_s: float = recovery.MISSING_GRACE_S
    ) -> recovery.Reconciled:
        """Make memory match the exchange (`bots.engine.recovery.reconcile`)."""
        found = await recovery.reconcile(
            self.bot, self.fence, self.client, self.ledger, fills=fills, grace_s=grace_s
        )
        # The start check, the dashboard and the API read the account's positions from here too.
        await db(ownership.positions_store)(self.bot.account_id, found.positions)
        await self._report_foreign(found.foreign)
        self.apply_new_fills(found.fills)
        if fills:
            others = await db(ownership.other_positions, writes=False)(self.bot)
            problem = self.watch.observe(found.position, [self.position_mine, *others])
            if problem is not None:
                raise VenueChanged(problem)
            if self.watch.suspect is not None:
                # Maybe a fill in flight between the reads: look again soon.
                self._next_reconcile = time.monotonic() + POSITION_RECHECK_S
        self.tell([OwnPosition(self.leg, self.position_mine)])
        self.orders.reset(found.active)
        now = time.monotonic()
        zombies = self.orders.zombies(now - CONFIRM_AFTER_S)
        if found.resolved or zombies:
            metrics.counter_add(
                "reconcile_corrections", found.resolved + len(zombies), bot=self.bot.pk
            )
        if zombies:
            await self.event(
                "cancel_unconfirmed",
                f"{len(zombies)} cancels accepted but never executed: the orders still rest; "
                "counted as working again and cancelled again if unwanted",
                EventLevel.WARNING,
                client_order_indexes=zombies,
            )
        if self.orders.unconfirmed(now - CONFIRM_AFTER_S) and self._confirm_at is None:
            # Intents the exchange never saw resolve after a grace period: look again soon
            # rather than at the next slow reconcile, so their levels are not left empty.
            self._confirm_at = now + CONFIRM_AFTER_S
        return found

    @property
    def position_mine(self) -> Decimal:
        """The bot's own position: its booked fills and adoptions (design.md "Ownership")."""
        return self.ledger.position_base

    async def settle_ownership(self, found: recovery.Reconciled, price: Decimal) -> None:
        """Carry out the operator's adopt/leave choice at start (`bots.engine.ownership`); a
        fill in flight between the reads gets one second look before the bot stops."""
        try:
            settled = await db(ownership.settle)(self.bot, self.fence, found.position, price)
        except ownership.OwnershipUnsettled:
            await asyncio.sleep(POSITION_RECHECK_S)
            found = await self.reconcile(grace_s=0.0)
            settled = await db(ownership.settle)(self.bot, self.fence, found.position, price)
        for transfer in settled.transfers:
            self.ledger.apply_transfer(transfer)
        others = await db(ownership.other_positions, writes=False)(self.bot)
        self.watch.accept(found.position, [self.position_mine, *others])
        self.tell([OwnPosition(self.leg, self.position_mine)])

    async def shut_down(self) -> str:
        """The worker is shutting down: record what was sent, say so, and end (orders stay under
        the dead-man's switch; the task releases the lease and queues the bot again)."""
        await self.record(intake.Burst())
        await self.event(
            "worker_shutdown",
            "the bots worker is shutting down; resting orders kept, resumes on the next worker",
        )
        return SHUTDOWN

    async def weather(self, exc: Exception, wait_s: float) -> str | None:
        """Wait out a transient exchange failure, keeping the lease and watching the operator:
        None to start over, or a final status (a stop requested meanwhile)."""
        reason = f"waiting for the exchange ({type(exc).__name__}: {exc}); retrying in {wait_s:g}s"
        logger.warning("bot %s %s: %s", self.bot.pk, self.symbol, reason)
        status = BotStatus.DEGRADED if self._ran else BotStatus.STARTING
        await self.update(status=status, status_message=reason[:500])
        await self.event("exchange_unreachable", reason, EventLevel.WARNING)
        deadline = time.monotonic() + wait_s
        while True:
            await self.keep_lease()
            await self.update(heartbeat_at=timezone.now())
            desired, _ = await db(recording.desired_state_get, writes=False)(self.bot.pk)
            if desired == DesiredState.STOPPED:
                # Cancels need the exchange: the supervisor's cancel task retries them.
                await self.update(
                    status=BotStatus.STOPPING,
                    status_message="stop requested while the exchange is unreachable; "
                    "its cancels are retried until they are verified",
                )
                return BotStatus.STOPPING
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, HEARTBEAT_SECONDS)):
                    # Only a shutdown matters while waiting; the next run starts afresh.
                    if isinstance(await self.events.get(), Shutdown):
                        return await self.shut_down()

    async def keep_lease(self) -> None:
        """Renew the lease (`Lease.keep`: Redis away is weather, an expired lease nobody took is
        taken again); LeaseLost when another runner holds the bot."""
        if self.lease is None:
            return
        fence = await asyncio.to_thread(self.lease.keep)
        if fence is None:
            raise LeaseLost(f"bot {self.bot.pk}: lease held by another runner; nothing sent")
        if fence != self.fence:
            self.fence = fence
            await self.event("lease_retaken", f"lease taken again with fence {fence}")

    async def weather_cleared(self) -> None:
        """A reconcile went through after a failed send: *degraded* is over."""
        if self._degraded:
            self._degraded = False
            # The client retried the failed send already: place again now, not after the
            # backoff meant for refusals.
            self._refused_until = 0.0
            if not self.paused and self.finished is None:
                await self.update(status=BotStatus.RUNNING, status_message="")
                await self.event("exchange_recovered", "the exchange answers again; running")

    async def halt(self, reason: str) -> str:
        """Stop placing for good: cancel the bot's orders (verified) and end in error with the
        reason, so no order is left unmanaged."""
        self.halted = reason
        await self.event("venue_changed", reason, EventLevel.ERROR)
        await self.stop_orders(reason)
        await self.update(status=BotStatus.ERROR, status_message=reason[:500])
        return BotStatus.ERROR

    async def _report_foreign(self, orders: list[OrderInfo]) -> None:
        for order in orders:
            if order.client_order_index in self.foreign_seen:
                continue
            self.foreign_seen.add(order.client_order_index)
            await self.event(
                "foreign_order",
                f"{order.side} {order.remaining_size} @ {order.price} is not this bot's: "
                "left alone",
                EventLevel.WARNING,
                client_order_index=order.client_order_index,
                order_index=order.order_index,
            )

    # --- control ------------------------------------------------------------------------------

    async def control(self, commands: list[Command]) -> str | None:
        """Apply the operator's desired state (read from the database, the truth); a final
        status ends the loop."""
        self._next_control = time.monotonic() + CONTROL_FALLBACK_SECONDS
        self._command_waiting = False
        if commands:
            self.last_command = max(c.seq for c in commands)
        self.control_reads += 1
        await locked.check_still_unlocked(self)  # raises KeyLocked once the key is locked again
        desired, cancel_all_at = await db(recording.desired_state_get, writes=False)(self.bot.pk)
        if commands:
            self.strategy.command(desired, self.last_command)
        if cancel_all_at is not None and desired != DesiredState.STOPPED:
            with operator_lane():  # the operator's reserved share: never behind routine traffic
                await self.cancel_all_orders(cancel_all_at)
        if desired == DesiredState.STOPPED:
            with operator_lane():
                await self.stop_orders("stopped by the operator")
            await self.update(status=BotStatus.STOPPED, stopped_at=timezone.now())
            await self.event("stopped", "orders cancelled (verified); position kept")
            await recovery.dead_mans_switch_release(self.client, self.bot)
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
        return None

    async def tick(self) -> str | None:
        """Heartbeat, lease, reconcile, dead-man's switch; a final status ends the loop."""
        if self.finished is not None:
            return self.finished
        mark = self.marks.due(self.market_id)
        if mark is not None:
            await marks.figures_publish(self.bot, self.fence, mark, self.ledger)
        now = time.monotonic()
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + HEARTBEAT_SECONDS
            if self.lease is not None:
                await self.keep_lease()
                metrics.counter_add("lease_renewals", bot=self.bot.pk)
            await self.update(heartbeat_at=timezone.now())
        if self._confirm_at is not None and now >= self._confirm_at:
            self._confirm_at = None
            if self.orders.unconfirmed(now - CONFIRM_AFTER_S):
                # A batch accepted but not (fully) executed: the exchange is the truth.
                self.reconcile_due = True
        if self.reconcile_due or now >= self._next_reconcile:
            self.reconcile_due = False
            self._next_reconcile = now + RECONCILE_SECONDS
            await self.reconcile()
            await self.weather_cleared()
            await self.replan()
        if now >= self._next_dms:
            self._next_dms = now + DEAD_MANS_SWITCH_REARM_S
            await recovery.dead_mans_switch_arm(self.client, self.bot.account)
        return None

    async def cancel_all_orders(self, requested_at: datetime) -> None:
        """The operator's "cancel all" for this bot: cancel (verified), then carry on as before.

        Services send it to a paused bot; a running one places its grid again on the next plan.
        """
        status = self.bot.status
        await self.stop_orders("cancel all requested")
        await db(recording.cancel_all_done)(self.bot, self.fence, requested_at)
        await self.update(status=status, status_message="")
        await self.event("orders_cancelled", "all orders of the bot cancelled (verified)")

    async def stop_orders(self, reason: str) -> None:
        """Cancel every active order of the bot and verify it from REST; raise if they stay."""
        await self.update(status=BotStatus.STOPPING, status_message=reason)
        deadline = time.monotonic() + STOP_VERIFY_TIMEOUT_S
        while True:
            await self.reconcile(fills=False)
            ours = sorted(self.orders.live)
            if not ours:
                return
            if time.monotonic() >= deadline:
                raise ExchangeError(f"{self.symbol}: {len(ours)} orders still open after stop")
            self.orders.sent([], ours, time.monotonic())
            await self._still_ours()
            await self.client.replace_orders(self.market_id, ours, [])
            self.sends += 1
            # The stream reports the cancels within milliseconds; REST then confirms.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    event = await self.events.get()
                await self.on_event(event)

    async def risk_exit(self, halt: Halt) -> None:
        """Stop-loss / take-profit: stop placing, cancel (verified), optionally flatten, stop."""
        reason = f"{halt.trigger.value} hit at {self.market_view()}"
        await self.event("risk_exit", reason, EventLevel.WARNING, trigger=halt.trigger.value)
        await self.stop_orders(reason)
        if halt.flatten_base != 0:
            allocate = self.bot.account.allocate_client_order_indexes
            indexes = await db(allocate)(FLATTEN_CLIENT_INDEXES)
            result = await self.client.close_position(self.market_id, indexes)
            await self.event(
                "flatten",
                f"position close: {result.status.value} ({result.closed_size} {self.symbol})",
                EventLevel.WARNING if result.status.value != "closed" else EventLevel.INFO,
            )
        await self.update(
            status=BotStatus.STOPPED,
            desired_state=DesiredState.STOPPED,
            status_message=reason,
            stopped_at=timezone.now(),
        )
        self.finished = BotStatus.STOPPED

    # --- deciding and sending -----------------------------------------------------------------

    async def replan(self) -> None:
        """Ask the strategy to decide against the working orders; send its intents at once."""
        if self.paused or self.strategy.state is None:
            return
        # A plan held back by a refusal's backoff is made on the next burst after it.
        self._plan_deferred = time.monotonic() < self._refused_until
        if self._plan_deferred:
            return
        market = self.market_view()
        if market is None:
            return
        intents = self.strategy.on_event(Decide(self.leg, market, self.orders.working()))
        state = self.strategy.state
        run_state: dict[str, Any] = {}
        if state.centre != self.bot.centre_index:
            last = self.marks.mark(self.market_id) or market.mid
            run_state = {"centre_index": state.centre, "last_price": last}
        halts = [i for i in intents if isinstance(i, Halt)]
        if halts:
            await self.risk_exit(halts[0])
            return
        creates = [i.order for i in intents if isinstance(i, Place)]
        cancels = [i.client_order_index for i in intents if isinstance(i, Cancel)]
        if not creates and not cancels:
            if run_state:
                await self.update(**run_state)
            return
        rows = await db(recording.order_intents_create)(
            self.bot, self.fence, creates, reserve=self.indexes, **run_state
        )
        self.orders.track(rows)
        now = time.monotonic()
        self.orders.sent([r.client_order_index for r in rows], cancels, now)
        if self._confirm_at is None:
            # The stream confirms a batch within milliseconds; look again in a few seconds.
            self._confirm_at = now + CONFIRM_AFTER_S
        requests = [
            OrderRequest(
                OrderSide(row.side),
                row.size_base,
                row.price,
                row.client_order_index,
                post_only=self.strategy.config.post_only,
            )
            for row in rows
        ]
        try:
            self._placing = True
            await self._still_ours()
            tickets = await self.client.replace_orders(self.market_id, cancels, requests)
        except SendDropped as exc:
            # Nothing sent (the guard runs before the HTTP send): the intents end here, and the
            # command is applied next.
            self.orders.cancelling.difference_update(cancels)
            await db(recording.orders_resolved_missing)(self.bot, self.fence, rows, str(exc))
            self.orders.track(rows)
            return
        except RejectedError as exc:
            now = time.monotonic()
            self._refused_until = now + REFUSED_BACKOFF_S
            self.orders.cancelling.difference_update(cancels)
            await db(recording.orders_refused)(self.bot, self.fence, rows, str(exc))
            self.orders.track(rows)
            await self.event("batch_refused", str(exc), EventLevel.ERROR, centre=state.centre)
            if self._refused_since is None:
                self._refused_since = now
            elif now - self._refused_since >= settings.BOT_REFUSED_GIVE_UP_SECONDS:
                # Refusing everything for a minute is not weather: say why and stop, cleanly.
                since = now - self._refused_since
                reason = f"every placement refused for {since:.0f}s: {exc}"
                await self.event("refused_error", reason, EventLevel.ERROR)
                await self.stop_orders(reason)
                await self.update(status=BotStatus.ERROR, status_message=reason[:500])
                self.finished = BotStatus.ERROR
            return
        except TransientError as exc:
            # Retried by the client already; whether the batch executed is unknown. The intents
            # stay intents and the cancels are planned again: reconcile (due now) adopts what
            # executed and resolves what never did, so nothing is placed twice.
            self._refused_until = time.monotonic() + REFUSED_BACKOFF_S
            self.orders.cancelling.difference_update(cancels)
            self.reconcile_due = True
            await self.event("send_failed", str(exc), EventLevel.WARNING, centre=state.centre)
            if not self._degraded and not self.paused:
                self._degraded = True
                reason = f"the exchange is failing ({type(exc).__name__}: {exc}); retrying"
                await self.update(status=BotStatus.DEGRADED, status_message=reason[:500])
            return
        finally:
            self._placing = False
        self.sends += 1
        self._refused_since = None
        if self.on_accepted is not None:
            self.on_accepted([r.client_order_index for r in rows])
        hashes = {t.client_order_index: t.tx_hash for t in tickets}
        note = (
            "plan",
            f"centre {state.centre} @ {market.mid}: {self.strategy.last_reason}",
            {"centre": state.centre, "created": [r.client_order_index for r in rows],
             "cancelled": cancels},
        )  # fmt: skip
        # Recorded (pending, tx hashes, the plan event) with the burst the loop records next.
        self.sent.append(
            recording.SentBatch(rows, [hashes.get(r.client_order_index, "") for r in rows], note)
        )
        self.orders.track(rows)


async def run_bot(bot_id: int, *, fence: int, lease: Lease | None = None) -> str:
    """Run one bot until it stops; returns its final status ("stopped", "error", "lease_lost")."""
    return await run_runner(await runner_create(bot_id, fence=fence, lease=lease))


async def runner_create(bot_id: int, *, fence: int, lease: Lease | None = None) -> BotRunner:
    """A runner for the bot as it is in the database now (not started)."""
    return BotRunner(await db(_bot_load)(bot_id), fence, lease)


def _bot_load(bot_id: int) -> GridBot:
    """The bot with its account and market (one query)."""
    return GridBot.objects.select_related("account", "market").get(pk=bot_id)


class Runnable(locked.BotRunner, Protocol):
    """What `run_runner` needs of a runner (the grid's `BotRunner`, the `HedgeRunner`)."""

    @property
    def symbol(self) -> str: ...

    async def run(self) -> str: ...

    async def weather(self, exc: Exception, wait_s: float) -> str | None: ...


# The runners alive in this process, with their loops: a worker shutdown ends them all.
_live: dict[Runnable, asyncio.AbstractEventLoop] = {}
_live_lock = threading.Lock()


_shutting_down = threading.Event()


def runners_shut_down() -> int:
    """Tell every runner of this process to end now (a worker's warm shutdown), and any runner
    that starts from now on; how many were running."""
    with _live_lock:
        _shutting_down.set()
        live = list(_live.items())
    for runner, loop in live:
        with contextlib.suppress(RuntimeError):  # that loop closed meanwhile: nothing to end
            loop.call_soon_threadsafe(runner.events.put_nowait, Shutdown())
    return len(live)


async def run_runner(runner: Runnable) -> str:
    """Run a runner to its end; the one top-level handler of the loop.

    Any error is logged with its traceback and the bot is marked `error` with the message
    (fenced, so a runner that lost its lease writes nothing).
    """
    bot_id = runner.bot.pk
    with _live_lock:
        if _shutting_down.is_set():
            return SHUTDOWN  # a task the shutting-down worker still took: the next one runs it
        _live[runner] = asyncio.get_running_loop()
    try:
        with own_db_thread(f"bot-{bot_id}-db"):
            return await _run_reporting_crashes(runner, bot_id)
    finally:
        with _live_lock:
            _live.pop(runner, None)


async def _run_through_weather(runner: Runnable) -> str:
    """Run the bot; an exchange that is unreachable or failing for a while (transient errors:
    5xx, 429, network, no book yet) is weather, not a crash: the bot waits with bounded backoff,
    says why, keeps its lease and resting orders, and starts over (recovery adopts what rests)."""
    backoff = WEATHER_FIRST_S
    while True:
        # A locked account: wait in `locked` until the key reaches this worker (engine.locked).
        final = await locked.until_unlocked(runner)
        if final is not None:
            return final
        try:
            return await runner.run()
        except locked.KeyLocked:
            continue
        except TransientError as exc:
            final = await runner.weather(exc, backoff)
            if final is not None:
                return final
            backoff = min(backoff * 2, WEATHER_MAX_S)


async def _run_reporting_crashes(runner: Runnable, bot_id: int) -> str:
    try:
        return await _run_through_weather(runner)
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
