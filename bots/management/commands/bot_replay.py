"""Replay a grid bot's recorded session through the current strategy core (README "Backtest",
"Why did live do that?").

    python manage.py bot_replay BOT [--from ISO] [--to ISO] [--step X] [--override field=value]

BOT is the bot's id or its name. Prints the first decision the current core makes differently
from the live one, with the inputs that led to it, and "N differences in M events". `--step`
(the bot's unit: price, or percent for a geometric grid) and `--override` (GridConfig field and
unit, repeatable) replay the session with another config: what that grid would have done.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bots.backtest import replay
from bots.models import GridBot


def bot_of(value: str) -> GridBot:
    """A grid bot by id or name (CommandError naming BOT)."""
    bots = GridBot.objects.select_related("account", "market")
    found = bots.filter(pk=int(value)).first() if value.isdigit() else None
    if found is None:
        named = list(bots.filter(name=value)[:2])
        if len(named) > 1:
            raise CommandError(f"BOT: more than one bot is named {value!r}; give its id")
        found = named[0] if named else None
    if found is None:
        raise CommandError(f"BOT: no grid bot {value!r} (give its id or name)")
    return found


def ms_of(option: str, value: str | None) -> int | None:
    """Epoch ms of an ISO date or time (UTC unless it says otherwise), CommandError naming it."""
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"{option}: not an ISO date or time: {value!r} (e.g. 2026-12-06T01:30)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


class Command(BaseCommand):
    help = "Replay a grid bot's session through the current core; print the first difference."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("bot", metavar="BOT", help="the grid bot's id or name")
        parser.add_argument("--from", dest="start", help="ISO time (UTC unless given)")
        parser.add_argument("--to", dest="end", help="ISO time (UTC unless given)")
        parser.add_argument(
            "--step", help="replay with this step (price, or percent for a geometric grid)"
        )
        parser.add_argument(
            "--override",
            action="append",
            default=[],
            metavar="FIELD=VALUE",
            help="replay with this GridConfig field changed (repeatable)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        bot = bot_of(options["bot"])
        start, end = ms_of("--from", options["start"]), ms_of("--to", options["end"])
        if start is not None and end is not None and start > end:
            raise CommandError("--from: is after --to")
        try:
            config = bot.grid_config()
            overrides = replay.parse_overrides(config, options["step"], options["override"])
            replay.configured(config, overrides)  # bad values fail before the replay runs
            report = replay.replay(bot, start, end, overrides)
        except replay.ReplayError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(report.text())
