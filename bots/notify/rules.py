"""Which BotEvent becomes which alert, and which channel wants it.

The BotEvent kinds below are the contract with the writers of events (runner, services,
supervisor): a new kind that needs a human is added to `EVENT_ALERTS`. An unlisted kind becomes a
`bot_error` alert when its level is error, else an `other` alert (opt-in per channel), so nothing
at error level is ever silently dropped by a missing entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from bots.models import AlertKind, EventLevel

LEVEL_RANK: dict[str, int] = {
    EventLevel.DEBUG: 0,
    EventLevel.INFO: 1,
    EventLevel.WARNING: 2,
    EventLevel.ERROR: 3,
}

EVENT_ALERTS: dict[str, AlertKind] = {
    # lifecycle (operator requests and what the runner did about them)
    "start": AlertKind.BOT_STARTED,
    "recovered": AlertKind.BOT_STARTED,
    "running": AlertKind.BOT_STARTED,
    "resumed": AlertKind.BOT_STARTED,
    "stop": AlertKind.BOT_STOPPED,
    "stopped": AlertKind.BOT_STOPPED,
    "pause": AlertKind.BOT_PAUSED,
    "paused": AlertKind.BOT_PAUSED,
    "error": AlertKind.BOT_ERROR,
    "crash_loop": AlertKind.BOT_ERROR,
    "batch_refused": AlertKind.BOT_ERROR,
    "cancel_failed": AlertKind.BOT_ERROR,
    "restart": AlertKind.BOT_RESTARTED,
    # the operator's big buttons and their verified outcome
    "emergency_stop": AlertKind.EMERGENCY,
    "cancel_all": AlertKind.EMERGENCY,
    "orders_cancelled": AlertKind.EMERGENCY,
    # risk
    "risk_exit": AlertKind.RISK_EXIT,
    "flatten": AlertKind.RISK_EXIT,
    "position_cap": AlertKind.RISK_EXIT,
    "hedge_imbalance": AlertKind.HEDGE,
    "hedge_repair": AlertKind.HEDGE,
    "unattributed_position": AlertKind.UNATTRIBUTED,
    "foreign_order": AlertKind.UNATTRIBUTED,
    "deadman_failed": AlertKind.DEADMAN,
    "deadman_fired": AlertKind.DEADMAN,
    # trading
    "fill": AlertKind.FILLS,
}

# Chosen by kind alone: a channel set to "warnings and up" still wants the summary it ticked.
LEVEL_FREE: frozenset[str] = frozenset({AlertKind.DAILY_SUMMARY})

# Alerts that arrive in bursts: collected per (channel, bot) for a window, sent as one message.
COALESCED: frozenset[str] = frozenset({AlertKind.FILLS})


def alert_kind_of(event_kind: str, level: str) -> AlertKind:
    """The alert a BotEvent of `event_kind` at `level` raises."""
    mapped = EVENT_ALERTS.get(event_kind)
    if mapped is not None:
        return mapped
    return AlertKind.BOT_ERROR if level == EventLevel.ERROR else AlertKind.OTHER


def level_rank(level: str) -> int:
    """Order of levels (debug < info < warning < error); unknown levels count as info."""
    return LEVEL_RANK.get(level, LEVEL_RANK[EventLevel.INFO])


@dataclass(frozen=True)
class Route:
    """What one enabled channel accepts: alert kinds, a minimum level, optionally some bots."""

    channel_id: int
    kinds: frozenset[str]
    min_rank: int
    bot_ids: frozenset[int] | None  # None: every bot

    def accepts(self, kind: str, level: str, bot_id: int | None) -> bool:
        """Whether an alert of `kind` at `level` (about `bot_id`, if any) goes to this channel."""
        if kind not in self.kinds:
            return False
        if kind not in LEVEL_FREE and level_rank(level) < self.min_rank:
            return False
        return self.bot_ids is None or bot_id is None or bot_id in self.bot_ids


def route_of(channel_id: int, alert_kinds: list[str], min_level: str, bot_ids: list[int]) -> Route:
    """The route of a channel row's fields (an empty bot list means every bot)."""
    return Route(
        channel_id=channel_id,
        kinds=frozenset(alert_kinds),
        min_rank=level_rank(min_level),
        bot_ids=frozenset(bot_ids) if bot_ids else None,
    )
