"""Do a thing once across workers and hosts, and give every repeat the first one's result.

Used for WeChat's push retries (the first delivery runs the handler; every retry gets the same body) and
for the callback's code (WeChat's Android client calls back twice with one code). The first caller claims
the key with a short-lived marker in the same round trip that reads it; its result replaces the marker.
A repeat that finds the marker waits for the result instead of doing the work again.

Work that has no effect outside its result and the writes that go with it can skip the claim: do it, then
`commit` the result and its writes in one script, which keeps an earlier caller's result if there is one.

A claim or commit may be `bound` to a digest under a second key (a push's signed query, bound to the first
body it came with): another digest under that key is refused, so a reused query cannot carry another body. The
binding's key is in another cluster slot than the result's, so it is never inside a script or transaction with
it: on a single Redis it rides in the same round trip, before the transaction; on a cluster it goes first.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis.exceptions import NoScriptError

from .. import defaults
from .connection import ERRORS, is_cluster
from .pending_writes import Fresh
from .replica_acks import ReplicaAcks, confirmed
from .wire import Wire

Command = Sequence[Any]  # a Redis command and its arguments: ("GET", key)

_PENDING = b"~"
_DONE = b"="


def _run_writes(first: int) -> str:
    """Lua that runs the writes packed in ARGV from index `first` on: each its argument count, then its
    arguments (`_packed_writes`)."""
    return f"""
local i = {first}
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
"""


# KEYS: the result's key, then every key the writes touch (all in one slot).
# ARGV: result, ttl, then the writes (each write's key is declared in KEYS too).
_COMMIT = """
local existing = redis.call('GET', KEYS[1])
if existing then return {0, existing} end
""" + _run_writes(3) + """
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return {2}
"""

# KEYS: the result's key, then every key the writes touch. ARGV: result, ttl, then the writes.
_OVERWRITE = _run_writes(3) + """
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""



@dataclass
class Binding:
    """The key a claim or commit is bound under, the digest it must carry, and how long the binding lasts."""

    key: str
    digest: str
    ttl: int


class BindingRefused(Exception):
    """The binding's key holds another digest: the same signed query came with another body."""


@dataclass
class Claim:
    mine: bool
    body: bytes | None = None
    extra: Any = None  # what the `also` command read, in the same round trip


