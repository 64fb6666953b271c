"""Deterministic fault injection, switchable at runtime through ``POST /sim/faults``.

A rule names a fault ``kind``, a ``target`` (a REST endpoint such as ``sendTx``, a websocket
channel kind such as ``order_book``, or ``*`` for all), a ``probability`` drawn from a seeded RNG
and an optional ``count`` after which the rule switches itself off (e.g. a burst of five 429s).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

FAULT_KINDS = frozenset(
    {
        "latency",  # REST: delay the reply by latency_ms
        "http_429",  # REST: answer 429 / 23000
        "http_5xx",  # REST: answer 503 / 29500
        "ws_drop",  # WS: close the connection (target: channel kind or *)
        "ws_lose",  # WS: lose one frame, keep the connection (target: channel kind or *)
        "missed_pong",  # WS: ignore the client's pongs, so it gets dropped with 1008 "no pong"
        "tx_never_executed",  # sendTx: accept (200) but never hand the tx to the engine
        "partial_fill",  # sendTx: halve taker order sizes (IOC / market) before execution
        "stale_book",  # WS order_book: stop sending deltas
    }
)


class FaultConfigError(ValueError):
    """A fault rule was malformed."""


@dataclass
class FaultRule:
    """One switch. ``count`` None means unlimited; ``probability`` 1.0 means always."""

    kind: str
    target: str = "*"
    probability: float = 1.0
    count: int | None = None
    latency_ms: int = 0
    status: int = 503

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultRule:
        """Build a rule from JSON, rejecting unknown kinds and fields."""
        unknown = set(data) - {
            "kind",
            "target",
            "probability",
            "count",
            "latency_ms",
            "status",
        }
        if unknown:
            raise FaultConfigError(f"unknown fault fields: {sorted(unknown)}")
        kind = data.get("kind")
        if kind not in FAULT_KINDS:
            raise FaultConfigError(f"unknown fault kind: {kind!r}")
        probability = float(data.get("probability", 1.0))
        if not 0.0 <= probability <= 1.0:
            raise FaultConfigError("probability must be within [0, 1]")
        count = data.get("count")
        return cls(
            kind=str(kind),
            target=str(data.get("target", "*")),
            probability=probability,
            count=None if count is None else int(count),
            latency_ms=int(data.get("latency_ms", 0)),
            status=int(data.get("status", 503)),
        )


class FaultInjector:
    """Holds the active rules and decides, reproducibly under ``seed``, which one fires."""

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._rng = random.Random(seed)
        self._rules: list[FaultRule] = []

    def set_rules(self, rules: list[FaultRule], *, seed: int | None = None) -> None:
        """Replace all rules (and reseed, so a scenario replays identically)."""
        if seed is not None:
            self._seed = seed
        self._rng = random.Random(self._seed)
        self._rules = list(rules)

    def add_rule(self, rule: FaultRule) -> None:
        """Add one rule to the active set."""
        self._rules.append(rule)

    def clear(self) -> None:
        """Switch every fault off."""
        self._rules = []

    def fire(self, kind: str, target: str) -> FaultRule | None:
        """Return the first matching rule that fires now (consuming one of its ``count``)."""
        for rule in self._rules:
            if rule.kind != kind or rule.target not in ("*", target):
                continue
            if rule.count is not None and rule.count <= 0:
                continue
            if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                continue
            if rule.count is not None:
                rule.count -= 1
            return rule
        return None

    def active(self, kind: str, target: str) -> bool:
        """Whether a rule of ``kind`` for ``target`` is switched on (does not consume it)."""
        return any(
            r.kind == kind and r.target in ("*", target) and (r.count is None or r.count > 0)
            for r in self._rules
        )

    def state(self) -> dict[str, Any]:
        """JSON-ready list of the active rules."""
        return {"seed": self._seed, "rules": [asdict(r) for r in self._rules]}
