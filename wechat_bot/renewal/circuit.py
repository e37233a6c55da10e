"""How renewal is going, for every worker: failures in a row across users (a run of them opens a circuit that lets
one probe at a time through), errors no retry heals (which stop renewal until the operator fixes them), and what
/healthz and `check` say about it.

All of it is in Redis, so every worker, web process and host sees the same state.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from redis import Redis

from .. import defaults
from ..errors import WeChatError, WeChatUnavailable, WeChatUntrusted
from ..storage.keyspace import account_prefix

# A hash: failures (in a row, across users), failing_since and last_failure (Unix time), last_error (an errcode
# and WeChat's words, or why there was no answer), last_ok (the last renewal WeChat answered), open ("1" while the
# circuit lets only probes through). One small global key: every worker reads it once a batch.
CIRCUIT = "renewal:circuit"  # under the account's prefix, as HALT
# Exists while an error no retry heals stops renewal; its value says which, its time to live when to try again.
HALT = "renewal:halted"
PROBE_LEASE = "renewal:probe"  # the lease (leases.py) of the one renewal that may try while the circuit is open

NON_HEALING = {40125: "WECHAT_SECRET is not this account's AppSecret",
               40164: "this machine's IP is not on the account's IP whitelist (基本配置 → IP白名单)"}

# KEYS: the circuit. ARGV: now, the error, the failures in a row that open it. The failures in a row.
_FAILED = """
redis.call('hsetnx', KEYS[1], 'failing_since', ARGV[1])
local failures = redis.call('hincrby', KEYS[1], 'failures', 1)
redis.call('hset', KEYS[1], 'last_error', ARGV[2], 'last_failure', ARGV[1])
if failures >= tonumber(ARGV[3]) then redis.call('hset', KEYS[1], 'open', '1') end
return failures
"""


class CircuitOpen(Exception):
    """Renewals failed in a row across users: this one waits for a probe to succeed."""


def non_healing(error: Exception) -> str | None:
    """What an error no retry heals means, in words for the operator; None for any other."""
    if isinstance(error, WeChatUntrusted):
        return f"{error.reason}: install the CA that signs {error.api}'s host, or fix the proxy"
    if isinstance(error, WeChatError) and error.errcode in NON_HEALING:
        return f"{error.errcode} {error.errmsg}: {NON_HEALING[error.errcode]}"
    return None


def described(error: WeChatError | WeChatUnavailable) -> str:
    """An error as the state keeps it: WeChat's errcode and words, or why no answer came (never a token)."""
    if isinstance(error, WeChatError):
        return f"{error.errcode} {error.errmsg}"[:120]
    return f"no answer: {error.reason}"[:120]


@dataclass(frozen=True)
class CircuitState:
    failures: int = 0
    failing_since: float | None = None
    last_error: str = ""
    last_ok: float | None = None
    open: bool = False
    halted: str | None = None  # why renewal is stopped, while it is

    def health(self, now: float) -> tuple[str, bool]:
        """What /healthz and `check` say of renewal's calls to WeChat, and whether that is a failure (503)."""
        if self.halted:
            return (f"stopped: WeChat refuses renewals with an error no retry heals ({self.halted}); one try a "
                    f"minute until it is fixed"), True
        if self.failing_since is None:
            return "ok", False
        failing_for = now - self.failing_since
        said = (f"failing: {self.failures} renewal(s) in a row failed over {failing_for:.0f}s, none succeeded; "
                f"the last: {self.last_error}" + ("; one probe at a time until WeChat answers" if self.open else ""))
        return said, failing_for >= defaults.RENEWAL_FAILING_FOR


class RenewalCircuit:
    def __init__(self, redis: Redis, appid: str, *, clock: Callable[[], float] = time.time) -> None:
        self._redis, self._clock = redis, clock
        self._circuit, self._halt = account_prefix(appid) + CIRCUIT, account_prefix(appid) + HALT
        self._failed = redis.register_script(_FAILED)

    def state(self) -> CircuitState:
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._circuit)
            pipe.get(self._halt)
            raw, halted = pipe.execute()
        fields = {key.decode(): value.decode() for key, value in raw.items()}

        def number(name: str) -> float | None:
            return float(fields[name]) if name in fields else None

        return CircuitState(failures=int(fields.get("failures", 0)), failing_since=number("failing_since"),
                            last_error=fields.get("last_error", ""), last_ok=number("last_ok"),
                            open=fields.get("open") == "1", halted=halted.decode() if halted else None)

    def failed(self, error: str) -> bool:
        """A renewal failed (WeChat down, busy, slow); True when this failure opened the circuit."""
        failures = self._failed(keys=[self._circuit], args=[self._clock(), error, defaults.RENEWAL_CIRCUIT_FAILURES])
        return failures == defaults.RENEWAL_CIRCUIT_FAILURES

    def succeeded(self) -> bool:
        """WeChat answered a renewal: the run of failures ends and the circuit closes; True if it was failing."""
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.hdel(self._circuit, "failing_since", "open")
            pipe.hset(self._circuit, mapping={"failures": 0, "last_ok": self._clock()})
            pipe.delete(self._halt)
            cleared, *_ = pipe.execute()
        return bool(cleared)

    def halt(self, why: str) -> bool:
        """Stop every worker's renewals for RENEWAL_HALT_RECHECK; True for the caller that stopped them (the one
        to log it), False if they already were."""
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(self._halt, why[:300], nx=True, px=int(defaults.RENEWAL_HALT_RECHECK * 1000))
            pipe.hsetnx(self._circuit, "failing_since", self._clock())
            pipe.hset(self._circuit, mapping={"open": "1", "last_error": why[:120], "last_failure": self._clock()})
            stopped, *_ = pipe.execute()
        return bool(stopped)
