"""The hedge bot's state table: every (state, event) pair is an edge or refused."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from bots.strategies.hedge import (
    TRANSITIONS,
    HedgeEvent,
    HedgeState,
    HedgeTransitionError,
    transition,
)

PAIRS = list(itertools.product(HedgeState, HedgeEvent))


@pytest.mark.parametrize(("state", "event"), PAIRS, ids=[f"{s}-{e}" for s, e in PAIRS])
def test_every_pair_is_an_edge_or_refused(state: HedgeState, event: HedgeEvent) -> None:
    if (state, event) in TRANSITIONS:
        assert transition(state, event) == TRANSITIONS[(state, event)]
    else:
        with pytest.raises(HedgeTransitionError):
            transition(state, event)


@pytest.mark.parametrize(
    ("state", "event", "expected"),
    [
        (HedgeState.IDLE, HedgeEvent.START, HedgeState.OPENING),
        (HedgeState.OPENING, HedgeEvent.HEDGE_DUE, HedgeState.HEDGING),
        (HedgeState.HEDGING, HedgeEvent.HEDGED, HedgeState.OPENING),
        (HedgeState.OPENING, HedgeEvent.OPENED, HedgeState.HOLDING),
        (HedgeState.HOLDING, HedgeEvent.HOLD_OVER, HedgeState.CLOSING),
        (HedgeState.CLOSING, HedgeEvent.HEDGE_DUE, HedgeState.HEDGING_CLOSE),
        (HedgeState.HEDGING_CLOSE, HedgeEvent.HEDGED, HedgeState.CLOSING),
        (HedgeState.CLOSING, HedgeEvent.CLOSED, HedgeState.COOLDOWN),
        (HedgeState.COOLDOWN, HedgeEvent.COOLDOWN_OVER, HedgeState.OPENING),
        (HedgeState.CLOSING, HedgeEvent.LAST_CYCLE, HedgeState.STOPPED),
        (HedgeState.HEDGING, HedgeEvent.HEDGE_FAILED, HedgeState.REPAIRING),
        (HedgeState.HOLDING, HedgeEvent.IMBALANCE, HedgeState.REPAIRING),
        (HedgeState.REPAIRING, HedgeEvent.REPAIRED_CLOSE, HedgeState.CLOSING),
        (HedgeState.REPAIRING, HedgeEvent.GIVE_UP, HedgeState.ERROR),
        (HedgeState.ERROR, HedgeEvent.STOP_LOSS, HedgeState.STOPPED),
    ],
)
def test_the_cycle_and_its_exits(
    state: HedgeState, event: HedgeEvent, expected: HedgeState
) -> None:
    assert transition(state, event) == expected


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (HedgeState.HEDGING, HedgeEvent.IMBALANCE),  # never repair under a hedge in flight
        (HedgeState.HEDGING, HedgeEvent.OPENED),  # never hold with B behind
        (HedgeState.REPAIRING, HedgeEvent.HEDGE_DUE),
        (HedgeState.ERROR, HedgeEvent.START),  # error stays until the operator restarts
        (HedgeState.STOPPED, HedgeEvent.STOP_LOSS),
        (HedgeState.IDLE, HedgeEvent.HEDGED),
        ("nonsense", HedgeEvent.START),
        (HedgeState.IDLE, "nonsense"),
    ],
)
def test_impossible_edges_raise(state: str, event: str) -> None:
    with pytest.raises(HedgeTransitionError):
        transition(state, event)


def test_error_and_stopped_are_left_only_by_the_stop_loss() -> None:
    for (state, event), _ in TRANSITIONS.items():
        if state in (HedgeState.ERROR, HedgeState.STOPPED):
            assert event is HedgeEvent.STOP_LOSS


def test_every_state_is_reachable_from_idle() -> None:
    reached = {HedgeState.IDLE}
    frontier = [HedgeState.IDLE]
    while frontier:
        state = frontier.pop()
        for (source, _), target in TRANSITIONS.items():
            if source is state and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(HedgeState)


def test_every_state_but_the_ends_has_a_way_out() -> None:
    exits = {source for (source, _), target in TRANSITIONS.items() if target is not source}
    assert exits >= set(HedgeState) - {HedgeState.STOPPED}


def _documented_edges() -> dict[tuple[HedgeState, HedgeEvent], HedgeState]:
    text = (Path(__file__).resolve().parents[3] / "docs" / "hedge.md").read_text()
    section = text.split("## The state machine", 1)[1].split("\n## ", 1)[0]
    edges: dict[tuple[HedgeState, HedgeEvent], HedgeState] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("from", "---"):
            continue
        sources, event, target = cells[0], HedgeEvent(cells[1]), HedgeState(cells[2])
        if sources == "any but stopped":
            states = [s for s in HedgeState if s is not HedgeState.STOPPED]
        else:
            states = [HedgeState(name) for name in sources.split(", ")]
        edges.update({(state, event): target for state in states})
    return edges


def test_the_table_in_the_docs_is_the_table_in_the_code() -> None:
    assert _documented_edges() == TRANSITIONS
