"""A specialised backtest kernel for the grid: the live core's decisions, done incrementally.

`bots.backtest.engine.run` uses it by default for the configurations it supports (`supports`),
and the live `GridStrategy` otherwise or when `Settings.live_core` is set. It makes exactly the
live-core kernel's `Result` (fills, PnL split, curve, round trips, time at the cap, drawdown): a
hypothesis property over random candle paths and random supported configs checks that
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
cached; each centre's ladder is computed once and only cut by the cap per decision; the walk
runs on cached Decimals. Fills are booked in `IntLedger` (position in lots, money in 1e-18
quote with the `Ledger`'s rounding), so the PnL split is the same to the last digit. The quiet
runs, funding, the curve and the drawdown are `kernel.drive`'s, shared.
"""

from __future__ import annotations

from collections import deque
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
from bots.strategies.accounting import COST_QUANTUM, FundingPayment, Ledger, PnlSummary
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
_QUANTUM_EXP = -18  # accounting.COST_QUANTUM's exponent
assert COST_QUANTUM == Decimal(1).scaleb(_QUANTUM_EXP)

# One cached level: raw lattice price; buy price (Decimal), ticks, lots, size (Decimal); the same
# for a sell. Ticks <= 0 mark a level below zero (never placed).
_Level = tuple[Decimal, Decimal, int, int, Decimal, Decimal, int, int, Decimal]
# A resting order: price, level, size (Decimal), ticks, lots.
_Order = tuple[Decimal, int, Decimal, int, int]
# A centre's ladder before the cap: buys, sells, and (lots in all, highest ticks) of each side.
_Ladder = tuple[list[_Order], list[_Order], tuple[int, int], tuple[int, int]]


