"""What the session log (bots/engine/session_log.py) adds per fill, measured in isolation.

    python bench/session_log_cost.py [--fills 2000] [--levels 5]

One grid core (ETH, step 5, N levels a side) is driven through the runner's per-fill sequence:
a fill of the nearest sell or buy (alternating), the book after it, the decision that
replenishes, and a quiet book tick (a decision that changes nothing). Three figures per fill,
p50 over the fills:

- the core alone (`GridStrategy`), the core with its log (`LoggedGridStrategy`): the difference
  is what noting the inputs and the decision costs on the runner's event loop;
- writing the burst's chunk (`session_log.write`: JSON lines and one INSERT) inside an open
  transaction, as the burst transaction does it (on the runner's DB thread; the commit is the
  burst's anyway), on a throwaway SQLite database;
- the bytes stored per fill.

Prints figures; asserts nothing. The end-to-end figure is bench/grid_latency.py's (before/after
in docs/benchmarks.md), which this explains.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def setup_django() -> None:
    db_path = Path(tempfile.mkdtemp(prefix="session-log-bench-")) / "db.sqlite3"
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lighterweb.settings")
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    settings.DEBUG = False
    call_command("migrate", verbosity=0)
    logging.getLogger("bots").setLevel(logging.WARNING)


def drive(core: Any, fills: int, write: Any = None) -> tuple[list[float], list[float]]:
    """Per-fill seconds of the core's sequence, and of `write` (if given) after it."""
    from bots.strategies.grid import LiveOrder, MarketView, Side
    from bots.strategies.protocol import BookChanged, Decide, Filled, Place

    leg = core.leg
    mid = Decimal("3000")
    core.start(mid, None, None)
    working: dict[int, LiveOrder] = {}
    index = [0]

    def place(intents: list[Any]) -> None:
        for i in intents:
            if isinstance(i, Place):
                index[0] += 1
                o = i.order
                row = LiveOrder(o.level, o.side, o.price, o.size_base, index[0], "open")
                working[index[0]] = row
            elif hasattr(i, "client_order_index"):
                working.pop(i.client_order_index, None)

    place(core.on_event(Decide(leg, MarketView(mid - 1, mid + 1, mid), [])))
    if write is not None:
        write()
    core_s: list[float] = []
    write_s: list[float] = []
    for n in range(fills):
        side = Side.SELL if n % 2 == 0 else Side.BUY
        nearest = (min if side is Side.SELL else max)(
            (o for o in working.values() if o.side is side), key=lambda o: o.price
        )
        price = nearest.price
        view = MarketView(price - 1, price + 1, price)
        start = time.perf_counter()
        del working[nearest.client_order_index]
        core.on_event(
            Filled(leg, side, nearest.size_base, nearest.level, nearest.client_order_index, price)
        )
        core.on_event(BookChanged(leg))
        place(core.on_event(Decide(leg, view, list(working.values()))))
        core.on_event(BookChanged(leg))
        core.on_event(Decide(leg, view, list(working.values())))  # quiet: changes nothing
        core_s.append(time.perf_counter() - start)
        if write is not None:
            start = time.perf_counter()
            write()
            write_s.append(time.perf_counter() - start)
    return core_s, write_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=2000)
    parser.add_argument("--levels", type=int, default=5)
    args = parser.parse_args()
    setup_django()
    from django.db import transaction

    from bots.engine import session_log
    from bots.models import SessionChunk
    from bots.strategies.grid.strategy import GridStrategy
    from bots.strategies.protocol import Leg
    from tests.lighterweb.factories import make_account, make_bot, make_market

    bot = make_bot(make_account(), make_market(), step=Decimal("5"), size=Decimal("0.01"),
                   levels_per_side=args.levels, max_open_orders=2 * args.levels)  # fmt: skip
    config = bot.grid_config()
    leg = Leg(bot.account_id, bot.market_id)
    plain, _ = drive(GridStrategy(leg, config), args.fills)
    logged = session_log.LoggedGridStrategy(leg, config)

    def write() -> None:
        session_log.write(bot, logged.log.take())

    # One open transaction throughout: the burst's own transaction is there anyway (its
    # commit is not the log's cost), so only the JSON and the INSERT are timed.
    with transaction.atomic():
        with_log, writes = drive(logged, args.fills, write)
    stored = sum(len(c) for c in SessionChunk.objects.values_list("entries", flat=True))
    p50 = statistics.median
    print(f"{args.fills} fills, {args.levels} levels a side, SQLite")
    print(f"core per fill (fill, book, replenish decision, quiet tick): "
          f"{p50(plain) * 1e6:.0f} us without the log, {p50(with_log) * 1e6:.0f} us with it "
          f"(+{(p50(with_log) - p50(plain)) * 1e6:.0f} us on the event loop)")  # fmt: skip
    print(f"writing the chunk in the burst transaction (DB thread): {p50(writes) * 1e6:.0f} us "
          f"p50, {sorted(writes)[int(len(writes) * 0.99)] * 1e6:.0f} us p99")  # fmt: skip
    print(f"stored: {stored / args.fills:.0f} bytes of JSON lines per fill "
          f"({SessionChunk.objects.count()} chunks)")  # fmt: skip


if __name__ == "__main__":
    main()
