"""The async loop of one hedge bot: two legs (maker A, taker B) on two accounts, one strategy.

A first, separate runner for `HedgeStrategy` (docs/hedge.md, "What the runner does"), built from
the engine's parts (fenced recording, leases, pushed commands, the DB thread) until `BotRunner`
takes a strategy and its legs. Per burst of events from both accounts' streams:

1. each leg's events become strategy events: positions (`PositionSet`), fills of our orders
   (`Filled`, once per trade), orders that left the book without filling (`OrderEnded`, held
   until the fills the report counts were told);
2. `Tick(now_ms)`, then `Decide(A)` and `Decide(B)`; their intents go out at once: A's post-only
   orders and cancels as one `sendTxBatch`, market orders as IOC limit orders at the strategy's
   worst price, told to the strategy with `OrderSent` before any report can arrive;
3. A's orders, fills and funding are recorded like a grid's (`intake`, `reports`); B's fills
   are recorded per trade (`hedge_recording`); every transition of the state machine is a
   `BotEvent`, and the strategy's snapshot is kept on the bot.

The operator's stop cancels A's orders (verified from REST) and keeps both positions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from django.conf import settings
from django.utils import timezone

from bots.engine import hedge_recording, intake, legs, recording
from bots.engine.commands import Command, Shutdown, command_listen
from bots.engine.controls import CLOSE_ORDER_INDEXES
from bots.engine.db_thread import db
from bots.engine.hedge_intake import LegOrders
from bots.engine.leases import Lease
from bots.engine.recording import LeaseLost
from bots.engine.runner import SHUTDOWN, run_runner
from bots.engine.working import WorkingOrders
from bots.models import BotStatus, DesiredState, EventLevel, HedgeBot
from bots.strategies.accounting import Ledger
from bots.strategies.grid import LiveOrder, MarketView
from bots.strategies.hedge import BookLevels, HedgeStrategy, OrderSent
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
    Place,
    PositionSet,
    Tick,
)
from exchange.budget import operator_lane
from exchange.client import LighterClient
from exchange.errors import ExchangeError, TransientError
from exchange.orders import OrderRequest
from exchange.streams import (
    AccountStream,
    FillEvent,
    OrderUpdate,
    PositionUpdate,
    Reconnected,
    StreamEvent,
)
from exchange.types import FillInfo, MarginMode, OrderSide

logger = logging.getLogger(__name__)
T = TypeVar("T")

TICK_SECONDS = 0.1
HEARTBEAT_SECONDS = 5.0
CONTROL_SECONDS = 1.0
FIRST_BOOK_TIMEOUT_S = 20.0
STOP_VERIFY_TIMEOUT_S = 10.0
# REST reconcile of both legs (missed fills, A's orders, positions): a fill whose stream report
# was lost without a reconnect is still hedged within this. `settings.HEDGE_RECONCILE_SECONDS`
# overrides it.
# Every reconcile costs A three requests and B two of the accounts' routine budget (a standard
# account has 42 a minute), hence not more often.
RECONCILE_SECONDS = 30.0
# "Close both legs": rounds of verified reduce-only closes, the first retry after this (doubling).
CLOSE_ROUNDS = 3
CLOSE_BACKOFF_S = 0.5
# A hedge held back this long by A's unconfirmed cancel asks REST about A's orders at once.
CANCEL_CONFIRM_S = 2.0
# An order of A sent this long ago that the exchange has no record of never reached the book.
UNKNOWN_ORDER_GRACE_S = 5.0
# A periodic reconcile that gave way to a fill of A runs again this much later.
RECONCILE_YIELD_S = 1.0
# Client order indexes reserved ahead per leg for market orders (a few are skipped on a stop).
INDEXES_AHEAD = 8
# How long an order of A reported filled stays working while its fill reports are awaited.
FILL_WAIT_SECONDS = 2.0


@dataclass
class _LegState:
    """What the runner keeps per leg: its client, its stream and our orders on it."""

    leg: Leg
    client: LighterClient
    stream: AccountStream
    orders: LegOrders


class HedgeRunner:
    """One running hedge bot (see the module docstring)."""

    def __init__(self, bot: HedgeBot, fence: int, lease: Lease | None) -> None:
        self.bot = bot
        self.fence = fence
        self.lease = lease
        self.config = bot.hedge_config()
        self.symbol = bot.market.symbol
        self.market_id = bot.market.market_id
        # The snapshot of an earlier run: a worker killed between A's fill and B's hedge resumes
        # in the state it was in and hedges what the positions read at start say B owes.
        restore = hedge_recording.snapshot_from_json(bot.strategy_snapshot)
        self.strategy = HedgeStrategy(self.config, random.Random(bot.pk), restore=restore)
        self.leg_a, self.leg_b = self.config.leg_a, self.config.leg_b
        self.orders_a = WorkingOrders()
        self.ledger_a = Ledger()
        self.events: asyncio.Queue[tuple[Leg, StreamEvent] | Command | Shutdown] = asyncio.Queue()
        self.legs: dict[Leg, _LegState] = {}
        self.sent: list[recording.SentBatch] = []
        self.finished: str | None = None
        self.idle = False
        self._next_heartbeat = 0.0
        self._next_control = 0.0
        # Figures for tests and the benchmark: A fill seen -> B filled, per hedge (seconds).
        self.hedge_latencies: list[float] = []
        self._a_fill_seen: float | None = None
        # A's orders reported filled beyond the fills told: since when (monotonic seconds).
        self._awaiting_since: dict[int, float] = {}
        self._spare_indexes: dict[Leg, list[int]] = {}
        # A stream reconnected: updates may have been missed, both legs are reconciled now.
        self.positions_due = False
        self._next_reconcile = 0.0
        self._hedge_held_since: float | None = None
        # A fill of A was queued since the loop last took its events (a reconcile gives way).
        self._a_fill_queued = asyncio.Event()

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
        """A's book (both legs trade the same market)."""
        book = self.legs[self.leg_a].stream.book(self.market_id)
        mid = book.mid
        if mid is None:
            return None
        return MarketView(book.best_bid, book.best_ask, mid)

    @staticmethod
    def now_ms() -> int:
        """Wall-clock ms: the strategy's deadlines survive a restart in its snapshot."""
        return int(time.time() * 1000)

    # --- the loop -----------------------------------------------------------------------------

    async def run(self) -> str:
        """Run until stopped or finished (returns the final status) or the lease is lost."""
        bot = self.bot
        async with bot.account.client() as client_a, bot.taker_account.client() as client_b:
            for leg, client in ((self.leg_a, client_a), (self.leg_b, client_b)):
                stream = client.open_stream([self.market_id])
                self.legs[leg] = _LegState(leg, client, stream, LegOrders(leg, self.market_id))
                await stream.start()
            pumps = [asyncio.create_task(self._pump(state)) for state in self.legs.values()]
            pumps.append(
                asyncio.create_task(
                    command_listen(settings.REDIS_URL, bot.pk, self.events.put_nowait)
                )
            )
            try:
                await self._wait_first_book()
                refused = await self.apply_settings()
                if refused is not None:
                    await self.update(status=BotStatus.ERROR, status_message=refused[:500])
                    return BotStatus.ERROR
                await self.startup()
                await self.update(
                    status=BotStatus.RUNNING, status_message="", started_at=timezone.now()
                )
                return await self._loop()
            finally:
                for task in pumps:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                for state in self.legs.values():
                    await state.stream.stop()

    async def _pump(self, state: _LegState) -> None:
        async for event in state.stream.events():
            if state.leg == self.leg_a and isinstance(event, FillEvent):
                self._a_fill_queued.set()
            self.events.put_nowait((state.leg, event))

    async def _wait_first_book(self) -> None:
        deadline = time.monotonic() + FIRST_BOOK_TIMEOUT_S
        while self.market_view() is None:
            if time.monotonic() > deadline:
                raise ExchangeError(f"{self.symbol}: no order book within {FIRST_BOOK_TIMEOUT_S}s")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.2):
                    item = await self.events.get()
                if isinstance(item, tuple):
                    self.legs[item[0]].client.apply_event(item[1])

    async def apply_settings(self) -> str | None:
        """Apply each leg's leverage and margin mode to the market and read them back from the
        account before any order goes out (a 200 alone is not applied). A refusal (the client's
        check, the transaction failed, or not seen within the timeout) is recorded as a
        `settings_refused` event and returned: the bot goes to error and sends nothing.
        Transient failures (429, 5xx, network) raise: the engine's weather waits them out."""
        bot = self.bot
        per_leg = (("A", self.leg_a, bot.leverage_a, bot.margin_mode_a),
                ("B", self.leg_b, bot.leverage_b, bot.margin_mode_b))  # fmt: skip
        for name, leg, leverage, mode_name in per_leg:
            mode = MarginMode(mode_name)
            try:
                await legs.settings_apply(
                    self.legs[leg].client, self.market_id, leverage, mode, refusal_check=True
                )
            except TransientError:
                raise
            except ExchangeError as exc:
                message = f"leg {name}: leverage {leverage}x {mode.value} refused: {exc}"
                await self.event(
                    "settings_refused", message, EventLevel.ERROR,
                    leg=name, leverage=str(leverage), margin_mode=mode.value,
                )  # fmt: skip
                return message
            await self.event(
                "settings_applied",
                f"leg {name}: leverage {leverage}x, {mode.value} margin (read back)",
                leg=name, leverage=str(leverage), margin_mode=mode.value,
            )  # fmt: skip
        return None

    async def startup(self) -> None:
        """Both legs' positions from REST: the truth the strategy starts from."""
        self.strategy.on_event(Tick(self.now_ms()))
        a, b = await self.positions_read()
        await self.event("recovered", f"positions A {a}, B {b}")
        self._next_reconcile = time.monotonic() + self.reconcile_seconds()
        await self.order_indexes_refill(self.leg_b)

    async def _unless_a_fills(self, read: Awaitable[T]) -> T | None:
        """`read`'s result, or None when a fill of A arrives first: a periodic reconcile gives
        way (its read in flight is cancelled, what it read is dropped, it runs again a second
        later) so B's hedge never waits for its REST reads (they made the hedge latency's tail,
        ~0.4 s for one hedge in 50)."""
        reading = asyncio.ensure_future(read)
        if not self._a_fill_queued.is_set():
            fill = asyncio.ensure_future(self._a_fill_queued.wait())
            await asyncio.wait({reading, fill}, return_when=asyncio.FIRST_COMPLETED)
            fill.cancel()
        if reading.done() and not self._a_fill_queued.is_set():
            return reading.result()
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
        self._next_reconcile = time.monotonic() + RECONCILE_YIELD_S
        return None

    async def positions_read(self) -> tuple[Decimal, Decimal]:
        """Both legs' positions from REST, told to the strategy (also after a reconnect)."""
        sizes: list[Decimal] = []
        infos = await asyncio.gather(*(state.client.account() for state in self.legs.values()))
        for leg, info in zip(self.legs, infos, strict=True):
            size = sum(
                (intake.signed_size(p) for p in info.positions if p.market_id == self.market_id),
                Decimal(0),
            )
            self.strategy.on_event(PositionSet(leg, size))
            sizes.append(size)
        return sizes[0], sizes[1]

    def _reconcile_due(self) -> bool:
        """The periodic reconcile is due, and waits while a hedge is due or under way (its
        REST reads must not delay B's market order)."""
        if time.monotonic() < self._next_reconcile:
            return False
        return self.strategy.orders.inflight is None and not self.strategy.hedge_due()

    def _cancel_slow(self) -> bool:
        """A hedge has waited `CANCEL_CONFIRM_S` for the confirmation of A's cancel (the
        self-trade guard): reconcile now rather than at the next interval (then again after as
        long, if it still waits)."""
        if not self.strategy.hedge_waits_for_cancel():
            self._hedge_held_since = None
            return False
        now = time.monotonic()
        if self._hedge_held_since is None:
            self._hedge_held_since = now
        if now - self._hedge_held_since < CANCEL_CONFIRM_S:
            return False
        self._hedge_held_since = now
        return True

    @staticmethod
    def reconcile_seconds() -> float:
        """How often both legs are reconciled over REST."""
        return float(getattr(settings, "HEDGE_RECONCILE_SECONDS", RECONCILE_SECONDS))

    async def reconcile(self) -> intake.Burst:
        """Both legs over REST, for what the streams may have lost without a reconnect: the
        recent fills of both accounts (told once, by trade id), the reports of A's orders we
        take for live or are cancelling that no longer rest (an end, or a cancel confirmed),
        then both positions (the fills before the positions: docs/hedge.md). Returns A's part
        to record."""
        self._next_reconcile = time.monotonic() + self.reconcile_seconds()
        items: list[tuple[Leg, StreamEvent]] = []
        # The legs' reads run side by side (each on its own account and client).
        pages = await self._unless_a_fills(
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
        state_a = self.legs[self.leg_a]
        watched = set(self.orders_a.live)
        ended: list[OrderEnded] = []
        if watched:
            open_orders = await self._unless_a_fills(state_a.client.open_orders(self.market_id))
            if open_orders is None:
                return await self.take_in([])
            resting = {o.client_order_index for o in open_orders}
            gone = sorted(watched - resting)
            infos = await state_a.client.orders_by_client_index(gone) if gone else []
            if infos:
                account = state_a.client.account_index or 0
                items.append((self.leg_a, OrderUpdate(account, tuple(infos), is_snapshot=False)))
            known = {info.client_order_index for info in infos}
            cutoff = time.monotonic() - UNKNOWN_ORDER_GRACE_S
            for index in gone:
                sent = self.orders_a.sent_at.get(index, self.orders_a.cancel_sent_at.get(index))
                if index not in known and sent is not None and sent < cutoff:
                    self.orders_a.forget(index)
                    ended.append(OrderEnded(self.leg_a, index, "unknown to the exchange"))
        burst = await self.take_in(items)
        for event in ended:
            self.strategy.on_event(event)
        # Cancels of A's orders that still rest after CANCEL_CONFIRM_S were accepted and never
        # executed (a 200 that did nothing): the orders are working again, so the strategy sees
        # them and cancels again now, instead of holding B's hedge until the order timeout.
        zombies = self.orders_a.zombies(time.monotonic() - CANCEL_CONFIRM_S)
        if zombies:
            await self.event(
                "cancel_unconfirmed",
                f"A: {len(zombies)} cancels accepted but never executed: the orders still "
                "rest; cancelled again",
                EventLevel.WARNING,
                client_order_indexes=zombies,
            )
        await self.positions_read()
        return burst

    async def _loop(self) -> str:
        while True:
            batch: list[tuple[Leg, StreamEvent] | Command | Shutdown] = []
            self.idle = True
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TICK_SECONDS):
                    batch.append(await self.events.get())
            self.idle = False
            while not self.events.empty():
                batch.append(self.events.get_nowait())
            self._a_fill_queued.clear()  # whatever was queued is in this batch
            if any(isinstance(item, Shutdown) for item in batch):
                return await self.shut_down()
            commands = [item for item in batch if isinstance(item, Command)]
            burst = await self.take_in([item for item in batch if isinstance(item, tuple)])
            if self._cancel_slow() or self.positions_due or self._reconcile_due():
                self.positions_due = False
                await self.record(burst)
                burst = await self.reconcile()
            if commands or time.monotonic() >= self._next_control:
                final = await self.control()
                if final is not None:
                    await self.record(burst)
                    return final
            await self.decide()
            await self.record(burst)
            await self.write_transitions()
            if self.finished is None and self.strategy.finished:
                await self.finish()
            if self.finished is not None:
                return self.finished
            await self.heartbeat()

    async def take_in(self, items: list[tuple[Leg, StreamEvent]]) -> intake.Burst:
        """Apply a burst of both legs' events to the clients and tell the strategy; returns A's
        part to record (B's fills are recorded here)."""
        events_a: list[StreamEvent] = []
        events: list[Event] = []
        fills_b: list[FillInfo] = []
        for leg, event in items:
            state = self.legs[leg]
            state.client.apply_event(event)
            if leg == self.leg_a:
                events_a.append(event)
            elif isinstance(event, PositionUpdate):
                for position in event.positions:
                    if position.market_id == self.market_id:
                        events.append(PositionSet(leg, intake.signed_size(position)))
            elif isinstance(event, FillEvent):
                for filled, info in state.orders.fills(event.fills):
                    events.append(filled)
                    fills_b.append(info)
            if isinstance(event, OrderUpdate):
                events += state.orders.ends(event.orders)
            if isinstance(event, Reconnected):
                self.positions_due = True
        burst = intake.take_in(events_a, self.leg_a, self.market_id, self.orders_a, self.ledger_a)
        state_a = self.legs[self.leg_a]
        for told in burst.events:
            if isinstance(told, Filled) and told.client_order_index is not None:
                state_a.orders.told_fill(told.client_order_index, told.size_base)
                self._a_fill_seen = self._a_fill_seen or time.perf_counter()
        # A's fills first: an end held for them may be due now.
        released = [*state_a.orders.released(), *self.legs[self.leg_b].orders.released()]
        ordered = [*burst.events, *events, *released]
        for told_event in ordered:
            self.strategy.on_event(told_event)
        if fills_b:
            await db(hedge_recording.fills_record)(
                self.bot, self.fence, self.bot.taker_account, fills_b
            )
            if self._a_fill_seen is not None and not self.strategy.behind():
                self.hedge_latencies.append(time.perf_counter() - self._a_fill_seen)
                self._a_fill_seen = None
        return burst

    async def record(self, burst: intake.Burst) -> None:
        """Record A's sent batches and burst (order reports, fills, funding), fenced."""
        if not burst and not self.sent:
            return
        sent, self.sent = self.sent, []
        changed, _ = await db(intake.record)(self.bot, self.fence, burst, self.ledger_a, sent)
        self.orders_a.track(changed)

    async def write_transitions(self) -> None:
        transitions = self.strategy.drain_transitions()
        if not transitions:
            return
        for t in transitions:
            level = EventLevel.ERROR if str(t.target) == "error" else EventLevel.INFO
            data = {**t.data, "source": str(t.source), "target": str(t.target)}
            await self.event(str(t.event), t.reason, level, **data)
        await db(hedge_recording.snapshot_save)(self.bot, self.fence, self.strategy.snapshot())

    async def heartbeat(self) -> None:
        now = time.monotonic()
        if now < self._next_heartbeat:
            return
        self._next_heartbeat = now + HEARTBEAT_SECONDS
        if self.lease is not None and not await asyncio.to_thread(self.lease.renew):
            raise LeaseLost(f"bot {self.bot.pk}: lease renewal refused")
        await self.update(heartbeat_at=timezone.now())

    # --- deciding and sending -----------------------------------------------------------------

    async def decide(self) -> None:
        """Tick, then Decide for A and B; send what they ask for at once."""
        market = self.market_view()
        if market is None:
            return
        self.strategy.on_event(Tick(self.now_ms()))
        if self.config.book_level > 1:
            depth = self.legs[self.leg_a].stream.book(self.market_id).depth(self.config.book_level)
            bids = tuple(level.price for level in depth.bids)
            asks = tuple(level.price for level in depth.asks)
            self.strategy.on_event(BookLevels(self.leg_a, bids, asks))
        intents: list[Intent] = []
        intents += self.strategy.on_event(Decide(self.leg_a, market, self.working_a()))
        intents += self.strategy.on_event(Decide(self.leg_b, market, ()))
        if not intents:
            return
        halts = [i for i in intents if isinstance(i, Halt)]
        if halts:
            await self.halt("the pair's stop-loss hit")
            return
        await self.send_maker([i for i in intents if isinstance(i, Place | Cancel)])
        for order in (i for i in intents if isinstance(i, MarketOrder)):
            await self.send_market(order)

    def working_a(self) -> list[LiveOrder]:
        """A's working orders for `Decide`, plus those the exchange reported filled whose fill
        reports have not come yet (the order report often comes first), for up to
        `FILL_WAIT_SECONDS`: the strategy learns they ended from their fills, and meanwhile
        places nothing beside them (A would run ahead of B). A fill lost with the socket is
        left to the positions read after the reconnect."""
        working = self.orders_a.working()
        now = time.monotonic()
        awaiting = self.legs[self.leg_a].orders.awaiting_fills()
        self._awaiting_since = {i: self._awaiting_since.get(i, now) for i in awaiting}
        shown = {o.client_order_index for o in working}
        for index, since in self._awaiting_since.items():
            order = self.orders_a.owner(index)
            if order is None or index in shown or index in self.orders_a.cancelling:
                continue
            if now - since <= FILL_WAIT_SECONDS:
                working.append(order)
            else:
                self.legs[self.leg_a].orders.fills_given_up(index)
        return working

    async def send_maker(self, intents: list[Place | Cancel]) -> None:
        creates = [i.order for i in intents if isinstance(i, Place)]
        cancels = [i.client_order_index for i in intents if isinstance(i, Cancel)]
        if not creates and not cancels:
            return
        rows = await db(recording.order_intents_create)(self.bot, self.fence, creates)
        self.orders_a.track(rows)
        self.orders_a.sent([r.client_order_index for r in rows], cancels, time.monotonic())
        state_a = self.legs[self.leg_a]
        for row in rows:
            state_a.orders.track(row.client_order_index)
        requests = [
            OrderRequest(
                OrderSide(row.side),
                row.size_base,
                row.price,
                row.client_order_index,
                post_only=True,
            )
            for row in rows
        ]
        try:
            tickets = await state_a.client.replace_orders(self.market_id, cancels, requests)
        except ExchangeError as exc:
            # Unknown whether it executed: the rows stay intents; A's order report or the
            # order timeout tells the strategy, which asks again.
            self.orders_a.cancelling.difference_update(cancels)
            await self.event("send_failed", f"A: {exc}", EventLevel.WARNING)
            for row in rows:
                self.strategy.on_event(OrderEnded(self.leg_a, row.client_order_index, str(exc)))
            return
        hashes = {t.client_order_index: t.tx_hash for t in tickets}
        created = [r.client_order_index for r in rows]
        message = f"A: {len(rows)} placed, {len(cancels)} cancelled"
        note = ("maker", message, {"created": created, "cancelled": cancels})
        self.sent.append(
            recording.SentBatch(rows, [hashes.get(r.client_order_index, "") for r in rows], note)
        )

    async def send_market(self, order: MarketOrder) -> None:
        """A market order: an IOC limit at the strategy's worst price, on the order's leg."""
        state = self.legs[order.leg]
        index = await self.order_index(order.leg)
        state.orders.track(index)
        self.strategy.on_event(OrderSent(order.leg, index))
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
            # after `hedge_timeout_ms` (and retried); one refused ends now.
            await self.event("market_order_failed", f"{exc}", EventLevel.WARNING, index=index)
            if getattr(exc, "is_transient", True) is False:
                self.strategy.on_event(OrderEnded(order.leg, index, str(exc)))
        await self.order_indexes_refill(order.leg)  # once the order is out

    async def order_index(self, leg: Leg) -> int:
        """A client order index for a market order on `leg`, from the indexes reserved ahead
        (the database's allocation is off the path from A's fill to B's order)."""
        await self.order_indexes_refill(leg)
        return self._spare_indexes[leg].pop(0)

    async def order_indexes_refill(self, leg: Leg) -> None:
        """Reserve `INDEXES_AHEAD` client order indexes on the leg's account when none is left."""
        spare = self._spare_indexes.setdefault(leg, [])
        if not spare:
            account = self.bot.account if leg == self.leg_a else self.bot.taker_account
            spare.extend(await db(account.allocate_client_order_indexes)(INDEXES_AHEAD))

    # --- control ------------------------------------------------------------------------------

    async def control(self) -> str | None:
        self._next_control = time.monotonic() + CONTROL_SECONDS
        desired, _ = await db(recording.desired_state_get, writes=False)(self.bot.pk)
        if desired == DesiredState.STOPPED:
            await self.cancel_maker_orders("stopped by the operator")
            if await db(hedge_recording.close_requested, writes=False)(self.bot.pk):
                return await self.stop_closing()
            await self.update(status=BotStatus.STOPPED, stopped_at=timezone.now())
            await self.event("stopped", "A's orders cancelled (verified); positions kept")
            return BotStatus.STOPPED
        return None

    async def stop_closing(self) -> str:
        """The operator's stop with "close both legs": A's orders are cancelled (verified)
        already; both legs are closed and read back flat, or the bot is in error."""
        a, b = await self.close_both_legs()
        if a == 0 and b == 0:
            await self.update(status=BotStatus.STOPPED, stopped_at=timezone.now())
            await self.event("stopped", "A's orders cancelled and both legs closed (verified)")
            return BotStatus.STOPPED
        message = f"close both legs incomplete: A {a}, B {b} still open"
        await self.update(status=BotStatus.ERROR, status_message=message)
        return BotStatus.ERROR

    async def close_both_legs(self) -> tuple[Decimal, Decimal]:
        """Close both legs with reduce-only market orders whose worst price is the hedge's
        slippage (widened at most to twice it), verified from each account; rounds that leave
        a leg open are retried after a bounded backoff. Every step is a BotEvent. Returns the
        positions read back last."""
        slippage = self.config.max_slippage_bps / Decimal(10_000)
        accounts = {self.leg_a: ("A", self.bot.account), self.leg_b: ("B", self.bot.taker_account)}
        a, b = await self.positions_read()
        await self.event("close_started", f"closing both legs: A {a}, B {b}", a=str(a), b=str(b))
        for attempt in range(1, CLOSE_ROUNDS + 1):
            for leg, (name, account) in accounts.items():
                ids = await db(account.allocate_client_order_indexes)(CLOSE_ORDER_INDEXES)
                try:
                    with operator_lane():  # the operator's share of the request budget
                        result = await self.legs[leg].client.close_position(
                            self.market_id, ids, max_slippage=slippage,
                            widen_by=slippage / 2, max_slippage_cap=slippage * 2,
                        )  # fmt: skip
                except ExchangeError as exc:
                    await self.event("close_failed", f"leg {name}: {exc}", EventLevel.WARNING,
                                     leg=name, attempt=attempt)  # fmt: skip
                    continue
                message = (f"leg {name}: {result.status.value}, closed {result.closed_size}, "
                           f"left {result.remaining_size} {result.reason}").strip()  # fmt: skip
                await self.event("close_leg", message, leg=name, attempt=attempt,
                                 status=result.status.value, closed=str(result.closed_size),
                                 remaining=str(result.remaining_size))  # fmt: skip
            a, b = await self.positions_read()
            if a == 0 and b == 0:
                await self.event("legs_closed", "both legs flat (read back from the exchange)")
                return a, b
            if attempt < CLOSE_ROUNDS:
                await asyncio.sleep(CLOSE_BACKOFF_S * 2 ** (attempt - 1))
        await self.event("close_incomplete", f"after {CLOSE_ROUNDS} rounds: A {a}, B {b} open",
                         EventLevel.ERROR, a=str(a), b=str(b))  # fmt: skip
        return a, b

    async def stop_orders(self, reason: str) -> None:
        """Cancel our orders (verified): only A's rest (`bots.engine.locked` calls this)."""
        await self.cancel_maker_orders(reason)

    async def cancel_maker_orders(self, reason: str) -> None:
        """Cancel every order of ours resting on A and verify from REST."""
        state_a = self.legs[self.leg_a]
        deadline = time.monotonic() + STOP_VERIFY_TIMEOUT_S
        while True:
            resting = await state_a.client.open_orders(self.market_id)
            ours = [
                o.client_order_index
                for o in resting
                if state_a.orders.is_ours(o.client_order_index)
            ]
            if not ours:
                return
            if time.monotonic() > deadline:
                raise ExchangeError(f"{self.symbol}: {len(ours)} orders of A open after {reason}")
            await state_a.client.replace_orders(self.market_id, ours, [])
            await asyncio.sleep(0.2)

    async def shut_down(self) -> str:
        """The worker is shutting down: say so and end (A's order rests; the next worker
        resumes the bot and recovers both legs)."""
        await self.event("worker_shutdown", "the bots worker is shutting down; resumes next")
        return SHUTDOWN

    async def weather(self, exc: Exception, wait_s: float) -> str | None:
        """Wait out a transient exchange failure, keeping the lease and watching the operator:
        None to start over, or a final status (a stop requested meanwhile)."""
        reason = f"waiting for the exchange ({type(exc).__name__}: {exc}); retrying in {wait_s:g}s"
        await self.update(status=BotStatus.STARTING, status_message=reason[:500])
        await self.event("exchange_unreachable", reason, EventLevel.WARNING)
        deadline = time.monotonic() + wait_s
        while True:
            if self.lease is not None and not await asyncio.to_thread(self.lease.renew):
                raise LeaseLost(f"bot {self.bot.pk}: lease renewal refused")
            desired, _ = await db(recording.desired_state_get, writes=False)(self.bot.pk)
            if desired == DesiredState.STOPPED:
                await self.update(status=BotStatus.STOPPING, status_message="stop requested "
                                  "while the exchange is unreachable")  # fmt: skip
                return BotStatus.STOPPING
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                # A fresh start: new streams, positions read again (the truth).
                self.legs = {}
                return None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, HEARTBEAT_SECONDS)):
                    if isinstance(await self.events.get(), Shutdown):
                        return await self.shut_down()

    async def finish(self) -> None:
        """The strategy ended (its last cycle, or error): nothing of A's may rest, and the bot
        is stopped (error keeps its status and the open net on the page)."""
        state = str(self.strategy.snapshot().state.value)
        await self.cancel_maker_orders(f"the strategy ended in {state}")
        if state == "error":
            message = "hedge could not be repaired: the pair's net is beyond the tolerance"
            await self.update(status=BotStatus.ERROR, status_message=message)
            self.finished = BotStatus.ERROR
            return
        await self.update(
            status=BotStatus.STOPPED, desired_state=DesiredState.STOPPED, stopped_at=timezone.now()
        )
        await self.event("finished", f"{self.strategy.snapshot().cycles_completed} cycles done")
        self.finished = BotStatus.STOPPED

    async def halt(self, reason: str) -> None:
        await self.event("stop_loss", reason, EventLevel.WARNING)
        await self.cancel_maker_orders(reason)
        await self.update(
            status=BotStatus.STOPPED, desired_state=DesiredState.STOPPED, status_message=reason
        )
        self.finished = BotStatus.STOPPED


async def run_hedge_bot(bot_id: int, *, fence: int, lease: Lease | None = None) -> str:
    """Run one hedge bot until it stops; returns its final status (the grid's top-level
    handling: weather, crashes, worker shutdown)."""
    return await run_runner(await hedge_runner_create(bot_id, fence=fence, lease=lease))


async def hedge_runner_create(
    bot_id: int, *, fence: int, lease: Lease | None = None
) -> HedgeRunner:
    """A runner for the hedge bot as it is in the database now (not started)."""
    return HedgeRunner(await db(_bot_load)(bot_id), fence, lease)


def _bot_load(bot_id: int) -> HedgeBot:
    return HedgeBot.objects.select_related("account", "taker_account", "market").get(pk=bot_id)
