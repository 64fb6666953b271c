"""The backtest's Celery task (default queue: CPU-bound, minutes at most, never a bot's)."""

from __future__ import annotations

from celery import shared_task

from bots.backtest import runs


@shared_task(name="bots.backtest.tasks.backtest_run_task", ignore_result=True)  # type: ignore[untyped-decorator]
def backtest_run_task(backtest_id: int) -> str:
    """Run one queued backtest."""
    return runs.backtest_execute(backtest_id)


@shared_task(name="bots.backtest.tasks.sweep_run_task", ignore_result=True)  # type: ignore[untyped-decorator]
def sweep_run_task(sweep_id: int) -> str:
    """Run one queued sweep (cancellable between configs)."""
    from bots.backtest import sweeps

    return sweeps.sweep_execute(sweep_id)


@shared_task(name="bots.backtest.tasks.candles_record_task", ignore_result=True)  # type: ignore[untyped-decorator]
def candles_record_task() -> int:
    """The recorder's beat task: one run per network (see bots.backtest.recorder)."""
    from bots.backtest import recorder

    reports = recorder.record_all()
    return sum(r.candles for network in reports.values() for r in network)


@shared_task(name="bots.backtest.tasks.candles_import_task", ignore_result=True)  # type: ignore[untyped-decorator]
def candles_import_task(job_id: str) -> str:
    """Import one uploaded CSV file of candles (see bots.backtest.imports)."""
    from bots.backtest import imports

    job = imports.import_run(job_id)
    return "expired" if job is None else job.state
