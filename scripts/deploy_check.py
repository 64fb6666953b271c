"""The client side of scripts/deploy-check.sh: what a user and a monitor see of a deployment.

Everything goes through the proxy over HTTPS (trusting only the proxy's local CA), except the
two things that are meant to be local: the monitor's `/healthz` probe on loopback, and the
simulator's `/sim/price`, which plays the market so a paper bot's order fills now rather than
whenever the simulated price gets there.

    python scripts/deploy_check.py up --base https://localhost:8443 --cafile root.crt ...
    python scripts/deploy_check.py resumed --base ... --state state.json --since EPOCH

`up` logs in, fetches a static file, holds a dashboard websocket open while a paper bot starts,
rests its orders and fills one, and writes what it saw to --state; `resumed` waits, after a
restart, until that bot's runner is back (a heartbeat newer than --since, orders resting).
Each prints one line per check and exits 1 at the first failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import ssl
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

logger = logging.getLogger("deploy-check")

POLL_S = 0.5
LOGIN_PATH = "/admin/login/"
STATIC_PATH = "/static/admin/css/base.css"
WS_PATH = "/ws/dashboard/"
FILL_ATTEMPTS = 3
FILL_WAIT_S = 20.0
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class CheckFailed(Exception):
    """A check did not hold; the message says which and what was seen."""


@dataclass
class Site:
    """A logged-in HTTPS session with the deployment, through the proxy."""

    base: str
    session: aiohttp.ClientSession
    ssl: ssl.SSLContext
    logged_in_at: float = 0.0

    def url(self, path: str) -> str:
        return self.base.rstrip("/") + path

    def csrf_headers(self) -> dict[str, str]:
        token = next((c.value for c in self.session.cookie_jar if c.key == "csrftoken"), "")
        return {"X-CSRFToken": token, "Referer": self.url("/admin/")}

    async def get_json(self, path: str) -> Any:
        async with self.session.get(self.url(path), ssl=self.ssl) as response:
            if response.status != 200:
                raise CheckFailed(f"GET {path}: HTTP {response.status}: {await response.text()}")
            return await response.json()

    async def post_json(self, path: str) -> Any:
        async with self.session.post(
            self.url(path), ssl=self.ssl, headers=self.csrf_headers()
        ) as response:
            if response.status != 200:
                raise CheckFailed(f"POST {path}: HTTP {response.status}: {await response.text()}")
            return await response.json()


def _ok(what: str, **figures: Any) -> None:
    extra = " ".join(f"{key}={value}" for key, value in figures.items())
    logger.info("ok   %s%s", what, f"  ({extra})" if extra else "")


async def _until(what: str, timeout_s: float, probe: Any) -> Any:
    """Call the async `probe` until it returns something truthy; CheckFailed after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out after {timeout_s:.0f} s waiting for {what}")
        # Another process's state, seen over HTTP: polling is the only way to watch it.
        await asyncio.sleep(POLL_S)


async def login(base: str, context: ssl.SSLContext, user: str, password: str) -> Site:
    """The admin login form over HTTPS, as a browser submits it; Site.logged_in_at is set."""
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar())
    site = Site(base, session, context)
    started = time.monotonic()
    async with session.get(site.url(LOGIN_PATH), ssl=context) as response:
        page = await response.text()
        if response.status != 200:
            raise CheckFailed(f"GET {LOGIN_PATH}: HTTP {response.status}")
    match = CSRF_INPUT.search(page)
    if match is None:
        raise CheckFailed("the login page has no CSRF token")
    form = {
        "csrfmiddlewaretoken": match.group(1),
        "username": user,
        "password": password,
        "next": "/admin/",
    }
    async with session.post(
        site.url(LOGIN_PATH),
        data=form,
        ssl=context,
        headers={"Referer": site.url(LOGIN_PATH)},
        allow_redirects=False,
    ) as response:
        if response.status != 302 or not response.headers.get("Location", "").endswith("/admin/"):
            raise CheckFailed(f"login: HTTP {response.status}, not the redirect to /admin/")
    async with session.get(site.url("/admin/"), ssl=context, allow_redirects=False) as response:
        body = await response.text()
        if response.status != 200 or "LighterWeb" not in body:
            raise CheckFailed(f"GET /admin/ after login: HTTP {response.status}")
    secure = [c for c in session.cookie_jar if c.key == "sessionid" and c["secure"]]
    if not secure:
        raise CheckFailed("the session cookie is not marked Secure")
    site.logged_in_at = time.time()
    _ok("admin login over HTTPS", seconds=f"{time.monotonic() - started:.2f}")
    return site


