"""Auth tokens (expiry/account/key checks, never the signature) and the simulated clock."""

import time

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
