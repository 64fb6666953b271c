"""Positions, PnL, fees, margin requirements and funding (pure functions over ExchangeState).

Accounting conventions (explicit because PnL bugs hide in signs):
* `Position.entry_quote` is the absolute USDC cost of the open size; unrealized PnL is
  `sign * (size * mark - entry_quote)`.
* Realized PnL is credited to `collateral` when a position is reduced, so an account's "cash"
  `collateral + allocated_margin - sign * entry_quote` changes by exactly the traded notional:
  the buyer's cash falls by it, the seller's rises by it, so cash is conserved between the two.
* Fees are positive amounts PAID by the account: debited from collateral, credited to the
  exchange treasury. A negative rate would be a rebate (not configured by default).
* Funding: a positive rate means longs pay shorts. Payers round up and receivers round down to
  the USDC grid; the sub-micro-dollar residue goes to the treasury so totals stay conserved.
* Margin fractions are in 1/10_000 (500 = 5 % = 20x).
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from exchange.simulator.state import ExchangeState
from exchange.simulator.types import (
    Account,
    FundingRecord,
    MarketSpec,
    Position,
    PositionFunding,
)
from exchange.units import USDC_DECIMALS, quantize_down, quantize_up

TEN_THOUSAND = Decimal(10_000)
MILLION = Decimal(1_000_000)
ZERO = Decimal(0)


class FillEffect(NamedTuple):
    """What one fill did to one side's position."""

    size_before: int
    entry_quote_before: Decimal
    imf_before: int
    sign_changed: bool
    realized_pnl: Decimal


def fee_for(quote: Decimal, fee_ppm: int) -> Decimal:
    """Fee of a fill: `quote * ppm / 1e6`, rounded up to the USDC grid (the exchange's favour)."""
    if fee_ppm == 0:
        return ZERO
    return quantize_up(quote * fee_ppm / MILLION, USDC_DECIMALS)


def charge_fee(state: ExchangeState, account: Account, pos: Position, fee: Decimal) -> None:
    """Debit a fee from the account's collateral into the treasury."""
    if fee:
        account.collateral -= fee
        pos.total_fees_paid += fee
        state.treasury += fee


def apply_fill(
    state: ExchangeState,
    account: Account,
    spec: MarketSpec,
    *,
    is_buy: bool,
    lots: int,
    ticks: int,
    quote: Decimal,
) -> FillEffect:
    """Update the account's position for a fill of `lots` at `ticks` (notional `quote`)."""
    pos = account.positions.get(spec.market_id) or state.position(account, spec.market_id)
    size_before = pos.sign * pos.size
    entry_before = pos.entry_quote
    side = 1 if is_buy else -1
    realized = ZERO
    if pos.sign in (0, side):
        _increase(account, pos, side, lots, quote)
    else:
        closed = min(lots, pos.size)
        closed_quote = quote if closed == lots else spec.units.quote(closed, ticks)
        if closed == pos.size:
            entry_removed = pos.entry_quote
            released = pos.allocated_margin
        else:
            entry_removed = quantize_down(pos.entry_quote * closed / pos.size, USDC_DECIMALS)
            released = quantize_down(pos.allocated_margin * closed / pos.size, USDC_DECIMALS)
        realized = closed_quote - entry_removed if pos.sign > 0 else entry_removed - closed_quote
        pos.entry_quote -= entry_removed
        pos.size -= closed
        pos.realized_pnl += realized
        account.collateral += realized + released
        pos.allocated_margin -= released
        if pos.size == 0:
            pos.sign = 0
            pos.entry_quote = ZERO
        if lots > closed:
            _increase(account, pos, side, lots - closed, quote - closed_quote)
    changed = size_before != 0 and pos.sign != 0 and (size_before > 0) != (pos.sign > 0)
    return FillEffect(size_before, entry_before, pos.initial_margin_fraction, changed, realized)


