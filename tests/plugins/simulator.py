"""Simulator fixtures: a Lighter-compatible exchange in-process on a free port, zero latency.

The server runs on its own thread and event loop: the SDK's Go signer makes blocking HTTP calls
(apikeys, nextNonce) that would deadlock a server sharing the test's loop.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

# Account indexes and L1 addresses unique per test process, so state kept outside the simulator
# (Redis nonces and budgets keyed by account or address) never leaks from one test into another.
_ACCOUNT_SERIALS = itertools.count(1)

TEST_CONFIG: dict[str, Any] = {
    "seed": 7,
    "latency_ms": 0,
    "price_paths": {
        "0": {"kind": "flat"},
        "1": {"kind": "flat"},
        "2": {"kind": "flat"},
    },
    "liquidity": {"enabled": True, "levels": 5, "step_bps": 5, "size_quote": "5000"},
    "funding_enabled": False,
    "rate_limits": {"enabled": False},
}


@dataclass
class SimAccount:
    """A funded account with one real API key (private key kept out of repr)."""

    index: int
    l1_address: str
    api_key_index: int
    private_key: str = field(repr=False)


class RunningSimulator:
    """Handle on a simulator running on a background thread."""

    def __init__(self, server: Any, loop: asyncio.AbstractEventLoop, port: int) -> None:
        self.server = server
        self.loop = loop
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/stream"
        self._accounts = 0

    @property
    def engine(self) -> Any:
        """The engine (read it through :meth:`call` while the server runs)."""
        return self.server.engine

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's loop thread (no race with the engine) and return its value."""

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=10)

    def run(self, coro_factory: Callable[[], Any]) -> Any:
        """Await ``coro_factory()`` on the server's loop (e.g. one feed tick) and return it."""
        return asyncio.run_coroutine_threadsafe(coro_factory(), self.loop).result(timeout=10)

    def sim(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call a ``/sim/`` endpoint synchronously; returns the decoded JSON."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.loads(reply.read())

    def create_account(
        self, collateral: str = "100000", *, api_key_index: int = 3, tier: str = "standard"
    ) -> SimAccount:
        """A funded account with a freshly generated real API key."""
        from lighter.signer_client import create_api_key

        private_key, public_key, err = create_api_key()
        assert err is None, err
        self._accounts += 1
        serial = next(_ACCOUNT_SERIALS)
        l1 = "0x" + f"{serial:040x}"
        reply = self.sim(
            "POST",
            "/sim/accounts",
            {
                "l1_address": l1,
                "index": 1000 + serial,
                "collateral": collateral,
                "api_keys": {str(api_key_index): public_key},
                "tier": tier,
            },
        )
        return SimAccount(reply["index"], l1, api_key_index, private_key)

    def advance(self, ms: int) -> dict[str, Any]:
        """Move the manual clock forward and run everything due."""
        result: dict[str, Any] = self.sim("POST", "/sim/clock", {"advance_ms": ms})
        return result

    def faults(self, *rules: dict[str, Any], seed: int = 1) -> None:
        """Replace the active fault rules."""
        self.sim("POST", "/sim/faults", {"rules": list(rules), "seed": seed})

    def ratelimit(self, **settings: Any) -> None:
        """Change the request budget (e.g. ``enabled=True, standard_per_minute=3``)."""
        self.sim("POST", "/sim/ratelimit", settings)


def run_simulator(
    config: dict[str, Any] | None = None,
    *,
    manual_clock: bool = True,
    clock: Any = None,
    ping_interval_s: float = 30.0,
    pong_timeout_s: float = 10.0,
    port: int = 0,
    **server_options: Any,
) -> Iterator[RunningSimulator]:
    """Start a simulator thread, yield its handle, stop it (a generator for fixtures).

    `clock` replaces the default manual/real clock; `server_options` go to SimServer (e.g.
    ``state_file=`` for a durable venue)."""
    # Imported here so that collecting unrelated tests never depends on the simulator.
    from exchange.simulator.clock import SimClock
    from exchange.simulator.config import SimConfig
    from exchange.simulator.server import SimServer

    sim_config = SimConfig.from_dict(config or TEST_CONFIG)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, Any] = {}

    def serve() -> None:
        asyncio.set_event_loop(loop)
        sim_clock = clock
        if sim_clock is None:
            sim_clock = SimClock()
            sim_clock.set_manual(manual_clock)
        server = SimServer(
            sim_config,
            clock=sim_clock,
            ping_interval_s=ping_interval_s,
            pong_timeout_s=pong_timeout_s,
            **server_options,
        )
        box["server"] = server
        box["port"] = loop.run_until_complete(server.start(port=port))
        ready.set()
        loop.run_forever()
        loop.run_until_complete(server.stop())
        loop.close()

    thread = threading.Thread(target=serve, name="lighter-sim", daemon=True)
    thread.start()
    assert ready.wait(timeout=30), "simulator did not start"
    handle = RunningSimulator(box["server"], loop, box["port"])
    try:
        yield handle
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)


@pytest.fixture
def simulator() -> Iterator[RunningSimulator]:
    """A fresh simulator (manual clock, latency 0, rate limits off) per test."""
    yield from run_simulator()


@pytest.fixture
def funded_account(simulator: RunningSimulator) -> SimAccount:
    """An account with 100,000 USDC and a real API key at index 3."""
    return simulator.create_account()


def signer_client(sim: RunningSimulator, account: SimAccount, **kwargs: Any) -> Any:
    """A real ``lighter.SignerClient`` for ``account`` against ``sim`` (close it when done)."""
    import lighter

    return lighter.SignerClient(
        sim.base_url, account.index, {account.api_key_index: account.private_key}, **kwargs
    )


def api_client(sim: RunningSimulator) -> Any:
    """A real ``lighter.ApiClient`` for ``sim`` (close it when done)."""
    import lighter

    return lighter.ApiClient(configuration=lighter.Configuration(host=sim.base_url))


def auth_token(client: Any, account: SimAccount, deadline_s: int = 600) -> str:
    """A fresh auth token made by the SDK's signer."""
    token, err = client.create_auth_token_with_expiry(
        deadline_s, api_key_index=account.api_key_index
    )
    assert err is None, err
    return str(token)


class WsProbe:
    """A raw websocket client for protocol tests: send JSON, wait for a matching frame."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def send(self, frame: dict[str, Any]) -> None:
        """Send one JSON frame."""
        await self.ws.send_str(json.dumps(frame))

    async def expect(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0
    ) -> dict[str, Any]:
        """The next frame matching ``predicate`` (earlier ones are kept in ``seen``)."""

        async def wait() -> dict[str, Any]:
            while True:
                frame = await self.ws.receive_json()
                self.seen.append(frame)
                if predicate(frame):
                    return dict(frame)

        return await asyncio.wait_for(wait(), timeout)

    async def expect_type(self, frame_type: str, timeout: float = 5.0) -> dict[str, Any]:
        """The next frame of ``type``."""
        return await self.expect(lambda f: f.get("type") == frame_type, timeout)


def ws_connect(sim: RunningSimulator) -> Any:
    """``async with ws_connect(sim) as probe``: a connected :class:`WsProbe`."""
    import contextlib

    import aiohttp

    @contextlib.asynccontextmanager
    async def connect() -> Any:
        async with aiohttp.ClientSession() as session, session.ws_connect(sim.ws_url) as ws:
            yield WsProbe(ws)

    return connect()
