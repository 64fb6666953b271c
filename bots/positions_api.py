"""REST operations of the positions page (README "Positions"), mounted by lighterweb.api at /api/.

`market_index` is the exchange's market index (0 = ETH on Lighter), as positions are keyed on the
venue; `account_id` is our account id. Refusals are 4xx naming the field (`PositionActionRefused`
is mapped in lighterweb.api); exchange failures are 502.
"""

# No `from __future__ import annotations`: `needs` wraps each operation, and ninja would resolve
# string annotations in bots.api's globals, where `MarketIndex` is unknown.
from decimal import Decimal
from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from bots import permissions, positions, selectors
from bots.api import ERRORS, _actor, needs
from bots.schemas import Id, InputSchema, Money
from lighterweb import audit

router = Router(tags=["positions"])
MarketIndex = Annotated[int, Field(ge=0, le=255)]  # the exchange's market index (0 = ETH)


class OwnerOut(Schema):
    """A bot of the account on this market and its own position (base units, signed)."""

    bot_id: int
    name: str
    size: Money
    desired_state: str


class TriggerOut(Schema):
    """A position-tied take-profit or stop-loss resting on the exchange."""

    kind: str = Field(description="take_profit or stop_loss")
    order_index: int
    trigger_price: Money
    price: Money = Field(description="Limit price once triggered (trigger less the slippage).")
    status: str


class PositionOut(Schema):
    """One open position, read live from the exchange. `size` is signed (+ long, - short)."""

    market_index: int
    symbol: str
    size: Money
    side: str
    entry_price: Money
    mark_price: Money
    unrealized_pnl: Money = Field(description="USDC")
    liquidation_price: Money
    leverage: Money
    margin_mode: str
    owners: list[OwnerOut]
    unattributed: Money = Field(description="The part no bot owns (base units, signed).")
    triggers: list[TriggerOut]


class CloseIn(InputSchema):
    """A close is confirmed explicitly; `worst_price` makes it a limit close, else it is a
    market close within `max_slippage` (a fraction, 0.01 = 1 %) of the best price."""

    confirm: bool = False
    worst_price: Decimal | None = Field(default=None, gt=0)
    max_slippage: Decimal | None = Field(default=None, gt=0, le=Decimal("0.10"))
    include_bots: bool = Field(
        default=False,
        description="Close the part running bots own too: they are emergency-stopped first.",
    )


class ChunkOut(Schema):
    client_order_index: int
    size: Money
    filled: Money
    state: str
    average_price: Money | None


class CloseOut(Schema):
    """What the close achieved, read back from the account: `remaining_size` is what is left."""

    status: str = Field(description="closed, partially_closed or failed")
    symbol: str
    initial_size: Money
    remaining_size: Money
    closed_size: Money
    worst_price: Money
    average_price: Money | None
    chunks: list[ChunkOut]
    reason: str
    bots_stopped: list[int]


class TpSlIn(InputSchema):
    """Position-tied TP and/or SL prices (they close the whole position when they fire)."""

    confirm: bool = False
    take_profit: Decimal | None = Field(default=None, gt=0)
    stop_loss: Decimal | None = Field(default=None, gt=0)
    max_slippage: Decimal | None = Field(default=None, gt=0, le=Decimal("0.10"))


class ConfirmIn(InputSchema):
    confirm: bool = False


def _position_out(row: positions.PositionRow) -> dict[str, Any]:
    return {
        "market_index": row.market_id,
        "symbol": row.symbol,
        "size": row.size,
        "side": row.side,
        "entry_price": row.entry_price,
        "mark_price": row.mark_price,
        "unrealized_pnl": row.unrealized_pnl,
        "liquidation_price": row.liquidation_price,
        "leverage": row.leverage,
        "margin_mode": row.margin_mode,
        "owners": [vars(o) for o in row.owners],
        "unattributed": row.unattributed,
        "triggers": [vars(t) for t in row.triggers],
    }


RESPONSES: dict[int, Any] = {**ERRORS, 400: ERRORS[409], 502: ERRORS[409]}


@router.get("/accounts/{account_id}/positions", response={200: list[PositionOut], **RESPONSES})
@needs(permissions.VIEW_ACCOUNT)
def position_list(request: HttpRequest, account_id: Id) -> Any:
    """The account's open positions, read live from the exchange, with owners and TP/SL."""
    account = selectors.account_get(account_id)
    return [_position_out(row) for row in positions.account_positions(account)]


@router.post(
    "/accounts/{account_id}/positions/{market_index}/close",
    response={200: CloseOut, **RESPONSES},
)
@needs(permissions.CONTROL)
def position_close(
    request: HttpRequest, account_id: Id, market_index: MarketIndex, payload: CloseIn
) -> Any:
    """Close one position: reduce-only, within a worst price, in chunks, verified by reading the
    position back. 409 while a running bot owns part of it unless `include_bots`."""
    account = selectors.account_get(account_id)
    outcome = positions.position_close(
        account,
        market_index,
        actor=_actor(request),
        confirm=payload.confirm,
        worst_price=payload.worst_price,
        max_slippage=payload.max_slippage,
        include_bots=payload.include_bots,
    )
    audit.record(
        request,
        "position_close",
        f"{outcome.symbol}: {outcome.status}, {outcome.remaining_size} left",
        target=account,
    )
    return {
        **{k: getattr(outcome, k) for k in ("status", "symbol", "initial_size", "worst_price")},
        "remaining_size": outcome.remaining_size,
        "closed_size": outcome.closed_size,
        "average_price": outcome.average_price,
        "chunks": [vars(c) for c in outcome.chunks],
        "reason": outcome.reason,
        "bots_stopped": outcome.bots_stopped,
    }


@router.post(
    "/accounts/{account_id}/positions/{market_index}/tpsl",
    response={200: list[TriggerOut], **RESPONSES},
)
@needs(permissions.CONTROL)
def position_tpsl(
    request: HttpRequest, account_id: Id, market_index: MarketIndex, payload: TpSlIn
) -> Any:
    """Place a position-tied take-profit and/or stop-loss; answers the TP/SL now resting."""
    account = selectors.account_get(account_id)
    triggers = positions.position_trigger_place(
        account,
        market_index,
        actor=_actor(request),
        confirm=payload.confirm,
        take_profit=payload.take_profit,
        stop_loss=payload.stop_loss,
        max_slippage=payload.max_slippage,
    )
    audit.record(
        request,
        "position_tpsl",
        f"market {market_index}: TP {payload.take_profit} SL {payload.stop_loss}",
        target=account,
    )
    return [vars(t) for t in triggers]


@router.post(
    "/accounts/{account_id}/positions/{market_index}/tpsl/{order_index}/cancel",
    response={200: list[TriggerOut], **RESPONSES},
)
@needs(permissions.CONTROL)
def position_tpsl_cancel(
    request: HttpRequest,
    account_id: Id,
    market_index: MarketIndex,
    order_index: int,
    payload: ConfirmIn,
) -> Any:
    """Cancel one TP/SL (verified); answers the TP/SL still resting on that market."""
    account = selectors.account_get(account_id)
    positions.position_trigger_cancel(
        account, market_index, order_index, actor=_actor(request), confirm=payload.confirm
    )
    audit.record(request, "position_tpsl_cancel", f"TP/SL {order_index} cancelled", target=account)
    rows = [r for r in positions.account_positions(account) if r.market_id == market_index]
    return [vars(t) for row in rows for t in row.triggers]
