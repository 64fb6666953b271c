"""Backtests of the grid over stored candles.

`kernel` is pure (standard library and `bots.strategies` only): it drives the live runner's
strategy core (`GridStrategy`) with the fill model described in README "Backtest". `store` loads
and imports candles (Django), `runs` executes a `Backtest` row, `tasks` is its Celery task.
"""
