"""Redis writes a handler makes while answering a push, sent with the push's reply in one round trip."""
from __future__ import annotations

import threading
from typing import Any, Callable

from redis import Redis

Write = Callable[[Any], Any]  # queues one command on a redis pipeline


class PendingWrites:
    def __init__(self) -> None:
        self._writes: list[Write] = []
        self._lock = threading.Lock()

    def add(self, write: Write) -> None:
        with self._lock:
            self._writes.append(write)

    def queue_on(self, pipe: Any) -> None:
        """Put every pending write on `pipe` (its caller executes it) and forget them."""
        with self._lock:
            writes, self._writes = self._writes, []
        for write in writes:
            write(pipe)

    def flush(self, redis: Redis) -> None:
        """Send what is pending now, on its own (a late answer, or no retry cache to ride with)."""
        with redis.pipeline(transaction=False) as pipe:
            self.queue_on(pipe)
            if len(pipe):
                pipe.execute()
