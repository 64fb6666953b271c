"""Grid core and accounting speed: microseconds per call of the pure functions the runner calls
on every event. Prints figures; asserts nothing.

    python bench/grid_core.py [--levels 50] [--repeat 7] [--number 500] [--fills 10000]

Goal (brief): a plan for N = 50 levels per side well under a millisecond.
"""

from __future__ import annotations

import argparse
import sys
import time
import timeit
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bots.strategies.accounting import Fill, Ledger
from bots.strategies.grid import (
    GridConfig,
    LiveOrder,
    MarketView,
    Side,
    SizeMode,
    Spacing,
    desired_orders,
    initial_state,
    on_fill,
    on_price,
    plan,
)

MID = Decimal("2352.745")
BOOK = MarketView(Decimal("2352.70"), Decimal("2352.79"), MID)


def eth_config(spacing: Spacing, levels: int) -> GridConfig:
    """ETH-like market (2 price decimals, 4 size decimals, 10 USDC minimum), quote sizing."""
    return GridConfig(
        spacing=spacing,
        step=Decimal("1.00") if spacing is Spacing.ARITHMETIC else Decimal("0.0005"),
        levels_per_side=levels,
        size_mode=SizeMode.QUOTE,
        size=Decimal("20"),
        tick_size=Decimal("0.01"),
        lot_size=Decimal("0.0001"),
        min_base_amount=Decimal("0.0050"),
        min_quote_amount=Decimal("10"),
        max_open_orders=2 * levels,
        max_position_notional=Decimal("100000"),
    )


def micros(call: Callable[[], object], number: int, repeat: int) -> float:
    """Best-of-`repeat` mean CPU time of one call in microseconds (CPU time: the box is shared)."""
    timer = timeit.Timer(call, timer=time.process_time)
    return min(timer.repeat(number=number, repeat=repeat)) / number * 1e6


def bench_grid(spacing: Spacing, levels: int, number: int, repeat: int) -> None:
    config = eth_config(spacing, levels)
    state = initial_state(config, MID)
    placed = desired_orders(state, config, BOOK, Decimal(0))
    live = [
        LiveOrder(o.level, o.side, o.price, o.size_base, i, "open") for i, o in enumerate(placed)
    ]
    # The common event: the nearest buy fills and the grid steps down one level.
    stepped = on_fill(state, config, Side.BUY, -1)
    remaining = [o for o in live if o.level != -1]
    stepped_book = MarketView(BOOK.best_bid, BOOK.best_ask, state.lattice(config).raw_price(-1))
    wanted = desired_orders(stepped, config, stepped_book, Decimal("0.0085"))
    step_plan = plan(wanted, remaining)

    def fill_to_plan() -> object:
        after = on_fill(state, config, Side.BUY, -1)
        return plan(desired_orders(after, config, stepped_book, Decimal("0.0085")), remaining)

    figures = {
        "desired_orders": micros(
            lambda: desired_orders(state, config, BOOK, Decimal(0)), number, repeat
        ),
        "plan (diff only)": micros(lambda: plan(wanted, remaining), number, repeat),
        "fill -> plan (on_fill + desired + diff)": micros(fill_to_plan, number, repeat),
        "on_price (inside the band)": micros(lambda: on_price(state, config, MID), number, repeat),
    }
    print(
        f"{spacing.value}, N={levels} ({len(placed)} orders; one fill step = "
        f"{len(step_plan.creates)} creates + {len(step_plan.cancels)} cancels)"
    )
    for name, value in figures.items():
        print(f"  {name:<42} {value:9.1f} us")


def bench_accounting(fills: int, repeat: int) -> None:
    history = [
        Fill(
            i,
            Side.BUY if i % 2 == 0 else Side.SELL,
            Decimal(2000) + (i % 7) * 10 - (10 if i % 2 == 0 else 0),
            Decimal("0.0100"),
            Decimal("0.0004"),
            True,
            i % 7 - (1 if i % 2 == 0 else 0),
        )
        for i in range(fills)
    ]

    def fold() -> object:
        ledger = Ledger()
        for fill in history:
            ledger.apply_fill(fill)
        return ledger.summary(MID)

    per_fill = micros(fold, 1, repeat) / fills
    print(f"accounting: {fills} fills folded at {per_fill:.2f} us per fill")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, default=50)
    parser.add_argument("--number", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--fills", type=int, default=10_000)
    args = parser.parse_args()
    for spacing in Spacing:
        bench_grid(spacing, args.levels, args.number, args.repeat)
    bench_accounting(args.fills, args.repeat)


if __name__ == "__main__":
    main()
