"""Project wiring: ASGI protocol router, Celery configuration, API mount."""

import pytest
from channels.routing import ProtocolTypeRouter

from lighterweb.celery import app


def test_asgi_application_routes_http_and_websocket():
    from lighterweb.asgi import application

    assert isinstance(application, ProtocolTypeRouter)
    assert set(application.application_mapping) == {"http", "websocket"}


def test_celery_acks_early_and_prefetches_one_task():
    # Design decision 4: a late ack plus Redis' visibility timeout could run a bot twice.
    assert app.conf.task_acks_late is False
    assert app.conf.worker_prefetch_multiplier == 1


def test_celery_has_the_bots_and_default_queues_and_a_beat_heartbeat():
    assert {queue.name for queue in app.conf.task_queues} == {"bots", "celery"}
    assert app.conf.task_default_queue == "celery"
    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "lighterweb.celery.beat_heartbeat_task" in tasks


def test_celery_is_not_eager():
    assert app.conf.task_always_eager is False


@pytest.mark.django_db
def test_api_docs_render_for_a_logged_in_user(admin_client):
    response = admin_client.get("/api/docs")

    assert response.status_code == 200


@pytest.mark.django_db
def test_api_ping_answers_a_logged_in_user(admin_client):
    assert admin_client.get("/api/ping").json() == {"status": "ok"}
