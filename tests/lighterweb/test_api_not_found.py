"""Unknown paths under /api/ answer a JSON 404 in the API's error format, never Django's page."""

import json

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/", "/api", "/api/nope", "/api/bots/1/nothing/here"])
def test_unknown_api_paths_are_json_404s(path):
    response = Client().get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "not_found"
    assert "/api/docs" in response.json()["detail"]


def test_a_trailing_slash_is_pointed_at_the_operation_without_it():
    response = Client().get("/api/bots/")

    assert response.status_code == 404
    assert "Did you mean /api/bots (no trailing slash)?" in response.json()["detail"]


def test_an_unknown_post_is_a_json_404_not_a_csrf_page():
    response = Client(enforce_csrf_checks=True).post("/api/nope", {})

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_known_operations_still_answer():
    assert Client().get("/api/ping").status_code == 401


def test_the_openapi_document_has_no_duplicated_key(admin_client):
    # Swagger UI refuses a document with a key twice ("duplicated mapping key"): e.g. a response
    # code given as 200 by one part and "200" by another.
    def no_duplicates(pairs):
        keys = [key for key, _ in pairs]
        assert len(keys) == len(set(keys)), keys
        return dict(pairs)

    response = admin_client.get("/api/openapi.json")

    json.loads(response.content, object_pairs_hook=no_duplicates)
