"""Logging filters that keep routine lines out of an INFO log.

Beat sends, and a worker receives and finishes, a housekeeping task every few seconds
(`lighterweb.celery`: supervisor every 5 s, notification flush every 5 s, balances every 15 s):
Celery logs each of those at INFO, six lines every 5 s that bury the lines that matter. This
filter, on Celery's `celery.beat`, `celery.worker.strategy` and `celery.app.trace` loggers,
demotes those INFO lines to DEBUG (shown with LOG_LEVEL=DEBUG); a failure of the same tasks is
logged at WARNING/ERROR and passes untouched, and so does every other task (a bot's runner).
"""

from __future__ import annotations

import logging

# Task names and beat entry names of the periodic housekeeping (lighterweb.celery).
ROUTINE_TASKS = frozenset(
    {
        "bots.tasks.supervise_bots_task",
        "bots.tasks.deadman_sync_task",
        "bots.tasks.accounts_refresh_task",
        "bots.notify.tasks.notify_flush_task",
        "bots.notify.tasks.notify_daily_summary_task",
        "bots.notify.tasks.notify_budget_check_task",
        "lighterweb.celery.beat_heartbeat_task",
        "supervise-bots",
        "deadman-sync",
        "accounts-refresh",
        "notify-flush",
        "notify-daily-summary",
        "notify-budget-check",
        "beat-heartbeat",
    }
)


def _names(args: object) -> set[str]:
    if isinstance(args, dict):
        return {str(value) for value in args.values()}
    if isinstance(args, tuple):
        return {str(value) for value in args}
    return set()


class RoutineTasksAtDebug(logging.Filter):
    """Demote INFO records about routine periodic tasks to DEBUG (see the module docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not (_names(record.args) & ROUTINE_TASKS):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
