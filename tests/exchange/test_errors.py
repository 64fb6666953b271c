"""Lighter codes, HTTP statuses and exceptions map once to a typed error: transient or permanent."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
import redis.exceptions
from lighter.exceptions import ApiException, BadRequestException, ServiceException

from exchange import errors
from exchange.errors import pause
from exchange.nonces import NonceLockTimeout
from tests.exchange.conftest import drop_own_cancel, ended_cancelled

T, P = "transient", "permanent"


@pytest.mark.parametrize(
    ("code", "status", "expected", "kind"),
    [
        # transient: the same request may pass later
        (21104, 400, errors.NonceError, T),  # invalid nonce
        (21105, 400, errors.NonceError, T),  # batch nonce not increasing
        (23000, 429, errors.RateLimitedError, T),
        (None, 429, errors.RateLimitedError, T),
        (23000, 200, errors.RateLimitedError, T),  # the code alone, in a 200 body
        (21506, 400, errors.TransientError, T),  # too many pending txs
        (29500, 400, errors.TransientError, T),  # internal error
        (29501, 400, errors.TransientError, T),  # timeout
        (None, 500, errors.TransientError, T),
        (None, 502, errors.TransientError, T),
        (None, 503, errors.TransientError, T),
        (None, 504, errors.TransientError, T),
        (None, 408, errors.TransientError, T),
        # permanent: a person or the config must change something
        (21108, 400, errors.AuthError, P),  # key not registered
        (21109, 400, errors.AuthError, P),  # api key not found
        (21120, 400, errors.AuthError, P),  # invalid signature (wrong chain id or key)
        (21136, 400, errors.AuthError, P),
        (None, 401, errors.AuthError, P),
        (None, 403, errors.AuthError, P),
        (21739, 400, errors.InsufficientMarginError, P),
        (21508, 400, errors.InsufficientMarginError, P),
        (21507, 400, errors.InsufficientMarginError, P),
        (21706, 400, errors.RejectedError, P),  # invalid base or quote amount
        (21734, 400, errors.RejectedError, P),  # too far from the mark price
        (21727, 400, errors.RejectedError, P),  # invalid client order index
        (21514, 400, errors.RejectedError, P),  # more than 50 per batch
        (None, 400, errors.RejectedError, P),
        (None, 404, errors.RejectedError, P),
    ],
)
def test_codes_and_statuses_map_to_one_typed_error(
    code: int | None, status: int, expected: type[errors.ExchangeError], kind: str
) -> None:
    err = errors.error_for_code(code, "msg", status=status)
    assert type(err) is expected
    assert err.is_transient is (kind == T)
    assert isinstance(err, errors.TransientError if kind == T else errors.PermanentError)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ConnectionResetError("reset"), T),
        (TimeoutError(), T),
        (OSError("network unreachable"), T),
        (aiohttp.ServerDisconnectedError(), T),
        (aiohttp.ClientConnectionError("refused"), T),
        (redis.exceptions.ConnectionError("Connection refused"), T),
        (redis.exceptions.TimeoutError("Timeout reading from 127.0.0.1:6379"), T),
        (NonceLockTimeout("nonce lock busy"), T),
        (ServiceException(status=502, reason="Bad Gateway"), T),
        (ApiException(status=429, reason="Too Many Requests"), T),
        (BadRequestException(status=400, body='{"code":21104,"message":"invalid nonce"}'), T),
        (BadRequestException(status=400, body='{"code":21706,"message":"invalid amount"}'), P),
        (BadRequestException(status=400, body='{"code":21109,"message":"api key not found"}'), P),
        (ValueError("not an exchange answer"), P),
    ],
)
def test_any_exception_is_classified_once(exc: BaseException, kind: str) -> None:
    assert errors.is_transient(exc) is (kind == T)
    assert errors.map_exception(exc).is_transient is (kind == T)


@pytest.mark.parametrize(
    "cls",
    [
        errors.TransientError,
        errors.RateLimitedError,
        errors.NonceError,
        errors.PermanentError,
        errors.RejectedError,
        errors.AuthError,
        errors.InsufficientMarginError,
        errors.OrderRefusedError,
    ],
)
def test_every_error_class_is_exactly_one_of_transient_or_permanent(cls: type) -> None:
    assert issubclass(cls, errors.ExchangeError)
    assert issubclass(cls, errors.TransientError) != issubclass(cls, errors.PermanentError)
    assert cls.is_transient is issubclass(cls, errors.TransientError)


def test_rejection_keeps_lighter_code_and_reason() -> None:
    err = errors.error_from_response(
        400, b'{"code":21706,"message":"invalid order base or quote amount"}'
    )
    assert isinstance(err, errors.RejectedError)
    assert err.code == 21706 and err.reason == "invalid order base or quote amount"
    assert not err.is_transient and not err.retryable


def test_nonce_error_keeps_code_and_reason_and_is_retryable() -> None:
    err = errors.error_from_response(400, '{"code":21104,"message":"invalid nonce"}')
    assert isinstance(err, errors.NonceError)
    assert err.code == 21104 and err.reason == "invalid nonce" and err.retryable


def test_sdk_429_is_rate_limited_and_retryable() -> None:
    exc = ApiException(
        status=429, reason="Too Many Requests", body='{"code":23000,"message":"Too Many Requests!"}'
    )
    err = errors.map_exception(exc)
    assert isinstance(err, errors.RateLimitedError) and err.retryable


def test_sdk_5xx_without_body_is_transient() -> None:
    err = errors.map_exception(ServiceException(status=502, reason="Bad Gateway"))
    assert isinstance(err, errors.TransientError) and err.status == 502


def test_old_server_plain_400_invalid_nonce_is_a_nonce_error() -> None:
    err = errors.error_from_response(400, '{"code":400,"message":"invalid nonce"}')
    assert isinstance(err, errors.NonceError)


async def test_pause_ends_a_task_whose_cancel_was_dropped() -> None:
    async def dropped_then_pause() -> None:
        await drop_own_cancel()
        await pause(30)

    assert await ended_cancelled(asyncio.create_task(dropped_then_pause()), 5)


async def test_pause_sleeps_when_nothing_asked_the_task_to_cancel() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await pause(0.05)
    assert loop.time() - started >= 0.05
