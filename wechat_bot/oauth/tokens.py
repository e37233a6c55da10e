"""Per-user OAuth tokens in Redis, and the schedule of when each is due for renewal."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Callable

from redis import Redis

from .. import defaults

USER_PREFIX = "wechat_bot:user:"
DUE_KEY = "wechat_bot:renewal:due"

ACTIVE, EXPIRING, REAUTH_REQUIRED = "active", "expiring", "reauth_required"


def user_key(openid: str) -> str:
    return USER_PREFIX + openid


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
    def from_exchange(cls, answer: dict[str, Any], now: float) -> "TokenRecord":
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

    def with_profile(self, profile: dict[str, Any]) -> "TokenRecord":
        return replace(self, nickname=str(profile.get("nickname", "")), headimgurl=str(profile.get("headimgurl", "")),
                       unionid=str(profile.get("unionid") or self.unionid))

    @property
    def renew_at(self) -> int:
        return self.access_token_expires_at - defaults.RENEWAL_MARGIN

    def to_hash(self) -> dict[str, str]:
        return {name: str(value) for name, value in asdict(self).items()}

    @classmethod
    def from_hash(cls, raw: dict[bytes, bytes]) -> "TokenRecord":
        values = {key.decode(): value.decode() for key, value in raw.items()}
        known = {f.name: f.type for f in fields(cls)}
        return cls(**{name: int(value) if known[name] == "int" else value
                      for name, value in values.items() if name in known})


class TokenStore:
    """Per-user OAuth tokens and when each is due for renewal."""

    def __init__(self, redis: Redis, *, clock: Callable[[], float] = time.time) -> None:
        self._redis, self._clock = redis, clock

    def save(self, record: TokenRecord) -> None:
        """Write the record and its place in the schedule in one transaction; both expire with the refresh_token."""
        key = user_key(record.openid)
        with self._redis.pipeline() as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping=record.to_hash())
            pipe.expireat(key, record.refresh_token_expires_at + defaults.RECORD_GRACE)
            if record.status == REAUTH_REQUIRED:
                pipe.zrem(DUE_KEY, record.openid)
            else:
                pipe.zadd(DUE_KEY, {record.openid: record.renew_at})
            pipe.execute()

    def get(self, openid: str) -> TokenRecord | None:
        raw = self._redis.hgetall(user_key(openid))
        return TokenRecord.from_hash(raw) if raw else None

    def delete(self, openid: str) -> bool:
        with self._redis.pipeline() as pipe:
            pipe.delete(user_key(openid))
            pipe.zrem(DUE_KEY, openid)
            deleted, _ = pipe.execute()
        return bool(deleted)
