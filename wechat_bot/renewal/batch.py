"""One sweep's batch on the renewal pool: the users it claimed, what became of them, and the writes it leaves for
its end (the leases to release, the schedule entries of the renewed, the users it did not start)."""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future, wait
from dataclasses import dataclass, field

from ..oauth.tokens import TokenRecord, TokenStore
from ..storage.leases import Leases
from .circuit import PROBE_LEASE


@dataclass
class SweepResult:
    renewed: int = 0
    retried: int = 0
    reauth: int = 0
    skipped: int = 0
    quota: bool = False
    held: bool = False  # nothing started: the circuit is open and another worker's probe is out, or renewal halted
    full: bool = False  # the batch was full: more may be due
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, outcome: str) -> None:
        with self.lock:
            setattr(self, outcome, getattr(self, outcome) + 1)


@dataclass(frozen=True)
class Claim:
    """A user the sweep took: when they fell due, the lease's owner token, the record read under it."""
    openid: str
    due_at: float
    owner: str
    record: TokenRecord | None
    taken_at: float = field(default_factory=time.monotonic)

    @property
    def lease(self) -> str:
        return lease_name(self.openid)


def lease_name(openid: str) -> str:
    return f"renew:{openid}"


class Batch:
    def __init__(self, claims: list[Claim], result: SweepResult, probe: str | None = None) -> None:
        self.claims, self.result, self.probe = claims, result, probe  # probe: the owner of the probe's lease
        self.schedule: dict[str, float] = {}  # openid -> next renewal, for the renewed: one ZADD at the end
        self.unstarted: dict[str, float] = {}  # openid -> when it fell due: handed back at the end
        self.futures: list[Future] = []

    def hand_back(self, claim: Claim) -> None:
        self.unstarted[claim.openid] = claim.due_at

    @property
    def done(self) -> bool:
        return all(future.done() for future in self.futures)

    def wait(self) -> None:
        wait(self.futures)

    def finish(self, store: TokenStore, leases: Leases) -> SweepResult:
        """Its writes, each one round trip for the whole batch: schedule first (a lease released before would let
        an on-demand renewal see the old entry), then the leases, then the users it never started."""
        try:
            store.schedule_many(self.schedule)
        finally:
            leases.release_many([(claim.lease, claim.owner) for claim in self.claims]
                                + ([(PROBE_LEASE, self.probe)] if self.probe else []))
            store.unclaim(self.unstarted)
        return self.result
