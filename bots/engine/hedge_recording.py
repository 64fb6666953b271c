"""What the runner writes for a hedge bot beyond a grid's: the taker leg's fills and the snapshot.

A's orders, fills and funding go through the grid's recording (`intake`, `reports`), which keys
them by the bot's first account; B's fills (and both legs' closing fills of "stop and close")
are recorded here under the leg's account, once per trade id, with the same fee and
maker/taker reading (`reports.ledger_fill`). Every write is fenced.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from decimal import Decimal
from enum import Enum
from typing import Any

from django.db import IntegrityError, transaction

from bots.dashboard import broadcast
from bots.engine.recording import event_create, lock_fenced
from bots.engine.reports import fill_row, ledger_fill
from bots.models import Bot, BotEvent, ExchangeAccount, Fill, HedgeBot
from bots.strategies.hedge import HedgeSnapshot, HedgeState, Phase
from exchange.types import FillInfo


def fills_record(
    bot: Bot, fence: int, account: ExchangeAccount, infos: Iterable[FillInfo], *, leg: str = "B"
) -> list[Fill]:
    """Record fills of the bot's market orders on `account` (a hedge bot's legs, a grid's
    flatten), once per trade id; `leg` names the leg in their events (empty: one leg)."""
    created: list[Fill] = []
    with transaction.atomic():
        lock_fenced(bot.pk, fence)
        for info in sorted(infos, key=lambda f: (f.timestamp_ms, f.trade_id)):
            booked = ledger_fill(info, None)
            try:
                with transaction.atomic():
                    fill = fill_row(bot, account.pk, info, booked)
                    fill.save(force_insert=True)
            except IntegrityError:
                continue  # recorded already (a replayed snapshot of the stream)
            event_create(
                bot,
                "fill",
                f"{leg} {fill.side} {fill.size_base} @ {fill.price}".strip(),
                {"trade_id": fill.trade_id, "leg": leg},
            )
            created.append(fill)
    return created


def snapshot_json(snapshot: HedgeSnapshot) -> dict[str, Any]:
    """The core's snapshot as JSON (enums by value, Decimals as strings)."""

    def plain(value: Any) -> Any:
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, Decimal):
            return str(value)
        return value

    return {name: plain(value) for name, value in asdict(snapshot).items()}


def snapshot_from_json(data: dict[str, Any]) -> HedgeSnapshot | None:
    """The snapshot a runner kept on the bot, or None (never saved, or unreadable: the core then
    starts idle and repairs whatever net the positions show)."""
    if not data or data.get("state") in ("stopped", "error"):
        return None  # an ended run: the next one starts afresh
    try:
        return HedgeSnapshot(
            state=HedgeState(data["state"]),
            phase=Phase(data["phase"]),
            entered_ms=int(data["entered_ms"]),
            cycles_completed=int(data["cycles_completed"]),
            repairs=int(data["repairs"]),
            hold_until_ms=_int_or_none(data.get("hold_until_ms")),
            cooldown_until_ms=_int_or_none(data.get("cooldown_until_ms")),
            cycle_counted=bool(data["cycle_counted"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def snapshot_save(bot: Bot, fence: int, snapshot: HedgeSnapshot) -> None:
    """Keep the core's snapshot on the bot (fenced), for the page and a restart."""
    data = snapshot_json(snapshot)
    with transaction.atomic():
        lock_fenced(bot.pk, fence)
        HedgeBot.objects.filter(pk=bot.pk).update(strategy_snapshot=data)
        broadcast.bot_changed(bot)  # the overview's row shows the core's state
    if isinstance(bot, HedgeBot):
        bot.strategy_snapshot = data


# The operator's lifecycle requests, as recorded by `bots.services` (one event each).
LIFECYCLE_KINDS = ("start", "pause", "stop", "stop_close", "emergency_stop")


def close_requested(bot_id: int) -> bool:
    """Whether the operator's latest lifecycle request is "stop and close both legs"."""
    latest = (
        BotEvent.objects.filter(bot_id=bot_id, kind__in=LIFECYCLE_KINDS)
        .order_by("-id")
        .values_list("kind", flat=True)
        .first()
    )
    return latest == "stop_close"
