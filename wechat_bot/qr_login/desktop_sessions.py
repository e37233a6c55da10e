"""The browsers a user signed in by scan (or chat code), kept server-side so the user can see them from the phone
and sign any of them out: the session cookie names its entry, and a browser whose entry is gone is signed out on
its next request, on any host.

One hash per user (`qr:sessions:{openid}`, one cluster slot), at most QR_SESSIONS_PER_USER entries (the oldest
goes), each `{computer, signed_in_at, expires_at}`; the hash itself lives as long as its newest entry.
"""
from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis import Redis

from .. import defaults
from ..storage.keyspace import account_prefix
from ..storage.replies import text
from .computer import Computer

KEY = "qr:sessions:"  # + {openid}, under the account's prefix


@dataclass(frozen=True)
class DesktopSession:
    sid: str
    computer: Computer
    signed_in_at: int
    expires_at: int


class DesktopSessions:
    def __init__(self, redis: Redis, appid: str, *, ttl: int = defaults.QR_SESSION_TTL,
                 most: int = defaults.QR_SESSIONS_PER_USER, clock: Callable[[], float] = time.time) -> None:
        self._redis, self._prefix = redis, account_prefix(appid) + KEY
        self._ttl, self._most, self._clock = ttl, most, clock

    def _key(self, openid: str) -> str:
        return f"{self._prefix}{{{openid}}}"

    def add(self, openid: str, computer: Computer) -> str:
        """A new entry for a browser just signed in as `openid`; its id goes in that browser's session cookie."""
        now, sid = int(self._clock()), secrets.token_urlsafe(16)
        live, expired = self._entries(openid)
        stale = expired + [entry.sid for entry in live[self._most - 1:]]  # newest first: keep room for this one
        value = json.dumps({"computer": computer.to_dict(), "signed_in_at": now, "expires_at": now + self._ttl})
        with self._redis.pipeline(transaction=True) as pipe:  # one key: one slot
            if stale:
                pipe.hdel(self._key(openid), *stale)
            pipe.hset(self._key(openid), sid, value)
            pipe.expire(self._key(openid), self._ttl)
            pipe.execute()
        return sid

    def alive(self, openid: str, sid: str) -> bool:
        raw = self._redis.hget(self._key(openid), sid)
        return raw is not None and json.loads(raw)["expires_at"] > self._clock()

    def _entries(self, openid: str) -> tuple[list[DesktopSession], list[str]]:
        """The live entries, newest first, and the ids of the expired ones (`add` deletes them)."""
        now, live, expired = self._clock(), [], []
        for sid, raw in self._redis.hgetall(self._key(openid)).items():
            entry = json.loads(raw)
            if entry["expires_at"] > now:
                live.append(DesktopSession(text(sid), Computer.from_dict(entry.get("computer")),
                                           int(entry["signed_in_at"]), int(entry["expires_at"])))
            else:
                expired.append(text(sid))
        return sorted(live, key=lambda entry: entry.signed_in_at, reverse=True), expired

    def list(self, openid: str) -> list[DesktopSession]:
        """The user's live entries, newest first."""
        return self._entries(openid)[0]

    def end(self, openid: str, sid: str) -> bool:
        """Sign that browser out: its next request finds no entry."""
        return bool(self._redis.hdel(self._key(openid), sid))
