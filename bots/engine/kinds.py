"""What the one runner needs to know of a strategy kind: data and a few pure hooks, never a type.

`BotRunner` (`bots.engine.runner`) runs every strategy. Where the grid and the hedge bot still
run differently, the kind says so here, and the runner reads it:

- `EngineOptions`: how often the runner ticks, reads the desired state and reconciles; how it
  makes memory match the exchange (`Recovery`); whether the strategy keeps time (`Tick` and a
  decision every turn); whether a periodic reconcile gives way to fills; whether the operator's
  pause applies, and whether stop may close positions.
- `RunStrategy`: the strategy as the runner drives it, the pure core plus a few hooks (no I/O):
  the engine's grid is `session_log.LoggedGridStrategy`, the hedge bot's `EngineHedgeStrategy`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from bots.engine.session_log import Pending
from bots.strategies.grid import MarketView
from bots.strategies.hedge import BookLevels, HedgeSnapshot, HedgeStrategy, OrderSent, Transition
from bots.strategies.protocol import Event, Intent, Leg, Tick, config_changed
from exchange.book import BookReplica


class Recovery(enum.Enum):
    """How the runner makes memory match the exchange, at start and on every reconcile."""

    # The bot's own records are the truth of what is its: its ledger and orders are recovered
    # (resting orders adopted, missed fills recorded, the position's ownership settled).
    LEDGER = "ledger"
    # Each leg's position on the exchange is the truth: the legs' recent fills, the first leg's
    # orders and every leg's position are read over REST (the pair's net must be zero).
    POSITIONS = "positions"


@dataclass(frozen=True)
class EngineOptions:
    """How the runner runs one strategy kind (see the module docstring)."""

    # Longest wait for events before the timers are looked at.
    tick_s: float
    # The desired state is read this often with no pushed command (a lost push is caught).
    control_s: float
    # REST reconcile interval.
    reconcile_s: float
    recovery: Recovery
    # The strategy keeps time: told `Tick(now_ms)` and asked to decide every turn.
    timers: bool
    # A periodic reconcile gives way to a fill of the first leg (and waits while the strategy
    # has an order in flight): its REST reads must not delay the reaction to the fill.
    reconcile_yields: bool
    # The operator's pause and cancel-all apply (a hedge must never stop hedging a fill).
    pausable: bool
    # The operator's stop may close the legs' positions ("stop and close").
    stop_may_close: bool
    # The PnL at the exchange's mark is published between moves (the grid's live figures).
    mark_figures: bool
    # A risk exit (`Halt`) closes the halted leg's own position when the strategy asks for it.
    risk_exit_flattens: bool
    # A risk exit closes every leg, verified, as "stop and close both legs" does (the hedge's
    # stop-loss: the pair's positions are the bot's).
    risk_exit_closes_legs: bool = False
    # The bot row's fields the runner applies while it runs (`RunStrategy.settings_apply`),
    # read with the desired state (on a command, and every `control_s`).
    live_settings: tuple[str, ...] = ()
    # A setting that overrides `reconcile_s`, read at every reconcile (None: none).
    reconcile_setting: str | None = None
    # The first leg's book and mark come from the process's shared feed of the market
    # (`exchange.market_feed`): the strategy plans from the best bid and ask only. Off for a
    # strategy that reads the whole book (`turn` gets the leg stream's replica).
    shared_book: bool = False
    # Bookkeeping that moves no money and ends no order (acknowledgements, a filled order's
    # report, batches sent) waits up to this long for the next record instead of a transaction
    # of its own (`intake.Burst.holdable`). 0: recorded at once.
    bookkeeping_held_s: float = 0.0


class RunStrategy(Protocol):
    """A strategy as the runner drives it: `on_event` plus pure hooks (see each)."""

    @property
    def config(self) -> Any: ...

    @property
    def post_only(self) -> bool:
        """Whether its placements are post-only."""
        ...

    @property
    def position_base(self) -> Decimal:
        """Its position in base units (the grid's own; the hedge pair's net)."""
        ...

    @property
    def run_state_fields(self) -> tuple[str, ...]:
        """The bot's fields it resumes from (`begin`)."""
        ...

    def begin(self, mid: Decimal, saved: dict[str, Any], now_ms: int) -> dict[str, Any]:
        """Start (or resume from the bot's `saved` run-state fields) at `mid`; returns the
        run-state fields to write."""
        ...

    def run_state_note(self, mid: Decimal) -> str:
        """Its run state in words, for the `recovered` event."""
        ...

    @property
    def ready(self) -> bool:
        """Whether it decides yet (the grid once its lattice is placed)."""
        ...

    @property
    def finished(self) -> bool:
        """Whether it is done for good (the hedge bot's last cycle, or its error)."""
        ...

    def on_event(self, event: Event) -> list[Intent]: ...

    def quiet_band(self, market: MarketView) -> tuple[Decimal, Decimal] | None:
        """After a decision on `market` that asked for nothing: the open range of mids in which
        no other book would ask for anything either (None: any book may)."""
        ...

    def exit_due(self, market: MarketView) -> bool:
        """Whether `market` is past a whole-bot exit its next decision halts on (the runner
        then sends nothing planned before it)."""
        ...

    def exit_prices(self) -> tuple[Decimal | None, Decimal | None]:
        """The mark prices at or below and at or above which `exit_due` fires (None: no such
        exit): the market feed hands on a mark past one (`FeedHandle.exits`)."""
        ...

    def turn(self, now_ms: int, book: BookReplica) -> None:
        """A turn of the loop before deciding: a strategy that keeps time is told the time (and
        what it needs of the book)."""
        ...

    def sent(self, leg: Leg, client_order_index: int) -> None:
        """A market order went out under `client_order_index` (told before any report)."""
        ...

    def command(self, desired: str, seq: int) -> None:
        """The operator's command the runner applied (context for a replay)."""
        ...

    def settings_apply(self, values: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        """The bot's live settings (`EngineOptions.live_settings`, as read from its row) from
        now on; returns those that changed, (before, after). ValueError: refused, unchanged."""
        ...

    def reconcile_may_run(self) -> bool:
        """Whether a periodic reconcile may run now (not while a reaction is under way)."""
        ...

    def waits_for_cancel(self) -> bool:
        """Whether an order waits for the confirmation of a cancel (look at REST soon)."""
        ...

    def behind(self) -> bool:
        """Whether a reaction to a fill is still owed (the hedge latency's end)."""
        ...

    def drain_transitions(self) -> list[Transition]:
        """State-machine transitions taken since the last drain (one BotEvent each)."""
        ...

    def snapshot(self) -> HedgeSnapshot | None:
        """What a restart resumes from, kept on the bot after transitions."""
        ...

    def run_state(self) -> dict[str, Any]:
        """The bot's fields that hold its run state (written when they change)."""
        ...

    def plan_note(
        self, market: MarketView, created: list[int], cancelled: list[int]
    ) -> tuple[str, str, dict[str, Any]]:
        """The event recorded with a batch sent (kind, message, data)."""
        ...

    def close_slippage(self) -> Decimal | None:
        """Worst-price slippage of a position close (None: the client's default)."""
        ...

    def log_take(self) -> Pending | None:
        """The session log since the last record (None when there is none)."""
        ...

    @property
    def log_due(self) -> bool:
        """Whether the session log is long enough to be written on its own."""
        ...


class EngineHedgeStrategy(HedgeStrategy):
    """The hedge core as the runner drives it (`RunStrategy`); its behaviour is unchanged."""

    @property
    def post_only(self) -> bool:
        return True

    @property
    def ready(self) -> bool:
        return True

    def quiet_band(self, market: MarketView) -> tuple[Decimal, Decimal] | None:
        return None  # the hedge bot reads its book from its own stream, not the shared feed

    def exit_due(self, market: MarketView) -> bool:
        return False  # its stop-loss judges the pair's PnL on its own timers (`Tick`)

    def exit_prices(self) -> tuple[Decimal | None, Decimal | None]:
        return None, None  # no exit at a price: its stop-loss is on the pair's PnL

    @property
    def position_base(self) -> Decimal:
        return self.net_exposure()

    @property
    def run_state_fields(self) -> tuple[str, ...]:
        return ()

    def begin(self, mid: Decimal, saved: dict[str, Any], now_ms: int) -> dict[str, Any]:
        self.on_event(Tick(now_ms))
        return {}

    def run_state_note(self, mid: Decimal) -> str:
        return f"{self.state.value} @ {mid}"

    def turn(self, now_ms: int, book: BookReplica) -> None:
        self.on_event(Tick(now_ms))
        if self.config.book_level > 1:
            depth = book.depth(self.config.book_level)
            bids = tuple(level.price for level in depth.bids)
            asks = tuple(level.price for level in depth.asks)
            self.on_event(BookLevels(self.config.leg_a, bids, asks))

    def sent(self, leg: Leg, client_order_index: int) -> None:
        self.on_event(OrderSent(leg, client_order_index))

    def command(self, desired: str, seq: int) -> None:
        return None

    def settings_apply(self, values: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        # Its stop-loss (`HedgeBot.LIVE_SETTINGS`): judged from the next step on, every turn.
        self.config, changed = config_changed(self.config, values)
        return changed

    def reconcile_may_run(self) -> bool:
        return self.orders.inflight is None and not self.hedge_due()

    def waits_for_cancel(self) -> bool:
        return self.hedge_waits_for_cancel()

    def run_state(self) -> dict[str, Any]:
        return {}

    def plan_note(
        self, market: MarketView, created: list[int], cancelled: list[int]
    ) -> tuple[str, str, dict[str, Any]]:
        message = f"A: {len(created)} placed, {len(cancelled)} cancelled"
        return "maker", message, {"created": created, "cancelled": cancelled}

    def close_slippage(self) -> Decimal | None:
        return self.config.max_slippage_bps / Decimal(10_000)

    def log_take(self) -> Pending | None:
        return None

    @property
    def log_due(self) -> bool:
        return False
