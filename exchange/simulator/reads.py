"""Read side of the engine: accounts, books, orders, trades, candles, stats, margin figures.

`EngineReads` is the query half of `Engine`; it only reads `self.state`.
"""

from __future__ import annotations

from decimal import Decimal

from exchange.simulator import margin
from exchange.simulator.constants import CLIENT_INDEX_LIMIT
from exchange.simulator.history import RESOLUTION_MS
from exchange.simulator.signing import SignatureCheck
from exchange.simulator.state import ExchangeState
from exchange.simulator.types import (
    Account,
    ApiKey,
    Candle,
    FundingRecord,
    MarketSpec,
    MarketStats,
    Order,
    PositionFunding,
    SimError,
    Trade,
)


class EngineReads:
    """Queries over the exchange state. Returned objects are live: treat them as read-only."""

    state: ExchangeState
    signatures: SignatureCheck

    # -- markets --------------------------------------------------------------------------

    def markets(self) -> list[MarketSpec]:
        """All markets, by id."""
        return [self.state.markets[m] for m in sorted(self.state.markets)]

    def market(self, market_id: int) -> MarketSpec:
        """One market, or SimError 21602."""
        spec = self.state.markets.get(market_id)
        if spec is None:
            raise SimError(21602, "invalid market index")
        return spec

    def mark_price(self, market_id: int) -> int:
        """Mark price in ticks (the reference price path)."""
        return self.state.reference[self.market(market_id).market_id]

    def index_price(self, market_id: int) -> int:
        """Index price in ticks (same as the mark in the simulator)."""
        return self.mark_price(market_id)

    def last_trade_price(self, market_id: int) -> int:
        """Price of the last trade in ticks (the mark if there was none)."""
        rows = self.state.history.by_market.get(market_id)
        return rows[-1].price if rows else self.mark_price(market_id)

    def market_stats(self, market_id: int) -> MarketStats:
        """Rolling 24 h statistics."""
        spec = self.market(market_id)
        state = self.state
        daily = state.history.daily(market_id, state.now_ms)
        prices = [t.price for t in daily]
        last = self.last_trade_price(market_id)
        first = prices[0] if prices else last
        change = Decimal(0) if first == 0 else Decimal(last - first) * 100 / Decimal(first)
        open_interest = sum(
            (a.positions[market_id].size for a in state.accounts.values()
             if market_id in a.positions and a.positions[market_id].sign > 0),
            0,
        )  # fmt: skip
        return MarketStats(
            market_id=market_id,
            last_trade_price=last,
            mark_price=self.mark_price(market_id),
            index_price=self.index_price(market_id),
            daily_trades_count=len(daily),
            daily_base_volume=spec.units.size(sum(t.size for t in daily)),
            daily_quote_volume=sum((t.usd_amount for t in daily), Decimal(0)),
            daily_price_high=max(prices, default=last),
            daily_price_low=min(prices, default=last),
            daily_price_change_pct=change,
            open_interest=spec.units.size(open_interest),
            current_funding_rate=margin.funding_rate(state, market_id, state.config.funding_clamp),
            funding_timestamp=(state.now_ms // 3_600_000 + 1) * 3_600_000,
        )

    # -- accounts -------------------------------------------------------------------------

    def account(self, index: int) -> Account:
        """An account by index, or SimError 21100."""
        account = self.state.accounts.get(index)
        if account is None or account.is_system:
            raise SimError(21100, "account not found")
        return account

    def accounts_by_l1(self, l1_address: str) -> list[Account]:
        """Accounts of an L1 address, lowest index (the master) first; 21100 if none."""
        found = sorted(
            (a for a in self.state.accounts.values()
             if a.l1_address.lower() == l1_address.lower() and not a.is_system),
            key=lambda a: a.index,
        )  # fmt: skip
        if not found:
            raise SimError(21100, "account not found")
        return found

    def next_nonce(self, account_index: int, api_key_index: int) -> int:
        """The nonce the next tx of (account, key) must carry."""
        return self.account(account_index).nonces.get(api_key_index, 0)

    def api_keys(self, account_index: int, api_key_index: int | None = None) -> list[ApiKey]:
        """Registered keys of the account (all when the index is None or 255)."""
        keys = self.account(account_index).api_keys
        if api_key_index is None or api_key_index == 255:
            return [keys[k] for k in sorted(keys)]
        return [keys[api_key_index]] if api_key_index in keys else []

    def token_signed(self, token: str, account_index: int, api_key_index: int) -> bool:
        """Whether an auth token's signature verifies under the key it names."""
        keys = self.api_keys(account_index, api_key_index)
        return bool(keys) and self.signatures.token_ok(token, keys[0].public_key_hex)

    def collateral(self, account_index: int) -> Decimal:
        """USDC collateral (excluding isolated allocations)."""
        return self.account(account_index).collateral

    def equity(self, account_index: int) -> Decimal:
        """Total asset value: collateral, isolated margin and all unrealized PnL."""
        return margin.total_asset_value(self.state, self.account(account_index))

    def available_balance(self, account_index: int) -> Decimal:
        """Cross equity minus the initial margin of positions and open orders."""
        return margin.available_balance(self.state, self.account(account_index))

    def margin_requirements(self, account_index: int) -> tuple[Decimal, Decimal]:
        """(initial, maintenance) margin of cross positions."""
        return margin.position_requirements(self.state, self.account(account_index))

    def unrealized_pnl(self, account_index: int, market_id: int) -> Decimal:
        """Unrealized PnL of one position at mark."""
        pos = self.account(account_index).positions.get(market_id)
        if pos is None:
            return Decimal(0)
        return margin.unrealized_pnl(self.market(market_id), pos, self.mark_price(market_id))

    def liquidation_price(self, account_index: int, market_id: int) -> Decimal:
        """Estimated liquidation price of one position (0 when flat)."""
        return margin.liquidation_price(self.state, self.account(account_index), market_id)

    # -- books ----------------------------------------------------------------------------

    def book_levels(
        self, market_id: int, depth: int | None = None
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(asks, bids) as [(price ticks, size lots)], best first."""
        book = self.state.books[self.market(market_id).market_id]
        return book.asks.depth(depth), book.bids.depth(depth)

    def book_orders(self, market_id: int, limit: int) -> tuple[list[Order], list[Order]]:
        """(asks, bids) resting orders, best first."""
        book = self.state.books[self.market(market_id).market_id]
        return book.asks.orders(limit), book.bids.orders(limit)

    # -- orders ---------------------------------------------------------------------------

    def active_orders(self, account_index: int, market_id: int | None = None) -> list[Order]:
        """Live (open / pending) orders, oldest first."""
        live = self.state.account_live.get(account_index, {})
        return [o for o in live.values() if market_id is None or o.market_id == market_id]

    def inactive_orders(
        self,
        account_index: int,
        market_id: int | None = None,
        ask_filter: int = -1,
        limit: int = 100,
        cursor: int | None = None,
    ) -> tuple[list[Order], int | None]:
        """Finished orders newest first; `cursor` is the previous page's next_cursor."""
        rows = self.state.inactive.get(account_index, [])
        end = len(rows) if cursor is None else min(cursor, len(rows))
        out: list[Order] = []
        position = end
        while position > 0 and len(out) < limit:
            position -= 1
            order = rows[position]
            if market_id is not None and order.market_id != market_id:
                continue
            if ask_filter in (0, 1) and order.is_ask != bool(ask_filter):
                continue
            out.append(order)
        return out, (position if position > 0 and len(out) == limit else None)

    def orders_by_client_index(self, account_index: int, client_indexes: list[int]) -> list[Order]:
        """Latest order for each client index (live or finished), in request order."""
        table = self.state.last_by_client
        found = (table.get((account_index, c)) for c in client_indexes)
        return [o for o in found if o is not None]

    def order(self, account_index: int, index: int) -> Order | None:
        """An order by exchange index (>= 2**48) or client index."""
        if index >= CLIENT_INDEX_LIMIT:
            order = self.state.all_orders.get(index)
            return (
                order if order is not None and order.owner_account_index == account_index else None
            )
        return self.state.last_by_client.get((account_index, index))

    # -- history --------------------------------------------------------------------------

    def trades(
        self,
        market_id: int | None = None,
        account_index: int | None = None,
        order_index: int | None = None,
        limit: int = 100,
        cursor: int | None = None,
        sort_dir: str = "desc",
    ) -> tuple[list[Trade], int | None]:
        """Trades filtered and paged by trade id (cursor = last trade id of the previous page)."""
        return self.state.history.query_trades(
            market_id=market_id,
            account_index=account_index,
            order_index=order_index,
            limit=limit,
            cursor=cursor,
            descending=sort_dir != "asc",
        )

    def recent_trades(self, market_id: int, limit: int) -> list[Trade]:
        """Newest trades of a market first."""
        return self.state.history.recent_trades(self.market(market_id).market_id, limit)

    def candles(
        self, market_id: int, resolution: str, start_ms: int, end_ms: int, count_back: int
    ) -> list[Candle]:
        """Trade candles (22402 on an unknown resolution, 22400 on a bad range)."""
        if resolution not in RESOLUTION_MS:
            raise SimError(22402, "invalid resolution: resolution unsupported")
        if end_ms <= start_ms:
            raise SimError(
                22400, "invalid timestamps: end_timestamp must be greater than start_timestamp"
            )
        return self.state.history.candles(
            self.market(market_id).market_id, resolution, start_ms, end_ms, count_back
        )

    def fundings(
        self, market_id: int, start_s: int, end_s: int, count_back: int
    ) -> list[FundingRecord]:
        """Hourly funding records of a market."""
        return self.state.history.query_fundings(
            self.market(market_id).market_id, start_s, end_s, count_back
        )

    def position_fundings(
        self,
        account_index: int,
        market_id: int | None = None,
        side: str = "all",
        limit: int = 100,
        cursor: int | None = None,
    ) -> tuple[list[PositionFunding], int | None]:
        """The account's funding payments, newest first."""
        return self.state.history.query_position_fundings(
            account_index, market_id=market_id, side=side, limit=limit, cursor=cursor
        )

    @property
    def treasury(self) -> Decimal:
        """Fees and rounding residue collected by the exchange."""
        return self.state.treasury

    @property
    def now_ms(self) -> int:
        """The latest simulated time the engine has seen."""
        return self.state.now_ms