def supports(settings: Settings) -> bool:
    """Whether this kernel makes the live-core kernel's backtest for these settings."""
    scale = _scale_of(settings.config)
    return (
        settings.collateral is None
        and settings.volume_share is None
        and not settings.eager
        # Money in whole 1e-18 quote: one tick x one lot must be a multiple of it.
        and scale.tick_exp + scale.lot_exp >= _QUANTUM_EXP
    )


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
        self._books = IntLedger(self._scale.tick_exp, self._scale.lot_exp)
        self.ledger = self._books  # type: ignore[assignment]  # kernel.drive reads it as a Ledger
        # Each centre's ladder before the cap (for prices strictly inside its band).
        self._ladders: dict[int, _Ladder] = {}

    def equity(self, mark: Decimal) -> Decimal:
        return self._books.equity(mark)

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
                price, level, size, ticks, lots = sells[0]
                self.price = price
                self._fill(Side.SELL, price, size, level, ticks, lots)
                self._decide(fresh=False)
                if self.halted:
                    break
                sells = self._sells
        else:
            buys = self._buys
            while buys and buys[0][0] >= target:
                price, level, size, ticks, lots = buys[0]
                self.price = price
                self._fill(Side.BUY, price, size, level, ticks, lots)
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

    def _fill(self, side: Side, price: Decimal, size: Decimal, level: int | None, ticks: int,
              lots: int, maker: bool = True) -> None:  # fmt: skip
        """Book a fill and tell the grid (`GridStrategy.on_event(Filled)`): position, centre."""
        ppm = self.settings.maker_fee_ppm if maker else self.settings.taker_fee_ppm
        fee = fee_of(price * size, ppm)
        trade_id = self.next_trade
        self.next_trade += 1
        self._books.fill(side is Side.BUY, ticks, lots, fee, level)
        self.fills.append(SimFill(trade_id, self.now_ms, side.value, price, size, fee, maker,
                                  level))  # fmt: skip
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
        cap = self._cap
        lo = level(c - 1)[0]
        hi = level(c + 1)[0]
        if lo < p < hi:
            # Strictly inside the band no buy is at or above p (buys round down from P(c-1)) and
            # no sell at or below it: the post-only bound removes nothing, and the ladder is the
            # centre's (cached) cut by the position cap.
            ladder = self._ladders.get(c)
            if ladder is None:
                ladder = self._ladders[c] = self._ladder(c)
            buys, sells = ladder[0], ladder[1]
            if cap is not None:
                buys = self._capped(buys, 1, cap, ladder[2])
                sells = self._capped(sells, -1, cap, ladder[3])
        else:
            buys, sells = self._side(c, 1, p, cap), self._side(c, -1, p, cap)
        most = self._max_open
        if most is not None and len(buys) + len(sells) > most:
            # Merged nearest first (buy, sell, buy, ...), trimmed farthest first.
            nb = ns = 0
            for i in range(max(len(buys), len(sells))):
                if i < len(buys) and nb + ns < most:
                    nb += 1
                if i < len(sells) and nb + ns < most:
                    ns += 1
            buys, sells = buys[:nb], sells[:ns]
        self._buys, self._sells = buys, sells
        if sl is not None and sl > lo:
            lo = sl
        if tp is not None and tp < hi:
            hi = tp
        self.band = (lo, hi)
        self.settled = lo < p < hi
        self.top_buy = buys[0][0] if buys else None
        self.low_sell = sells[0][0] if sells else None

    def _ladder(self, c: int) -> _Ladder:
        """The centre's ladder before the cap, with (lots in all, highest ticks) of each side."""
        buys, sells = self._side(c, 1, None, None), self._side(c, -1, None, None)
        return (
            buys, sells,
            (sum(order[4] for order in buys), buys[0][3] if buys else 0),
            (sum(order[4] for order in sells), sells[-1][3] if sells else 0),
        )  # fmt: skip

    def _side(self, c: int, sign: int, p: Decimal | None, cap: int | None) -> list[_Order]:
        """`plan._side_orders` in integer ticks and lots: buys (sign 1) at c-1 .. c-N, sells
        (sign -1) at c+1 .. c+N, nearest first; `p` the post-only bound (None: none binds),
        `cap` the position cap in tick x lot units (None: no cap)."""
        level = self._level
        buy = sign > 0
        orders: list[_Order] = []
        position, last = self._lots, 0
        for distance in range(1, self._n + 1):
            k = c - distance * sign
            entry = level(k)
            ticks, price, lots = (entry[2], entry[1], entry[3]) if buy else (
                entry[6], entry[5], entry[7])  # fmt: skip
            if ticks <= 0 or ticks == last:
                continue  # below zero, or geometric levels finer than a tick
            if p is not None and (price >= p if buy else price <= p):
                continue  # post-only safety: at or through the touch
            after = position + sign * lots
            if cap is not None and abs(after) > abs(position) and abs(after) * ticks > cap:
                break  # this side would grow exposure past the cap
            position, last = after, ticks
            orders.append((price, k, entry[4] if buy else entry[8], ticks, lots))
        return orders

    def _capped(self, orders: list[_Order], sign: int, cap: int, bound: tuple[int, int]
                ) -> list[_Order]:  # fmt: skip
        """The prefix of an uncapped side the position cap keeps (as `_side` with the cap)."""
        position = self._lots
        lots, ticks = bound
        if (abs(position) + lots) * ticks <= cap:
            return orders  # even every order of the side filled at its top price stays within
        for i, order in enumerate(orders):
            after = position + sign * order[4]
            if abs(after) > abs(position) and abs(after) * order[3] > cap:
                return orders[:i]
            position = after
        return orders

    def _halt_now(self, trigger: str) -> None:
        self._buys, self._sells = [], []
        self.working.clear()
        self.halted = trigger
        if self.settings.config.flatten_on_stop and self._lots != 0:
            side = Side.BUY if self._lots < 0 else Side.SELL
            lots = abs(self._lots)
            price = self._taker_price(side)
            ticks = _whole(price.scaleb(-self._scale.tick_exp), ROUND_FLOOR)  # on the tick
            size = Decimal(lots).scaleb(self._scale.lot_exp)
            self._fill(side, price, size, None, ticks, lots, maker=False)
        self.settled = False


