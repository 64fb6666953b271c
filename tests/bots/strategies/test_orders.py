"""The order-state table: every (status, event) pair, one "active", one place statuses move."""

from __future__ import annotations

import ast
import itertools
from decimal import Decimal
from pathlib import Path

import pytest

from bots.models import OrderStatus as ModelStatus
from bots.strategies.orders import (
    ACTIVE,
    TRANSITIONS,
    OrderEvent,
    OrderStatus,
    OrderTransitionError,
    is_active,
    report_event,
    transition,
)

ROOT = Path(__file__).resolve().parents[3]
TERMINAL = {OrderStatus.FILLED, OrderStatus.CANCELED}
PAIRS = list(itertools.product(OrderStatus, OrderEvent))


def test_statuses_are_the_models_statuses() -> None:
    assert {s.value for s in OrderStatus} == set(ModelStatus.values)


@pytest.mark.parametrize(("status", "event"), PAIRS, ids=[f"{s}-{e}" for s, e in PAIRS])
def test_every_pair_is_an_edge_or_refused(status: OrderStatus, event: OrderEvent) -> None:
    if (status, event) in TRANSITIONS:
        assert transition(status, event) == TRANSITIONS[(status, event)]
    else:
        with pytest.raises(OrderTransitionError):
            transition(status, event)


@pytest.mark.parametrize("status", sorted(TERMINAL))
@pytest.mark.parametrize("event", list(OrderEvent))
def test_a_filled_or_cancelled_order_never_moves_elsewhere(
    status: OrderStatus, event: OrderEvent
) -> None:
    try:
        assert transition(status, event) == status
    except OrderTransitionError:
        pass


@pytest.mark.parametrize(
    ("status", "event", "expected"),
    [
        (OrderStatus.INTENT, OrderEvent.SENT, OrderStatus.PENDING),
        (OrderStatus.INTENT, OrderEvent.REFUSED, OrderStatus.REJECTED),
        (OrderStatus.PENDING, OrderEvent.RESTING, OrderStatus.OPEN),
        (OrderStatus.OPEN, OrderEvent.SENT, OrderStatus.OPEN),  # the report beat the record
        (OrderStatus.PARTIALLY_FILLED, OrderEvent.RESTING, OrderStatus.PARTIALLY_FILLED),
        (OrderStatus.UNKNOWN, OrderEvent.FILLED, OrderStatus.FILLED),
        (OrderStatus.REJECTED, OrderEvent.RESTING, OrderStatus.OPEN),  # executed after all
    ],
)
def test_edges_that_races_rely_on(
    status: OrderStatus, event: OrderEvent, expected: OrderStatus
) -> None:
    assert transition(status, event) == expected


@pytest.mark.parametrize(
    ("status", "event"),
    [
        (OrderStatus.FILLED, OrderEvent.RESTING),
        (OrderStatus.CANCELED, OrderEvent.FILLED),
        (OrderStatus.PENDING, OrderEvent.REFUSED),
        (OrderStatus.OPEN, OrderEvent.TIMED_OUT),
        ("nonsense", OrderEvent.SENT),
        (OrderStatus.OPEN, "nonsense"),
    ],
)
def test_impossible_edges_raise(status: str, event: str) -> None:
    with pytest.raises(OrderTransitionError):
        transition(status, event)


def test_unknown_is_active_everywhere() -> None:
    assert is_active(OrderStatus.UNKNOWN)
    assert ACTIVE == {
        OrderStatus.INTENT, OrderStatus.PENDING, OrderStatus.OPEN,
        OrderStatus.PARTIALLY_FILLED, OrderStatus.UNKNOWN,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("exchange_status", "active", "filled", "event"),
    [
        ("filled", False, Decimal("1"), OrderEvent.FILLED),
        ("open", True, Decimal("0"), OrderEvent.RESTING),
        ("open", True, Decimal("0.1"), OrderEvent.PARTIAL_FILL),
        ("canceled-post-only", False, Decimal("0"), OrderEvent.CANCELED),
        ("canceled-margin-not-allowed", False, Decimal("0"), OrderEvent.CANCELED),
        ("rejected", False, Decimal("0"), OrderEvent.REJECTED),
    ],
)
def test_exchange_reports_map_to_events(
    exchange_status: str, active: bool, filled: Decimal, event: OrderEvent
) -> None:
    assert report_event(exchange_status, active, filled) == event


def _status_writes(path: Path) -> list[str]:
    """`status=OrderStatus.X` keywords and `x.status = OrderStatus.X` assignments (X != INTENT)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        values: list[ast.expr] = []
        if isinstance(node, ast.keyword) and node.arg == "status":
            values.append(node.value)
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Attribute) and t.attr == "status" for t in node.targets
        ):
            values.append(node.value)
        for value in values:
            if (
                isinstance(value, ast.Attribute)
                and isinstance(value.value, ast.Name)
                and value.value.id in {"OrderStatus", "Status"}
                and value.attr != "INTENT"  # creation, not a change
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_the_table_is_the_only_place_order_statuses_change() -> None:
    sources = [
        p
        for p in (ROOT / "bots").rglob("*.py")
        if "migrations" not in p.parts and p.name != "orders.py"
    ]
    offenders = [hit for p in sources for hit in _status_writes(p)]
    assert offenders == []