async def check_static(site: Site, static_root: Path, app_url: str) -> None:
    """The proxy serves the collected file from disk; the app itself (DEBUG off) does not."""
    async with site.session.get(site.url(STATIC_PATH), ssl=site.ssl) as response:
        body = await response.read()
        server = response.headers.get("Server", "?")
        if response.status != 200:
            raise CheckFailed(f"GET {STATIC_PATH} through the proxy: HTTP {response.status}")
    on_disk = (static_root / STATIC_PATH.removeprefix("/static/")).read_bytes()
    if body != on_disk:
        raise CheckFailed(f"{STATIC_PATH} differs from the collected file")
    # Asked directly as the proxy would ask (an allowed host name, HTTPS already done).
    async with (
        aiohttp.ClientSession() as direct,
        direct.get(
            app_url.replace("127.0.0.1", "localhost") + STATIC_PATH,
            headers={"X-Forwarded-Proto": "https"},
            allow_redirects=False,
        ) as response,
    ):
        if response.status != 404:
            raise CheckFailed(f"the app itself answers {STATIC_PATH}: HTTP {response.status}")
    _ok("static file served by the proxy", server=server, bytes=len(body))


async def check_healthz(app_url: str) -> None:
    """A monitor on the server: plain HTTP, loopback Host, answered (not redirected)."""
    async with (
        aiohttp.ClientSession() as direct,
        direct.get(app_url + "/healthz", allow_redirects=False) as response,
    ):
        body = await response.json()
        if response.status != 200:
            raise CheckFailed(f"/healthz on loopback: HTTP {response.status}: {body}")
    _ok("/healthz 200 over plain HTTP on loopback", url=app_url + "/healthz")


async def hold_websocket(site: Site, seconds: float) -> int:
    """The dashboard's websocket over wss stays open `seconds`; messages received."""
    wss = site.url(WS_PATH).replace("https://", "wss://", 1)
    received = 0
    async with site.session.ws_connect(
        wss, ssl=site.ssl, headers={"Origin": site.base.rstrip("/")}, heartbeat=None
    ) as socket:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = await socket.receive(timeout=left)
            except TimeoutError:
                break
            if message.type != aiohttp.WSMsgType.TEXT:
                raise CheckFailed(
                    f"the dashboard websocket ended after "
                    f"{seconds - left:.1f} s: {message.type.name} {message.data!r}"
                )
            received += 1
        if socket.closed:
            raise CheckFailed("the dashboard websocket was closed")
    _ok(f"dashboard websocket over wss open {seconds:.0f} s", messages=received)
    return received


async def paper_bot_trades(site: Site, sim_url: str, symbol: str) -> dict[str, Any]:
    """Start the provisioned paper bot, see its grid rest, move the price through a buy."""
    bots = await site.get_json("/api/bots")
    bot = next((b for b in bots if b["network"] == "paper" and b["symbol"] == symbol), None)
    if bot is None:
        raise CheckFailed(f"no paper {symbol} bot (did provision_paper run?)")
    bot_id = bot["id"]
    market = await site.get_json(f"/api/markets/{bot['market_id']}")
    levels = int(bot["levels_per_side"])
    started = time.monotonic()
    await site.post_json(f"/api/bots/{bot_id}/start")

    async def resting() -> list[dict[str, Any]]:
        # Confirmed on the book ("open"), not only sent: a price moved under a pending
        # post-only order cancels it instead of filling it.
        page = await site.get_json(f"/api/orders?bot_id={bot_id}&status=open&limit=100")
        orders: list[dict[str, Any]] = page["items"]
        buys = [o for o in orders if o["side"] == "buy"]
        return orders if len(orders) >= 2 * levels and len(buys) >= 2 else []

    async def filled() -> list[dict[str, Any]]:
        page = await site.get_json(f"/api/fills?bot_id={bot_id}&limit=10")
        fills: list[dict[str, Any]] = page["items"]
        return fills

    for attempt in range(1, FILL_ATTEMPTS + 1):
        orders = await _until(f"{2 * levels} resting orders", 90, resting)
        if attempt == 1:
            _ok(
                "paper bot started, grid resting",
                bot=bot_id,
                orders=len(orders),
                seconds=f"{time.monotonic() - started:.1f}",
            )
        await _price_through_top_buy(sim_url, market["exchange_market_id"], orders)
        try:
            fills = await _until("a fill", FILL_WAIT_S, filled)
            break
        except CheckFailed:
            # The simulated price moved the grid between our read and the jump: again.
            if attempt == FILL_ATTEMPTS:
                raise
    _ok(
        "paper bot trades",
        fill=fills[0]["trade_id"],
        side=fills[0]["side"],
        price=fills[0]["price"],
        attempts=attempt,
        seconds=f"{time.monotonic() - started:.1f}",
    )
    return {"bot_id": bot_id, "levels": levels, "fills": len(fills)}


