"""The shapes of everything the REST API and the dashboard websocket send and receive.

One set of ninja Schemas serves both (house style 9): an API operation returns one of these, and
`bots.dashboard.broadcast` builds its websocket payloads with `payload(Schema, obj)`, so a client
sees the
same fields whichever way the data arrived.

Money and sizes are `Decimal` in, and plain decimal strings out (`"4000.5"`, never a float and
never exponent notation), so no client loses precision. Secrets never appear here: an account
says only whether a key is stored (`has_api_key`), never the key or its ciphertext.

Ids: `account_id`, `market_id`, `bot_id` are our database ids; the exchange's own market number
is `MarketOut.exchange_market_id`.

The read models computed from many rows (a bot's PnL, an account's summary) have their shapes in
`bots.summary_schemas`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from ninja import Field, Schema
from ninja.schema import DjangoGetter
from pydantic import ConfigDict, PlainSerializer, model_validator
from pydantic_core import PydanticCustomError, to_jsonable_python

from bots.figures import QUOTE_UNIT, base_unit


def _decimal_text(value: Decimal) -> str:
    # normalize() drops the DB's trailing zeros; format "f" keeps it out of exponent notation.
    return format(value.normalize(), "f") if value else "0"


Money = Annotated[Decimal, PlainSerializer(_decimal_text, return_type=str)]


def _quote_text(value: Decimal) -> str:
    # PnL arithmetic leaves long tails (-0.009977512462612164); USDC has 6 decimals on Lighter.
    return _decimal_text(value.quantize(Decimal("0.000001")))


# A computed quote amount (PnL, equity, fees): the venue's 6 decimals, no trailing zeros.
Quote = Annotated[Decimal, PlainSerializer(_quote_text, return_type=str)]
# Database ids and counts fit a signed 64-bit / 32-bit integer; bigger input is a 422, not a
# database overflow.
MAX_ID = 2**63 - 1
MAX_COUNT = 2**31 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
# Free text in a query (search, kind...): bounded, and no NUL (PostgreSQL refuses it).
QueryText = Annotated[str, Field(max_length=200, pattern=r"^[^\x00]*$")]
# A page cursor is a row id we handed out: ASCII digits only ("²" is a digit to str.isdigit()).
Cursor = Annotated[str, Field(max_length=18, pattern=r"^[0-9]+$")]
# A name typed by a caller: no control characters (NUL breaks PostgreSQL, the rest the pages).
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]

SpacingMode = Literal["arithmetic", "geometric"]
SizeMode = Literal["base", "quote"]
MarginMode = Literal["cross", "isolated"]
SideName = Literal["buy", "sell"]


def payload(schema: type[Schema], obj: Any) -> dict[str, Any]:
    """`obj` (a model row or any object with the schema's attributes) as a JSON-ready dict:
    `schema.from_orm(obj).model_dump(mode="json")`.

    The pushes' schemas (orders, fills, events: every fill pushes several) take a direct path
    that yields the same dict (`_direct_payload`), about five times cheaper; any value it cannot
    vouch for (a missing attribute, a type validation would convert or refuse) falls back to
    the schema.
    """
    plan = _DIRECT.get(schema)
    if plan is not None:
        direct = _direct_payload(plan, obj)
        if direct is not None:
            return direct
    return schema.from_orm(obj).model_dump(mode="json")


# How `_direct_payload` outputs a field, by the field's type: these are the only types it takes.
_INT, _STR, _BOOL, _MONEY, _DATETIME, _DICT, _LITERAL = range(7)
_Plan = tuple[tuple[str, Any, int, bool, frozenset[str]], ...]


def _direct_plan(schema: type[Schema]) -> _Plan:
    """Per field: name, resolver (or None: the attribute), kind, whether None passes, and the
    allowed values of a Literal. Raises TypeError for a field type the direct path lacks."""
    plan = []
    for name, info in schema.model_fields.items():
        annotation, optional = info.annotation, False
        if get_origin(annotation) in (Union, UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                raise TypeError(f"{schema.__name__}.{name}: {annotation}")
            annotation, optional = args[0], True
        allowed: frozenset[str] = frozenset()
        serializers = [m for m in info.metadata if isinstance(m, PlainSerializer)]
        if serializers:
            if annotation is not Decimal or serializers[0].func is not _decimal_text:
                raise TypeError(f"{schema.__name__}.{name}: {annotation} {info.metadata}")
            kind = _MONEY
        elif info.metadata:
            raise TypeError(f"{schema.__name__}.{name}: constrained ({info.metadata})")
        elif get_origin(annotation) is Literal and all(
            type(a) is str for a in get_args(annotation)
        ):
            kind, allowed = _LITERAL, frozenset(get_args(annotation))
        elif annotation == dict[str, Any]:
            kind = _DICT
        else:
            kinds = {int: _INT, str: _STR, bool: _BOOL, datetime: _DATETIME}
            if annotation not in kinds:
                raise TypeError(f"{schema.__name__}.{name}: {annotation}")
            kind = kinds[annotation]
        resolver = schema._ninja_resolvers.get(name)
        if resolver is not None and (not resolver._static or resolver._takes_context):
            raise TypeError(f"{schema.__name__}.{name}: a resolver taking more than the object")
        plan.append(
            (name, resolver._func if resolver is not None else None, kind, optional, allowed)
        )
    return tuple(plan)


def _direct_payload(plan: _Plan, obj: Any) -> dict[str, Any] | None:
    """The dict `from_orm(obj).model_dump(mode="json")` gives, built straight from the values
    when each already has its field's validated type; None when one has not (or is missing)."""
    out: dict[str, Any] = {}
    for name, resolver, kind, optional, allowed in plan:
        try:
            value = resolver(obj) if resolver is not None else getattr(obj, name)
        except AttributeError:
            return None
        if value is None:
            if not optional:
                return None
            out[name] = None
            continue
        kind_of = type(value)
        if kind == _INT or kind == _BOOL:
            if kind_of is not (int if kind == _INT else bool):
                return None
        elif kind == _STR or kind == _LITERAL:
            if kind_of is not str:
                # A str enum (a model's TextChoices) validates to its value.
                if not isinstance(value, Enum) or type(value.value) is not str:
                    return None
                value = value.value
            if kind == _LITERAL and value not in allowed:
                return None
        elif kind == _MONEY:
            if kind_of is not Decimal or not value.is_finite():
                return None
            value = _decimal_text(value)
        elif kind == _DATETIME:
            if kind_of is not datetime:
                return None
            value = to_jsonable_python(value)
        elif kind == _DICT:
            if kind_of is not dict or not all(type(k) is str for k in value):
                return None
            value = to_jsonable_python(value)
        out[name] = value
    return out


class InputSchema(Schema):
    """A request body: a JSON object holding only the documented fields.

    ninja's Schema validates `from_attributes`, so without this a list, `true` or `0` would pass
    as an object whose every field takes its default; and pydantic ignores unknown fields unless
    told otherwise, so a misspelt field would silently fall back to its default too.
    """

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _must_be_an_object(cls, data: Any) -> Any:
        # With extra="forbid", ninja validates the raw input first (refused here unless a dict),
        # then again wrapped in its DjangoGetter.
        if not isinstance(data, dict | DjangoGetter):
            raise PydanticCustomError("object_required", "The request body must be a JSON object.")
        return data


# -- errors -------------------------------------------------------------------------------------


class FieldErrorOut(Schema):
    """One invalid input field; `field` is "__all__" for errors not tied to one field."""

    field: str
    message: str


class ErrorOut(Schema):
    """The one error format of the API, whatever the status code."""

    detail: str
    code: str = Field(description="validation, not_found, refused, unauthorized, forbidden, ...")
    errors: list[FieldErrorOut] = Field(default_factory=list)


# -- accounts and markets -----------------------------------------------------------------------


class AccountOut(Schema):
    """An exchange account, without any secret (only whether each key is stored)."""

    id: int
    name: str
    network: str
    tier: str
    base_url: str
    chain_id: int
    l1_address: str
    account_index: int | None
    api_key_index: int | None
    # Named without "private_key": the schema itself must not even suggest a secret field.
    has_api_key: bool = Field(description="Whether an API private key is stored (encrypted).")
    has_eth_key: bool = Field(description="Whether an ETH private key is stored (encrypted).")
    dead_mans_switch: bool | None = Field(
        default=None, description="The explicit choice; null means the network's default."
    )
    dead_mans_switch_enabled: bool = False
    dead_mans_switch_armed_until: datetime | None = None
    last_checked_at: datetime | None
    last_error: str
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_has_api_key(obj: Any) -> bool:
        return bool(obj.has_api_private_key)

    @staticmethod
    def resolve_has_eth_key(obj: Any) -> bool:
        return bool(obj.has_eth_private_key)


class MarketOut(Schema):
    """A perpetual market as last synced from the exchange."""

    id: int
    network: str
    exchange_market_id: int = Field(description="The exchange's market number.")
    symbol: str
    size_decimals: int
    price_decimals: int
    min_base_amount: Money
    min_quote_amount: Money
    max_leverage: Money | None
    last_price: Money | None
    synced_at: datetime | None

    @staticmethod
    def resolve_exchange_market_id(obj: Any) -> int:
        return int(obj.market_id)


# -- grid bots ----------------------------------------------------------------------------------


class GridBotIn(InputSchema):
    """A new grid bot; validated like the admin form (model `full_clean`)."""

    name: Name
    account_id: Id
    market_id: Id = Field(description="Our market id (MarketOut.id), not the exchange's.")
    spacing_mode: SpacingMode = "arithmetic"
    step: Decimal = Field(description="Price step (arithmetic) or percent per level (geometric).")
    levels_per_side: Count = 5
    size_mode: SizeMode = "base"
    size: Decimal = Field(description="Per level: base quantity or quote notional.")
    post_only: bool = True
    max_open_orders: Count = 20
    max_position_notional: Decimal
    leverage: Decimal = Decimal("1")
    margin_mode: MarginMode = "cross"
    stop_loss_price: Decimal | None = None
    take_profit_price: Decimal | None = None
    flatten_on_stop: bool = False


class GridBotPatch(InputSchema):
    """A partial update of a grid bot's configuration: only the fields sent change."""

    name: Name | None = None
    spacing_mode: SpacingMode | None = None
    step: Decimal | None = None
    levels_per_side: Count | None = None
    size_mode: SizeMode | None = None
    size: Decimal | None = None
    post_only: bool | None = None
    max_open_orders: Count | None = None
    max_position_notional: Decimal | None = None
    leverage: Decimal | None = None
    margin_mode: MarginMode | None = None
    stop_loss_price: Decimal | None = None
    take_profit_price: Decimal | None = None
    flatten_on_stop: bool | None = None


class BotOutBase(Schema):
    """What every bot's output has (the grid's, the hedge bot's): who, where, what the operator
    wants and what the engine reports."""

    id: int
    name: str
    account_id: int
    account_name: str
    market_id: int
    symbol: str
    network: str
    desired_state: str
    status: str
    status_message: str
    heartbeat_at: datetime | None = None
    crash_count: int = 0
    started_at: datetime | None
    stopped_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_account_name(obj: Any) -> str:
        return str(obj.account.name)

    @staticmethod
    def resolve_symbol(obj: Any) -> str:
        return str(obj.market.symbol)

    @staticmethod
    def resolve_network(obj: Any) -> str:
        return str(obj.market.network)


class GridBotOut(BotOutBase):
    """A grid bot: its configuration, what the operator wants and what the engine reports."""

    spacing_mode: str
    step: Money
    levels_per_side: int
    size_mode: str
    size: Money
    post_only: bool
    max_open_orders: int
    max_position_notional: Money
    leverage: Money
    margin_mode: str
    stop_loss_price: Money | None
    take_profit_price: Money | None
    flatten_on_stop: bool = False
    last_price: Money | None = None
    anchor_price: Money | None = None
    centre_index: int | None = None
    centre_price: Money | None = Field(
        default=None, description="Price of the centre level (kept empty), from the lattice."
    )
    price_decimals: int = 0
    size_decimals: int = 0
    base_unit: str = ""
    quote_unit: str = QUOTE_UNIT
    last_crash_at: datetime | None = None
    cancel_all_requested_at: datetime | None

    @staticmethod
    def resolve_price_decimals(obj: Any) -> int:
        return int(obj.market.price_decimals)

    @staticmethod
    def resolve_size_decimals(obj: Any) -> int:
        return int(obj.market.size_decimals)

    @staticmethod
    def resolve_base_unit(obj: Any) -> str:
        return base_unit(obj.market)

    @staticmethod
    def resolve_centre_price(obj: Any) -> Decimal | None:
        return obj.centre_price() if hasattr(obj, "centre_price") else None


# -- orders, fills, events ----------------------------------------------------------------------


class OrderOut(Schema):
    """One order of ours, from intent to its final state and the exchange's reason."""

    id: int
    bot_id: int | None
    account_id: int
    market_id: int
    symbol: str
    client_order_index: int
    order_index: int | None
    side: SideName
    price: Money
    size_base: Money
    filled_base: Money
    fill_ratio: Money = Decimal("0")
    status: str
    exchange_status: str
    reason: str
    level_index: int | None
    tx_hash: str = ""
    sent_at: datetime | None = None
    resolved_at: datetime | None = None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_symbol(obj: Any) -> str:
        return str(obj.market.symbol)


class FillOut(Schema):
    """One trade of ours; `fee` is quote paid (negative for a rebate)."""

    id: int
    bot_id: int | None
    account_id: int
    market_id: int
    symbol: str
    order_id: int | None
    trade_id: int
    side: SideName
    price: Money
    size_base: Money
    fee: Money
    is_maker: bool
    level_index: int | None = None
    round_trip_id: int | None = None
    executed_at: datetime

    @staticmethod
    def resolve_symbol(obj: Any) -> str:
        return str(obj.market.symbol)


class EventOut(Schema):
    """One BotEvent: a decision, order, fill, error or operator action."""

    id: int
    bot_id: int
    account_id: int | None
    level: str
    kind: str
    message: str
    data: dict[str, Any]
    created_at: datetime


# The pushes' schemas, built by `payload` without validation (each of a fill's pushes).
_DIRECT: dict[type[Schema], _Plan] = {
    schema: _direct_plan(schema) for schema in (OrderOut, FillOut, EventOut)
}


class OrderPage(Schema):
    """A page of orders, newest first; pass `next_cursor` as `cursor` for the next page."""

    items: list[OrderOut]
    next_cursor: str | None


class FillPage(Schema):
    """A page of fills, newest first; pass `next_cursor` as `cursor` for the next page."""

    items: list[FillOut]
    next_cursor: str | None


class EventPage(Schema):
    """A page of events, newest first; pass `next_cursor` as `cursor` for the next page."""

    items: list[EventOut]
    next_cursor: str | None


# -- control and status -------------------------------------------------------------------------


class CancelReportOut(Schema):
    """A verified cancel on one account: orders cancelled and any still open after read-back."""

    account_id: int
    exchange_market_id: int | None = Field(description="null: every market of the account.")
    cancelled: int
    remaining: list[int] = Field(description="Exchange order indexes still open.")
    error: str
    verified: bool
    seconds: float = Field(
        description="From the operator's command to this account's answer (0: not measured)."
    )

    @staticmethod
    def resolve_exchange_market_id(obj: Any) -> int | None:
        return None if obj.market_id is None else int(obj.market_id)


class ControlOut(Schema):
    """The outcome of a control action: what was asked, the bots it touched, and for the
    exchange-wide controls the verified cancels per account (`verified` null when none ran)."""

    detail: str
    bots: list[GridBotOut]
    cancels: list[CancelReportOut] = Field(default_factory=list)
    verified: bool | None = None


class CancelAllIn(InputSchema):
    """Scope of a cancel-all, always explicit: `{"scope": "all"}` for every order everywhere,
    else one account and/or one market, or one bot. An empty body is refused, never "all"."""

    scope: Literal["all"] | None = Field(
        default=None, description='"all": every order of every account, in every market.'
    )
    account_id: Id | None = None
    market_id: Id | None = None
    bot_id: Id | None = Field(
        default=None, description="One bot's orders (like POST /bots/{bot_id}/cancel-all)."
    )

    @model_validator(mode="after")
    def _one_explicit_scope(self) -> CancelAllIn:
        narrowed = [name for name in ("account_id", "market_id", "bot_id") if getattr(self, name)]
        if self.scope == "all" and narrowed:
            raise PydanticCustomError(
                "scope_conflict",
                'scope "all" cannot be combined with {fields}.',
                {"fields": ", ".join(narrowed)},
            )
        if self.bot_id and len(narrowed) > 1:
            raise PydanticCustomError(
                "scope_conflict", "bot_id cannot be combined with account_id or market_id."
            )
        if self.scope is None and not narrowed:
            raise PydanticCustomError(
                "scope_required",
                'Say what to cancel: {"scope": "all"}, or account_id and/or market_id, or bot_id.',
            )
        return self


class StartIn(InputSchema):
    """Optional body of a start: the operator's answer when a position on the bot's account and
    market is not its own (README "How positions are owned")."""

    unattributed: Literal["adopt", "leave"] | None = Field(
        default=None,
        description='"adopt": the bot takes the position over (cost basis: the mark price when '
        'its runner starts); "leave": it stays unattributed, or with the stopped bot holding it.',
    )


class EmergencyStopIn(InputSchema):
    """The global emergency stop names its scope explicitly: `{"scope": "all"}`. One bot is
    `POST /bots/{bot_id}/emergency-stop`."""

    scope: Literal["all"] = Field(description='"all": every bot, every order, every account.')


class StatusOut(Schema):
    """The whole site at a glance: bots per status and per desired state, accounts, orders."""

    status: str
    bots_by_status: dict[str, int]
    bots_by_desired_state: dict[str, int]
    accounts: int
    open_orders: int
