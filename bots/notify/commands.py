"""Telegram commands: read the bots' state and pause, stop or emergency-stop them.

Only Telegram users linked to a LighterWeb user with operator rights (`access.user_is_operator`,
checked on every message) get past `/start` and `/help`. Actions call `bots.services` with the
actor `telegram:<username>`, exactly as the admin and the API do, so they land in the event log.
`/emergency` stops everything and cancels every order only after `/confirm <code>` within
CONFIRM_SECONDS; the code lives in Redis, so a poller restart or a replayed update cannot
confirm it twice.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import redis
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from bots import selectors, services
from bots.models import Bot, DesiredState, GridBot, HedgeBot
from bots.notify.access import user_is_operator
from bots.notify.selectors import linked_user_id

logger = logging.getLogger(__name__)

CONFIRM_SECONDS = 60
CONFIRM_KEY = "lighterweb:telegram:confirm"
HELP = (
    "/status - bots and orders at a glance\n"
    "/bots - every bot with its status\n"
    "/pnl - PnL per grid bot\n"
    "/pause BOT - keep orders, place nothing new (BOT: id or name)\n"
    "/stop BOT - cancel the bot's orders, keep its position\n"
    "/emergency - stop every bot and cancel every order (asks to confirm)"
)


@dataclass(frozen=True)
class Sender:
    """Who wrote: the Telegram user and the chat the answer goes to."""

    telegram_user_id: int
    chat_id: int
    username: str


def command_answer(client: redis.Redis, sender: Sender, text: str) -> str:
    """The bot's answer to one message (a command or not)."""
    command, _, argument = text.strip().partition(" ")
    command = command.split("@", 1)[0].lower()  # "/status@MyBot" in group chats
    if command in ("/start", "/help"):
        return (
            f"Your Telegram user id is {sender.telegram_user_id}; this chat's id is "
            f"{sender.chat_id}.\n{HELP}"
        )
    user = _operator(sender.telegram_user_id)
    if user is None:
        logger.warning(
            "telegram: refused %s from unlinked user %s", command, sender.telegram_user_id
        )
        return (
            "This Telegram account is not linked to a LighterWeb operator "
            f"(your Telegram user id is {sender.telegram_user_id})."
        )
    actor = f"telegram:{user.get_username()}"
    handler = HANDLERS.get(command)
    if handler is None:
        return f"Unknown command {command}.\n{HELP}"
    logger.info("telegram: %s %s by %s", command, argument, actor)
    return handler(client, sender, argument.strip(), actor)


def _operator(telegram_user_id: int) -> Any:
    user_id = linked_user_id(telegram_user_id)
    if user_id is None:
        return None
    user = get_user_model().objects.filter(pk=user_id).first()
    return user if user_is_operator(user) else None


def _status(client: redis.Redis, sender: Sender, argument: str, actor: str) -> str:
    status = selectors.site_status()
    counts = ", ".join(f"{count} {name}" for name, count in status.bots_by_status.items() if count)
    return (
        f"Bots: {counts or 'none'}\nOpen orders: {status.open_orders}\nAccounts: {status.accounts}"
    )


def _hedge_bots() -> QuerySet[HedgeBot]:
    return HedgeBot.objects.select_related("account", "taker_account", "market")


def _bots(client: redis.Redis, sender: Sender, argument: str, actor: str) -> str:
    rows = [
        (bot.name, f"#{bot.pk} {bot.name} ({bot.market.symbol}, {bot.account.name}): {bot.status}")
        for bot in selectors.bot_list()
    ]
    rows += [
        (bot.name, f"#{bot.pk} {bot.name} (hedge {bot.market.symbol}, {bot.account.name} / "
                   f"{bot.taker_account.name}): {bot.status}")
        for bot in _hedge_bots()
    ]  # fmt: skip
    return "\n".join(row for _, row in sorted(rows)) or "No bots."


def _pnl(client: redis.Redis, sender: Sender, argument: str, actor: str) -> str:
    lines, total = [], Decimal("0")
    for bot in [*selectors.bot_list().order_by("name"), *_hedge_bots().order_by("name")]:
        # A hedge bot's is the pair's: both legs' fills in one ledger (`selectors.bot_pnl`).
        summary = selectors.bot_pnl(bot).summary
        total += summary.total
        symbol = bot.market.symbol
        if isinstance(bot, HedgeBot):
            kind, parts = (
                f"hedge {symbol}",
                {"realized": summary.realized, "open": summary.unrealized},
            )
        else:
            kind, parts = symbol, {"grid": summary.grid_profit, "inventory": summary.unrealized}
        breakdown = ", ".join(
            f"{name} {_money(v)}" for name, v in {**parts, "fees": -summary.fees}.items()
        )
        lines.append(f"#{bot.pk} {bot.name} ({kind}): {_money(summary.total)} ({breakdown})")
    return "\n".join([*lines, f"Total: {_money(total)}"]) if lines else "No bots."


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):,}"


def _find_bot(argument: str) -> GridBot | HedgeBot | None:
    """The one bot of any kind whose id or exact name (any case) is `argument`."""
    if not argument:
        return None
    name = Q(name__iexact=argument)
    # `id`, not `pk`: a bot's pk is its link to Bot, whose lookups skip the integer range
    # check, so a huge number would overflow the database driver instead of matching nothing.
    which = name | Q(id=int(argument)) if argument.isdigit() else name
    found: list[GridBot | HedgeBot] = [*selectors.bot_list().filter(which)[:2]]
    found += _hedge_bots().filter(which)[:2]
    return found[0] if len(found) == 1 else None


def _lifecycle(call: Callable[..., Bot], done: str) -> Callable[..., str]:
    def handle(client: redis.Redis, sender: Sender, argument: str, actor: str) -> str:
        bot = _find_bot(argument)
        if bot is None:
            return f"No single bot named {argument!r}: give its id or exact name (see /bots)."
        try:
            call(bot, actor=actor)
        except services.BotActionRefused as exc:
            return f"Refused: {exc}"
        return f"{done} for #{bot.pk} {bot.name} ({bot.market.symbol})."

    return handle


def _emergency(client: redis.Redis, sender: Sender, argument: str, actor: str) -> str:
    code = f"{secrets.randbelow(10_000):04d}"
    client.set(f"{CONFIRM_KEY}:{sender.telegram_user_id}", code, ex=CONFIRM_SECONDS)
    active = Bot.objects.exclude(desired_state=DesiredState.STOPPED).count()  # every kind
    return (
        f"This stops all {active} active bots and cancels every order on every account "
        f"(positions are kept). Send /confirm {code} within {CONFIRM_SECONDS} s."
    )


def _confirm(client: redis.Redis, sender: Sender, argument: str, actor: str) -> str:
    expected = client.getdel(f"{CONFIRM_KEY}:{sender.telegram_user_id}")
    if expected is None or argument != expected.decode():
        return "Nothing to confirm, or a wrong code: send /emergency again."
    report = services.emergency_stop_all(actor=actor)
    verified = "verified" if report.verified else "NOT verified: check the dashboard"
    return f"Emergency stop: {len(report.bots_stopped)} bots stopped; order cancels {verified}."


HANDLERS: dict[str, Callable[[redis.Redis, Sender, str, str], str]] = {
    "/status": _status,
    "/bots": _bots,
    "/pnl": _pnl,
    "/pause": _lifecycle(services.bot_pause, "Pause requested"),
    "/stop": _lifecycle(services.bot_stop, "Stop requested"),
    "/emergency": _emergency,
    "/confirm": _confirm,
}
