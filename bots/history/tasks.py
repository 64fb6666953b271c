"""The PnL snapshot beat task (default queue: a short read and a few inserts, never a bot's)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="bots.history.tasks.pnl_snapshot_task", ignore_result=True)  # type: ignore[untyped-decorator]
def pnl_snapshot_task() -> int:
    """Snapshot every running bot's PnL (bots.history.snapshots); returns the rows written."""
    from bots.history import snapshots

    return snapshots.snapshot_all()
