"""Writes: bot lifecycle and configuration, and the operator's exchange-wide controls.

Admin actions, API operations, dashboard views and tasks call these; nothing else changes a bot's
desired state. Lifecycle is cooperative (design decision 4): a command sets the desired state and
the bot's runner acts on it within a second (it polls the row every loop tick). When no runner is
alive for the bot (its lease is free), a task on the default queue cancels its orders instead, so
a stop is never left to a process that no longer exists. The exchange-wide controls (emergency
stop, cancel-all, flatten) act on the exchange right away and verify by reading back.

Account actions live in `bots.accounts` and are re-exported here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from bots import ownership, selectors
from bots.accounts import (
    ConnectionReport,
    account_lookup_index,
    account_refresh,
    account_test_connection,
    accounts_refresh_active,
    markets_sync,
)
from bots.dashboard import broadcast
from bots.engine import controls, hedge_recording, key_handoff
from bots.engine.commands import SETTINGS, command_publish
from bots.engine.controls import CancelReport, CloseReport, EmergencyReport, ExchangeActionFailed
from bots.engine.leases import lease_holder
from bots.engine.recording import event_create
from bots.models import (
    Bot,
    BotEvent,
    BotStatus,
    DesiredState,
    EventLevel,
    ExchangeAccount,
    GridBot,
    HedgeBot,
    KeyMode,
    Market,
)
from bots.provisioning import PaperResetRefused, paper_reset
from bots.strategies.ownership import Choice
from exchange.redis_clients import redis_client

__all__ = [
    "BotActionRefused",
    "CancelReport",
    "CloseReport",
    "ConnectionReport",
    "EmergencyReport",
    "ExchangeActionFailed",
    "PaperResetRefused",
    "account_key_lock",
    "account_key_unlocked",
    "account_lookup_index",
    "account_refresh",
    "account_settings_saved",
    "account_test_connection",
    "accounts_refresh_active",
    "bot_cancel_all",
    "bot_config_saved",
    "bot_create",
    "bot_delete",
    "bot_emergency_stop",
    "bot_pause",
    "bot_start",
    "bot_stop",
    "bot_update",
    "cancel_all",
    "emergency_stop_all",
    "event_record",
    "hedge_bot_create",
    "hedge_bot_stop_close",
    "hedge_bot_update",
    "markets_sync",
    "paper_reset",
]

logger = logging.getLogger(__name__)

# The lifecycle works on any kind of bot and hands back the same kind.
BotT = TypeVar("BotT", bound=Bot)


class BotActionRefused(Exception):
    """A lifecycle command that cannot apply to this bot now (message is operator-facing)."""


# -- events -------------------------------------------------------------------------------------


def event_record(
    bot: Bot,
    kind: str,
    message: str,
    *,
    level: str = EventLevel.INFO,
    data: dict[str, Any] | None = None,
) -> BotEvent:
    """Append a BotEvent for `bot` (and its account), mirror it to the log and push it live."""
    return event_create(bot, kind, message, data, level)


# -- runner liveness and the tasks that act when it is gone -------------------------------------


def _runner_alive(bot_id: int) -> bool:
    client = redis_client(settings.REDIS_URL)
    try:
        return lease_holder(client, bot_id) is not None
    finally:
        client.close()


def _run_enqueue(bot_id: int) -> None:
    from bots.tasks import run_bot_task

    run_bot_task.delay(bot_id)


def _cancel_unless_runner_alive(bot_id: int, reason: str) -> None:
    # After commit: the runner (or the cancel task) must read the new desired state.
    if _runner_alive(bot_id):
        return
    from bots.tasks import bot_orders_cancel_task

    bot_orders_cancel_task.delay(bot_id, reason)


# -- key modes (security, issue 13) --------------------------------------------------------------


def account_key_unlocked(account: ExchangeAccount) -> int:
    """The web process just unlocked the account (or was given its don't-remember key): hand
    the key, sealed, to the bots workers (`bots.engine.key_handoff`); their bots waiting in
    `locked` start by themselves. How many live workers it was sealed for now."""
    if account.key_mode == KeyMode.REMEMBER:
        return 0
    return key_handoff.publish(account.pk)


def account_key_lock(account: ExchangeAccount) -> list[int]:
    """Lock the account's key again everywhere: this process and every bots worker forget it,
    its running bots cancel their orders and wait in `locked`. The ids of the bots told."""
    key_handoff.revoke(account.pk)
    # Every bot trading on the account: grids, and hedge bots on either leg.
    on_account = Q(account=account) | Q(hedgebot__taker_account=account)
    active = list(
        Bot.objects.filter(on_account)
        .exclude(desired_state=DesiredState.STOPPED)
        .values_list("pk", flat=True)
    )
    for bot_id in active:
        command_publish(bot_id, "key_locked")  # the runner checks the key at once
    return active


# -- bot lifecycle ------------------------------------------------------------------------------


def _set_desired_state(
    bot: BotT,
    desired: DesiredState,
    *,
    kind: str,
    actor: str,
    data: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> BotT:
    now = timezone.now()
    changes: dict[str, Any] = {"desired_state": desired, "updated_at": now, **(extra or {})}
    if desired == DesiredState.RUNNING:
        changes["started_at"] = now
    elif desired == DesiredState.STOPPED:
        changes["stopped_at"] = now
    if desired != DesiredState.STOPPED:
        # The database's constraint covers the first leg of every kind; a hedge bot's taker
        # leg is in another table, so every leg is checked here.
        conflicts = selectors.bot_leg_conflicts(bot)
        if conflicts:
            field, message = next(iter(conflicts.items()))
            raise BotActionRefused(f"{bot}: {field}: {message}")
    try:
        with transaction.atomic():
            # The kind's own manager: a grid's start also writes its ownership answer.
            type(bot).objects.filter(pk=bot.pk).update(**changes)
            bot.refresh_from_db()
            broadcast.bot_changed(bot)
            event_record(bot, kind, f"{kind.replace('_', ' ')} requested by {actor}", data=data)
            # The live runner applies it as soon as this commits (bots.engine.commands).
            bot_id = bot.pk
            transaction.on_commit(lambda: command_publish(bot_id, kind))
    except IntegrityError as exc:
        raise BotActionRefused(
            f"{bot}: another grid is already active on {bot.account.name} / {bot.market.symbol}"
        ) from exc
    return bot


def bot_start(bot: BotT, *, actor: str, unattributed: str | None = None) -> BotT:
    """Run the bot (from stopped, paused or error); its runner starts after the commit.

    A grid's fresh start where a position on the bot's account and market is not its own
    (unattributed, or held by a stopped bot) needs the operator's `unattributed` choice, "adopt"
    or "leave" (README "How positions are owned"): without it the start is refused with a field
    error naming the size, never decided silently. A hedge bot takes both legs' positions from
    the exchange as they are (docs/hedge.md).
    """
    if bot.desired_state == DesiredState.RUNNING and bot.status != BotStatus.ERROR:
        raise BotActionRefused(f"{bot} is already running")
    if bot.desired_state == DesiredState.STOPPED and selectors.bot_not_stopped(bot):
        # Its runner is still cancelling: a start now would find the lease held and leave the
        # bot stopped, meant to run, until the supervisor counted it as a crash.
        raise BotActionRefused(f"{bot} is still stopping: start it once it has stopped")
    try:
        bot.full_clean(validate_constraints=False)
    except ValidationError as exc:
        raise BotActionRefused(f"{bot}: fix its configuration first ({exc.messages[0]})") from exc
    extra: dict[str, Any] = {}
    data: dict[str, Any] = {}
    if bot.status in (BotStatus.STOPPED, BotStatus.ERROR):
        # A fresh start forgets earlier crashes: the operator looked at them.
        extra = {"status": BotStatus.STARTING, "status_message": "", "crash_count": 0}
        if isinstance(bot, GridBot):
            choice = _ownership_choice(bot, unattributed)
            extra |= {"unattributed_choice": choice[0], "unattributed_choice_base": choice[1]}
            if choice[0]:
                data = {"unattributed": choice[0], "unattributed_base": ownership.plain(choice[1])}
    with transaction.atomic():
        if extra and isinstance(bot, HedgeBot):
            # An operator's start is a new run of the core; a restart after a crash resumes it.
            HedgeBot.objects.filter(pk=bot.pk).update(strategy_snapshot={})
        bot = _set_desired_state(
            bot, DesiredState.RUNNING, kind="start", actor=actor, data=data, extra=extra
        )
        if data:
            verb = "adopt" if data["unattributed"] == Choice.ADOPT else "leave unattributed"
            event_record(
                bot,
                f"position_{data['unattributed']}",
                f"{actor} chose to {verb} {data['unattributed_base']} {bot.market.symbol} "
                "that was not this bot's",
                data=data,
            )
        # A paused bot's runner is alive and resumes by itself; a second task would exit busy.
        transaction.on_commit(lambda: _run_enqueue(bot.pk))
    return bot


def _ownership_choice(bot: GridBot, unattributed: str | None) -> tuple[str, Decimal]:
    """The operator's adopt/leave answer for a fresh start, with the size it answers, or ("", 0)
    when nothing here is another's; refused with a field error when the answer is missing."""
    question = ownership.start_question(bot)
    if question.size_base == 0:
        return "", Decimal(0)
    asked = question.describe(bot.market.symbol)
    if unattributed not in {c.value for c in Choice}:
        given = "is missing" if unattributed is None else f"{unattributed!r} is not a choice"
        message = f"{asked}: choose 'adopt' or 'leave' (unattributed {given})"
        raise BotActionRefused(f"{bot}: {message}") from ValidationError({"unattributed": message})
    return str(unattributed), question.size_base


def bot_pause(bot: BotT, *, actor: str) -> BotT:
    """Keep resting orders, place no new ones (the runner keeps watching fills). A kind that
    does not pause (`Bot.NO_PAUSE`: a hedge bot, which must go on hedging every fill of A) is
    refused with its reason."""
    if not bot.pausable():
        raise BotActionRefused(f"{bot} is a {bot.kind} bot, which does not pause: {bot.NO_PAUSE}.")
    if bot.desired_state != DesiredState.RUNNING:
        raise BotActionRefused(f"{bot} is not running")
    return _set_desired_state(bot, DesiredState.PAUSED, kind="pause", actor=actor, data={})


def bot_stop(bot: BotT, *, actor: str) -> BotT:
    """Stop the bot: its orders are cancelled (verified) and its position is kept."""
    if bot.desired_state == DesiredState.STOPPED and bot.status in (
        BotStatus.STOPPED,
        BotStatus.ERROR,
    ):
        raise BotActionRefused(f"{bot} is already stopped")
    with transaction.atomic():
        bot = _set_desired_state(
            bot, DesiredState.STOPPED, kind="stop", actor=actor, data={"cancel_orders": True}
        )
        transaction.on_commit(lambda: _cancel_unless_runner_alive(bot.pk, f"stop by {actor}"))
    return bot


def hedge_bot_stop_close(bot: HedgeBot, *, actor: str, confirm: bool) -> HedgeBot:
    """Stop the hedge bot and close both legs: A's orders cancelled, then both positions closed
    with verified reduce-only market orders (worst price from the bot's slippage), by its
    runner. A separate, confirmed action (it trades at market); the plain stop keeps both
    positions. With no runner alive (a stopped bot), both legs are closed here, verified."""
    if not confirm:
        raise BotActionRefused("Closing both legs trades at market: confirm it explicitly.")
    data = {"cancel_orders": True, "close_positions": True}
    with transaction.atomic():
        bot = _set_desired_state(
            bot, DesiredState.STOPPED, kind="stop_close", actor=actor, data=data
        )
    if _runner_alive(bot.pk):
        return bot  # the runner cancels A's orders and closes both legs (every step an event)
    for name, account in (("A", bot.account), ("B", bot.taker_account)):
        if not controls.account_can_sign(account):
            raise ExchangeActionFailed(f"leg {name}: set the account's index and key first.")
    # Nothing of A may rest (and fill) while the legs close: one bot per account and market.
    _report_cancel(bot, controls.account_cancel_all(bot.account, bot.market.market_id), actor)
    for name, account in (("A", bot.account), ("B", bot.taker_account)):
        report = controls.account_market_close(account, bot.market.market_id)
        # The closes' fills are the bot's, as when its runner closes the legs.
        hedge_recording.fills_record(bot, bot.lease_fence, account, report.fills, leg=name)
        failed = report.status != "closed"
        event_record(
            bot,
            "close_failed" if failed else "close_leg",
            f"leg {name} by {actor}: {report.status}, closed {report.closed}, "
            f"left {report.remaining} {report.reason}".strip(),
            level=EventLevel.ERROR if failed else EventLevel.INFO,
            data={"leg": name, "status": report.status, "remaining": str(report.remaining)},
        )
    bot.refresh_from_db()
    return bot


def bot_emergency_stop(bot: BotT, *, actor: str) -> BotT:
    """Stop now and cancel every order of the bot's account on its market, verified.

    The outcome of the read-back is recorded as an event (`orders_cancelled` or `cancel_failed`).
    """
    bot = _set_desired_state(
        bot,
        DesiredState.STOPPED,
        kind="emergency_stop",
        actor=actor,
        data={"cancel_orders": True, "cancel_all": True},
        extra={"cancel_all_requested_at": timezone.now()},
    )
    _stood_down([bot.pk])
    report = controls.account_cancel_all(bot.account, bot.market.market_id)
    _report_cancel(bot, report, actor)
    if isinstance(bot, HedgeBot):  # both legs: nothing may rest on the taker account either
        report = controls.account_cancel_all(bot.taker_account, bot.market.market_id)
        _report_cancel(bot, report, actor)
    _cancel_unless_runner_alive(bot.pk, f"emergency stop by {actor}")
    bot.refresh_from_db()
    return bot


def bot_cancel_all(bot: BotT, *, actor: str) -> BotT:
    """Cancel all the bot's resting orders (verified) and leave it paused.

    A running bot is paused in the same write, so it places nothing again until the operator
    resumes it with Start (it used to place its grid again 20 ms after the cancels).
    """
    with transaction.atomic():
        changes: dict[str, Any] = {
            "cancel_all_requested_at": timezone.now(),
            "updated_at": timezone.now(),
        }
        if bot.desired_state == DesiredState.RUNNING:
            changes["desired_state"] = DesiredState.PAUSED
        Bot.objects.filter(pk=bot.pk).update(**changes)
        bot.refresh_from_db()
        broadcast.bot_changed(bot)
        paused = " (the bot is paused: Start resumes it)" if "desired_state" in changes else ""
        event_record(bot, "cancel_all", f"cancel all requested by {actor}{paused}")
        bot_id = bot.pk
        transaction.on_commit(lambda: command_publish(bot_id, "cancel_all"))
        transaction.on_commit(lambda: _cancel_unless_runner_alive(bot.pk, f"cancel all by {actor}"))
    return bot


# -- exchange-wide controls ---------------------------------------------------------------------

# How long an account-wide cancel waits for the live runners in its scope to stop planning.
STAND_DOWN_TIMEOUT_S = 3.0
_STANDING_DOWN = threading.Event()  # never set: a wait that nothing interrupts


def _stood_down(bot_ids: list[int], *, until_cancelled: bool = False) -> bool:
    """Wait (bounded) until the live runners of `bot_ids` took their pause or stop (and, with
    `until_cancelled`, finished cancelling their own orders), so an account-wide cancel does not
    race a runner that would place its grid again; False when one did not answer in time (the
    cancel goes ahead, and the runner's own stop verifies it)."""
    deadline = time.monotonic() + STAND_DOWN_TIMEOUT_S
    while True:
        alive = [bot_id for bot_id in bot_ids if _runner_alive(bot_id)]
        busy = Q(status__in=[BotStatus.RUNNING, BotStatus.DEGRADED, BotStatus.STARTING])
        if until_cancelled:
            busy |= Q(status=BotStatus.STOPPING) | Q(cancel_all_requested_at__isnull=False)
        planning = Bot.objects.filter(busy, pk__in=alive).exists()
        if not planning:
            return True
        if time.monotonic() >= deadline:
            logger.warning("bots %s still planning after %ss; cancelling anyway", alive,
                           STAND_DOWN_TIMEOUT_S)  # fmt: skip
            return False
        _STANDING_DOWN.wait(0.05)


def _report_cancel(bot: Bot, report: CancelReport, actor: str) -> None:
    if report.verified:
        message = f"{report.cancelled} orders cancelled on the exchange (verified), by {actor}"
        event_record(bot, "orders_cancelled", message, data={"cancelled": report.cancelled})
        return
    problem = report.error or f"{len(report.remaining)} orders still open"
    event_record(
        bot,
        "cancel_failed",
        f"cancel by {actor} not verified: {problem}",
        level=EventLevel.ERROR,
        data={"remaining": list(report.remaining), "error": report.error},
    )


def emergency_stop_all(*, actor: str) -> EmergencyReport:
    """Every bot stops and every order on every account is cancelled, verified by read-back.

    Positions are kept: closing one is the separate, confirmed `positions.position_close`.
    """
    started = time.monotonic()
    report = EmergencyReport()
    # Every kind of bot: grids and hedge bots (a hedge bot left running places A's order again).
    active = Bot.objects.exclude(desired_state=DesiredState.STOPPED).select_related(
        "account", "market"
    )
    for bot in active:
        _set_desired_state(
            bot,
            DesiredState.STOPPED,
            kind="emergency_stop",
            actor=actor,
            data={"cancel_orders": True, "cancel_all": True, "scope": "everything"},
        )
        report.bots_stopped.append(bot.pk)
    _stood_down(report.bots_stopped)
    # Every account at once, each bounded: an unreachable one is reported on its own.
    signing = [a for a in ExchangeAccount.objects.all() if controls.account_can_sign(a)]
    report.cancels.extend(controls.accounts_cancel_all(signing, None, since=started))
    logger.warning(
        "emergency stop by %s: %d bots stopped, cancels verified: %s",
        actor,
        len(report.bots_stopped),
        report.verified,
    )
    for bot_id in report.bots_stopped:
        _cancel_unless_runner_alive(bot_id, f"emergency stop by {actor}")
    return report


def cancel_all(
    account: ExchangeAccount | None, market: Market | None, *, actor: str
) -> list[CancelReport]:
    """Cancel every open order of one account or all, in one market or all, verified.

    Running grids in that scope are paused and cancel their own orders first (verified, so they
    neither report them missing nor place them again), hedge bots on an account in scope (either
    leg) are stopped (they do not pause); the account-wide cancel then takes whatever is left.
    The bots keep their positions and carry on with Start.
    """
    accounts = [account] if account is not None else list(ExchangeAccount.objects.all())
    bots = GridBot.objects.filter(desired_state=DesiredState.RUNNING, account__in=accounts)
    # A hedge bot trading on an account in scope (either leg) is stopped: running, it would place
    # A's order again after the cancel, and it does not pause (it must go on hedging A's fills).
    # Its positions are kept.
    hedges = HedgeBot.objects.filter(
        Q(account__in=accounts) | Q(taker_account__in=accounts),
        # Paused: marked so before a hedge bot's pause was refused; its runner ran on.
        desired_state__in=[DesiredState.RUNNING, DesiredState.PAUSED],
    )
    if market is not None:
        bots = bots.filter(market=market)
        hedges = hedges.filter(market=market)
    scoped = [
        bot_cancel_all(bot, actor=actor).pk for bot in bots.select_related("account", "market")
    ]
    scoped += [bot_stop(hedge, actor=actor).pk for hedge in hedges]
    _stood_down(scoped, until_cancelled=True)
    targets = [
        target
        for target in accounts
        if (market is None or market.network == target.network)
        and controls.account_can_sign(target)
    ]
    # Every account at once, each bounded: an unreachable one is reported on its own.
    market_id = None if market is None else market.market_id
    reports = controls.accounts_cancel_all(targets, market_id)
    logger.warning("cancel-all by %s (%s / %s): %s", actor, account, market, reports)
    return reports


# -- configuration ------------------------------------------------------------------------------


def _validated_save(bot: Bot) -> None:
    try:
        bot.full_clean()
    except ValidationError as exc:
        raise BotActionRefused("; ".join(exc.messages)) from exc
    try:
        bot.save()
    except IntegrityError as exc:
        raise BotActionRefused(str(exc)) from exc


def bot_create(*, actor: str, **fields: Any) -> GridBot:
    """Create a stopped grid bot, validated like the admin form (`full_clean`)."""
    bot = GridBot(**fields)
    with transaction.atomic():
        _validated_save(bot)
        event_record(bot, "created", f"created by {actor}")
        broadcast.bot_changed(bot)
    return bot


def bot_change_refusal(
    bot: Bot, fields: Iterable[str], labels: dict[str, str] | None = None
) -> str | None:
    """Why changing `fields` of `bot` is refused now, or None: while it is not stopped only its
    name and what its runner applies live (its kind's `LIVE_SETTINGS`: a grid's stop-loss and
    take-profit, a hedge bot's stop-loss) change; the runner holds a grid or a config built
    from the rest. The fields are named by their code names (the API's), or by `labels` (the
    admin's)."""
    grid = isinstance(bot, GridBot)
    held = set(fields) - {"name", *bot.LIVE_SETTINGS}
    if bot.desired_state != DesiredState.STOPPED and held:
        what = "its grid" if grid else "its configuration"
        names = sorted(held) if labels is None else [labels.get(n, n) for n in sorted(held)]
        return f"Stop {bot} before changing {what} ({', '.join(names)})."
    return None


def bot_update(bot: GridBot, *, actor: str, **changes: Any) -> GridBot:
    """Change a bot's configuration; the grid's shape changes only while it is stopped."""
    engine_owned = {f.name for f in GridBot._meta.concrete_fields if not f.editable}
    if unknown := set(changes) & (
        engine_owned | {"id", "account", "market", "account_id", "market_id"}
    ):
        raise BotActionRefused(f"Not editable: {', '.join(sorted(unknown))}.")
    if (refusal := bot_change_refusal(bot, changes)) is not None:
        raise BotActionRefused(refusal)
    for name, value in changes.items():
        setattr(bot, name, value)
    with transaction.atomic():
        _validated_save(bot)
        bot_config_saved(bot, changes, actor=actor)
    return bot


def account_settings_saved(account: ExchangeAccount) -> None:
    """After a change of what the runners on `account` apply while they run (its dead-man's
    switch), in the transaction that saved it: each bot not stopped is told at the commit."""
    bot_ids = [b.pk for b in selectors.account_bots(account) if selectors.bot_not_stopped(b)]

    def publish() -> None:
        for bot_id in bot_ids:
            command_publish(bot_id, SETTINGS)

    transaction.on_commit(publish)


def bot_config_saved(bot: Bot, changes: dict[str, Any], *, actor: str) -> None:
    """After a change of `bot`'s configuration, in the transaction that saved it (the API's
    `bot_update`, the admin's form): the event, the pages told, and a runner told at the commit
    to apply what it applies while it runs (a grid's stop-loss and take-profit: on the next
    decision, a price already past the new stop-loss stops the bot; a hedge bot's stop-loss:
    from its next step, a pair already past it stops and closes both legs)."""
    event_record(bot, "config_changed", f"changed by {actor}", data=_jsonable(changes))
    broadcast.bot_changed(bot)
    if bot.desired_state != DesiredState.STOPPED:
        bot_id = bot.pk
        transaction.on_commit(lambda: command_publish(bot_id, SETTINGS))


def hedge_bot_create(*, actor: str, **fields: Any) -> HedgeBot:
    """Create a stopped hedge bot, validated like the admin form (`full_clean`)."""
    bot = HedgeBot(**fields)
    with transaction.atomic():
        _validated_save(bot)
        event_record(bot, "created", f"created by {actor}")
    return bot


def hedge_bot_update(bot: HedgeBot, *, actor: str, **changes: Any) -> HedgeBot:
    """Change a hedge bot's configuration; only its name and stop-loss while it runs (the runner
    applies the stop-loss at once and holds a config built from the rest)."""
    fixed = {f.name for f in HedgeBot._meta.concrete_fields if not f.editable}
    fixed |= {"id", "account", "taker_account", "market"}
    if unknown := {name.removesuffix("_id") for name in changes} & fixed:
        raise BotActionRefused(f"Not editable: {', '.join(sorted(unknown))}.")
    if (refusal := bot_change_refusal(bot, changes)) is not None:
        raise BotActionRefused(refusal)
    for name, value in changes.items():
        setattr(bot, name, value)
    with transaction.atomic():
        _validated_save(bot)
        bot_config_saved(bot, changes, actor=actor)
    return bot


def _jsonable(changes: dict[str, Any]) -> dict[str, Any]:
    return {name: None if value is None else str(value) for name, value in changes.items()}


def bot_delete_refusal(bot: Bot) -> str | None:
    """Why `bot` may not be deleted now, or None: only a stopped bot goes (a running one's
    runner would lose its records and leave its orders on the exchange)."""
    if selectors.bot_not_stopped(bot):
        return f"Stop {bot} before deleting it."
    return None


def bot_delete(bot: Bot, *, actor: str) -> None:
    """Delete a stopped bot; its orders and fills stay, unlinked, for the account's history.
    Checked on the row as it is when deleted (locked), not as the caller read it."""
    with transaction.atomic():
        current = type(bot).objects.select_for_update().filter(pk=bot.pk).first()
        if current is None:
            return  # deleted meanwhile
        refusal = bot_delete_refusal(current)
        if refusal is not None:
            raise BotActionRefused(refusal)
        logger.info("bot %s %s deleted by %s", bot.pk, bot.name, actor)
        current.delete()
