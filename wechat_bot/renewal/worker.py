"""The renewal worker: refresh each due access_token before it expires, never twice at once, never lost.

A sweep claims a batch of due users in the schedule (workers sweeping at once take disjoint batches), takes a
lease on each and reads their records (one round trip each for the batch), and hands them to a pool of
long-lived threads that refresh them, each re-checking that its user is still due, so any number of workers on
any number of hosts renew each token once; a worker killed mid-batch leaves claims and leases that run out.
While more is due, the next batch is claimed as soon as the pool runs low, so it never drains between batches.
Transient failures keep the record and try again later, each user after a wait that grows (renewal_circuit and
failing_users.py), each attempt making at most two calls, every one within the shared budget; a run of
failures across users lets one probe at a time through until WeChat answers; errors no retry heals stop renewal;
a dead refresh_token marks the user for re-authorization; a quota error pauses every worker (see renewal_quota).
"""
from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from .. import defaults
from ..errors import WeChatUnavailable
from ..logs import loggable, logger
from ..oauth.tokens import REAUTH_REQUIRED, TokenRecord, TokenStore
from ..storage.connection import ERRORS as REDIS_ERRORS
from ..storage.leases import Leases
from ..wechat_api import WeChatClient
from .attempt import RenewalAttempt
from .batch import Batch, Claim, SweepResult, lease_name
from .circuit import PROBE_LEASE, CircuitOpen, RenewalCircuit
from .quota import QuotaReached, RenewalQuota

log = logger("wechat_bot.renewal")


