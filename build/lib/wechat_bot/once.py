"""Do a thing once across workers and hosts, and give every repeat the first one's result.

Used for WeChat's push retries (the first delivery runs the handler; every retry gets the same body) and
for the callback's code (WeChat's Android client calls back twice with one code). The first caller claims
the key with a short-lived marker in the same round trip that reads it; its result replaces the marker.
A repeat that finds the marker waits for the result instead of doing the work again.

Work that has no effect outside its result and the writes that go with it can skip the claim: do it, then
`commit` the result and its writes in one script, which keeps an earlier caller's result if there is one.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from redis import Redis

from . import defaults

_PENDING = b"~"
_DONE = b"="

# KEYS: the result's key [, a hash whose field ARGV[3] holds the commit back]
# ARGV: result, ttl, field, then each write as its argument count followed by its arguments
_COMMIT = """
local existing = redis.call('GET', KEYS[1])
if existing then return {0, existing} end
if KEYS[2] then
  local held = redis.call('HGET', KEYS[2], ARGV[3])
  if held then return {1, held} end
end
local i = 4
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return {2}
"""


@dataclass(frozen=True)
class Claim:
    mine: bool
    body: bytes | None = None
    extra: Any = None  # what the `also` command read, in the same round trip


@dataclass(frozen=True)
class Commit:
    stored: bool
    body: bytes | None = None  # not stored: an earlier caller's result (None while theirs is in progress)
    held: bytes | None = None  # not stored: the value of the hash field that held the commit back


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
        self._commit = redis.register_script(_COMMIT)

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

    def commit(self, identity: str, body: bytes, writes: Sequence[Sequence[Any]] = (),
               unless: tuple[str, str] | None = None) -> Commit:
        """Store the result and run `writes` with it, in one round trip, unless the key already has one
        (a result or a claim) or the hash field `unless` = (key, field) exists."""
        keys = [self._prefix + identity] + ([unless[0]] if unless else [])
        args: list[Any] = [_DONE + body, self._ttl, unless[1] if unless else ""]
        for command in writes:
            args += [len(command), *command]
        outcome = self._commit(keys=keys, args=args)
        if outcome[0] == 2:
            return Commit(stored=True)
        if outcome[0] == 1:
            return Commit(stored=False, held=outcome[1])
        return Commit(stored=False, body=_body(outcome[1]))

    def release(self, identity: str) -> None:
        """Give up a claim without a result, so the next caller does the work."""
        self._redis.delete(self._prefix + identity)


def _body(value: bytes | None) -> bytes | None:
    return value[1:] if value is not None and value.startswith(_DONE) else None
