"""Write side of the Lighter client: orders, cancels, batches, leverage, dead-man's switch.

Each operation builds transaction specs (`exchange.orders`) and sends them through
`TxSender.send_specs` (`exchange.sending`: signing under the shared nonces, batches, retries);
orders come back as tickets, tracked in the client's `TicketBook`, that the stream and
`exchange.execution` resolve. Market rules and the live book come from the `MarketData` given.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

from exchange.errors import ExchangeError
from exchange.orders import (
    CancelAllMode,
    CancelAllSpec,
    CancelSpec,
    Grouping,
    GroupSpec,
    LeverageSpec,
    MarginModeCode,
    ModifySpec,
    OrderRequest,
    OrderSpec,
    OrderType,
    SignedTx,
    TimeInForce,
    TriggerRequest,
    TxSpec,
    build_order,
    chunks,
    leverage_fraction,
    one_expiry,
    protection_price,
    units_of,
)
from exchange.sending import TxSender
from exchange.tickets import Ticket, TicketBook
from exchange.types import MarginMode, MarketInfo, OrderBook, OrderSide, SendResult

# The request types live in exchange.orders; callers may import them from here too.
__all__ = ["OrderRequest", "SignedTx", "TradingApi", "TriggerRequest"]

# Lighter's window for a scheduled cancel-all (lighter-api.md §3.5): 5 minutes .. 15 days.
DEAD_MANS_SWITCH_MIN_S = 300
DEAD_MANS_SWITCH_MAX_S = 15 * 24 * 3600


class MarketData(Protocol):
    """What writes need to read: a market's rules, and the book for a market order's bound."""

    async def market(self, market: int | str) -> MarketInfo:
        """One market by id or symbol."""
        ...

    async def order_book(self, market_id: int, depth: int = 100) -> OrderBook:
        """The market's resting orders as price levels."""
        ...


