"""The legs of a running bot and the generic per-leg steps of a run (narrow inputs, no runner).

A *leg* is one account on one market (`bots.strategies.protocol.Leg`): the grid has one, the
hedge bot two. Per leg the runner keeps a `LegState`: the account and the leg's settings, the
exchange client and the account stream of this run, our working orders, the client order
indexes reserved ahead and, for a strategy told of its orders' ends (`reports`), what it was told
of each order (`hedge_intake.LegOrders`, renewed every run). Every leg's stream feeds ONE queue of
the runner, each event tagged with its leg (`Item`), so a burst holds all the legs' events.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from bots.engine import recording
from bots.engine.commands import Command, Shutdown
from bots.engine.hedge_intake import LegOrders
from bots.engine.working import WorkingOrders
from bots.models import ExchangeAccount
from bots.strategies.protocol import Leg
from exchange.client import LighterClient
from exchange.errors import ExchangeError, pause
from exchange.orders import leverage_fraction
from exchange.streams import AccountStream, StreamEvent
from exchange.types import MarginMode

# What the runner's queue carries: a leg's stream event, an operator command, the worker's end.
Item = tuple[Leg, StreamEvent] | Command | Shutdown

# How long the exchange gets to show a leg's leverage and margin mode: counted in the waits
# between read-backs only, so that a read waiting for the request budget never uses it up.
SETTINGS_VERIFY_TIMEOUT_S = 10.0
# The first wait between read-backs; each next one doubles, up to SETTINGS_POLL_MAX_S (each
# read-back costs one or two requests of the account's budget).
SETTINGS_POLL_S = 0.25
SETTINGS_POLL_MAX_S = 2.0


class LegState:
    """What the runner keeps per leg (see the module docstring).

    `name` labels the leg in events ("A", "B"; empty for a bot with one leg); `reports`: the
    strategy is told its orders' fills once per trade and their ends (`OrderEnded`). The runner
    keeps every leg's account's dead-man's switch armed (where the account has it on).
    """

    client: LighterClient
    stream: AccountStream

    def __init__(
        self,
        leg: Leg,
        account: ExchangeAccount,
        *,
        leverage: Decimal,
        margin_mode: str,
        name: str = "",
        reports: bool = False,
    ) -> None:
        self.leg = leg
        self.account = account
        self.leverage = leverage
        self.margin_mode = margin_mode
        self.name = name
        self.tracks_reports = reports
        self.orders = WorkingOrders()
        self.indexes = recording.ClientIndexes()
        # Client order indexes reserved ahead for market orders on this leg.
        self.spare: list[int] = []
        self.reports: LegOrders | None = None
        # Our orders reported filled beyond the fills told: since when (monotonic seconds).
        self.awaiting_since: dict[int, float] = {}

    def connect(self, client: LighterClient, stream: AccountStream, market_id: int) -> None:
        """This run's client (one per distinct account) and the leg's stream; what the strategy
        was told of the leg's orders starts over (the positions read at start are the truth)."""
        self.client = client
        self.stream = stream
        if self.tracks_reports:
            self.reports = LegOrders(self.leg, market_id)

    def is_ours(self, client_order_index: int) -> bool:
        """Whether an order on the leg's account is one of ours."""
        if self.reports is not None and self.reports.is_ours(client_order_index):
            return True
        return self.orders.owner(client_order_index) is not None


async def pump(
    leg: Leg, stream: AccountStream, client: LighterClient, put: Callable[[Item], None]
) -> None:
    """One reader of a leg's stream feeding the runner's queue, each event tagged with its leg
    (waiting on a queue with a timeout is safe; cancelling an async generator's `__anext__`
    would end the generator).

    The leg's client takes each event first, as it arrives (its tickets resolve from the
    stream): a client call the runner awaits outside its loop (a risk exit's or a stop's close,
    verified) is told its order's end at once, instead of waiting out its timeout for reports
    that sit in the queue until the runner's next turn."""
    async for event in stream.events():
        client.apply_event(event)
        put((leg, event))


async def settings_apply(
    client: LighterClient, market_id: int, leverage: Decimal, mode: MarginMode
) -> None:
    """Apply a leg's leverage and margin mode to the market and read them back from the account
    (a 200 alone is not applied); ExchangeError as soon as the exchange reports the transaction
    failed, or when they are still not seen after `SETTINGS_VERIFY_TIMEOUT_S` of waiting between
    read-backs (time a read spends waiting for the request budget does not count). The waits
    back off from `SETTINGS_POLL_S` to `SETTINGS_POLL_MAX_S`. Transient failures (429, 5xx,
    network) raise as they come."""
    want = leverage_fraction(leverage)
    sent = await client.update_leverage(market_id, leverage, mode)
    waited = 0.0
    wait_s = SETTINGS_POLL_S
    while True:
        # Every market the account touched has a row, flat ones too (lighter-api.md).
        positions = (await client.account()).positions
        row = next((p for p in positions if p.market_id == market_id), None)
        if row is not None and leverage_fraction(row.leverage) == want:
            if row.margin_mode is mode:
                return
        for tx_hash in sent.tx_hashes:
            result = await client.tx(tx_hash)
            if result is not None and result.failed:
                raise ExchangeError(f"the exchange refused it ({result.error or 'failed'})")
        if waited >= SETTINGS_VERIFY_TIMEOUT_S:
            seen = "nothing" if row is None else f"{row.leverage}x {row.margin_mode.value}"
            raise ExchangeError(
                f"not applied within {SETTINGS_VERIFY_TIMEOUT_S:g}s (the exchange shows {seen})"
            )
        wait_s = min(wait_s, SETTINGS_VERIFY_TIMEOUT_S - waited)
        await pause(wait_s)
        waited += wait_s
        wait_s = min(2 * wait_s, SETTINGS_POLL_MAX_S)
