"""The one place a Redis client is built: REDIS_URL when set, else the embedded server under ./var/."""
from __future__ import annotations

from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from . import defaults, embedded_redis
from .config import Settings

# One immediate retry reconnects a pooled connection after a Redis restart; more would eat the push window.
_TIMEOUTS = dict(
    socket_timeout=defaults.REDIS_SOCKET_TIMEOUT,
    socket_connect_timeout=defaults.REDIS_CONNECT_TIMEOUT,
    retry=Retry(NoBackoff(), 1),
    health_check_interval=30,
)


def connect(settings: Settings) -> Redis:
    """A client for the configured Redis; starts the embedded one when REDIS_URL is unset."""
    if settings.redis_url:
        return Redis.from_url(settings.redis_url, **_TIMEOUTS)
    sock = embedded_redis.ensure_running(settings.var_dir)
    return Redis(unix_socket_path=sock, **_TIMEOUTS)


def describe(settings: Settings) -> str:
    """Where Redis is, for logs: never the password of a REDIS_URL."""
    if not settings.redis_url:
        return f"embedded Redis in {settings.var_dir}"
    from urllib.parse import urlsplit

    parts = urlsplit(settings.redis_url)
    host = parts.hostname or parts.path
    return f"{parts.scheme}://{host}{':' + str(parts.port) if parts.port else ''}"
