"""The backtest kernel: the live strategy core driven over 1-minute candles by a fill model.

Pure: no Django, no I/O, no clock, no floats. The same `GridStrategy` the runner drives
(`bots.engine.runner`) receives the same events (`BookChanged`, `Filled`, `OrderEnded`, `Decide`)
and its intents are executed by the fill model instead of the exchange:

* The price inside a candle walks O -> H -> L -> C when the candle closed up (close >= open) and
  O -> L -> H -> C when it closed down; between two candles it walks from the last close to the
  next open. Each leg of the walk is monotonic.
* A resting order fills, whole (but see partial fills below), at its own price when the walk
  reaches it (a buy when the price falls to or below it, a sell when it rises to or above it),
  nearest first, as a maker.
* After every fill the strategy is told `Filled` and asked to `Decide` at the fill price; at every
  point of the walk it is told `BookChanged` and asked to `Decide` at that price. The book the
  strategy sees is that price on both sides (`MarketView(p, p, p)`).
* A post-only order that would cross (a buy at or above the price, a sell at or below) is refused
  as Lighter does (`OrderEnded`); a plain limit order that crosses fills at once at the price as
  a taker. Market orders and the reduce-only flatten of a stop fill at the price moved against
  us by `slippage_bps` (rounded to the tick against us), as takers.
* Fees are the account tier's maker/taker rates in 1e-6, rounded up to the USDC cent-of-cent
  (6 decimals) like the simulator's; funding is paid on the hour from the stored rate at the
  candle's open price (positive rate: longs pay), rounded against the account to 6 decimals.
* Time at the position cap: the share of candle closes at which one more level on the side
  that grows the position would take its notional (at the close) above `max_position_notional`.
* A candle whose whole walk stays strictly inside the centre's band and reaches no resting order,
  right after a settled decision, changes nothing but the mark and funding: it is not walked,
  and a run of them is found by a scan of lows and highs and accounted in bulk (funding, time
  at the cap, drawdown, curve samples). A decision is settled when it sent everything and its
  price is strictly inside the band, right after a fill too: the next decision in the band is
  skipped.
  `Settings.eager` walks and decides everything (the reference); a hypothesis property over
  random candle paths checks both give the same `Result` (tests/bots/backtest/test_kernel_fast.py).
* Partial fills (only with `Settings.volume_share`): in each candle the bot's resting orders fill
  at most `volume_share` x the candle's base volume in all (rounded down to the lot), in walk
  order; the order that meets the bound fills in part (`Filled` of that part, the rest rests as
  `partial`, and the core decides on it: the grid cancels it, its level being the new centre),
  and the walk passes the rest of the candle's orders unfilled. The walk between two candles
  spends the next candle's volume.
* Stop-loss / take-profit: the strategy's `Halt` cancels every order, flattens when configured,
  and the bot places nothing more; the position (if any) is still marked and funded.

* Margin (only with `Settings.collateral`; the simulator's rules, `exchange/simulator/margin.py`):
  a placement is refused (`canceled-margin-not-allowed`) when equity would not cover the initial
  margin of the position plus the worst case of the open orders; under maintenance every
  placement is refused; when the walk moves the price and equity is under the maintenance
  margin, the position is closed there without a fee, orders are cancelled and the bot ends
  (`halted = "liquidation"`, `halt_reason` says when, where and why).

Books and the PnL split are `bots.strategies.accounting.Ledger`, the live bot's. `venue.py`
subclasses the walk to execute on the simulator's engine instead (README "Backtest").
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from itertools import accumulate, pairwise
from operator import sub

from bots.strategies.accounting import Fill, FundingPayment, Ledger
from bots.strategies.grid.config import GridConfig, Side, SizeMode, round_price
from bots.strategies.grid.plan import LiveOrder, MarketView
from bots.strategies.grid.strategy import GridStrategy
from bots.strategies.protocol import (
    BookChanged,
    Cancel,
    Decide,
    Filled,
    Halt,
    Intent,
    Leg,
    MarketOrder,
    OrderEnded,
    Place,
)

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
_ZERO = Decimal(0)
_MILLION = Decimal(1_000_000)
_USDC = Decimal("0.000001")
_CENT = Decimal("0.01")
_BPS = Decimal("0.0001")
_TEN_THOUSAND = Decimal(10_000)
LEG = Leg(0, 0)

# Lighter's fee rates in 1e-6 per tier (lighter-api.md 8.2; the simulator's defaults).
TIER_FEES_PPM: dict[str, tuple[int, int]] = {"standard": (0, 0), "premium": (40, 280)}


@dataclass(frozen=True)
class CandleSeries:
    """1-minute candles in time order: parallel lists (open time in epoch ms, Decimal prices)."""

    times: Sequence[int]
    opens: Sequence[Decimal]
    highs: Sequence[Decimal]
    lows: Sequence[Decimal]
    closes: Sequence[Decimal]
    # Base volume traded in each candle (only read with `Settings.volume_share`).
    volumes: Sequence[Decimal] | None = None

    def __len__(self) -> int:
        return len(self.times)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """What a backtest runs: the grid, the account's fees, slippage, leverage, curve size."""

    config: GridConfig
    maker_fee_ppm: int = 0
    taker_fee_ppm: int = 0
    slippage_bps: Decimal = Decimal(5)
    leverage: Decimal = Decimal(1)
    equity_points: int = 500
    # Ask the strategy to decide at every point of the walk even when nothing can change (the
    # kernel skips those decisions otherwise; a test shows both give the same fills).
    eager: bool = False
    # The account's collateral (None: unlimited, margin never binds) and the market's
    # maintenance margin fraction in 1e-4 (Lighter's default 1.2 %; the simulator's MarketSpec).
    # The initial fraction is 1 / leverage (in 1e-4), never below the market's minimum.
    collateral: Decimal | None = None
    maintenance_margin_fraction: int = 120
    # The market's smallest initial fraction (1 / its max leverage; the simulator's min_imf).
    min_initial_margin_fraction: int = 200
    # Partial fills: the bot's resting orders fill at most this share of each candle's base
    # volume, in all (rounded down to the lot); None: the volume is not read, orders fill whole.
    volume_share: Decimal | None = None
    # `bots.backtest.engine.run`: drive the live `GridStrategy` even where the specialised grid
    # kernel (`fastgrid.py`, the default for the configs it supports, proved to give the same
    # `Result`) could run.
    live_core: bool = False

    @property
    def margin_fractions(self) -> tuple[int, int]:
        """(initial, maintenance) margin fractions in 1e-4."""
        initial = max(self.min_initial_margin_fraction, int(_TEN_THOUSAND / self.leverage))
        return initial, self.maintenance_margin_fraction


