"""The root REST API (django-ninja), mounted at /api/ with docs at /api/docs.

Auth: a bearer token (`Authorization: Bearer lw_...`, see lighterweb.models.ApiToken) for scripts,
or the browser's session (CSRF checked on unsafe methods). Anonymous callers get 401, logged-in
users who are not staff 403. The docs need a staff session too. Each operation then asks for the
permission it needs (bots.api, bots.permissions): a token carries its user's permissions, and a
read-only token refuses every unsafe method (403).

Errors have one shape (`bots.schemas.ErrorOut`: detail, code, errors[field, message]) and are
mapped from domain exceptions here, once: validation 422 (each field with its message), unknown
ids 404, refused actions 409.
"""

from __future__ import annotations

import logging
from typing import Any

from django.apps import apps
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, URLPattern, URLResolver, resolve
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer, SessionAuth

from bots.api import router as bots_router
from bots.positions import PositionActionRefused
from bots.positions_api import router as positions_router
from bots.services import BotActionRefused, ExchangeActionFailed
from lighterweb.limits import DepthLimitedParser, JsonTooDeep
from lighterweb.models import ApiToken

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REQUEST_PARTS = frozenset({"body", "query", "path", "header", "cookie", "form", "file"})
# Operations name their request body `payload` (bots.api); it is not part of a field's name.
BODY_PARAM = "payload"


class NotStaff(Exception):
    """An authenticated user without staff rights."""


def _staff_only(user: Any) -> Any:
    if not user.is_staff:
        raise NotStaff
    return user


class BearerTokenAuth(HttpBearer):
    """`Authorization: Bearer <token>` against the hashed ApiToken rows.

    ninja's own header parsing logs a header with another scheme whole (a token sent as
    `Token lw_...` would land in the log); this one never logs the header or any part of it.
    """

    @sensitive_variables()
    def __call__(self, request: HttpRequest) -> Any:
        scheme, _, token = request.headers.get(self.header, "").partition(" ")
        if scheme.lower() != self.openapi_scheme or not token:
            return None
        return self.authenticate(request, token.strip())

    @sensitive_variables()
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        api_token = ApiToken.authenticate(token)
        if api_token is None:
            return None
        # Downstream code (actors in events, permission checks) reads request.user like with a
        # session: a token can do exactly what its user may do, or less when read-only.
        request.user = api_token.user
        _staff_only(api_token.user)
        if api_token.read_only and request.method not in SAFE_METHODS:
            raise PermissionDenied("This API token is read-only.")
        return api_token


