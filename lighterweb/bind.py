"""Whether the address the web process binds to is reachable from other machines.

Only loopback is private: `0.0.0.0`, `::`, `0` (which the OS reads as 0.0.0.0), a LAN address and
a public address all expose the site, and it holds exchange keys. Used by settings (the admin's
red banner) and by scripts/start.sh (`python -m lighterweb.bind "$BIND"` exits 1 when exposed).
No Django imports: start.sh runs it before Django is set up.
"""

from __future__ import annotations

import ipaddress
import socket
import sys

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def bind_exposed(bind: str) -> bool:
    """True unless `bind` is a loopback address or name."""
    host = bind.strip().strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        # "0", "127.1" and friends: what inet_aton (and so the OS) makes of them.
        return not ipaddress.ip_address(socket.inet_ntoa(socket.inet_aton(host))).is_loopback
    except OSError:
        return True  # a host name we cannot tell about: warn rather than stay silent


def main(argv: list[str]) -> int:
    """Exit status 1 when the address given is exposed, 0 when it is loopback only."""
    return 1 if bind_exposed(argv[0] if argv else "127.0.0.1") else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
