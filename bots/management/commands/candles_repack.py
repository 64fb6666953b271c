"""Rebuild the packed days the backtests load (`CandleDay`) from the candle rows.

    python manage.py candles_repack

Every write path of the store keeps the packs in step; rows written or deleted around it (a
Django shell, SQL) leave them out of step, and a load then reads the rows instead (slower, with a
warning naming this command). Safe to run at any time; prints the packs written.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from bots.backtest import store


class Command(BaseCommand):
    help = "Rebuild the packed candle days (CandleDay) from the stored 1-minute candles."

    def handle(self, *args: Any, **options: Any) -> None:
        written = store.rebuild_all()
        self.stdout.write(f"{written} day packs rebuilt from the candle rows")
