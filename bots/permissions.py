"""The permission each kind of access needs, checked the same way by the admin, the API, the
dashboard views and the websocket (the roles that hold them: lighterweb.roles).

Being staff is required to get in at all; what a staff user may then see or do is only what
their permissions allow (superusers: everything).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied

VIEW = "bots.view_gridbot"
CONTROL = "bots.control_bot"
ADD_BOT = "bots.add_gridbot"
CHANGE_BOT = "bots.change_gridbot"
DELETE_BOT = "bots.delete_gridbot"
VIEW_ACCOUNT = "bots.view_exchangeaccount"
VIEW_MARKET = "bots.view_market"
VIEW_ORDER = "bots.view_order"
VIEW_FILL = "bots.view_fill"
VIEW_EVENT = "bots.view_botevent"
UNLOCK_ACCOUNT = "bots.unlock_account"


def may_enter(user: Any) -> bool:
    """Whether `user` may use the site's staff interfaces at all."""
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_staff)


def dashboard_allowed(user: Any) -> bool:
    """Whether `user` may watch the dashboard (pages and websocket)."""
    return may_enter(user) and bool(user.has_perm(VIEW))


def require(user: Any, *permissions: str) -> None:
    """Raise PermissionDenied naming what is missing unless `user` holds every permission."""
    missing = [name for name in permissions if not user.has_perm(name)]
    if missing:
        raise PermissionDenied(f"Your role does not allow this (needs {', '.join(missing)}).")
