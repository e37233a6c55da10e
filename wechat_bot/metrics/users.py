"""Users by state, refresh_tokens running out soon and the renewal backlog, read from Redis when scraped (from the
refresh-token index, the account's refresh:ends: a sorted set, so each figure is one ZCOUNT)."""
from __future__ import annotations

import time

from redis import Redis

from .. import defaults
from ..oauth.tokens import TokenStore, refresh_ends_key
from ..renewal.circuit import RenewalCircuit
from ..storage.connection import ERRORS as REDIS_ERRORS

DAY = 24 * 3600


class UsersCollector:
    def __init__(self, redis: Redis, appid: str) -> None:
        self._redis, self._appid, self._ends = redis, appid, refresh_ends_key(appid)

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily  # on a scrape only: see metrics/registry.py

        now = time.time()
        users = GaugeMetricFamily("wechat_bot_users", "Stored users by state: active, expiring (the refresh_token "
                                  "ends within 3 days), reauth_required", labels=["state"])
        ending = GaugeMetricFamily("wechat_bot_refresh_tokens_ending", "refresh_tokens running out within the next "
                                   "N days: these users will be asked to authorize again", labels=["days"])
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                pipe.zremrangebyscore(self._ends, "-inf", now - defaults.RECORD_GRACE)  # records gone by now
                pipe.zcount(self._ends, "-inf", now)
                pipe.zcount(self._ends, f"({now}", now + defaults.EXPIRING_WITHIN)
                pipe.zcount(self._ends, f"({now + defaults.EXPIRING_WITHIN}", "+inf")
                for days in (1, 3, 7):
                    pipe.zcount(self._ends, f"({now}", now + days * DAY)
                _, reauth, expiring, active, *within = pipe.execute()
            backlog, lag = TokenStore(self._redis, self._appid).backlog(now)
            circuit = RenewalCircuit(self._redis, self._appid).state()
        except REDIS_ERRORS:
            return
        for state, count in (("active", active), ("expiring", expiring), ("reauth_required", reauth)):
            users.add_metric([state], count)
        for days, count in zip((1, 3, 7), within, strict=True):
            ending.add_metric([str(days)], count)
        yield users
        yield ending
        yield GaugeMetricFamily("wechat_bot_renewal_backlog", "Users due for renewal and not yet claimed by a worker",
                                value=backlog)
        yield GaugeMetricFamily("wechat_bot_renewal_lag_seconds", "How long the oldest due user has waited since first "
                                f"due (past {defaults.RENEWAL_MARGIN} s, access_tokens expire before they are "
                                "renewed)", value=lag)
        failing = now - circuit.failing_since if circuit.failing_since is not None else 0.0
        yield GaugeMetricFamily("wechat_bot_renewal_failing_seconds", "How long every renewal has failed, none "
                                "succeeding since (0 when the last one succeeded); counts from the very first attempt",
                                value=max(0.0, failing))
        yield GaugeMetricFamily("wechat_bot_renewal_halted", "1 while an error no retry heals (an untrusted "
                                "certificate, 40125, 40164) stops renewal", value=1.0 if circuit.halted else 0.0)
