"""What each bot control does, when it applies, and what its confirmation says.

One source for the dashboard's bot page and the admin's bot page (static/dashboard/live.js
keeps the same rules for the live page, where the state changes under the buttons):

* Start: from stopped, paused or error (not while it already runs).
* Pause: only while it runs; its resting orders stay and may fill, nothing new is placed.
* Stop: unless already stopped; cancels the bot's own orders (verified) through its runner,
  then stops. The position is kept.
* Emergency stop: always available; stops the bot at once and cancels, from the web process
  without waiting for the runner, every order of the account on the bot's market (the bot's
  and any other), verified. The position is kept.
* Cancel all: when the bot has open orders or runs; cancels its orders (verified) and leaves
  it paused until Start. The position is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from bots.models import BotStatus, DesiredState, GridBot

LABELS = {
    "start": "Start",
    "pause": "Pause",
    "stop": "Stop",
    "emergency-stop": "Emergency stop",
    "cancel-all": "Cancel all",
}


@dataclass(frozen=True)
class BotAction:
    """One control button: its URL slug, label, whether it applies now, and its confirmation."""

    slug: str
    label: str
    enabled: bool
    confirm: str
    danger: bool = False


def action_applies(action: str, *, desired_state: str, status: str, open_orders: int) -> bool:
    """Whether `action` does something for a bot in this state (the services refuse the rest)."""
    running = desired_state == DesiredState.RUNNING
    ended = status in (BotStatus.STOPPED, BotStatus.ERROR)
    if action == "start":  # not while a stop is under way (`services.bot_start`)
        return (not running or status == BotStatus.ERROR) and (
            desired_state != DesiredState.STOPPED or ended
        )
    if action == "pause":
        return running
    if action == "stop":
        return not (desired_state == DesiredState.STOPPED and ended)
    if action == "cancel-all":
        return open_orders > 0 or running
    return action == "emergency-stop"


def action_confirm(action: str, bot: GridBot, *, open_orders: int) -> str:
    """The confirmation text: what the action cancels (with the count) and what the bot does."""
    name = f"{bot.name} ({bot.market.symbol})"
    orders = f"{open_orders} open order{'' if open_orders == 1 else 's'}"
    if action == "start":
        if bot.desired_state == DesiredState.PAUSED:
            return f"Resume {name}? It places its grid again around the current price."
        return (
            f"Start {name}? Its runner reconciles with the exchange, then places up to "
            f"{2 * bot.levels_per_side} orders around the current price."
        )
    if action == "pause":
        return (
            f"Pause {name}? Its {orders} stay on the book and may still fill; it places no new "
            "order until you press Start."
        )
    if action == "stop":
        return (
            f"Stop {name}? Its runner cancels its {orders} (verified against the exchange) and "
            "stops. The position is kept: close it separately."
        )
    if action == "emergency-stop":
        return (
            f"EMERGENCY STOP {name}? Stops the bot now and cancels EVERY order of account "
            f"{bot.account.name} on {bot.market.symbol}: its {orders} and any order it did not "
            "place, without waiting for its runner, verified. The position is kept."
        )
    paused = (
        " The bot is left paused: it places nothing until you press Start."
        if bot.desired_state == DesiredState.RUNNING
        else ""
    )
    return f"Cancel the {orders} of {name} (verified)?{paused} The position is kept."


def bot_actions(bot: GridBot, *, open_orders: int) -> list[BotAction]:
    """Every control of `bot` as its page shows it."""
    return [
        BotAction(
            slug=slug,
            label=label,
            enabled=action_applies(
                slug, desired_state=bot.desired_state, status=bot.status, open_orders=open_orders
            ),
            confirm=action_confirm(slug, bot, open_orders=open_orders),
            danger=slug == "emergency-stop",
        )
        for slug, label in LABELS.items()
    ]
