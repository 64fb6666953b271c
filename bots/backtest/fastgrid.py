"""A specialised backtest kernel for the grid: the live core's decisions, done incrementally.

`kernel.run` uses it by default for the configurations it supports (`supports`), and the live
`GridStrategy` otherwise or when `Settings.live_core` is set. It makes exactly the live-core
kernel's `Result` (fills, PnL split, curve, round trips, time at the cap, drawdown): a hypothesis
property over random candle paths and random supported configs checks that
(tests/bots/backtest/test_fastgrid.py).

Supported: arithmetic and geometric spacing, base and quote size (with the lot and exchange
minimums), `max_open_orders`, `max_position_notional`, stop-loss / take-profit (with or without
the flatten), post-only or not, fees, funding, slippage. Not supported (the live core runs):
margin (`Settings.collateral`), partial fills (`Settings.volume_share`), the reference walk
(`Settings.eager`) and the venue mode (`venue.py` drives its own walk).

What makes it cheap: the grid's behaviour between two decisions is simple. A fill at level k
moves the centre to k (a buy only down, a sell only up: `plan.on_fill`); a fresh book rolls it
by whole levels (`plan.on_price`); the ladder is the N levels each side of the centre, the
post-only bound, the position cap walking outwards from the centre and `max_open_orders`
trimming farthest first (`plan.desired_orders`). In this fill model no order ever crosses
(the desired ladder drops a level at or through the price) and no order is refused, so after a
decision the resting orders are exactly the desired ladder: there is no diff to compute. Levels
(raw lattice price, on-tick price in integer ticks for each side, size in integer lots) are
computed once per level with the core's own functions (`Lattice.raw_price`, `_size_lots`) and
cached; the ladder, the cap and the walk run on ints and cached Decimals. Fills are booked in
the live bot's `Ledger`, so the PnL split is the same to the last digit; the quiet runs, funding,
the curve and the drawdown are `kernel.drive`'s, unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from bots.backtest.kernel import (
    LEG,
    CandleSeries,
    Result,
    Settings,
    SimFill,
    _Run,
    drive,
    fee_of,
)
from bots.strategies.accounting import Fill
from bots.strategies.grid.config import (
    Lattice,
    Side,
    Spacing,
    _scale_of,
    _size_lots,
    _whole,
)
from bots.strategies.grid.strategy import GridStrategy

_ZERO = Decimal(0)

# One cached level: raw lattice price; buy price (Decimal), ticks, lots, size (Decimal); the same
# for a sell. Ticks <= 0 mark a level below zero (never placed).
_Level = tuple[Decimal, Decimal, int, int, Decimal, Decimal, int, int, Decimal]
# A resting order: price, level, size (Decimal).
_Order = tuple[Decimal, int, Decimal]


def supports(settings: Settings) -> bool:
    """Whether this kernel makes the live-core kernel's backtest for these settings."""
    return settings.collateral is None and settings.volume_share is None and not settings.eager


