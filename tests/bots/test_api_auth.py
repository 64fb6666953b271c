"""Every API endpoint refuses anonymous callers (401), non-staff (403) and revoked tokens."""

import pytest
from django.test import Client

from lighterweb.api import api as root_api
from lighterweb.models import ApiToken
from tests.bots.api_helpers import Api, bearer, make_user

pytestmark = pytest.mark.django_db

# (method, url) of every operation, with ids that need not exist: auth comes before lookups.
ENDPOINTS = [
    ("get", "/api/ping"),
    ("get", "/api/accounts"),
    ("get", "/api/accounts/summaries"),
    ("get", "/api/accounts/1"),
    ("get", "/api/accounts/1/summary"),
    ("get", "/api/accounts/1/pnl-history"),
    ("get", "/api/accounts/1/positions"),
    ("post", "/api/accounts/1/positions/0/close"),
    ("post", "/api/accounts/1/positions/0/tpsl"),
    ("post", "/api/accounts/1/positions/0/tpsl/7/cancel"),
    ("get", "/api/markets"),
    ("get", "/api/markets/1"),
    ("get", "/api/bots"),
    ("post", "/api/bots"),
    ("post", "/api/bots/preview"),
    ("get", "/api/bots/1"),
    ("patch", "/api/bots/1"),
    ("delete", "/api/bots/1"),
    ("get", "/api/bots/1/pnl"),
    ("get", "/api/bots/1/export"),
    ("get", "/api/bots/1/candles"),
    ("get", "/api/bots/1/pnl-history"),
    ("post", "/api/bots/1/start"),
    ("post", "/api/bots/1/stop"),
    ("post", "/api/bots/1/pause"),
    ("post", "/api/bots/1/emergency-stop"),
    ("post", "/api/bots/1/cancel-all"),
    ("get", "/api/hedge-bots"),
    ("post", "/api/hedge-bots"),
    ("get", "/api/hedge-bots/1"),
    ("patch", "/api/hedge-bots/1"),
    ("delete", "/api/hedge-bots/1"),
    ("post", "/api/hedge-bots/1/start"),
    ("post", "/api/hedge-bots/1/stop"),
    ("post", "/api/hedge-bots/1/pause"),
    ("post", "/api/hedge-bots/1/emergency-stop"),
    ("post", "/api/emergency-stop"),
    ("post", "/api/cancel-all"),
    ("get", "/api/orders"),
    ("get", "/api/fills"),
    ("get", "/api/events"),
    ("get", "/api/status"),
    ("get", "/api/health"),
]
IDS = [f"{method} {url}" for method, url in ENDPOINTS]


def _send(client: Client, method: str, url: str, headers: dict[str, str] | None = None):
    kwargs = {"headers": headers or {}}
    if method != "get":
        kwargs |= {"data": {}, "content_type": "application/json"}
    return getattr(client, method)(url, **kwargs)


def test_the_endpoint_list_covers_every_operation_of_the_schema():
    schema = root_api.get_openapi_schema()
    operations = {(method, path) for path, item in schema["paths"].items() for method in item}
    listed = {
        (method, "/api" + path)
        for method, path in (
            (m, u.removeprefix("/api").replace("/1", "/{x}")) for m, u in ENDPOINTS
        )
    }
    normalised = {
        (
            method,
            path.replace("{account_id}", "{x}")
            .replace("{market_id}", "{x}")
            .replace("{bot_id}", "{x}")
            .replace("{market_index}", "0")
            .replace("{order_index}", "7"),
        )
        for method, path in operations
    }

    assert normalised == listed


@pytest.mark.parametrize(("method", "url"), ENDPOINTS, ids=IDS)
def test_anonymous_caller_gets_401_in_the_error_format(method, url):
    response = _send(Client(), method, url)

    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "url"), ENDPOINTS, ids=IDS)
def test_unknown_bearer_token_gets_401(method, url):
    response = _send(Client(), method, url, bearer("lw_not-a-token"))

    assert response.status_code == 401


@pytest.mark.parametrize(("method", "url"), ENDPOINTS, ids=IDS)
def test_revoked_token_gets_401(method, url):
    token, raw = ApiToken.issue(make_user("alice"), "old script")
    token.revoke()

    response = _send(Client(), method, url, bearer(raw))

    assert response.status_code == 401


@pytest.mark.parametrize(("method", "url"), ENDPOINTS, ids=IDS)
def test_non_staff_session_gets_403(method, url):
    client = Client()
    client.force_login(make_user("bob", staff=False))

    response = _send(client, method, url)

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


@pytest.mark.parametrize(("method", "url"), ENDPOINTS, ids=IDS)
def test_non_staff_token_gets_403(method, url):
    _, raw = ApiToken.issue(make_user("bob", staff=False), "script")

    response = _send(Client(), method, url, bearer(raw))

    assert response.status_code == 403


@pytest.mark.parametrize(
    ("method", "url"),
    [e for e in ENDPOINTS if e[0] != "get"],
    ids=[i for i, e in zip(IDS, ENDPOINTS, strict=True) if e[0] != "get"],
)
def test_session_write_without_csrf_token_gets_403(method, url):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("alice"))

    response = _send(client, method, url)

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_session_write_with_csrf_token_passes_auth():
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("alice"))
    client.get("/admin/")  # the admin page sets the CSRF cookie
    token = client.cookies["csrftoken"].value

    response = client.post(
        "/api/bots/999/start", headers={"X-CSRFToken": token}, content_type="application/json"
    )

    assert response.status_code == 404


def test_bearer_token_needs_no_csrf_token():
    _, raw = ApiToken.issue(make_user("alice"), "script")
    api = Api(raw)
    api.client = Client(enforce_csrf_checks=True)

    assert api.post("/api/bots/999/start").status_code == 404


def test_staff_session_reads_the_api():
    client = Client()
    client.force_login(make_user("alice"))

    assert client.get("/api/ping").json() == {"status": "ok"}


def test_docs_are_for_staff_only():
    assert Client().get("/api/docs").status_code == 302
    client = Client()
    client.force_login(make_user("alice"))
    assert client.get("/api/docs").status_code == 200
