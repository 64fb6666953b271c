"""A background market maker that keeps a ladder of resting orders around the reference price.

Each requote cancels the agent's previous ladder and places `levels` bids and asks, the first
`first_offset_bps` from the reference price and then `step_bps` apart, each worth `size_quote`
USDC. New quotes are placed as ordinary limit orders, so when the reference price moves through
a user's resting order the agent's quote crosses it and it fills, as it would on a real book.
The agent trades from a system account with effectively unlimited collateral; its orders and
balances emit no account events (its trades are public trades like any other).
"""

from __future__ import annotations

from decimal import Decimal

from exchange.simulator import orders
from exchange.simulator.config import LiquidityConfig
from exchange.simulator.constants import TIF_NAMES
from exchange.simulator.state import ExchangeState
from exchange.simulator.types import Account, Order

BPS = Decimal(10_000)


class LiquidityAgent:
    """Quotes a ladder per market from one system account."""

    def __init__(self, state: ExchangeState, config: LiquidityConfig) -> None:
        self.state = state
        self.config = config
        self.account = Account(
            index=config.account_index,
            l1_address="0x000000000000000000000000000000000000dEaD",
            collateral=config.collateral,
            is_system=True,
        )
        state.accounts[self.account.index] = self.account

    def ladder(self, market_id: int) -> list[tuple[bool, int, int]]:
        """The (is_ask, price ticks, lots) quotes for the current reference price."""
        spec = self.state.markets[market_id]
        units = spec.units
        ref = units.price(self.state.reference[market_id])
        quotes: list[tuple[bool, int, int]] = []
        for level in range(self.config.levels):
            offset = Decimal(self.config.first_offset_bps + level * self.config.step_bps) / BPS
            for is_ask in (False, True):
                raw = ref * (1 + offset) if is_ask else ref * (1 - offset)
                ticks = units.price_ticks(raw, is_ask=is_ask)
                if ticks <= 0:
                    continue
                lots = max(units.size_lots(self.config.size_quote / units.price(ticks)), 1)
                lots = max(lots, spec.min_base_amount)
                quotes.append((is_ask, ticks, lots))
        return quotes

    def requote(self, market_id: int) -> None:
        """Replace the agent's ladder in one market around the current reference price."""
        state = self.state
        live = state.account_live.get(self.account.index, {})
        for order in [o for o in live.values() if o.market_id == market_id]:
            state.finish(order, "canceled")
        # Bids first, nearest level first: a rising price fills users' asks at the best prices.
        for is_ask, ticks, lots in sorted(self.ladder(market_id), key=lambda q: q[0]):
            order = Order(
                order_index=state.next_order_index(),
                client_order_index=0,
                market_id=market_id,
                owner_account_index=self.account.index,
                is_ask=is_ask,
                type="limit",
                time_in_force=TIF_NAMES[1],
                reduce_only=False,
                price=ticks,
                trigger_price=0,
                initial_base_amount=lots,
                remaining_base_amount=lots,
            )
            orders.place(state, order)
