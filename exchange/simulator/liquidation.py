"""Liquidation of accounts below maintenance margin (simplified, pure).

When the mark price moves, every cross account whose equity is below its maintenance margin has
its cross positions closed, and every isolated position whose allocated margin plus unrealized
PnL is below its own maintenance margin is closed. Closing means: the account's live orders in
that market end `canceled-liquidation`, then the whole position is transferred to the insurance
fund (a system account) at the mark price as a trade of type "liquidation". Differences from
Lighter: no partial liquidation, no liquidation fee, no auto-deleveraging; a remaining negative
balance stays on the account.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from exchange.simulator.margin import (
    TEN_THOUSAND,
    apply_fill,
    below_maintenance,
    position_value,
    unrealized_pnl,
)
from exchange.simulator.state import ExchangeState
from exchange.simulator.types import Account, Trade, TradeExecuted

logger = logging.getLogger(__name__)

INSURANCE_FUND_INDEX = 281474976710655


def insurance_fund(state: ExchangeState) -> Account:
    """The insurance fund system account (created on first use, with no collateral)."""
    account = state.accounts.get(INSURANCE_FUND_INDEX)
    if account is None:
        account = Account(INSURANCE_FUND_INDEX, "0x" + "0" * 40, Decimal(0), is_system=True)
        state.accounts[INSURANCE_FUND_INDEX] = account
    return account


def liquidate_underwater(state: ExchangeState, market_id: int) -> None:
    """Liquidate what is under maintenance after the mark of `market_id` moved."""
    for account in list(state.accounts.values()):
        pos = account.positions.get(market_id)
        if account.is_system or pos is None or pos.size == 0:
            continue
        if pos.margin_mode == 1:
            if _isolated_under(state, account, market_id):
                liquidate_position(state, account, market_id)
        elif below_maintenance(state, account):
            for other_id, other in list(account.positions.items()):
                if other.size and other.margin_mode == 0:
                    liquidate_position(state, account, other_id)


def _isolated_under(state: ExchangeState, account: Account, market_id: int) -> bool:
    pos = account.positions[market_id]
    spec = state.markets[market_id]
    mark = state.reference[market_id]
    maintenance = position_value(spec, pos, mark) * spec.maintenance_mf / TEN_THOUSAND
    return pos.allocated_margin + unrealized_pnl(spec, pos, mark) < maintenance


def liquidate_position(state: ExchangeState, account: Account, market_id: int) -> Trade:
    """Cancel the account's orders in the market and hand its position to the insurance fund."""
    for order in list(state.account_live.get(account.index, {}).values()):
        if order.market_id == market_id:
            state.finish(order, "canceled-liquidation")
    fund = insurance_fund(state)
    spec = state.markets[market_id]
    pos = account.positions[market_id]
    logger.info(
        "liquidating account %d %s position of %d lots at mark %d",
        account.index, spec.symbol, pos.signed_size, state.reference[market_id],
    )  # fmt: skip
    lots, mark = pos.size, state.reference[market_id]
    quote = spec.units.quote(lots, mark)
    account_sells = pos.sign > 0
    own = apply_fill(state, account, spec, is_buy=not account_sells, lots=lots, ticks=mark,
                     quote=quote)  # fmt: skip
    other = apply_fill(state, fund, spec, is_buy=account_sells, lots=lots, ticks=mark, quote=quote)
    ask_acc, bid_acc = (account, fund) if account_sells else (fund, account)
    ask_eff, bid_eff = (own, other) if account_sells else (other, own)
    trade = Trade(
        trade_id=state.next_trade_id(), tx_hash=state.tx_hash, type="liquidation",
        market_id=market_id, size=lots, price=mark, usd_amount=quote, ask_id=0, bid_id=0,
        ask_client_id=0, bid_client_id=0, ask_account_id=ask_acc.index,
        bid_account_id=bid_acc.index, is_maker_ask=not account_sells,
        block_height=state.block_height, timestamp=state.now_ms, taker_fee_ppm=0,
        maker_fee_ppm=0, taker_fee=Decimal(0), maker_fee=Decimal(0),
        taker_position_size_before=own.size_before,
        taker_entry_quote_before=own.entry_quote_before,
        taker_initial_margin_fraction_before=own.imf_before,
        taker_position_sign_changed=False,
        maker_position_size_before=other.size_before,
        maker_entry_quote_before=other.entry_quote_before,
        maker_initial_margin_fraction_before=other.imf_before,
        maker_position_sign_changed=other.sign_changed,
        transaction_time=state.transaction_time_us(),
        bid_account_pnl=bid_eff.realized_pnl, ask_account_pnl=ask_eff.realized_pnl,
    )  # fmt: skip
    state.history.add_trade(trade)
    state.events.append(TradeExecuted(trade))
    state.emit_position(account, market_id)
    state.emit_balance(account)
    return trade