async def _price_through_top_buy(sim_url: str, market_id: int, orders: list[Any]) -> None:
    """Jump the simulator's price two levels below the bot's top buy.

    The simulator's market maker then quotes its first ask (5 bps above the new price) below
    that buy, which fills at once.
    """
    buys = sorted((Decimal(o["price"]) for o in orders if o["side"] == "buy"), reverse=True)
    through = buys[0] - 2 * (buys[0] - buys[1])
    async with (
        aiohttp.ClientSession() as sim,
        sim.post(
            sim_url + "/sim/price", json={"market_id": market_id, "price": str(through)}
        ) as response,
    ):
        if response.status != 200:
            raise CheckFailed(f"/sim/price: HTTP {response.status}")


async def up(args: argparse.Namespace) -> dict[str, Any]:
    """Everything a first visit shows (see the module docstring)."""
    context = ssl.create_default_context(cafile=args.cafile)
    await check_healthz(args.app_url)
    site = await login(args.base, context, args.user, args.password)
    try:
        await check_static(site, Path(args.static_root), args.app_url)
        # The websocket stays open while the bot trades; the first failure of either counts.
        socket = asyncio.create_task(hold_websocket(site, args.ws_seconds))
        trades = asyncio.create_task(paper_bot_trades(site, args.sim_url, args.symbol))
        try:
            await asyncio.gather(socket, trades)
            bot = trades.result()
        finally:
            for task in (socket, trades):
                task.cancel()
            await asyncio.gather(socket, trades, return_exceptions=True)
    finally:
        await site.session.close()
    bot["login_since_start"] = round(site.logged_in_at - args.t0, 1)
    return bot


async def resumed(args: argparse.Namespace, state: dict[str, Any]) -> None:
    """After a restart: the bot's runner is back and its grid rests again."""
    context = ssl.create_default_context(cafile=args.cafile)
    bot_id = state["bot_id"]
    site = await login(args.base, context, args.user, args.password)
    try:

        async def running() -> dict[str, Any] | None:
            bot: dict[str, Any] = await site.get_json(f"/api/bots/{bot_id}")
            beat = bot.get("heartbeat_at")
            fresh = beat is not None and _epoch(beat) > args.since
            return bot if bot["status"] == "running" and fresh else None

        bot = await _until("the bot's runner after the restart", args.timeout, running)
        page = await site.get_json(f"/api/orders?bot_id={bot_id}&live_only=true&limit=100")
        if not page["items"]:
            raise CheckFailed("the resumed bot has no resting orders")
        _ok(
            "bot resumed after the restart",
            bot=bot_id,
            status=bot["status"],
            orders=len(page["items"]),
            seconds=f"{time.time() - args.since:.1f}",
        )
    finally:
        await site.session.close()


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "resumed"):
        command = sub.add_parser(name)
        command.add_argument("--base", required=True, help="https://host:port of the proxy")
        command.add_argument("--cafile", required=True, help="the proxy's CA certificate")
        command.add_argument("--user", default="admin")
        command.add_argument("--password", required=True)
        command.add_argument("--state", required=True, help="JSON file shared by up/resumed")
    sub.choices["up"].add_argument("--app-url", required=True, help="http://127.0.0.1:WEB_PORT")
    sub.choices["up"].add_argument("--sim-url", required=True)
    sub.choices["up"].add_argument("--static-root", required=True)
    sub.choices["up"].add_argument("--symbol", default="ETH")
    sub.choices["up"].add_argument("--ws-seconds", type=float, default=30.0)
    sub.choices["up"].add_argument("--t0", type=float, default=time.time(), help="zero (epoch)")
    sub.choices["resumed"].add_argument("--since", type=float, required=True)
    sub.choices["resumed"].add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    state_file = Path(args.state)
    try:
        if args.command == "up":
            state_file.write_text(json.dumps(asyncio.run(up(args))))
        else:
            asyncio.run(resumed(args, json.loads(state_file.read_text())))
    except CheckFailed as failure:
        logger.error("FAIL %s", failure)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
