"""The sandbox WeChat's own state, in Redis under `wechat_sandbox:<AppID>:` so every process of it agrees, and
two sandboxes (or a sandbox beside a real account) on one Redis keep apart.

Users, authorization codes, user and global access tokens, refresh tokens, lifetimes, injected faults and
call counters. Lifetimes and faults are settings tests change to watch expiry and failure happen.
"""
from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from redis import Redis
from redis.typing import EncodableT

from ..storage.replies import text
from .follower_state import FollowerState
from .global_tokens import GlobalTokens
from .keys import ALNUM as _ALNUM
from .keys import PREFIX, key, random_token  # noqa: F401  (imported from here by others)


@dataclass
class SandboxConfig:
    """What the sandbox's WeChat does; defaults are WeChat's documented behaviour."""

    access_token_ttl: int = 7200
    refresh_token_ttl: int = 30 * 24 * 3600
    code_ttl: int = 300
    rotate_refresh_token: bool = False  # WeChat returns the same refresh_token on refresh
    deny_redirects: bool = True  # on deny: back to redirect_uri with state only (else: no redirect at all)
    global_token_ttl: int = 7200
    jsapi_ticket_ttl: int = 7200
    parametric_qr: bool = True  # a verified service account (else qrcode/create answers 48001)
    js_domains: str = ""  # the JS接口安全域名, comma-separated; empty: the host the sandbox is served on
    latency: float = 0.0  # seconds every API call waits before it is answered (a round trip to WeChat, for benchmarks)


@dataclass(frozen=True)
class Fault:
    """One injected failure for the next call of an API path: an errcode, an HTTP status, or a delay first."""

    errcode: int | None = None
    status: int | None = None
    delay: float = 0.0