class Renewer:
    def __init__(self, store: TokenStore, client: WeChatClient, leases: Leases, *,
                 clock: Callable[[], float] = time.time, interval: float | None = None,
                 batch: int | None = None, concurrency: int | None = None, rate: float | None = None,
                 quota: RenewalQuota | None = None, call_timeout: float | None = None) -> None:
        self.store, self.client, self.leases, self._clock = store, client, leases, clock
        self.call_timeout = call_timeout if call_timeout is not None else defaults.RENEWAL_CALL_TIMEOUT
        self.circuit = RenewalCircuit(store.redis, store.appid, clock=clock)
        self.interval = interval if interval is not None else defaults.RENEWAL_INTERVAL
        self.concurrency = concurrency or defaults.RENEWAL_CONCURRENCY
        rate = rate or defaults.RENEWAL_RATE
        self.batch = batch or max(1, int(min(rate, defaults.RENEWAL_RATE_SHARED) * defaults.RENEWAL_BATCH_SECONDS))
        self.quota = quota or RenewalQuota(store.redis, store.appid, rate, clock=clock)
        self.attempt = RenewalAttempt(store, client, self.quota, self.circuit, self.call_timeout, clock=clock)
        self._pool: ThreadPoolExecutor | None = None  # made at the first sweep, kept until run() returns
        self._waiting = 0  # claimed users no thread has started on yet
        self._low = threading.Condition()  # notified as threads start: the pool may be running low
        self._stop = threading.Event()
        self._behind_logged = float("-inf")  # time.monotonic() of the last "behind" line
        self.started = time.time()
        self.last_sweep: float | None = None  # Unix time the last sweep completed, for /healthz

    def stop(self, *_: object) -> None:
        """Finish what is in flight, then return from run(); safe from a signal handler."""
        self._stop.set()
        with self._low:
            self._low.notify_all()

    def run(self, once: bool = False, install_signals: bool = False) -> None:
        if install_signals:
            signal.signal(signal.SIGTERM, self.stop)
            signal.signal(signal.SIGINT, self.stop)
        try:
            if once:
                self._ended(self.sweep())
                self._beat()
            else:
                self._loop()
        finally:
            self.close()

    def close(self) -> None:
        """Let the pool's threads go (they finish what they hold first)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def sweep(self) -> SweepResult:
        """One batch of what is due now, renewed before it returns."""
        batch = self._start_batch()
        if batch is None:
            return SweepResult(quota=True)
        batch.wait()
        return batch.finish(self.store, self.leases)

    def _loop(self) -> None:
        failures, batches = 0, []
        while not self._stop.is_set():
            try:
                batch = self._start_batch()
                more = batch is not None and batch.result.full and not batch.result.quota
                if batch is not None and batch.futures:
                    batches.append(batch)
                batches = self._settle(batches, until_low=more)
            except Exception as error:  # Redis stalled, gone, failing over: log, back off, carry on
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
            if not more:
                self._stop.wait(max(self.interval, self._paused_for()))
        try:
            self._settle(batches, until_low=False)
        except REDIS_ERRORS as error:
            log.warning("renewal stopped without releasing its claims (Redis: %s); they run out by themselves",
                        type(error).__name__)

    def _settle(self, batches: list[Batch], until_low: bool) -> list[Batch]:
        """Wait until the pool runs low (more is due: the next batch goes in before a thread idles) or until
        every batch is done, ending each batch as it gets done; the batches still in flight."""
        while True:
            if until_low:
                with self._low:
                    low = self._low.wait_for(lambda: self._waiting < self.concurrency or self._stop.is_set(),
                                             timeout=1.0)
            else:
                for batch in batches:
                    batch.wait()
                low = True
            for batch in [batch for batch in batches if batch.done]:
                self._ended(batch.finish(self.store, self.leases))
                batches.remove(batch)
            if low:
                return batches

    def _ended(self, result: SweepResult) -> None:
        if result.renewed or result.retried or result.reauth:
            log.info("renewal sweep: %d renewed, %d to retry, %d need re-authorization, %d skipped",
                     result.renewed, result.retried, result.reauth, result.skipped)

    def _paused_for(self) -> float:
        try:
            return self.quota.paused_for()
        except REDIS_ERRORS:
            return 0.0

    def _beat(self) -> None:
        """Say a sweep completed, here (the serve thread's /healthz) and in Redis (every other process's), and
        log when renewal is behind: the oldest due user has waited past the margin, so tokens expire first."""
        self.last_sweep = time.time()
        try:
            self.store.beat(self.last_sweep)
            backlog, lag = self.store.backlog(self._clock())
        except REDIS_ERRORS as error:
            log.warning("renewal heartbeat not stored (%s: %s)", type(error).__name__,
                        loggable(str(error), 120, spaces=True))
            return
        if lag > defaults.RENEWAL_MARGIN and time.monotonic() - self._behind_logged > defaults.RENEWAL_BEHIND_LOG_EVERY:
            self._behind_logged = time.monotonic()
            log.warning("renewal is behind: %d users due, the oldest for %.0fs, past the %ds margin, so their "
                        "access_tokens expire before renewal; add workers, or raise WECHAT_RENEWAL_RATE or "
                        "WECHAT_RENEWAL_CONCURRENCY", backlog, lag, defaults.RENEWAL_MARGIN)

    def _start_batch(self) -> Batch | None:
        """Claim what is due, lease and read it, and put it on the pool; None while renewals pause; one user,
        the probe, while the circuit is open (an empty batch if another worker's probe is out)."""
        if self.quota.paused_for() > 0:
            return None
        state = self.circuit.state()
        self.attempt.saw(state)
        probe = None
        if state.halted:
            return Batch([], SweepResult(held=True))
        if state.open:
            probe = self.leases.acquire(PROBE_LEASE, 2 * self.call_timeout + defaults.RENEWAL_INTERVAL)
            if probe is None:
                return Batch([], SweepResult(held=True))
        now = self._clock()
        limit = 1 if probe else self.batch
        due = self.store.claim_due(now, limit, now + defaults.RENEWAL_LEASE_TTL)
        if probe and not due:  # nobody due yet: the user failing longest probes, so a recovery is seen now
            due = self.attempt.failing.claim_failing(now + defaults.RENEWAL_LEASE_TTL)
        result = SweepResult(full=len(due) == limit and not probe)
        batch = Batch(self._take(due, result), result, probe=probe)
        if not batch.claims:
            if probe:
                self.leases.release(PROBE_LEASE, probe)
            return batch
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="renewal")
            self.client.reserve_connections(self.concurrency)
        with self._low:
            self._waiting += len(batch.claims)
        batch.futures = [self._pool.submit(self._renew_claimed, claim, batch) for claim in batch.claims]
        return batch

    def _take(self, due: list[tuple[str, float]], result: SweepResult) -> list[Claim]:
        """A lease on each claimed user and their record, each in one round trip. A user whose lease is held
        (renewed on demand right now, or by a worker that died) stays claimed until the claim runs out."""
        owners = self.leases.acquire_many([lease_name(openid) for openid, _ in due], defaults.RENEWAL_LEASE_TTL)
        mine = [(openid, due_at, owner) for (openid, due_at), owner in zip(due, owners, strict=True) if owner]
        result.skipped += len(due) - len(mine)
        records = self.store.get_many([openid for openid, _, _ in mine])
        return [Claim(openid, due_at, owner, record)
                for (openid, due_at, owner), record in zip(mine, records, strict=True)]

    def _renew_claimed(self, claim: Claim, batch: Batch) -> None:
        with self._low:
            self._waiting -= 1
            self._low.notify_all()
        result = batch.result
        if self._stop.is_set() or result.quota:
            batch.hand_back(claim)  # another worker, or this one later, takes it
            return
        try:
            result.add(self._renew_record(claim.openid, claim.record, force=False, schedule=batch.schedule,
                                          ready=lambda: self._may_start(claim, batch)))
        except REDIS_ERRORS as error:
            log.warning("renewal of %s put off: Redis unavailable (%s); its lease runs out by itself",
                        loggable(claim.openid), type(error).__name__)
            result.add("retried")
        except CircuitOpen:
            batch.hand_back(claim)
        except QuotaReached as reached:
            if not reached.started:
                batch.hand_back(claim)
            if not result.quota:
                result.quota = True
                log.warning("WeChat quota reached: every worker's renewals pause for up to %.0fs",
                            defaults.RENEWAL_QUOTA_PAUSE)
        except Exception:
            log.exception("renewal of %s failed unexpectedly; it is tried again when its claim runs out",
                          loggable(claim.openid))
            result.add("retried")

    def _may_start(self, claim: Claim, batch: Batch) -> bool:
        """Wait for the rate to let a refresh start; then, if the claim is old (the shared budget held it back),
        make sure its lease is still ours, so a user whose lease ran out is never refreshed twice. CircuitOpen
        once failures in a row opened the circuit, but for the probe."""
        if self.attempt.circuit_open and batch.probe is None:
            raise CircuitOpen()
        self.quota.take()
        if time.monotonic() - claim.taken_at < defaults.RENEWAL_LEASE_TTL / 2:
            return True
        return self.leases.extend(claim.lease, claim.owner, defaults.RENEWAL_LEASE_TTL)

    def valid_access_token(self, openid: str, wait: float = 5.0) -> str | None:
        """The user's access_token, renewed on the spot if it has expired; None if they must authorize again;
        WeChatUnavailable when WeChat did not renew it now (down, busy, its quota reached): not the user's doing.

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
            try:
                outcome = self.renew_now(openid)
            except QuotaReached:
                raise WeChatUnavailable("/sns/oauth2/refresh_token", "the quota for refreshes is reached") from None
            if outcome == "retried":
                raise WeChatUnavailable("/sns/oauth2/refresh_token", "the renewal failed; the worker retries it")
            if outcome is not None:
                record = self.store.get(openid)
                if record is None or record.status == REAUTH_REQUIRED \
                        or record.access_token_expires_at <= self._clock():
                    return None
                return record.access_token
            if time.monotonic() > until:
                raise WeChatUnavailable("/sns/oauth2/refresh_token", "a renewal in progress did not finish in time")
            time.sleep(0.05)

    def renew_now(self, openid: str) -> str | None:
        """Renew this user's token now under the worker's lease: the outcome, or None if a worker holds it."""
        with self.leases.hold(lease_name(openid), defaults.RENEWAL_LEASE_TTL) as mine:
            return self.renew(openid, force=True) if mine else None

    def renew(self, openid: str, force: bool = False) -> str:
        """Refresh one user's access_token (the caller holds its lease): renewed, retried, reauth or skipped."""
        return self._renew_record(openid, self.store.get(openid), force)

    def _renew_record(self, openid: str, record: TokenRecord | None, force: bool,
                      schedule: dict[str, float] | None = None, ready: Callable[[], bool] | None = None) -> str:
        """`record`, read under the lease: refreshed if still due, once `ready` says a refresh may start."""
        now = self._clock()
        if record is None or record.status == REAUTH_REQUIRED:
            self.store.unschedule(openid)  # its record expired or awaits the user
            return "skipped"
        if not force and record.renew_at > now:
            self.store.reschedule(openid, record.renew_at)  # renewed since it was listed (or its entry is stale)
            return "skipped"
        if ready is not None and not ready():
            return "skipped"
        return self.attempt.refresh(record, schedule, worker=ready is not None)
