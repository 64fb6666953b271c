"""One request cannot take the web process down: oversized bodies are 413 before Django reads
them, deeply nested JSON is 422 unparsed, unknown websocket paths close cleanly."""

# ruff: noqa: F811 - pytest fixtures imported from tests.bots.api_helpers
from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import HttpCommunicator, WebsocketCommunicator
from django.conf import settings as django_settings

from lighterweb.asgi import application
from lighterweb.limits import JSON_MAX_DEPTH, json_depth_exceeds
from tests.bots.api_helpers import api, staff  # noqa: F401 - fixtures

HOST = [(b"host", b"127.0.0.1:8000")]


async def _post(body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> dict:
    communicator = HttpCommunicator(
        application,
        "POST",
        "/api/bots",
        body=body,
        headers=[*HOST, (b"content-type", b"application/json"), *(headers or [])],
    )
    return await communicator.get_response(timeout=10)


async def test_a_body_over_the_limit_is_413_before_django_reads_it(settings):
    settings.REQUEST_BODY_MAX_BYTES = 1000

    response = await _post(b"x" * 5000)

    assert response["status"] == 413
    assert json.loads(response["body"])["code"] == "too_large"


async def test_a_chunked_body_over_the_limit_is_413(settings):
    settings.REQUEST_BODY_MAX_BYTES = 1000
    communicator = HttpCommunicator(application, "POST", "/api/bots", body=b"", headers=HOST)
    # Two chunks with no Content-Length: the limit is counted as the body streams in.
    await communicator.send_input({"type": "http.request", "body": b"[" * 600, "more_body": True})
    await communicator.send_input({"type": "http.request", "body": b"[" * 600, "more_body": True})

    start = await communicator.receive_output(timeout=10)

    assert start["status"] == 413
    await communicator.wait(timeout=10)


async def test_a_body_under_the_limit_reaches_the_api(settings):
    settings.REQUEST_BODY_MAX_BYTES = 1000

    response = await _post(b"{}" + b" " * 900)

    # Anonymous: the API itself answers 401, so the body got through the limit.
    assert response["status"] == 401


def test_default_limit_makes_a_5mb_body_a_413():
    from django.conf import settings

    assert settings.REQUEST_BODY_MAX_BYTES < 5 * 1024 * 1024
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == settings.REQUEST_BODY_MAX_BYTES


@pytest.mark.django_db
def test_deeply_nested_json_is_422_without_parsing_it(api):
    response = api.client.post(
        "/api/bots",
        data=b"[" * 100_000 + b"]" * 100_000,
        content_type="application/json",
        headers=api.headers,
    )

    assert response.status_code == 422
    assert f"deeper than {JSON_MAX_DEPTH} levels" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("text", "too_deep"),
    [
        ('{"a": 1}', False),
        ("[" * JSON_MAX_DEPTH + "]" * JSON_MAX_DEPTH, False),
        ("[" * (JSON_MAX_DEPTH + 1) + "]" * (JSON_MAX_DEPTH + 1), True),
        ('{"name": "' + "[" * 500 + '"}', False),
        ('{"name": "a\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', False),
        ('{"a": {"b": {"c": [' + "{}," * 1000 + "{}]}}}", False),
    ],
    ids=["flat", "at the limit", "over the limit", "brackets in a string", "escaped quote", "wide"],
)
def test_json_depth_counts_nesting_not_brackets_in_strings(text, too_deep):
    assert json_depth_exceeds(text.encode()) is too_deep


# The websocket stack's auth middleware checks the thread's database connection: after the
# upload tests (which read sessions from a thread) that thread has one.
@pytest.mark.django_db(transaction=True)
async def test_an_unknown_websocket_path_closes_with_4404_not_a_server_error():
    communicator = WebsocketCommunicator(
        application, "/ws/no-such-thing/", headers=[*HOST, (b"origin", b"http://127.0.0.1:8000")]
    )

    connected, code = await communicator.connect(timeout=10)

    assert (connected, code) == (False, 4404)
    # As a server would after the close: the consumer ends, nothing is left for the teardown.
    await communicator.disconnect(timeout=10)


