"""Typed exchange errors: transient or permanent, decided once, here, from Lighter's answer.

Every error the client raises is an `ExchangeError` and exactly one of:

- `TransientError` — the same request may succeed later: 5xx, 408, 429 and Lighter's rate-limit
  codes (`RateLimitedError`), "too many pending txs", network errors and timeouts (aiohttp, OS,
  Redis; `UnreachableError` "cannot reach Lighter at ..." when the host could not be reached at
  all), an invalid nonce (`NonceError`: resync and re-sign). Retry with bounded backoff; a bot
  stays running (degraded) meanwhile.
- `PermanentError` — retrying the same request cannot help; someone must decide: a rejected or
  unknown key or auth token (`AuthError`), insufficient margin (`InsufficientMarginError`), any
  other refusal of invalid parameters (`RejectedError`), or a refusal before sending
  (`OrderRefusedError`).

`error.is_transient` says which, for code that holds an `ExchangeError`; `is_transient(exc)` says
it for any exception. This module never imports the SDK: SDK exceptions are read by their
attributes (`status`, `body`, `data`), which is all the mapping needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any, ClassVar

from redis import exceptions as redis_errors

INVALID_NONCE_CODES = frozenset({21104, 21105})
AUTH_CODES = frozenset({21108, 21109, 21110, 21120, 21136, 20001, 20013})
MARGIN_CODES = frozenset({21111, 21301, 21507, 21508, 21739})
RATE_LIMIT_CODES = frozenset({23000, 23001, 23002, 23003, 23004, 30009, 30010})
# 21506 too many pending txs, 29500 internal error, 29501 timeout.
TRANSIENT_CODES = frozenset({21506, 29500, 29501})
TRANSIENT_STATUSES = frozenset({408, 425})

# Redis holds the budget and the nonces: losing it for a moment is weather, not a refusal.
REDIS_UNREACHABLE = (redis_errors.ConnectionError, redis_errors.TimeoutError)

_BODY_CODE = re.compile(r"code[=\"': ]+(\d+)")
_BODY_MESSAGE = re.compile(r"message[=\"': ]+'?\"?([^'\"]*)")


class ExchangeError(Exception):
    """Base of every error raised by the exchange client; `is_transient` says what to do."""

    is_transient: ClassVar[bool] = False

    def __init__(self, message: str, *, code: int | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status

    @property
    def retryable(self) -> bool:
        """The same as `is_transient` (the older name)."""
        return self.is_transient


class TransientError(ExchangeError):
    """5xx, timeout, network or Redis failure: the same request may succeed if retried."""

    is_transient = True


class UnreachableError(TransientError):
    """Lighter could not be reached at all: the host name did not resolve, the connection was
    refused or timed out. A network problem on the way to the exchange, never a verdict on the
    key or the request (those are `AuthError` / `RejectedError`)."""

    def __init__(self, base_url: str, reason: str, detail: str = "") -> None:
        text = f"cannot reach Lighter at {base_url}: {reason}"
        super().__init__(f"{text} ({detail})" if detail and detail != reason else text)
        self.base_url = base_url
        self.reason = reason


# Texts of a failure to reach the host (Go's net package via the SDK's signer, aiohttp, the OS)
# -> the short reason shown to the operator. Checked in order; the first match wins.
_NETWORK_FAILURES = (
    ("no such host", "host name not found (DNS)"),
    ("name or service not known", "host name not found (DNS)"),
    ("nodename nor servname", "host name not found (DNS)"),
    ("temporary failure in name resolution", "host name not found (DNS)"),
    ("cannot connect to host", "connection failed"),
    ("connection refused", "connection refused"),
    ("connect call failed", "connection refused"),
    ("network is unreachable", "network unreachable"),
    ("no route to host", "no route to host"),
    ("i/o timeout", "timed out"),
    ("context deadline exceeded", "timed out"),
    ("timed out", "timed out"),
    ("timeout", "timed out"),
)


def network_failure(text: str) -> str | None:
    """The short reason when `text` describes a failure to reach a host, else None."""
    lowered = text.lower()
    reasons = [reason for needle, reason in _NETWORK_FAILURES if needle in lowered]
    # "cannot connect to host" wraps the precise cause (DNS, refused): prefer the precise one.
    precise = [reason for reason in reasons if reason != "connection failed"]
    chosen = precise or reasons
    return chosen[0] if chosen else None


def unreachable_error(base_url: str, exc: BaseException) -> ExchangeError:
    """The error for a request to `base_url` that failed in the network: `UnreachableError`
    when the host could not be reached, otherwise what `map_exception` says."""
    text = f"{type(exc).__name__}: {exc}"
    reason = network_failure(text)
    if reason is None and isinstance(exc, TimeoutError):
        reason = "timed out"
    if reason is None:
        return map_exception(exc)
    return UnreachableError(base_url, reason, str(exc) or type(exc).__name__)


class PermanentError(ExchangeError):
    """Retrying the same request cannot help: the request, key or account must change."""


class RateLimitedError(TransientError):
    """Lighter (or our own budget) refused for lack of request capacity."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        status: int | None = None,
        retry_after_s: float | None = None,
    ):
        super().__init__(message, code=code, status=status)
        self.retry_after_s = retry_after_s


