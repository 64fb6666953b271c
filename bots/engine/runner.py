"""The one runner of every strategy: the legs' streams in, the strategy's intents out.

`run_bot(bot_id, fence=..., lease=...)` is what `bots.tasks.run_bot_task` runs, for every bot
kind: `runner_create` builds a `BotRunner` with the bot's strategy, its legs (`bots.engine.legs`:
the grid has one, the hedge bot two, maker A and taker B on two accounts) and the kind's
`EngineOptions` (`bots.engine.kinds`). Where the kinds still run differently the runner reads
those options and the legs' data, never the strategy's type. The loop:

1. opens one client per distinct account and a stream per leg, all feeding ONE queue of
   `(leg, StreamEvent) | Command | Shutdown`, and waits for the first leg's book (the grid's
   book and mark come from the process's shared feed of its market, `exchange.market_feed`,
   into the same queue: its own stream carries its account's channels only);
2. applies and reads back each leg's leverage and margin mode (a refusal is an error before
   any order), then recovers (`Recovery`): the grid adopts its resting orders, records missed
   fills, settles the position's ownership and keeps the lattice of earlier runs; the hedge bot
   reads both legs' positions (and resumes from its snapshot);
3. per burst of events: the first leg's order reports, fills and funding go through `intake`
   (working orders, the bot's ledger); a leg whose strategy is told its orders' ends
   (`LegState.reports`) has its fills told once per trade and its ends held until their fills
   were told (`hedge_intake`); other legs' fills are recorded under their account at once;
4. applies the operator's desired state as soon as a command is pushed (`bots.engine.commands`),
   before any plan (a slow fallback read catches a lost push); then asks the strategy to decide
   for every leg and sends its intents at once: `Place`/`Cancel` as ONE `sendTxBatch` per leg
   (intents persisted first, design decision 2), `MarketOrder` as an IOC at its worst price
   (told to the strategy before any report can arrive), `Halt` as a risk exit;
5. records the burst and what was sent in one fenced transaction, the strategy's transitions
   and snapshot after it;
6. ticks at least every `EngineOptions.tick_s`: lease and heartbeat every `HEARTBEAT_SECONDS`,
   REST reconcile every `EngineOptions.reconcile_s` and after reconnects, the dead-man's switch
   of every leg that keeps one, the mark's figures.

Every DB write is fenced (`bots.engine.recording`); `LeaseLost` ends the loop without touching the
exchange again. Any other exception reaches the one top-level handler in `run_runner`, which logs
the traceback and marks the bot `error` with the message; an exchange that is unreachable for a
while is weather (`BotRunner.weather`), not a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from django.conf import settings
from django.utils import timezone
from redis.exceptions import RedisError

from bots import selectors
from bots.engine import (
    controls,
    hedge_recording,
    intake,
    legs,
    locked,
    marks,
    ownership,
    recording,
    recovery,
    session_log,
)
from bots.engine.commands import SETTINGS, Command, Shutdown, command_listen
from bots.engine.db_thread import db, own_db_thread
from bots.engine.kinds import EngineHedgeStrategy, EngineOptions, Recovery, RunStrategy
from bots.engine.leases import Lease
from bots.engine.legs import Item, LegState
from bots.engine.recording import LeaseLost
from bots.engine.reports import VenueChanged
from bots.engine.working import WorkingOrders
from bots.models import (
    BotStatus,
    DesiredState,
    EventLevel,
    ExchangeAccount,
    Fill,
    GridBot,
    HedgeBot,
    Order,
)
from bots.strategies.accounting import Ledger
from bots.strategies.grid import LiveOrder, MarketView, Side, tick_from_decimals
from bots.strategies.ownership import RemainderWatch
from bots.strategies.protocol import (
    Cancel,
    Decide,
    Event,
    Filled,
    Halt,
    Intent,
    Leg,
    MarketOrder,
    OrderEnded,
    OrderTraded,
    OwnPosition,
    Place,
    PositionSet,
)
from exchange import market_feed
from exchange.budget import operator_lane
from exchange.client import LighterClient
from exchange.errors import ExchangeError, RejectedError, TransientError, cancel_point, pause
from exchange.orders import OrderRequest
from exchange.streams import (
    AccountStream,
    FillEvent,
    MarkUpdate,
    OrderUpdate,
    PositionUpdate,
    Reconnected,
    StreamEvent,
)
from exchange.types import FillInfo, MarginMode, OrderInfo, OrderSide, PositionSide
from lighterweb import metrics

logger = logging.getLogger(__name__)
T = TypeVar("T")

HEARTBEAT_SECONDS = 5.0
# What `run_bot` returns when the worker shut the runner down (the bot should run on).
SHUTDOWN = "shutdown"
FIRST_BOOK_TIMEOUT_S = 20.0
# After a refused batch, wait before planning again instead of hammering the exchange.
REFUSED_BACKOFF_S = 5.0
DEAD_MANS_SWITCH_REARM_S = 60.0
STOP_VERIFY_TIMEOUT_S = 10.0
# A stop waits this long for the stream to report its cancels before it reads them back.
STOP_STREAM_WAIT_S = 2.0
POSITION_RECHECK_S = 2.0
# A fill's burst that sends nothing reports the reaction of a send at most this long before it.
REACTION_MATCH_S = 2.0
# A batch not confirmed by the stream this long after its send is checked against the exchange.
CONFIRM_AFTER_S = 3.0
# A starting bot's status message while its requests wait for the account's request budget.
BUDGET_WAIT_MESSAGE = (
    "waiting for the account's request budget (shared by every bot and page on its address; "
    "a standard account allows 60 requests a minute): the bot starts when requests are free"
)
# Waiting out an unreachable or failing exchange: first wait, doubling up to the last one.
WEATHER_FIRST_S = 2.0
WEATHER_MAX_S = 30.0
FLATTEN_CLIENT_INDEXES = 3

# The grid: a decision per burst that concerns its market; a slow reconcile of its records.
GRID_OPTIONS = EngineOptions(
    tick_s=0.5,
    control_s=5.0,  # commands are pushed; this slow read only catches a push lost to Redis
    reconcile_s=60.0,
    recovery=Recovery.LEDGER,
    timers=False,
    reconcile_yields=False,
    pausable=GridBot.pausable(),
    stop_may_close=False,
    mark_figures=True,
    risk_exit_flattens=True,
    live_settings=GridBot.LIVE_SETTINGS,
    shared_book=True,
    # Long enough for a fill's report to catch up with its order's (milliseconds), short
    # enough that the pages' order states lag by no more than this.
    bookkeeping_held_s=0.25,
)
# The hedge bot: a decision every turn (its timers), both legs reconciled over REST every
# `settings.HEDGE_RECONCILE_SECONDS` (30 s: every reconcile costs A three requests and B two of
# the accounts' routine budget, 37 a minute on a standard account), giving way to A's fills.
HEDGE_OPTIONS = EngineOptions(
    tick_s=0.1,
    control_s=1.0,
    reconcile_s=30.0,
    reconcile_setting="HEDGE_RECONCILE_SECONDS",
    recovery=Recovery.POSITIONS,
    timers=True,
    reconcile_yields=True,
    pausable=HedgeBot.pausable(),
    stop_may_close=True,
    mark_figures=False,
    risk_exit_flattens=False,
    risk_exit_closes_legs=True,
    live_settings=HedgeBot.LIVE_SETTINGS,
)

# "Close both legs": rounds of verified reduce-only closes, the first retry after this (doubling).
CLOSE_ROUNDS = 3
CLOSE_BACKOFF_S = 0.5
# An order held back this long by an unconfirmed cancel asks REST about the orders at once.
CANCEL_CONFIRM_S = 2.0
# An order sent this long ago that the exchange has no record of never reached the book.
UNKNOWN_ORDER_GRACE_S = 5.0
# A periodic reconcile that gave way to a fill runs again this much later.
RECONCILE_YIELD_S = 1.0
# Client order indexes reserved ahead per leg for market orders (a few are skipped on a stop).
INDEXES_AHEAD = 8
# How long an order reported filled stays working while its fill reports are awaited.
FILL_WAIT_SECONDS = 2.0


class WorkerShutdown(Exception):
    """A `Shutdown` arrived while the runner waited for something else."""


class SendDropped(Exception):
    """An operator command arrived while a placement waited for budget: the command is applied
    first, and the placement (planned before it) is not sent (nor retried)."""


class StartStopped(Exception):
    """The operator stopped the bot while its start waited for the request budget: the start is
    given up there and the stop applied (in the operator's lane), not after a minute's wait."""


class BotRunner:
    """One running bot of any kind: the state it owns and `run()`, the loop (module docstring)."""

    def __init__(
        self,
        bot: GridBot | HedgeBot,
        fence: int,
        lease: Lease | None,
        strategy: RunStrategy,
        leg_states: list[LegState],
        options: EngineOptions,
    ) -> None:
        self.bot = bot
        self.fence = fence
        self.lease = lease
        self.symbol = bot.market.symbol
        self.market_id = bot.market.market_id
        self.strategy = strategy
        self.options = options
        self.legs: dict[Leg, LegState] = {state.leg: state for state in leg_states}
        # The first leg: its book is the market the strategy plans from, its fills are booked
        # in the bot's ledger and recorded with its orders.
        self.leg = leg_states[0].leg
        # The bot's books of the first leg, folded from its fills at startup (the grid).
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
        # The bot's own position when the account's positions were last read and stored (None:
        # not yet): a stop reads them again only if the bot traded since.
        self._position_stored: Decimal | None = None
        # Every reconcile checks the unattributed remainder of the market did not move.
        self.watch = RemainderWatch(self.symbol)
        # Why the bot stopped placing for good (a venue that changed under it), if it did.
        self.halted: str | None = None
        # Figures for tests and the benchmark: requests sent per plan, fill -> accepted latency,
        # reads of the desired state, the last command applied, first-leg fill seen -> the
        # strategy no longer behind (the hedge latency, seconds), the bursts' record
        # transactions.
        self.sends = 0
        self.records = 0
        self.control_reads = 0
        self.last_command = 0
        self.on_accepted: Callable[[list[int]], None] | None = None
        self.hedge_latencies: list[float] = []
        self._fill_seen: float | None = None
        # A pushed command not yet applied, and a placement on its way out (see `_still_ours`).
        self._command_waiting = False
        self._placing = False
        # Ran once (a later outage is *degraded*, not *starting*); failing right now.
        self._ran = False
        # Said on the bot's page that its start waits for the request budget (`_budget_waits`).
        self._budget_wait_shown = False
        # The desired state was read for the commands pushed so far while starting.
        self._start_commands_read = False
        self._degraded = False
        # A fill of the first leg was queued since the loop last took its events.
        self._fill_queued = asyncio.Event()
        self._held_since: float | None = None
        # This run's attachment to the process's feed of the market (`EngineOptions.shared_book`).
        self._feed: market_feed.FeedHandle | None = None
        # Seconds from a burst's arrival to its plan's batch accepted, and when, kept until a
        # fill's burst reports it (`_replenish_observe`).
        self._reaction: tuple[float, float] | None = None
        # Bookkeeping waiting for the next record, and since when (`record`).
        self._bookkeeping: intake.Burst | None = None
        self._bookkeeping_since: float | None = None

    # --- what tests and the figures read ------------------------------------------------------

    @property
    def client(self) -> LighterClient:
        """This run's client of the first leg's account."""
        return self.legs[self.leg].client

    @property
    def stream(self) -> AccountStream:
        """This run's stream of the first leg."""
        return self.legs[self.leg].stream

    @property
    def feed(self) -> market_feed.FeedHandle | None:
        """This run's attachment to the process's feed of its market (None: the book comes from
        the first leg's own stream)."""
        return self._feed

    @property
    def orders(self) -> WorkingOrders:
        """Our working orders on the first leg."""
        return self.legs[self.leg].orders

    @property
    def indexes(self) -> recording.ClientIndexes:
        """Client order indexes reserved ahead from the first leg's account counter."""
        return self.legs[self.leg].indexes

    @property
    def accounts(self) -> list[ExchangeAccount]:
        """Every leg's account, once each (a locked key is waited for on each)."""
        distinct = {state.account.pk: state.account for state in self.legs.values()}
        return list(distinct.values())

    @property
    def config(self) -> Any:
        """The strategy's configuration."""
        return self.strategy.config

    @property
    def position(self) -> Decimal:
        """The strategy's position in base units (positive long)."""
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

    def _prices(self) -> tuple[Decimal | None, Decimal | None, Decimal | None, Decimal | None]:
        """Best bid, best ask, mid and mark of the first leg's market now (every leg trades the
        same market), from the shared feed or the leg stream's replica; None for what is not
        known (a side of the book empty: no mid)."""
        if self._feed is not None:
            top, update = self._feed.top, self._feed.mark
            mark = None if update is None else update.mark_price
            if top is None:
                return None, None, None, mark
            return top.bid, top.ask, top.mid, mark
        if self.options.shared_book:
            return None, None, None, None  # no feed attached: not running
        book = self.stream.book(self.market_id)
        return book.best_bid, book.best_ask, book.mid, self.marks.mark(self.market_id)

    def market_view(self) -> MarketView | None:
        """The market a plan is made from: best bid/ask, mid and mark (None until both sides of
        the book are known)."""
        bid, ask, mid, mark = self._prices()
        return None if mid is None else MarketView(bid, ask, mid, mark)

    def exit_view(self) -> MarketView | None:
        """The market the exits judge: `market_view`, or while a side of the book is empty (no
        mid: nothing is planned) the best prices left with the mark standing in for the mid,
        so a stop-loss still fires when a fall has swept the bids. None without either."""
        bid, ask, mid, mark = self._prices()
        price = mid if mid is not None else mark
        return None if price is None else MarketView(bid, ask, price, mark)

    @staticmethod
    def now_ms() -> int:
        """Wall-clock ms: a strategy's deadlines survive a restart in its snapshot."""
        return int(time.time() * 1000)

    def tell(self, events: list[Event]) -> None:
        """Tell the strategy what happened (intents come only from `replan`'s decisions). What
        it is told may change what it would do: the feed's quiet band goes until it decides."""
        if events and self._feed is not None:
            self._feed.band = None
        for event in events:
            self.strategy.on_event(event)

    def reconcile_seconds(self) -> float:
        """How often the legs are reconciled over REST (a setting may override the kind's)."""
        name = self.options.reconcile_setting
        if name is None:
            return self.options.reconcile_s
        return float(getattr(settings, name, self.options.reconcile_s))

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
                asyncio.create_task(legs.pump(state.leg, state.stream, state.client, self._enqueue))
                for state in self.legs.values()
            ]
            tasks.append(
                asyncio.create_task(
                    command_listen(settings.REDIS_URL, self.bot.pk, self._command_arrived)
                )
            )
            try:
                await self._wait_first_book()
                while True:
                    try:
                        refused = await self.apply_settings()
                        if refused is not None:
                            await self.update(status=BotStatus.ERROR, status_message=refused[:500])
                            return BotStatus.ERROR
                        await self.startup()
                        break
                    except StartStopped:
                        final = await self._control_while_starting()
                        if final is not None:
                            return final
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
            except asyncio.CancelledError:
                await self._held_written()
                raise
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
                # Checked once per send under the nonce lock, right before signing, and at
                # every pause of a send's wait for budget; the lease is renewed while any
                # request waits for budget.
                client.guard_sends(self._still_ours, alive=self._budget_waits)
                by_account[state.account.pk] = client
            # Only the leg's market's order reports and no transactions (the runner reads no
            # TxUpdate: its sends resolve by order reports and REST): with three bots on an
            # account, each stream received, parsed and queued all of theirs (28 of the 45
            # frames per fill at 12 bots).
            if self.options.shared_book and state.leg == self.leg:
                # The market's book and mark from the process's one feed of it; this stream
                # carries the account's channels only, which may be quiet for long: no
                # staleness (the pings still replace a dead connection).
                stream = client.open_stream(
                    [self.market_id], tx_updates=False, market_orders=True, market_data=False,
                    stale_after_s=math.inf,
                )  # fmt: skip
                self._feed = market_feed.attach(
                    client.ws_url, self.market_id, functools.partial(self._feed_event, state.leg)
                )
                self._feed.exits = self.strategy.exit_prices()
                clients.callback(self._feed_detach)  # however this run ends
            else:
                stream = client.open_stream([self.market_id], tx_updates=False, market_orders=True)
            state.connect(client, stream, self.market_id)
            await state.stream.start()

    def _feed_event(self, leg: Leg, event: StreamEvent) -> None:
        self._enqueue((leg, event))

    def _feed_mark_take(self) -> None:
        """The feed keeps its market's mark instead of handing each one on: read it here."""
        if self._feed is not None and self._feed.mark is not None:
            self.marks.take([self._feed.mark])

    def _feed_detach(self) -> None:
        if self._feed is not None:
            self._feed.close()
            self._feed = None

    def _enqueue(self, item: Item) -> None:
        # Looked up at each event: a benchmark wraps the queue's put to time arrivals.
        if isinstance(item, tuple) and item[0] == self.leg and isinstance(item[1], FillEvent):
            self._fill_queued.set()
        self.events.put_nowait(item)

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
            # A cancel dropped by a library on the way (exchange.errors.cancel_point) ends the
            # run here, at the latest, rather than never.
            cancel_point()
            batch: list[Item] = []
            self.idle = True
            # asyncio.timeout, never wait_for: on Python 3.11 wait_for swallows a cancel that
            # lands in the turn an event arrives, and the cancelled runner would run on.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._wait_s()):
                    batch.append(await self.events.get())
            self.idle = False
            while not self.events.empty():
                batch.append(self.events.get_nowait())
            self._fill_queued.clear()  # whatever was queued is in this batch
            if any(isinstance(e, Shutdown) for e in batch):
                return await self.shut_down()
            arrived = time.perf_counter()
            commands = [e for e in batch if isinstance(e, Command)]
            stream = [e for e in batch if isinstance(e, tuple)]
            burst = await self.take_in(stream)
            if burst.unasked_cancel:
                # Someone else cancelled orders of ours: the operator's desired state first (an
                # emergency stop's cancel can beat its pushed command here), then any plan.
                self._next_control = 0.0
            if self.options.recovery is Recovery.POSITIONS and self._positions_due():
                self.reconcile_due = False
                await self.record(burst, hold=False)
                burst = await self.reconcile_positions()
            sends = self.sends
            final: str | None = None
            if commands or time.monotonic() >= self._next_control:
                # A command is applied before anything else is planned: nothing is sent on the
                # strength of a plan made before the operator's stop or cancel-all.
                await self.record(burst, hold=False)
                burst = intake.Burst()
                final = await self.control(commands)
                if final is None and (stream or self.options.timers):
                    # The burst may hold a fill whose replenish is due (the fallback read fell
                    # in the same turn); a pause or cancel-all just applied makes this a no-op.
                    await self.replan()
            elif (
                burst.concerns_market
                or self.options.timers
                or self._deferred_plan_due(stream)
                or self._exit_marked(stream)
            ):
                # The decision needs only memory: the replenish goes out before the bookkeeping.
                # A burst with nothing of this bot's market (another bot's orders and fills on
                # the same account, marks) changes no plan: no decision for it (unless the
                # strategy keeps time).
                await self.replan()
                self._replenish_observe(burst, sent=self.sends > sends, arrived=arrived)
            await self.record(burst)
            if final is None:
                final = await self.tick()
            if final is not None:
                # Anything sent since the last record, and acknowledgements held.
                await self.record(intake.Burst(), hold=False)
                return final

    def _wait_s(self) -> float:
        """How long the loop waits for events: a turn, or less while bookkeeping is held (it
        is written when its hold runs out, not a turn later)."""
        if self._bookkeeping_since is None:
            return self.options.tick_s
        left = self._bookkeeping_since + self.options.bookkeeping_held_s - time.monotonic()
        return max(0.0, min(self.options.tick_s, left))

    async def take_in(self, items: list[tuple[Leg, StreamEvent]]) -> intake.Burst:
        """Apply a burst of the legs' stream events to their clients, the working orders and the
        strategy; returns the first leg's part to record (other legs' fills are recorded here)."""
        own: list[StreamEvent] = []
        told: list[Event] = []
        unbooked: dict[Leg, list[FillInfo]] = {}
        for leg, event in items:
            state = self.legs[leg]
            if leg == self.leg:
                own.append(event)
            elif isinstance(event, PositionUpdate):
                for position in event.positions:
                    if position.market_id == self.market_id:
                        told.append(PositionSet(leg, intake.signed_size(position)))
            elif isinstance(event, FillEvent) and state.reports is not None:
                for filled, info in state.reports.fills(event.fills):
                    told.append(filled)
                    unbooked.setdefault(leg, []).append(info)
            elif isinstance(event, Reconnected):
                self.reconcile_due = True
            if isinstance(event, OrderUpdate) and state.reports is not None:
                told += state.reports.ends(event.orders)
        # Every kind keeps the marks: its exits judge them (`MarketView.exit_price`).
        self.marks.take(own)
        self._feed_mark_take()
        first = self.legs[self.leg]
        burst = intake.take_in(own, self.leg, self.market_id, first.orders, self.ledger)
        if first.reports is not None:
            for told_event in burst.events:
                if isinstance(told_event, Filled) and told_event.client_order_index is not None:
                    first.reports.told_fill(told_event.client_order_index, told_event.size_base)
                    self._fill_seen = self._fill_seen or time.perf_counter()
        # The first leg's fills first: an end held for them may be due now.
        released = [
            ended
            for state in self.legs.values()
            if state.reports is not None
            for ended in state.reports.released()
        ]
        self.tell([*burst.events, *told, *released])
        if burst.reconcile:
            metrics.counter_add("stream_reconnects", bot=self.bot.pk)
        self.reconcile_due = self.reconcile_due or burst.reconcile
        for leg, fills in unbooked.items():
            account = self.legs[leg].account
            await db(hedge_recording.fills_record)(self.bot, self.fence, account, fills)
        if unbooked and self._fill_seen is not None and not self.strategy.behind():
            self.hedge_latencies.append(time.perf_counter() - self._fill_seen)
            self._fill_seen = None
        return burst

    async def on_event(self, event: Item) -> None:
        """Apply one stream event and record it (sends are `replan`'s); a command that arrives
        meanwhile (while stopping, or before the first book) is applied by the loop next."""
        if isinstance(event, Shutdown):
            raise WorkerShutdown  # ends whatever waits (first book, a stop's read-back)
        if isinstance(event, Command):
            self._next_control = 0.0
            return
        await self.record(await self.take_in([event]), hold=False)

    async def record(self, burst: intake.Burst, *, hold: bool = True) -> None:
        """Record the batches sent since the last record and a burst in one transaction, then
        align memory with what the database says. Bookkeeping that moves no money waits for
        the next record, for up to `EngineOptions.bookkeeping_held_s` (`hold=False`: all of
        it now)."""
        burst = burst.after(self._bookkeeping)
        if hold and self._holdable(burst):
            self._bookkeeping = burst if burst.orders else None
            return
        self._bookkeeping, self._bookkeeping_since = None, None
        if not burst and not self.sent and not self.strategy.log_due:
            return
        if self.halted is not None:
            burst.fills = []  # the venue contradicts our records: nothing more is booked
        sent, self.sent = self.sent, []
        log = self.strategy.log_take()  # the core's session log, in the same transaction
        changed, new = await db(intake.record)(self.bot, self.fence, burst, self.ledger, sent, log)
        self.records += 1
        told_ends = self.legs[self.leg].reports is not None
        if not told_ends:
            # A strategy not told of its orders' ends: the runner says when one ended unasked.
            await self._note_unexpected_ends(changed)
        feed = self._feed if changed and self._feed is not None and self._feed.band else None
        before = self._plan_inputs() if feed is not None else None
        self.orders.track(changed)
        if feed is not None and self._plan_inputs() != before:
            feed.band = None  # what a plan reads moved: the next book may find work
        if not told_ends:
            # The database stays the backstop: a fill it recorded that memory did not book (an
            # order the runner did not know) still moves the position and the grid.
            self.apply_new_fills([f for f in new if f.trade_id not in burst.booked])

    async def _held_written(self) -> None:
        """A cancelled run (the bench's, a test's) writes down what it holds before it goes: the
        plans' events among it. A failure here is logged; the cancel goes on."""
        if self._bookkeeping is None and not self.sent:
            return
        try:
            await self.record(intake.Burst(), hold=False)
        except Exception as exc:  # a cancel is under way: it must not turn into another error
            logger.warning("bot %s %s: held records not written: %s", self.bot.pk, self.symbol, exc)

    def _holdable(self, burst: intake.Burst) -> bool:
        """Whether `burst` and the batches sent may wait for the next record: no money moved,
        no order ended, no session log due, and held for less than `bookkeeping_held_s` so far."""
        if self.options.bookkeeping_held_s <= 0 or self.strategy.log_due:
            return False
        if not burst.holdable or self.finished is not None:
            return False
        now = time.monotonic()
        if (burst.orders or self.sent) and self._bookkeeping_since is None:
            self._bookkeeping_since = now
        return (
            self._bookkeeping_since is None
            or now - self._bookkeeping_since < self.options.bookkeeping_held_s
        )

    def apply_new_fills(self, new: list[Fill]) -> None:
        """Each newly recorded fill moves the position and the centre to its level."""
        self.tell([self._filled(fill) for fill in new])

    async def write_transitions(self) -> None:
        """The strategy's state-machine transitions as BotEvents, then its snapshot (fenced)."""
        transitions = self.strategy.drain_transitions()
        if not transitions:
            return
        for t in transitions:
            level = EventLevel.ERROR if str(t.target) == "error" else EventLevel.INFO
            data = {**t.data, "source": str(t.source), "target": str(t.target)}
            await self.event(str(t.event), t.reason, level, **data)
        snapshot = self.strategy.snapshot()
        if snapshot is not None:
            await db(hedge_recording.snapshot_save)(self.bot, self.fence, snapshot)

    async def _still_ours(self) -> None:
        """The fence guards our database writes; this guards our sends: a runner whose lease
        passed to a successor must not send, nor a placement planned before an operator command
        that arrived while it waited, nor one the price has put past the bot's stop-loss or
        take-profit meanwhile. Run by the client once per send, under the nonce lock
        right before signing, and at every pause of a send's wait for budget."""
        await self._lease_renewed()
        if not self._placing:
            return
        if self._command_waiting:
            raise SendDropped("an operator command arrived first; placement not sent")
        # The price went past the stop-loss or take-profit while the placement waited for
        # budget: the next decision exits (in the operator's lane) instead.
        market = self.exit_view()
        if market is not None and self.strategy.exit_due(market):
            raise SendDropped("the price is past the bot's exit; placement not sent")

    async def _lease_renewed(self) -> None:
        """Renew the lease (at every pause of any wait for budget, reads included): a runner
        waiting on the budget is alive, and a wait longer than the TTL (three bots starting on
        one account) must not let the lease lapse, which would let a restart queued meanwhile
        run the bot a second time. LeaseLost when a successor holds it."""
        if self.lease is None:
            return
        try:
            renewed = await self.lease.arenew(self.client.redis)
        except RedisError as exc:
            # Weather: the send waits for Redis (the lease cannot be checked meanwhile).
            raise TransientError(f"Redis unreachable, lease not checked: {exc}") from exc
        if not renewed:
            # Expired with nobody else holding it (Redis restarted empty): taken again;
            # held by another runner: LeaseLost, nothing sent.
            await self.keep_lease()

    async def _budget_waits(self) -> None:
        """At every pause of a wait for budget: the lease is renewed, and a bot still starting
        says on its page what it waits for (the message goes when it runs) and gives its start
        up when the operator's command that arrived meanwhile is a stop (`StartStopped`)."""
        await self._lease_renewed()
        if self._ran:
            return
        if not self._budget_wait_shown:
            self._budget_wait_shown = True
            await self.update(status_message=BUDGET_WAIT_MESSAGE)
        if self._command_waiting and not self._start_commands_read:
            self._start_commands_read = True  # once per command, not at every pause
            desired, _ = await db(recording.desired_state_get, writes=False)(self.bot.pk)
            if desired == DesiredState.STOPPED:
                raise StartStopped("stopped by the operator while starting")

    async def _control_while_starting(self) -> str | None:
        """The start was given up for the operator's stop: apply it as the loop would, with the
        bot's records loaded (the start may have been stopped before it read them). None when
        the stop was taken back meanwhile: the start begins again."""
        if self.options.recovery is Recovery.LEDGER:
            self.ledger = await db(selectors.bot_ledger, writes=False)(self.bot)
        return await self.control([])

    def _command_arrived(self, command: Command) -> None:
        if command.kind != SETTINGS:  # a desired state: nothing planned before it goes out
            self._command_waiting = True
            self._start_commands_read = False
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

    # --- start --------------------------------------------------------------------------------

    async def apply_settings(self) -> str | None:
        """Apply each leg's leverage and margin mode to the market and read them back from the
        account before any order goes out (a 200 alone is not applied). A refusal (the client's
        check, the transaction failed, or not seen within the timeout) is recorded as a
        `settings_refused` event and returned: the bot goes to error and sends nothing.
        Transient failures (429, 5xx, network) raise: the engine's weather waits them out."""
        for state in self.legs.values():
            mode = MarginMode(state.margin_mode)
            label = f"leg {state.name}: " if state.name else ""
            data: dict[str, Any] = {"leg": state.name} if state.name else {}
            data |= {"leverage": str(state.leverage), "margin_mode": mode.value}
            try:
                await legs.settings_apply(state.client, self.market_id, state.leverage, mode)
            except TransientError:
                raise
            except ExchangeError as exc:
                message = f"{label}leverage {state.leverage}x {mode.value} refused: {exc}"
                await self.event("settings_refused", message, EventLevel.ERROR, **data)
                return message
            await self.event(
                "settings_applied",
                f"{label}leverage {state.leverage}x, {mode.value} margin "
                "(read back from the exchange)",
                **data,
            )
        return None

    async def startup(self) -> None:
        """Recover (see `Recovery`) and start the strategy."""
        if self.options.recovery is Recovery.LEDGER:
            await self._startup_ledger()
        else:
            await self._startup_positions()

    async def _startup_ledger(self) -> None:
        """Reconcile with the exchange, take over the position, restore the lattice, report."""
        self.ledger = await db(selectors.bot_ledger, writes=False)(self.bot)
        found = await self.reconcile(grace_s=0.0)
        # This was the reconcile a start owes: the next is the periodic one. (The first turn made
        # another at once, three more requests of the account's budget for every grid started.)
        self.reconcile_due = False
        self._next_reconcile = time.monotonic() + self.reconcile_seconds()
        market = self.market_view()
        assert market is not None  # the runner waited for the first book
        # Adopted at the exchange's mark (the mid until the first mark arrives).
        await self.settle_ownership(found, self.marks.mark(self.market_id) or market.mid)
        saved = {name: getattr(self.bot, name) for name in self.strategy.run_state_fields}
        fields = self.strategy.begin(market.mid, saved, self.now_ms())
        await self.update(**fields, last_price=self.marks.mark(self.market_id) or market.mid)
        position = self.position.quantize(tick_from_decimals(self.bot.market.size_decimals))
        await self.event(
            "recovered",
            f"adopted {found.adopted} resting orders, resolved {found.resolved}, recorded "
            f"{len(found.fills)} missed fills, position {position} {self.symbol}; "
            f"{self.strategy.run_state_note(market.mid)}",
            adopted=found.adopted,
            resolved=found.resolved,
            fills=len(found.fills),
            position=str(self.position),
            **{name: str(value) for name, value in fields.items()},
        )

    async def _startup_positions(self) -> None:
        """Every leg's position from REST: the truth the strategy starts from."""
        market = self.market_view()
        assert market is not None  # the runner waited for the first book
        await self._leftovers_cancel()
        # What a run before this one sent and did not live to record: the positions read next
        # already hold it, and the bot's own position and PnL on each leg would miss it.
        await self.market_fills_record(self.legs.values())
        self.strategy.begin(market.mid, {}, self.now_ms())
        sizes = await self.positions_read()
        told, _ = self._per_leg(sizes)
        await self.event("recovered", f"positions {told}")
        self.reconcile_due = False
        self._next_reconcile = time.monotonic() + self.reconcile_seconds()
        for state in self.legs.values():
            if state.leg != self.leg:
                await self.order_indexes_refill(state)

    async def _leftovers_cancel(self) -> None:
        """Cancel (verified) what a run before this one left resting on the first leg.

        Its worker died with an order out, so the rows say it may rest, and this run's
        strategy (resumed from a snapshot that names no order) does not know it: it would place
        a second one beside it, and a stop, which cancels the orders this run knows, would leave
        it behind. Before the positions are read, so they count whatever it filled."""
        own, active = await db(controls.bot_order_indexes, writes=False)(self.bot)
        if not active:
            return  # the run before ended cleanly: nothing may rest
        first = self.legs[self.leg]
        cancelled, remaining, finals = await controls.leftovers_cancel(
            first.client, self.market_id, own, active
        )
        await db(controls.leftovers_record)(self.bot, self.fence, active, finals)
        if remaining:
            raise ExchangeError(
                f"{self.symbol}: {len(remaining)} orders of the run before still open on "
                f"{first.name} after their cancel"
            )
        if cancelled:
            await self.event(
                "orders_cancelled",
                f"{first.name}: {cancelled} orders the run before left resting cancelled "
                "(verified)",
                EventLevel.WARNING,
                cancelled=cancelled,
            )

    # --- recovery: the bot's records (the grid) -----------------------------------------------

    async def reconcile(
        self,
        *,
        fills: bool = True,
        grace_s: float = recovery.MISSING_GRACE_S,
        positions: bool = True,
    ) -> recovery.Reconciled:
        """Make memory match the exchange (`bots.engine.recovery.reconcile`); `positions=False`
        (a stop's read-back, which must not need more of the budget than it has to) leaves the
        positions unread."""
        found = await recovery.reconcile(
            self.bot, self.fence, self.client, self.ledger, fills=fills, grace_s=grace_s,
            positions=positions,
        )  # fmt: skip
        if positions:
            # The start check, the dashboard and the API read the account's positions from here.
            await db(ownership.positions_store)(self.bot.account_id, found.positions)
        await self._report_foreign(found.foreign)
        self.apply_new_fills(found.fills)
        if positions:
            self._position_stored = self.position_mine
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

    # --- recovery: the legs' positions (the hedge bot) ----------------------------------------

    async def positions_read(self) -> list[Decimal]:
        """Every leg's position from REST, told to the strategy (also after a reconnect)."""
        sizes: list[Decimal] = []
        infos = await asyncio.gather(*(state.client.account() for state in self.legs.values()))
        for state, info in zip(self.legs.values(), infos, strict=True):
            # The pages and the start check read each account's positions from its last check.
            await db(ownership.positions_store)(state.account.pk, list(info.positions))
        for leg, info in zip(self.legs, infos, strict=True):
            size = sum(
                (intake.signed_size(p) for p in info.positions if p.market_id == self.market_id),
                Decimal(0),
            )
            self.strategy.on_event(PositionSet(leg, size))
            sizes.append(size)
        return sizes

    def _positions_due(self) -> bool:
        """A reconnect asked for it, an order waited too long for a cancel's confirmation, or
        the periodic reconcile is due (while no reaction is under way, when it gives way)."""
        if self._cancel_slow() or self.reconcile_due:
            return True
        if time.monotonic() < self._next_reconcile:
            return False
        return not self.options.reconcile_yields or self.strategy.reconcile_may_run()

    def _cancel_slow(self) -> bool:
        """An order has waited `CANCEL_CONFIRM_S` for the confirmation of a cancel (the hedge's
        self-trade guard): reconcile now rather than at the next interval (then again after as
        long, if it still waits)."""
        if not self.strategy.waits_for_cancel():
            self._held_since = None
            return False
        now = time.monotonic()
        if self._held_since is None:
            self._held_since = now
        if now - self._held_since < CANCEL_CONFIRM_S:
            return False
        self._held_since = now
        return True

    async def _unless_fills(self, read: Awaitable[T]) -> T | None:
        """`read`'s result, or None when a fill of the first leg arrives first and the kind's
        periodic reconcile gives way (its read in flight is cancelled, what it read is dropped,
        it runs again a second later) so the reaction never waits for its REST reads (they
        made the hedge latency's tail, ~0.4 s for one hedge in 50)."""
        if not self.options.reconcile_yields:
            return await read
        reading = asyncio.ensure_future(read)
        if not self._fill_queued.is_set():
            fill = asyncio.ensure_future(self._fill_queued.wait())
            await asyncio.wait({reading, fill}, return_when=asyncio.FIRST_COMPLETED)
            fill.cancel()
        if reading.done() and not self._fill_queued.is_set():
            return reading.result()
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
        self._next_reconcile = time.monotonic() + RECONCILE_YIELD_S
        return None

    async def reconcile_positions(self) -> intake.Burst:
        """Every leg over REST, for what the streams may have lost without a reconnect: the
        recent fills of every leg (told once, by trade id), the reports of the first leg's
        orders we take for live or are cancelling that no longer rest (an end, or a cancel
        confirmed), then every leg's position (the fills before the positions: docs/hedge.md).
        Returns the first leg's part to record."""
        self._next_reconcile = time.monotonic() + self.reconcile_seconds()
        items: list[tuple[Leg, StreamEvent]] = []
        # The legs' reads run side by side (each on its own account and client).
        pages = await self._unless_fills(
            asyncio.gather(
                *(state.client.fills(self.market_id, limit=100) for state in self.legs.values())
            )
        )
        if pages is None:
            return await self.take_in([])
        for (leg, state), page in zip(self.legs.items(), pages, strict=True):
            if page.items:
                account = state.client.account_index or 0
                items.append((leg, FillEvent(account, tuple(page.items), is_snapshot=True)))
        first = self.legs[self.leg]
        watched = set(first.orders.live)
        ended: list[OrderEnded] = []
        if watched:
            open_orders = await self._unless_fills(first.client.open_orders(self.market_id))
            if open_orders is None:
                return await self.take_in([])
            resting = {o.client_order_index for o in open_orders}
            gone = sorted(watched - resting)
            infos = await first.client.orders_by_client_index(gone) if gone else []
            if infos:
                account = first.client.account_index or 0
                items.append((self.leg, OrderUpdate(account, tuple(infos), is_snapshot=False)))
            known = {info.client_order_index for info in infos}
            cutoff = time.monotonic() - UNKNOWN_ORDER_GRACE_S
            for index in gone:
                sent = first.orders.sent_at.get(index, first.orders.cancel_sent_at.get(index))
                if index not in known and sent is not None and sent < cutoff:
                    first.orders.forget(index)
                    ended.append(OrderEnded(self.leg, index, "unknown to the exchange"))
            if any(i in first.orders.live for i in gone if i not in known) and (
                self._confirm_at is None
            ):
                # Unknown to the exchange but within the grace (its create may still be on the
                # way): look again once the grace has passed, not at the next interval.
                self._confirm_at = time.monotonic() + CONFIRM_AFTER_S
        burst = await self.take_in(items)
        self.tell(list(ended))
        # Cancels that still rest after CANCEL_CONFIRM_S were accepted and never executed (a
        # 200 that did nothing): the orders are working again, so the strategy sees them and
        # cancels again now, instead of holding its reaction until the order timeout.
        zombies = first.orders.zombies(time.monotonic() - CANCEL_CONFIRM_S)
        if zombies:
            await self.event(
                "cancel_unconfirmed",
                f"{first.name}: {len(zombies)} cancels accepted but never executed: the orders "
                "still rest; cancelled again",
                EventLevel.WARNING,
                client_order_indexes=zombies,
            )
        await self.positions_read()
        return burst

    # --- control ------------------------------------------------------------------------------

    async def control(self, commands: list[Command]) -> str | None:
        """Apply the operator's desired state (read from the database, the truth); a final
        status ends the loop."""
        self._next_control = time.monotonic() + self.options.control_s
        self._command_waiting = False
        if commands:
            self.last_command = max(c.seq for c in commands)
        self.control_reads += 1
        await locked.check_still_unlocked(self)  # raises KeyLocked once the key is locked again
        desired, cancel_all_at, settings = await db(recording.control_get, writes=False)(
            type(self.bot), self.bot.pk, self.options.live_settings
        )
        if commands:
            self.strategy.command(desired, self.last_command)
        if any(c.kind == SETTINGS for c in commands):
            self._next_dms = 0.0  # the account's dead-man's switch may have changed: now
        settings_changed = await self._settings_apply(settings)
        pausable = self.options.pausable
        if pausable and cancel_all_at is not None and desired != DesiredState.STOPPED:
            with operator_lane():  # the operator's reserved share: never behind routine traffic
                await self.cancel_all_orders(cancel_all_at)
        if desired == DesiredState.STOPPED:
            # All of the stop in the operator's lane: its cancels and read-backs, the closes of
            # "stop and close" and the dead-man's switch's release are never behind routine
            # traffic (the bots' own, filling its lane while they run).
            with operator_lane():
                return await self._stop_by_operator()
        if pausable and (desired == DesiredState.PAUSED) != self.paused:
            self.paused = desired == DesiredState.PAUSED
            status = BotStatus.PAUSED if self.paused else BotStatus.RUNNING
            await self.update(status=status)
            await self.event(
                str(status), "resting orders kept, nothing new placed" if self.paused else "resumed"
            )
            if not self.paused:
                await self.replan()
        elif settings_changed:
            await self.replan()  # decides with them now: a stop-loss already crossed fires
        return None

    async def _settings_apply(self, settings: dict[str, Any]) -> bool:
        """The operator's live settings as the row has them now (a stop-loss set or moved
        while the bot runs); an event says what changed. Whether anything did."""
        try:
            changed = self.strategy.settings_apply(settings)
        except ValueError as exc:
            # The admin and the API validate first: only a row written around them gets here.
            await self.event("settings_refused", f"settings not applied: {exc}", EventLevel.ERROR)
            return False
        if not changed:
            return False
        for name, (_, new) in changed.items():
            setattr(self.bot, name, new)
        if self._feed is not None:
            self._feed.exits = self.strategy.exit_prices()  # a stop-loss set or moved
        said = "; ".join(
            f"{name.replace('_', ' ')} {_setting_text(old)} → {_setting_text(new)}"
            for name, (old, new) in changed.items()
        )
        values = {
            name: None if new is None else _setting_text(new) for name, (_, new) in changed.items()
        }
        await self.event("settings_changed", f"now applied: {said}", changed=values)
        return True

    async def _stop_by_operator(self) -> str:
        """The operator's stop: orders cancelled (verified), the legs closed when asked, the
        dead-man's switch released; returns the final status."""
        await self.stop_orders("stopped by the operator")
        if self.options.stop_may_close:
            if await db(hedge_recording.close_requested, writes=False)(self.bot.pk):
                return await self.stop_closing()
        await self.update(status=BotStatus.STOPPED, stopped_at=timezone.now())
        kept = "position kept" if len(self.legs) == 1 else "positions kept"
        await self.event("stopped", f"orders cancelled (verified); {kept}")
        await self.dead_mans_switches_release()
        return BotStatus.STOPPED

    async def tick(self) -> str | None:
        """The strategy's transitions and end; heartbeat, lease, reconcile, dead-man's switch;
        a final status ends the loop."""
        await self.write_transitions()
        if self.finished is None and self.strategy.finished:
            await self.finish()
        if self.finished is not None:
            return self.finished
        if self.options.mark_figures:
            self._feed_mark_take()
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
            await self.record(intake.Burst(), hold=False)  # what is held may confirm them
            if any(state.orders.unconfirmed(now - CONFIRM_AFTER_S) for state in self.legs.values()):
                # A batch accepted but not (fully) executed (a 200 that did nothing?): the
                # exchange is the truth, read now rather than at the next periodic reconcile.
                self.reconcile_due = True
        if self.options.recovery is Recovery.LEDGER:
            if self.reconcile_due or now >= self._next_reconcile:
                self.reconcile_due = False
                await self.record(intake.Burst(), hold=False)  # the records it compares
                self._next_reconcile = now + self.reconcile_seconds()
                await self.reconcile()
                await self.weather_cleared()
                await self.replan()
        if now >= self._next_dms:
            self._next_dms = now + DEAD_MANS_SWITCH_REARM_S
            for state in self.legs.values():
                await recovery.dead_mans_switch_keep(state.client, state.account)
        return None

    async def dead_mans_switches_release(self) -> None:
        """On a clean stop, abort the legs' scheduled cancel-alls (unless another bot runs)."""
        for state in self.legs.values():
            await recovery.dead_mans_switch_release(state.client, state.account, self.bot)

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
        """Cancel every active order of the bot and verify it from REST; raise if they stay
        (`bots.engine.locked` calls this too)."""
        if self.options.recovery is Recovery.LEDGER:
            await self._stop_recorded(reason)
            return
        for state in self.legs.values():
            await self._stop_leg(state, reason)

    async def _stop_recorded(self, reason: str) -> None:
        """The bot's orders cancelled, then verified by a read-back of the market's open orders.

        What memory knows to rest is cancelled at once, and the stream's reports of those cancels
        are taken in before the read-back: a stop of every bot of an account (the emergency stop)
        then costs each runner two requests (the cancel and one read), three when the bot traded
        since the account's positions were last read (they are read again for the next start's
        check), which the operator's reserved share of a standard account's budget holds for
        three bots and the account-wide cancel (`exchange.budget`). A read that still finds
        orders of ours sends their cancels again, until `STOP_VERIFY_TIMEOUT_S`."""
        await self.update(status=BotStatus.STOPPING, status_message=reason)
        deadline = time.monotonic() + STOP_VERIFY_TIMEOUT_S
        await self._cancel_live()
        while True:
            await self.reconcile(fills=False, positions=False)
            ours = sorted(self.orders.live)
            if not ours:
                break
            if time.monotonic() >= deadline:
                raise ExchangeError(f"{self.symbol}: {len(ours)} orders still open after stop")
            await self._cancel_live()
        if self.position_mine != self._position_stored:
            # The account's positions, as the next start's check and the pages read them, after
            # the bot's own trades since they were last read (none: no request).
            positions = await self.client.positions()
            await db(ownership.positions_store)(self.bot.account_id, list(positions))
            self._position_stored = self.position_mine

    async def _cancel_live(self) -> None:
        """Cancel every order memory holds live, and take in the stream's reports until they
        have all ended or `STOP_STREAM_WAIT_S` passed (the read-back then finds them ended)."""
        ours = sorted(self.orders.live)
        if not ours:
            return
        self.orders.sent([], ours, time.monotonic())
        await self._still_ours()
        await self.client.replace_orders(self.market_id, ours, [])
        self.sends += 1
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_STREAM_WAIT_S):
                while self.orders.live:
                    await self.on_event(await self.events.get())

    async def _stop_leg(self, state: LegState, reason: str) -> None:
        """Cancel every order of ours resting on the leg and verify from REST."""
        if not state.tracks_reports:
            return
        deadline = time.monotonic() + STOP_VERIFY_TIMEOUT_S
        while True:
            resting = await state.client.open_orders(self.market_id)
            ours = [o.client_order_index for o in resting if state.is_ours(o.client_order_index)]
            if not ours:
                return
            if time.monotonic() > deadline:
                raise ExchangeError(
                    f"{self.symbol}: {len(ours)} orders of {state.name} open after {reason}"
                )
            await state.client.replace_orders(self.market_id, ours, [])
            await pause(0.2)

    async def stop_closing(self) -> str:
        """The operator's stop with "close both legs": our orders are cancelled (verified)
        already; every leg is closed and read back flat, or the bot is in error."""
        sizes = await self.close_legs()
        if not any(sizes):
            await self.update(status=BotStatus.STOPPED, stopped_at=timezone.now())
            await self.event("stopped", "orders cancelled and every leg closed (verified)")
            await self.dead_mans_switches_release()
            return BotStatus.STOPPED
        left, _ = self._per_leg(sizes)
        message = f"close both legs incomplete: {left} still open"
        await self.update(status=BotStatus.ERROR, status_message=message)
        return BotStatus.ERROR

    async def close_legs(self) -> list[Decimal]:
        """Close every leg with reduce-only market orders whose worst price is the strategy's
        slippage (widened at most to twice it), verified from each account; rounds that leave
        a leg open are retried after a bounded backoff. Every step is a BotEvent. Returns the
        positions read back last."""
        slippage = self.strategy.close_slippage() or Decimal("0.005")
        sizes = await self.positions_read()
        said, data = self._per_leg(sizes)
        await self.event("close_started", f"closing both legs: {said}", **data)
        for attempt in range(1, CLOSE_ROUNDS + 1):
            for state in self.legs.values():
                ids = await self.market_indexes(state, controls.CLOSE_ORDER_INDEXES)
                try:
                    with operator_lane():  # the operator's share of the request budget
                        result = await state.client.close_position(
                            self.market_id, ids, max_slippage=slippage,
                            widen_by=slippage / 2, max_slippage_cap=slippage * 2,
                        )  # fmt: skip
                except ExchangeError as exc:
                    await self.event("close_failed", f"leg {state.name}: {exc}",
                                     EventLevel.WARNING, leg=state.name,
                                     attempt=attempt)  # fmt: skip
                    continue
                message = (f"leg {state.name}: {result.status.value}, closed "
                           f"{result.closed_size}, left {result.remaining_size} "
                           f"{result.reason}").strip()  # fmt: skip
                await self.event("close_leg", message, leg=state.name, attempt=attempt,
                                 status=result.status.value, closed=str(result.closed_size),
                                 remaining=str(result.remaining_size))  # fmt: skip
            sizes = await self.positions_read()
            if not any(sizes):
                await self.market_fills_record(self.legs.values())
                await self.event("legs_closed", "both legs flat (read back from the exchange)")
                return sizes
            if attempt < CLOSE_ROUNDS:
                await pause(CLOSE_BACKOFF_S * 2 ** (attempt - 1))
        await self.market_fills_record(self.legs.values())
        said, data = self._per_leg(sizes)
        await self.event("close_incomplete", f"after {CLOSE_ROUNDS} rounds: {said} open",
                         EventLevel.ERROR, **data)  # fmt: skip
        return sizes

    async def market_fills_record(self, states: Iterable[LegState]) -> None:
        """Record the fills of the bot's market orders (hedges, repairs, closes, a flatten) on
        these legs, per leg under its account, once per trade id: read over REST, as the loop
        that would take their stream reports has ended (a close) or never saw them (a run
        before this one). Ours by the indexes recorded as the bot's before they were sent; a
        leg where it never reserved any costs no read."""
        for state in states:
            reserved = recording.market_indexes_reserved
            if not await db(reserved, writes=False)(self.bot.pk, state.account.pk):
                continue
            page = await state.client.fills(self.market_id, limit=100)
            mine = recording.market_indexes_mine
            ours = await db(mine, writes=False)(
                self.bot.pk, state.account.pk, [f.client_order_index for f in page.items]
            )
            fills = [f for f in page.items if f.client_order_index in ours]
            if fills:
                record = hedge_recording.fills_record
                await db(record)(self.bot, self.fence, state.account, fills, leg=state.name)

    def _per_leg(self, sizes: list[Decimal]) -> tuple[str, dict[str, str]]:
        """The legs' positions in words ("A 0.01, B -0.01") and as event data."""
        pairs = list(zip(self.legs.values(), sizes, strict=True))
        said = ", ".join(f"{state.name} {size}" for state, size in pairs)
        return said, {state.name.lower(): str(size) for state, size in pairs}

    async def risk_exit(self, halt: Halt) -> None:
        """Stop-loss / take-profit: stop placing, cancel (verified), optionally flatten, stop.

        All of it in the operator's lane of the request budget, as an operator's stop: a
        protective exit never waits behind routine traffic (the grids' placements filling their
        lane right after their starts held a stop-loss's cancels for 24 s on the paper stack)."""
        market = self.exit_view()
        reason = f"{halt.trigger.value.replace('_', '-')} hit"
        if market is not None:
            book = f"bid {market.best_bid}, ask {market.best_ask}"
            if market.mark is None:
                reason += f": mid {market.mid} ({book})"
            else:
                # Without a side of the book there is no mid (the mark stands in for it).
                whole = market.best_bid is not None and market.best_ask is not None
                reason += f": mark {market.mark} (mid {market.mid if whole else 'none'}, {book})"
        await self.event("risk_exit", reason, EventLevel.WARNING, trigger=halt.trigger.value)
        with operator_lane():
            await self._risk_exit(halt, reason)

    async def _risk_exit(self, halt: Halt, reason: str) -> None:
        await self.stop_orders(reason)
        status, message = BotStatus.STOPPED, reason
        if self.options.risk_exit_closes_legs:
            sizes = await self.close_legs()
            if any(sizes):
                status = BotStatus.ERROR
                message += f"; close both legs incomplete: {self._per_leg(sizes)[0]} still open"
        elif self.options.risk_exit_flattens and (halt.flatten or halt.flatten_base != 0):
            await self._flatten_own(self.legs[halt.leg])
        if self.options.mark_figures:
            # The stopped bot keeps the mark its exit judged (and its PnL at it), not the one
            # published up to a second before the move that stopped it.
            self._feed_mark_take()
            mark = self.marks.due(self.market_id, throttled=False)
            if mark is not None:
                await marks.figures_publish(self.bot, self.fence, mark, self.ledger)
        await self.update(
            status=status,
            desired_state=DesiredState.STOPPED,
            status_message=message,
            stopped_at=timezone.now(),
        )
        self.finished = status

    async def _flatten_own(self, state: LegState) -> None:
        """Close the bot's own position, as it is once its orders have all ended: every fill
        read first (a fill in flight when the exit was decided counts), then only the bot's
        part of the account's position is closed (reduce-only, verified): the rest is other
        bots' or the trader's, and stays."""
        self.apply_new_fills(
            await recovery.missed_fills(self.bot, self.fence, self.client, self.ledger)
        )
        own = self.position_mine
        if own == 0:
            await self.event("flatten", "position close: nothing to close (the bot's own is flat)")
            return
        indexes = await self.market_indexes(state, FLATTEN_CLIENT_INDEXES)
        side = PositionSide.LONG if own > 0 else PositionSide.SHORT
        result = await state.client.close_position(
            self.market_id, indexes, size=abs(own), position_side=side
        )
        await self.market_fills_record([state])
        closed = result.status.value == "closed"
        said = f"position close: {result.status.value} ({result.closed_size} of {abs(own)}"
        said += f" {self.symbol})" if closed else f" {self.symbol}; {result.reason})"
        await self.event("flatten", said, EventLevel.INFO if closed else EventLevel.WARNING)

    async def finish(self) -> None:
        """The strategy ended (its last cycle, or error): nothing of ours may rest, and the bot
        is stopped (error keeps its status and the open net on the page)."""
        snapshot = self.strategy.snapshot()
        state = "" if snapshot is None else str(snapshot.state.value)
        await self.stop_orders(f"the strategy ended in {state}")
        if state == "error":
            message = "hedge could not be repaired: the pair's net is beyond the tolerance"
            await self.update(status=BotStatus.ERROR, status_message=message)
            self.finished = BotStatus.ERROR
            return
        await self.update(
            status=BotStatus.STOPPED, desired_state=DesiredState.STOPPED, stopped_at=timezone.now()
        )
        cycles = 0 if snapshot is None else snapshot.cycles_completed
        await self.event("finished", f"{cycles} cycles done")
        self.finished = BotStatus.STOPPED

    # --- lease, weather, shutdown -------------------------------------------------------------

    async def shut_down(self) -> str:
        """The worker is shutting down: record what was sent, say so, and end (orders stay under
        the dead-man's switch; the task releases the lease and queues the bot again)."""
        await self.record(intake.Burst(), hold=False)
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

    # --- deciding and sending -----------------------------------------------------------------

    async def replan(self) -> None:
        """Ask the strategy to decide for every leg against its working orders; send its
        intents at once (one batch per leg, market orders after). Paused: nothing is placed,
        but the exits still watch (a paused grid's resting orders still fill)."""
        if self.paused and self.strategy.ready:
            await self._exit_if_due()
        if self.paused or not self.strategy.ready:
            return
        # A plan held back by a refusal's backoff is made on the next burst after it.
        self._plan_deferred = time.monotonic() < self._refused_until
        if self._plan_deferred:
            return
        market = self.market_view()
        if market is None:
            await self._exit_if_due()  # a side of the book is empty: only the exits judge
            return
        if self.options.timers:
            self.strategy.turn(self.now_ms(), self.stream.book(self.market_id))
        intents: list[Intent] = []
        for state in self.legs.values():
            intents += self.strategy.on_event(Decide(state.leg, market, self.working(state)))
        run_state = {
            name: value
            for name, value in self.strategy.run_state().items()
            if getattr(self.bot, name) != value
        }
        if run_state:
            run_state["last_price"] = self.marks.mark(self.market_id) or market.mid
        if self._feed is not None:
            self._quiet_band_set(self._feed, market, asked=bool(intents))
        halts = [i for i in intents if isinstance(i, Halt)]
        if halts:
            await self.risk_exit(halts[0])
            return
        for state in self.legs.values():
            batch = [i for i in intents if isinstance(i, Place | Cancel) and i.leg == state.leg]
            if batch or (run_state and state.leg == self.leg):
                await self.send_batch(state, batch, market, run_state)
            if self.finished is not None:
                return
        for order in (i for i in intents if isinstance(i, MarketOrder)):
            await self.send_market(order)

    def _plan_inputs(self) -> frozenset[tuple[Any, ...]]:
        """What a plan reads of the first leg's working orders (`LiveOrder.plan_inputs`)."""
        return frozenset(o.plan_inputs for o in self.orders.working())

    async def _exit_if_due(self) -> None:
        """A bot that plans nothing now (paused, or a side of the book empty) but whose price
        is past its stop-loss or take-profit exits as a running one does: the strategy's
        decision there is the exit (`Halt`), nothing else."""
        market = self.exit_view()
        if market is None or not self.strategy.exit_due(market):
            return
        for state in self.legs.values():
            intents = self.strategy.on_event(Decide(state.leg, market, self.working(state)))
            halts = [i for i in intents if isinstance(i, Halt)]
            if halts:
                await self.risk_exit(halts[0])
                return

    def _quiet_band_set(
        self, feed: market_feed.FeedHandle, market: MarketView, *, asked: bool
    ) -> None:
        """After a decision that asked for nothing: let the feed keep the books that cannot
        change that away from this runner (after one that asked for something: none). A book
        that arrived while the band was cleared is in the feed's top: outside the band, the
        band goes (every book is handed on)."""
        band = None if asked else self.strategy.quiet_band(market)
        feed.band = band
        if band is None:
            return
        top = feed.top
        if top is None or top.mid is None or not band[0] < top.mid < band[1]:
            feed.band = None

    def _replenish_observe(self, burst: intake.Burst, *, sent: bool, arrived: float) -> None:
        """The fill -> replenish figure: a burst with a fill of ours whose plan sent reports
        its own reaction time. The book (the market feed, another connection) may show the move
        before the account's reports do: the grid then re-centres and sends on the book, and the
        fill's burst finds nothing left to send; it reports the reaction to that book instead."""
        now = time.perf_counter()
        if sent:
            self._reaction = (now - arrived, now)
        if not any(isinstance(e, Filled | OrderTraded) for e in burst.events):
            return
        # Only a reaction of the last moments: the same move, not an older one.
        if self._reaction is not None and now - self._reaction[1] <= REACTION_MATCH_S:
            metrics.observe("fill_replenish_seconds", self._reaction[0], bot=self.bot.pk)
        self._reaction = None

    def _exit_marked(self, stream: list[tuple[Leg, StreamEvent]]) -> bool:
        """A mark in the burst puts the market past the bot's stop-loss or take-profit: decide
        now (the exits judge the mark, and a book inside its quiet band, or one whose deltas
        stopped, brings no decision)."""
        if not any(isinstance(event, MarkUpdate) for _, event in stream):
            return False
        market = self.exit_view()
        return market is not None and self.strategy.exit_due(market)

    def _deferred_plan_due(self, stream: list[tuple[Leg, StreamEvent]]) -> bool:
        """A plan held back by a refusal's backoff is made on the next burst, or on the first
        turn after the backoff on a quiet market (whose book no longer brings bursts)."""
        if not self._plan_deferred:
            return False
        return bool(stream) or time.monotonic() >= self._refused_until

    def working(self, state: LegState) -> list[LiveOrder]:
        """The leg's working orders for `Decide`; on a leg whose ends the strategy is told, also
        those the exchange reported filled whose fill reports have not come yet (the order
        report often comes first), for up to `FILL_WAIT_SECONDS`: the strategy learns they
        ended from their fills, and meanwhile places nothing beside them (A would run ahead of
        B). A fill lost with the socket is left to the positions read after the reconnect."""
        working = state.orders.working()
        if state.reports is None:
            return working
        now = time.monotonic()
        awaiting = state.reports.awaiting_fills()
        state.awaiting_since = {i: state.awaiting_since.get(i, now) for i in awaiting}
        shown = {o.client_order_index for o in working}
        for index, since in state.awaiting_since.items():
            order = state.orders.owner(index)
            if order is None or index in shown or index in state.orders.cancelling:
                continue
            if now - since <= FILL_WAIT_SECONDS:
                working.append(order)
            else:
                state.reports.fills_given_up(index)
        return working

    async def send_batch(
        self,
        state: LegState,
        intents: list[Place | Cancel],
        market: MarketView,
        run_state: dict[str, Any],
    ) -> None:
        """A leg's places and cancels as ONE batch, intents persisted first (with the
        strategy's run state, when it moved)."""
        creates = [i.order for i in intents if isinstance(i, Place)]
        cancels = [i.client_order_index for i in intents if isinstance(i, Cancel)]
        if not creates and not cancels:
            if run_state:
                await self.update(**run_state)
            return
        rows = await db(recording.order_intents_create)(
            self.bot, self.fence, creates, reserve=state.indexes, **run_state
        )
        orders = state.orders
        orders.track(rows)
        now = time.monotonic()
        orders.sent([r.client_order_index for r in rows], cancels, now)
        if state.reports is not None:
            for row in rows:
                state.reports.track(row.client_order_index)
        if self._confirm_at is None:
            # The stream confirms a batch within milliseconds; look again in a few seconds.
            self._confirm_at = now + CONFIRM_AFTER_S
        post_only = self.strategy.post_only
        requests = [
            OrderRequest(
                OrderSide(row.side), row.size_base, row.price, row.client_order_index,
                post_only=post_only,
            )
            for row in rows
        ]  # fmt: skip
        try:
            self._placing = True
            # The client runs `_still_ours` once per send, under the nonce lock before signing.
            tickets = await state.client.replace_orders(self.market_id, cancels, requests)
        except SendDropped as exc:
            # Nothing sent (the guard runs before signing): the intents end here, and the
            # command is applied next.
            orders.cancelling.difference_update(cancels)
            await db(recording.orders_resolved_missing)(self.bot, self.fence, rows, str(exc))
            orders.track(rows)
            self._ended_told(state, rows, str(exc))
            return
        except ExchangeError as exc:
            orders.cancelling.difference_update(cancels)
            if state.reports is not None:
                # Unknown whether it executed: the rows stay intents; the strategy is told the
                # orders ended and asks again (the leg's order report or its timeout tells).
                await self.event("send_failed", f"{state.name}: {exc}", EventLevel.WARNING)
                self._ended_told(state, rows, str(exc))
            else:
                await self._send_failed(rows, exc)
            return
        finally:
            self._placing = False
        accepted_at = time.monotonic()
        orders.accepted([r.client_order_index for r in rows], cancels, accepted_at)
        if self._confirm_at is not None:
            self._confirm_at = max(self._confirm_at, accepted_at + CONFIRM_AFTER_S)
        self.sends += 1
        self._refused_since = None
        if self.on_accepted is not None:
            self.on_accepted([r.client_order_index for r in rows])
        hashes = {t.client_order_index: t.tx_hash for t in tickets}
        note = self.strategy.plan_note(market, [r.client_order_index for r in rows], cancels)
        # Recorded (pending, tx hashes, the plan event) with the burst the loop records next.
        self.sent.append(
            recording.SentBatch(rows, [hashes.get(r.client_order_index, "") for r in rows], note)
        )
        orders.track(rows)

    def _ended_told(self, state: LegState, rows: list[Order], reason: str) -> None:
        """Orders that never went out, told to a strategy that is told its orders' ends."""
        if state.reports is None:
            return
        self.tell([OrderEnded(state.leg, row.client_order_index, reason) for row in rows])

    async def _send_failed(self, rows: list[Order], exc: ExchangeError) -> None:
        """A batch refused (backoff; an error after refusals for `BOT_REFUSED_GIVE_UP_SECONDS`)
        or failing (weather: the intents stay intents until a reconcile resolves them)."""
        now = time.monotonic()
        self._refused_until = now + REFUSED_BACKOFF_S
        run_state = self.strategy.run_state()
        if isinstance(exc, RejectedError):
            await db(recording.orders_refused)(self.bot, self.fence, rows, str(exc))
            self.orders.track(rows)
            await self.event("batch_refused", str(exc), EventLevel.ERROR, **_data(run_state))
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
        if not isinstance(exc, TransientError):
            raise exc
        # Retried by the client already; whether the batch executed is unknown. The intents
        # stay intents and the cancels are planned again: reconcile (due now) adopts what
        # executed and resolves what never did, so nothing is placed twice.
        self.reconcile_due = True
        await self.event("send_failed", str(exc), EventLevel.WARNING, **_data(run_state))
        if not self._degraded and not self.paused:
            self._degraded = True
            reason = f"the exchange is failing ({type(exc).__name__}: {exc}); retrying"
            await self.update(status=BotStatus.DEGRADED, status_message=reason[:500])

    async def send_market(self, order: MarketOrder) -> None:
        """A market order: an IOC limit at the strategy's worst price, on the order's leg."""
        state = self.legs[order.leg]
        index = await self.order_index(state)
        if state.reports is not None:
            state.reports.track(index)
        self.strategy.sent(order.leg, index)
        try:
            await state.client.place_order(
                self.market_id,
                OrderSide(str(order.side)),
                order.size_base,
                order.worst_price,
                index,
                ioc=True,
                reduce_only=order.reduce_only,
            )
        except ExchangeError as exc:
            # Refused, or unknown: an order that never reports is given up on by the strategy
            # after its timeout (and retried); one refused ends now.
            await self.event("market_order_failed", f"{exc}", EventLevel.WARNING, index=index)
            if getattr(exc, "is_transient", True) is False:
                self.tell([OrderEnded(order.leg, index, str(exc))])
        await self.order_indexes_refill(state)  # once the order is out

    async def order_index(self, state: LegState) -> int:
        """A client order index for a market order on the leg, from the indexes reserved ahead
        (the database's allocation is off the path from a fill to the reaction)."""
        await self.order_indexes_refill(state)
        return state.spare.pop(0)

    async def order_indexes_refill(self, state: LegState) -> None:
        """Reserve `INDEXES_AHEAD` client order indexes on the leg's account when none is left."""
        if not state.spare:
            state.spare.extend(await self.market_indexes(state, INDEXES_AHEAD))

    async def market_indexes(self, state: LegState, count: int) -> range:
        """`count` client indexes for market orders on the leg, recorded as the bot's before any
        is sent (`recording.market_indexes_reserve`)."""
        reserve = recording.market_indexes_reserve
        return await db(reserve)(self.bot, self.fence, state.account, count)


