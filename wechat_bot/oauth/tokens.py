"""Per-user OAuth tokens in Redis, and the schedule of when each is due for renewal."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from redis import Redis
from redis.exceptions import NoScriptError

from .. import defaults
from ..storage.connection import is_cluster
from ..storage.keyspace import account_prefix
from ..storage.replica_acks import ReplicaAcks, confirmed
from ..storage.replies import members, text

# Each key is under the account's prefix (keyspace.py): the suffixes below follow `wechat_bot:<AppID>:`.
USER = "user:"  # + {openid}: the record; the braces keep a user's keys in one cluster slot
REAUTH = "reauth:"  # + {openid}: the scope of a fresh authorize link the next reply carries
# What is due, for every user: one sorted set (about 100 bytes a user, so 100 MB at a million, on one shard),
# because "what is due now" must stay one O(log n) read. It is written beside a user's record, never in the
# same script, so each script stays in one slot; the order of the writes makes every crash in between heal.
# A worker claims a batch by moving its entries ahead to the claim's end, in one script on this key alone.
DUE = "renewal:due"
# When each user's refresh_token runs out (a sorted set, for the metrics' users-by-state and "ending within N days":
# one ZCOUNT each). One shard, as the schedule: about 60 bytes a user; entries past the record's grace are trimmed.
REFRESH_ENDS = "refresh:ends"
# When each user whose renewal failed first fell due (a sorted set; an entry goes once the user is renewed, asked
# again or forgotten): the schedule's entry moves on with every retry, this one does not, so the lag /healthz
# reports is counted from the first due time. One shard, as the schedule: only failing users are in it.
OVERDUE = "renewal:overdue"
HEARTBEAT = "renewal:heartbeat"  # Unix time the last renewal sweep of any worker completed

# Where earlier versions kept a user: 0.10 (a hash, no hash tag; re-authorize markers in one hash) and 0.11–0.12
# (the present layout, but with no account in the key). Read once, then moved under the account (migration.py).
LEGACY_USER_PREFIX, LEGACY_REAUTH_KEY = "wechat_bot:user:", "wechat_bot:reauth"
UNSCOPED_USER_PREFIX, UNSCOPED_REAUTH_PREFIX = "wechat_bot:user:", "wechat_bot:reauth:"


ACTIVE, EXPIRING, REAUTH_REQUIRED = "active", "expiring", "reauth_required"


class Unconfirmed(Exception):
    """A renewal's write-back went to the master but no replica confirmed it in time: a failover may lose it."""


def user_key(appid: str, openid: str) -> str:
    return f"{account_prefix(appid)}{USER}{{{openid}}}"


def reauth_key(appid: str, openid: str) -> str:
    return f"{account_prefix(appid)}{REAUTH}{{{openid}}}"


def schedule_key(appid: str) -> str:
    return account_prefix(appid) + DUE


def refresh_ends_key(appid: str) -> str:
    return account_prefix(appid) + REFRESH_ENDS


def overdue_key(appid: str) -> str:
    return account_prefix(appid) + OVERDUE


def openid_of(key: bytes | str) -> str:
    """The openid in a record's key."""
    text = key.decode() if isinstance(key, bytes) else key
    return text[text.rindex(USER) + len(USER):].strip("{}")


