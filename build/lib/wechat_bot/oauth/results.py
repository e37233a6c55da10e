"""The outcome of a callback, kept briefly under a random ticket so the result page has a clean URL."""
from __future__ import annotations

import json
import secrets
from typing import Any

from redis import Redis

from .. import defaults

KEY_PREFIX = "wechat_bot:oauth:result:"


class ResultTickets:
    def __init__(self, redis: Redis, ttl: int = defaults.CALLBACK_RESULT_TTL) -> None:
        self._redis, self._ttl = redis, ttl

    def save(self, result: dict[str, Any]) -> str:
        ticket = secrets.token_urlsafe(24)
        self._redis.set(KEY_PREFIX + ticket, json.dumps(result), ex=self._ttl)
        return ticket

    def load(self, ticket: str) -> dict[str, Any] | None:
        if not ticket or len(ticket) > 64:
            return None
        raw = self._redis.get(KEY_PREFIX + ticket)
        return json.loads(raw) if raw else None