class NonceError(TransientError):
    """The nonce was not the one the exchange expected: resync and re-sign (nothing executed)."""

    def __init__(self, code: int | None, reason: str, *, status: int | None = None):
        super().__init__(f"invalid nonce ({code}): {reason}", code=code, status=status)
        self.reason = reason


class RejectedError(PermanentError):
    """The exchange refused the request; `code` and `reason` are Lighter's."""

    def __init__(self, code: int | None, reason: str, *, status: int | None = None):
        super().__init__(f"rejected ({code}): {reason}", code=code, status=status)
        self.reason = reason


class InsufficientMarginError(RejectedError):
    """Not enough margin or collateral for the transaction."""


class AuthError(RejectedError):
    """API key missing, not registered, mismatched, or an invalid/expired auth token."""


class OrderRefusedError(PermanentError):
    """Refused locally before sending (below minimum, malformed); nothing reached Lighter."""


def error_for_code(code: int | None, message: str, *, status: int | None = None) -> ExchangeError:
    """The typed error for a Lighter business `code` (or HTTP `status` when there is none)."""
    if code in INVALID_NONCE_CODES or "invalid nonce" in message.lower():
        return NonceError(code, message, status=status)
    if status == 429 or code in RATE_LIMIT_CODES:
        return RateLimitedError(f"rate limited ({code}): {message}", code=code, status=status)
    if code in AUTH_CODES or status in (401, 403):
        return AuthError(code, message, status=status)
    if code in MARGIN_CODES:
        return InsufficientMarginError(code, message, status=status)
    if code in TRANSIENT_CODES or status in TRANSIENT_STATUSES or (status or 0) >= 500:
        return TransientError(
            f"exchange busy ({code or status}): {message}", code=code, status=status
        )
    return RejectedError(code, message, status=status)


def error_from_response(status: int, body: str | bytes | None) -> ExchangeError:
    """The typed error for an HTTP reply whose status is not 200 (body as received)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    code: int | None = None
    message = text.strip()
    try:
        parsed: Any = json.loads(text) if text else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        raw_code = parsed.get("code")
        code = (
            int(raw_code) if isinstance(raw_code, int | str) and str(raw_code).isdigit() else None
        )
        message = str(parsed.get("message") or message)
    if code == status:
        code = None
    return error_for_code(code, message or f"HTTP {status}", status=status)


def map_exception(exc: BaseException) -> ExchangeError:
    """Any exception met while talking to Lighter -> the typed error to raise.

    Understands the SDK's `ApiException` family (status/body/data attributes, whose text ends
    with `code=21104 message='invalid nonce'`), aiohttp/OS/Redis network errors and timeouts.
    """
    if isinstance(exc, ExchangeError):
        return exc
    status = getattr(exc, "status", None)
    if isinstance(status, int) and status > 0:
        data = getattr(exc, "data", None)
        code = getattr(data, "code", None)
        message = getattr(data, "message", None)
        if isinstance(code, int) and code != status:
            return error_for_code(code, str(message or ""), status=status)
        body = getattr(exc, "body", None)
        if body:
            return error_from_response(status, body)
        return _from_text(str(exc), status)
    if isinstance(exc, TimeoutError | ConnectionError | OSError):
        return TransientError(f"network error: {type(exc).__name__}: {exc}")
    if isinstance(exc, REDIS_UNREACHABLE):
        return TransientError(f"redis unreachable: {type(exc).__name__}: {exc}")
    if type(exc).__module__.startswith("aiohttp"):
        return TransientError(f"network error: {type(exc).__name__}: {exc}")
    return _from_text(str(exc), None)


def _from_text(text: str, status: int | None) -> ExchangeError:
    code_match = _BODY_CODE.search(text)
    message_match = _BODY_MESSAGE.search(text)
    code = int(code_match.group(1)) if code_match else None
    message = message_match.group(1).strip() if message_match else text.strip()
    if code == status:
        code = None
    return error_for_code(code, message, status=status)


def is_transient(exc: BaseException) -> bool:
    """True when `exc` (ours or not) is worth retrying as is; see the module docstring."""
    return map_exception(exc).is_transient


@contextlib.contextmanager
def redis_unreachable_is_transient() -> Iterator[None]:
    """Raise a Redis connection failure inside the block as a `TransientError` (budget, nonces)."""
    try:
        yield
    except REDIS_UNREACHABLE as exc:
        raise map_exception(exc) from exc


def cancel_point() -> None:
    """Raise CancelledError if the current task was asked to cancel and the request was lost.

    On Python 3.11, `asyncio.wait_for` drops a cancel that lands in the turn its inner future
    completes (redis-py's sends use it): the task goes on with `cancelling()` still set and no
    CancelledError left to deliver. Loops that wait call this before each pause, so such a
    task ends at its next pause instead of running on (a bot runner cancelled during a
    reconcile kept trading). Outside `asyncio.timeout` blocks (which undo their own cancels),
    a non-zero `cancelling()` always means a cancel that was asked for.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def pause(seconds: float) -> None:
    """`asyncio.sleep(seconds)` for loops that wait: first `cancel_point()`, so a task whose
    cancel a library dropped ends here instead of looping on (and whoever awaits its end,
    e.g. a runner stopping its tasks, is not left waiting forever)."""
    cancel_point()
    await asyncio.sleep(seconds)
