"""Where the state of an authorize link is kept: Redis, with an expiry, consumed once.

A state binds the link to its scope, the openid it was sent to (None for a link made on a web page) and an
optional in-site `next` path. It travels through WeChat and back, so it is the only thing the callback can
trust; cookies are not relied on, since WeChat's browser drops them.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import string
from dataclasses import dataclass
from typing import TypeGuard

from redis import Redis

from .. import defaults
from ..storage.keyspace import account_prefix
from ..storage.pending_writes import PendingWrites

STATE = "oauth:state:"  # under the account's prefix
LASTING = "oauth:menu_state:"  # states of menu links: no expiry, not consumed
_ALPHABET = string.ascii_letters + string.digits
STATE_LENGTH = 32  # WeChat allows [A-Za-z0-9] up to 128 bytes; 32 hex digits carry 128 random bits


TAG_LENGTH = 20  # a state begins with its slot tag: the push's, for a link sent in a reply (one slot, one script)


def state_key(appid: str, state: str) -> str:
    prefix = account_prefix(appid) + STATE
    if len(state) > TAG_LENGTH:
        return f"{prefix}{{{state[:TAG_LENGTH]}}}{state[TAG_LENGTH:]}"
    return prefix + state


def lasting_key(appid: str, state: str) -> str:
    return account_prefix(appid) + LASTING + state


def new_state(tag: str | None = None) -> str:
    """A tag (a push's, else random) and 128 random bits, in the [A-Za-z0-9] WeChat allows."""
    return (tag or secrets.token_hex(TAG_LENGTH // 2))[:TAG_LENGTH] + secrets.token_hex(STATE_LENGTH // 2)


def well_formed(state: str | None) -> TypeGuard[str]:
    return state is not None and 0 < len(state) <= 128 and all(ch in _ALPHABET for ch in state)


@dataclass
class StateRecord:
    scope: str
    openid: str | None
    next: str | None
    browser: str | None = None  # a flow started on a web page: the digest of that browser's id

    def to_json(self) -> str:
        return json.dumps({"scope": self.scope, "openid": self.openid, "next": self.next, "browser": self.browser})


class AuthorizeStates:
    def __init__(self, redis: Redis, appid: str, ttl: int = defaults.STATE_TTL) -> None:
        self._redis, self.ttl, self.appid = redis, ttl, appid

    def issue(self, scope: str, openid: str | None = None, next_path: str | None = None,
              writes: PendingWrites | None = None, browser: str | None = None, tag: str | None = None) -> str:
        """A new state; with `writes`, its Redis write rides with the push's reply instead of costing a trip
        (`tag` puts it in the push's slot)."""
        state = new_state(tag)
        key, value = state_key(self.appid, state), StateRecord(scope, openid, next_path, browser).to_json()
        if writes is None:
            self._redis.set(key, value, ex=self.ttl)
        else:
            writes.add_fresh("SET", key, value, "EX", self.ttl)
        return state

    def issue_lasting(self, scope: str, next_path: str | None = None) -> str:
        """A state for a link that lives for months (a menu button): reusable, bound to no openid."""
        digest = hashlib.sha256(f"{scope}|{next_path or ''}".encode()).hexdigest()
        state = "m" + "".join(ch for ch in digest if ch.isalnum())[:31]
        self._redis.set(lasting_key(self.appid, state), StateRecord(scope, None, next_path).to_json())
        return state

    def consume(self, state: str) -> StateRecord | None:
        """The record, removed so it cannot be used again; None if unknown, expired or already used.
        A menu link's lasting state is read, not removed."""
        if not well_formed(state):
            return None
        raw = self._redis.getdel(state_key(self.appid, state)) or self._redis.get(lasting_key(self.appid, state))
        return StateRecord(**json.loads(raw)) if raw else None

    def live(self, state: str) -> bool:
        """Issued, not yet used, not expired."""
        return well_formed(state) and bool(self._redis.exists(state_key(self.appid, state)))

    def restore(self, state: str, record: StateRecord) -> None:
        """Put a consumed state back, when its use failed for a reason the user can retry."""
        self._redis.set(state_key(self.appid, state), record.to_json(), ex=self.ttl)
