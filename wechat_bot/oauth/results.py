"""The outcome of a callback, kept briefly under a random ticket so the result page has a clean URL."""
from __future__ import annotations

import json
import secrets
from typing import Any

from redis import Redis

from .. import defaults
from ..storage.keyspace import account_prefix

KEY = "oauth:result:"  # + the ticket, under the account's prefix


class ResultTickets:
    def __init__(self, redis: Redis, appid: str, ttl: int = defaults.CALLBACK_RESULT_TTL) -> None:
        self._redis, self._ttl, self._prefix = redis, ttl, account_prefix(appid) + KEY

    def save(self, result: dict[str, Any]) -> str:
        ticket = secrets.token_urlsafe(24)
        self._redis.set(self._prefix + ticket, json.dumps(result), ex=self._ttl)
        return ticket

    def load(self, ticket: str) -> dict[str, Any] | None:
        if not ticket or len(ticket) > 64:
            return None
        raw = self._redis.get(self._prefix + ticket)
        return json.loads(raw) if raw else None
