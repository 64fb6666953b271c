"""Decision diff of real sessions: a runner session against the simulator, recorded by the
runner's session log, replayed through the core with `manage.py bot_replay`."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.core.management import CommandError, call_command

from bots import services
from bots.backtest import replay
from bots.models import GridBot, SessionChunk
from tests.bots.runner_support import (
    account_on,
    finish,
    full_eth_grid,
    grid_bot,
    quiet,
    set_desired,
    sim_open_orders,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _real_redis(settings, redis_url):
    settings.REDIS_URL = redis_url


def _replay_text(*args: str) -> str:
    out = io.StringIO()
    call_command("bot_replay", *args, stdout=out)
    return out.getvalue()


def _entries(bot: GridBot) -> list[list]:
    return [
        json.loads(line)
        for chunk in SessionChunk.objects.filter(bot=bot).order_by("id")
        for line in chunk.entries.splitlines()
    ]


@pytest.fixture
async def traded_session(simulator, funded_account):
    """A real runner session: a full grid, the price up through a sell and back down through
    buys (fills, replenishes, centre moves), then a stop."""
    _account, bot, runner, task = await full_eth_grid(simulator, funded_account, levels=5)
    index = funded_account.index
    for price in ("3011.00", "2989.00"):
        simulator.sim("POST", "/sim/price", {"market_id": 0, "price": price})
        simulator.advance(1000)
        position_before = runner.position

        async def filled_and_replenished(before=position_before) -> bool:
            return (
                runner.position != before
                and quiet(runner, simulator)
                and len(sim_open_orders(simulator, index, 0)) == 10
            )

        await wait_until(filled_and_replenished, what=f"fills at {price} and the replenish")
    await sync_to_async(set_desired)(bot, "stopped")
    assert await finish(task) == "stopped"
    return bot


async def test_a_real_session_replays_with_zero_differences_and_a_changed_step_differs(
    traded_session,
):
    bot = traded_session
    entries = await sync_to_async(_entries)(bot)
    kinds = [e[0] for e in entries]
    assert kinds[0] == "open" and "start" in kinds
    fills = [e for e in entries if e[0] == "fill"]
    assert {"buy", "sell"} <= {e[2] for e in fills}, "fills on both sides were recorded"
    placed_after_fill = [
        e for i, e in enumerate(entries) if e[0] == "decide" and "fill" in kinds[:i] and e[6]
    ]
    assert placed_after_fill, "the replenishes after fills are recorded decisions"

    text = await sync_to_async(_replay_text)(str(bot.pk))
    decisions = kinds.count("decide")
    assert text.splitlines()[-1] == (
        f"0 differences in {len(entries) - 1} events ({decisions} decisions compared)"
    )
    assert "first difference" not in text

    changed = await sync_to_async(_replay_text)(str(bot.pk), "--step", "6")
    lines = changed.splitlines()
    assert "first difference: event" in changed
    # The first decision is the initial grid: the live core placed 5 a side 5 apart, the
    # replay 6 apart: the expected and got intents are shown with the state and market.
    expected = next(line for line in lines if line.startswith("  expected (live):"))
    got = next(line for line in lines if line.startswith("  got (replay):"))
    assert expected != got
    assert "place buy L-1" in expected and "place buy L-1" in got
    assert any(line.startswith("  core state before it: anchor ") for line in lines)
    assert any(line.startswith("    ") and "start at mid" in line for line in lines)
    assert lines[-1].endswith(f"({decisions} decisions compared, with step=6)")
    assert not lines[-1].startswith("0 differences")


async def test_a_window_starts_from_a_chunk_state_and_compares_only_its_decisions(
    traded_session,
):
    bot = traded_session

    def window() -> tuple[replay.ReplayReport, int]:
        chunks = list(SessionChunk.objects.filter(bot=bot).order_by("id"))
        # From the chunk of the first fill on: the core starts from that chunk's stored state.
        start = next(c for c in chunks if '"fill"' in c.entries)
        in_window = [
            e for c in chunks if c.id >= start.id for e in map(json.loads, c.entries.splitlines())
        ]
        report = replay.replay(bot, start.first_ms, None)
        return report, len([e for e in in_window if e[1] >= start.first_ms])

    report, events = await sync_to_async(window)()
    assert report.first is None and report.differences == 0
    assert report.events == events and report.decisions > 0


async def test_the_first_difference_names_the_fill_that_led_to_it(traded_session):
    """A position cap that holds the initial grid (5 levels of 0.01 ETH a side, about 150 USDC)
    but bites once a fill grows the position is reported at the decision after that fill, with
    the fill among its inputs."""
    bot = traded_session
    report = await sync_to_async(replay.replay)(bot, overrides={"max_position_notional": "152"})
    first = report.first
    assert first is not None
    assert first.decision > 1, "the initial grid is within the cap"
    assert any(e[0] in ("fill", "traded") for e in first.inputs)
    assert first.expected != first.got


async def test_a_stop_loss_set_while_it_ran_replays_where_it_was_set(simulator, funded_account):
    """The trader set a stop-loss on the running grid; the price then crossed it and the bot
    stopped. The replay applies the setting where the session noted it (`set`), so its stop
    decision is the live one, whether the replay starts before the change or after it."""
    _account, bot, runner, task = await full_eth_grid(simulator, funded_account, levels=5)
    row = await sync_to_async(GridBot.objects.get)(pk=bot.pk)
    await sync_to_async(services.bot_update)(row, actor="test", stop_loss_price=Decimal("2980"))

    async def applied() -> bool:
        return runner.strategy.config.stop_loss_price == Decimal("2980")

    await wait_until(applied, what="the stop-loss in the runner")
    # A fill above the stop: its record writes the log so far (the `set` among it); the stop
    # decision is then in a later chunk, and a replay from there must find the setting.
    simulator.sim("POST", "/sim/price", {"market_id": 0, "price": "2991.00"})
    simulator.advance(1000)

    async def set_stored() -> bool:
        return await sync_to_async(
            SessionChunk.objects.filter(bot=bot, entries__contains='["set",').exists
        )()

    await wait_until(set_stored, what="the log with the setting written")
    simulator.sim("POST", "/sim/price", {"market_id": 0, "price": "2975.00"})
    simulator.advance(1000)
    assert await finish(task) == "stopped"

    entries = await sync_to_async(_entries)(bot)
    sets = [e for e in entries if e[0] == "set"]
    assert [{k: Decimal(v) for k, v in e[2].items()} for e in sets] == [
        {"stop_loss_price": Decimal("2980")}
    ]
    halts = [e for e in entries if e[0] == "decide" and any(i[0] == "H" for i in e[6])]
    assert halts, "the stop decision is in the log"
    whole = await sync_to_async(replay.replay)(bot)
    assert whole.first is None and whole.differences == 0 and whole.decisions > 0
    after = await sync_to_async(replay.replay)(bot, halts[0][1], None)
    assert after.first is None and after.differences == 0 and after.decisions > 0


async def test_a_stop_loss_the_mark_fired_replays_with_the_mark(simulator, funded_account):
    """The book froze above the stop-loss (its deltas stopped) while the mark fell through
    it: the live decision halted on the mark. Its log entry carries the mark, so the replay
    halts there too (judging the logged mid alone, it would not)."""
    _account, bot, _runner, task = await full_eth_grid(
        simulator, funded_account, levels=5, stop_loss_price=Decimal("2980")
    )
    simulator.faults({"kind": "stale_book", "target": "order_book:0"})
    simulator.sim("POST", "/sim/price", {"market_id": 0, "price": "2975.00"})
    simulator.advance(1000)
    assert await finish(task) == "stopped"

    entries = await sync_to_async(_entries)(bot)
    (halt,) = [e for e in entries if e[0] == "decide" and any(i[0] == "H" for i in e[6])]
    assert Decimal(halt[4]) > Decimal("2980") >= Decimal(halt[8]), "mid above, mark below"
    whole = await sync_to_async(replay.replay)(bot)
    assert whole.first is None and whole.differences == 0 and whole.decisions > 0


@pytest.mark.django_db
def test_bad_arguments_are_command_errors_naming_the_argument(funded_account, simulator):
    account = account_on(simulator, funded_account)
    bot = grid_bot(account, "ETH", levels=5)
    cases = [
        (("999999",), "BOT:"),
        (("no-such-bot",), "BOT:"),
        ((str(bot.pk), "--from", "yesterday"), "--from:"),
        ((str(bot.pk), "--to", "2026-13-01"), "--to:"),
        ((str(bot.pk), "--from", "2026-12-06T02:00", "--to", "2026-12-06T01:00"), "--from:"),
        ((str(bot.pk), "--step", "abc"), "--step:"),
        ((str(bot.pk), "--step", "-5"), "--step:"),
        ((str(bot.pk), "--override", "levels_per_side=0"), "--override:"),
        ((str(bot.pk), "--override", "nonsense"), "--override:"),
        ((str(bot.pk), "--override", "colour=red"), "--override:"),
        ((str(bot.pk), "--override", "levels_per_side=many"), "--override:"),
    ]
    for args, named in cases:
        with pytest.raises(CommandError) as caught:
            _replay_text(*args)
        assert str(caught.value).startswith(named), (args, str(caught.value))
    assert "no session log in this range" in _replay_text(str(bot.pk))
