"""`/sim/` is for loopback tools only: JSON bodies only (a cross-site `text/plain` form post
cannot move prices), amounts validated with the field named, and no listening beyond loopback."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from exchange.simulator.clock import SimClock
from exchange.simulator.config import SimConfig
from exchange.simulator.server import SimServer
from tests.plugins.simulator import TEST_CONFIG, RunningSimulator


def post(sim: RunningSimulator, path: str, body: Any, content_type: str) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        sim.base_url + path, data=data, method="POST", headers={"content-type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def mark(sim: RunningSimulator) -> int:
    return sim.call(lambda: sim.engine.mark_price(0))


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_a_non_json_post_is_refused_with_415_and_changes_nothing(simulator, content_type):
    before = mark(simulator)

    status, body = post(simulator, "/sim/price", {"market_id": 0, "price": "1.00"}, content_type)

    assert status == 415
    assert "application/json" in body["error"]
    assert mark(simulator) == before


def test_a_bodyless_post_needs_the_json_content_type_too(simulator):
    status, _ = post(simulator, "/sim/ws/drop", b"", "text/plain")
    assert status == 415
    assert post(simulator, "/sim/ws/drop", b"", "application/json")[0] == 200


ACCOUNT = {"l1_address": "0x" + "11" * 20, "collateral": "100"}
# (endpoint, body, the field the error must name)
BAD_AMOUNTS = [
    ("/sim/accounts", {**ACCOUNT, "collateral": "NaN"}, "collateral"),
    ("/sim/accounts", {**ACCOUNT, "collateral": "Infinity"}, "collateral"),
    ("/sim/accounts", {**ACCOUNT, "collateral": "-5"}, "collateral"),
    ("/sim/accounts", {**ACCOUNT, "collateral": "lots"}, "collateral"),
    ("/sim/accounts", {"collateral": "5"}, "l1_address"),
    ("/sim/accounts", {**ACCOUNT, "tier": "gold"}, "tier"),
    ("/sim/accounts", {**ACCOUNT, "api_keys": ["ab"]}, "api_keys"),
    ("/sim/accounts", {**ACCOUNT, "index": "seven"}, "index"),
    ("/sim/price", {"market_id": 0, "price": "NaN"}, "price"),
    ("/sim/price", {"market_id": 0, "price": "0"}, "price"),
    ("/sim/price", {"market_id": 0, "price": "-3000"}, "price"),
    ("/sim/price", {"market_id": "ETH", "price": "3000"}, "market_id"),
    ("/sim/clock", {"speed": 0}, "speed"),
    ("/sim/ratelimit", {"standard_per_minute": -1}, "standard_per_minute"),
    ("/sim/ratelimit", {"enabled": "false"}, "enabled"),
    ("/sim/clock", {"manual": "no"}, "manual"),
]


@pytest.mark.parametrize(("path", "body", "field"), BAD_AMOUNTS)
def test_bad_amounts_get_400_naming_the_field(simulator, path, body, field):
    status, reply = post(simulator, path, body, "application/json")

    assert status == 400
    assert field in reply["error"]


def test_non_finite_json_numbers_are_refused_too(simulator):
    # json.loads accepts NaN and Infinity literals; the endpoints must not.
    raw = b'{"l1_address": "0x' + b"22" * 20 + b'", "collateral": NaN}'
    status, reply = post(simulator, "/sim/accounts", raw, "application/json")
    assert (status, "collateral" in reply["error"]) == (400, True)
    status, reply = post(simulator, "/sim/clock", b'{"speed": Infinity}', "application/json")
    assert (status, "speed" in reply["error"]) == (400, True)


def test_a_refused_nan_collateral_leaves_the_state_dump_working(simulator):
    post(simulator, "/sim/accounts", {**ACCOUNT, "collateral": "NaN"}, "application/json")

    state = simulator.sim("GET", "/sim/state")

    assert all(a["collateral"] != "NaN" for a in state["accounts"])


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com", ""])
async def test_the_server_refuses_to_listen_beyond_loopback(host):
    server = SimServer(SimConfig.from_dict(TEST_CONFIG), clock=SimClock(manual=True))

    with pytest.raises(ValueError, match="loopback"):
        await server.start(host, 0)


async def test_the_server_listens_on_loopback_names():
    server = SimServer(SimConfig.from_dict(TEST_CONFIG), clock=SimClock(manual=True))
    assert await server.start("localhost", 0) > 0
    await server.stop()
