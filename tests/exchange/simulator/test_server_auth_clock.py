"""Auth tokens (expiry/account/key checks, never the signature) and the simulated clock."""

import time
import urllib.error
import urllib.request

import lighter
import pytest

from exchange.simulator.auth import AuthError, check_token, parse_token
from exchange.simulator.clock import SimClock

NOW_MS = 1_795_000_000_000
SIG = "ab" * 80


def _keys(account: int, key: int) -> bool:
    return (account, key) == (7, 3)


def test_valid_token_is_accepted_for_its_account():
    token = f"{NOW_MS // 1000 + 600}:7:3:{SIG}"
    parsed = check_token(token, account_index=7, now_ms=NOW_MS, key_exists=_keys)
    assert (parsed.account_index, parsed.api_key_index) == (7, 3)


@pytest.mark.parametrize(
    ("token", "account"),
    [
        (None, 7),
        ("garbage", 7),
        (f"{NOW_MS // 1000 - 1}:7:3:{SIG}", 7),  # expired
        (f"{NOW_MS // 1000 + 9 * 3600}:7:3:{SIG}", 7),  # longer than 8 h
        (f"{NOW_MS // 1000 + 600}:7:3:{SIG}", 8),  # other account
        (f"{NOW_MS // 1000 + 600}:7:4:{SIG}", 7),  # unknown key
    ],
)
def test_bad_tokens_are_refused(token, account):
    with pytest.raises(AuthError):
        check_token(token, account_index=account, now_ms=NOW_MS, key_exists=_keys)


def test_parsed_token_repr_never_shows_the_signature():
    assert SIG not in repr(parse_token(f"1:7:3:{SIG}"))


def test_manual_clock_moves_only_when_advanced():
    clock = SimClock(manual=True, _anchor_sim_ms=NOW_MS)
    assert clock.now_ms() == NOW_MS
    assert clock.advance(1_500) == NOW_MS + 1_500
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_fast_clock_runs_speed_times_real_time():
    # Anchored one real second ago: at speed 10, ten simulated seconds have passed.
    one_second_ago = time.time_ns() // 1_000_000 - 1_000
    clock = SimClock(_anchor_sim_ms=0, _anchor_wall_ms=one_second_ago, speed=10.0)
    assert 10_000 <= clock.now_ms() < 60_000


# -- simulated time and the clients' clock ------------------------------------------------------


class WallClock:
    """The machine's clock, stepped by the test (real time passing instantly)."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


def test_a_clock_at_any_speed_gives_clients_the_wall_time():
    wall = WallClock(NOW_MS)
    clock = SimClock(speed=100.0, wall=wall)
    wall.now_ms += 60_000

    assert clock.now_ms() == NOW_MS + 6_000_000
    assert clock.client_now_ms() == NOW_MS + 60_000
    clock.set_manual(True)
    assert clock.client_now_ms() == clock.now_ms()  # driven time is the only time then


async def test_a_token_valid_for_an_hour_lasts_an_hour_at_speed_100():
    # 72 s of wall time at speed 100: the venue's clock is two hours ahead of the client's.
    from tests.plugins.simulator import api_client, run_simulator, signer_client

    wall = WallClock(int(time.time() * 1000))
    clock = SimClock(speed=100.0, wall=wall)
    wall.now_ms += 72_000
    for sim in run_simulator(clock=clock):
        account = sim.create_account()
        client, api = signer_client(sim, account), api_client(sim)
        token, err = client.create_auth_token_with_expiry(3600, api_key_index=3)
        assert err is None
        orders = await lighter.OrderApi(api).account_active_orders(
            authorization=token, account_index=account.index, market_id=0
        )
        await client.close()
        await api.close()
        assert orders.orders == []


def test_the_request_budget_window_is_a_wall_clock_minute_at_speed_0_4():
    from tests.plugins.simulator import run_simulator

    wall = WallClock(int(time.time() * 1000))
    for sim in run_simulator(clock=SimClock(speed=0.4, wall=wall)):
        sim.ratelimit(enabled=True, standard_per_minute=1)
        url = sim.base_url + "/api/v1/orderBooks"
        urllib.request.urlopen(url, timeout=5).close()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=5)
        assert refused.value.code == 429
        wall.now_ms += 60_000  # a minute later for the client: 24 s of simulated time

        with urllib.request.urlopen(url, timeout=5) as reply:
            assert reply.status == 200
