"""Idle dashboard websockets outlive the Redis client's read timeout (found by the deploy check).

A consumer waits for its next message with a blocking pop of up to `brpop_timeout` (5 s).
redis-py 8 gives every connection a 5 s socket timeout by default, so on a fresh install each
idle dashboard websocket died with "Timeout reading from Redis" and close code 1011 after
about 5 s (scripts/deploy-check.sh holds one open 30 s through the proxy). The settings give the
channel layer's connections a read timeout longer than the pop, whatever redis-py's default.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string


def test_channel_layer_connections_wait_longer_than_the_blocking_pop():
    config = settings.CHANNEL_LAYERS["default"]
    layer = import_string(config["BACKEND"])(**config["CONFIG"])  # the site's layer, as configured

    connection = layer.create_pool(0).make_connection()

    assert connection.socket_timeout is None or connection.socket_timeout > layer.brpop_timeout
