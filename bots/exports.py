"""CSV exports of a bot's fills, orders and events over a date range (admin action, REST API).

A read (selectors-style): rows come straight from the database, newest last, with prices and
sizes on their market's decimals, fees to USDC's 6 decimals and times in ISO 8601 UTC with
seconds. `since` is inclusive and `until` exclusive; fills are dated by their execution time,
orders and events by their creation. Text that a spreadsheet would run as a formula (a cell
starting with `=`, `+`, `-`, `@`, tab or carriage return, e.g. an exchange's reason) is prefixed
with `'`.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils.text import slugify

from bots import figures, permissions
from bots.models import BotEvent, Fill, Order

KINDS = ("fills", "orders", "events")
# What a caller needs, beyond seeing bots, to export each kind.
PERMISSIONS = {
    "fills": permissions.VIEW_FILL,
    "orders": permissions.VIEW_ORDER,
    "events": permissions.VIEW_EVENT,
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class _Export:
    header: tuple[str, ...]
    rows: Callable[[list[int], datetime | None, datetime | None], QuerySet[Any]]
    row: Callable[[Any], tuple[object, ...]]


def _when(value: datetime | None) -> str:
    return "" if value is None else value.isoformat(timespec="seconds")


def _between(
    rows: QuerySet[Any], field: str, since: datetime | None, until: datetime | None
) -> QuerySet[Any]:
    if since is not None:
        rows = rows.filter(**{f"{field}__gte": since})
    if until is not None:
        rows = rows.filter(**{f"{field}__lt": until})
    return rows.order_by(field, "pk")


def _fills(bot_ids: list[int], since: datetime | None, until: datetime | None) -> QuerySet[Any]:
    rows = Fill.objects.filter(bot_id__in=bot_ids).select_related("bot", "market", "order")
    return _between(rows, "executed_at", since, until)


def _fill_row(fill: Fill) -> tuple[object, ...]:
    market = fill.market
    return (
        fill.bot.name if fill.bot else "",
        market.symbol,
        _when(fill.executed_at),
        fill.trade_id,
        fill.side,
        figures.price(fill.price, market),
        figures.size(fill.size_base, market),
        figures.quote(fill.fee, exact=figures.SMALL_QUOTE),
        "maker" if fill.is_maker else "taker",
        "" if fill.level_index is None else fill.level_index,
        "" if fill.round_trip_id is None else fill.round_trip_id,
        fill.order.client_order_index if fill.order else "",
    )


def _orders(bot_ids: list[int], since: datetime | None, until: datetime | None) -> QuerySet[Any]:
    rows = Order.objects.filter(bot_id__in=bot_ids).select_related("bot", "market")
    return _between(rows, "created_at", since, until)


def _order_row(order: Order) -> tuple[object, ...]:
    market = order.market
    return (
        order.bot.name if order.bot else "",
        market.symbol,
        _when(order.created_at),
        order.client_order_index,
        "" if order.order_index is None else order.order_index,
        order.side,
        figures.price(order.price, market),
        figures.size(order.size_base, market),
        figures.size(order.filled_base, market),
        order.status,
        order.exchange_status,
        order.reason,
        "" if order.level_index is None else order.level_index,
        _when(order.sent_at),
        _when(order.resolved_at),
    )


def _events(bot_ids: list[int], since: datetime | None, until: datetime | None) -> QuerySet[Any]:
    rows = BotEvent.objects.filter(bot_id__in=bot_ids).select_related("bot")
    return _between(rows, "created_at", since, until)


def _event_row(event: BotEvent) -> tuple[object, ...]:
    return (event.bot.name, _when(event.created_at), event.level, event.kind, event.message)


EXPORTS = {
    "fills": _Export(
        (
            "bot", "symbol", "executed_at_utc", "trade_id", "side", "price_usdc", "size_base",
            "fee_usdc", "liquidity", "level", "round_trip_id", "client_order_index",
        ),
        _fills,
        _fill_row,
    ),
    "orders": _Export(
        (
            "bot", "symbol", "created_at_utc", "client_order_index", "order_index", "side",
            "price_usdc", "size_base", "filled_base", "status", "exchange_status", "reason",
            "level", "sent_at_utc", "resolved_at_utc",
        ),
        _orders,
        _order_row,
    ),
    "events": _Export(
        ("bot", "created_at_utc", "level", "kind", "message"), _events, _event_row
    ),
}  # fmt: skip


def _safe(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


class _Echo:
    """A file-like object whose write returns the line: csv.writer into a streaming response."""

    def write(self, value: str) -> str:
        return value


def export_lines(
    kind: str, bot_ids: Iterable[int], since: datetime | None, until: datetime | None
) -> Iterator[str]:
    """The CSV text of one export, line by line (header first)."""
    export = EXPORTS[kind]
    writer = csv.writer(_Echo())
    yield writer.writerow(export.header)
    for row in export.rows(list(bot_ids), since, until).iterator(chunk_size=2000):
        yield writer.writerow(
            [_safe(value) if not isinstance(value, Decimal) else value for value in export.row(row)]
        )


def aware(value: datetime | None) -> datetime | None:
    """A bound given without a zone is UTC (what the CSV's times are in)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def export_response(
    kind: str,
    bot_ids: Iterable[int],
    since: datetime | None,
    until: datetime | None,
    name: str,
) -> StreamingHttpResponse:
    """A streamed CSV download named `<name>-<kind>.csv`."""
    response = StreamingHttpResponse(
        export_lines(kind, bot_ids, since, until), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{slugify(name) or "bots"}-{kind}.csv"'
    response["Cache-Control"] = "no-store"
    return response