def _increase(account: Account, pos: Position, side: int, lots: int, quote: Decimal) -> None:
    pos.sign = side
    pos.size += lots
    pos.entry_quote += quote
    if pos.margin_mode == 1:
        # Isolated positions lock their initial margin out of the cross collateral as they grow.
        locked = quantize_up(quote * pos.initial_margin_fraction / TEN_THOUSAND, USDC_DECIMALS)
        account.collateral -= locked
        pos.allocated_margin += locked


def position_value(spec: MarketSpec, pos: Position, mark: int) -> Decimal:
    """Absolute notional of the position at `mark` ticks."""
    return spec.units.quote(pos.size, mark)


def unrealized_pnl(spec: MarketSpec, pos: Position, mark: int) -> Decimal:
    """sign * (value at mark - entry cost)."""
    if pos.size == 0:
        return ZERO
    return pos.sign * (spec.units.quote(pos.size, mark) - pos.entry_quote)


def cross_equity(state: ExchangeState, account: Account) -> Decimal:
    """Collateral plus unrealized PnL of cross positions."""
    total = account.collateral
    for market_id, pos in account.positions.items():
        if pos.size and pos.margin_mode == 0:
            total += unrealized_pnl(state.markets[market_id], pos, state.reference[market_id])
    return total


def total_asset_value(state: ExchangeState, account: Account) -> Decimal:
    """Collateral + isolated allocations + all unrealized PnL."""
    total = account.collateral
    for market_id, pos in account.positions.items():
        total += pos.allocated_margin
        if pos.size:
            total += unrealized_pnl(state.markets[market_id], pos, state.reference[market_id])
    return total


def position_requirements(state: ExchangeState, account: Account) -> tuple[Decimal, Decimal]:
    """(initial, maintenance) margin of cross positions at mark."""
    initial = maintenance = ZERO
    for market_id, pos in account.positions.items():
        if pos.size and pos.margin_mode == 0:
            spec = state.markets[market_id]
            value = position_value(spec, pos, state.reference[market_id])
            initial += value * pos.initial_margin_fraction / TEN_THOUSAND
            maintenance += value * spec.maintenance_mf / TEN_THOUSAND
    return initial, maintenance


def _open_order_lots(state: ExchangeState, account: Account) -> dict[int, list[int]]:
    lots: dict[int, list[int]] = {}
    for market_id, book in state.books.items():
        buys = book.bids.owner_lots.get(account.index, 0)
        sells = book.asks.owner_lots.get(account.index, 0)
        if buys or sells:
            lots[market_id] = [buys, sells]
    return lots


def order_margin(
    state: ExchangeState, account: Account, extra: tuple[int, bool, int] | None = None
) -> Decimal:
    """Initial margin reserved by open orders, plus an optional new (market, is_ask, lots).

    Worst case per market: the position if every buy fills, or if every sell fills; only the
    part beyond the current position needs margin, so orders that reduce the position are free.
    """
    lots = _open_order_lots(state, account)
    if extra is not None:
        pair = lots.setdefault(extra[0], [0, 0])
        pair[1 if extra[1] else 0] += extra[2]
    total = ZERO
    for market_id, (buys, sells) in lots.items():
        spec = state.markets[market_id]
        pos = account.positions.get(market_id)
        signed = pos.signed_size if pos else 0
        imf = (
            pos.initial_margin_fraction
            if pos
            else account.leverage.get(market_id, spec.default_imf)
        )
        extra_lots = max(abs(signed + buys), abs(signed - sells)) - abs(signed)
        if extra_lots > 0:
            value = spec.units.quote(extra_lots, state.reference[market_id])
            total += value * imf / TEN_THOUSAND
    return total


def available_balance(state: ExchangeState, account: Account) -> Decimal:
    """Cross equity minus initial margin of cross positions and open orders."""
    initial, _ = position_requirements(state, account)
    return cross_equity(state, account) - initial - order_margin(state, account)


def can_afford_order(
    state: ExchangeState, account: Account, market_id: int, *, is_ask: bool, lots: int
) -> bool:
    """Would the account still meet initial margin with this extra order resting?"""
    if account.is_system:
        return True
    initial, _ = position_requirements(state, account)
    needed = initial + order_margin(state, account, (market_id, is_ask, lots))
    return cross_equity(state, account) >= needed


