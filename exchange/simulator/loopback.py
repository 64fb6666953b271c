"""Where the simulator may listen: loopback only.

Its `/sim/` endpoints move prices, mint funded accounts and reset the venue without any
credentials; they are for tools on the same machine. Binding anything else is refused, so a
typo or a copied `--host 0.0.0.0` never exposes them to the network.
"""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # another host name: it could resolve to anything


def require_loopback(host: str) -> None:
    """Raise ValueError naming `host` unless it is a loopback address."""
    if not is_loopback(host):
        raise ValueError(
            f"the simulator listens on loopback only (its /sim/ endpoints control the venue "
            f"without credentials): refusing host {host!r}; use 127.0.0.1"
        )
