"""Lighter codes and SDK exceptions map to the typed error a caller can act on."""

from __future__ import annotations

import pytest
from lighter.exceptions import ApiException, BadRequestException, ServiceException

from exchange import errors


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        (21104, 400, errors.NonceError),
        (21105, 400, errors.NonceError),
        (23000, 429, errors.RateLimitedError),
        (None, 429, errors.RateLimitedError),
        (21108, 400, errors.AuthError),
        (21120, 400, errors.AuthError),
        (21739, 400, errors.InsufficientMarginError),
        (21508, 400, errors.InsufficientMarginError),
        (21506, 400, errors.TransientError),
        (None, 503, errors.TransientError),
        (21706, 400, errors.RejectedError),
    ],
)
def test_codes_map_to_typed_errors(code: int | None, status: int, expected: type) -> None:
    err = errors.error_for_code(code, "msg", status=status)
    assert type(err) is expected


def test_rejection_keeps_lighter_code_and_reason() -> None:
    err = errors.error_from_response(
        400, b'{"code":21706,"message":"invalid order base or quote amount"}'
    )
    assert isinstance(err, errors.RejectedError)
    assert err.code == 21706 and err.reason == "invalid order base or quote amount"
    assert not err.retryable


def test_sdk_bad_request_with_invalid_nonce_body_is_a_nonce_error() -> None:
    exc = BadRequestException(
        status=400, reason="Bad Request", body='{"code":21104,"message":"invalid nonce"}'
    )
    assert isinstance(errors.map_exception(exc), errors.NonceError)


def test_sdk_429_is_rate_limited_and_retryable() -> None:
    exc = ApiException(
        status=429, reason="Too Many Requests", body='{"code":23000,"message":"Too Many Requests!"}'
    )
    err = errors.map_exception(exc)
    assert isinstance(err, errors.RateLimitedError) and err.retryable


def test_sdk_5xx_without_body_is_transient() -> None:
    err = errors.map_exception(ServiceException(status=502, reason="Bad Gateway"))
    assert isinstance(err, errors.TransientError) and err.status == 502


def test_network_errors_are_transient() -> None:
    assert isinstance(errors.map_exception(ConnectionResetError("reset")), errors.TransientError)
    assert isinstance(errors.map_exception(TimeoutError()), errors.TransientError)


def test_old_server_plain_400_invalid_nonce_is_a_nonce_error() -> None:
    err = errors.error_from_response(400, '{"code":400,"message":"invalid nonce"}')
    assert isinstance(err, errors.NonceError)
