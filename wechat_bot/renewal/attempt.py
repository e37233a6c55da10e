"""One user's renewal attempt: the refresh call (a worker's makes at most RENEWAL_CALL_ATTEMPTS calls, each in the
shared budget), the write-back (confirmed by a replica where there is one), and what a failure means: retried
later with a growing wait, the circuit across users, a halt for errors no retry heals, a quota pause, or the
user asked to authorize again. One log line per failed renewal.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from .. import defaults
from ..errors import WeChatError, WeChatUnavailable, errcode_label
from ..logs import loggable, logger
from ..metrics.registry import metrics
from ..oauth.tokens import TokenRecord, TokenStore, Unconfirmed
from ..wechat_api import WeChatClient
from .circuit import CircuitState, RenewalCircuit, described, non_healing
from .failing_users import FailingUsers
from .quota import QuotaReached, RenewalQuota

log = logger("wechat_bot.renewal")

QUOTA_ERRCODES = (45009, 45011)


class RenewalAttempt:
    def __init__(self, store: TokenStore, client: WeChatClient, quota: RenewalQuota, circuit: RenewalCircuit,
                 call_timeout: float, *, clock: Callable[[], float] = time.time) -> None:
        self.store, self.client, self.quota, self.circuit = store, client, quota, circuit
        self.call_timeout, self._clock = call_timeout, clock
        self.failing = FailingUsers(store.redis, store.appid)
        self.circuit_open = False  # as this process last saw it: only a probe starts while it is open
        self._failing = False  # failures were seen: a success must close the circuit for every worker

    def saw(self, state: CircuitState) -> None:
        """The circuit's state as a sweep read it."""
        self.circuit_open, self._failing = state.open, state.failing_since is not None

    def _call(self, record: TokenRecord, worker: bool) -> dict:
        """The refresh: a worker's makes at most RENEWAL_CALL_ATTEMPTS calls, each within the shared budget; a
        user's own (on demand) keeps the client's shorter timeout and budget, for the user waiting on it."""
        if not worker:
            return self.client.refresh(record.refresh_token)
        return self.client.refresh(record.refresh_token, attempts=defaults.RENEWAL_CALL_ATTEMPTS,
                                   timeout=self.call_timeout, before_retry=self.quota.take)

    def refresh(self, record: TokenRecord, schedule: dict[str, float] | None = None, worker: bool = False) -> str:
        """Refresh `record` (read under its lease): renewed, retried, reauth or skipped; QuotaReached when WeChat
        says its quota is reached. `worker`: the scheduled renewal (at most two calls, in the shared budget)."""
        now = self._clock()
        try:
            answer = self._call(record, worker)
        except (WeChatError, WeChatUnavailable) as error:
            return self._failed(record, error)
        self._answered()
        try:
            applied = self.store.apply_refresh(record, answer, self._clock(), schedule)
        except Unconfirmed:
            metrics().renewals.labels("unconfirmed", "0").inc()
            self.store.reschedule(record.openid, now + defaults.RENEWAL_RETRY_AFTER)  # skipped then, if it was kept
            log.warning("renewal of %s written back but no replica confirmed it within %d ms (a master failing "
                        "over?); checked again in %ds", loggable(record.openid), defaults.REPLICA_WAIT_MS,
                        defaults.RENEWAL_RETRY_AFTER)
            return "retried"
        if not applied:
            metrics().renewals.labels("discarded", "0").inc()
            log.info("renewal of %s discarded: a newer authorization replaced its tokens", loggable(record.openid))
            return "skipped"
        metrics().renewals.labels("renewed", "0").inc()
        return "renewed"

    def _failed(self, record: TokenRecord, error: WeChatError | WeChatUnavailable) -> str:
        """One failed refresh: the user marked, paused, or retried later; one log line for it at most."""
        errcode = error.errcode if isinstance(error, WeChatError) else -3 if non_healing(error) else -2
        if isinstance(error, WeChatError) and error.needs_reauth:
            metrics().renewals.labels("reauth", errcode_label(errcode)).inc()
            self._answered()
            self.store.mark_reauth(record, self._clock())
            log.info("refresh_token of %s is dead (%d): re-authorization needed", loggable(record.openid), errcode)
            return "reauth"
        now = self._clock()
        if errcode in QUOTA_ERRCODES:
            metrics().renewals.labels("quota", errcode_label(errcode)).inc()
            self.store.reschedule(record.openid, now + defaults.RENEWAL_RETRY_AFTER)
            self.quota.pause()
            raise QuotaReached(started=True) from None
        retry_at = self.failing.retry_later(record, now)
        why = non_healing(error)
        if why is not None:
            metrics().renewals.labels("halted", errcode_label(errcode)).inc()
            self.circuit_open = True
            if self.circuit.halt(why):
                log.error("renewal stopped for every worker: %s; one try every %.0fs until it is fixed", why,
                          defaults.RENEWAL_HALT_RECHECK)
            return "retried"
        metrics().renewals.labels("retried" if errcode != -2 else "unavailable", errcode_label(errcode)).inc()
        self._failing = True
        opened = self.circuit.failed(described(error))
        self.circuit_open = self.circuit_open or opened
        log.warning("renewal of %s failed (%s); retrying in %.0fs%s", loggable(record.openid),
                    loggable(described(error), 120, spaces=True), retry_at - now,
                    f"; {defaults.RENEWAL_CIRCUIT_FAILURES} failed in a row: renewals wait for one probe at a time "
                    "to succeed" if opened else "")
        return "retried"

    def _answered(self) -> None:
        """WeChat answered: after failures, the circuit closes for every worker."""
        if self._failing or self.circuit_open:
            self._failing = self.circuit_open = False
            if self.circuit.succeeded():
                waiting = self.failing.retry_failing_now(self._clock())
                log.info("renewal: WeChat answers again; renewals go on, the %d user(s) waiting to retry now", waiting)
