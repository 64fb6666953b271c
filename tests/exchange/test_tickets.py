"""Ticket state machine: exchange reports move a ticket along the table, never backwards."""

from __future__ import annotations

import asyncio
from dataclasses import astuple
from decimal import Decimal

import pytest

from exchange.tickets import (
    EARLY_REPORTS_KEPT,
    ENDED_TICKETS_KEPT,
    KEPT_S,
    TRANSITIONS,
    Ticket,
    TicketBook,
    TicketBookSize,
    TicketEvent,
    TicketState,
    TicketTransitionError,
    transition,
)
from exchange.types import OrderInfo, OrderSide, TxResult


def _ticket(**kw) -> Ticket:
    base = dict(
        client_order_index=7,
        market_id=0,
        side=OrderSide.BUY,
        price=Decimal("100"),
        size=Decimal("2"),
        tx_hash="h",
    )
    return Ticket(**(base | kw))


def _order(status: str, filled: str = "0", **kw) -> OrderInfo:
    base = dict(
        order_index=2**48 + 1,
        client_order_index=7,
        market_id=0,
        side=OrderSide.BUY,
        order_type="limit",
        time_in_force="good-till-time",
        price=Decimal("100"),
        initial_size=Decimal("2"),
        remaining_size=Decimal("2") - Decimal(filled),
        filled_size=Decimal(filled),
        filled_quote=Decimal(filled) * 100,
        status=status,
        reduce_only=False,
        trigger_price=Decimal(0),
        owner_account_index=1,
    )
    return OrderInfo(**(base | kw))


@pytest.mark.parametrize(
    ("status", "filled", "state", "final", "reason"),
    [
        ("open", "0", TicketState.RESTING, False, ""),
        ("open", "1", TicketState.PARTIALLY_FILLED, False, ""),
        ("filled", "2", TicketState.FILLED, True, ""),
        ("canceled-post-only", "0", TicketState.REJECTED, True, "canceled-post-only"),
        (
            "canceled-too-much-slippage",
            "1",
            TicketState.PARTIALLY_FILLED,
            True,
            "canceled-too-much-slippage",
        ),
    ],
)
def test_order_reports_resolve_a_submitted_ticket(status, filled, state, final, reason):
    ticket = _ticket().with_order(_order(status, filled))
    assert (ticket.state, ticket.is_final, ticket.reason) == (state, final, reason)
    assert ticket.order_index == 2**48 + 1 and ticket.filled_size == Decimal(filled)


def test_partial_fill_ratio_and_average_price():
    ticket = _ticket().with_order(_order("open", "0.5"))
    assert ticket.fill_ratio == Decimal("0.25") and ticket.average_price == Decimal(100)


def test_terminal_states_never_reopen():
    for final in (TicketState.FILLED, TicketState.REJECTED):
        with pytest.raises(TicketTransitionError):
            transition(final, TicketEvent.OPEN)


def test_every_state_survives_a_timeout_edge():
    for state in TicketState:
        assert (state, TicketEvent.TIMEOUT) in TRANSITIONS


def test_timeout_makes_a_submitted_ticket_unknown_but_keeps_a_resting_one():
    assert _ticket().timed_out().state is TicketState.UNKNOWN
    resting = _ticket().with_order(_order("open"))
    assert resting.timed_out().state is TicketState.RESTING


def test_unknown_ticket_can_still_be_reconciled_to_filled():
    ticket = _ticket().timed_out().with_order(_order("filled", "2"))
    assert ticket.state is TicketState.FILLED


def test_failed_transaction_rejects_with_the_sequencer_error():
    ticket = _ticket().with_tx(TxResult("h", status=0, tx_type=14, error="not enough margin"))
    assert ticket.state is TicketState.REJECTED and ticket.reason == "not enough margin"


def test_executed_transaction_alone_does_not_resolve_a_ticket():
    ticket = _ticket().with_tx(TxResult("h", status=2, tx_type=14))
    assert ticket.state is TicketState.SUBMITTED and not ticket.is_resolved


def test_book_keeps_a_report_that_arrives_before_the_ticket():
    book = TicketBook()
    assert book.apply_order(_order("open")) is None
    book.track(_ticket())
    assert book.get(7).state is TicketState.RESTING


def test_book_ignores_a_late_report_of_an_older_state():
    book = TicketBook()
    book.track(_ticket())
    book.apply_order(_order("filled", "2"))
    book.apply_order(_order("open"))
    assert book.get(7).state is TicketState.FILLED


async def test_waiter_wakes_on_a_report_and_times_out_without_one():
    book = TicketBook()
    book.track(_ticket())
    assert await book.wait_changed(7, 0.01) is False
    waiter = asyncio.create_task(book.wait_changed(7, 5))
    await asyncio.sleep(0)
    book.apply_order(_order("open"))
    assert await waiter is True


def test_pending_lists_only_unfinished_tickets():
    book = TicketBook()
    book.track(_ticket())
    book.track(_ticket(client_order_index=8))
    book.apply_order(_order("filled", "2"))
    assert [t.client_order_index for t in book.pending()] == [8]