UPLOAD = "/admin/bots/candle/upload/"


def _staff_cookie() -> list[tuple[bytes, bytes]]:
    """The session cookie of a logged-in active staff user."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_user("uploader", password="x", is_staff=True)
    client = Client()
    client.force_login(user)
    session = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    return [(b"cookie", f"{django_settings.SESSION_COOKIE_NAME}={session}".encode())]


@pytest.mark.django_db(transaction=True)
async def test_the_candle_upload_path_has_its_own_larger_limit_for_staff(settings):
    """A CSV of candles is larger than any form: for a staff user's session its path takes
    bodies up to its own limit (the request reaches Django: without a CSRF cookie, Django's own
    403)."""
    settings.REQUEST_BODY_MAX_BYTES = 1000
    settings.REQUEST_BODY_LARGE_PATHS = {UPLOAD: 10_000}
    cookie = await sync_to_async(_staff_cookie)()
    communicator = HttpCommunicator(
        application, "POST", UPLOAD, body=b"x" * 5000, headers=[*HOST, *cookie]
    )
    response = await communicator.get_response(timeout=10)
    assert response["status"] == 403 and b"CSRF" in response["body"]

    too_big = HttpCommunicator(
        application, "POST", UPLOAD, body=b"x" * 20_000, headers=[*HOST, *cookie]
    )
    assert (await too_big.get_response(timeout=10))["status"] == 413


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("cookie", [b"", b"sessionid=not-a-session", b"sessionid="])
async def test_a_stranger_gets_the_ordinary_limit_on_the_upload_path(settings, cookie):
    """Without a staff user's session the upload path is like any other: a body over the
    ordinary limit is 413 before a byte is read (no stranger makes the server spool 128 MB)."""
    settings.REQUEST_BODY_MAX_BYTES = 1000
    settings.REQUEST_BODY_LARGE_PATHS = {UPLOAD: 10_000}
    headers = [*HOST, (b"cookie", cookie)] if cookie else HOST
    communicator = HttpCommunicator(application, "POST", UPLOAD, body=b"x" * 5000, headers=headers)
    assert (await communicator.get_response(timeout=10))["status"] == 413


@pytest.mark.django_db(transaction=True)
async def test_a_non_staff_session_gets_the_ordinary_limit_on_the_upload_path(settings):
    settings.REQUEST_BODY_MAX_BYTES = 1000
    settings.REQUEST_BODY_LARGE_PATHS = {UPLOAD: 10_000}

    def cookie() -> list[tuple[bytes, bytes]]:
        from django.contrib.auth import get_user_model
        from django.test import Client

        user = get_user_model().objects.create_user("trader-no-staff", password="x")
        client = Client()
        client.force_login(user)
        name = django_settings.SESSION_COOKIE_NAME
        return [(b"cookie", f"{name}={client.cookies[name].value}".encode())]

    headers = [*HOST, *(await sync_to_async(cookie)())]
    communicator = HttpCommunicator(application, "POST", UPLOAD, body=b"x" * 5000, headers=headers)
    assert (await communicator.get_response(timeout=10))["status"] == 413


@pytest.mark.django_db(transaction=True)
async def test_a_chunked_upload_over_its_limit_is_413(settings):
    settings.REQUEST_BODY_LARGE_PATHS = {UPLOAD: 1000}
    cookie = await sync_to_async(_staff_cookie)()
    communicator = HttpCommunicator(application, "POST", UPLOAD, body=b"", headers=[*HOST, *cookie])
    await communicator.send_input({"type": "http.request", "body": b"x" * 600, "more_body": True})
    await communicator.send_input({"type": "http.request", "body": b"x" * 600, "more_body": True})

    start = await communicator.receive_output(timeout=10)

    assert start["status"] == 413
    await communicator.wait(timeout=10)