@dataclass
class Commit:
    stored: bool
    body: bytes | None = None  # not stored: an earlier caller's result (None while theirs is in progress)
    extra: Any = None  # what the `also` command read, in the same round trip
    confirmed: bool = True  # stored with writes: a replica has them (or the master has none to wait for)


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
        acks: ReplicaAcks | None = None,
    ) -> None:
        self._redis, self._prefix, self._ttl, self._pending_ttl = redis, prefix, ttl, pending_ttl
        self._acks = acks
        self._clock, self._sleep = clock, sleep
        self._wire = None if is_cluster(redis) else Wire(redis)
        self._commit = redis.register_script(_COMMIT)
        self._overwrite = redis.register_script(_OVERWRITE)

    def claim(self, identity: str, also: Command | None = None, bound: Binding | None = None) -> Claim:
        """Mine if nobody claimed this before; else their result, if they have one yet. BindingRefused when
        `bound`'s key holds another digest.

        `also` is one more read sent in the same round trip, so the caller's lookup costs no extra trip.
        """
        key = self._prefix + identity
        if bound is not None and self._wire is not None:
            return self._claim_transaction(key, also, bound)
        if bound is not None:
            self._bind_first(bound)
        first, value, *extra = self._send([("SET", key, _PENDING, "NX", "EX", self._pending_ttl), ("GET", key),
                                           *([also] if also else [])])
        extra_value = extra[0] if extra else None
        if first:
            return Claim(mine=True, extra=extra_value)
        return Claim(mine=False, body=_body(value), extra=extra_value)

    def _claim_transaction(self, key: str, also: Command | None, bound: Binding) -> Claim:
        """A bound claim in one round trip: the binding, then the claim as one MULTI/EXEC (in a busy worker, Redis
        spends about twice the CPU on a script: bench/README.md). A refused claim takes back its pending marker."""
        replies = self._send([*([also] if also else []), *_bind(bound), ("MULTI",),
                              ("SET", key, _PENDING, "NX", "EX", self._pending_ttl), ("GET", key), ("EXEC",)])
        extra = replies[0] if also else None
        bound_to, (first, value) = replies[-5], _checked(replies[-1])
        if bound_to != bound.digest.encode():
            if first:
                self._undo([("DEL", key)])
            raise BindingRefused()
        if first:
            return Claim(mine=True, extra=extra)
        return Claim(mine=False, body=_body(value), extra=extra)

    def _bind_first(self, bound: Binding) -> None:
        """The binding in a round trip of its own (a cluster, or a commit by script); BindingRefused if it holds
        another digest."""
        _, bound_to = self._send(_bind(bound))
        if bound_to != bound.digest.encode():
            raise BindingRefused()

    def key(self, identity: str) -> str:
        return self._prefix + identity

    def binding(self, name: str, digest: str) -> Binding:
        """A binding kept under this cache's prefix, as long as its results."""
        return Binding(self._prefix + name, digest, self._ttl)

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

    def store(self, identity: str, body: bytes, writes: Sequence[Command] = ()) -> bool:
        """Remember the result, with `writes` in the same round trip; whether a replica confirmed them (with the
        acks this cache was given)."""
        wait = self._wait()
        replies = self._send([*writes, ("SET", self._prefix + identity, _DONE + body, "EX", self._ttl),
                              *([wait] if wait else [])])
        return confirmed(replies[-1]) if wait else True

    def _wait(self) -> tuple | None:
        return self._acks.wait_command(self._send) if self._acks is not None else None

    def commit(self, identity: str, body: bytes, writes: Sequence[Command] = (),
               bound: Binding | None = None, also: Command | None = None) -> Commit:
        """Store the result and run `writes` with it (each write's key, its second item, in the result's slot),
        unless the key already has one (a result or a claim). One round trip on a single Redis when every write is
        Fresh, with the read `also` sent before it. BindingRefused when `bound`'s key holds another digest."""
        key = self._prefix + identity
        wait = self._wait() if writes else None
        if self._wire is not None and all(type(command) is Fresh for command in writes):
            return self._commit_transaction(key, body, writes, bound, also, wait)
        if bound is not None:
            self._bind_first(bound)
        keys = [key, *(command[1] for command in writes)]
        script = ("EVALSHA", self._commit.sha, len(keys), *keys, _DONE + body, self._ttl, *_packed_writes(writes))
        replies = self._scripted([*([also] if also else []), script, *([wait] if wait else [])], _COMMIT)
        acked = confirmed(replies.pop()) if wait else True
        *extra, outcome = replies
        if outcome[0] == 2:
            return Commit(stored=True, extra=extra[0] if extra else None, confirmed=acked)
        return Commit(stored=False, body=_body(outcome[1]), extra=extra[0] if extra else None)

    def _commit_transaction(self, key: str, body: bytes, writes: Sequence[Command], bound: Binding | None,
                            also: Command | None, wait: tuple | None) -> Commit:
        """`commit` as one MULTI/EXEC of plain commands, when every write is Fresh, after the binding in the same
        round trip: in a busy worker Redis spends several times the CPU on a script (bench/README.md). The
        transaction writes before it knows whether the answer is kept; when it is not (a retry that lost, a body
        the binding refuses), what it wrote is deleted in a second trip, so Redis ends as the script leaves it."""
        replies = self._send([*([also] if also else []), *(_bind(bound) if bound else []), ("MULTI",), *writes,
                              ("SET", key, _DONE + body, "NX", "EX", self._ttl), ("GET", key), ("EXEC",),
                              *([wait] if wait else [])])
        acked = confirmed(replies.pop()) if wait else True
        extra, results = (replies[0] if also else None), _checked(replies[-1])
        refused = bound is not None and replies[-5 - len(writes)] != bound.digest.encode()
        stored = bool(results[-2])
        if refused or not stored:
            undo: list[Command] = [("DEL", command[1]) for command in writes]
            if stored:
                undo.append(("DEL", key))
            self._undo(undo)
        if refused:
            raise BindingRefused()
        if stored:
            return Commit(stored=True, extra=extra, confirmed=acked)
        return Commit(stored=False, body=_body(results[-1]), extra=extra)

    def _undo(self, commands: list[Command]) -> None:
        if not commands:
            return
        try:
            self._send(commands)
        except ERRORS:
            pass  # what stays is keys nobody knows, gone at their expiry

    def _scripted(self, commands: list[Command], source: str) -> list:
        """`_send`, loading the script once if Redis lost its script cache (a restart or a fail-over)."""
        try:
            return self._send(commands)
        except NoScriptError:
            self._redis.script_load(source)
            return self._send(commands)

    def _send(self, commands: list[Command]) -> list:
        """The replies of `commands`, sent in one round trip; on a cluster, through redis-py, which sends each to
        its key's node (a cluster pipeline takes no script: then one by one)."""
        if self._wire is not None:
            return self._wire.call(commands)
        if any(command[0] == "EVALSHA" for command in commands):
            return [self._redis.execute_command(*command) for command in commands]
        with self._redis.pipeline(transaction=False) as pipe:
            for command in commands:
                pipe.execute_command(*command)
            return pipe.execute()

    def overwrite(self, identity: str, body: bytes, writes: Sequence[Sequence[Any]] = ()) -> None:
        """Replace the stored result, with `writes` (keys in its slot), in one script."""
        key = self._prefix + identity
        args = [_DONE + body, self._ttl, *_packed_writes(writes)]
        self._overwrite(keys=[key, *(command[1] for command in writes)], args=args)

    def release(self, identity: str) -> None:
        """Give up a claim without a result, so the next caller does the work."""
        self._redis.delete(self._prefix + identity)


def _packed_writes(writes: Sequence[Command]) -> list[Any]:
    """Script arguments for `_run_writes`: each write's argument count, then its arguments."""
    packed: list[Any] = []
    for command in writes:
        packed += [len(command), *command]
    return packed


def _bind(bound: Binding) -> list[Command]:
    """In a transaction: bind the key to the digest if nothing is bound yet, then read what is bound."""
    return [("SET", bound.key, bound.digest, "NX", "EX", bound.ttl), ("GET", bound.key)]


def _checked(results: list) -> list:
    """A transaction's replies; a command that failed in it (WRONGTYPE…) raises."""
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results


def _body(value: bytes | str | None) -> bytes | None:
    return value[1:] if isinstance(value, bytes) and value.startswith(_DONE) else None
