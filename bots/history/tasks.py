"""The PnL snapshot beat task (default queue: a short read and a few inserts, never a bot's)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="bots.history.tasks.pnl_snapshot_task", ignore_result=True)  # type: ignore[untyped-decorator]
def pnl_snapshot_task() -> int:
    """Snapshot every running bot's PnL (bots.history.snapshots), then prune the bots' session
    logs (bots.engine.session_log: age and count); returns the snapshot rows written."""
    from django.utils import timezone

    from bots.engine import session_log
    from bots.history import snapshots

    written = snapshots.snapshot_all()
    session_log.prune(timezone.now())
    return written
