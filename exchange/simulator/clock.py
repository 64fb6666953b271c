"""The simulator's clock: the engine never reads time, the server hands it ``now_ms`` from here.

Three modes: real time (default), real time scaled by a ``speed`` multiplier (fast-forward for
demos and soaks), and manual (tests drive time explicitly through ``/sim/clock``).

Clients live by their own (wall) clock whatever the venue's speed: auth-token expiry and the
request budget's rolling window are read on `client_now_ms()`, so at ``--speed 100`` a token
valid for an hour still lasts an hour and at 0.4 a minute of requests is still a minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class SimClock:
    """Simulated wall clock in unix milliseconds.

    With ``manual`` set, time only moves through :meth:`advance` / :meth:`set`. Otherwise
    simulated time runs at ``speed`` times real time from the moment the clock was (re)anchored.
    """

    speed: float = 1.0
    manual: bool = False
    _anchor_sim_ms: int | None = None
    _anchor_wall_ms: int | None = None
    # The machine's clock in unix ms (replaceable so tests can let real time pass instantly).
    wall: Callable[[], int] = field(default=_wall_ms, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._anchor_sim_ms is None:
            self._anchor_sim_ms = self.wall()
        if self._anchor_wall_ms is None:
            self._anchor_wall_ms = self.wall()

    def now_ms(self) -> int:
        """Current simulated time in unix ms."""
        assert self._anchor_sim_ms is not None and self._anchor_wall_ms is not None
        if self.manual:
            return self._anchor_sim_ms
        elapsed = self.wall() - self._anchor_wall_ms
        # speed is a dimensionless multiplier on elapsed milliseconds, not money: float is fine.
        return self._anchor_sim_ms + int(elapsed * self.speed)

    def client_now_ms(self) -> int:
        """The time clients read on their own clocks: the wall clock while the venue's clock
        runs (at any speed); in manual mode the driven time, since nothing else moves then."""
        return self.now_ms() if self.manual else self.wall()

    def _reanchor(self) -> None:
        self._anchor_sim_ms = self.now_ms()
        self._anchor_wall_ms = self.wall()

    def set_speed(self, speed: float) -> None:
        """Run at ``speed`` times real time from now on (leaves manual mode)."""
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._reanchor()
        self.manual = False
        self.speed = speed

    def set_manual(self, manual: bool) -> None:
        """Freeze (manual) or resume (real/speed) the clock at the current simulated time."""
        self._reanchor()
        self.manual = manual

    def advance(self, delta_ms: int) -> int:
        """Move simulated time forward by ``delta_ms`` (manual mode only); returns the new time."""
        if not self.manual:
            raise ValueError("the clock is not in manual mode")
        if delta_ms < 0:
            raise ValueError("time never goes backwards")
        self._anchor_sim_ms = self.now_ms() + delta_ms
        return self._anchor_sim_ms

    def catch_up(self, now_ms: int) -> int:
        """Move simulated time up to `now_ms` if it is behind, in any mode (a venue restored
        from a file saved ahead of the wall clock never goes back in time); returns the time."""
        behind = now_ms - self.now_ms()
        if behind > 0 and self._anchor_sim_ms is not None:
            self._anchor_sim_ms += behind
        return self.now_ms()

    def set(self, now_ms: int) -> int:
        """Jump to ``now_ms`` (manual mode only, never backwards); returns the new time."""
        return self.advance(now_ms - self.now_ms())

    def state(self) -> dict[str, object]:
        """JSON-ready description for ``/sim/clock``."""
        return {"now_ms": self.now_ms(), "manual": self.manual, "speed": self.speed}