def below_maintenance(state: ExchangeState, account: Account) -> bool:
    """True when cross equity is under the maintenance requirement."""
    _, maintenance = position_requirements(state, account)
    return maintenance > 0 and cross_equity(state, account) < maintenance


def below_initial(state: ExchangeState, account: Account) -> bool:
    """True when cross equity is under the initial requirement of positions and orders."""
    initial, _ = position_requirements(state, account)
    return cross_equity(state, account) < initial + order_margin(state, account)


def liquidation_price(state: ExchangeState, account: Account, market_id: int) -> Decimal:
    """Estimated mark price at which the account hits maintenance margin (0 if none).

    Solves equity(P) = maintenance(P) with every other position held at its current mark.
    """
    pos = account.positions.get(market_id)
    if pos is None or pos.size == 0:
        return ZERO
    spec = state.markets[market_id]
    mark = state.reference[market_id]
    size = spec.units.size(pos.size)
    mmf = Decimal(spec.maintenance_mf) / TEN_THOUSAND
    if pos.margin_mode == 1:
        equity = pos.allocated_margin + unrealized_pnl(spec, pos, mark)
        other_maint = ZERO
    else:
        equity = cross_equity(state, account)
        _, maint = position_requirements(state, account)
        other_maint = maint - position_value(spec, pos, mark) * mmf
    denominator = size * (pos.sign - mmf)
    price = (other_maint - equity + pos.sign * size * spec.units.price(mark)) / denominator
    return max(ZERO, price)


def premium(state: ExchangeState, market_id: int) -> Decimal | None:
    """(book mid - index) / index now, or None when one side of the book is empty."""
    index = state.reference[market_id]
    mid = state.books[market_id].mid_price()
    if mid is None or index == 0:
        return None
    return Decimal(mid - index) / Decimal(index)


def funding_rate(state: ExchangeState, market_id: int, clamp: Decimal) -> Decimal:
    """Hourly rate: the mean of this hour's once-a-minute premium samples (the current premium
    before the first sample), clamped to +-clamp. A simplification of Lighter's formula, whose
    interest component and impact prices are not modelled."""
    samples = state.premium_samples.get(market_id)
    if samples:
        value = sum(samples, ZERO) / len(samples)
    else:
        value = premium(state, market_id) or ZERO
    return quantize_down(max(-clamp, min(clamp, value)), 8)


def apply_funding(
    state: ExchangeState, market_id: int, rate: Decimal, funding_id: int
) -> FundingRecord:
    """Pay funding between all positions of a market at the current mark price."""
    spec = state.markets[market_id]
    mark = state.reference[market_id]
    timestamp_s = state.now_ms // 1000
    net = ZERO
    for account in state.accounts.values():
        pos = account.positions.get(market_id)
        if pos is None or pos.size == 0 or rate == 0:
            continue
        exact = position_value(spec, pos, mark) * rate * pos.sign
        # exact > 0: this account pays; round payments up and receipts down.
        paid = quantize_up(exact, USDC_DECIMALS) if exact > 0 else quantize_down(exact, 6)
        if pos.margin_mode == 1:
            pos.allocated_margin -= paid  # isolated positions settle funding in their margin
        else:
            account.collateral -= paid
        pos.total_funding_paid_out += paid
        net += paid
        state.history.position_fundings[account.index].append(
            PositionFunding(
                account.index,
                market_id,
                funding_id,
                timestamp_s,
                -paid,
                rate,
                pos.size,
                "long" if pos.sign > 0 else "short",
            )
        )
        state.emit_balance(account)
        state.emit_position(account, market_id)
    state.treasury += net
    record = FundingRecord(
        market_id,
        timestamp_s,
        abs(rate),
        quantize_down(abs(rate) * spec.units.price(mark), 8),
        "long" if rate >= 0 else "short",
    )
    state.history.fundings[market_id].append(record)
    return record