class IntLedger:
    """`accounting.Ledger`'s books of a grid backtest in integers: the position in lots, money in
    1e-18 quote (its `COST_QUANTUM`, so a partial reduction's released cost rounds the same way,
    half-even). The Decimal views `kernel.drive` reads (`position_base`, `cost_quote`,
    `realized`, `fees`, `funding`, and `equity` through `FastRun.equity`) and `summary` are the
    same values as the Ledger's. drive reads the position and the equity at every quiet run and
    candle (150,000 times a year at 50 bps, ten times the fills; at 5 bps fills outnumber
    reads): the position is a plain attribute (a few distinct values, cached), the money views
    are built at the first read after a fill."""

    def __init__(self, tick_exp: int, lot_exp: int) -> None:
        self._per = 10 ** (tick_exp + lot_exp - _QUANTUM_EXP)  # tick x lot
        self._lot_exp = lot_exp
        self._lots = 0
        self._cost = 0
        self._realized = 0
        self._grid = 0
        self.fees = _ZERO
        self.funding = _ZERO
        self.position_base = _ZERO
        self._positions: dict[int, Decimal] = {}
        self.round_trips = 0
        self._count = 0
        # Unpaired grid fills per (buy?, level): [ticks, lots] FIFO (Ledger._pair).
        self._open: dict[tuple[bool, int], deque[list[int]]] = {}
        # (cost, realized) as Decimals; None: a fill changed them since they were built.
        self._money_views: tuple[Decimal, Decimal] | None = (_ZERO, _ZERO)

    def fill(self, buy: bool, ticks: int, lots: int, fee: Decimal, level: int | None) -> None:
        self._count += 1
        self.fees += fee
        self._money_views = None
        signed = lots if buy else -lots
        position = self._lots
        if position == 0 or (position > 0) == buy:
            self._cost += signed * ticks * self._per
            self._lots += signed
        else:
            held = abs(position)
            closing = min(lots, held)
            direction = 1 if position > 0 else -1
            if closing == held:
                released = self._cost
            else:
                q, r = divmod(abs(self._cost) * closing, held)
                if 2 * r > held or (2 * r == held and q % 2):
                    q += 1
                released = q if self._cost >= 0 else -q
            self._realized += direction * closing * ticks * self._per - released
            self._cost -= released
            self._lots -= direction * closing
            rest = lots - closing
            if rest > 0:
                self._cost += -direction * rest * ticks * self._per
                self._lots += -direction * rest
        lots_now = self._lots
        position_base = self._positions.get(lots_now)
        if position_base is None:
            position_base = self._positions[lots_now] = Decimal(lots_now).scaleb(self._lot_exp)
        self.position_base = position_base
        if level is None:
            return
        waiting = self._open.get((not buy, level + 1 if buy else level - 1))
        remaining = lots
        while waiting and remaining > 0:
            lot = waiting[0]
            matched = min(lot[1], remaining)
            spread = lot[0] - ticks if buy else ticks - lot[0]
            self._grid += spread * matched * self._per
            self.round_trips += 1
            remaining -= matched
            lot[1] -= matched
            if lot[1] == 0:
                waiting.popleft()
        if remaining > 0:
            self._open.setdefault((buy, level), deque()).append([ticks, remaining])

    def apply_funding(self, payment: FundingPayment) -> bool:
        self.funding += payment.amount
        return True

    def _money(self, units: int) -> Decimal:
        return Decimal(units).scaleb(_QUANTUM_EXP)

    def _views(self) -> tuple[Decimal, Decimal]:
        views = self._money_views
        if views is None:
            views = self._money_views = (self._money(self._cost), self._money(self._realized))
        return views

    @property
    def cost_quote(self) -> Decimal:
        return self._views()[0]

    @property
    def realized(self) -> Decimal:
        return self._views()[1]

    def equity(self, mark: Decimal) -> Decimal:
        """`kernel._Run.equity` of these books (the same operations in the same order)."""
        views = self._money_views
        if views is None:
            views = self._views()
        cost, realized = views
        return realized + self.position_base * mark - cost - self.fees + self.funding

    def summary(self, mark_price: Decimal) -> PnlSummary:
        """`Ledger.summary` of the same books."""
        ledger = Ledger()
        ledger.position_base, ledger.cost_quote, ledger.realized = (
            self.position_base,
            self.cost_quote,
            self.realized,
        )
        ledger.grid_profit = self._money(self._grid)
        ledger.fees, ledger.funding, ledger.round_trips = self.fees, self.funding, self.round_trips
        ledger._trade_ids = set(range(self._count))
        return ledger.summary(mark_price)


def run(
    settings: Settings,
    candles: CandleSeries,
    funding: Mapping[int, Decimal] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Result:
    """`engine.run` on this kernel (the caller checked `supports(settings)`)."""
    if len(candles) == 0:
        raise ValueError("candles: the range holds no candles")
    return drive(FastRun(settings), candles, funding, progress)