@dataclass(frozen=True)
class TokenRecord:
    openid: str
    scope: str
    access_token: str
    refresh_token: str
    access_token_expires_at: int
    refresh_token_expires_at: int
    consented_at: int
    status: str = ACTIVE
    unionid: str = ""
    nickname: str = ""
    headimgurl: str = ""
    updated_at: int = 0

    @classmethod
    def from_exchange(cls, answer: dict[str, Any], now: float) -> TokenRecord:
        """A record from the code exchange: the refresh_token's 30 days start now."""
        return cls(
            openid=answer["openid"],
            scope=answer.get("scope", ""),
            access_token=answer["access_token"],
            refresh_token=answer["refresh_token"],
            access_token_expires_at=int(now) + int(answer.get("expires_in", defaults.ACCESS_TOKEN_LIFETIME)),
            refresh_token_expires_at=int(now) + defaults.REFRESH_TOKEN_LIFETIME,
            consented_at=int(now),
            unionid=answer.get("unionid", "") or "",
            updated_at=int(now),
        )

    def has_scope(self, scope: str) -> bool:
        """The user granted `scope` when these tokens were issued (WeChat's scope is a comma-separated list)."""
        return scope in self.scope.split(",")

    def with_profile(self, profile: dict[str, Any]) -> TokenRecord:
        return replace(self, nickname=str(profile.get("nickname", "")), headimgurl=str(profile.get("headimgurl", "")),
                       unionid=str(profile.get("unionid") or self.unionid))

    @property
    def renew_at(self) -> int:
        """The margin before expiry, or half the token's life if that is shorter (never due as soon as issued)."""
        lifetime = max(self.access_token_expires_at - self.updated_at, 0)
        return self.access_token_expires_at - min(defaults.RENEWAL_MARGIN, lifetime // 2)

    def reported_status(self, now: float) -> str:
        """active, expiring (refresh_token within its last days), or reauth_required."""
        if self.status == REAUTH_REQUIRED or self.refresh_token_expires_at <= now:
            return REAUTH_REQUIRED
        if self.refresh_token_expires_at - now < defaults.EXPIRING_WITHIN:
            return EXPIRING
        return ACTIVE

    def to_json(self) -> str:
        """The stored form: one compact string (short names, no spaces), so a record with long token values
        is not kept in Redis's large hash encoding (about 1.5 KB a user as a hash)."""
        return json.dumps([getattr(self, name) for name in _FIELDS], ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> TokenRecord:
        return cls(*json.loads(raw))

    def to_hash(self) -> dict[str, str]:
        return {name: str(value) for name, value in asdict(self).items()}

    @classmethod
    def from_hash(cls, raw: dict[bytes | str, bytes | str]) -> TokenRecord:
        values = {text(key): text(value) for key, value in raw.items()}
        known = {f.name: f.type for f in fields(cls)}
        loaded: dict[str, Any] = {name: int(value) if known[name] == "int" else value
                                  for name, value in values.items() if name in known}
        return cls(**loaded)


_FIELDS = [f.name for f in fields(TokenRecord)]
# its place in the stored array, for the scripts (Lua counts from 1)
REFRESH_TOKEN_INDEX = _FIELDS.index("refresh_token") + 1


class TokenStore:
    """Per-user OAuth tokens and when each is due for renewal."""

    def __init__(self, redis: Redis, appid: str, *, legacy: bool = False, acks: ReplicaAcks | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        """`legacy`: this account holds what earlier versions wrote under no account (migration.py); a record not
        found under the account is looked for there too, and moved. `acks`: the process's replica watch, shared
        with the push cache (one INFO poll and one WAIT probe per process, not one per user of it)."""
        self._redis, self._clock, self.appid, self.legacy = redis, clock, appid, legacy
        self._due, self._ends, self._overdue = schedule_key(appid), refresh_ends_key(appid), overdue_key(appid)
        self._heartbeat = account_prefix(appid) + HEARTBEAT
        self._acks = acks or ReplicaAcks(redis, appid)
        self._cas = redis.register_script(_COMPARE_AND_SAVE)
        self._save = redis.register_script(_SAVE)
        self._claim = redis.register_script(_CLAIM)

    @property
    def redis(self) -> Redis:
        return self._redis

    def save(self, record: TokenRecord) -> None:
        """Write the record (expiring with its refresh_token) and its place in the schedule. The schedule goes
        first: a crash in between leaves an entry whose record the renewer reads afresh, never a record that
        nobody renews."""
        args: list[Any] = [record.refresh_token_expires_at + defaults.RECORD_GRACE, record.status, record.to_json()]
        keys = [user_key(self.appid, record.openid), reauth_key(self.appid, record.openid)]
        with self._redis.pipeline(transaction=False) as pipe:
            self._index(pipe, record)
            if is_cluster(self._redis):  # a cluster pipeline takes no script: the schedule, then the record
                pipe.execute()
                self._save(keys=keys, args=args)
                return
            pipe.evalsha(self._save.sha, 2, *keys, *args)
            try:
                pipe.execute()
            except NoScriptError:
                self._save(keys=keys, args=args)

    def get(self, openid: str) -> TokenRecord | None:
        raw = self._redis.get(user_key(self.appid, openid))
        if raw:
            return TokenRecord.from_json(raw)
        return self._migrate(openid)

    def get_many(self, openids: list[str]) -> list[TokenRecord | None]:
        """Their records, in one round trip (one GET each: their keys are in as many slots as users)."""
        with self._redis.pipeline(transaction=False) as pipe:
            for openid in openids:
                pipe.get(user_key(self.appid, openid))
            found = pipe.execute()
        return [TokenRecord.from_json(raw) if raw else self._migrate(openid)
                for openid, raw in zip(openids, found, strict=True)]

    def _migrate(self, openid: str) -> TokenRecord | None:
        """A record kept by an earlier version moves to the present keys the first time it is read, so an upgrade
        drops no user's tokens: 0.11–0.12's (`wechat_bot:user:{openid}`, under no account) or 0.10's (a hash with
        no hash tag; re-authorize markers in one hash)."""
        if not self.legacy or "{" in openid or "}" in openid:
            return None
        unscoped = self._redis.get(f"{UNSCOPED_USER_PREFIX}{{{openid}}}")
        if unscoped:
            record = TokenRecord.from_json(unscoped)
            scope = self._redis.get(f"{UNSCOPED_REAUTH_PREFIX}{{{openid}}}")
        else:
            raw = self._redis.hgetall(LEGACY_USER_PREFIX + openid)
            if not raw:
                return None
            record = TokenRecord.from_hash(raw)
            scope = self._redis.hget(LEGACY_REAUTH_KEY, openid)
        self.save(record)
        if scope and record.status == REAUTH_REQUIRED:
            self._redis.set(reauth_key(self.appid, openid), scope,
                            exat=record.refresh_token_expires_at + defaults.RECORD_GRACE)
        with self._redis.pipeline(transaction=False) as pipe:  # one slot: both tagged with the openid
            pipe.delete(f"{UNSCOPED_USER_PREFIX}{{{openid}}}", f"{UNSCOPED_REAUTH_PREFIX}{{{openid}}}")
            pipe.delete(LEGACY_USER_PREFIX + openid)
            pipe.hdel(LEGACY_REAUTH_KEY, openid)
            pipe.execute()
        return record

    def delete(self, openid: str) -> bool:
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.delete(user_key(self.appid, openid))
            pipe.delete(reauth_key(self.appid, openid))
            pipe.zrem(self._due, openid)
            pipe.zrem(self._ends, openid)
            pipe.zrem(self._overdue, openid)
            deleted, *_ = pipe.execute()
        return bool(deleted)

    def due(self, now: float, limit: int) -> list[str]:
        """Openids whose renewal time has come, oldest first: costs O(log n + due), never a scan."""
        return members(self._redis.zrangebyscore(self._due, "-inf", now, start=0, num=limit))

    def claim_due(self, now: float, limit: int, until: float) -> list[tuple[str, float]]:
        """Up to `limit` users due at `now`, oldest first, with when each fell due; in the same script their entries
        move to `until`, so workers sweeping at once take disjoint batches, and a batch whose worker dies is due
        again at `until`. Costs O(limit × log n)."""
        raw = self._claim(keys=[self._due], args=[now, limit, until])
        return [(raw[i].decode(), float(raw[i + 1])) for i in range(0, len(raw), 2)]

    def schedule_many(self, renew_at: dict[str, float]) -> None:
        """Their next renewals, in one command. Only for users still in the schedule: one revoked, or whose
        refresh_token died, meanwhile stays out."""
        if renew_at:
            with self._redis.pipeline(transaction=False) as pipe:
                pipe.zadd(self._due, renew_at, xx=True)
                pipe.zrem(self._overdue, *renew_at)
                pipe.execute()

    def unclaim(self, due: dict[str, float]) -> None:
        """Hand claimed users back at the time they fell due (a worker stopping, a pause); an entry rescheduled
        since, or gone, is left as it is."""
        if due:
            self._redis.zadd(self._due, due, xx=True, lt=True)

    def backlog(self, now: float) -> tuple[int, float]:
        """How many users are due and not yet claimed, and how long the oldest due user has waited (seconds),
        counted from when they first fell due: a user whose renewal failed is still waiting while its retry is
        scheduled later. The users a worker has claimed and is renewing (a few seconds of its work) are not
        counted: their entries sit at their claim's end."""
        with self._redis.pipeline(transaction=False) as pipe:  # one key each: no script, one round trip
            pipe.zcount(self._due, "-inf", now)
            pipe.zrange(self._due, 0, 0, withscores=True)
            pipe.zrange(self._overdue, 0, 0, withscores=True)
            count, oldest, failing = pipe.execute()
        waited = [now - entries[0][1] for entries in (oldest if count else [], failing) if entries]
        return count, max([0.0, *waited])

    def beat(self, at: float) -> None:
        self._redis.set(self._heartbeat, int(at))

    def last_beat(self) -> float | None:
        raw = self._redis.get(self._heartbeat)
        return float(raw) if raw else None

    def unschedule(self, openid: str) -> None:
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrem(self._due, openid)
            pipe.zrem(self._overdue, openid)
            pipe.execute()

    def reschedule(self, openid: str, at: float) -> None:
        """Try again at `at`; only for a record still in the schedule."""
        self._redis.zadd(self._due, {openid: at}, xx=True)

    def apply_refresh(self, used: TokenRecord, answer: dict[str, Any], now: float,
                      schedule: dict[str, float] | None = None) -> bool:
        """Write a refresh's tokens back, unless the stored refresh_token is no longer the one used (a newer
        authorization came in meanwhile): that one wins. A new refresh_token restarts its 30 days. With
        `schedule`, the next renewal goes there, for `schedule_many` to write with others. Unconfirmed when the
        master has replicas and none confirmed the write in time."""
        rotated = answer.get("refresh_token") and answer["refresh_token"] != used.refresh_token
        renewed = replace(
            used,
            access_token=answer["access_token"],
            access_token_expires_at=int(now) + int(answer.get("expires_in", defaults.ACCESS_TOKEN_LIFETIME)),
            refresh_token=answer["refresh_token"] if rotated else used.refresh_token,
            refresh_token_expires_at=int(now) + defaults.REFRESH_TOKEN_LIFETIME if rotated
            else used.refresh_token_expires_at,
            status=ACTIVE,
            updated_at=int(now),
        )
        return self._compare_and_save(used.refresh_token, renewed, schedule=schedule, confirm=True)

    def mark_reauth(self, used: TokenRecord, now: float) -> bool:
        """The refresh_token is dead: out of the schedule, and the user's next reply carries a new link."""
        dead = replace(used, status=REAUTH_REQUIRED, updated_at=int(now),
                       refresh_token_expires_at=min(used.refresh_token_expires_at, int(now)))
        return self._compare_and_save(used.refresh_token, dead, reauth_scope=used.scope)

    def reauth_scope(self, openid: str) -> str | None:
        raw = self._redis.get(reauth_key(self.appid, openid))
        return text(raw) if raw else None

    def _compare_and_save(self, expected_refresh_token: str, record: TokenRecord, reauth_scope: str = "",
                          schedule: dict[str, float] | None = None, confirm: bool = False) -> bool:
        """The record, if the stored refresh_token is still the one used; then its place in the schedule. With
        `confirm`, a replica must confirm it (WAIT on the same connection) when the master has one."""
        args: list[str | int] = [expected_refresh_token, record.refresh_token_expires_at + defaults.RECORD_GRACE,
                                 record.status, reauth_scope, record.to_json(), REFRESH_TOKEN_INDEX]
        keys = [user_key(self.appid, record.openid), reauth_key(self.appid, record.openid)]
        wait = self._acks.wait_command() if confirm else None
        if wait is None:
            saved = self._cas(keys=keys, args=args)
        else:
            with self._redis.pipeline(transaction=False) as pipe:
                self._cas(keys=keys, args=args, client=pipe)
                pipe.execute_command(*wait)
                saved, acked = pipe.execute()
            if saved and not confirmed(acked):
                raise Unconfirmed(record.openid)
        if not saved:
            return False
        if schedule is not None and record.status != REAUTH_REQUIRED:
            schedule[record.openid] = record.renew_at
            if record.refresh_token != expected_refresh_token:  # rotated: its 30 days start again
                self._redis.zadd(self._ends, {record.openid: record.refresh_token_expires_at})
            return True
        with self._redis.pipeline(transaction=False) as pipe:
            self._index(pipe, record)
            pipe.execute()
        return True

    def _index(self, pipe, record: TokenRecord) -> None:
        """Queue the record's entries in the schedule (none while it awaits the user) and the refresh-token index."""
        if record.status == REAUTH_REQUIRED:
            pipe.zrem(self._due, record.openid)
        else:
            pipe.zadd(self._due, {record.openid: record.renew_at})
        pipe.zrem(self._overdue, record.openid)  # fresh tokens, or the user's to renew: no longer failing
        pipe.zadd(self._ends, {record.openid: record.refresh_token_expires_at})


# KEYS: the user's record, the user's re-authorize marker (one slot: both tagged with the openid).
# ARGV: expire_at, status, the record. The re-authorize marker goes once a record is usable again.
_SAVE = """
redis.call('set', KEYS[1], ARGV[3], 'EXAT', ARGV[1])
if ARGV[2] ~= 'reauth_required' then redis.call('del', KEYS[2]) end
return 1
"""

# KEYS: the schedule. ARGV: now, how many, the claim's end. The due entries, oldest first (with their scores),
# moved to the claim's end.
_CLAIM = """
local due = redis.call('zrangebyscore', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, ARGV[2])
for i = 1, #due, 2 do redis.call('zadd', KEYS[1], 'XX', ARGV[3], due[i]) end
return due
"""

# KEYS: the user's record and re-authorize marker. ARGV: expected refresh_token, expire_at, status, reauth scope,
# the record, the refresh_token's place in it. Writes only if the stored refresh_token is the expected one.
_COMPARE_AND_SAVE = """
local stored = redis.call('get', KEYS[1])
if not stored or cjson.decode(stored)[tonumber(ARGV[6])] ~= ARGV[1] then return 0 end
redis.call('set', KEYS[1], ARGV[5], 'EXAT', ARGV[2])
if ARGV[3] == 'reauth_required' then
  redis.call('set', KEYS[2], ARGV[4], 'EXAT', ARGV[2])
end
return 1
"""