class TradingApi:
    """Signed writes of one account: orders become tickets in `tickets`."""

    def __init__(self, sender: TxSender, markets: MarketData, tickets: TicketBook) -> None:
        self._sender = sender
        self._markets = markets
        self.tickets = tickets

    # --- orders -------------------------------------------------------------------------------

    def _ticket(self, market: MarketInfo, spec: OrderSpec, tx_hash: str) -> Ticket:
        units = units_of(market)
        ticket = Ticket(
            client_order_index=spec.client_order_index,
            market_id=market.market_id,
            side=OrderSide.SELL if spec.is_ask else OrderSide.BUY,
            price=units.price(spec.price),
            size=units.size(spec.base_amount),
            tx_hash=tx_hash,
        )
        self.tickets.track(ticket)
        return ticket

    def _limit_spec(self, market: MarketInfo, request: OrderRequest) -> OrderSpec:
        if request.post_only and request.ioc:
            raise ExchangeError("an order cannot be both post-only and IOC")
        tif = (
            TimeInForce.POST_ONLY
            if request.post_only
            else TimeInForce.IOC
            if request.ioc
            else TimeInForce.GTT
        )
        return build_order(
            market,
            side=request.side,
            size=request.size,
            price=request.price,
            client_order_index=request.client_order_index,
            time_in_force=tif,
            reduce_only=request.reduce_only,
        )

    async def place_order(
        self,
        market: int | str,
        side: OrderSide,
        size: Decimal,
        price: Decimal,
        client_order_index: int,
        *,
        post_only: bool = False,
        ioc: bool = False,
        reduce_only: bool = False,
    ) -> Ticket:
        """Place a limit order (GTT, post-only or IOC); the ticket starts `submitted`."""
        request = OrderRequest(side, size, price, client_order_index, post_only, ioc, reduce_only)
        (ticket,) = await self.place_orders(market, [request])
        return ticket

    async def place_orders(
        self, market: int | str, requests: Sequence[OrderRequest]
    ) -> list[Ticket]:
        """Place many limit orders on one market as batches; one ticket per order."""
        info = await self._markets.market(market)
        return await self._send_orders(info, [self._limit_spec(info, r) for r in requests])

    async def replace_orders(
        self, market: int | str, cancel_indexes: Sequence[int], requests: Sequence[OrderRequest]
    ) -> list[Ticket]:
        """Cancels then creates on one market, together: one `sendTxBatch` up to 50 tx (a roll).

        Cancels go first so the open-order count never overshoots; one ticket per create.
        """
        info = await self._markets.market(market)
        cancels: list[TxSpec] = [CancelSpec(info.market_id, i) for i in cancel_indexes]
        return await self._send_orders(
            info, cancels + [self._limit_spec(info, r) for r in requests]
        )

    async def _send_orders(self, info: MarketInfo, specs: list[TxSpec]) -> list[Ticket]:
        """Send `specs` in batches; one ticket per order, with its batch's tx hash."""
        tickets: list[Ticket] = []
        for chunk, result in zip(chunks(specs), await self._sender.send_specs(specs), strict=True):
            hashes = list(result.tx_hashes) + [""] * (len(chunk) - len(result.tx_hashes))
            for spec, tx_hash in zip(chunk, hashes, strict=True):
                if isinstance(spec, OrderSpec):
                    tickets.append(self._ticket(info, spec, tx_hash))
        return tickets

    async def market_order(
        self,
        market: int | str,
        side: OrderSide,
        size: Decimal,
        client_order_index: int,
        *,
        max_slippage: Decimal = Decimal("0.01"),
        reduce_only: bool = False,
    ) -> Ticket:
        """Market (IOC) order whose protection price is the live best price +/- max_slippage."""
        info = await self._markets.market(market)
        book = await self._markets.order_book(info.market_id, depth=50)
        bound = protection_price(book, side, size, max_slippage)
        spec = build_order(
            info,
            side=side,
            size=size,
            price=bound,
            client_order_index=client_order_index,
            order_type=OrderType.MARKET,
            time_in_force=TimeInForce.IOC,
            reduce_only=reduce_only,
        )
        (result,) = await self._sender.send_specs([spec])
        return self._ticket(info, spec, result.tx_hashes[0] if result.tx_hashes else "")

    async def modify_order(
        self, market: int | str, index: int, size: Decimal, price: Decimal, side: OrderSide
    ) -> SendResult:
        """Change a resting order's price and total size (by exchange or client index)."""
        info = await self._markets.market(market)
        units = units_of(info)
        spec = ModifySpec(
            market_id=info.market_id,
            index=index,
            base_amount=units.size_lots(size),
            price=units.price_ticks(price, is_ask=side is OrderSide.SELL),
        )
        (result,) = await self._sender.send_specs([spec])
        return result

    async def cancel_order(self, market: int | str, index: int) -> SendResult:
        """Cancel one order by exchange order index or client order index."""
        info = await self._markets.market(market)
        (result,) = await self._sender.send_specs([CancelSpec(info.market_id, index)])
        return result

    async def cancel_orders(self, market: int | str, indexes: Sequence[int]) -> list[SendResult]:
        """Cancel many orders of one market in batches."""
        info = await self._markets.market(market)
        return await self._sender.send_specs([CancelSpec(info.market_id, i) for i in indexes])

    async def cancel_all(self, market: int | str | None = None) -> SendResult:
        """Cancel every open order now, in one market or in all."""
        market_id = 255 if market is None else (await self._markets.market(market)).market_id
        (result,) = await self._sender.send_specs(
            [CancelAllSpec(CancelAllMode.IMMEDIATE, 0, market_id)]
        )
        return result

    async def place_grouped(
        self,
        market: int | str,
        *,
        entry: OrderRequest | None = None,
        take_profit: TriggerRequest | None = None,
        stop_loss: TriggerRequest | None = None,
        position_side: OrderSide | None = None,
    ) -> list[Ticket]:
        """OTO / OCO / OTOCO: an entry with TP and/or SL, or a position-tied TP+SL pair.

        Without `entry` the TP/SL close the whole current position (`position_side` is the
        side of that position) and follow its size.
        """
        info = await self._markets.market(market)
        if entry is not None:
            parent = self._limit_spec(info, entry)
            exit_side = OrderSide.BUY if entry.side is OrderSide.SELL else OrderSide.SELL
            legs = [parent]
        elif position_side is not None:
            exit_side = OrderSide.BUY if position_side is OrderSide.SELL else OrderSide.SELL
            legs = []
        else:
            raise ExchangeError("a grouped order needs an entry or the position's side")
        for leg, kind in (
            (take_profit, OrderType.TAKE_PROFIT_LIMIT),
            (stop_loss, OrderType.STOP_LOSS_LIMIT),
        ):
            if leg is not None:
                legs.append(_trigger_leg(info, leg, kind, exit_side))
        exits = len(legs) - (1 if entry else 0)
        if entry is not None and exits == 2:
            grouping = Grouping.OTOCO
        elif entry is not None and exits == 1:
            grouping = Grouping.OTO
        elif entry is None and exits == 2:
            grouping = Grouping.OCO
        else:
            raise ExchangeError("grouped orders are entry+TP/SL (OTO/OTOCO) or TP+SL (OCO)")
        group = GroupSpec(grouping, one_expiry(legs, int(time.time() * 1000)))
        (result,) = await self._sender.send_specs([group])
        tx_hash = result.tx_hashes[0] if result.tx_hashes else ""
        return [self._ticket(info, leg, tx_hash) for leg in legs]

    async def place_position_trigger(
        self,
        market: int | str,
        leg: TriggerRequest,
        *,
        take_profit: bool,
        position_side: OrderSide,
    ) -> Ticket:
        """One position-tied take-profit or stop-loss (size 0, reduce-only, limit once triggered).

        It closes whatever the position is when it fires and the exchange cancels it when the
        position reaches zero or flips. Both at once: `place_grouped` (an OCO pair).
        """
        info = await self._markets.market(market)
        exit_side = OrderSide.BUY if position_side is OrderSide.SELL else OrderSide.SELL
        kind = OrderType.TAKE_PROFIT_LIMIT if take_profit else OrderType.STOP_LOSS_LIMIT
        spec = _trigger_leg(info, leg, kind, exit_side)
        (result,) = await self._sender.send_specs([spec])
        return self._ticket(info, spec, result.tx_hashes[0] if result.tx_hashes else "")

    async def update_leverage(
        self, market: int | str, leverage: Decimal, margin_mode: MarginMode = MarginMode.CROSS
    ) -> SendResult:
        """Set the leverage and margin mode of one market."""
        info = await self._markets.market(market)
        if info.max_leverage and leverage > info.max_leverage:
            raise ExchangeError(f"{info.symbol}: leverage {leverage} above max {info.max_leverage}")
        mode = (
            MarginModeCode.ISOLATED if margin_mode is MarginMode.ISOLATED else MarginModeCode.CROSS
        )
        spec = LeverageSpec(info.market_id, leverage_fraction(leverage), mode)
        (result,) = await self._sender.send_specs([spec])
        return result

    # --- dead-man's switch --------------------------------------------------------------------

    async def arm_dead_mans_switch(self, seconds: int, *, now_s: float | None = None) -> int:
        """Schedule a cancel-all `seconds` from now (renew by arming again); returns its ms time."""
        if not DEAD_MANS_SWITCH_MIN_S <= seconds <= DEAD_MANS_SWITCH_MAX_S:
            raise ExchangeError(
                f"dead-man's switch must be {DEAD_MANS_SWITCH_MIN_S}s..{DEAD_MANS_SWITCH_MAX_S}s"
            )
        at_ms = int(((time.time() if now_s is None else now_s) + seconds) * 1000)
        await self._sender.send_specs([CancelAllSpec(CancelAllMode.SCHEDULED, at_ms)])
        return at_ms

    async def abort_dead_mans_switch(self) -> SendResult:
        """Remove the scheduled cancel-all."""
        (result,) = await self._sender.send_specs([CancelAllSpec(CancelAllMode.ABORT, 0)])
        return result


def _trigger_leg(
    market: MarketInfo, leg: TriggerRequest, kind: OrderType, side: OrderSide
) -> OrderSpec:
    units = units_of(market)
    is_ask = side is OrderSide.SELL
    # Size 0 + reduce-only: the leg closes whatever the position (or the parent's fill) is.
    return OrderSpec(
        market_id=market.market_id,
        client_order_index=leg.client_order_index,
        base_amount=0,
        price=units.price_ticks(leg.price, is_ask=is_ask),
        is_ask=is_ask,
        order_type=kind,
        time_in_force=TimeInForce.GTT,
        reduce_only=True,
        trigger_price=units.price_ticks(leg.trigger_price, is_ask=is_ask),
    )