def _setting_text(value: Any) -> str:
    """A live setting as an event says it: "none", or a price without trailing zeros."""
    if value is None:
        return "none"
    return f"{value.normalize():f}" if isinstance(value, Decimal) else str(value)


def _data(run_state: dict[str, Any]) -> dict[str, Any]:
    """The run state as event data (the grid's centre)."""
    return {"centre": run_state["centre_index"]} if "centre_index" in run_state else {}


# --- building and running a runner -----------------------------------------------------------


async def run_bot(bot_id: int, *, fence: int, lease: Lease | None = None) -> str:
    """Run one bot of any kind until it stops; returns its final status ("stopped", "error",
    "lease_lost", `SHUTDOWN`)."""
    return await run_runner(await runner_create(bot_id, fence=fence, lease=lease))


async def runner_create(bot_id: int, *, fence: int, lease: Lease | None = None) -> BotRunner:
    """A runner for the bot as it is in the database now (not started): its strategy, its legs
    and its kind's options."""
    bot = await db(_bot_load)(bot_id)
    if isinstance(bot, HedgeBot):
        return _hedge_runner(bot, fence, lease)
    return _grid_runner(bot, fence, lease)


def _grid_runner(bot: GridBot, fence: int, lease: Lease | None) -> BotRunner:
    """The grid: one leg, the grid core noting what it sees and decides (session_log)."""
    leg = Leg(bot.account_id, bot.market_id)
    strategy = session_log.LoggedGridStrategy(leg, bot.grid_config())
    state = LegState(leg, bot.account, leverage=bot.leverage, margin_mode=bot.margin_mode)
    return BotRunner(bot, fence, lease, strategy, [state], GRID_OPTIONS)


