"""Leases: one holder at a time for a name, across processes and hosts, expiring if the holder dies.

A lease is `SET key owner NX EX ttl`; releasing or extending first checks, in one script, that the value is
still our owner token, so a holder whose lease ran out never frees or stretches its successor's.
"""
from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from redis import Redis
from redis.exceptions import NoScriptError

from .connection import is_cluster
from .keyspace import account_prefix

KEY = "lease:"  # + the lease's name, under the account's prefix

_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
_EXTEND = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
           "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0")


class Leases:
    def __init__(self, redis: Redis, appid: str) -> None:
        self._redis, self._prefix = redis, account_prefix(appid) + KEY
        self._release = redis.register_script(_RELEASE)
        self._extend = redis.register_script(_EXTEND)

    def acquire(self, name: str, ttl: float) -> str | None:
        """Our owner token if the lease was free, else None."""
        owner = secrets.token_hex(16)
        return owner if self._redis.set(self._prefix + name, owner, nx=True, px=int(ttl * 1000)) else None

    def acquire_many(self, names: list[str], ttl: float) -> list[str | None]:
        """`acquire` for each name, in one round trip."""
        owners = [secrets.token_hex(16) for _ in names]
        with self._redis.pipeline(transaction=False) as pipe:
            for name, owner in zip(names, owners, strict=True):
                pipe.set(self._prefix + name, owner, nx=True, px=int(ttl * 1000))
            taken = pipe.execute()
        return [owner if ok else None for owner, ok in zip(owners, taken, strict=True)]

    def release(self, name: str, owner: str) -> bool:
        return bool(self._release(keys=[self._prefix + name], args=[owner]))

    def release_many(self, held: list[tuple[str, str]]) -> None:
        """`release` for each (name, owner): one round trip, or one each on a cluster (its pipeline takes no
        script)."""
        if not held:
            return
        if is_cluster(self._redis):
            for name, owner in held:
                self.release(name, owner)
            return
        with self._redis.pipeline(transaction=False) as pipe:
            for name, owner in held:
                pipe.evalsha(self._release.sha, 1, self._prefix + name, owner)
            try:
                pipe.execute()
            except NoScriptError:  # a restarted Redis forgot it: one by one, loading it on the way
                for name, owner in held:
                    self.release(name, owner)

    def extend(self, name: str, owner: str, ttl: float) -> bool:
        return bool(self._extend(keys=[self._prefix + name], args=[owner, int(ttl * 1000)]))

    @contextmanager
    def hold(self, name: str, ttl: float) -> Iterator[bool]:
        """`with leases.hold(name, ttl) as mine:` — mine is False when someone else holds it."""
        owner = self.acquire(name, ttl)
        try:
            yield owner is not None
        finally:
            if owner is not None:
                self.release(name, owner)
