"""WeChat's retries: the first delivery of a push runs its handler; every retry gets the same body.

One key per push under `wechat_bot:push:`. The first delivery claims it with a short-lived marker in the
same round trip that reads it; the finished body replaces the marker. A retry that finds the marker waits
for the body instead of running the handler again, on any worker of any host sharing the Redis.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from redis import Redis

from .. import defaults

KEY_PREFIX = "wechat_bot:push:"
_PENDING = b"~"
_DONE = b"="


def push_key(identity: str) -> str:
    return KEY_PREFIX + identity


@dataclass(frozen=True)
class Claim:
    mine: bool
    body: bytes | None = None


class ReplyCache:
    """Claims pushes and remembers their reply bodies for `ttl` seconds."""

    def __init__(
        self,
        redis: Redis,
        *,
        ttl: int = defaults.REPLY_CACHE_TTL,
        pending_ttl: int = defaults.PENDING_TTL,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._redis, self._ttl, self._pending_ttl = redis, ttl, pending_ttl
        self._clock, self._sleep = clock, sleep

    def claim(self, identity: str) -> Claim:
        """Mine if no delivery of this push came before; else the body it got, if it has one yet."""
        key = push_key(identity)
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(key, _PENDING, nx=True, ex=self._pending_ttl)
            pipe.get(key)
            first, value = pipe.execute()
        if first:
            return Claim(mine=True)
        return Claim(mine=False, body=_body(value))

    def wait(self, identity: str, until: float) -> bytes | None:
        """Poll for the body of a delivery in progress until the monotonic time `until`."""
        key, pause = push_key(identity), defaults.RETRY_POLL_FIRST
        while self._clock() + pause < until:
            self._sleep(pause)
            body = _body(self._redis.get(key))
            if body is not None:
                return body
            pause = min(pause * 2, defaults.RETRY_POLL_MAX)
        return None

    def store(self, identity: str, body: bytes) -> None:
        self._redis.set(push_key(identity), _DONE + body, ex=self._ttl)


def _body(value: bytes | None) -> bytes | None:
    return value[1:] if value is not None and value.startswith(_DONE) else None
