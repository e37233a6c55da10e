"""Writes a user would miss if a failover lost them (an authorize link's state, a handler's retry record, a
renewal's write-back) are confirmed by a replica before they are acknowledged: `WAIT 1 <ms>` in the same round trip,
when the master has replicas.

Redis replicates asynchronously: a master being failed over, or cut off from its replicas, keeps taking writes
that its resync then discards (with Redis's default `min-replicas-to-write 0`). A master that had a replica within
REPLICA_MEMORY is waited on even when it has none now, since losing its replica is what such a master looks like;
after that long alone (a replica that died, not a failover), writes go on unconfirmed and `check` says so. That
memory is a key on the master itself, so a process that starts while the master is cut off knows it too.
"""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

from redis import Redis

from .. import defaults
from ..logs import loggable, logger
from .connection import ERRORS, PROBE, is_cluster
from .keyspace import account_prefix

# Exists while the master had a replica within REPLICA_MEMORY (set again every REPLICA_MEMORY / 6 while it has one).
REPLICAS_SEEN = "replication:replicas_seen"  # under the account's prefix


class ReplicaAcks:
    def __init__(self, redis: Redis, appid: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._redis, self._clock = redis, clock
        self._seen, self._probe = account_prefix(appid) + REPLICAS_SEEN, account_prefix(appid) + PROBE
        self._cluster = is_cluster(redis)  # a Cluster fails over by its own rules; WAIT names no key to route by
        self._checked_at, self._replicas, self._marked_at, self._remembered = float("-inf"), 0, float("-inf"), False
        self._supported: bool | None = None  # WAIT: a managed Redis's proxy may refuse it; then nothing waits
        self._lock = threading.Lock()

    def wait_command(self, send: Callable[[list], list] | None = None) -> tuple | None:
        """("WAIT", 1, ms) to send after the writes on their connection, or None when there is no replica to wait
        for. `send` sends commands in one round trip (the caller's own connections: asking on a busy one costs no
        health-check PING)."""
        if self._cluster or not self._expected(send or self._send) or not self._supported:
            return None
        return ("WAIT", 1, defaults.REPLICA_WAIT_MS)

    def replicas(self, send: Callable[[list], list] | None = None) -> tuple[int, bool]:
        """Replicas connected to the master now, and whether it had one within REPLICA_MEMORY (asked afresh)."""
        self._checked_at = float("-inf")
        expected = self._expected(send or self._send)
        return self._replicas, expected

    def isolated(self) -> str | None:
        """What is wrong when the master should have a replica and none confirms a write in time; else None."""
        wait = self.wait_command()
        if wait is None:
            return None
        with self._redis.pipeline(transaction=False) as pipe:  # one connection: WAIT counts the write before it
            pipe.set(self._probe, 1, px=10000)
            pipe.execute_command(*wait)
            _, acked = pipe.execute()
        if confirmed(acked):
            return None
        return (f"isolated: no replica confirmed a write within {defaults.REPLICA_WAIT_MS} ms (a master being failed "
                "over, or cut off from its replicas: what it takes now, the failover loses)")

    def min_replicas_to_write(self) -> int | None:
        """The master's min-replicas-to-write; None where CONFIG is not allowed (managed Redis)."""
        try:
            found: dict[Any, Any] = self._redis.config_get("min-replicas-to-write")  # keys: bytes, from our clients
        except ERRORS:
            return None
        value = found.get("min-replicas-to-write", found.get(b"min-replicas-to-write"))
        return int(value) if value is not None else None

    def _expected(self, send: Callable[[list], list]) -> bool:
        now = self._clock()
        if now - self._checked_at >= defaults.REPLICA_CHECK_EVERY:
            with self._lock:
                if now - self._checked_at >= defaults.REPLICA_CHECK_EVERY:
                    self._checked_at = now
                    self._check(send, now)
        return self._replicas > 0 or self._remembered

    def _check(self, send: Callable[[list], list], now: float) -> None:
        """Ask the master how many replicas it has and whether it had one lately; mark that it has one now."""
        mark = now - self._marked_at >= defaults.REPLICA_MEMORY / 6
        try:
            info, remembered = send([("INFO", "replication"), ("EXISTS", self._seen)])
            self._replicas, self._remembered = _connected(info), bool(remembered)
            if self._supported is None and (self._replicas or self._remembered):
                self._supported = _takes_wait(send)
            if self._replicas and mark:
                send([("SET", self._seen, self._replicas, "EX", int(defaults.REPLICA_MEMORY))])
                self._marked_at = now
        except ERRORS:
            pass  # the write itself will say what is wrong

    def _send(self, commands: list) -> list:
        return [self._redis.execute_command(*command) for command in commands]


def _takes_wait(send: Callable[[list], list]) -> bool:
    """Whether this Redis runs WAIT (WAIT 0 0 answers at once); a proxy that refuses it is said so once."""
    from redis.exceptions import ResponseError

    try:
        send([("WAIT", 0, 0)])
    except ResponseError as error:
        logger("wechat_bot.redis").warning("this Redis refuses WAIT (%s): writes are not confirmed by a replica, so "
                                           "a failover may lose some; set min-replicas-to-write where it can be set",
                                           loggable(str(error), 80, spaces=True))
        return False
    return True


def _connected(info: object) -> int:
    if isinstance(info, dict):  # redis-py's client parses INFO; the push's own connections do not
        return int(info.get("connected_slaves", 0))
    found = re.search(rb"connected_slaves:(\d+)", info if isinstance(info, bytes) else b"")
    return int(found.group(1)) if found else 0


def confirmed(reply: object) -> bool:
    """Whether WAIT's reply says a replica has the writes."""
    return isinstance(reply, int) and reply >= 1