class FastRun(_Run):
    """`kernel._Run` with the grid's decisions made on cached integer levels (see the module)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, GridStrategy(LEG, settings.config))
        config = settings.config
        self._scale = _scale_of(config)
        self._arithmetic = config.spacing is Spacing.ARITHMETIC
        self._levels: dict[int, _Level] = {}
        self._lattice: Lattice | None = None
        self._anchor_ticks = 0
        self._centre = 0
        self._fresh = True
        self._lots = 0  # the bot's position in lots
        self._buys: list[_Order] = []  # nearest (highest) first
        self._sells: list[_Order] = []  # nearest (lowest) first
        self._n = config.levels_per_side
        self._max_open = config.max_open_orders
        cap = self._scale.cap_units
        # An int above a Decimal is above its floor: the cap compares in ints.
        self._cap = None if cap is None else int(cap.to_integral_value(ROUND_FLOOR))
        self._sl = config.stop_loss_price
        self._tp = config.take_profit_price
        self._unit = config.lot_size

    # --- levels -----------------------------------------------------------------------------

    def _level(self, k: int) -> _Level:
        found = self._levels.get(k)
        if found is not None:
            return found
        assert self._lattice is not None
        scale = self._scale
        raw = self._lattice.raw_price(k)
        if self._arithmetic:
            buy = sell = self._anchor_ticks + k * scale.step_ticks
        else:
            shifted = raw.scaleb(-scale.tick_exp)
            buy, sell = _whole(shifted, ROUND_FLOOR), _whole(shifted, ROUND_CEILING)
        buy_lots = _size_lots(scale, buy) if buy > 0 else 0
        sell_lots = _size_lots(scale, sell) if sell > 0 else 0
        found = (
            raw,
            Decimal(buy).scaleb(scale.tick_exp), buy, buy_lots,
            Decimal(buy_lots).scaleb(scale.lot_exp),
            Decimal(sell).scaleb(scale.tick_exp), sell, sell_lots,
            Decimal(sell_lots).scaleb(scale.lot_exp),
        )  # fmt: skip
        self._levels[k] = found
        return found

    def _start(self) -> None:
        state = self.strategy.state
        assert state is not None
        self._lattice = state.lattice(self.settings.config)
        self._anchor_ticks = _whole(state.anchor.scaleb(-self._scale.tick_exp), ROUND_FLOOR)
        self._centre = state.centre

    # --- the walk (kernel._Run.walk_to, on the cached ladder) ------------------------------

    def walk_to(self, target: Decimal) -> None:
        if self.halted:
            self.price = target
            return
        if target > self.price:
            sells = self._sells
            while sells and sells[0][0] <= target:
                price, level, size = sells[0]
                self.price = price
                self._fill(Side.SELL, price, size, level)
                self._decide(fresh=False)
                if self.halted:
                    break
                sells = self._sells
        else:
            buys = self._buys
            while buys and buys[0][0] >= target:
                price, level, size = buys[0]
                self.price = price
                self._fill(Side.BUY, price, size, level)
                self._decide(fresh=False)
                if self.halted:
                    break
                buys = self._buys
        self.price = target
        if self.halted:
            return
        self._fresh = True
        lo, hi = self.band
        if self.settled and lo < target < hi:
            return
        self._decide(fresh=True)

    # --- fills --------------------------------------------------------------------------------

    def _fill(self, side: Side, price: Decimal, size: Decimal, level: int | None,
              maker: bool = True) -> None:  # fmt: skip
        """Book a fill and tell the grid (`GridStrategy.on_event(Filled)`): position, centre."""
        ppm = self.settings.maker_fee_ppm if maker else self.settings.taker_fee_ppm
        fee = fee_of(price * size, ppm)
        trade_id = self.next_trade
        self.next_trade += 1
        self.ledger.apply_fill(Fill(trade_id, side.value, price, size, fee, maker, level))
        self.fills.append(SimFill(trade_id, self.now_ms, side.value, price, size, fee, maker,
                                  level))  # fmt: skip
        lots = int(size / self._unit)
        if side is Side.BUY:
            self._lots += lots
            if level is not None:
                self._fresh = False
                if level < self._centre:
                    self._centre = level
        else:
            self._lots -= lots
            if level is not None:
                self._fresh = False
                if level > self._centre:
                    self._centre = level
        # The order is gone from the book; the next decision re-lays the ladder.
        if maker:
            if side is Side.BUY:
                self._buys = self._buys[1:]
            else:
                self._sells = self._sells[1:]
        self.settled = False

    # --- decisions (GridStrategy._decide + the fill model's execution) ----------------------

    def _decide(self, fresh: bool) -> None:
        del fresh  # as in kernel._Run._decide: a settled decision does not depend on it
        if self._lattice is None:
            self._start()
        p = self.price
        level = self._level
        c = self._centre
        if self._fresh:  # plan.on_price
            if p >= level(c + 1)[0]:
                c += 1
                while level(c + 1)[0] <= p:
                    c += 1
                while level(c)[0] > p:
                    c -= 1
            elif p <= level(c - 1)[0]:
                c -= 1
                while level(c - 1)[0] >= p:
                    c -= 1
                while level(c)[0] < p:
                    c += 1
            self._centre = c
        sl, tp = self._sl, self._tp
        if (sl is not None and p <= sl) or (tp is not None and p >= tp):  # plan.risk_check
            self._halt_now("stop_loss" if sl is not None and p <= sl else "take_profit")
            return
        n = self._n
        cap = self._cap
        # Buys at c-1 .. c-N (plan._side_orders, in integer ticks and lots).
        buys: list[_Order] = []
        position, last = self._lots, 0
        for distance in range(1, n + 1):
            k = c - distance
            entry = level(k)
            ticks = entry[2]
            if ticks <= 0 or ticks == last:
                continue
            if entry[1] >= p:
                continue  # post-only safety: at or above the best ask
            after = position + entry[3]
            if cap is not None and abs(after) > abs(position) and abs(after) * ticks > cap:
                break
            position, last = after, ticks
            buys.append((entry[1], k, entry[4]))
        sells: list[_Order] = []
        position, last = self._lots, 0
        for distance in range(1, n + 1):
            k = c + distance
            entry = level(k)
            ticks = entry[6]
            if ticks <= 0 or ticks == last:
                continue
            if entry[5] <= p:
                continue  # post-only safety: at or below the best bid
            after = position - entry[7]
            if cap is not None and abs(after) > abs(position) and abs(after) * ticks > cap:
                break
            position, last = after, ticks
            sells.append((entry[5], k, entry[8]))
        most = self._max_open
        if most is not None and len(buys) + len(sells) > most:
            # Merged nearest first (buy, sell, buy, ...), trimmed farthest first.
            nb = ns = 0
            for i in range(max(len(buys), len(sells))):
                if i < len(buys) and nb + ns < most:
                    nb += 1
                if i < len(sells) and nb + ns < most:
                    ns += 1
            del buys[nb:], sells[ns:]
        self._buys, self._sells = buys, sells
        lo = level(c - 1)[0]
        hi = level(c + 1)[0]
        if sl is not None and sl > lo:
            lo = sl
        if tp is not None and tp < hi:
            hi = tp
        self.band = (lo, hi)
        self.settled = lo < p < hi
        self.top_buy = buys[0][0] if buys else None
        self.low_sell = sells[0][0] if sells else None

    def _halt_now(self, trigger: str) -> None:
        self._buys, self._sells = [], []
        self.working.clear()
        self.halted = trigger
        if self.settings.config.flatten_on_stop and self._lots != 0:
            side = Side.BUY if self._lots < 0 else Side.SELL
            size = abs(self.ledger.position_base)
            self._fill(side, self._taker_price(side), size, None, maker=False)
        self.settled = False


def run(
    settings: Settings,
    candles: CandleSeries,
    funding: Mapping[int, Decimal] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Result:
    """`kernel.run` on this kernel (the caller checked `supports(settings)`)."""
    if len(candles) == 0:
        raise ValueError("candles: the range holds no candles")
    return drive(FastRun(settings), candles, funding, progress)
