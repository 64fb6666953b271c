"""What the returns (README "Returns") add to the PnL reads: `bot_pnl` with and without them,
and an account summary with and without its returns, on a bot with many fills, resting orders
and a full history of PnL snapshots (90 days kept: two dense days plus hourly ones). Prints
p50/p99 and ratios; asserts nothing.

    python bench/returns_cost.py [--fills 2000] [--runs 50]

A throwaway SQLite database (or DATABASE_URL when it is PostgreSQL), migrated.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SNAPSHOTS = 2 * 24 * 60 + 88 * 24  # dense two days, then hourly to 90 days


def setup_django() -> None:
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        db_path = Path(tempfile.mkdtemp(prefix="returns-bench-")) / "db.sqlite3"
        os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lighterweb.settings")
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    settings.DEBUG = False
    call_command("migrate", verbosity=0)


def seed(fills: int) -> tuple[object, object]:
    from django.utils import timezone

    from bots.models import Fill, Order, PnlSnapshot
    from tests.lighterweb.factories import make_account, make_bot, make_market

    account = make_account()
    bot = make_bot(account, make_market(), step="10", levels_per_side=5, max_open_orders=10)
    now = timezone.now().replace(second=0, microsecond=0)
    rows = []
    for i in range(fills):  # a buy at level -1 and its sell at 0, over and over
        buy = i % 2 == 0
        rows.append(
            Fill(
                bot=bot, account=account, market=bot.market, trade_id=i + 1,
                side="buy" if buy else "sell", price=Decimal("3990" if buy else "4000"),
                size_base=Decimal("0.01"), fee=Decimal("0.0001"), is_maker=True,
                level_index=-1 if buy else 0, round_trip_id=i + 1 if buy else i,
                executed_at=now - timedelta(minutes=fills - i),
            )
        )  # fmt: skip
    Fill.objects.bulk_create(rows)
    prices = [3990 - 10 * k for k in range(5)] + [4010 + 10 * k for k in range(5)]
    Order.objects.bulk_create(
        Order(
            bot=bot, account=account, market=bot.market, client_order_index=k + 1,
            side="buy" if k < 5 else "sell", price=Decimal(price), size_base=Decimal("0.01"),
            status="open",
        )
        for k, price in enumerate(prices)
    )  # fmt: skip
    times = [now - timedelta(minutes=m) for m in range(2 * 24 * 60)]
    times += [now - timedelta(days=2, hours=h) for h in range(1, 88 * 24 + 1)]
    PnlSnapshot.objects.bulk_create(
        PnlSnapshot(
            bot=bot, time=t, total=Decimal(k % 97) / 10, realized=0, inventory=0, fees=0,
            funding=0, position=0,
        )
        for k, t in enumerate(times)
    )  # fmt: skip
    return bot, account


def timed(call: Callable[[], object], runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(0.99 * len(samples)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fills", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    setup_django()
    from django.db import connection

    from bots import account_summaries, selectors

    bot, account = seed(args.fills)
    print(f"{connection.vendor}: {args.fills} fills, 10 resting orders, {SNAPSHOTS} snapshots")
    cases = {
        "bot_pnl": lambda: selectors.bot_pnl(bot),
        "bot_pnl + returns": lambda: selectors.bot_pnl(bot, with_returns=True),
        "account summary": lambda: account_summaries.account_summary(
            account, with_budget=False, with_returns=False
        ),
        "account summary + returns": lambda: account_summaries.account_summary(
            account, with_budget=False
        ),
    }
    results = {name: timed(call, args.runs) for name, call in cases.items()}
    for name, (p50, p99) in results.items():
        print(f"{name:28} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms")
    for base, more in (
        ("bot_pnl", "bot_pnl + returns"),
        ("account summary", "account summary + returns"),
    ):
        print(f"{more} / {base}: {results[more][0] / results[base][0]:.2f}x (p50)")


if __name__ == "__main__":
    main()
