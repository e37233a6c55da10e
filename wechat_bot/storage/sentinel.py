"""REDIS_URL=redis+sentinel://[[user]:password@]host:port[,host:port…]/service_name[/db]: the master that
Redis Sentinel names, followed across failovers with no restart.

The password is the data nodes' (master and replicas); the sentinels are asked without one. After a failover
the old master turns replica: a write there is READONLY, which redis-py's sentinel connection turns into a
reconnect to the master Sentinel names now, and the one immediate retry sends the write there (the pool's idle
connections are dropped too, or the retry could take one still on the old master). A script whose write meets
READONLY comes back as a script error, not READONLY itself: it is taken for the same demotion.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from redis import Redis
from redis.exceptions import ConnectionError, ResponseError
from redis.sentinel import Sentinel, SentinelManagedConnection

SCHEME = "redis+sentinel"
DEFAULT_PORT = 26379


@dataclass(frozen=True)
class SentinelUrl:
    sentinels: list[tuple[str, int]]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None


def parse(url: str) -> SentinelUrl:
    """ValueError with what is wrong, never the password."""
    parts = urlsplit(url)
    if parts.scheme != SCHEME:
        raise ValueError(f"must start with {SCHEME}://")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":") if userinfo else ("", "", "")
    sentinels = []
    for host in filter(None, hosts.split(",")):
        name, _, port = host.rpartition(":") if ":" in host else (host, "", "")
        if not name or (port and not (port.isascii() and port.isdigit())):
            raise ValueError("each sentinel must be host:port")
        sentinels.append((name, int(port) if port else DEFAULT_PORT))
    path = [piece for piece in parts.path.split("/") if piece]
    if not sentinels or not path or len(path) > 2 or (len(path) == 2 and not (path[1].isascii() and path[1].isdigit())):
        raise ValueError("must name sentinels and a service: redis+sentinel://host:port[,host:port]/service[/db]")
    return SentinelUrl(sentinels, unquote(path[0]), int(path[1]) if len(path) == 2 else 0,
                       unquote(username) or None, unquote(password) or None)


def connect(url: str, **options: Any) -> Redis:
    """A client for the master the sentinels name, with the same timeouts as any other client."""
    found = parse(url)
    timeouts = {name: options[name] for name in ("socket_timeout", "socket_connect_timeout") if name in options}
    sentinel = Sentinel(found.sentinels, sentinel_kwargs=timeouts, **timeouts)
    return sentinel.master_for(found.service, db=found.db, username=found.username, password=found.password,
                               connection_class=_MasterConnection, **options)


class _MasterConnection(SentinelManagedConnection):
    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)
        except ResponseError as error:
            if self.connection_pool.is_master and "READONLY" in str(error):
                self.disconnect()  # the next connect asks Sentinel where the master is now…
                pool = self.connection_pool.connection_pool_ref()  # …and so do the idle ones, whose retry
                if pool is not None:
                    pool.disconnect(inuse_connections=False)
                raise ConnectionError("The previous master is now a replica") from None  # would meet the old master
            raise