@dataclass(frozen=True)
class SimFill:
    """One fill of the backtest."""

    trade_id: int
    time_ms: int
    side: str
    price: Decimal
    size_base: Decimal
    fee: Decimal
    is_maker: bool
    level: int | None


@dataclass(frozen=True)
class Result:
    """Everything a backtest reports; amounts in quote, exact Decimals."""

    start_ms: int
    end_ms: int
    candles: int
    fills: tuple[SimFill, ...]
    grid_profit: Decimal
    other_realized: Decimal
    inventory: Decimal
    fees: Decimal
    funding: Decimal
    total: Decimal
    round_trips: int
    position_base: Decimal
    last_price: Decimal
    capital: Decimal
    max_drawdown: Decimal
    refused: int
    halted: str
    capped_candles: int
    equity: tuple[tuple[int, Decimal, Decimal], ...]  # (time ms, close, total PnL)
    # Why the bot stopped, in words (a liquidation's time, price, equity and requirement).
    halt_reason: str = ""

    @property
    def days(self) -> Decimal:
        """Length of the range in days."""
        return Decimal(self.end_ms - self.start_ms) / DAY_MS

    @property
    def return_on_capital(self) -> Decimal:
        """Total PnL over the capital the grid needs (a fraction)."""
        return self.total / self.capital if self.capital > 0 else _ZERO

    @property
    def apr(self) -> Decimal:
        """The return on capital scaled to a year (simple, not compounded)."""
        days = self.days
        return self.return_on_capital * 365 / days if days > 0 else _ZERO

    @property
    def fills_per_day(self) -> Decimal:
        """Fills per day of range."""
        days = self.days
        return Decimal(len(self.fills)) / days if days > 0 else _ZERO

    def summary(self) -> dict[str, str | int]:
        """The figures as JSON-safe strings (money to the cent, ratios in percent)."""
        money = {
            "total": self.total,
            "grid_profit": self.grid_profit,
            "other_realized": self.other_realized,
            "inventory": self.inventory,
            "fees": self.fees,
            "funding": self.funding,
            "capital": self.capital,
            "max_drawdown": self.max_drawdown,
        }
        out: dict[str, str | int] = {k: str(v.quantize(_CENT)) for k, v in money.items()}
        out |= {
            "return_percent": str((self.return_on_capital * 100).quantize(_CENT)),
            "apr_percent": str((self.apr * 100).quantize(_CENT)),
            "fills_per_day": str(self.fills_per_day.quantize(_CENT)),
            "round_trips": self.round_trips,
            "fill_count": len(self.fills),
            "position_base": str(self.position_base),
            "last_price": str(self.last_price),
            "candles": self.candles,
            "days": str(self.days.quantize(_CENT)),
            "refused": self.refused,
            "halted": self.halted,
            "halt_reason": self.halt_reason,
            "time_at_cap_percent": str(
                (Decimal(self.capped_candles * 100) / self.candles).quantize(_CENT)
            ),
        }
        return out