class StaffSessionAuth(SessionAuth):
    """The browser's session (CSRF checked by ninja on unsafe methods), staff only."""

    def _get_key(self, request: HttpRequest) -> str | None:
        # Without a logged-in session there is nothing to forge: answer 401, not a CSRF 403.
        if not request.user.is_authenticated:
            return None
        return super()._get_key(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = super().authenticate(request, key)
        return _staff_only(user) if user else None


class LighterWebAPI(NinjaAPI):
    """NinjaAPI whose views answer 401 themselves instead of the login-required redirect."""

    def _get_urls(self) -> list[URLResolver | URLPattern]:
        patterns = super()._get_urls()
        for pattern in patterns:
            # LoginRequiredMiddleware would redirect anonymous scripts to the login page;
            # every operation enforces its own auth instead (401/403 in the one error format).
            if isinstance(pattern, URLPattern):
                pattern.callback.login_required = False  # type: ignore[attr-defined]
        return patterns


api = LighterWebAPI(
    title="LighterWeb API",
    version="1",
    description=(
        "Accounts, markets, grid bots and their control, orders, fills, events and PnL. "
        "Authenticate with `Authorization: Bearer <token>` (tokens are created in the admin) "
        "or a staff session."
    ),
    docs_url="/docs",
    docs_decorator=staff_member_required,
    auth=[BearerTokenAuth(), StaffSessionAuth()],
    parser=DepthLimitedParser(),
)


def _error(
    request: HttpRequest,
    status: int,
    code: str,
    detail: str,
    errors: list[dict[str, str]] | None = None,
) -> HttpResponse:
    return api.create_response(
        request, {"detail": detail, "code": code, "errors": errors or []}, status=status
    )


@api.exception_handler(NinjaValidationError)
def _request_invalid(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    errors = [
        {"field": _field_name(error.get("loc", ())), "message": str(error.get("msg", "invalid"))}
        for error in exc.errors
    ]
    return _error(request, 422, "validation", "Invalid input.", errors)


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    # ninja reports ("body", "payload", "step") or ("query", "limit"): keep what the caller sent.
    parts = [str(part) for part in loc]
    if parts[:1] and parts[0] in REQUEST_PARTS:
        parts = parts[1:]
    if parts[:1] == [BODY_PARAM]:
        parts = parts[1:]
    return ".".join(parts) or "__all__"


@api.exception_handler(DjangoValidationError)
def _model_invalid(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    if hasattr(exc, "error_dict"):
        errors = [
            {"field": field, "message": message}
            for field, messages in exc.message_dict.items()
            for message in messages
        ]
    else:
        errors = [{"field": "__all__", "message": message} for message in exc.messages]
    return _error(request, 422, "validation", "Invalid input.", errors)


@api.exception_handler(ObjectDoesNotExist)
def _not_found(request: HttpRequest, exc: ObjectDoesNotExist) -> HttpResponse:
    # The ORM's own text ("GridBot matching query does not exist.") names a class, not what
    # the caller asked for: say which kind of thing the path names (`/api/bots/4` for a hedge
    # bot's id: no grid bot there).
    kind = next(
        (
            str(m._meta.verbose_name)
            for m in apps.get_models()
            if type(exc) is getattr(m, "DoesNotExist", None)
        ),
        None,
    )
    detail = f"No {kind} at {request.path}." if kind else "Not found."
    return _error(request, 404, "not_found", detail)


@api.exception_handler(Http404)
def _http_404(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, "not_found", str(exc) or "Not found.")


@api.exception_handler(BotActionRefused)
def _refused(request: HttpRequest, exc: BotActionRefused) -> HttpResponse:
    # bots.services refuses an invalid configuration with the model's ValidationError as the
    # cause: that is the caller's input, so it is a 422 listing each field.
    if isinstance(exc.__cause__, DjangoValidationError):
        return _model_invalid(request, exc.__cause__)
    return _error(request, 409, "refused", str(exc))


@api.exception_handler(PositionActionRefused)
def _position_refused(request: HttpRequest, exc: PositionActionRefused) -> HttpResponse:
    errors = [{"field": exc.field, "message": str(exc)}] if exc.field else []
    code = "refused" if exc.status == 409 else "invalid" if exc.status == 400 else "not_found"
    return _error(request, exc.status, code, str(exc), errors)


@api.exception_handler(ExchangeActionFailed)
def _exchange_failed(request: HttpRequest, exc: ExchangeActionFailed) -> HttpResponse:
    return _error(request, 502, "exchange_failed", str(exc))


@api.exception_handler(AuthenticationError)
def _unauthorized(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = _error(request, 401, "unauthorized", "Log in, or send a valid bearer token.")
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(NotStaff)
def _not_staff(request: HttpRequest, exc: NotStaff) -> HttpResponse:
    return _error(request, 403, "forbidden", "Staff access only.")


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return _error(request, 403, "forbidden", str(exc) or "Forbidden.")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # ninja raises these itself, e.g. a failed CSRF check (403) or a throttle (429); a body
    # our parser refused unparsed arrives as its "cannot parse" 400.
    if isinstance(exc.__cause__, JsonTooDeep):
        errors = [{"field": "__all__", "message": str(exc.__cause__)}]
        return _error(request, 422, "validation", "Invalid input.", errors)
    return _error(request, exc.status_code, f"http_{exc.status_code}", exc.message)


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    # The one place an unexpected failure is logged (with its traceback) and hidden from callers.
    logger.exception("api: %s %s failed", request.method, request.path)
    return _error(request, 500, "internal", "Internal error; the server log has the details.")


class PingOut(Schema):
    status: str


@api.get("/ping", response=PingOut)
def ping(request: HttpRequest) -> PingOut:
    """Liveness of the API for an authenticated caller; full checks live at /healthz."""
    return PingOut(status="ok")


api.add_router("/", bots_router)
api.add_router("/", positions_router)


@csrf_exempt  # answers only "not found": nothing to forge
@login_not_required  # scripts get the JSON answer, not the login page
def api_not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Any path under /api/ that is no operation: a JSON 404 in the API's error format (never
    Django's HTML page), pointing at the path without its trailing slash when that exists."""
    detail = f"No API operation at {request.path}."
    trimmed = request.path.rstrip("/")
    if trimmed != request.path and trimmed != "/api":
        try:
            resolve(trimmed)
        except Resolver404:
            pass
        else:
            detail += f" Did you mean {trimmed} (no trailing slash)?"
    detail += " The operations are listed at /api/docs."
    return JsonResponse({"detail": detail, "code": "not_found", "errors": []}, status=404)
