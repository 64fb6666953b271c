"""Returns of the pure core (bots.strategies.returns): worked numbers and properties."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bots.strategies.accounting import Fill, FundingPayment, summarize
from bots.strategies.returns import (
    Capital,
    account_returns,
    bot_returns,
    capital_in_use,
    days_of,
    initial_margin_fraction,
    max_drawdown,
)

D = Decimal
PROPERTY = settings(deadline=None, max_examples=200)


def worked_summary() -> tuple:
    """A buy at 2990 (level -1), its sell at 3000 (level 0), and another buy at 2990: one round
    trip of 1.00 USDC, 0.1 ETH long from 2990, fees 3 x 0.01, funding -0.17, mark 3000."""
    fills = [
        Fill(1, "buy", D("2990"), D("0.1"), D("0.01"), True, -1),
        Fill(2, "sell", D("3000"), D("0.1"), D("0.01"), True, 0),
        Fill(3, "buy", D("2990"), D("0.1"), D("0.01"), True, -1),
    ]
    return summarize(fills, [FundingPayment(1, D("-0.17"))], D("3000"))


def test_initial_margin_fraction_is_one_over_leverage_never_below_the_markets_minimum() -> None:
    assert initial_margin_fraction(D("5"), D("25")) == D("0.2")
    assert initial_margin_fraction(D("50"), D("25")) == D("0.04")  # the market's minimum binds
    assert initial_margin_fraction(D("4"), None) == D("0.25")
    with pytest.raises(ValueError, match="leverage"):
        initial_margin_fraction(D("0.5"))


def test_capital_in_use_is_the_margin_of_resting_orders_and_the_position() -> None:
    # A buy 0.1 at 2990 and a sell 0.1 at 3010 rest (600 notional), 0.1 long at mark 3000 (300),
    # at leverage 5: 20 % of each.
    capital = capital_in_use(
        [(D("2990"), D("0.1")), (D("3010"), D("0.1"))], D("0.1"), D("3000"), D("0.2")
    )
    assert capital == Capital(orders=D("120"), position=D("60"))
    assert capital.total == D("180")
    # A short position ties up margin as a long one does.
    assert capital_in_use([], D("-0.1"), D("3000"), D("0.2")).total == D("60")


def test_bot_returns_worked_example() -> None:
    summary = worked_summary()
    assert summary.total == D("1.80")  # 1 realized + 1 unrealized - 0.03 fees - 0.17 funding
    days = days_of(timedelta(days=10) // timedelta(microseconds=1))
    assert days == 10
    r = bot_returns(summary, Capital(D("120"), D("60")), days, [D("0"), D("2.5"), D("0.5"), D("2")])
    assert r.capital == D("180")
    assert r.roi == D("0.01")  # 1.80 / 180
    assert r.apr == D("0.365")  # 1 % in 10 days, simple annualisation x 365 / 10
    assert r.round_trips == 1
    assert r.round_trip_avg_profit == D("1")
    assert r.round_trip_profit_per_day == D("0.1")
    assert (r.fees, r.funding, r.grid_profit) == (D("0.03"), D("-0.17"), D("1"))
    assert r.max_drawdown == D("2")  # from the 2.5 peak down to 0.5


def test_without_capital_or_time_the_ratios_are_unknown_not_zero() -> None:
    summary = worked_summary()
    r = bot_returns(summary, Capital(D("0"), D("0")), D("0"))
    assert (r.roi, r.apr, r.round_trip_profit_per_day) == (None, None, None)
    assert r.max_drawdown == 0  # the current total alone
    # Under a day the extrapolations are unknown: 1 % in 12 hours is no 730 % APR yet.
    young = bot_returns(summary, Capital(D("120"), D("60")), D("0.5"))
    assert young.roi == D("0.01")
    assert (young.apr, young.round_trip_profit_per_day) == (None, None)
    assert days_of(-5) == 0
    assert days_of(43_200_000_000) == D("0.5")


def test_account_returns_are_ratios_of_sums() -> None:
    days = days_of(timedelta(days=20) // timedelta(microseconds=1))
    first = bot_returns(worked_summary(), Capital(D("120"), D("60")), D("10"))
    flat = summarize([Fill(9, "buy", D("100"), D("1"), D("0.3"), False, None)], [], D("100"))
    second = bot_returns(flat, Capital(D("100"), D("20")), D("20"))
    account = account_returns([first, second], days, [D("0"), D("1.9"), D("1.2")])
    assert account.capital == D("300")
    assert account.total == D("1.50")  # 1.80 - 0.30
    assert account.roi == D("0.005")
    assert account.apr == D("0.09125")  # 0.5 % x 365 / 20
    assert account.round_trips == 1
    assert account.fees == D("0.33")
    assert account.max_drawdown == D("0.7")  # 1.9 -> 1.2 (the current 1.50 is above 1.2)
    assert account_returns([], D("0")).capital == 0


amounts = st.decimals("-1000", "1000", places=6)


@PROPERTY
@given(st.lists(amounts, max_size=50))
def test_max_drawdown_is_never_negative_and_is_the_largest_fall(values: list[Decimal]) -> None:
    drawdown = max_drawdown(values)
    assert drawdown >= 0
    brute = max(
        (values[i] - values[j] for i in range(len(values)) for j in range(i, len(values))),
        default=D(0),
    )
    assert drawdown == brute
    assert max_drawdown(sorted(values)) == 0  # a series that never falls


resting = st.lists(
    st.tuples(st.decimals("0.01", "100000", places=2), st.decimals("0", "10", places=4)),
    max_size=20,
)


@PROPERTY
@given(
    resting,
    st.decimals("-10", "10", places=4),
    st.decimals("0.01", "100000", places=2),
    st.decimals("1", "50", places=2),
    st.lists(amounts, max_size=10),
    st.decimals("0", "400", places=3),
    st.integers(0, 10_000),
)
def test_roi_and_apr_have_the_sign_of_the_pnl(
    orders: list[tuple[Decimal, Decimal]],
    position: Decimal,
    mark: Decimal,
    leverage: Decimal,
    history: list[Decimal],
    days: Decimal,
    trade_id: int,
) -> None:
    side = "buy" if position > 0 else "sell"
    fills = [Fill(trade_id, side, mark, abs(position), D("0.01"), True, None)] if position else []
    summary = summarize(fills, [FundingPayment(1, history[0] if history else D(0))], mark)
    capital = capital_in_use(orders, summary.position_base, mark, initial_margin_fraction(leverage))
    r = bot_returns(summary, capital, days, history)
    assert r.capital >= 0 and r.max_drawdown >= 0
    if r.capital == 0:
        assert r.roi is None
    else:
        assert r.roi is not None
        assert (r.roi > 0) == (r.total > 0) and (r.roi < 0) == (r.total < 0)
        if days >= 1:
            assert r.apr is not None and (r.apr > 0) == (r.total > 0)