def capital_needed(config: GridConfig, price: Decimal, leverage: Decimal) -> Decimal:
    """Margin of one side of the grid filled: levels x per-level notional at `price`, capped by
    `max_position_notional`, divided by the leverage."""
    per_level = config.size if config.size_mode is SizeMode.QUOTE else config.size * price
    notional = per_level * config.levels_per_side
    if config.max_position_notional is not None:
        notional = min(notional, config.max_position_notional)
    return notional / leverage


def fee_of(quote: Decimal, ppm: int) -> Decimal:
    """Fee of a fill: quote x ppm / 1e6 rounded up to 6 decimals (the simulator's rule)."""
    if ppm == 0:
        return _ZERO
    return (quote * ppm / _MILLION).quantize(_USDC, rounding=ROUND_CEILING)


@dataclass
class _Run:
    settings: Settings
    strategy: GridStrategy
    ledger: Ledger = field(default_factory=Ledger)
    working: dict[int, LiveOrder] = field(default_factory=dict)
    fills: list[SimFill] = field(default_factory=list)
    price: Decimal = _ZERO
    now_ms: int = 0
    next_index: int = 1
    next_trade: int = 1
    refused: int = 0
    halted: str = ""
    halt_reason: str = ""
    # The price the account's margin was last checked at (liquidation is checked when it moves).
    margin_mark: Decimal = _ZERO
    # The last decision saw a fresh book strictly inside the centre's band and sent everything:
    # until something happens, a decision at another price inside the band changes nothing.
    settled: bool = False
    band: tuple[Decimal, Decimal] = (_ZERO, _ZERO)
    # The highest resting buy and lowest resting sell after the last decision (None: none).
    top_buy: Decimal | None = None
    low_sell: Decimal | None = None
    # What the bot's resting orders may still fill in this candle (None: no bound).
    budget: Decimal | None = None

    # --- the walk -------------------------------------------------------------------------

    def walk_to(self, target: Decimal) -> None:
        """Move the price to `target`, filling the resting orders it reaches, nearest first."""
        if self.halted:
            self.price = target
            return
        up = target > self.price
        margin = self.settings.collateral is not None
        while self.working:
            if self.budget is not None and self.budget <= 0:
                break  # the candle's volume is used up: the walk passes the rest unfilled
            order = self._next_crossed(target, up)
            if order is None:
                break
            self.price = order.price
            if margin and self._liquidated():
                break
            self._fill_resting(order)
            self._decide(fresh=False)
            if self.halted:
                break
        self.price = target
        if self.halted or (margin and self._liquidated()):
            return
        self.strategy.on_event(BookChanged(LEG))
        lo, hi = self.band
        if self.settled and not self.settings.eager and lo < target < hi:
            return
        self._decide(fresh=True)

    def _next_crossed(self, target: Decimal, up: bool) -> LiveOrder | None:
        best: LiveOrder | None = None
        for order in self.working.values():
            if up:
                if order.side is Side.SELL and order.price <= target:
                    if best is None or order.price < best.price:
                        best = order
            elif order.side is Side.BUY and order.price >= target:
                if best is None or order.price > best.price:
                    best = order
        return best

    # --- fills ----------------------------------------------------------------------------

    def _book(self, side: Side, price: Decimal, size: Decimal, maker: bool, level: int | None,
              client_order_index: int | None) -> None:  # fmt: skip
        ppm = self.settings.maker_fee_ppm if maker else self.settings.taker_fee_ppm
        fee = fee_of(price * size, ppm)
        trade_id = self.next_trade
        self.next_trade += 1
        self.ledger.apply_fill(Fill(trade_id, side.value, price, size, fee, maker, level))
        self.fills.append(
            SimFill(trade_id, self.now_ms, side.value, price, size, fee, maker, level)
        )
        self.strategy.on_event(Filled(LEG, side, size, level, client_order_index, price))
        self.settled = False

    def _fill_resting(self, order: LiveOrder) -> None:
        index = order.client_order_index
        size = order.size_base
        if self.budget is not None:
            if size > self.budget:
                size = self.budget  # a partial fill: the rest rests (the core decides on it)
                rest = order.size_base - size
                self.working[index] = LiveOrder(
                    order.level, order.side, order.price, rest, index, "partial"
                )
            else:
                del self.working[index]
            self.budget -= size
        else:
            del self.working[index]
        self._book(order.side, order.price, size, True, order.level, index)

    def _taker_price(self, side: Side) -> Decimal:
        slip = self.settings.slippage_bps * _BPS
        moved = self.price * (1 + slip) if side is Side.BUY else self.price * (1 - slip)
        return round_price(moved, self.settings.config.tick_size, Side.SELL if side is Side.BUY
                           else Side.BUY)  # fmt: skip

    # --- decisions ------------------------------------------------------------------------

    def _decide(self, fresh: bool) -> None:
        price = self.price
        view = MarketView(price, price, price)
        intents = self.strategy.on_event(Decide(LEG, view, tuple(self.working.values())))
        clean = True
        booked = len(self.fills)
        for intent in intents:
            clean = self._execute(intent) and clean
        # A taker fill while executing moved the position and the centre: decide again.
        clean = clean and len(self.fills) == booked
        state = self.strategy.state
        config = self.settings.config
        if state is None or self.halted:
            self.settled = False
            return
        lattice = state.lattice(config)
        lo = lattice.raw_price(state.centre - 1)
        hi = lattice.raw_price(state.centre + 1)
        if config.stop_loss_price is not None:
            lo = max(lo, config.stop_loss_price)
        if config.take_profit_price is not None:
            hi = min(hi, config.take_profit_price)
        self.band = (lo, hi)
        # Strictly inside the band the price rolls nothing (`on_price`), the post-only bound
        # removes no level (buys round down from P(c-1), sells up from P(c+1)) and no stop or
        # take-profit fires: a decision at any price of the band wants what this one sent. That
        # holds for a decision right after a fill too (its book is stale, but a fresh book inside
        # the band would not move the centre), so `fresh` no longer matters here.
        del fresh
        self.settled = clean and lo < price < hi
        buys = [o.price for o in self.working.values() if o.side is Side.BUY]
        sells = [o.price for o in self.working.values() if o.side is Side.SELL]
        self.top_buy = max(buys) if buys else None
        self.low_sell = min(sells) if sells else None

    def quiet(self, low: Decimal, high: Decimal) -> bool:
        """Whether a walk over [low, high] from the current price would change nothing: settled,
        inside the band, reaching no resting order (every step of it would skip its decision),
        or the bot has stopped (a stopped bot's walk only moves the price)."""
        if self.settings.eager:
            return False
        if self.halted:
            return True
        if not self.settled:
            return False
        if self.settings.collateral is not None and self.ledger.position_base != 0:
            return False  # every price is a margin check
        lo, hi = self.band
        bottom, top = min(low, self.price), max(high, self.price)
        if not lo < bottom or not top < hi:
            return False
        if self.top_buy is not None and self.top_buy >= bottom:
            return False
        return self.low_sell is None or self.low_sell > top

    def quiet_bounds(self) -> tuple[Decimal | None, Decimal | None]:
        """While `quiet` holds, the open price range (floor, ceiling) a candle's low, high and
        the close before it must stay strictly inside for the candle to be quiet as well (None:
        unbounded). The state it depends on does not change in a quiet candle."""
        if self.halted:
            return None, None
        lo, hi = self.band
        floor = lo if self.top_buy is None else max(lo, self.top_buy)
        ceiling = hi if self.low_sell is None else min(hi, self.low_sell)
        return floor, ceiling

    def _execute(self, intent: Intent) -> bool:
        """Carry out one intent; False when the venue refused it."""
        if isinstance(intent, Cancel):
            self.working.pop(intent.client_order_index, None)
            return True
        if isinstance(intent, Place):
            return self._place(intent)
        if isinstance(intent, MarketOrder):
            if self.settings.collateral is not None and not self._affordable(
                intent.side, intent.size_base
            ):
                self.refused += 1
                return False
            self._book(intent.side, self._taker_price(intent.side), intent.size_base, False,
                       None, None)  # fmt: skip
            return True
        if isinstance(intent, Halt):
            self._halt(intent)
            return True
        raise TypeError(f"unknown intent {intent!r}")

    def _place(self, intent: Place) -> bool:
        order = intent.order
        index = self.next_index
        self.next_index += 1
        buy = order.side is Side.BUY
        crosses = order.price >= self.price if buy else order.price <= self.price
        if self.settings.collateral is not None and self._below_maintenance():
            # The venue refuses the transaction itself (21507): nothing is created.
            self.refused += 1
            self.strategy.on_event(OrderEnded(LEG, index, "refused"))
            return False
        if crosses and order.post_only:
            self.refused += 1
            self.strategy.on_event(OrderEnded(LEG, index, "canceled-post-only"))
            return False
        if self.settings.collateral is not None and not self._affordable(
            order.side, order.size_base
        ):
            self.refused += 1
            self.strategy.on_event(OrderEnded(LEG, index, "canceled-margin-not-allowed"))
            return False
        if crosses:
            self._book(order.side, self.price, order.size_base, False, order.level, index)
            return True
        self.working[index] = LiveOrder(
            order.level, order.side, order.price, order.size_base, index, "open"
        )
        return True

    def _halt(self, halt: Halt) -> None:
        self.working.clear()
        self.halted = halt.trigger.value
        if halt.flatten_base != 0:
            side = Side.BUY if halt.flatten_base > 0 else Side.SELL
            self._book(side, self._taker_price(side), abs(halt.flatten_base), False, None, None)

    # --- margin (only with Settings.collateral; the simulator's rules, margin.py) ----------

    def _requirements(self) -> tuple[Decimal, Decimal, Decimal]:
        """(cross equity, initial, maintenance) of the position at the current price."""
        initial, maintenance = self.settings.margin_fractions
        value = abs(self.ledger.position_base) * self.price
        equity = self.settings.collateral or _ZERO
        equity += self.equity(self.price)
        return equity, value * initial / _TEN_THOUSAND, value * maintenance / _TEN_THOUSAND

    def _order_margin(self, extra: tuple[Side, Decimal] | None = None) -> Decimal:
        """Initial margin of the open orders (plus one more): the worst case of every buy or
        every sell filling, beyond the current position (orders that reduce it are free)."""
        buys = sum((o.size_base for o in self.working.values() if o.side is Side.BUY), _ZERO)
        sells = sum((o.size_base for o in self.working.values() if o.side is Side.SELL), _ZERO)
        if extra is not None:
            if extra[0] is Side.BUY:
                buys += extra[1]
            else:
                sells += extra[1]
        position = self.ledger.position_base
        beyond = max(abs(position + buys), abs(position - sells)) - abs(position)
        if beyond <= 0:
            return _ZERO
        return beyond * self.price * self.settings.margin_fractions[0] / _TEN_THOUSAND

    def _affordable(self, side: Side, size: Decimal) -> bool:
        """Whether the account keeps its initial margin with this order resting."""
        equity, initial, _ = self._requirements()
        return equity >= initial + self._order_margin((side, size))

    def _below_maintenance(self) -> bool:
        equity, _, maintenance = self._requirements()
        return maintenance > 0 and equity < maintenance

    def _liquidated(self) -> bool:
        """At a new price: under maintenance, the whole position is closed at that price (no
        fee, as the simulator's insurance fund takes it), every order cancelled, the bot ends."""
        if self.price == self.margin_mark:
            return False
        self.margin_mark = self.price
        position = self.ledger.position_base
        if position == 0:
            return False
        equity, _, maintenance = self._requirements()
        if not (maintenance > 0 and equity < maintenance):
            return False
        self.working.clear()
        side = Side.SELL if position > 0 else Side.BUY
        trade_id = self.next_trade
        self.next_trade += 1
        size = abs(position)
        self.ledger.apply_fill(Fill(trade_id, side.value, self.price, size, _ZERO, False, None))
        self.fills.append(
            SimFill(trade_id, self.now_ms, side.value, self.price, size, _ZERO, False, None)
        )
        self.halted = "liquidation"
        self.halt_reason = (
            f"liquidated at {self.price} on {utc_minute(self.now_ms)}: equity "
            f"{equity.quantize(_CENT)} below the maintenance margin {maintenance.quantize(_CENT)}"
        )
        self.settled = False
        return True

    # --- funding and equity -----------------------------------------------------------------

    def pay_funding(self, rate: Decimal) -> None:
        position = self.ledger.position_base
        if position == 0 or rate == 0:
            return
        owed = position * self.price * rate  # > 0: we pay
        if owed > 0:
            amount = -owed.quantize(_USDC, rounding=ROUND_CEILING)
        else:
            amount = (-owed).quantize(_USDC, rounding=ROUND_FLOOR)
        self.ledger.apply_funding(FundingPayment(self.now_ms, amount))

    def equity(self, mark: Decimal) -> Decimal:
        ledger = self.ledger
        return (
            ledger.realized + ledger.position_base * mark - ledger.cost_quote
            - ledger.fees + ledger.funding
        )  # fmt: skip


