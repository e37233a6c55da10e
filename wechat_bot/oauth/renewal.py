"""The renewal worker: refresh each due access_token before it expires, never twice at once, never lost.

Each due user is claimed with a lease, re-read, and refreshed only if still due, so any number of workers
on any number of hosts renew each token once; a worker killed mid-claim leaves a lease that runs out.
Transient failures keep the record and try again later; a dead refresh_token marks the user for
re-authorization; a quota error pauses the whole worker.
"""
from __future__ import annotations

import random
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from .. import defaults
from ..errors import WeChatError, WeChatUnavailable
from ..leases import Leases
from ..logs import loggable, logger
from ..redis_connection import ERRORS as REDIS_ERRORS
from .client import WeChatClient
from .tokens import REAUTH_REQUIRED, TokenRecord, TokenStore

log = logger("wechat_bot.renewal")

QUOTA_ERRCODES = (45009, 45011)


class QuotaReached(Exception):
    """WeChat refuses calls for a while: the whole worker backs off."""


@dataclass
class SweepResult:
    renewed: int = 0
    retried: int = 0
    reauth: int = 0
    skipped: int = 0
    quota: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, outcome: str) -> None:
        with self.lock:
            setattr(self, outcome, getattr(self, outcome) + 1)


class RateLimiter:
    """At most `rate` starts per second in this process, spaced with jitter."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._gap, self._next, self._lock = 1.0 / rate, 0.0, threading.Lock()
        self._clock, self._sleep = clock, sleep

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self._gap * random.uniform(0.8, 1.2)
        if start > now:
            self._sleep(start - now)


class Renewer:
    def __init__(self, store: TokenStore, client: WeChatClient, leases: Leases, *,
                 clock: Callable[[], float] = time.time, interval: float | None = None,
                 batch: int | None = None, concurrency: int | None = None, rate: float | None = None) -> None:
        self.store, self.client, self.leases, self._clock = store, client, leases, clock
        self.interval = interval if interval is not None else defaults.RENEWAL_INTERVAL
        self.batch = batch or defaults.RENEWAL_BATCH
        self.concurrency = concurrency or defaults.RENEWAL_CONCURRENCY
        self.limiter = RateLimiter(rate or defaults.RENEWAL_RATE)
        self._stop = threading.Event()
        self._paused_until = 0.0
        self.started = time.time()
        self.last_sweep: float | None = None  # Unix time the last sweep completed, for /healthz

    def stop(self, *_: object) -> None:
        """Finish what is in flight, then return from run(); safe from a signal handler."""
        self._stop.set()

    def run(self, once: bool = False, install_signals: bool = False) -> None:
        if install_signals:
            signal.signal(signal.SIGTERM, self.stop)
            signal.signal(signal.SIGINT, self.stop)
        failures = 0
        while not self._stop.is_set():
            try:
                result = self.sweep()
            except Exception as error:  # Redis stalled, gone, failing over: log, back off, carry on
                if once:
                    raise
                failures += 1
                pause = min(defaults.RENEWAL_BACKOFF_MAX, self.interval * 2 ** min(failures, 8))
                log.warning("renewal sweep failed (%s: %s); trying again in %.0fs", type(error).__name__,
                            loggable(str(error), 120, spaces=True), pause)
                self._stop.wait(pause)
                continue
            if failures:
                log.info("renewal sweeps again after %d failed attempt(s)", failures)
                failures = 0
            self._beat()
            if result.renewed or result.retried or result.reauth:
                log.info("renewal sweep: %d renewed, %d to retry, %d need re-authorization, %d skipped",
                         result.renewed, result.retried, result.reauth, result.skipped)
            if once:
                return
            pause = max(self.interval, self._paused_until - time.monotonic())
            self._stop.wait(pause)

    def _beat(self) -> None:
        """Say a sweep completed: here (the serve thread's /healthz) and in Redis (every other process's)."""
        self.last_sweep = time.time()
        try:
            self.store.beat(self.last_sweep)
        except REDIS_ERRORS as error:
            log.warning("renewal heartbeat not stored (%s: %s)", type(error).__name__, loggable(str(error), 120, spaces=True))

    def sweep(self) -> SweepResult:
        """One pass over what is due now."""
        result = SweepResult()
        if time.monotonic() < self._paused_until:
            return result
        due = self.store.due(self._clock(), self.batch)
        if not due:
            return result
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="renewal") as pool:
            for openid in due:
                if self._stop.is_set() or result.quota:
                    break
                pool.submit(self._claim_and_renew, openid, result)
        return result

    def _claim_and_renew(self, openid: str, result: SweepResult) -> None:
        if self._stop.is_set() or result.quota:
            return
        try:
            with self.leases.hold(f"renew:{openid}", defaults.RENEWAL_LEASE_TTL) as mine:
                if not mine:
                    result.add("skipped")
                    return
                self.limiter.wait()
                result.add(self.renew(openid))
        except REDIS_ERRORS as error:
            log.warning("renewal of %s put off: Redis unavailable (%s); its lease runs out by itself",
                        loggable(openid), type(error).__name__)
            result.add("retried")
        except QuotaReached:
            result.quota = True
            self._paused_until = time.monotonic() + defaults.RENEWAL_QUOTA_PAUSE
            log.warning("WeChat quota reached: renewals pause for %.0fs", defaults.RENEWAL_QUOTA_PAUSE)
        except Exception:
            log.exception("renewal of %s failed unexpectedly; it stays scheduled", loggable(openid))
            result.add("retried")

    def valid_access_token(self, openid: str, wait: float = 5.0) -> str | None:
        """The user's access_token, renewed on the spot if it has expired; None if they must authorize again.

        Takes the same lease as the worker, so the two never refresh at once; if the worker holds it, waits
        for its result instead.
        """
        until = time.monotonic() + wait
        while True:
            record = self.store.get(openid)
            if record is None or record.status == REAUTH_REQUIRED:
                return None
            if record.access_token_expires_at - self._clock() > 60:
                return record.access_token
            if self.renew_now(openid) is not None:
                record = self.store.get(openid)
                fresh = record and record.status != REAUTH_REQUIRED and record.access_token_expires_at > self._clock()
                return record.access_token if fresh else None
            if time.monotonic() > until:
                raise WeChatUnavailable("/sns/oauth2/refresh_token", "a renewal in progress did not finish in time")
            time.sleep(0.05)

    def renew_now(self, openid: str) -> str | None:
        """Renew this user's token now under the worker's lease: the outcome, or None if a worker holds it."""
        with self.leases.hold(f"renew:{openid}", defaults.RENEWAL_LEASE_TTL) as mine:
            return self.renew(openid, force=True) if mine else None

    def renew(self, openid: str, force: bool = False) -> str:
        """Refresh one user's access_token (the caller holds its lease): renewed, retried, reauth or skipped."""
        now = self._clock()
        record = self.store.get(openid)
        if record is None or record.status == REAUTH_REQUIRED:
            self.store.unschedule(openid)  # its record expired or awaits the user
            return "skipped"
        if not force and record.renew_at > now:
            self.store.reschedule(openid, record.renew_at)  # renewed since it was listed (or its entry is stale)
            return "skipped"
        return self._refresh(record, now)

    def _refresh(self, record: TokenRecord, now: float) -> str:
        try:
            answer = self.client.refresh(record.refresh_token)
        except WeChatError as error:
            if error.needs_reauth:
                self.store.mark_reauth(record, self._clock())
                log.info("refresh_token of %s is dead (%d): re-authorization needed", loggable(record.openid),
                         error.errcode)
                return "reauth"
            self.store.reschedule(record.openid, now + defaults.RENEWAL_RETRY_AFTER)
            if error.errcode in QUOTA_ERRCODES:
                raise QuotaReached() from None
            log.warning("renewal of %s: %s; retrying later", loggable(record.openid), error)
            return "retried"
        except WeChatUnavailable as error:
            self.store.reschedule(record.openid, now + defaults.RENEWAL_RETRY_AFTER)
            log.warning("renewal of %s: %s; retrying later", loggable(record.openid), error)
            return "retried"
        if not self.store.apply_refresh(record, answer, self._clock()):
            log.info("renewal of %s discarded: a newer authorization replaced its tokens", loggable(record.openid))
            return "skipped"
        return "renewed"
