"""Who may command the bots from outside the site (Telegram)."""

from __future__ import annotations

from typing import Any

from bots import permissions


def user_is_operator(user: Any) -> bool:
    """Whether `user` may pause, stop and emergency-stop bots: what the site asks of its own
    controls (a staff user who may log in, with `bots.control_bot`), so taking the role or the
    staff status away takes Telegram away too."""
    return permissions.may_enter(user) and bool(user.has_perm(permissions.CONTROL))