def _quiet_end(
    lows: Sequence[Decimal],
    highs: Sequence[Decimal],
    start: int,
    n: int,
    floor: Decimal | None,
    ceiling: Decimal | None,
) -> int:
    """The first index from `start` whose candle is not surely quiet: its low or high not
    strictly inside (floor, ceiling). (The close before it is inside too: it lies in its own
    candle's range, `low <= close <= high` as `csvfile` checks, and that candle was quiet; the
    caller checked the candle before `start`.) A plain scan: runs are tens of candles at 50 bps,
    and a Decimal comparison costs about as much in this loop as inside min() over a slice, so
    galloping over slices made the search slower, long runs included (bench, 2026-12-06)."""
    if floor is None or ceiling is None:
        return n  # stopped: every candle is quiet
    for m in range(start, n):
        if lows[m] <= floor or highs[m] >= ceiling:
            return m
    return n


def _capped(span: Sequence[Decimal], least: Decimal, most: Decimal, held: Decimal,
            size: Decimal, quote_sized: bool, cap: Decimal) -> int:  # fmt: skip
    """How many of these closes are at the cap with `held` base (as the per-candle count: one
    more level's notional at the close above the cap; it grows with the close)."""
    if quote_sized:
        if held * least + size > cap:
            return len(span)
        if held * most + size <= cap:
            return 0
        return sum(1 for close in span if held * close + size > cap)
    if held * least + size * least > cap:
        return len(span)
    if held * most + size * most <= cap:
        return 0
    return sum(1 for close in span if held * close + size * close > cap)


