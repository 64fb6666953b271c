"""Wait until /healthz answers 200 (used by scripts/start.sh to announce the URL or to --check).

`python -m lighterweb.wait_healthy URL --timeout 120` exits 0 once URL returns HTTP 200, 1 after
the timeout (printing the last report to stderr).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import urllib.error
import urllib.request

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.5


def fetch_status(url: str, timeout_seconds: float = 2.0) -> tuple[int, str]:
    """HTTP status and body of GET url (status 0 when nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_seconds) as response:  # noqa: S310 - local URL
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()
    except (urllib.error.URLError, OSError):
        return 0, ""


def process_alive(pid: int) -> bool:
    """True while process `pid` exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_healthy(
    url: str, timeout_seconds: float, watch_pid: int | None = None
) -> tuple[bool, str]:
    """Poll url until it returns 200, the timeout passes or `watch_pid` exits.

    Returns (healthy, last body).
    """
    deadline = time.monotonic() + timeout_seconds
    body = ""
    while time.monotonic() < deadline:
        if watch_pid is not None and not process_alive(watch_pid):
            return False, body or "the watched process exited"
        status, body = fetch_status(url)
        if status == 200:
            return True, body
        # Polling a separate process: there is no event to wait on, only its HTTP answer.
        time.sleep(POLL_SECONDS)
    return False, body


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--watch-pid", type=int, default=None, help="give up when it exits")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    healthy, body = wait_healthy(args.url, args.timeout, args.watch_pid)
    if not healthy:
        logger.error("not healthy after %ss: %s", args.timeout, body or "no answer")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
