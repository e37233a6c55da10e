"""The users whose renewal failed: when each first fell due (so lag counts from there), when each tries again (a
wait that grows, capped before its access_token ends), the probe the circuit sends when nobody is due, and all of
them due at once when WeChat answers again. Their entries live beside the schedule (tokens.overdue_key)."""
from __future__ import annotations

from redis import Redis

from .. import defaults
from ..oauth.tokens import TokenRecord, overdue_key, schedule_key
from ..storage.replies import members


class FailingUsers:
    def __init__(self, redis: Redis, appid: str) -> None:
        self._redis, self._due, self._overdue = redis, schedule_key(appid), overdue_key(appid)

    def failing(self) -> int:
        """How many users' renewals failed and are being retried."""
        return self._redis.zcard(self._overdue)

    def claim_failing(self, until: float) -> list[tuple[str, float]]:
        """The user failing longest, claimed until `until` as claim_due claims (for the circuit's probe when no
        user is due yet: WeChat's recovery is found at the next probe, not at the next backoff's end)."""
        oldest = members(self._redis.zrange(self._overdue, 0, 0))
        if not oldest:
            return []
        openid = oldest[0]
        due_at = self._redis.zscore(self._due, openid)
        if due_at is None or not self._redis.zadd(self._due, {openid: until}, xx=True, ch=True):
            return []
        return [(openid, float(due_at))]

    def retry_failing_now(self, now: float, limit: int = 10_000) -> int:
        """WeChat answers again: the users waiting to retry (the longest-waiting `limit`) are due now, not after
        their backoff. How many were moved."""
        openids = members(self._redis.zrange(self._overdue, 0, limit - 1))
        if openids:
            self._redis.zadd(self._due, {openid: now for openid in openids}, xx=True, lt=True)
        return len(openids)

    def retry_later(self, record: TokenRecord, now: float) -> float:
        """A failed renewal: remember when the user first fell due (the first failure only), and schedule the
        next try after a wait that doubles with the time already failing, capped so one last try still comes
        before the access_token ends. The time of that try."""
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self._overdue, {record.openid: min(record.renew_at, now)}, nx=True)
            pipe.zscore(self._overdue, record.openid)
            _, first_due = pipe.execute()
        at = now + retry_wait(now - float(first_due or now), record.access_token_expires_at - now)
        self._redis.zadd(self._due, {record.openid: at}, xx=True)  # only for a user still in the schedule
        return at


def retry_wait(failing_for: float, token_left: float) -> float:
    """Seconds until a failed renewal is tried again: as long as it has been failing (so the waits double), within
    RENEWAL_RETRY_AFTER and RENEWAL_RETRY_MAX; while the access_token lasts, a try still comes RENEWAL_LAST_TRY
    before it ends (RENEWAL_RETRY_AFTER after this one, when less is left)."""
    wait = min(max(failing_for, defaults.RENEWAL_RETRY_AFTER), defaults.RENEWAL_RETRY_MAX)
    if token_left > defaults.RENEWAL_RETRY_AFTER:
        wait = min(wait, max(token_left - defaults.RENEWAL_LAST_TRY, defaults.RENEWAL_RETRY_AFTER))
    return wait
