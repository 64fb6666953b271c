"""Import hourly funding rates from a CSV file into the candle store (README "Backtest").

    python manage.py funding_import FILE --network mainnet --market ETH

Header `timestamp, rate` (s or ms, whole hours; the hour's rate, positive: longs pay). Rates
already stored are kept. A bad file stores nothing and names the row and field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from bots.backtest import csvfile, store
from bots.management.commands.candles_import import read_csv
from bots.models import Network


class Command(BaseCommand):
    help = "Import hourly funding rates from a CSV file (header row: timestamp, rate)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--network", choices=Network.values, default=Network.MAINNET)
        parser.add_argument("--market", required=True, help="market id or symbol")

    def handle(self, *args: Any, **options: Any) -> None:
        network: str = options["network"]
        market_id, parsed = read_csv(options, csvfile.parse_funding)
        stored, kept = store.import_funding(network, market_id, parsed)
        self.stdout.write(
            f"{parsed.rows} rows read, {stored} hourly rates stored, {kept} already stored, "
            f"{parsed.duplicates} duplicate rows merged (the last one kept)"
        )