def test_ten_thousand_orders_leave_only_live_tickets_and_a_bounded_tail():
    # A long run: every order is tracked, reported resting, then filled or cancelled. Reports
    # also arrive early (before track) and late (after the order ended).
    book = TicketBook()
    live_at_most = 50
    largest = book.size()
    for index in range(1, 10_001):
        if index % 7 == 0:  # the stream was faster than the sendTx reply
            book.apply_order(_order("open", client_order_index=index))
        book.track(_ticket(client_order_index=index))
        book.apply_order(_order("open", client_order_index=index))
        ending = index - live_at_most
        if ending > 0:
            status, filled = ("filled", "2") if ending % 2 else ("canceled", "0")
            book.apply_order(_order(status, filled, client_order_index=ending))
            book.apply_order(_order("open", client_order_index=ending))  # late, older state
        size = book.size()
        largest = TicketBookSize(*map(max, astuple(largest), astuple(size)))
    assert book.size() == TicketBookSize(
        open=live_at_most, events=live_at_most, ended=ENDED_TICKETS_KEPT, early_reports=0
    )
    assert largest == book.size()  # never more on the way either
    assert {t.client_order_index for t in book.pending()} == set(range(9_951, 10_001))


def test_reports_of_orders_never_tracked_here_stay_bounded():
    # The account stream reports every order of the account, other bots' included.
    book = TicketBook()
    for index in range(1, 5_001):
        book.apply_order(_order("open", client_order_index=index))
    assert book.size().early_reports == EARLY_REPORTS_KEPT
    assert book.get(5_000) is None and book.size().open == 0


def test_an_ended_ticket_drops_its_event_but_is_still_found_and_stays_final():
    book = TicketBook()
    book.track(_ticket())
    book.apply_order(_order("canceled"))
    assert book.size() == TicketBookSize(open=0, events=0, ended=1, early_reports=0)
    assert book.get(7).state is TicketState.REJECTED
    assert book.apply_order(_order("open")).state is TicketState.REJECTED
    assert book.pending() == []


async def test_a_waiter_wakes_when_its_ticket_ends_and_later_waits_return_at_once():
    book = TicketBook()
    book.track(_ticket())
    waiter = asyncio.create_task(book.wait_changed(7, 5))
    await asyncio.sleep(0)
    book.apply_order(_order("filled", "2"))
    assert await waiter is True
    assert await book.wait_changed(7, 5) is True


def test_the_oldest_ended_tickets_are_forgotten_first():
    book = TicketBook(ended_kept=2)
    for index in (1, 2, 3):
        book.track(_ticket(client_order_index=index))
        book.apply_order(_order("filled", "2", client_order_index=index))
    assert [book.get(i) is not None for i in (1, 2, 3)] == [False, True, True]


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_quiet_books_ended_tickets_and_stray_reports_are_forgotten_after_a_minute():
    # A long-running worker: each bot's book filled up to the counts (1,000 ended tickets and
    # 1,000 reports of other bots' orders), 2,000 objects a bot that every full garbage
    # collection walked for as long as the worker ran.
    clock = _Clock()
    book = TicketBook(clock=clock)
    for index in range(1, 1_201):
        book.track(_ticket(client_order_index=index))
        book.apply_order(_order("filled", "2", client_order_index=index))
        book.apply_order(_order("open", client_order_index=100_000 + index))  # another bot's
    assert book.size() == TicketBookSize(
        open=0, events=0, ended=ENDED_TICKETS_KEPT, early_reports=EARLY_REPORTS_KEPT
    )
    clock.now += KEPT_S - 1
    book.track(_ticket(client_order_index=5_000))
    book.apply_order(_order("canceled", client_order_index=5_000))
    book.apply_order(_order("open", client_order_index=200_000))
    assert book.get(1_200) is not None  # within the minute: still found, late reports fold in
    clock.now += 2
    book.track(_ticket(client_order_index=5_001))
    book.apply_order(_order("canceled", client_order_index=5_001))
    book.apply_order(_order("open", client_order_index=200_001))
    assert book.size() == TicketBookSize(open=0, events=0, ended=2, early_reports=2)
    assert book.get(1_200) is None
    assert book.get(5_000).state is TicketState.REJECTED


def test_an_early_report_is_kept_for_its_ticket_only_within_the_minute():
    clock = _Clock()
    book = TicketBook(clock=clock)
    book.apply_order(_order("open", client_order_index=7))  # the stream beat the sendTx reply
    book.apply_order(_order("open", client_order_index=8))
    book.track(_ticket(client_order_index=7))
    assert book.get(7).state is TicketState.RESTING
    clock.now += KEPT_S + 1
    book.apply_order(_order("open", client_order_index=9))  # any later report expires the old
    book.track(_ticket(client_order_index=8))
    assert book.get(8).state is TicketState.SUBMITTED  # a report a minute old is not applied
    assert book.size().early_reports == 1


def test_a_ticket_ended_again_is_stamped_anew_and_forgotten_once():
    clock = _Clock()
    book = TicketBook(clock=clock, ended_kept=3)
    for index in (1, 2, 3):
        book.track(_ticket(client_order_index=index))
        book.apply_order(_order("filled", "2", client_order_index=index))
    clock.now += KEPT_S - 1
    book.track(_ticket(client_order_index=1, state=TicketState.REJECTED, reason="canceled"))
    clock.now += 2
    book.track(_ticket(client_order_index=4, state=TicketState.REJECTED, reason="canceled"))
    assert [book.get(i) is not None for i in (1, 2, 3, 4)] == [True, False, False, True]


def test_tracking_an_already_final_ticket_keeps_no_event():
    book = TicketBook()
    book.track(_ticket(state=TicketState.REJECTED, reason="never executed by the exchange"))
    assert book.size() == TicketBookSize(open=0, events=0, ended=1, early_reports=0)