class SandboxStore(GlobalTokens, FollowerState):
    def __init__(self, redis: Redis, appid: str, secret: str, *, clock: Callable[[], float] = time.time) -> None:
        self.redis, self.appid, self.secret, self.clock = redis, appid, secret, clock

    # -- settings and faults ------------------------------------------------------------------------------
    def config(self) -> SandboxConfig:
        raw = self.redis.hgetall(key(self.appid, "config"))
        values = {text(k): json.loads(v) for k, v in raw.items()}
        return SandboxConfig(**{k: v for k, v in values.items() if k in SandboxConfig.__dataclass_fields__})

    def configure(self, **changes: Any) -> SandboxConfig:
        unknown = set(changes) - set(SandboxConfig.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown sandbox settings: {sorted(unknown)}")
        if changes:
            self.redis.hset(key(self.appid, "config"), mapping={k: json.dumps(v) for k, v in changes.items()})
        return self.config()

    def inject(self, api: str, fault: Fault, times: int = 1) -> None:
        """The next `times` calls of `api` (a path such as /sns/oauth2/access_token) fail this way."""
        self.redis.rpush(key(self.appid, "faults", api), *[json.dumps(asdict(fault))] * times)

    def arrive(self, api: str) -> tuple[Fault | None, float]:
        """A call of `api` arrives: count it, and take its next injected fault and the latency, in one round trip."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(key(self.appid, "calls"), api, 1)
            pipe.lpop(key(self.appid, "faults", api))
            pipe.hget(key(self.appid, "config"), "latency")
            _, fault, latency = pipe.execute()
        return (Fault(**json.loads(fault)) if fault else None), float(json.loads(latency) if latency else 0)

    def calls(self, api: str) -> int:
        return int(self.redis.hget(key(self.appid, "calls"), api) or 0)

    # -- users ----------------------------------------------------------------------------------------------
    def user(self, openid: str) -> dict[str, str]:
        """The simulated WeChat user, created with a default profile the first time it is seen."""
        raw = self.redis.hgetall(key(self.appid, "user", openid))
        if raw:
            return {text(k): text(v) for k, v in raw.items()}
        return self.save_user(openid)

    def save_user(self, openid: str, nickname: str | None = None, headimgurl: str = "",
                  unionid: str | None = None, snapshot: bool = False) -> dict[str, str]:
        profile = {"openid": openid, "nickname": nickname if nickname is not None else f"微信用户{openid[-4:]}",
                   "headimgurl": headimgurl, "unionid": unionid or "", "snapshot": "1" if snapshot else ""}
        fields: dict[EncodableT, EncodableT] = dict(profile.items())  # redis-py's mapping (a key type is invariant)
        self.redis.hset(key(self.appid, "user", openid), mapping=fields)
        self.redis.sadd(key(self.appid, "users"), openid)
        return profile

    def known(self, openid: str) -> bool:
        """The account has seen this user (a push, a choice on the chat page, an authorization)."""
        return bool(self.redis.sismember(key(self.appid, "users"), openid))

    def users(self) -> list[dict[str, str]]:
        return [self.user(text(openid)) for openid in sorted(self.redis.smembers(key(self.appid, "users")))]

    # -- codes and user tokens ------------------------------------------------------------------------------
    def issue_code(self, openid: str, scope: str) -> str:
        code = "".join(secrets.choice(_ALNUM) for _ in range(32))
        ttl = self.config().code_ttl
        record = {"openid": openid, "scope": scope, "expires_at": self.clock() + ttl}
        self.redis.set(key(self.appid, "code", code), json.dumps(record), ex=ttl + 3600)  # kept past expiry: 40029 then
        return code

    def use_code(self, code: str) -> tuple[str, dict | None]:
        """('ok', record), or ('unknown' | 'expired' | 'used', None); a code works once."""
        outcome, record = self._live("code", code)
        if record is None:
            return outcome, None
        if not self.redis.set(key(self.appid, "code-used", code), 1, nx=True, ex=3600 * 2):
            return "used", None
        return "ok", record

    def grant(self, openid: str, scope: str) -> dict[str, Any]:
        """Tokens for a fresh consent: the refresh_token's lifetime starts now."""
        config = self.config()
        refresh_token = random_token()
        expires_at = self.clock() + config.refresh_token_ttl
        self._save_refresh(refresh_token, {"openid": openid, "scope": scope, "expires_at": expires_at})
        return self._access(openid, scope, refresh_token, config)

    def refresh(self, refresh_token: str) -> tuple[str, dict | None]:
        """('ok', answer), or ('unknown' | 'expired', None)."""
        outcome, record = self._live("rt", refresh_token)
        if record is None:
            return outcome, None
        self.redis.hincrby(key(self.appid, "refreshes"), refresh_token, 1)
        config = self.config()
        if config.rotate_refresh_token:
            self.redis.delete(key(self.appid, "rt", refresh_token))
            refresh_token = random_token()
            self._save_refresh(refresh_token, record)
        return "ok", self._access(record["openid"], record["scope"], refresh_token, config)

    def refreshes(self, refresh_token: str) -> int:
        """How often this refresh_token was used: the renewal tests count on it."""
        return int(self.redis.hget(key(self.appid, "refreshes"), refresh_token) or 0)

    def access(self, access_token: str) -> tuple[str, dict | None]:
        """('ok', record) for a live user access_token, else ('unknown' | 'expired', None)."""
        return self._live("at", access_token)

    def _live(self, kind: str, token: str) -> tuple[str, dict | None]:
        """('ok', record) for a stored code or token still within its lifetime, else ('unknown' | 'expired', None)."""
        raw = self.redis.get(key(self.appid, kind, token))
        if not raw:
            return "unknown", None
        record = json.loads(raw)
        return ("expired", None) if record["expires_at"] < self.clock() else ("ok", record)

    def expire_access_token(self, openid: str) -> int:
        """Make every access_token of this user expired now (the tokens page's button)."""
        return self._expire(key(self.appid, "at-of", openid), "at")

    def expire_refresh_token(self, openid: str) -> int:
        """Make every refresh_token of this user expired now: the next refresh gets 42002."""
        return self._expire(key(self.appid, "rt-of", openid), "rt")

    def _expire(self, index: str, kind: str) -> int:
        changed = 0
        for token in self.redis.smembers(index):
            raw = self.redis.get(key(self.appid, kind, text(token)))
            if raw:
                record = {**json.loads(raw), "expires_at": self.clock() - 1}
                self.redis.set(key(self.appid, kind, text(token)), json.dumps(record), keepttl=True)
                changed += 1
        return changed

    def _save_refresh(self, token: str, record: dict) -> None:
        ttl = int(record["expires_at"] - self.clock()) + 24 * 3600
        self.redis.set(key(self.appid, "rt", token), json.dumps(record), ex=max(ttl, 1))
        self.redis.sadd(key(self.appid, "rt-of", record["openid"]), token)

    def _access(self, openid: str, scope: str, refresh_token: str, config: SandboxConfig) -> dict[str, Any]:
        token = random_token(86)
        record = {"openid": openid, "scope": scope, "expires_at": self.clock() + config.access_token_ttl}
        self.redis.set(key(self.appid, "at", token), json.dumps(record), ex=config.access_token_ttl + 3600)
        self.redis.sadd(key(self.appid, "at-of", openid), token)
        return {"access_token": token, "expires_in": config.access_token_ttl, "refresh_token": refresh_token,
                "openid": openid, "scope": scope}

    # -- the JS-SDK's jsapi_ticket, and what wx.getLocation answers ----------------------------------------
    def jsapi_ticket(self) -> dict[str, Any]:
        """The live ticket while it has over 5 minutes left, else a new one; an older ticket works until its end."""
        now, ttl = self.clock(), self.config().jsapi_ticket_ttl
        current = self.redis.get(key(self.appid, "ticket"))
        if current:
            record = json.loads(current)
            if record["expires_at"] - now > 300:
                return {"errcode": 0, "errmsg": "ok", "ticket": record["ticket"],
                        "expires_in": int(record["expires_at"] - now)}
        ticket = random_token(86)
        self._save_ticket(ticket, now + ttl)
        self.redis.lpush(key(self.appid, "tickets"), ticket)
        self.redis.ltrim(key(self.appid, "tickets"), 0, 9)
        return {"errcode": 0, "errmsg": "ok", "ticket": ticket, "expires_in": ttl}

    def live_jsapi_tickets(self) -> list[str]:
        """The tickets a wx.config may be signed with now: the recent ones not yet expired."""
        live = []
        for ticket in self.redis.lrange(key(self.appid, "tickets"), 0, -1):
            raw = self.redis.get(key(self.appid, "ticket", text(ticket)))
            if raw and json.loads(raw)["expires_at"] > self.clock():
                live.append(text(ticket))
        return live

    def expire_jsapi_ticket(self) -> None:
        """Make the current ticket run out now: a signature made with it fails, the next getticket gives a new one."""
        current = self.redis.get(key(self.appid, "ticket"))
        if current:
            self._save_ticket(json.loads(current)["ticket"], self.clock() - 1)

    def _save_ticket(self, ticket: str, expires_at: float) -> None:
        record = json.dumps({"ticket": ticket, "expires_at": expires_at})
        self.redis.set(key(self.appid, "ticket"), record)
        self.redis.set(key(self.appid, "ticket", ticket), record, ex=max(int(expires_at - self.clock()), 0) + 3600)

    def remember_location(self, openid: str, latitude: str, longitude: str, label: str = "") -> None:
        self.redis.hset(key(self.appid, "location", openid),
                        mapping={"latitude": latitude, "longitude": longitude, "label": label})

    def location(self, openid: str) -> dict[str, str] | None:
        """The user's last location sent in chat, or None."""
        raw = self.redis.hgetall(key(self.appid, "location", openid))
        return {text(k): text(v) for k, v in raw.items()} or None
