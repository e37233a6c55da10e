"""The one place a Redis client is built: REDIS_URL when set, else the embedded server under ./var/."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from redis import ConnectionPool, Redis, RedisError, UnixDomainSocketConnection
from redis.backoff import NoBackoff
from redis.exceptions import ClusterError, RedisClusterException
from redis.retry import Retry

from .. import defaults
from ..config import Settings
from ..errors import ConfigError
from . import embedded_redis
from . import sentinel as redis_sentinel
from .keyspace import account_prefix

# One immediate retry reconnects a pooled connection after a Redis restart; more would eat the push window.
_TIMEOUTS: dict[str, Any] = dict(
    socket_timeout=defaults.REDIS_SOCKET_TIMEOUT,
    socket_connect_timeout=defaults.REDIS_CONNECT_TIMEOUT,
    retry=Retry(NoBackoff(), 1),
    health_check_interval=30,
    max_connections=defaults.REDIS_POOL_SIZE,
)

# redis-py's cluster client raises RedisClusterException (not a RedisError) for a cluster it cannot use, such as
# slots no node serves: whoever answers a Redis failure catches both.
ERRORS = (RedisError, RedisClusterException)


def connect(settings: Settings) -> Redis:
    """A client for the configured Redis; starts the embedded one when REDIS_URL is unset."""
    if settings.redis_url and settings.redis_url.startswith(redis_sentinel.SCHEME + "://"):
        return redis_sentinel.connect(settings.redis_url, **_TIMEOUTS)
    if settings.redis_url:
        client = bytes_client(Redis.from_url(settings.redis_url, **_TIMEOUTS), _URL_DECODES)
        return _cluster(settings.redis_url, client) or client
    sock = embedded_redis.ensure_running(settings.var_dir)
    pool = ConnectionPool(connection_class=EmbeddedConnection, path=sock, var_dir=settings.var_dir, **_TIMEOUTS)
    return Redis(connection_pool=pool)


_GIVEN_DECODES = ("the Redis client given to wechat_bot decodes responses (decode_responses=True); give it one "
                  "that returns bytes, e.g. Redis.from_url(url), or set REDIS_URL instead")
_URL_DECODES = "REDIS_URL: decode_responses is set in its query; wechat_bot reads bytes, remove it"


def bytes_client(redis: Redis, refusal: str = _GIVEN_DECODES) -> Redis:
    """`redis` itself, if it returns bytes as every part of wechat_bot expects; a client that decodes responses
    stops start-up with the one line `refusal` (given to init_app it turned every push into a 403; from REDIS_URL's
    query it broke the token store's reads)."""
    if redis.get_encoder().decode_responses:
        raise ConfigError(refusal)
    return redis


def _cluster(url: str, client: Redis):
    """A cluster client when the node REDIS_URL names is part of a Redis Cluster (it finds the others itself)."""
    from redis.cluster import RedisCluster

    try:
        enabled = client.info("cluster").get("cluster_enabled") == 1
    except RedisError:
        return None  # not reachable now: the plain client reports it where it is used
    if not enabled:
        return None
    client.close()
    try:
        return RedisCluster.from_url(url, socket_timeout=defaults.REDIS_SOCKET_TIMEOUT,
                                     socket_connect_timeout=defaults.REDIS_CONNECT_TIMEOUT,
                                     max_connections=defaults.REDIS_POOL_SIZE)
    except RedisClusterException as error:
        raise ClusterError(f"unusable cluster: {error}") from error


class EmbeddedConnection(UnixDomainSocketConnection):
    """A connection to the embedded Redis that starts the server again if it is found gone."""

    def __init__(self, var_dir: Path, **kwargs) -> None:
        super().__init__(**kwargs)
        self.var_dir = var_dir

    def _connect(self):
        try:
            return super()._connect()
        except OSError:
            embedded_redis.ensure_running(self.var_dir)
            return super()._connect()


def describe(settings: Settings) -> str:
    """Where Redis is, for logs: never the password of a REDIS_URL."""
    if not settings.redis_url:
        return f"embedded Redis in {settings.var_dir}"
    from urllib.parse import urlsplit

    if settings.redis_url.startswith(redis_sentinel.SCHEME + "://"):
        found = redis_sentinel.parse(settings.redis_url)
        return f"Sentinel {','.join(f'{h}:{p}' for h, p in found.sentinels)} service {found.service}"
    parts = urlsplit(settings.redis_url)
    host = parts.hostname or parts.path
    return f"{parts.scheme}://{host}{':' + str(parts.port) if parts.port else ''}"


def explain(error: Exception) -> str:
    """What a Redis failure means for serving, in a few words (for /healthz and the commands' one line)."""
    from redis.exceptions import (
        AuthenticationError,
        AuthorizationError,
        ConnectionError,
        ReadOnlyError,
        ResponseError,
        TimeoutError,
    )

    text = str(error)
    if isinstance(error, ReadOnlyError) or "READONLY" in text:
        return "read-only: REDIS_URL points at a replica, or at a master that failed over"
    if isinstance(error, (AuthenticationError, AuthorizationError)) or any(w in text for w in ("WRONGPASS", "NOAUTH")):
        return "authentication refused: check the user and password in REDIS_URL"
    if isinstance(error, TimeoutError):
        return "not answering in time (stalled or overloaded)"
    if isinstance(error, ConnectionError):
        return "unreachable"
    if isinstance(error, (RedisClusterException, ClusterError)) or "CLUSTERDOWN" in text:
        return "a Redis Cluster it cannot use: not every slot is served by a reachable node"
    if isinstance(error, ResponseError) and "CROSSSLOT" in text:
        return "CROSSSLOT: a script or transaction spans slots (a proxy or cluster edition that hides the cluster?)"
    if isinstance(error, ResponseError) and any(word in text for word in ("MOVED", "ASK")):
        return "a Redis Cluster redirected a key (MOVED/ASK) that the client could not follow"
    return f"{type(error).__name__}"


PROBE = "health:probe"  # under the account's prefix
_PROBE = "return redis.call('SET', KEYS[1], ARGV[1], 'PX', 10000)"


def probe(redis: Redis, appid: str) -> str | None:
    """None when Redis takes a write by a script (as a push's does); else what is wrong, in a few words."""
    try:
        redis.eval(_PROBE, 1, account_prefix(appid) + PROBE, "1")
    except ERRORS as error:
        return explain(error)
    return None


def is_cluster(redis: Redis) -> bool:
    """A Redis Cluster client: its pipelines take no scripts, so a script goes on its own round trip there."""
    from redis.cluster import RedisCluster

    return isinstance(redis, RedisCluster)
