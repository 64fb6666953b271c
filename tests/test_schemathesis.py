"""Property-based run over the API's own OpenAPI schema: no input makes it answer a 5xx, and
every answer conforms to the schema (documented status, content type and body shape).

schemathesis generates requests (valid and invalid) for every operation and sends them to the
Django app in-process (WSGI), authenticated with the bearer token of a staff user in the admin
role, then of one in the viewer role (whose writes are all 403), against a database with
one account, market and bot so that ids in paths sometimes exist. Examples are bounded per
operation so the run takes well under a minute. The only 5xx allowed is one an operation
documents (GET /api/health answers 503 when a component is down, as it is in tests).
"""

from decimal import Decimal

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from lighterweb.api import api as root_api
from lighterweb.models import ApiToken
from tests.bots.api_helpers import make_event, make_fill, make_order
from tests.lighterweb.factories import make_account, make_bot, make_market, role_group

EXAMPLES_PER_OPERATION = 30
CONFORMANCE = [status_code_conformance, response_schema_conformance, content_type_conformance]
# /api/health probes Redis and Celery with sub-second timeouts on each call; its only inputs are
# headers, so a few examples say all there is to say.
SLOW_OPERATIONS = {"GET /api/health": 3}

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def _operations():
    schema = schemathesis.openapi.from_dict(root_api.get_openapi_schema())
    schema.app = get_wsgi_application()
    return [result.ok() for result in schema.get_all_operations()]


def _seed(role: str) -> dict[str, str]:
    account = make_account(name="main")
    market = make_market(last_price=Decimal("4000"))
    bot = make_bot(account, market, name="eth-grid")
    make_order(bot, 1)
    make_fill(bot, 1)
    make_event(bot, "start")
    staff = User.objects.create_user("fuzzer", password="pw-for-tests-only", is_staff=True)
    staff.groups.add(role_group(role))
    _, raw = ApiToken.issue(staff, "schemathesis")
    return {"Authorization": f"Bearer {raw}"}


def _fuzz(operation, headers: dict[str, str], failures: list[str]) -> None:
    documented = {int(code) for code in operation.definition.raw["responses"] if code.isdigit()}

    @hypothesis_settings(
        max_examples=SLOW_OPERATIONS.get(operation.label, EXAMPLES_PER_OPERATION),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case):
        response = case.call(headers=headers)
        if response.status_code >= 500 and response.status_code not in documented:
            failures.append(
                f"{operation.label}: {response.status_code} for {case.as_curl_command()}"
            )
        try:
            case.validate_response(response, checks=CONFORMANCE)
        except (AssertionError, FailureGroup) as exc:
            failures.append(f"{operation.label}: {str(exc)[:400]}")

    run()


@pytest.fixture
def keep_test_connection():
    """Like Django's test client: a finished request must not close the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_no_generated_request_gets_a_5xx_or_an_undocumented_answer(
    keep_test_connection, settings, redis_url, role
):
    settings.REDIS_URL = redis_url
    settings.CELERY_BROKER_URL = redis_url
    headers = _seed(role)
    failures: list[str] = []

    for operation in _operations():
        _fuzz(operation, headers, failures)

    assert failures == []
