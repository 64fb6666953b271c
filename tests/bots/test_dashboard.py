"""Dashboard read models: the grid ladder, the overview rows, the bot snapshot."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bots.dashboard import snapshots
from bots.models import Fill, GridBot, Order
from tests.lighterweb.factories import make_account, make_bot, make_market

pytestmark = pytest.mark.django_db


@pytest.fixture
def bot() -> GridBot:
    bot = make_bot(make_account(), make_market(), levels_per_side=2, max_open_orders=4)
    return _anchored(bot, anchor="4000", centre=0)


def _anchored(bot: GridBot, *, anchor: str, centre: int) -> GridBot:
    GridBot.objects.filter(pk=bot.pk).update(anchor_price=Decimal(anchor), centre_index=centre)
    bot.refresh_from_db()
    return bot


_indexes = iter(range(1, 10_000))


def _order(bot: GridBot, level: int, status: str, **fields: object) -> Order:
    values: dict[str, object] = {
        "side": "buy" if level < 0 else "sell",
        "price": Decimal("4000") + 10 * level,
        "size_base": Decimal("0.01"),
        "status": status,
    }
    values |= fields
    return Order.objects.create(
        bot=bot,
        account=bot.account,
        market=bot.market,
        client_order_index=next(_indexes),
        level_index=level,
        **values,
    )


def _states(bot: GridBot) -> dict[int, tuple[str, str]]:
    rows = snapshots.ladder(bot, Decimal(0))
    return {row["level_index"]: (row["state"], row["reason"]) for row in rows}


def test_ladder_is_empty_until_the_runner_anchors_the_lattice():
    bot = make_bot(make_account(), make_market())

    assert snapshots.ladder(bot, Decimal(0)) == []


def test_ladder_lists_the_window_top_price_first_with_an_empty_centre(bot):
    rows = snapshots.ladder(bot, Decimal(0))

    assert [row["level_index"] for row in rows] == [2, 1, 0, -1, -2]
    assert [row["price"] for row in rows] == ["4020", "4010", "4000", "3990", "3980"]
    assert [row["side"] for row in rows] == ["sell", "sell", "centre", "buy", "buy"]


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("open", "resting"),
        ("partially_filled", "filling"),
        ("pending", "sending"),
        ("intent", "sending"),
    ],
)
def test_live_order_sets_its_levels_state(bot, status, state):
    _order(bot, -1, status)

    assert _states(bot)[-1] == (state, "")


def test_missing_level_shows_why_its_last_order_ended(bot):
    _order(bot, 1, "rejected", reason="post-only order would cross")
    _order(bot, -2, "canceled", reason="")

    states = _states(bot)

    assert states[1] == ("missing", "post-only order would cross")
    assert states[-2] == ("missing", "canceled")
    assert states[2] == ("missing", "")


def test_filled_order_leaves_its_level_missing_without_a_reason(bot):
    _order(bot, -1, "filled")

    assert _states(bot)[-1] == ("missing", "")


def test_missing_level_beyond_the_position_cap_says_so_on_the_bot_page(bot):
    # Long 0.24 ETH: a buy at 3990 takes the position to 0.25 (997.5 of the 1000 cap), the next
    # at 3980 would pass it; sells shrink the position and stay wanted.
    GridBot.objects.filter(pk=bot.pk).update(max_position_notional=Decimal("1000"))
    _order(bot, -1, "filled")
    Fill.objects.create(
        bot=bot,
        account=bot.account,
        market=bot.market,
        trade_id=7,
        side="buy",
        price=Decimal("3990"),
        size_base=Decimal("0.24"),
        is_maker=True,
        executed_at=datetime(2026, 1, 1, tzinfo=UTC),
    )

    rows = snapshots.bot_snapshot(bot.pk)["ladder"]

    states = {row["level_index"]: (row["state"], row["reason"]) for row in rows}
    assert states[-2] == ("missing", "position cap")
    assert states[-1] == ("missing", "")  # wanted: the grid places it again
    assert states[1] == states[2] == ("missing", "")
    assert snapshots.bot_refresh(bot.pk)["ladder"] == rows


def test_missing_level_past_max_open_orders_says_so_before_an_old_cancel(bot):
    GridBot.objects.filter(pk=bot.pk).update(max_open_orders=2)
    bot.refresh_from_db()
    _order(bot, 2, "canceled", reason="")

    states = _states(bot)

    assert states[2] == states[-2] == ("missing", "max open orders")
    assert states[1] == states[-1] == ("missing", "")


def test_geometric_ladder_uses_the_grid_cores_rounding():
    bot = make_bot(
        make_account(),
        make_market(),
        spacing_mode="geometric",
        step=Decimal("1"),  # percent per level
        levels_per_side=1,
        max_open_orders=2,
    )
    bot = _anchored(bot, anchor="4000", centre=0)

    prices = {row["level_index"]: row["price"] for row in snapshots.ladder(bot, Decimal(0))}

    assert prices == {1: "4040", 0: "4000", -1: "3960.39"}  # buy 4000/1.01 rounds down


def test_overview_counts_only_live_orders_and_carries_pnl(bot):
    _order(bot, -1, "open")
    _order(bot, 1, "canceled")

    row = next(r for r in snapshots.overview_snapshot()["bots"] if r["id"] == bot.pk)

    assert row["open_orders"] == 1
    assert row["pnl"]["fill_count"] == 0
    assert row["symbol"] == "ETH"


def test_overview_account_row_says_if_a_key_is_stored_but_never_shows_it(bot):
    key = "0x" + "cd" * 40
    bot.account.set_api_private_key(key)
    bot.account.save()

    snapshot = snapshots.overview_snapshot()

    assert snapshot["accounts"][0]["account"]["has_api_key"] is True
    assert snapshot["accounts"][0]["dead_mans_switch_enabled"] is False  # paper: off by default
    assert "cd" * 40 not in repr(snapshot)
    assert bot.account.api_private_key_encrypted not in repr(snapshot)


def test_bot_summary_follows_order_and_fill_rows(bot):
    order = _order(bot, -1, "open")
    Fill.objects.create(
        bot=bot,
        account=bot.account,
        market=bot.market,
        order=order,
        trade_id=5,
        side="buy",
        price=Decimal("3990"),
        size_base=Decimal("0.01"),
        is_maker=True,
        executed_at=datetime(2026, 1, 1, tzinfo=UTC),
    )

    summary = snapshots.bot_summary(bot.pk)

    assert summary is not None
    assert summary["open_orders"] == 1
    assert summary["pnl"]["position_base"] == "0.01"


def test_bot_snapshot_newest_fills_and_events_first_and_only_live_orders(bot):
    _order(bot, -1, "open")
    _order(bot, -2, "canceled")

    snapshot = snapshots.bot_snapshot(bot.pk)

    assert [order["level_index"] for order in snapshot["orders"]] == [-1]
    assert snapshot["bot"]["open_orders"] == 1
    assert set(snapshot) == {"bot", "ladder", "pnl", "orders", "fills", "events"}


def test_bot_snapshot_of_an_unknown_bot_raises():
    with pytest.raises(GridBot.DoesNotExist):
        snapshots.bot_snapshot(999_999)
