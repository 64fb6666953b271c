"""Auth tokens of the form ``expiry:account:key:signature`` (made by the SDK's signer).

The expiry, the account, the API key's existence and (through the caller's `signature_ok`,
signing.SignatureCheck.token_ok) the signature under that key are checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# Lighter refuses tokens living longer than 8 hours.
MAX_TOKEN_TTL_S = 8 * 3600

# HTTP status for a refused token. Real Lighter's status is unconfirmed; 401 makes the SDK raise
# UnauthorizedException, which a client can tell apart from business errors (400).
AUTH_HTTP_STATUS = 401
AUTH_ERROR_CODE = 20001


class AuthError(Exception):
    """A token was missing, malformed, expired or does not belong to the account."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class AuthToken:
    """A parsed token; the signature is kept only as its length (never logged or echoed)."""

    expiry_s: int
    account_index: int
    api_key_index: int

    def __repr__(self) -> str:
        return (
            f"AuthToken(expiry_s={self.expiry_s}, account_index={self.account_index}, "
            f"api_key_index={self.api_key_index})"
        )


def parse_token(token: str) -> AuthToken:
    """Parse ``expiry:account:key:sig``; raises :class:`AuthError` on a malformed token."""
    parts = token.strip().split(":")
    if len(parts) != 4 or not parts[3]:
        raise AuthError("invalid auth token")
    try:
        return AuthToken(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError as exc:
        raise AuthError("invalid auth token") from exc


def check_token(
    token: str | None,
    *,
    account_index: int | None,
    now_ms: int,
    key_exists: Callable[[int, int], bool],
    signature_ok: Callable[[str, AuthToken], bool] | None = None,
) -> AuthToken:
    """Validate ``token`` for ``account_index`` at simulated time ``now_ms``.

    ``key_exists(account, api_key_index)`` tells whether that account has that key registered.
    When ``account_index`` is None the token is accepted for whichever account it names.
    """
    if not token:
        raise AuthError("auth token is required")
    parsed = parse_token(token)
    now_s = now_ms // 1000
    if parsed.expiry_s <= now_s:
        raise AuthError("auth token expired")
    if parsed.expiry_s - now_s > MAX_TOKEN_TTL_S:
        raise AuthError("auth token expiry is too far in the future")
    if account_index is not None and parsed.account_index != account_index:
        raise AuthError("auth token does not belong to this account")
    if not key_exists(parsed.account_index, parsed.api_key_index):
        raise AuthError("api key of the auth token not found")
    if signature_ok is not None and not signature_ok(token, parsed):
        raise AuthError("invalid auth token signature")
    return parsed
