"""Log out everywhere: end every session of a user (database sessions).

Django keeps no index from a user to their sessions, so each live session is decoded once; a site
with a handful of operators has a handful of sessions. Open dashboard websockets notice within
seconds (bots.dashboard.consumers re-reads the session store) and close.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.utils import timezone

logger = logging.getLogger(__name__)


def sessions_end_for(user: Any) -> int:
    """Delete every live session of `user`; returns how many ended."""
    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get(SESSION_KEY)) == str(user.pk):
            session.delete()
            ended += 1
    logger.info("ended %d session(s) of user %s", ended, user.pk)
    return ended
