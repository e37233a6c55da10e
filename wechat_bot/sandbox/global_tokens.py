"""The sandbox account's global access_tokens (cgi-bin/token, stable_token) and WeChat's limits on forcing one."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from redis import Redis

from .keys import key, random_token

FORCE_GAP = 30  # seconds WeChat wants between two forced stable_token calls (§5.2)
FORCES_A_DAY = 20  # and how many it allows a day
ROLLOVER = 300  # a replaced token lives on this long, unless the new one was forced

# One key (the account's forced-refresh record): the last forced call, the (UTC) day and that day's count.
_COUNT_FORCE = """
local now = tonumber(ARGV[1])
if redis.call('HGET', KEYS[1], 'day') ~= ARGV[2] then
  redis.call('HSET', KEYS[1], 'day', ARGV[2], 'count', 0)
end
if tonumber(redis.call('HGET', KEYS[1], 'count')) >= tonumber(ARGV[4]) then return 45009 end
local last = redis.call('HGET', KEYS[1], 'last')
if last and now - tonumber(last) < tonumber(ARGV[3]) then return 45011 end
redis.call('HINCRBY', KEYS[1], 'count', 1)
redis.call('HSET', KEYS[1], 'last', ARGV[1])
redis.call('EXPIRE', KEYS[1], 172800)
return 0
"""


class GlobalTokens:
    """The account's global tokens, in the store's Redis under its AppID."""

    redis: Redis
    appid: str
    clock: Callable[[], float]
    config: Callable[[], Any]

    def global_token(self, force: bool = False, stable: bool = True) -> dict[str, Any]:
        """A global access_token; `stable` without `force` returns the live one while it has >5 min left.

        stable_token and cgi-bin/token keep separate slots, as WeChat does (与getAccessToken获取的调用凭证完全
        隔离): a new token from one ends the previous token of the same kind, 5 minutes later, or at once when
        forced."""
        now, ttl = self.clock(), self.config().global_token_ttl
        slot = key(self.appid, "global") if stable else key(self.appid, "global", "cgi-bin")
        current = self.redis.get(slot)
        if current and stable and not force:
            record = json.loads(current)
            if record["expires_at"] - now > ROLLOVER:
                return {"access_token": record["token"], "expires_in": int(record["expires_at"] - now)}
        if current:
            old = json.loads(current)
            if force:
                self.redis.delete(key(self.appid, "global-valid", old["token"]))
            else:
                self._keep_valid(old["token"], min(old["expires_at"], now + ROLLOVER))
        token = random_token(136)
        self.redis.set(slot, json.dumps({"token": token, "expires_at": now + ttl}))
        self._keep_valid(token, now + ttl)
        return {"access_token": token, "expires_in": ttl}

    def _keep_valid(self, token: str, expires_at: float) -> None:
        left = max(int(expires_at - self.clock()), 0)
        self.redis.set(key(self.appid, "global-valid", token), json.dumps({"expires_at": expires_at}), ex=left + 3600)

    def global_token_state(self, token: str) -> str:
        """'ok' for a live global token, 'expired' for one past its end, 'unknown' for any other (or replaced by
        force)."""
        raw = self.redis.get(key(self.appid, "global-valid", token)) if token else None
        if not raw:
            return "unknown"
        return "ok" if json.loads(raw)["expires_at"] > self.clock() else "expired"

    def global_token_valid(self, token: str) -> bool:
        return self.global_token_state(token) == "ok"

    def count_forced_refresh(self) -> int | None:
        """Count a forced stable_token if WeChat allows one now; else its errcode: 45009 past 20 today (UTC), 45011
        within 30 s of the last."""
        now = self.clock()
        day = time.strftime("%Y%m%d", time.gmtime(now))
        refused = int(self.redis.eval(_COUNT_FORCE, 1, key(self.appid, "forced"), repr(now), day, FORCE_GAP,
                                      FORCES_A_DAY))
        return refused or None

    def allow_forced_refresh(self) -> None:
        """As if 30 s had passed since the last forced stable_token: for tests that force one after another."""
        self.redis.hdel(key(self.appid, "forced"), "last")
