"""How fast renewal may call WeChat: this process's own rate, a budget every worker shares, and a pause every
worker honours once WeChat says a quota is reached.

WeChat counts sns/oauth2/refresh_token calls per account, whatever process makes them, so the limit that matters
is shared: each second has a budget in Redis that workers draw from in small chunks, and a quota error (45009,
45011) sets one key that stops every worker's refreshes until it runs out.
"""
from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable

from redis import Redis

from .. import defaults
from ..storage.keyspace import account_prefix

# + the Unix second: refreshes all workers started in that second. One small counter a second, gone after a few
# seconds, so a global key that any shard holds with ease; spreading it would only split one count.
BUDGET = "renewal:budget:"
# Exists while every worker's renewals pause (WeChat answered 45009 or 45011); its time to live is the pause left.
PAUSE = "renewal:paused"  # both under the account's prefix


class QuotaReached(Exception):
    """WeChat refuses refreshes for a while: every worker backs off. `started`: WeChat said so to this refresh
    (else it was held back before it started)."""

    def __init__(self, started: bool = False) -> None:
        super().__init__("WeChat's quota for refreshes is reached")
        self.started = started


class RenewalQuota:
    """Permission to start one refresh: `take()` waits for this process's rate and the shared budget, and raises
    QuotaReached while the shared pause lasts."""

    def __init__(self, redis: Redis, appid: str, rate: float, *, shared: int = defaults.RENEWAL_RATE_SHARED,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
        self._redis, self._clock, self._sleep = redis, clock, sleep
        self._budget, self._pause = account_prefix(appid) + BUDGET, account_prefix(appid) + PAUSE
        self._gap, self._next = 1.0 / rate, 0.0
        self._shared = shared
        self._chunk = max(1, min(shared, math.ceil(rate / 10)))  # a tenth of a second's work per draw
        self._window, self._left, self._paused_until = -1, 0, 0.0
        self._lock = threading.Lock()

    def take(self) -> None:
        with self._lock:
            start = self._own_slot()
            while not self._draw(int(start)):
                start = math.floor(start) + 1.0  # this second's budget is spent: the next one
            self._next = max(self._next, start + self._gap * random.uniform(0.8, 1.2))
        wait = start - self._clock()
        if wait > 0:
            self._sleep(wait)

    def _own_slot(self) -> float:
        """When this process's rate lets the next refresh start (jittered, so workers do not march in step)."""
        now = self._clock()
        if now < self._paused_until:
            raise QuotaReached()
        return max(now, self._next)

    def _draw(self, second: int) -> bool:
        """One permit from `second`'s shared budget, drawing a chunk from Redis when the last one is used up."""
        if second != self._window:
            self._window, self._left = second, 0
        if self._left == 0:
            self._left = self._reserve(second)
        if self._left == 0:
            return False
        self._left -= 1
        return True

    def _reserve(self, second: int) -> int:
        """What is left of a chunk of `second`'s budget; learns of a shared pause on the way (one round trip)."""
        key = f"{self._budget}{second}"
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(key, 0, nx=True, ex=5)  # the counter and its expiry in one command: never one without the other
            pipe.incrby(key, self._chunk)
            pipe.pttl(self._pause)
            _, total, pause_ms = pipe.execute()
        if pause_ms > 0:
            self._paused_until = self._clock() + pause_ms / 1000
            raise QuotaReached()
        return max(0, min(self._chunk, self._shared - (total - self._chunk)))

    def pause(self, seconds: float = defaults.RENEWAL_QUOTA_PAUSE) -> None:
        """WeChat said a quota is reached: every worker's renewals pause for `seconds`."""
        self._paused_until = self._clock() + seconds
        self._redis.set(self._pause, 1, px=int(seconds * 1000))

    def paused_for(self) -> float:
        """Seconds the shared pause still lasts (0 when renewals may go on); read from Redis."""
        pause_ms = self._redis.pttl(self._pause)
        if pause_ms > 0:
            self._paused_until = self._clock() + pause_ms / 1000
        return max(0.0, self._paused_until - self._clock())
