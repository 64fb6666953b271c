"""Long polling of Telegram for commands: no public webhook, only outgoing HTTPS.

The `telegram` process (`python manage.py telegram_poll`) asks Telegram for new messages of every
bot token of an enabled Telegram channel that answers commands, answers each in its chat and
remembers the last update id per token in Redis, so a restart neither loses nor repeats a
command. One token waits up to LONG_POLL_SECONDS for a message; several tokens share that wait.
"""

from __future__ import annotations

import hashlib
import logging
import threading

import redis
from django.conf import settings
from django.db import connections

from bots.models import ChannelKind
from bots.notify import commands, telegram
from bots.notify.http import DeliveryFailed
from bots.notify.selectors import channel_list
from lighterweb.crypto import SecretDecryptionError

logger = logging.getLogger(__name__)

LONG_POLL_SECONDS = 25
IDLE_RECHECK_SECONDS = 30.0
ERROR_PAUSE_SECONDS = 5.0
OFFSET_KEY = "lighterweb:telegram:offset"


def command_tokens() -> list[str]:
    """Distinct bot tokens of the enabled Telegram channels that answer commands."""
    tokens: list[str] = []
    channels = channel_list().filter(kind=ChannelKind.TELEGRAM, telegram_commands=True)
    for channel in channels:
        try:
            token = channel.decrypt_telegram_bot_token()
        except SecretDecryptionError:
            logger.warning("telegram: channel %s: bot token cannot be decrypted", channel.name)
            continue
        if token and token not in tokens:
            tokens.append(token)
    return tokens


def _offset_key(token: str) -> str:
    # The token itself must not appear in Redis keys (they show up in monitoring tools).
    return f"{OFFSET_KEY}:{hashlib.sha256(token.encode()).hexdigest()[:16]}"


def poll_once(client: redis.Redis, token: str, wait_s: int) -> int:
    """Fetch the token's new messages, answer each; returns how many were answered."""
    raw = client.get(_offset_key(token))
    offset = int(raw) if raw is not None else 0
    answered = 0
    for update in telegram.get_updates(token, offset, wait_s):
        # Confirm before acting: a command that crashes its handler must not loop forever.
        client.set(_offset_key(token), int(update["update_id"]) + 1)
        message = update.get("message") or {}
        text, chat, author = message.get("text"), message.get("chat"), message.get("from")
        if not isinstance(text, str) or not text.startswith("/") or not chat or not author:
            continue
        sender = commands.Sender(
            telegram_user_id=int(author["id"]),
            chat_id=int(chat["id"]),
            username=str(author.get("username", "")),
        )
        try:
            answer = commands.command_answer(client, sender, text)
        except Exception:  # one command's crash must not end the poller (its one handler)
            logger.exception(
                "telegram: command %r from %s failed", text[:40], sender.telegram_user_id
            )
            answer = "That command failed; the server log has the details."
        telegram.send_message(token, sender.chat_id, answer)
        answered += 1
    return answered


def poll_round(client: redis.Redis, wait_s: int = LONG_POLL_SECONDS) -> int | None:
    """One round over every command token; None when there is no token to poll."""
    try:
        tokens = command_tokens()
    finally:
        connections.close_all()
    if not tokens:
        return None
    share = max(1, wait_s // len(tokens)) if wait_s else 0
    answered = 0
    for token in tokens:
        try:
            answered += poll_once(client, token, share)
        finally:
            connections.close_all()
    return answered


def poll_forever(stop: threading.Event) -> None:
    """Poll until `stop` is set (SIGTERM); errors pause the loop, never end it."""
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=LONG_POLL_SECONDS + 15)
    try:
        while not stop.is_set():
            try:
                if poll_round(client) is None:
                    stop.wait(IDLE_RECHECK_SECONDS)
            except (DeliveryFailed, redis.RedisError, OSError) as exc:
                logger.warning("telegram: polling failed: %s", exc)
                stop.wait(ERROR_PAUSE_SECONDS)
    finally:
        client.close()
