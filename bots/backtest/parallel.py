"""Running many backtest configs over the same candles, in worker processes (pure: no Django).

`run_configs` hands the configs out one at a time to `processes` worker processes (1: in this
process), reports each finished config to `done(index, row)` as it comes, and asks `stop()`
between configs and every `POLL_S` while they run: once it says so, no further config is handed
out and the running ones end at once (their processes are terminated; in-process, the kernel's
progress callback ends the run). Each config runs the kernel's public `run` on the same data, so
a row is the same whichever process ran it and in whatever order: parallel equals serial.

Processes come from billiard (Celery's fork of multiprocessing): the sweep's task runs in a
prefork worker's child, which is daemonic, and the standard library refuses to start processes
from a daemonic one. The children are forked, so the candles are shared without being copied
through a pipe; they only compute and leave with `os._exit`, never touching the parent's
database or Redis connections.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import billiard
import billiard.connection

from bots.backtest import engine, kernel

# How often a parent waiting on its workers asks `stop()` (how prompt a cancel is).
POLL_S = 0.2
JOIN_TIMEOUT_S = 5.0

Row = dict[str, Any]
# A config: its settings, or the reason the grid refused it (a row with that error).
Config = kernel.Settings | str


class Stopped(Exception):
    """Raised from the kernel's progress callback to end an in-process run early."""


def processes_for(configured: int, configs: int) -> int:
    """Worker processes for `configs` configs: `configured` (0: one per core), never more than
    there are configs, at least 1 (1 means in this process)."""
    cores = configured if configured > 0 else (os.cpu_count() or 1)
    return max(1, min(cores, configs))


def row_of(
    settings: Config,
    candles: kernel.CandleSeries,
    funding: Mapping[int, Decimal],
    figures: Sequence[str],
    progress: Callable[[int, int], None] | None = None,
) -> Row:
    """The figures of one config (or its error: a combination the grid refuses)."""
    if isinstance(settings, str):
        return {"error": settings}
    try:
        summary = engine.run(settings, candles, funding, progress).summary()
    except ValueError as exc:  # e.g. an off-tick step the grid refuses
        return {"error": str(exc)}
    return {name: summary[name] for name in figures}


def run_configs(
    configs: Sequence[Config],
    candles: kernel.CandleSeries,
    funding: Mapping[int, Decimal],
    figures: Sequence[str],
    *,
    processes: int,
    stop: Callable[[], bool],
    done: Callable[[int, Row], None],
) -> bool:
    """Run every config (see the module's docstring); False when `stop()` ended it early."""
    if processes <= 1:
        return _serial(configs, candles, funding, figures, stop, done)
    return _parallel(configs, candles, funding, figures, processes, stop, done)


def _serial(
    configs: Sequence[Config],
    candles: kernel.CandleSeries,
    funding: Mapping[int, Decimal],
    figures: Sequence[str],
    stop: Callable[[], bool],
    done: Callable[[int, Row], None],
) -> bool:
    def check(_done: int, _total: int) -> None:
        if stop():
            raise Stopped

    for index, settings in enumerate(configs):
        if stop():
            return False
        try:
            row = row_of(settings, candles, funding, figures, check)
        except Stopped:
            return False
        done(index, row)
    return True


def _serve(conn: Any, candles: kernel.CandleSeries, funding: Mapping[int, Decimal],
           figures: Sequence[str]) -> None:  # fmt: skip
    """A worker process: run the configs it is sent until it is sent None."""
    while True:
        job = conn.recv()
        if job is None:
            return
        index, settings = job
        conn.send((index, row_of(settings, candles, funding, figures)))


def _parallel(
    configs: Sequence[Config],
    candles: kernel.CandleSeries,
    funding: Mapping[int, Decimal],
    figures: Sequence[str],
    processes: int,
    stop: Callable[[], bool],
    done: Callable[[int, Row], None],
) -> bool:
    context = billiard.get_context("fork")
    workers: list[tuple[Any, Any]] = []
    pending = iter(enumerate(configs))
    busy: set[Any] = set()
    finished = False

    def hand_out(conn: Any) -> None:
        job = next(pending, None)
        if job is not None:
            conn.send(job)
            busy.add(conn)

    try:
        for _ in range(processes):
            parent_end, child_end = context.Pipe()
            process = context.Process(
                target=_serve, args=(child_end, candles, funding, tuple(figures)), daemon=True
            )
            process.start()
            child_end.close()
            workers.append((process, parent_end))
            hand_out(parent_end)
        while busy:
            if stop():
                return False
            for conn in billiard.connection.wait(list(busy), timeout=POLL_S):
                try:
                    index, row = conn.recv()
                except EOFError:
                    raise RuntimeError("a sweep worker process died") from None
                busy.discard(conn)
                done(index, row)
                if stop():
                    return False
                hand_out(conn)
        for _, conn in workers:
            conn.send(None)
        finished = True
        return True
    finally:
        # A cancel (or an error) ends the configs still running: terminate, not wait.
        for process, _ in workers:
            if not finished and process.is_alive():
                process.terminate()
        for process, conn in workers:
            process.join(JOIN_TIMEOUT_S)
            if process.is_alive():
                process.kill()
                process.join()
            conn.close()
