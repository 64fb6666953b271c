"""The runner's side of ownership (design.md "Ownership"; README "How positions are owned").

At startup, after recovery recorded the fills missed while the runner was down, the position
on the bot's (account, market) that is not its own is settled against the operator's choice at
start (`settle`): an *adopt* hands it to the bot (`PositionTransfer` rows at the mark price: the
stopped bots that held parts of it hand them over, the unattributed rest is adopted), a *leave*
keeps it where it is. A position that is not the bot's and that the operator was not asked
about, or that changed since the operator answered, stops the bot: it must be started again
with a choice. Every reconcile then checks that the unattributed remainder did not move
(`bots.strategies.ownership.RemainderWatch`).

The exchange's positions the runner reads are stored on the account too, so the start
question, the dashboard and the API see the same figures as the runner.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from bots import ownership as owners
from bots.engine.recording import event_create, lock_fenced
from bots.engine.reports import VenueChanged
from bots.models import Bot, ExchangeAccount, Fill, GridBot, PositionTransfer
from bots.strategies import accounting, ownership
from exchange.types import PositionInfo

_ZERO = Decimal(0)


class OwnershipUnsettled(VenueChanged):
    """A position on the bot's market is not its own and the operator's choice does not cover
    it: the bot stops placing until it is started again with `adopt` or `leave`."""


@dataclass(frozen=True)
class Settled:
    """The transfers booked for the bot at startup (adopt) and what is not its own after."""

    transfers: list[accounting.Transfer]
    not_yours: Decimal


def other_positions(bot: Bot) -> list[Decimal]:
    """What the other owners on the bot's account and market hold (from the database): other
    bots' fills and adoptions, and those of deleted bots (unlinked rows) too, so deleting a
    stopped bot does not look like the remainder moving under a running one."""
    fills = Fill.objects.filter(account_id=bot.account_id, market_id=bot.market_id).exclude(
        bot_id=bot.pk
    )
    transfers = PositionTransfer.objects.filter(
        account_id=bot.account_id, market_id=bot.market_id
    ).exclude(bot_id=bot.pk)
    signed = (
        size if side == "buy" else -size for side, size in fills.values_list("side", "size_base")
    )
    return [sum(signed, _ZERO) + sum(transfers.values_list("size_base", flat=True), _ZERO)]


def settle(bot: Bot, fence: int, exchange_base: Decimal, price: Decimal) -> Settled:
    """Carry out the operator's choice at start against the exchange's position now (fenced;
    raises `OwnershipUnsettled` when the choice does not cover what is there)."""
    with transaction.atomic():
        lock_fenced(bot.pk, fence)
        row = GridBot.objects.get(pk=bot.pk)
        choice, asked = row.unattributed_choice, row.unattributed_choice_base or _ZERO
        positions = owners.bot_positions(bot.account_id, bot.market_id)
        own = positions.pop(bot.pk, _ZERO)
        others = Bot.objects.filter(pk__in=list(positions))
        stopped = dict(others.filter(desired_state="stopped").values_list("pk", "name"))
        live = [p for pk, p in positions.items() if pk not in stopped]
        not_yours = ownership.not_yours(exchange_base, own, live)
        symbol = bot.market.symbol
        if choice != ownership.Choice.ADOPT:
            expected = asked if choice == ownership.Choice.LEAVE else _ZERO
            if not_yours != expected:
                said = f"you chose to leave {asked}" if choice else "nobody was asked about it"
                raise OwnershipUnsettled(
                    f"a position of {not_yours} {symbol} on this account is not this bot's "
                    f"({said}): start it again choosing adopt or leave"
                )
            return Settled([], not_yours)
        if not_yours != asked:
            raise OwnershipUnsettled(
                f"you chose to adopt {asked} {symbol}, but {not_yours} {symbol} is not this "
                "bot's now: start it again choosing adopt or leave"
            )
        transfers = []
        if not_yours != 0:
            held = {pk: positions[pk] for pk in stopped if positions.get(pk)}
            for pk, size in held.items():
                _transfer(bot, pk, -size, price, f"handed to {bot.name}")
                event_create(
                    Bot.objects.select_related("market").get(pk=pk),
                    "position_handed_over",
                    f"{-size} {symbol} handed to {bot.name} at {price} (operator's adopt)",
                    {"to_bot": bot.pk, "size_base": str(-size), "price": str(price)},
                )
            names = ", ".join(stopped[pk] for pk in held) or "nobody"
            row_in = _transfer(bot, bot.pk, not_yours, price, f"adopted from {names}")
            transfers.append(accounting.Transfer(row_in.pk, not_yours, price))
            event_create(
                bot,
                "position_adopted",
                f"adopted {not_yours} {symbol} at {price} (held by {names}; the rest unattributed)",
                {"size_base": str(not_yours), "price": str(price), "from_bots": list(held)},
            )
        GridBot.objects.filter(pk=bot.pk).update(
            unattributed_choice="", unattributed_choice_base=_ZERO
        )
    return Settled(transfers, _ZERO)


def _transfer(bot: Bot, to_bot: int, size: Decimal, price: Decimal, note: str) -> PositionTransfer:
    return PositionTransfer.objects.create(
        account_id=bot.account_id,
        market_id=bot.market_id,
        bot_id=to_bot,
        size_base=size,
        price=price,
        note=note[:200],
    )


def positions_store(account_id: int, positions: list[PositionInfo]) -> None:
    """Store the positions the runner just read as the account's last exchange check of them,
    keeping the balances of the last full check."""
    with transaction.atomic():
        account = ExchangeAccount.objects.select_for_update().get(pk=account_id)
        summary = dict(account.last_check_summary or {})
        # The same keys as the periodic refresh (bots.accounts), so the pages read one shape.
        summary["positions"] = [
            {
                "symbol": p.symbol,
                "side": str(p.side),
                "size": str(p.size),
                "avg_entry_price": str(p.avg_entry_price),
                "unrealized_pnl": str(p.unrealized_pnl),
            }
            for p in positions
            if p.size
        ]
        # Balances and their time stay those of the last full check (bots.accounts); the
        # positions say when they were read (`bots.ownership.positions_read_at`).
        summary[owners.POSITIONS_AT] = timezone.now().isoformat()
        ExchangeAccount.objects.filter(pk=account_id).update(last_check_summary=summary)
