"""The account's global access_token: fetched with stable_token, cached in Redis, one fetcher at a time.

Renewed ahead of expiry by whichever process holds the lease, with a re-check after taking it, so many
workers never knock each other's tokens out; on 40001/42001 a token is dropped only if it is still the one
that failed.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TypeVar

from redis import Redis

from .. import defaults
from ..errors import WeChatError, WeChatUnavailable
from ..logs import logger
from ..metrics.registry import metrics
from ..storage.leases import Leases
from ..wechat_api import WeChatClient

log = logger("wechat_bot.wechat_api")

KEY = "wechat_bot:account_token:"  # + AppID: each account's own (the sandbox's and a real one's may share Redis)
FORCED = ":forced"  # after the key: set for 30 s after a forced renewal; + ":" + UTC date: forced renewals that day
LEASE = "account_token:"  # + AppID
STALE_TOKEN = (40001, 42001)  # WeChat's "access_token is invalid or not latest" and "access_token expired"

T = TypeVar("T")

_DROP_IF_SAME = """
local raw = redis.call('get', KEYS[1])
if raw and cjson.decode(raw)['token'] == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class ForcesSpent(Exception):
    """The caller that reported the token has caused its share of the day's forced renewals: the token is kept."""


class AccountToken:
    def __init__(self, redis: Redis, client: WeChatClient, leases: Leases, *,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
        self._redis, self._client, self._leases, self._clock, self._sleep = redis, client, leases, clock, sleep
        self._drop = redis.register_script(_DROP_IF_SAME)
        self.key, self._lease = KEY + client.appid, LEASE + client.appid

    def get(self) -> str:
        """A token with at least the renewal margin left, fetching one if needed."""
        return self.current()[0]

    def current(self) -> tuple[str, float]:
        """The token every process uses and when it expires (Unix time), fetching one if needed."""
        return self._under_lease(lambda kept: False)

    def renew_if_current(self, reported: str, budget: Callable[[], bool] | None = None) -> tuple[str, float]:
        """A caller says WeChat refused `reported` (40001/42001): if it is still the one kept, fetch a new one
        (force_refresh, under the lease); whoever reports it after that gets the new one without another call."""
        found = self._record()
        if found is None or found[0] != reported:
            return self.current()
        return self._under_lease(lambda kept: kept[0] == reported, budget)

    def _under_lease(self, stale: Callable[[tuple[str, float]], bool],
                     budget: Callable[[], bool] | None = None) -> tuple[str, float]:
        """The kept token unless `stale(kept)` says otherwise; else one fetched by whoever holds the lease, while
        the others wait for it (within the retry budget). `stale` judges the token read, not a second read: another
        process's renewal landing between two reads made a reporter return the very token it reported."""
        deadline = time.monotonic() + defaults.WECHAT_RETRY_BUDGET
        while True:
            cached = self._fresh()
            if cached and not stale(cached):
                return cached
            owner = self._leases.acquire(self._lease, ttl=defaults.WECHAT_RETRY_BUDGET + 5)
            if owner:
                try:
                    cached = self._fresh()
                    if cached and not stale(cached):
                        return cached
                    if cached and budget is not None and not budget():
                        raise ForcesSpent()
                    if cached and not self._may_force():
                        return cached
                    return self._fetch(force=cached is not None)
                finally:
                    self._leases.release(self._lease, owner)
            if time.monotonic() > deadline:
                raise WeChatUnavailable("/cgi-bin/stable_token", "another process is fetching the token")
            self._sleep(0.05)

    def _may_force(self) -> bool:
        """WeChat allows a forced stable_token every 30 s and 20 a day: a report past that keeps the token (a caller
        with a key cannot make every system's token change at will)."""
        day = f"{self.key}{FORCED}:{time.strftime('%Y%m%d', time.gmtime(self._clock()))}"
        spaced = self._redis.set(self.key + FORCED, 1, nx=True, ex=defaults.ACCOUNT_TOKEN_FORCE_GAP)
        today = 0
        if spaced:
            with self._redis.pipeline(transaction=True) as pipe:  # one key: never a count without its expiry
                pipe.incr(day)
                pipe.expire(day, 2 * 24 * 3600)
                today, _ = pipe.execute()
        if not spaced or today > defaults.ACCOUNT_TOKEN_FORCES_A_DAY:
            log.warning("a report of the account token was not acted on: WeChat allows a forced renewal every %ds "
                        "and %d a day", defaults.ACCOUNT_TOKEN_FORCE_GAP, defaults.ACCOUNT_TOKEN_FORCES_A_DAY)
            return False
        return True

    def call(self, use: Callable[[str], T]) -> T:
        """`use(token)` with the kept token; when WeChat calls it stale (40001/42001), the token is dropped (if it is
        still the kept one) and `use` runs once more with a new one. Any other refusal raises."""
        token = self.get()
        try:
            return use(token)
        except WeChatError as error:
            if error.errcode not in STALE_TOKEN:
                raise
            log.warning("%s refused the account token (%d); renewing it once", error.api, error.errcode)
            self.invalidate(token)
            return use(self.get())

    def invalidate(self, token: str) -> bool:
        """WeChat said this token is invalid: drop it, unless a newer one already replaced it."""
        return bool(self._drop(keys=[self.key], args=[token]))

    def _record(self) -> tuple[str, float] | None:
        raw = self._redis.get(self.key)
        if not raw:
            return None
        record = json.loads(raw)
        return record["token"], record["expires_at"]

    def _fresh(self) -> tuple[str, float] | None:
        found = self._record()
        return found if found and found[1] - self._clock() > defaults.ACCOUNT_TOKEN_MARGIN else None

    def _fetch(self, force: bool = False) -> tuple[str, float]:
        metrics().account_token_fetches.labels("yes" if force else "no").inc()
        answer = self._client.stable_token(force_refresh=force)
        expires_at = self._clock() + int(answer.get("expires_in", 7200))
        self._redis.set(self.key, json.dumps({"token": answer["access_token"], "expires_at": expires_at}),
                        ex=max(int(answer.get("expires_in", 7200)), 1))
        return answer["access_token"], expires_at
