"""The hedge bot as a strategy (`bots.strategies.protocol`): maker leg A, taker leg B.

It composes what the pair holds (`PairBook`: positions tracked from fills and reported by the
exchange, one ledger per leg), A's maker orders (`MakerOrders`) and the market orders
(`MarketOrders`: one in flight at most, bounded retries), and drives the state table
(`machine`). State changes are decided on `Tick` and `Decide`, the ends of bursts, never half-way
through one; intents go out on `Decide` of the leg they address (a stop-loss `Halt` names both
legs at once). docs/hedge.md says what the runner must send and do.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from decimal import Decimal

from bots.strategies.grid.config import RiskTrigger, Side
from bots.strategies.grid.plan import DesiredOrder, MarketView
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
    PositionSet,
    Tick,
)

from .config import HedgeConfig, Rng, draw_ms
from .events import BookLevels, OrderSent
from .machine import HedgeEvent, HedgeState, Transition, transition
from .maker import MakerOrders
from .pair import PairBook
from .pricing import maker_price, worst_price
from .state import HedgeFigures, HedgeSnapshot, Phase, Purpose
from .steps import STEPS, Step
from .taker import MarketOrders

S, E = HedgeState, HedgeEvent
_ZERO = Decimal(0)
# Longest chain of transitions one decision can take (repaired -> opening -> holding ...).
_MAX_CHAIN = 8
LATENCY_SAMPLES_KEPT = 1_000
HEDGING = (S.HEDGING, S.HEDGING_CLOSE)
# A's order rests in these states (it keeps filling while B hedges); A places in the first two.
_PLACING = (S.OPENING, S.CLOSING)
_RESTING = (*_PLACING, *HEDGING)


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
    now_ms: int = 0
    entered_ms: int = 0
    cycles_completed: int = 0
    repairs: int = 0
    # A fill seen -> B filled (all of it hedged), in ms of the runner's ticks.
    latency_ms: deque[int] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES_KEPT))
    pair: PairBook = field(default_factory=PairBook)
    maker: MakerOrders = field(default_factory=MakerOrders)
    orders: MarketOrders = field(default_factory=MarketOrders)

    def __post_init__(self) -> None:
        self.synced = False
        self.market: MarketView | None = None
        self.levels: BookLevels | None = None
        self.hold_until: int | None = None
        self.cooldown_until: int | None = None
        self.cycle_counted = False
        self.hedge_started: int | None = None
        self.unreported_a = _ZERO
        self.repair_before = _ZERO
        self.repair_sent_net = _ZERO  # the net when the last repair order went out
        self.verify_until: int | None = None
        self._halt_pending = False
        snapshot = self.restore
        if snapshot is not None:
            self.state, self.phase = snapshot.state, snapshot.phase
            self.entered_ms, self.cycle_counted = snapshot.entered_ms, snapshot.cycle_counted
            self.cycles_completed, self.repairs = snapshot.cycles_completed, snapshot.repairs
            self.hold_until = snapshot.hold_until_ms
            self.cooldown_until = snapshot.cooldown_until_ms

    # --- the protocol -------------------------------------------------------------------------

    @property
    def legs(self) -> tuple[Leg, ...]:
        """Maker leg A, then taker leg B."""
        return (self.config.leg_a, self.config.leg_b)

    def on_event(self, event: Event | BookLevels | OrderSent) -> list[Intent]:
        """Apply `event`; intents come from `Decide` only (each for the leg decided on, except a
        stop-loss `Halt`, which names both legs)."""
        if isinstance(event, Filled):
            self._on_fill(event)
        elif isinstance(event, OrderEnded):
            self._on_ended(event)
        elif isinstance(event, PositionSet) and event.leg in self.legs:
            self.pair.reported(event.size_base, on_a=event.leg == self.config.leg_a)
        elif isinstance(event, OrderSent):
            self.orders.sent(event.leg, event.client_order_index)
        elif isinstance(event, BookLevels):
            self.levels = event
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
        return self.pair.net

    def is_flat(self) -> bool:
        """Both legs flat on the exchange."""
        return self.pair.position_a == 0 and self.pair.position_b == 0

    def time_in_state_ms(self, now_ms: int) -> int:
        """How long the bot has been in its state (runner clock)."""
        return max(0, now_ms - self.entered_ms)

    def pair_pnl(self, mark_price: Decimal) -> Decimal:
        """The pair's combined PnL at `mark_price`, from the fills seen (gross of fees)."""
        return self.pair.pnl(mark_price)

    @property
    def finished(self) -> bool:
        """Stopped (cycles done or stop-loss) or in error: the runner ends the bot."""
        return self.state in (S.STOPPED, S.ERROR)

    def figures(self, now_ms: int) -> HedgeFigures:
        """What the dashboard shows of the strategy."""
        net = self.pair.net
        return HedgeFigures(
            state=self.state,
            time_in_state_ms=self.time_in_state_ms(now_ms),
            cycles_completed=self.cycles_completed,
            repairs=self.repairs,
            hedge_latency_ms=tuple(self.latency_ms),
            position_a_base=self.pair.position_a,
            position_b_base=self.pair.position_b,
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
            hold_until_ms=self.hold_until,
            cooldown_until_ms=self.cooldown_until,
            cycle_counted=self.cycle_counted,
        )

    # --- facts the steps and intents share ----------------------------------------------------

    def min_order(self) -> Decimal:
        """The smallest order the exchange takes now."""
        return self.config.min_order_base(self.market.mid if self.market else _ZERO)

    def hedge_due(self) -> bool:
        """Whether B owes a trade that can go out: at least the exchange minimum, or any rest
        beyond the tolerance once A has nothing working (more of A's order may still fill)."""
        owed = abs(self.pair.owed)
        if owed == 0:
            return False
        tolerance = self.config.imbalance_tolerance_base
        return owed >= self.min_order() or (owed > tolerance and not self.maker.busy)

    def behind(self) -> bool:
        """Whether adding on A now could leave B behind: a hedge owed or in flight, or the
        exchange reporting the pair beyond tolerance, even within the grace a repair waits for
        (a position report ahead of its fill, or a real imbalance: A waits either way)."""
        tolerance = self.config.imbalance_tolerance_base
        return (
            self.orders.inflight is not None
            or self.hedge_due()
            or abs(self.pair.owed) > tolerance
            or abs(self.pair.net) > tolerance
        )

    def remaining(self) -> Decimal:
        """What A still has to trade in this half of the cycle, never below the exchange
        minimum: opening, a rest below it is left out once A holds at least the minimum (the
        position falls short by less than one minimum), else the minimum is placed (it
        overshoots by less than one); closing, a rest below it stays (B holds its hedge)."""
        cfg, tracked, smallest = self.config, self.pair.tracked_a, self.min_order()
        if self.phase is Phase.CLOSE:
            left = cfg.lots_down(abs(tracked))
            return left if left >= smallest else _ZERO
        held = tracked * cfg.direction.sign
        left = cfg.lots_down(cfg.size_base - held)
        if left >= smallest or left <= 0:
            return max(left, _ZERO)
        return smallest if held < smallest else _ZERO

    def maker_side(self) -> Side | None:
        """The side of A's order in this half of the cycle (None: flat, nothing to close)."""
        if self.phase is Phase.OPEN:
            return self.config.direction.open_side
        tracked = self.pair.tracked_a
        return None if tracked == 0 else (Side.SELL if tracked > 0 else Side.BUY)

    # --- events -------------------------------------------------------------------------------

    def _on_fill(self, event: Filled) -> None:
        on_a = event.leg == self.config.leg_a
        if not on_a and event.leg != self.config.leg_b:
            return
        index = event.client_order_index
        self.orders.settled(index, event.size_base)
        # On A, a fill of a maker order we know is the maker's even with a repair in flight.
        in_flight = self.orders.owns(event.leg, index) and not (on_a and self.maker.knows(index))
        maker_fill = on_a and not in_flight
        if maker_fill:
            self.maker.on_fill(index, event.size_base)
            self.unreported_a += event.size_base
        self.pair.filled(event, on_a)
        if maker_fill and self.hedge_started is None and self.pair.owed != 0:
            self.hedge_started = self.now_ms
        if in_flight and self.orders.fill(index, event.size_base):
            self._resolve(filled=True, reason="filled")
        if not on_a and self.hedge_started is not None and abs(self.pair.owed) < self.min_order():
            self.latency_ms.append(self.now_ms - self.hedge_started)
            self.hedge_started = None

    def _on_ended(self, event: OrderEnded) -> None:
        index = event.client_order_index
        self.orders.settled(index)
        if event.leg == self.config.leg_a and self.maker.knows(index):
            self.maker.on_ended(index)
        elif self.orders.owns(event.leg, index):
            self._resolve(filled=False, reason=f"ended ({event.reason})", index=index)
        elif event.leg == self.config.leg_a:
            self.maker.on_ended(index)  # an A order that never showed in `working`

    def _on_tick(self, now_ms: int) -> None:
        self.now_ms = max(self.now_ms, now_ms)  # the runner's clock never runs backwards here
        if self.orders.timed_out(self.now_ms, self.config.hedge_timeout_ms):
            self._resolve(filled=False, reason="no report within hedge_timeout_ms", given_up=True)
        self._advance()

    def _resolve(
        self, *, filled: bool, reason: str, index: int | None = None, given_up: bool = False
    ) -> None:
        """The market order in flight is done: filled in full, ended, or given up on."""
        flight = self.orders.resolve(index, given_up=given_up)
        if flight.purpose is Purpose.REPAIR:
            self.verify_until = self.now_ms + self.config.imbalance_grace_ms
            return
        if filled:
            self.orders.reset()
        if filled or self.state not in HEDGING or not self.hedge_due():
            return
        delay = self.orders.failed(self.now_ms, self.config.hedge_retry)
        if delay is not None:  # else exhausted: the next step repairs
            data = {"attempt": str(self.orders.failures), "owed_base": str(self.pair.owed)}
            done = f"{flight.filled_base} of {flight.size_base}"
            self.take(E.HEDGE_RETRY, f"hedge {reason} after {done}; retry in {delay} ms", data)

    # --- deciding -----------------------------------------------------------------------------

    def _decide(self, event: Decide) -> list[Intent]:
        self.market = event.market
        on_a = event.leg == self.config.leg_a
        if on_a:
            self.maker.observe(event.working, self.now_ms)
        self._advance()
        if self._halt_pending:
            self._halt_pending = False
            return [
                Halt(self.config.leg_a, RiskTrigger.STOP_LOSS, -self.pair.position_a),
                Halt(self.config.leg_b, RiskTrigger.STOP_LOSS, -self.pair.position_b),
            ]
        intents: list[Intent] = self._maker_intents(event.market) if on_a else []
        order = self._market_order(event.leg, event.market)
        return intents if order is None else [*intents, order]

    def _maker_intents(self, market: MarketView) -> list[Intent]:
        if not self.synced:
            return []  # a restart's adopted order waits for the positions, not cancelled blind
        cfg, maker, now = self.config, self.maker, self.now_ms
        wanted = self.maker_side() if self.state in _RESTING else None
        intents: list[Intent] = [*maker.housekeeping(cfg.leg_a, now, cfg.order_timeout_ms, wanted)]
        guard = self._self_trade_guard(market)
        if guard is not None:
            intents.append(guard)
        stale = maker.timed_out(now, cfg.order_timeout_ms)
        if stale is not None:
            fresh = maker_price(cfg, stale.side, market, self.levels)
            if fresh is None or fresh == stale.price:
                maker.placed_ms = now  # the price has not moved: keep the place in the queue
            else:
                intents.append(maker.cancel(cfg.leg_a, stale, now))
                shown = stale.price.quantize(cfg.tick_size)  # the row's ten decimals, on the tick
                reason = f"A's {stale.side} @ {shown} timed out: re-place @ {fresh}"
                self.take(E.ORDER_TIMEOUT, reason, {"price": str(stale.price), "fresh": str(fresh)})
        elif wanted is not None and self.state in _PLACING and not maker.busy:
            price = maker_price(cfg, wanted, market, self.levels)
            size = self.remaining()
            if price is not None and size > 0 and not self.behind():
                # Levels pair open and close in the ledger: a buy at k closes with a sell at k+1.
                level = 0 if self.phase is Phase.OPEN else cfg.direction.sign
                order = DesiredOrder(level, wanted, price, size, post_only=True)
                intents.append(maker.place(cfg.leg_a, order, now))
        return intents

    def hedge_waits_for_cancel(self) -> bool:
        """Whether a hedge due is held back by A's order being cancelled (`_self_trade_guard`):
        the runner asks the exchange about it when the confirmation is slow to come."""
        market = self.market
        if self.state not in HEDGING or market is None or self.orders.inflight is not None:
            return False
        if not self.maker.cancelling or not self.hedge_due():
            return False
        side = self._hedge_side()
        return self.maker.within_reach(side, worst_price(self.config, side, market))

    def _hedge_side(self) -> Side:
        return Side.BUY if self.pair.owed > 0 else Side.SELL

    def _self_trade_guard(self, market: MarketView) -> Cancel | None:
        """B's hedge must not trade with A's own order (the pair's accounts would trade with
        each other: nothing hedged). When what rests of A's order is within reach of the hedge
        due (the other side, at a price B's worst price accepts), A's order is cancelled; the
        hedge waits for the cancel to be confirmed (`_market_order`), and A places the rest
        again once B has caught up (docs/hedge.md, "Self-trade")."""
        resting = self.maker.resting
        if self.state not in HEDGING or resting is None or self.orders.exhausted:
            return None
        if self.orders.inflight is not None or not self.hedge_due():
            return None
        side = self._hedge_side()
        worst = worst_price(self.config, side, market)
        if not self.maker.within_reach(side, worst):
            return None
        cancel = self.maker.cancel(self.config.leg_a, resting, self.now_ms)
        reason = (
            f"A's {resting.side} @ {resting.price.quantize(self.config.tick_size)} is within reach "
            f"of B's {side} hedge "
            f"(worst {worst}): cancelled before the hedge"
        )
        data = {"price": str(resting.price), "worst_price": str(worst),
                "index": str(resting.client_order_index)}  # fmt: skip
        self.take(E.SELF_TRADE_GUARD, reason, data)
        return cancel

    def _market_order(self, leg: Leg, market: MarketView) -> MarketOrder | None:
        if not self.synced or not self.orders.may_send(self.now_ms):
            return None
        if self.state in HEDGING:
            owed = self.pair.owed
            if leg != self.config.leg_b or self.orders.exhausted or not self.hedge_due():
                return None
            side = self._hedge_side()
            if self.maker.within_reach(side, worst_price(self.config, side, market)):
                return None  # A's order is being cancelled first (`_self_trade_guard`)
            tracked_b = self.pair.tracked_b
            reduces = tracked_b * side.sign < 0 and abs(owed) <= abs(tracked_b)
            return self._send(leg, side, abs(owed), market, reduces, Purpose.HEDGE)
        if self.state is S.REPAIRING and not self.maker.busy and self.verify_until is None:
            over, position = self._over_leg()
            if over != leg:
                return None
            size = self.config.lots_down(min(abs(self.pair.net), abs(position)))
            if size <= 0:
                self.repair_sent_net = self.pair.net
                self.verify_until = self.now_ms  # nothing tradeable: a failed repair
                return None
            side = Side.SELL if position > 0 else Side.BUY
            self.repair_sent_net = self.pair.net
            return self._send(leg, side, size, market, True, Purpose.REPAIR)
        return None

    def _send(
        self, leg: Leg, side: Side, size: Decimal, market: MarketView, reduce: bool, why: Purpose
    ) -> MarketOrder:
        self.orders.send(leg, side, size, self.now_ms, why)
        return MarketOrder(leg, side, size, worst_price(self.config, side, market), reduce)

    def _over_leg(self) -> tuple[Leg, Decimal]:
        """The leg whose position carries the net (B when both do) and that position."""
        net, a, b = self.pair.net, self.pair.position_a, self.pair.position_b
        return (self.config.leg_b, b) if b * net > 0 else (self.config.leg_a, a)

    # --- the machine --------------------------------------------------------------------------

    def _advance(self) -> None:
        for _ in range(_MAX_CHAIN):
            step = self._next_step()
            if step is None:
                return
            self.take(*step)

    def _next_step(self) -> Step | None:
        limit, market = self.config.stop_loss_quote, self.market
        if self.state is not S.STOPPED and limit is not None and market is not None:
            pnl = self.pair.pnl(market.exit_price)  # at the mark when known, as the venue
            if pnl <= -limit:
                return E.STOP_LOSS, f"pair PnL {pnl} at or below -{limit}", {"pnl": str(pnl)}
        if self.state in (S.STOPPED, S.ERROR) or not self._sync():
            return None
        return STEPS[self.state](self)

    def _sync(self) -> bool:
        """Start (or resume) once both legs' reported positions and a book are known."""
        if self.synced:
            return True
        if not self.pair.known or self.market is None:
            return False
        self.synced = True
        self.pair.rebaseline()
        if self.state is S.HOLDING and self.hold_until is None:
            self.hold_until = self.now_ms + draw_ms(self.config.hold_ms, self.rng)
        if self.state is S.REPAIRING:
            self.repair_started()
        return True

    def take(self, event: HedgeEvent, reason: str, data: dict[str, str] | None = None) -> None:
        """Take `event` from the current state (the table decides where to), record it, and
        apply what entering the new state means (timers, counters, baselines)."""
        source = self.state
        target = transition(source, event)
        self.transitions.append(Transition(self.now_ms, source, target, event, reason, data or {}))
        if target is not source:
            self.state, self.entered_ms = target, self.now_ms
        if event in (E.START, E.COOLDOWN_OVER):
            self.phase, self.hold_until, self.cooldown_until = Phase.OPEN, None, None
            self.cycle_counted = False
        elif event is E.HOLD_OVER:
            self.phase = Phase.CLOSE
        elif event is E.HEDGED:
            self.orders.reset()
        elif event in (E.IMBALANCE, E.HEDGE_FAILED):
            self.repair_started()
        elif event is E.REPAIR_PARTIAL:
            self.orders.reset(self.now_ms)  # progress: the failures "in a row" start again
        elif event in (E.REPAIRED_OPEN, E.REPAIRED_CLOSE):
            self.pair.rebaseline()
            self.repairs += 1
            self.orders.reset()
        elif event in (E.CLOSED, E.LAST_CYCLE) and not self.cycle_counted:
            self.cycle_counted = True
            self.cycles_completed += 1
        elif event is E.STOP_LOSS:
            self._halt_pending = True
        if event in (E.HEDGE_DUE, E.A_FILLED):
            self.unreported_a = _ZERO
        if target is S.HOLDING and self.hold_until is None:
            self.hold_until = self.now_ms + draw_ms(self.config.hold_ms, self.rng)
        elif target is S.COOLDOWN and self.cooldown_until is None:
            self.cooldown_until = self.now_ms + draw_ms(self.config.cooldown_ms, self.rng)

    def repair_started(self) -> None:
        """A repair begins from the exchange's positions, with fresh attempts."""
        self.pair.rebaseline()
        self.repair_before = self.repair_sent_net = self.pair.net
        self.verify_until = None
        self.hedge_started = None
        self.orders.reset(self.now_ms)

    def repair_failed(self) -> int | None:
        """One more repair that did not bring the net within tolerance: the wait before the
        next (ms), or None when the repair attempts are used up."""
        policy = replace(self.config.hedge_retry, max_attempts=self.config.repair_attempts)
        return self.orders.failed(self.now_ms, policy)
