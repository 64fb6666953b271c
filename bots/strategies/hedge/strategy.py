"""The hedge bot as a strategy (`bots.strategies.protocol`): maker leg A, taker leg B.

Two views of each leg's position are kept, on purpose:

* *tracked* positions move with every `Filled` (exact and immediate): hedging follows them. B owes
  `-(tracked A + tracked B)`, so every fill of A, partial ones included, is owed to B at once, a
  hedge that executed only in part leaves the rest owed, and a late fill of a hedge given up on
  turns into a smaller (reduce-only) correction instead of a double hedge.
* *exchange* positions come from `PositionSet` only (the truth, but the stream sends a position
  before the fills that made it). Imbalance is judged on them, only while no hedge is owed or in
  flight, and only once they have disagreed with the tracked ones for `imbalance_grace_ms`; the
  tracked positions then take the exchange's (and at start, and after every repair).

State changes are decided on `Tick` and `Decide` (the end of a burst), never half-way through a
burst; intents go out on `Decide` of the leg they address (a stop-loss `Halt` names both legs at
once). One market order at most is in flight, on either leg: the intents carry no client order
index, so `Filled`/`OrderEnded` of a leg with a market order in flight are that order's.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from bots.strategies.accounting import Fill, Ledger
from bots.strategies.grid.config import RiskTrigger, Side
from bots.strategies.grid.plan import DesiredOrder, LiveOrder, MarketView
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

from .config import HedgeConfig, Rng, draw_ms
from .machine import HedgeEvent, HedgeState, Transition, transition
from .maker import MakerOrders
from .pricing import BookLevels, maker_price, worst_price
from .state import HedgeFigures, HedgeSnapshot, InFlight, Phase, Purpose

S, E = HedgeState, HedgeEvent
_ZERO = Decimal(0)
# Longest chain of transitions one event can cause (cooldown over -> opening -> ... is short).
_MAX_CHAIN = 8
LATENCY_SAMPLES_KEPT = 1_000
_DONE_KEPT = 64
_HEDGING = (S.HEDGING, S.HEDGING_CLOSE)
_AT_REST = (S.OPENING, S.HOLDING, S.CLOSING, S.COOLDOWN)
# States in which A's order rests (it keeps filling while B hedges); A places only in the first two.
_PLACING = (S.OPENING, S.CLOSING)
_RESTING = (*_PLACING, *_HEDGING)

_Step = tuple[HedgeEvent, str, dict[str, str]]


@dataclass
class HedgeStrategy:
    """State of one hedge bot; `on_event` is the whole interface (see docs/hedge.md)."""

    config: HedgeConfig
    rng: Rng
    restore: HedgeSnapshot | None = None
    state: HedgeState = S.IDLE
    phase: Phase = Phase.OPEN
    # Every transition taken, oldest first, until the runner drains them.
    transitions: list[Transition] = field(default_factory=list)
    ledger_a: Ledger = field(default_factory=Ledger)
    ledger_b: Ledger = field(default_factory=Ledger)
    now_ms: int = 0
    entered_ms: int = 0
    cycles_completed: int = 0
    repairs: int = 0
    latency_ms: deque[int] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES_KEPT))
    maker: MakerOrders = field(default_factory=MakerOrders)
    inflight: InFlight | None = None

    def __post_init__(self) -> None:
        self._pos_a, self._pos_b = _ZERO, _ZERO  # tracked
        self._x_a: Decimal | None = None  # exchange
        self._x_b: Decimal | None = None
        self._synced = False
        self._market: MarketView | None = None
        self._levels: BookLevels | None = None
        self._hold_until: int | None = None
        self._cooldown_until: int | None = None
        self._cycle_counted = False
        self._hedge_failures = 0
        self._hedge_exhausted = False
        self._next_send_ms = 0
        self._hedge_started: int | None = None
        self._unreported_a = _ZERO
        self._mismatch_since: int | None = None
        self._repair_failures = 0
        self._repair_before = _ZERO
        self._verify_until: int | None = None
        self._halt_pending = False
        self._trade_ids = 0
        self._done: deque[int] = deque(maxlen=_DONE_KEPT)
        if self.restore is not None:
            self._restore(self.restore)

    # --- the protocol -------------------------------------------------------------------------

    @property
    def legs(self) -> tuple[Leg, ...]:
        """Maker leg A, then taker leg B."""
        return (self.config.leg_a, self.config.leg_b)

    def on_event(self, event: Event | BookLevels) -> list[Intent]:
        """Apply `event`; intents come from `Decide` only (each for the leg decided on, except a
        stop-loss `Halt`, which names both legs)."""
        if isinstance(event, Filled):
            self._on_fill(event)
        elif isinstance(event, OrderEnded):
            self._on_ended(event)
        elif isinstance(event, PositionSet):
            if event.leg == self.config.leg_a:
                self._x_a = event.size_base
            elif event.leg == self.config.leg_b:
                self._x_b = event.size_base
        elif isinstance(event, BookLevels):
            self._levels = event
        elif isinstance(event, Tick):
            self._on_tick(event.now_ms)
        elif isinstance(event, Decide):
            return self._decide(event)
        return []

    # --- what the dashboard and the runner read -----------------------------------------------

    def drain_transitions(self) -> list[Transition]:
        """The transitions taken since the last drain, oldest first (one BotEvent each)."""
        taken, self.transitions = self.transitions, []
        return taken

    def net_exposure(self) -> Decimal:
        """position(A) + position(B) as the exchange reports them (tracked until it has)."""
        return self._exchange_a() + self._exchange_b()

    def is_flat(self) -> bool:
        """Both legs flat on the exchange."""
        return self._exchange_a() == 0 and self._exchange_b() == 0

    def time_in_state_ms(self, now_ms: int) -> int:
        """How long the bot has been in its state (runner clock)."""
        return max(0, now_ms - self.entered_ms)

    def pair_pnl(self, mark_price: Decimal) -> Decimal:
        """The pair's combined PnL at `mark_price` from the fills seen (gross of fees: `Filled`
        carries none)."""
        return self.ledger_a.summary(mark_price).total + self.ledger_b.summary(mark_price).total

    @property
    def finished(self) -> bool:
        """Stopped (cycles done or stop-loss) or in error: the runner ends the bot."""
        return self.state in (S.STOPPED, S.ERROR)

    def figures(self, now_ms: int) -> HedgeFigures:
        """What the dashboard shows of the strategy."""
        net = self.net_exposure()
        return HedgeFigures(
            state=self.state,
            time_in_state_ms=self.time_in_state_ms(now_ms),
            cycles_completed=self.cycles_completed,
            repairs=self.repairs,
            hedge_latency_ms=tuple(self.latency_ms),
            position_a_base=self._exchange_a(),
            position_b_base=self._exchange_b(),
            net_exposure_base=net,
            within_tolerance=abs(net) <= self.config.imbalance_tolerance_base,
        )

    def snapshot(self) -> HedgeSnapshot:
        """What a restart needs to resume (positions and orders come back from the exchange)."""
        return HedgeSnapshot(
            state=self.state,
            phase=self.phase,
            entered_ms=self.entered_ms,
            cycles_completed=self.cycles_completed,
            repairs=self.repairs,
            hold_until_ms=self._hold_until,
            cooldown_until_ms=self._cooldown_until,
            cycle_counted=self._cycle_counted,
        )

    # --- facts --------------------------------------------------------------------------------

    def _exchange_a(self) -> Decimal:
        return self._pos_a if self._x_a is None else self._x_a

    def _exchange_b(self) -> Decimal:
        return self._pos_b if self._x_b is None else self._x_b

    @property
    def _owed(self) -> Decimal:
        """What B must trade (signed) for the tracked pair to be flat."""
        return -(self._pos_a + self._pos_b)

    def _min_order(self) -> Decimal:
        market = self._market
        return self.config.min_order_base(market.mid if market else _ZERO)

    def _hedge_due(self) -> bool:
        owed = abs(self._owed)
        if owed == 0:
            return False
        # Below the exchange minimum a hedge waits for more of A's order to fill, unless A has
        # nothing working any more and the rest exceeds the tolerance.
        tolerance = self.config.imbalance_tolerance_base
        return owed >= self._min_order() or (owed > tolerance and not self.maker.busy)

    def _behind(self) -> bool:
        """Whether adding on A now could leave B behind: a hedge owed or in flight (the machine
        is already in a hedging state then; checked again where the order is made), or the
        exchange reporting the pair beyond tolerance, even within the grace that a repair waits
        for (a position report ahead of its fills, or a real imbalance: A waits either way)."""
        tolerance = self.config.imbalance_tolerance_base
        return (
            self.inflight is not None
            or self._hedge_due()
            or abs(self._owed) > tolerance
            or abs(self.net_exposure()) > tolerance
        )

    def _open_remaining(self) -> Decimal:
        sign = self.config.direction.sign
        remaining = self.config.lots_down((sign * self.config.size_base - self._pos_a) * sign)
        return remaining if remaining >= self._min_order() else _ZERO

    def _close_remaining(self) -> Decimal:
        remaining = self.config.lots_down(abs(self._pos_a))
        return remaining if remaining >= self._min_order() else _ZERO

    def _maker_side(self) -> Side | None:
        if self.phase is Phase.OPEN:
            return self.config.direction.open_side
        if self._pos_a == 0:
            return None
        return Side.SELL if self._pos_a > 0 else Side.BUY

    # --- events -------------------------------------------------------------------------------

    def _on_fill(self, event: Filled) -> None:
        cfg = self.config
        signed = event.size_base * event.side.sign
        index = event.client_order_index
        flight = self.inflight
        ours = flight is not None and flight.leg == event.leg
        if event.leg == cfg.leg_a:
            if ours and self.maker.knows(index):
                ours = False  # a maker fill while a repair of A is in flight
            if not ours:
                self.maker.on_fill(index, event.size_base)
            self._pos_a += signed
            self._unreported_a += event.size_base
            if self._hedge_started is None and self._owed != 0:
                self._hedge_started = self.now_ms
        elif event.leg == cfg.leg_b:
            self._pos_b += signed
        else:
            return
        self._book(event)
        if ours and flight is not None:
            if flight.client_order_index is None:
                flight.client_order_index = index
            flight.filled_base += event.size_base
            if flight.filled_base >= flight.size_base:
                self._resolve(filled=True, reason="filled")
        if event.leg == cfg.leg_b and self._hedge_started is not None:
            if abs(self._owed) < self._min_order():
                self.latency_ms.append(self.now_ms - self._hedge_started)
                self._hedge_started = None

    def _book(self, event: Filled) -> None:
        if event.price is None or event.price <= 0:
            return  # nothing to value it with; the runner's own ledger has the priced fill
        self._trade_ids -= 1  # Filled has no trade id; negative ids never meet the exchange's
        fill = Fill(self._trade_ids, str(event.side), event.price, event.size_base, _ZERO,
                    event.leg == self.config.leg_a, event.level)  # fmt: skip
        (self.ledger_a if event.leg == self.config.leg_a else self.ledger_b).apply_fill(fill)

    def _on_ended(self, event: OrderEnded) -> None:
        index = event.client_order_index
        flight = self.inflight
        if event.leg == self.config.leg_a and self.maker.knows(index):
            self.maker.on_ended(index)
            return
        if event.leg == self.config.leg_a:
            self.maker.on_ended(index)  # an A order we had not seen yet (it never rested)
        if flight is None or flight.leg != event.leg or index in self._done:
            return
        if flight.client_order_index not in (None, index):
            return  # an older market order of this leg ending late
        flight.client_order_index = index
        self._resolve(filled=False, reason=f"ended: {event.reason}")

    def _on_tick(self, now_ms: int) -> None:
        self.now_ms = max(self.now_ms, now_ms)  # the runner's clock never runs backwards here
        flight = self.inflight
        if flight is not None and self.now_ms - flight.sent_ms >= self.config.hedge_timeout_ms:
            self._resolve(filled=False, reason="no report within hedge_timeout_ms")
        self._advance()

    def _resolve(self, *, filled: bool, reason: str) -> None:
        """The market order in flight is done: filled in full, ended, or given up on."""
        flight = self.inflight
        assert flight is not None
        self.inflight = None
        if flight.client_order_index is not None:
            self._done.append(flight.client_order_index)
        if flight.purpose is Purpose.REPAIR:
            self._verify_until = self.now_ms + self.config.imbalance_grace_ms
            return
        if filled:
            self._hedge_failures = 0
        if filled or self.state not in _HEDGING or not self._hedge_due():
            return
        self._hedge_failures += 1
        retry = self.config.hedge_retry
        data = {"attempt": str(self._hedge_failures), "owed_base": str(self._owed)}
        if self._hedge_failures >= retry.max_attempts:
            self._hedge_exhausted = True
            return
        delay = retry.delay_ms(self._hedge_failures)
        self._next_send_ms = self.now_ms + delay
        message = f"hedge {reason} after {flight.filled_base} of {flight.size_base}; "
        self._take(E.HEDGE_RETRY, message + f"retry in {delay} ms", data)

    # --- deciding -----------------------------------------------------------------------------

    def _decide(self, event: Decide) -> list[Intent]:
        self._market = event.market
        if event.leg == self.config.leg_a:
            self.maker.observe(event.working, self.now_ms)
        self._advance()
        if self._halt_pending:
            self._halt_pending = False
            return [
                Halt(self.config.leg_a, RiskTrigger.STOP_LOSS, -self._exchange_a()),
                Halt(self.config.leg_b, RiskTrigger.STOP_LOSS, -self._exchange_b()),
            ]
        intents: list[Intent] = []
        if event.leg == self.config.leg_a:
            intents += self._maker_intents(event.market)
        order = self._market_order(event.leg, event.market)
        if order is not None:
            intents.append(order)
        return intents

    def _maker_intents(self, market: MarketView) -> list[Intent]:
        leg, maker, now = self.config.leg_a, self.maker, self.now_ms
        intents: list[Intent] = []
        for index, sent in list(maker.cancelling.items()):
            if index in maker.recancel or now - sent >= self.config.order_timeout_ms:
                maker.cancelling[index] = now  # the runner dropped it, or no end came: again
                intents.append(Cancel(leg, index))
        for order in maker.extra:
            intents.append(self._cancel(order))  # never two A orders
        side = self._maker_side() if self.state in _RESTING and self._synced else None
        resting = maker.resting
        if resting is not None and resting.side is not side:
            intents.append(self._cancel(resting))
        elif resting is not None and maker.placed_ms is not None:
            if now - maker.placed_ms >= self.config.order_timeout_ms:
                intents += self._timeout(resting, market)
        elif side is not None and self.state in _PLACING and not maker.busy and not self._behind():
            place = self._place(side, market)
            if place is not None:
                intents.append(place)
        return intents

    def _cancel(self, order: LiveOrder) -> Cancel:
        self.maker.cancel(order, self.now_ms)
        return Cancel(self.config.leg_a, order.client_order_index)

    def _timeout(self, resting: LiveOrder, market: MarketView) -> list[Intent]:
        fresh = maker_price(self.config, resting.side, market, self._levels)
        if fresh is None or fresh == resting.price:
            self.maker.placed_ms = self.now_ms  # the price has not moved: keep the queue place
            return []
        cancel = self._cancel(resting)
        reason = f"A's {resting.side} @ {resting.price} timed out: cancel, re-place @ {fresh}"
        self._take(E.ORDER_TIMEOUT, reason, {"price": str(resting.price), "fresh": str(fresh)})
        return [cancel]

    def _place(self, side: Side, market: MarketView) -> Place | None:
        remaining = self._open_remaining() if self.phase is Phase.OPEN else self._close_remaining()
        price = maker_price(self.config, side, market, self._levels)
        if remaining <= 0 or price is None:
            return None
        # Levels pair open and close in the ledger: a buy at k closes with a sell at k+1.
        level = 0 if self.phase is Phase.OPEN else self.config.direction.sign
        self.maker.placed(self.now_ms)
        return Place(self.config.leg_a, DesiredOrder(level, side, price, remaining, True))

    def _market_order(self, leg: Leg, market: MarketView) -> MarketOrder | None:
        if self.inflight is not None or not self._synced or self.now_ms < self._next_send_ms:
            return None
        if self.state in _HEDGING:
            if leg != self.config.leg_b or self._hedge_exhausted or not self._hedge_due():
                return None
            owed = self._owed
            side = Side.BUY if owed > 0 else Side.SELL
            reduces = self._pos_b * side.sign < 0 and abs(owed) <= abs(self._pos_b)
            return self._send(leg, side, abs(owed), market, reduces, Purpose.HEDGE)
        if self.state is S.REPAIRING and not self.maker.busy and self._verify_until is None:
            over, size = self._over_leg()
            if over != leg:
                return None
            position = self._exchange_a() if leg == self.config.leg_a else self._exchange_b()
            side = Side.SELL if position > 0 else Side.BUY
            if size <= 0:
                self._verify_until = self.now_ms  # nothing tradeable: counts as a failed repair
                return None
            return self._send(leg, side, size, market, True, Purpose.REPAIR)
        return None

    def _send(
        self, leg: Leg, side: Side, size: Decimal, market: MarketView, reduce: bool, why: Purpose
    ) -> MarketOrder:
        self.inflight = InFlight(leg, side, size, self.now_ms, why)
        return MarketOrder(leg, side, size, worst_price(self.config, side, market), reduce)

    def _over_leg(self) -> tuple[Leg, Decimal]:
        """The leg whose position carries the net (B when both do) and the size that reduces it
        (never past flat: the order is reduce-only)."""
        net = self.net_exposure()
        a, b = self._exchange_a(), self._exchange_b()
        leg, position = (self.config.leg_b, b) if b * net > 0 else (self.config.leg_a, a)
        return leg, self.config.lots_down(min(abs(net), abs(position)))

    # --- the machine --------------------------------------------------------------------------

    def _advance(self) -> None:
        for _ in range(_MAX_CHAIN):
            step = self._next_step()
            if step is None:
                return
            self._take(*step)

    def _take(self, event: HedgeEvent, reason: str, data: dict[str, str] | None = None) -> None:
        source = self.state
        target = transition(source, event)
        self.transitions.append(Transition(self.now_ms, source, target, event, reason, data or {}))
        if target is not source:
            self.state, self.entered_ms = target, self.now_ms
        self._entered(event, target)

    def _entered(self, event: HedgeEvent, target: HedgeState) -> None:
        """Effects of taking `event` into `target` (timers, counters, baselines)."""
        if event in (E.START, E.COOLDOWN_OVER):
            self.phase, self._hold_until, self._cooldown_until = Phase.OPEN, None, None
            self._cycle_counted = False
        elif event is E.HOLD_OVER:
            self.phase = Phase.CLOSE
        elif event is E.HEDGED:
            self._hedge_failures, self._hedge_exhausted = 0, False
        elif event in (E.IMBALANCE, E.HEDGE_FAILED):
            self._repair_started()
        elif event in (E.REPAIRED_OPEN, E.REPAIRED_CLOSE):
            self._rebaseline()
            self.repairs += 1
            self._hedge_failures, self._hedge_exhausted = 0, False
        elif event in (E.CLOSED, E.LAST_CYCLE) and not self._cycle_counted:
            self._cycle_counted = True
            self.cycles_completed += 1
        elif event is E.STOP_LOSS:
            self._halt_pending = True
        if event in (E.HEDGE_DUE, E.A_FILLED):
            self._unreported_a = _ZERO
        if target is S.HOLDING and self._hold_until is None:
            self._hold_until = self.now_ms + draw_ms(self.config.hold_ms, self.rng)
        elif target is S.COOLDOWN and self._cooldown_until is None:
            self._cooldown_until = self.now_ms + draw_ms(self.config.cooldown_ms, self.rng)

    def _repair_started(self) -> None:
        self._rebaseline()
        self._repair_failures = 0
        self._repair_before = self.net_exposure()
        self._verify_until = None
        self._next_send_ms = self.now_ms
        self._hedge_started = None

    def _rebaseline(self) -> None:
        """The tracked positions take the exchange's (the truth, once it is settled)."""
        self._pos_a, self._pos_b = self._exchange_a(), self._exchange_b()
        self._mismatch_since = None

    def _next_step(self) -> _Step | None:
        """The transition due now, if any (side effects only on counters that decide it)."""
        if self.state is not S.STOPPED and self._stop_loss_hit():
            pnl = self.pair_pnl(self._market.mid) if self._market else _ZERO
            return E.STOP_LOSS, f"pair PnL {pnl} at or below -{self.config.stop_loss_quote}", {
                "pnl_quote": str(pnl)}  # fmt: skip
        if self.state in (S.STOPPED, S.ERROR) or not self._sync():
            return None
        return _STEPS[self.state](self)

    def _sync(self) -> bool:
        """Start (or resume) once both legs' exchange positions and a book are known."""
        if self._synced:
            return True
        if self._x_a is None or self._x_b is None or self._market is None:
            return False
        self._synced = True
        self._rebaseline()
        if self.state is S.HOLDING and self._hold_until is None:
            self._hold_until = self.now_ms + draw_ms(self.config.hold_ms, self.rng)
        if self.state is S.REPAIRING:
            self._repair_started()
        return True

    def _stop_loss_hit(self) -> bool:
        limit, market = self.config.stop_loss_quote, self._market
        return limit is not None and market is not None and self.pair_pnl(market.mid) <= -limit

    def _imbalance(self) -> _Step | None:
        """An imbalance the exchange confirms, judged only with nothing owed or in flight."""
        if self.inflight is not None or abs(self._owed) > self.config.imbalance_tolerance_base:
            self._mismatch_since = None
            return None
        if (self._pos_a, self._pos_b) == (self._exchange_a(), self._exchange_b()):
            self._mismatch_since = None
            return None
        if self._mismatch_since is None:
            self._mismatch_since = self.now_ms
        if self.now_ms - self._mismatch_since < self.config.imbalance_grace_ms:
            return None
        tracked = self._pos_a + self._pos_b
        self._rebaseline()
        net = self.net_exposure()
        if abs(net) <= self.config.imbalance_tolerance_base:
            return None  # both legs moved alike: adopted, the pair is still balanced
        data = {"net_base": str(net), "tracked_net_base": str(tracked),
                "position_a": str(self._pos_a), "position_b": str(self._pos_b)}  # fmt: skip
        return (
            E.IMBALANCE,
            f"net {net} beyond tolerance {self.config.imbalance_tolerance_base}",
            data,
        )

    def _at_rest_step(self) -> _Step | None:
        if self._hedge_due():
            data = {"owed_base": str(self._owed), "a_filled_base": str(self._unreported_a)}
            return E.HEDGE_DUE, f"A filled {self._unreported_a}: B owes {self._owed}", data
        return self._imbalance()

    def _idle(self) -> _Step | None:
        net = self.net_exposure()
        if abs(net) > self.config.imbalance_tolerance_base:
            return E.IMBALANCE, f"net {net} beyond tolerance at start", {"net_base": str(net)}
        return E.START, f"positions A {self._pos_a}, B {self._pos_b}", {}

    def _opening(self) -> _Step | None:
        step = self._at_rest_step()
        if step is None and not self.maker.busy and self._open_remaining() == 0:
            return E.OPENED, f"A holds {self._pos_a}, B {self._pos_b}", {}
        return step

    def _holding(self) -> _Step | None:
        step = self._at_rest_step()
        if step is None and self._hold_until is not None and self.now_ms >= self._hold_until:
            return E.HOLD_OVER, "hold time over: closing", {}
        return step

    def _closing(self) -> _Step | None:
        step = self._at_rest_step()
        if step is not None or self.maker.busy or self._close_remaining() > 0:
            return step
        cycles = self.config.cycles
        done = self.cycles_completed + (0 if self._cycle_counted else 1)
        reason = f"cycle {done} closed: A {self._pos_a}, B {self._pos_b}"
        return (E.LAST_CYCLE if cycles is not None and done >= cycles else E.CLOSED), reason, {}

    def _cooldown(self) -> _Step | None:
        step = self._at_rest_step()
        if step is None and self._cooldown_until is not None:
            if self.now_ms >= self._cooldown_until:
                return E.COOLDOWN_OVER, "cooldown over: next cycle", {}
        return step

    def _hedging(self) -> _Step | None:
        if self._hedge_exhausted:
            data = {"owed_base": str(self._owed), "attempts": str(self._hedge_failures)}
            return (
                E.HEDGE_FAILED,
                f"hedge of {self._owed} failed {self._hedge_failures} times",
                data,
            )
        if self._unreported_a > 0:
            more = self._unreported_a
            return (
                E.A_FILLED,
                f"A filled {more} more: B owes {self._owed}",
                {"a_filled_base": str(more)},
            )
        if self.inflight is None and not self._hedge_due():
            return E.HEDGED, f"B caught up: A {self._pos_a}, B {self._pos_b}", {}
        return None

    def _repairing(self) -> _Step | None:
        if self.inflight is not None or self.maker.busy:
            return None
        net = self.net_exposure()
        data = {"before_base": str(self._repair_before), "after_base": str(net)}
        if abs(net) <= self.config.imbalance_tolerance_base:
            event = E.REPAIRED_OPEN if self.phase is Phase.OPEN else E.REPAIRED_CLOSE
            return event, f"repaired: net {self._repair_before} -> {net}", data
        if self._verify_until is None or self.now_ms < self._verify_until:
            return None
        self._verify_until = None
        self._repair_failures += 1
        data["attempt"] = str(self._repair_failures)
        if self._repair_failures >= self.config.repair_attempts:
            return E.GIVE_UP, f"net still {net} after {self._repair_failures} repairs", data
        self._next_send_ms = self.now_ms + self.config.hedge_retry.delay_ms(self._repair_failures)
        return E.REPAIR_FAILED, f"net still {net} after repair {self._repair_failures}", data

    def _restore(self, snapshot: HedgeSnapshot) -> None:
        self.state, self.phase = snapshot.state, snapshot.phase
        self.entered_ms = snapshot.entered_ms
        self.cycles_completed, self.repairs = snapshot.cycles_completed, snapshot.repairs
        self._hold_until, self._cooldown_until = snapshot.hold_until_ms, snapshot.cooldown_until_ms
        self._cycle_counted = snapshot.cycle_counted


_STEPS = {
    S.IDLE: HedgeStrategy._idle,
    S.OPENING: HedgeStrategy._opening,
    S.HEDGING: HedgeStrategy._hedging,
    S.HOLDING: HedgeStrategy._holding,
    S.CLOSING: HedgeStrategy._closing,
    S.HEDGING_CLOSE: HedgeStrategy._hedging,
    S.COOLDOWN: HedgeStrategy._cooldown,
    S.REPAIRING: HedgeStrategy._repairing,
}
