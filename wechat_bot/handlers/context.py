"""What a handler may use besides the message: the settings and the shared Redis."""
from __future__ import annotations

from dataclasses import dataclass

from redis import Redis

from ..config import Settings


@dataclass(frozen=True)
class Context:
    settings: Settings
    redis: Redis
