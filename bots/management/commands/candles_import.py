"""Import an OHLCV CSV file of 1-minute candles into the candle store (README "Backtest").

    python manage.py candles_import FILE --network mainnet --market ETH

`--market` is the exchange's market id or a symbol synced for that network. Rows already stored
are kept; duplicates in the file are merged; gaps are reported. A bad file stores nothing and
names the row and field.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bots.backtest import csvfile, store
from bots.models import Market, Network

T = TypeVar("T")


def market_id_of(network: str, market: str) -> int:
    """A market id from an id or a symbol of `network` (CommandError / ValueError naming it)."""
    if market.isdigit():
        return int(market)
    found = Market.objects.filter(network=network, symbol__iexact=market).first()
    if found is None:
        raise ValueError(
            f"market: no market {market!r} on {network} (sync markets, or give the id)"
        )
    return found.market_id


def read_csv(options: dict[str, Any], parse: Callable[[Any], T]) -> tuple[int, T]:
    """The market id and the parsed file of an import command (candles, funding); every
    problem a CommandError naming the field or the file."""
    path: Path = options["file"]
    try:
        market_id = market_id_of(options["network"], options["market"])
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return market_id, parse(handle)
    except OSError as exc:
        raise CommandError(f"file: cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise CommandError(f"file: {path} is not UTF-8 text") from exc
    except csvfile.CsvError as exc:
        raise CommandError(f"{path}: {exc}") from exc


class Command(BaseCommand):
    help = "Import 1-minute OHLCV candles from a CSV file (header row; s or ms timestamps)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--network", choices=Network.values, default=Network.MAINNET)
        parser.add_argument("--market", required=True, help="market id or symbol")

    def handle(self, *args: Any, **options: Any) -> None:
        network: str = options["network"]
        market_id, parsed = read_csv(options, csvfile.parse)
        report = store.import_parsed(network, market_id, parsed)
        for line in report.lines():
            self.stdout.write(line)
