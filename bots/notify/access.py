"""Who may command the bots from outside the site (Telegram)."""

from __future__ import annotations

from typing import Any

# Until roles (viewer / operator / admin) exist, an operator is whoever may change grid bots.
OPERATOR_PERMISSION = "bots.change_gridbot"


def user_is_operator(user: Any) -> bool:
    """Whether `user` may pause, stop and emergency-stop bots: the one place that decides."""
    return bool(user is not None and user.is_active and user.has_perm(OPERATOR_PERMISSION))
