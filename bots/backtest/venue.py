"""Venue mode: the same candles and strategy core, executed by the simulator's matching engine.

The fill model (`kernel.py`) decides fills itself. Here every intent becomes a transaction on
the paper venue's pure engine (`exchange.simulator.engine.Engine`: book, price-time matching,
margin, fees, liquidation; no HTTP, no clock, signatures not checked) and every fill the
strategy hears of is a trade the engine printed:

* The walk inside a candle is the kernel's (O-H-L-C / O-L-H-C); each point of it becomes the
  engine's reference (mark) price, so its price band, margin checks and liquidations see it.
* The rest of the market is a "tape" account (a system account: no margin) that trades the path:
  when the walk reaches a resting order of ours, the tape sends an IOC order at that price for
  that order's size and the engine matches it (nearest first, at the maker's price).
* The book the strategy sees is the walk price on both sides: before each order of ours the
  tape quotes the opposite side at that price (so a crossing post-only order is cancelled by
  the engine, `canceled-post-only`, and a crossing plain limit order takes it as a taker) and
  withdraws the quote after. Market orders and a stop's flatten take a tape quote placed at the
  slipped price.
* Fees are the engine's (the tier's rates on the market spec), funding is the recorded rate
  (the engine's own funding is off; the payment is also booked on the engine's collateral), and
  the bot's account holds `Settings.collateral` (None: plenty) at `Settings.leverage`.
* A liquidation by the engine books its trade, ends the run (`halted = "liquidation"`).

Where this differs from the fill model (README "Backtest"): orders the engine refuses and the
fill model does not model (below the market's minimum size or quote, more than the open-order
limit, outside the price band, not enough margin), liquidations, and the engine's 30-day
order expiry (a resting order older than that is cancelled and the grid re-places it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from bots.backtest import kernel
from bots.backtest.kernel import LEG, CandleSeries, Result, Settings, SimFill
from bots.strategies.accounting import Fill
from bots.strategies.grid.config import Side
from bots.strategies.grid.plan import LiveOrder
from bots.strategies.grid.strategy import GridStrategy
from bots.strategies.protocol import (
    BookChanged,
    Cancel,
    Filled,
    Halt,
    Intent,
    MarketOrder,
    OrderEnded,
    Place,
)
from exchange.simulator.config import LiquidityConfig, SimConfig
from exchange.simulator.constants import TX_CANCEL_ALL, TX_CANCEL_ORDER, TX_CREATE_ORDER
from exchange.simulator.engine import Engine
from exchange.simulator.types import MarketSpec, OrderChanged, SimError, TradeExecuted

MARKET = 0
BOT = 1
TAPE = 2
PLENTY = Decimal("1000000000000")
ORDER_LIFE_MS = 30 * 86_400_000  # Lighter's longest order expiry
_TX_LIFE_MS = 600_000
# Type / TimeInForce codes of CreateOrder (lighter-api.md 3.3).
_LIMIT, _MARKET = 0, 1
_IOC, _GTT, _POST_ONLY = 0, 1, 2
_CENT = Decimal("0.01")
_NOT_REFUSED = frozenset({"canceled-liquidation", "canceled-expired"})


def _decimals(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return -exponent


class VenueRun(kernel._Run):
    """The kernel's walk and decisions; execution, fills and margin on the engine."""

    def __init__(self, settings: Settings, start_ms: int, first: Decimal) -> None:
        super().__init__(settings, GridStrategy(LEG, settings.config))
        config = settings.config
        tier = "premium" if settings.taker_fee_ppm or settings.maker_fee_ppm else "standard"
        imf, mmf = settings.margin_fractions
        self.spec = MarketSpec(
            MARKET, "BT", _decimals(config.lot_size), _decimals(config.tick_size),
            max(1, int(config.min_base_amount.scaleb(_decimals(config.lot_size)))),
            config.min_quote_amount, first,
            default_imf=imf, min_imf=settings.min_initial_margin_fraction, maintenance_mf=mmf,
            closeout_mf=max(1, mmf * 2 // 3),
            maker_fee_ppm={tier: settings.maker_fee_ppm},
            taker_fee_ppm={tier: settings.taker_fee_ppm},
        )  # fmt: skip
        self.units = self.spec.units
        self.engine = Engine(
            SimConfig(
                markets=[self.spec],
                liquidity=LiquidityConfig(enabled=False),
                latency_ms=0,
                funding_enabled=False,
                verify_signatures=False,
                max_active_orders=1000,
            ),
            now_ms=start_ms,
        )
        collateral = PLENTY if settings.collateral is None else settings.collateral
        bot = self.engine.add_account("0x" + "1" * 40, collateral, {0: "00" * 40}, BOT, tier)
        bot.leverage[MARKET] = imf
        self.engine.state.position(bot, MARKET).initial_margin_fraction = imf
        tape = self.engine.add_account("0x" + "2" * 40, PLENTY, {0: "00" * 40}, TAPE)
        tape.is_system = True
        self.bot_account = bot
        self.nonces = {BOT: 0, TAPE: 0}
        self.tape_index = 1
        # Levels of our orders by client index (the engine's report names only the index).
        self.levels: dict[int, int | None] = {}
        self.liquidated = False

    # --- the engine ------------------------------------------------------------------------

    def _send(self, account: int, tx_type: int, fields: dict[str, Any]) -> bool:
        """Submit one tx and run it at once; False when the API refused it."""
        nonce = self.nonces[account]
        info = {
            "AccountIndex": account,
            "ApiKeyIndex": 0,
            "Nonce": nonce,
            "ExpiredAt": self.now_ms + _TX_LIFE_MS,
            "MarketIndex": MARKET,
            **fields,
        }
        try:
            self.engine.submit_tx(tx_type, info, now_ms=self.now_ms)
        except SimError:
            return False
        self.nonces[account] = nonce + 1
        self._absorb(self.engine.advance(self.now_ms))
        return True

    def _order(self, account: int, client_index: int, side: Side, price: Decimal,
               size: Decimal, kind: int, tif: int, reduce_only: bool = False) -> bool:  # fmt: skip
        expiry = self.now_ms + ORDER_LIFE_MS if tif != _IOC else 0
        return self._send(account, TX_CREATE_ORDER, {
            "ClientOrderIndex": client_index,
            "BaseAmount": self.units.size_lots(size, exact=True),
            "Price": self.units.price_ticks(price, is_ask=side is Side.SELL),
            "IsAsk": int(side is Side.SELL), "Type": kind, "TimeInForce": tif,
            "ReduceOnly": int(reduce_only), "TriggerPrice": 0, "OrderExpiry": expiry,
        })  # fmt: skip

    def _tape(self, side: Side, price: Decimal, size: Decimal, tif: int) -> int:
        """A tape order (the rest of the market); its client index."""
        index = self.tape_index
        self.tape_index += 1
        self._order(TAPE, index, side, price, size, _LIMIT, tif)
        return index

    def _withdraw(self, tape_index: int) -> None:
        if (TAPE, tape_index) in self.engine.state.live_by_client:
            self._send(TAPE, TX_CANCEL_ORDER, {"Index": tape_index})

    def _mark(self, price: Decimal) -> None:
        """The engine's reference price follows the walk (a liquidation may follow)."""
        ticks = self.units.price_ticks(price, is_ask=False)
        if ticks != self.engine.state.reference[MARKET]:
            self.engine.set_reference_price(MARKET, self.units.price(ticks))
            self._absorb(self.engine.advance(self.now_ms))

    def _absorb(self, events: list[Any]) -> None:
        """Our trades and order endings, reported to the books and the strategy."""
        for event in events:
            if isinstance(event, TradeExecuted):
                self._trade(event)
            elif isinstance(event, OrderChanged) and event.account_index == BOT:
                order = event.order
                coi = order.client_order_index
                if order.status == "open" and order.remaining_base_amount > 0:
                    self.working[coi] = LiveOrder(
                        self.levels.get(coi), Side.SELL if order.is_ask else Side.BUY,
                        self.units.price(order.price), self.units.size(order.remaining_base_amount),
                        coi, "open",
                    )  # fmt: skip
                elif order.status not in ("open", "in-progress", "pending"):
                    self.working.pop(coi, None)
                    if order.status not in ("filled", "canceled") and coi:
                        self.refused += order.status not in _NOT_REFUSED
                        self.strategy.on_event(OrderEnded(LEG, coi, order.status))
                        self.settled = False

    def _trade(self, event: TradeExecuted) -> None:
        trade = event.trade
        if BOT not in (trade.bid_account_id, trade.ask_account_id):
            return
        buy = trade.bid_account_id == BOT
        side = Side.BUY if buy else Side.SELL
        maker = trade.is_maker_ask != buy
        fee = trade.maker_fee if maker else trade.taker_fee
        coi = trade.bid_client_id if buy else trade.ask_client_id
        level = self.levels.get(coi) if coi else None
        price, size = self.units.price(trade.price), self.units.size(trade.size)
        if trade.type == "liquidation":
            equity, _, maintenance = self._requirements()  # at the walk price, before it
            self.halt_reason = (
                f"liquidated at {self.price} on {kernel.utc_minute(self.now_ms)}: equity "
                f"{equity.quantize(_CENT)} below the maintenance margin "
                f"{maintenance.quantize(_CENT)}"
            )
        self.ledger.apply_fill(Fill(trade.trade_id, side.value, price, size, fee, maker, level))
        self.fills.append(SimFill(trade.trade_id, self.now_ms, side.value, price, size, fee,
                                  maker, level))  # fmt: skip
        self.settled = False
        if trade.type == "liquidation":
            self.liquidated = True
            self.working.clear()
            self.halted = "liquidation"
            return
        self.strategy.on_event(Filled(LEG, side, size, level, coi or None, price))

    # --- the walk ----------------------------------------------------------------------------

    def walk_to(self, target: Decimal) -> None:
        if self.now_ms != self.engine.state.now_ms:
            # A new minute: what fell due meanwhile (order expiries) happens first.
            self._absorb(self.engine.advance(self.now_ms))
        if self.halted:
            self.price = target
            self._mark(target)
            return
        up = target > self.price
        while self.working:
            order = self._next_crossed(target, up)
            if order is None:
                break
            self.price = order.price
            self._mark(order.price)
            if self.halted:
                break
            against = Side.BUY if order.side is Side.SELL else Side.SELL
            self._tape(against, order.price, order.size_base, _IOC)
            self._decide(fresh=False)
            if self.halted:
                break
        self.price = target
        self._mark(target)
        if self.halted:
            return
        self.strategy.on_event(BookChanged(LEG))
        lo, hi = self.band
        if self.settled and not self.settings.eager and lo < target < hi:
            return
        self._decide(fresh=True)

    def quiet(self, low: Decimal, high: Decimal) -> bool:
        return False  # every point moves the engine's mark (margin, liquidation)

    # --- intents -----------------------------------------------------------------------------

    def _execute(self, intent: Intent) -> bool:
        if self.halted:
            return False
        if isinstance(intent, Cancel):
            if intent.client_order_index in self.working:
                self._send(BOT, TX_CANCEL_ORDER, {"Index": intent.client_order_index})
            self.working.pop(intent.client_order_index, None)
            return True
        if isinstance(intent, Place):
            return self._place(intent)
        if isinstance(intent, MarketOrder):
            self._take(intent.side, intent.size_base, reduce_only=False)
            return True
        if isinstance(intent, Halt):
            self._halt(intent)
            return True
        raise TypeError(f"unknown intent {intent!r}")

    def _place(self, intent: Place) -> bool:
        order = intent.order
        index = self.next_index
        self.next_index += 1
        self.levels[index] = order.level
        refused = self.refused
        against = Side.SELL if order.side is Side.BUY else Side.BUY
        quote = self._tape(against, self.price, order.size_base, _GTT)
        tif = _POST_ONLY if order.post_only else _GTT
        sent = self._order(BOT, index, order.side, order.price, order.size_base, _LIMIT, tif)
        self._withdraw(quote)
        if not sent:
            self.refused += 1
            self.strategy.on_event(OrderEnded(LEG, index, "refused"))
            return False
        return self.refused == refused

    def _take(self, side: Side, size: Decimal, *, reduce_only: bool) -> None:
        price = self._taker_price(side)
        against = Side.SELL if side is Side.BUY else Side.BUY
        quote = self._tape(against, price, size, _GTT)
        self._order(BOT, 0, side, price, size, _MARKET, _IOC, reduce_only)
        self._withdraw(quote)

    def _halt(self, halt: Halt) -> None:
        self._send(BOT, TX_CANCEL_ALL, {"TimeInForce": 0, "Time": 0})
        self.working.clear()
        if halt.flatten_base != 0:
            side = Side.BUY if halt.flatten_base > 0 else Side.SELL
            self._take(side, abs(halt.flatten_base), reduce_only=True)
        self.halted = halt.trigger.value

    def pay_funding(self, rate: Decimal) -> None:
        before = self.ledger.funding
        super().pay_funding(rate)
        self.bot_account.collateral += self.ledger.funding - before


def run(
    settings: Settings,
    candles: CandleSeries,
    funding: Mapping[int, Decimal] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Result:
    """Backtest over `candles` on the simulator's engine (see the module doc)."""
    if len(candles) == 0:
        raise ValueError("candles: the range holds no candles")
    if settings.volume_share is not None:
        raise ValueError("volume_share: partial fills are a fill-model option (not venue mode)")
    sim = VenueRun(settings, candles.times[0], candles.opens[0])
    return kernel.drive(sim, candles, funding, progress)
