"""What a handler may use besides the message: settings, the shared Redis, authorize links."""
from __future__ import annotations

from dataclasses import dataclass

from redis import Redis

from ..config import Settings
from ..oauth.links import AuthorizeLinks
from ..pending_writes import PendingWrites


@dataclass(frozen=True)
class Context:
    settings: Settings
    redis: Redis
    links: AuthorizeLinks
    writes: PendingWrites  # Redis writes that go out with this push's reply
