"""Do a thing once across workers and hosts, and give every repeat the first one's result.

Used for WeChat's push retries (the first delivery runs the handler; every retry gets the same body) and
for the callback's code (WeChat's Android client calls back twice with one code). The first caller claims
the key with a short-lived marker in the same round trip that reads it; its result replaces the marker.
A repeat that finds the marker waits for the result instead of doing the work again.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from redis import Redis

from . import defaults

_PENDING = b"~"
_DONE = b"="


@dataclass(frozen=True)
class Claim:
    mine: bool
    body: bytes | None = None
    extra: Any = None  # what the `also` command read, in the same round trip


class OnceCache:
    """Claims keys under `prefix` and remembers their results for `ttl` seconds."""

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        *,
        ttl: int = defaults.REPLY_CACHE_TTL,
        pending_ttl: int = defaults.PENDING_TTL,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._redis, self._prefix, self._ttl, self._pending_ttl = redis, prefix, ttl, pending_ttl
        self._clock, self._sleep = clock, sleep

    def claim(self, identity: str, also: Callable[[Any], Any] | None = None) -> Claim:
        """Mine if nobody claimed this before; else their result, if they have one yet.

        `also` may queue one more read on the pipeline, so the caller's lookup costs no extra round trip.
        """
        key = self._prefix + identity
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(key, _PENDING, nx=True, ex=self._pending_ttl)
            pipe.get(key)
            if also is not None:
                also(pipe)
            first, value, *extra = pipe.execute()
        extra_value = extra[0] if extra else None
        if first:
            return Claim(mine=True, extra=extra_value)
        return Claim(mine=False, body=_body(value), extra=extra_value)

    def wait(self, identity: str, until: float) -> bytes | None:
        """Poll for the result of a claim in progress until the monotonic time `until`."""
        key, pause = self._prefix + identity, defaults.RETRY_POLL_FIRST
        while self._clock() + pause < until:
            self._sleep(pause)
            body = _body(self._redis.get(key))
            if body is not None:
                return body
            pause = min(pause * 2, defaults.RETRY_POLL_MAX)
        return None

    def store(self, identity: str, body: bytes, also: Callable[[Any], Any] | None = None) -> None:
        """Remember the result; `also` may queue more writes to go in the same round trip."""
        if also is None:
            self._redis.set(self._prefix + identity, _DONE + body, ex=self._ttl)
            return
        with self._redis.pipeline(transaction=False) as pipe:
            also(pipe)
            pipe.set(self._prefix + identity, _DONE + body, ex=self._ttl)
            pipe.execute()

    def release(self, identity: str) -> None:
        """Give up a claim without a result, so the next caller does the work."""
        self._redis.delete(self._prefix + identity)


def _body(value: bytes | None) -> bytes | None:
    return value[1:] if value is not None and value.startswith(_DONE) else None
