"""The simulator server: one aiohttp app (REST + ``/stream`` + ``/sim/``) around the engine.

The engine never reads the clock; this server owns it and calls ``engine.advance(now)`` every
``tick_ms`` from a background task, right after accepting a tx whose latency is zero (so tests
never wait), and diffs the books for the websocket every 50 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from exchange.simulator import payloads, signing, snapshot
from exchange.simulator.admin_api import AdminApi
from exchange.simulator.auth import (
    AUTH_ERROR_CODE,
    AUTH_HTTP_STATUS,
    AuthError,
    AuthToken,
    check_token,
)
from exchange.simulator.channels import ChannelSnapshots
from exchange.simulator.clock import SimClock
from exchange.simulator.config import SimConfig
from exchange.simulator.engine import Engine
from exchange.simulator.faults import FaultInjector
from exchange.simulator.feeds import Feeds
from exchange.simulator.loopback import require_loopback
from exchange.simulator.ratelimit import RequestBudget, read_account
from exchange.simulator.rest import MarketRest, auth_token
from exchange.simulator.rest_accounts import AccountRest
from exchange.simulator.store import SAVE_INTERVAL_S, StateKeeper, id_floor, wall_ms
from exchange.simulator.types import Account, SimError, TxRecord
from exchange.simulator.ws import WsHub

logger = logging.getLogger(__name__)


class DebugAccessLogger(AbstractAccessLogger):
    """One line per request at DEBUG (aiohttp's default is INFO): a bot's polling would fill the
    log with hundreds of lines a minute. LOG_LEVEL=DEBUG shows them."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.debug(
            "%s %s %s %.1fms", request.method, request.path, response.status, time * 1000
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.DEBUG)


SEND_TX_MESSAGE = json.dumps({"ratelimit": "didn't use volume quota"})
TOO_MANY_REQUESTS = {"code": 23000, "message": "Too Many Requests!"}
BOOK_INTERVAL_MS = 50