def utc_minute(ms: int) -> str:
    """'YYYY-MM-DD HH:MM' (UTC) of an epoch time in ms (civil-from-days, no clock, no tz)."""
    days, rest = divmod(ms // MINUTE_MS, 1440)
    z = days + 719_468
    era, doe = divmod(z, 146_097)
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (month <= 2)
    return f"{year:04d}-{month:02d}-{day:02d} {rest // 60:02d}:{rest % 60:02d}"


def path_of(o: Decimal, h: Decimal, low: Decimal, c: Decimal) -> tuple[Decimal, ...]:
    """The walk inside one candle: O-H-L-C when it closed up (or flat), O-L-H-C when down."""
    return (o, h, low, c) if c >= o else (o, low, h, c)


def run(
    settings: Settings,
    candles: CandleSeries,
    funding: Mapping[int, Decimal] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Result:
    """Backtest `settings.config` over `candles` (funding rates keyed by hour start in ms).

    `progress(done, total)` is called every 1 % of the candles (for a progress bar). This is
    the live `GridStrategy`'s kernel; `bots.backtest.engine.run` (what backtests and sweeps
    call) runs the specialised grid kernel (`fastgrid.py`, same `Result`) where it can.
    """
    if len(candles) == 0:
        raise ValueError("candles: the range holds no candles")
    return drive(_Run(settings, GridStrategy(LEG, settings.config)), candles, funding, progress)


def drive(
    sim: _Run,
    candles: CandleSeries,
    funding: Mapping[int, Decimal] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Result:
    """Walk `sim` (the fill model, or a subclass that executes on another venue) over candles."""
    if len(candles) == 0:
        raise ValueError("candles: the range holds no candles")
    settings = sim.settings
    funding = funding or {}
    config = settings.config
    first = candles.opens[0]
    sim.price = sim.margin_mark = first
    sim.now_ms = candles.times[0]
    sim.strategy.start(first, None, None)
    sim.strategy.on_event(BookChanged(LEG))
    sim._decide(fresh=True)
    n = len(candles)
    every = max(1, n // max(1, settings.equity_points))
    capital = capital_needed(config, first, settings.leverage)
    peak = _ZERO
    max_drawdown = _ZERO
    curve: list[tuple[int, Decimal, Decimal]] = []
    times, opens, highs, lows, closes = (
        candles.times, candles.opens, candles.highs, candles.lows, candles.closes
    )  # fmt: skip
    walk_to = sim.walk_to
    cap = config.max_position_notional
    quote_sized = config.size_mode is SizeMode.QUOTE
    capped = 0
    report_every = max(1, n // 100)
    share = settings.volume_share
    volumes = candles.volumes
    if share is not None and (volumes is None or len(volumes) != n):
        raise ValueError("volume_share: the candles carry no volume")
    lot = config.lot_size
    hours = sorted(t for t in funding if t % HOUR_MS == 0)
    level_size = config.size
    i = 0
    while i < n:
        if progress is not None and i % report_every == 0:
            progress(i, n)
        t = times[i]
        sim.now_ms = t
        if share is not None and volumes is not None:
            sim.budget = (volumes[i] * share / lot).to_integral_value(ROUND_FLOOR) * lot
        o, c, high, low = opens[i], closes[i], highs[i], lows[i]
        if sim.quiet(low, high):
            end = _quiet_end(lows, highs, i + 1, n, *sim.quiet_bounds())
            if end > i + 1:
                # A run of quiet candles: the position is constant, nothing fills or decides;
                # funding, the mark, time at the cap and the curve are accounted in bulk, as
                # the walk over each of them would (tests/bots/backtest/test_kernel_fast.py).
                if progress is not None:
                    for m in range(-(-(i + 1) // report_every) * report_every, end, report_every):
                        progress(m, n)
                starts = [i]
                rates: dict[int, Decimal] = {}
                for hour in hours[bisect_left(hours, t) : bisect_left(hours, times[end - 1] + 1)]:
                    m = bisect_left(times, hour, i, end)
                    if m < end and times[m] == hour:
                        rates[m] = funding[hour]
                        if m > i:
                            starts.append(m)
                starts.append(end)
                position = sim.ledger.position_base
                for a, b in pairwise(starts):
                    rate = rates.get(a)
                    if rate is not None:
                        sim.now_ms = times[a]
                        sim.price = opens[a]
                        sim.pay_funding(rate)
                    span = closes[a:b]
                    least, most = min(span), max(span)
                    if cap is not None:
                        capped += _capped(span, least, most, abs(position), level_size,
                                          quote_sized, cap)  # fmt: skip
                    # Equity is affine in the close here: its extremes are at the extreme
                    # closes, its deepest fall after a peak follows the running max (or min).
                    if position > 0:
                        top, bottom = sim.equity(most), sim.equity(least)
                    elif position < 0:
                        top, bottom = sim.equity(least), sim.equity(most)
                    else:
                        top = bottom = sim.equity(c)
                    if peak - bottom > max_drawdown:
                        max_drawdown = peak - bottom
                    # The deepest fall inside the run, |position| x (running extreme - close),
                    # is at most |position| x (highest - lowest close): when that cannot beat
                    # the drawdown so far, the pass over the run's closes is not made (exact).
                    if position != 0 and abs(position) * (most - least) > max_drawdown:
                        if position > 0:
                            fall = position * max(map(sub, accumulate(span, max), span))
                        else:
                            fall = -position * max(map(sub, span, accumulate(span, min)))
                        if fall > max_drawdown:
                            max_drawdown = fall
                    if top > peak:
                        peak = top
                    for m in range(-(-a // every) * every, b, every):
                        curve.append((times[m], closes[m], sim.equity(closes[m])))
                    if b == n and (n - 1) % every:
                        curve.append((times[n - 1], closes[n - 1], sim.equity(closes[n - 1])))
                sim.now_ms = times[end - 1]
                sim.price = closes[end - 1]
                i = end
                continue
            # Nothing can fill and every decision would be skipped: only funding and the mark.
            if t % HOUR_MS == 0 and t in funding:
                sim.price = o
                sim.pay_funding(funding[t])
            sim.price = c
        else:
            walk_to(o)
            if t % HOUR_MS == 0:
                rate = funding.get(t)
                if rate is not None:
                    sim.pay_funding(rate)
            if c >= o:
                walk_to(high)
                walk_to(low)
            else:
                walk_to(low)
                walk_to(high)
            walk_to(c)
        if cap is not None:
            # At the cap: one more level on the side that grows the position would exceed it.
            level = config.size if quote_sized else config.size * c
            if abs(sim.ledger.position_base) * c + level > cap:
                capped += 1
        equity = sim.equity(c)
        if equity > peak:
            peak = equity
        elif peak - equity > max_drawdown:
            max_drawdown = peak - equity
        if i % every == 0 or i == n - 1:
            curve.append((t, c, equity))
        i += 1
    last = closes[-1]
    books = sim.ledger.summary(last)
    return Result(
        start_ms=times[0],
        end_ms=times[-1] + MINUTE_MS,
        candles=n,
        fills=tuple(sim.fills),
        grid_profit=books.grid_profit,
        other_realized=books.other_realized,
        inventory=books.unrealized,
        fees=books.fees,
        funding=books.funding,
        total=books.total,
        round_trips=books.round_trips,
        position_base=books.position_base,
        last_price=last,
        capital=capital,
        max_drawdown=max_drawdown,
        refused=sim.refused,
        halted=sim.halted,
        halt_reason=sim.halt_reason,
        capped_candles=capped,
        equity=tuple(curve),
    )
