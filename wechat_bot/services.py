"""The parts one app instance works with, built once by create_app and passed along."""
from __future__ import annotations

from dataclasses import dataclass

from redis import Redis

from . import defaults, redis_connection
from .config import Settings
from .endpoint.envelope import PushCrypto
from .endpoint.responder import Responder
from .handlers import Context, Router
from .handlers.default import router as default_router
from .once import OnceCache


PUSH_PREFIX = "wechat_bot:push:"


@dataclass(frozen=True)
class Services:
    settings: Settings
    redis: Redis
    crypto: PushCrypto | None
    responder: Responder

    @classmethod
    def build(cls, settings: Settings, *, redis: Redis | None = None, router: Router | None = None,
              deadline: float = defaults.REPLY_DEADLINE) -> "Services":
        """Wire the parts; `router`'s handlers answer first, the default ones after them."""
        redis = redis if redis is not None else redis_connection.connect(settings)
        routes = Router()
        if router is not None:
            routes.include(router)
        routes.include(default_router)
        keys = [key for key in (settings.aes_key, settings.aes_key_previous) if key]
        crypto = PushCrypto(settings.token, settings.appid, keys) if keys else None
        cache = OnceCache(redis, PUSH_PREFIX, ttl=max(defaults.REPLY_CACHE_TTL, 2 * settings.timestamp_tolerance))
        responder = Responder(routes, cache, Context(settings, redis), crypto, deadline=deadline)
        return cls(settings, redis, crypto, responder)