class SimServer:
    """Engine + clock + budget + faults + websocket hub, served by one aiohttp app."""

    def __init__(
        self,
        config: SimConfig,
        *,
        clock: SimClock | None = None,
        rate_limits: bool | None = None,
        fault_seed: int | None = None,
        tick_ms: int = 10,
        ping_interval_s: float = 30.0,
        pong_timeout_s: float = 10.0,
        state_file: Path | None = None,
        fresh: bool = False,
        save_interval_s: float = SAVE_INTERVAL_S,
    ) -> None:
        self.config = config
        self.clock = clock or SimClock()
        # With a state file the venue is durable (restored here, saved while it runs and on
        # stop); without one (tests) it lives in memory and its ids count from 1.
        self.keeper = (
            None
            if state_file is None
            else StateKeeper(state_file, fresh=fresh, interval_s=save_interval_s)
        )
        if self.keeper is None:
            self.engine = Engine(config, now_ms=self.clock.now_ms())
        else:
            self.engine = self.keeper.open_engine(config, self.clock)
        limits = config.rate_limits
        self.budget = RequestBudget(
            enabled=limits.enabled if rate_limits is None else rate_limits,
            standard_per_minute=limits.standard_per_minute,
            premium_weight_per_minute=limits.premium_weight_per_minute,
        )
        self.faults = FaultInjector(config.seed if fault_seed is None else fault_seed)
        self.tick_ms = tick_ms
        self.hub = WsHub(self, ping_interval_s=ping_interval_s, pong_timeout_s=pong_timeout_s)
        self.feeds = Feeds(self.engine, self.hub, is_stale=self.book_is_stale)
        self.channels = ChannelSnapshots(self.engine, self.feeds)
        self._tasks: list[asyncio.Task[None]] = []
        self._dispatch_lock = asyncio.Lock()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- app ----------------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        """The aiohttp application (REST, websocket, ``/sim/``)."""
        app = web.Application(middlewares=[self._middleware])
        app.add_routes(MarketRest(self).routes())
        app.add_routes(AccountRest(self).routes())
        app.add_routes(AdminApi(self).routes())
        app.router.add_get("/stream", self.hub.handle)
        app.on_startup.append(self._on_startup)
        app.on_cleanup.append(self._on_cleanup)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve on ``host:port`` (0 = a free port, loopback hosts only); returns the port."""
        require_loopback(host)
        self._runner = web.AppRunner(
            self.build_app(), handle_signals=False, access_log_class=DebugAccessLogger
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
        logger.info("lighter simulator listening on http://%s:%s", host, self.port)
        return self.port

    async def stop(self) -> None:
        """Close every websocket and stop serving; a durable venue then saves itself."""
        await self.hub.drop_all(reason="shutdown", announce=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.keeper is not None:
            await self.keeper.close(self.engine, self.clock)

    async def reset_state(self) -> None:
        """Start the venue over from its config (accounts re-funded, no orders, no history),
        with ids above every id handed out before; websockets are dropped so clients resync."""
        self.engine = snapshot.fresh_engine(
            self.config, now_ms=self.clock.now_ms(), id_floor=id_floor(wall_ms())
        )
        self.feeds = Feeds(self.engine, self.hub, is_stale=self.book_is_stale)
        self.channels = ChannelSnapshots(self.engine, self.feeds)
        await self.hub.drop_all(reason="venue reset")
        if self.keeper is not None:
            await self.keeper.start_over()
            await self.keeper.save(self.engine)
        logger.info("simulator venue reset to its config")

    def state_changed(self) -> None:
        """Something outside a tx changed the venue (an account created through /sim/)."""
        if self.keeper is not None:
            self.keeper.changed()

    async def _on_startup(self, app: web.Application) -> None:
        self._tasks = [
            asyncio.create_task(self._advance_loop()),
            asyncio.create_task(self._book_loop()),
        ]
        if self.keeper is not None:
            self._tasks.append(asyncio.create_task(self.keeper.run(lambda: self.engine)))

    async def _on_cleanup(self, app: web.Application) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- time -----------------------------------------------------------------------------------

    def now_ms(self) -> int:
        """Simulated time (also used by the websocket hub)."""
        return self.clock.now_ms()

    async def pump(self) -> None:
        """Advance the engine to now and publish what happened."""
        events = self.engine.advance(self.clock.now_ms())
        if events:
            if self.keeper is not None:
                self.keeper.changed()
            # FIFO lock taken with no await after advance(): batches go out in engine order
            # even when the background loop and a sendTx pump at the same time.
            async with self._dispatch_lock:
                await self.feeds.dispatch(events)

    async def _advance_loop(self) -> None:
        while True:
            # The one top-level handler of this loop: a failing tick is logged with its
            # traceback and the exchange keeps running (a dead loop would freeze time).
            try:
                await self.pump()
            except Exception:
                logger.exception("simulator tick failed")
            await asyncio.sleep(self.tick_ms / 1000)

    async def _book_loop(self) -> None:
        while True:
            try:
                await self.feeds.tick()
            except Exception:
                logger.exception("order book feed tick failed")
            await asyncio.sleep(BOOK_INTERVAL_MS / 1000)

    # -- accounts and auth ----------------------------------------------------------------------

    def account_or_error(self, account_index: int) -> Account:
        """The account, or SimError 21100 like Lighter."""
        account = payloads.find_account(self.engine, account_index)
        if account is None:
            raise SimError(21100, "account not found")
        return account

    def _key_exists(self, account_index: int, api_key_index: int) -> bool:
        account = payloads.find_account(self.engine, account_index)
        return account is not None and api_key_index in account.api_keys

    def check_auth(self, token: str | None, account_index: int) -> None:
        """Raise AuthError unless ``token`` is valid for ``account_index`` now."""
        check_token(
            token,
            account_index=account_index,
            now_ms=self.clock.client_now_ms(),  # token expiry is the client's wall clock
            key_exists=self._key_exists,
            signature_ok=self._token_signed,
        )

    def _token_signed(self, token: str, parsed: AuthToken) -> bool:
        return self.engine.token_signed(token, parsed.account_index, parsed.api_key_index)

    def pong_ignored(self) -> bool:
        """Whether the ``missed_pong`` fault is switched on."""
        return self.faults.fire("missed_pong", "*") is not None

    def should_drop(self, kind: str) -> bool:
        """Whether the ``ws_drop`` fault fires for a frame of channel ``kind``."""
        return self.faults.fire("ws_drop", kind) is not None

    def should_lose(self, kind: str) -> bool:
        """Whether the ``ws_lose`` fault fires for a frame of channel ``kind``."""
        return self.faults.fire("ws_lose", kind) is not None

    def websocket_sessions(self) -> int:
        """Open websocket connections (``/sim/state``)."""
        return len(self.hub.sessions)

    async def drop_websockets(self, reason: str) -> int:
        """Close every websocket now (``/sim/ws/drop``); returns how many were open."""
        return await self.hub.drop_all(reason=reason)

    def book_is_stale(self, market_id: int) -> bool:
        """Whether the ``stale_book`` fault freezes this market's book deltas."""
        return self.faults.active("stale_book", "order_book") or self.faults.active(
            "stale_book", f"order_book:{market_id}"
        )

    # -- websocket snapshots --------------------------------------------------------------------

    def snapshot(self, kind: str, args: list[str]) -> dict[str, Any]:
        """``subscribed/<kind>`` payload for a channel; ChannelError when it does not exist."""
        return self.channels.snapshot(kind, args)

    # -- transactions ---------------------------------------------------------------------------

    def _tx_account(self, tx_info: dict[str, Any]) -> int | None:
        value = tx_info.get("AccountIndex", tx_info.get("FromAccountIndex"))
        return value if isinstance(value, int) else None

    def _charge(self, account_index: int | None, peer: str, endpoint: str) -> None:
        account = None
        if account_index is not None:
            account = payloads.find_account(self.engine, account_index)
        key = account.l1_address if account is not None else f"ip:{peer}"
        tier = account.tier if account is not None else "standard"
        now_ms = self.clock.client_now_ms()  # a rolling minute of the clients' clock
        if not self.budget.charge(key, tier=tier, endpoint=endpoint, now_ms=now_ms):
            raise SimError(23000, "Too Many Requests!", http_status=429)

    def _lost_tx_hash(self, tx_type: int, tx_info: dict[str, Any]) -> str:
        # The hash the signer computed (for the first accepted chain id), as Lighter echoes it.
        try:
            return signing.hash_hex(signing.message(tx_type, tx_info, self.config.chain_ids[0]))
        except SimError:
            raw = json.dumps(tx_info, sort_keys=True).encode()
            return hashlib.blake2b(raw, digest_size=40).hexdigest()

    async def accept_tx(
        self, tx_type: int, tx_info: dict[str, Any], *, peer: str, price_protection: bool = True
    ) -> dict[str, Any]:
        """Validate and queue one tx (raises SimError); returns Lighter's RespSendTx body."""
        self._charge(self._tx_account(tx_info), peer, "sendTx")
        now = self.now_ms()
        if self._never_executed("sendTx", [tx_type]):
            # Accepted but lost before the sequencer: the nonce is not consumed (like a tx that
            # expires unexecuted on Lighter).
            return self._send_reply(self._lost_tx_hash(tx_type, tx_info), now)
        halve = frozenset({0}) if self._partial_fault(tx_type, tx_info) else frozenset()
        record = self.engine.submit_batch(
            [(tx_type, tx_info)], now_ms=now, price_protection=price_protection, halve=halve
        )[0]
        await self._pump_if_due(record)
        return self._send_reply(record.hash, record.execute_at)

    async def accept_batch(
        self, tx_types: list[int], tx_infos: list[dict[str, Any]], *, peer: str
    ) -> dict[str, Any]:
        """Validate and queue a batch (all or nothing); returns RespSendTxBatch."""
        if len(tx_types) != len(tx_infos):
            raise SimError(21513, "TxInfos and TxTypes should have the same length")
        account = self._tx_account(tx_infos[0]) if tx_infos else None
        self._charge(account, peer, "sendTxBatch")
        now = self.now_ms()
        if self._never_executed("sendTxBatch", tx_types):
            hashes = [self._lost_tx_hash(t, i) for t, i in zip(tx_types, tx_infos, strict=True)]
            return {**self._send_reply("", now), "tx_hash": hashes}
        txs: list[tuple[int, dict[str, Any] | str]] = list(zip(tx_types, tx_infos, strict=True))
        halve = frozenset(i for i, (t, info) in enumerate(txs) if self._partial_fault(t, info))
        records = self.engine.submit_batch(txs, now_ms=now, halve=halve)
        if records:
            await self._pump_if_due(records[-1])
        predicted = max((r.execute_at for r in records), default=now)
        return {**self._send_reply("", predicted), "tx_hash": [r.hash for r in records]}

    def _never_executed(self, endpoint: str, tx_types: list[int]) -> bool:
        """Whether a `tx_never_executed` rule takes this send: one aimed at the endpoint and a tx
        type the send carries (`sendTx:14`: creates only), else at the endpoint."""
        for tx_type in dict.fromkeys(tx_types):
            if self.faults.fire("tx_never_executed", f"{endpoint}:{tx_type}") is not None:
                return True
        return self.faults.fire("tx_never_executed", endpoint) is not None

    def _partial_fault(self, tx_type: int, tx_info: dict[str, Any] | str) -> bool:
        # Partial-fill fault: an IOC/market create order executes for half its size, which is
        # what a thin book does to a taker (the signed tx itself is left intact).
        if tx_type != 14 or not isinstance(tx_info, dict) or tx_info.get("TimeInForce") != 0:
            return False
        return self.faults.fire("partial_fill", "sendTx") is not None

    async def _pump_if_due(self, record: TxRecord) -> None:
        if record.execute_at <= self.now_ms():
            await self.pump()

    def _send_reply(self, tx_hash: str, predicted_ms: int) -> dict[str, Any]:
        return {
            "code": 200,
            "message": SEND_TX_MESSAGE,
            "tx_hash": tx_hash,
            "predicted_execution_time_ms": predicted_ms,
        }

    async def ws_send_tx(self, data: dict[str, Any], peer: str) -> dict[str, Any]:
        """``jsonapi/sendtx``: tx_info may be an object or a JSON string."""
        try:
            tx_type = int(data["tx_type"])
            info = data["tx_info"]
            tx_info = json.loads(info) if isinstance(info, str) else dict(info)
            return await self.accept_tx(tx_type, tx_info, peer=peer)
        except (KeyError, ValueError, TypeError):
            return {"code": 21501, "message": "invalid tx info"}
        except SimError as exc:
            return {"code": exc.code, "message": exc.message}

    async def ws_send_tx_batch(self, data: dict[str, Any], peer: str) -> dict[str, Any]:
        """``jsonapi/sendtxbatch``: tx_types / tx_infos as JSON strings or lists."""
        try:
            types = data["tx_types"]
            infos = data["tx_infos"]
            types = json.loads(types) if isinstance(types, str) else types
            infos = json.loads(infos) if isinstance(infos, str) else infos
            tx_infos = [json.loads(i) if isinstance(i, str) else dict(i) for i in infos]
            return await self.accept_batch([int(t) for t in types], tx_infos, peer=peer)
        except (KeyError, ValueError, TypeError):
            return {"code": 21501, "message": "invalid tx info"}
        except SimError as exc:
            return {"code": exc.code, "message": exc.message}

    # -- middleware -----------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        endpoint = request.path.rsplit("/", 1)[-1] or "/"
        if request.path.startswith("/api/"):
            fault = await self._rest_fault(endpoint)
            if fault is not None:
                return fault
            if endpoint not in ("sendTx", "sendTxBatch"):
                try:
                    self._charge_read(request, endpoint)
                except SimError as exc:
                    return _error(exc)
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except SimError as exc:
            return _error(exc)
        except AuthError as exc:
            return web.json_response(
                {"code": AUTH_ERROR_CODE, "message": exc.message}, status=AUTH_HTTP_STATUS
            )
        except web.HTTPException:
            raise
        except Exception:
            # Lighter answers internal failures with 29500; the traceback goes to the log.
            logger.exception("internal error serving %s", request.path)
            return web.json_response(
                {"code": 29500, "message": "internal server error"}, status=500
            )

    def _charge_read(self, request: web.Request, endpoint: str) -> None:
        account = read_account(
            auth_token(request),
            now_ms=self.now_ms(),
            key_exists=self._key_exists,
            signature_ok=self._token_signed,
        )
        self._charge(account, request.remote or "", endpoint)

    async def _rest_fault(self, endpoint: str) -> web.Response | None:
        latency = self.faults.fire("latency", endpoint)
        if latency is not None and latency.latency_ms > 0:
            await asyncio.sleep(latency.latency_ms / 1000)
        if self.faults.fire("http_429", endpoint) is not None:
            return web.json_response(TOO_MANY_REQUESTS, status=429)
        rule = self.faults.fire("http_5xx", endpoint)
        if rule is not None:
            body = {"code": 29500, "message": "internal server error"}
            return web.json_response(body, status=rule.status)
        return None


def _error(exc: SimError) -> web.Response:
    return web.json_response({"code": exc.code, "message": exc.message}, status=exc.http_status)
