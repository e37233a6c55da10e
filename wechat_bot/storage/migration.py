"""Moving what 0.12 and earlier wrote to Redis under no account (`wechat_bot:user:{openid}`, the schedule…) under
the account's prefix (keyspace.py), so an upgrade in place keeps every user's tokens, renewal schedule, menu links
and the links in flight.

Unscoped data belongs to the one account that claims it first (`wechat_bot:legacy:owner`, SET NX): a real account,
or a sandbox on its own embedded Redis, never a sandbox pointed at a shared Redis (that is how production's users
would become the sandbox's). The move runs under a lease, so processes starting at once do it once, and is
idempotent: a key already under the account wins over its unscoped twin. Until it is done, a user's record is
also looked for under the old keys when it is read (TokenStore), so nothing is missing meanwhile.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator

from redis import Redis
from redis.exceptions import ResponseError

from ..oauth import tokens
from .connection import ERRORS as REDIS_ERRORS
from .connection import explain
from .keyspace import ROOT, account_prefix
from .leases import Leases
from .replies import text

log = logging.getLogger(__name__)

OWNER_KEY = ROOT + "legacy:owner"  # the AppID that took the unscoped keys; the only key outside any account
DONE = "migrated"  # under the account's prefix: the move is complete
LEASE, LEASE_TTL = "migration", 60.0
# The areas 0.12 wrote under `wechat_bot:` with no account; everything else there (account_token:<appid>,
# jsapi_ticket:<appid>, qr:capability:<appid>) already names its account.
AREAS = ("user:", "reauth:", "oauth:", "push:", "qr:", "renewal:", "refresh:")
SORTED_SETS = (ROOT + tokens.DUE, ROOT + tokens.REFRESH_ENDS)
# Left where they are: a cache named by its AppID, and what runs out within seconds or a minute (leases, counters).
_SKIPPED = (ROOT + "qr:capability:", ROOT + "lease:", ROOT + "ratelimit:", ROOT + "renewal:budget:")
_BATCH = 500


def adopt_legacy_keys(redis: Redis, appid: str, *, may_claim: bool) -> bool:
    """At start: the unscoped data this account holds is moved under it now, unless that is done; True while
    another process is still moving it (a record is then also looked for under its old key). A Redis that cannot
    be reached leaves it for the next start."""
    try:
        if not owns_legacy(redis, appid, may_claim=may_claim):
            return False
        if pending(redis, appid):
            migrate(redis, appid)
        return pending(redis, appid)
    except REDIS_ERRORS as error:
        log.warning("Redis (%s): the keys of earlier versions were not checked for this account", explain(error))
        return False


def owns_legacy(redis: Redis, appid: str, *, may_claim: bool) -> bool:
    """This account holds the unscoped data: it claimed it before, or claims it now when `may_claim`."""
    owner = redis.get(OWNER_KEY)
    if owner is None and may_claim:
        redis.set(OWNER_KEY, appid, nx=True)
        owner = redis.get(OWNER_KEY)
    return owner is not None and text(owner) == appid


def pending(redis: Redis, appid: str) -> bool:
    return not redis.exists(account_prefix(appid) + DONE)


def migrate(redis: Redis, appid: str) -> int | None:
    """Move every unscoped key under `appid`'s prefix; the number moved, or None when another process holds the
    lease (it is moving them)."""
    leases = Leases(redis, appid)
    owner = leases.acquire(LEASE, LEASE_TTL)
    if owner is None:
        return None
    moved = 0
    try:
        for key in _unscoped_keys(redis):
            if key in SORTED_SETS:
                moved += _merge_sorted_set(redis, key, appid)
            elif key.startswith(tokens.LEGACY_USER_PREFIX) and "{" not in key:
                moved += _from_0_10(redis, key, appid)
            else:
                moved += _move(redis, key, appid)
            leases.extend(LEASE, owner, LEASE_TTL)
        redis.set(account_prefix(appid) + DONE, 1)
    finally:
        leases.release(LEASE, owner)
    if moved:
        log.info("moved %d Redis key(s) written before 0.13 under the account %s", moved, appid)
    return moved


def _unscoped_keys(redis: Redis) -> Iterator[str]:
    for raw in redis.scan_iter(match=ROOT + "*", count=1000):
        key = raw.decode()
        rest = key[len(ROOT):]
        if rest.startswith(AREAS) and not key.startswith(_SKIPPED) and key != tokens.LEGACY_REAUTH_KEY:
            yield key


def _move(redis: Redis, key: str, appid: str) -> int:
    """DUMP and RESTORE under the account (with what was left of its time to live), then delete; a key already
    there is newer and stays. Works across cluster slots, where RENAME does not."""
    with redis.pipeline(transaction=False) as pipe:
        pipe.dump(key)
        pipe.pttl(key)
        dumped, ttl = pipe.execute()
    if dumped is None:
        return 0
    if ttl == -1 or ttl > 0:
        try:
            redis.restore(account_prefix(appid) + key[len(ROOT):], max(ttl, 0), dumped)
        except ResponseError as error:
            if "BUSYKEY" not in str(error):
                raise
    redis.delete(key)
    return 1


def _merge_sorted_set(redis: Redis, key: str, appid: str) -> int:
    """The schedule or the refresh-token index, merged entry by entry (an entry the account has already wins)."""
    target, moved = account_prefix(appid) + key[len(ROOT):], 0
    batch: dict[str, float] = {}
    for member, score in redis.zscan_iter(key, count=_BATCH):
        batch[member.decode()] = score
        if len(batch) >= _BATCH:
            moved += _add(redis, target, batch)
    moved += _add(redis, target, batch)
    redis.delete(key)
    return moved


def _add(redis: Redis, target: str, batch: dict[str, float]) -> int:
    if batch:
        redis.zadd(target, batch, nx=True)
    count = len(batch)
    batch.clear()
    return count


def _from_0_10(redis: Redis, key: str, appid: str) -> int:
    """A 0.10 record (a hash, no hash tag): read and saved in the present form by the store."""
    openid = key[len(tokens.LEGACY_USER_PREFIX):]
    return 1 if tokens.TokenStore(redis, appid, legacy=True).get(openid) is not None else 0
