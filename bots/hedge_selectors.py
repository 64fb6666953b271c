"""Reads for the hedge bot's page: both legs side by side and the pair's net exposure.

Positions are those of each account's last exchange check (`ExchangeAccount.last_check_summary`,
written by "Test connection" and the periodic refresh), so the page shows the pair's net even
when no runner is alive; beside them each leg's *own* position, the bot's recorded fills on that
account (exact and current the moment a fill is recorded, `bots.ownership.bot_position`). The
state machine's state comes from the runner's last snapshot. `hedge_live` is the same view as
the page's live feed sends it (`bots.dashboard.consumers.HedgeConsumer`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from bots import figures, ownership
from bots.models import BotEvent, BotStatus, ExchangeAccount, HedgeBot
from bots.strategies.grid import tick_from_decimals


@dataclass(frozen=True)
class LegView:
    """One leg of the pair as the page shows it."""

    role: str
    account: ExchangeAccount
    position_base: Decimal | None
    avg_entry_price: Decimal | None
    leverage: Decimal
    margin_mode: str
    checked_at: datetime | None
    # The bot's own position on this leg's account: its recorded fills there.
    own_base: Decimal = Decimal(0)
    # On the market's decimals, with units (the page shows these, never raw Decimals).
    position_text: str = figures.NONE
    entry_text: str = figures.NONE
    own_text: str = figures.NONE


@dataclass(frozen=True)
class HedgeView:
    """A hedge bot's page: both legs, the net and whether it is within tolerance, the state."""

    bot: HedgeBot
    legs: tuple[LegView, LegView]
    net_base: Decimal | None
    tolerance_base: Decimal
    within_tolerance: bool | None
    state: str | None
    state_seconds: int | None
    events: QuerySet[BotEvent]
    net_text: str = figures.NONE
    tolerance_text: str = figures.NONE
    # The pair's net of the bot's own positions (its fills on both legs), always current.
    own_net_text: str = figures.NONE
    # The pair's stop-loss as it is saved (its runner applies a change at once).
    stop_loss_text: str = "none"


def leg_position(account: ExchangeAccount, symbol: str) -> tuple[Decimal | None, Decimal | None]:
    """The account's signed position (positive long) and entry in `symbol` at its last check;
    (None, None) when the account was never checked, (0, None) when it holds none."""
    summary: dict[str, Any] = account.last_check_summary or {}
    if not summary:
        return None, None
    for item in summary.get("positions") or []:
        if not isinstance(item, dict) or str(item.get("symbol")) != symbol:
            continue
        try:
            size = abs(Decimal(str(item.get("size", "0"))))
            entry = item.get("avg_entry_price")
            entry_price = Decimal(str(entry)) if entry not in (None, "") else None
        except ArithmeticError:
            return None, None
        return (-size if str(item.get("side")) == "short" else size), entry_price
    return Decimal(0), None


def tolerance_of(bot: HedgeBot) -> Decimal:
    """The imbalance tolerance the bot runs with (an empty field: min size - one lot)."""
    if bot.imbalance_tolerance_base is not None:
        return Decimal(bot.imbalance_tolerance_base)
    lot = tick_from_decimals(bot.market.size_decimals)
    return max(Decimal(0), Decimal(bot.market.min_base_amount) - lot)


def hedge_view(bot: HedgeBot, *, events: int = 50) -> HedgeView:
    """Everything the hedge bot's page shows (see the module docstring)."""
    symbol = bot.market.symbol
    legs = []
    for role, account, leverage, mode in (
        ("A (maker)", bot.account, bot.leverage_a, bot.margin_mode_a),
        ("B (taker)", bot.taker_account, bot.leverage_b, bot.margin_mode_b),
    ):
        position, entry = leg_position(account, symbol)
        own = ownership.bot_position(bot.pk, account.pk)
        read_at = ownership.positions_read_at(account)
        legs.append(
            LegView(
                role, account, position, entry, leverage, mode, read_at,
                own_base=own,
                position_text=figures.size(position, bot.market, unit=True),
                entry_text=figures.price(entry, bot.market, unit=True),
                own_text=figures.size(own, bot.market, unit=True),
            )
        )  # fmt: skip
    a, b = legs[0].position_base, legs[1].position_base
    net = None if a is None or b is None else a + b
    tolerance = tolerance_of(bot)
    # A stopped bot's snapshot is where its last run left off (kept for a restart after a
    # crash): not a state it is in. Its page says "-" rather than "opening for 3 h".
    stopped = bot.status == BotStatus.STOPPED
    snapshot: dict[str, Any] = {} if stopped else bot.strategy_snapshot or {}
    entered_ms = snapshot.get("entered_ms")
    seconds = None
    if isinstance(entered_ms, int):
        seconds = max(0, int(timezone.now().timestamp()) - entered_ms // 1000)
    return HedgeView(
        bot=bot,
        legs=(legs[0], legs[1]),
        net_base=net,
        tolerance_base=tolerance,
        within_tolerance=None if net is None else abs(net) <= tolerance,
        state=snapshot.get("state"),
        state_seconds=seconds,
        events=BotEvent.objects.filter(bot=bot).order_by("-created_at", "-id")[:events],
        net_text=figures.size(net, bot.market, unit=True),
        tolerance_text=figures.size(tolerance, bot.market, unit=True),
        own_net_text=figures.size(legs[0].own_base + legs[1].own_base, bot.market, unit=True),
        stop_loss_text=stop_loss_text(bot),
    )


def stop_loss_text(bot: HedgeBot) -> str:
    """The pair's stop-loss as its page says it: the loss that stops it, and what then."""
    if bot.stop_loss_quote is None:
        return "none"
    loss = figures.plain(Decimal(bot.stop_loss_quote))
    return f"a loss of {loss} {figures.QUOTE_UNIT} on the pair (then both legs closed)"


def net_class(view: HedgeView) -> str:
    """The net exposure's look: ok within the tolerance, bad beyond, unknown unchecked."""
    if view.within_tolerance is None:
        return "lw-net-unknown"
    return "lw-net-ok" if view.within_tolerance else "lw-net-bad"


def hedge_live(bot: HedgeBot) -> dict[str, Any]:
    """What the page's live feed sends: the figures of `hedge_view` as the page shows them
    (texts on the market's decimals, times as ISO strings)."""
    view = hedge_view(bot)
    return {
        "status": bot.status,
        "desired_state": bot.desired_state,
        "status_message": bot.status_message,
        "state": view.state,
        "state_seconds": view.state_seconds,
        "net_text": view.net_text if view.net_base is not None else None,
        "net_class": net_class(view),
        "tolerance_text": view.tolerance_text,
        "own_net_text": view.own_net_text,
        "stop_loss_text": view.stop_loss_text,
        "legs": [
            {
                "position_text": leg.position_text if leg.position_base is not None else None,
                "own_text": leg.own_text,
                "entry_text": leg.entry_text if leg.avg_entry_price is not None else None,
                "checked_at": leg.checked_at.isoformat() if leg.checked_at else None,
            }
            for leg in view.legs
        ],
        "events": [
            {
                "created_at": event.created_at.isoformat(),
                "level": event.level,
                "kind": event.kind,
                "message": event.message,
            }
            for event in view.events
        ],
    }
