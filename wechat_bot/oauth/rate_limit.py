"""How many authorize flows one client may start: each keeps a state in Redis for 15 minutes, so an unbounded
client could fill Redis. A fixed window per client, one key each (cluster-safe: single-key commands)."""
from __future__ import annotations

import time
from typing import Callable

from redis import Redis

from .. import defaults

KEY_PREFIX = "wechat_bot:ratelimit:"


class RateLimit:
    def __init__(self, redis: Redis, name: str, *, limit: int = defaults.LOGIN_RATE_LIMIT,
                 window: int = defaults.LOGIN_RATE_WINDOW, clock: Callable[[], float] = time.time) -> None:
        self._redis, self._name, self.limit, self.window, self._clock = redis, name, limit, window, clock

    def allow(self, client: str) -> bool:
        """Count one more for `client` in the current window; False once it is over the limit."""
        key = f"{KEY_PREFIX}{self._name}:{client}:{int(self._clock() // self.window)}"
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, self.window)
            count, _ = pipe.execute()
        return count <= self.limit
