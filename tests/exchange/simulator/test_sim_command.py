"""`manage.py lighter_sim` as start.sh runs it: serves until SIGTERM, keeps the venue in its
state file across restarts, starts over with --fresh, refuses a file it cannot read."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lighterweb.redis_server import free_port

ROOT = Path(__file__).resolve().parents[3]


def command(port: int, *args: str) -> list[str]:
    return [sys.executable, "manage.py", "lighter_sim", "--port", str(port), *args]


@contextmanager
def serving(port: int, *args: str) -> Iterator[str]:
    """The command running until the block ends (then SIGTERM); yields its base URL."""
    child = subprocess.Popen(command(port, *args), cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        # The command logs "simulator ready" once it listens; read until then (bounded by
        # pytest's timeout), no polling.
        assert child.stderr is not None
        for line in child.stderr:
            if "simulator ready" in line:
                break
        yield f"http://127.0.0.1:{port}"
    finally:
        child.terminate()
        child.wait(timeout=30)
    assert child.returncode == 0


def call(url: str, method: str = "GET", body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def collateral(base_url: str, index: int) -> tuple[int, Any]:
    status, body = call(f"{base_url}/api/v1/account?by=index&value={index}")
    return status, body["accounts"][0]["collateral"] if status == 200 else body


def test_the_command_serves_until_terminated(tmp_path: Path) -> None:
    port = free_port()
    with serving(port, "--seed", "3", "--state", str(tmp_path / "state.json")) as base_url:
        _, body = call(f"{base_url}/api/v1/orderBooks")
    assert [row["symbol"] for row in body["order_books"]] == ["ETH", "BTC", "SOL"]


def test_the_command_keeps_the_venue_across_restarts_until_fresh(tmp_path: Path) -> None:
    state = tmp_path / "sim-state.json"
    port = free_port()
    account = {"l1_address": "0x" + "42" * 20, "index": 4242, "collateral": "123.45"}
    with serving(port, "--state", str(state)) as base_url:
        assert call(f"{base_url}/sim/accounts", "POST", account)[0] == 200
    saved = json.loads(state.read_text())
    assert saved["clean"] is True
    assert [a["collateral"] for a in saved["engine"]["accounts"] if a["index"] == 4242] == [
        "123.45"
    ]

    with serving(port, "--state", str(state)) as base_url:
        assert collateral(base_url, 4242) == (200, "123.450000")
    with serving(port, "--state", str(state), "--fresh") as base_url:
        status, body = collateral(base_url, 4242)
    assert (status, body["code"]) == (400, 21100)
    assert 4242 not in [a["index"] for a in json.loads(state.read_text())["engine"]["accounts"]]


def test_the_command_refuses_a_state_file_it_cannot_read_and_keeps_it(tmp_path: Path) -> None:
    state = tmp_path / "sim-state.json"
    state.write_text('{"format": 1, "engine": {"now_ms": "soon"}}')

    result = subprocess.run(
        command(free_port(), "--state", str(state)),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode != 0
    assert str(state) in result.stderr and "--fresh" in result.stderr
    assert state.read_text() == '{"format": 1, "engine": {"now_ms": "soon"}}'


def test_the_command_refuses_to_listen_beyond_loopback(tmp_path: Path) -> None:
    result = subprocess.run(
        command(free_port(), "--host", "0.0.0.0", "--state", str(tmp_path / "state.json")),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode != 0
    assert "loopback" in result.stderr
    assert not (tmp_path / "state.json").exists()