def _hedge_runner(bot: HedgeBot, fence: int, lease: Lease | None) -> BotRunner:
    """The hedge bot: maker leg A, taker leg B, the hedge core resuming from its snapshot (a
    worker killed between A's fill and B's hedge resumes in the state it was in and hedges
    what the positions read at start say B owes)."""
    config = bot.hedge_config()
    restore = hedge_recording.snapshot_from_json(bot.strategy_snapshot)
    strategy = EngineHedgeStrategy(config, random.Random(bot.pk), restore=restore)
    legs_ = [
        LegState(config.leg_a, bot.account, name="A", leverage=bot.leverage_a,
                 margin_mode=bot.margin_mode_a, reports=True),
        LegState(config.leg_b, bot.taker_account, name="B", leverage=bot.leverage_b,
                 margin_mode=bot.margin_mode_b, reports=True),
    ]  # fmt: skip
    return BotRunner(bot, fence, lease, strategy, legs_, HEDGE_OPTIONS)


def _bot_load(bot_id: int) -> GridBot | HedgeBot:
    """The bot with its accounts and market (one query per kind)."""
    hedge = HedgeBot.objects.select_related("account", "taker_account", "market")
    found = hedge.filter(pk=bot_id).first()
    if found is not None:
        return found
    return GridBot.objects.select_related("account", "market").get(pk=bot_id)


# The runners alive in this process, with their loops: a worker shutdown ends them all.
_live: dict[BotRunner, asyncio.AbstractEventLoop] = {}
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


async def run_runner(runner: BotRunner) -> str:
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


async def _run_through_weather(runner: BotRunner) -> str:
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


async def _run_reporting_crashes(runner: BotRunner, bot_id: int) -> str:
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
