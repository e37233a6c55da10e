"""How many authorize flows one client may start: each keeps a state in Redis for 15 minutes, so an unbounded
client could fill Redis. A fixed window per client, one key each (cluster-safe: single-key commands)."""
from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable

from redis import Redis

from .. import defaults
from ..storage.keyspace import account_prefix

KEY = "ratelimit:"  # under the account's prefix


class RateLimit:
    def __init__(self, redis: Redis, appid: str, name: str, *, limit: int = defaults.LOGIN_RATE_LIMIT,
                 window: int = defaults.LOGIN_RATE_WINDOW, clock: Callable[[], float] = time.time) -> None:
        self._redis, self.limit, self.window, self._clock = redis, limit, window, clock
        self._prefix = f"{account_prefix(appid)}{KEY}{name}:"

    def allow(self, address: str | None) -> bool:
        """Count one more for the client at `address`; False once it is over the limit in this window."""
        return self.allow_key(client_of(address))

    def allow_key(self, who: str) -> bool:
        """Count one more for `who` (a client, a user's openid); False once it is over the limit in this window."""
        return self.count(who) <= self.limit

    def count(self, who: str) -> int:
        """Count one more for `who`: how many in this window, this one included."""
        key = self._key(who)
        with self._redis.pipeline(transaction=True) as pipe:  # all or nothing: never a count without its expiry
            pipe.incr(key)
            pipe.expire(key, self.window)
            count, _ = pipe.execute()
        return count

    def refund(self, who: str) -> None:
        """Take back one counted in this window (it turned out not to count)."""
        self._redis.decr(self._key(who))

    def _key(self, who: str) -> str:
        return f"{self._prefix}{who}:{int(self._clock() // self.window)}"


def client_of(address: str | None) -> str:
    """What one client is: an IPv4 address, or an IPv6 /64 (a subscriber's block, which it can rotate through)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return "-"
    if ip.version == 6 and ip.ipv4_mapped is None:
        return f"{ipaddress.ip_network(f'{ip}/64', strict=False).network_address}/64"
    return str(getattr(ip, "ipv4_mapped", None) or ip)
