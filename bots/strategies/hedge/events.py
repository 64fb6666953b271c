"""Two events the hedge strategy takes beyond `bots.strategies.protocol`'s (candidates for it).

`HedgeStrategy.on_event` accepts them next to the protocol's events; both are optional: without
`BookLevels` a maker price at level n > 1 falls back to the best price, and without `OrderSent`
a market order is recognised by the first report that comes while it is in flight.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bots.strategies.protocol import Leg


@dataclass(frozen=True)
class BookLevels:
    """The first price levels of the leg's book, best first (bids descending, asks ascending).

    Only a maker price at book level n > 1 needs it: `MarketView` carries the best prices only.
    The runner sends it before `Decide` of leg A when `book_level > 1`.
    """

    leg: Leg
    bids: tuple[Decimal, ...]
    asks: tuple[Decimal, ...]


@dataclass(frozen=True)
class OrderSent:
    """The runner sent the `MarketOrder` the strategy just asked for on `leg` under this client
    order index (send it right after allocating the index, before any report of the order).

    Intents carry no client index, so without it a fill or end of an older market order given
    up on (no report within `hedge_timeout_ms`) could be taken for the one in flight.
    """

    leg: Leg
    client_order_index: int
