"""Redis writes a handler makes while answering a push, sent with the push's reply in one round trip."""
from __future__ import annotations

import threading
from typing import Any

from redis import Redis

Command = tuple[Any, ...]  # a Redis command and its arguments: ("SET", key, value, "EX", 900)


class Fresh(tuple):
    """A SET of a key made just now that nobody else knows (a new authorize state): it can go out before the
    answer is known to be kept, and be deleted if it is not (once.OnceCache.commit)."""


class PendingWrites:
    def __init__(self) -> None:
        self._commands: list[Command] = []
        self._lock = threading.Lock()

    def add(self, *command: Any) -> None:
        """Queue one write command, its key second: add("SET", key, value, "EX", ttl). Keys in the push's
        cluster slot go in its one script; others are sent right after it."""
        with self._lock:
            self._commands.append(command)

    def add_fresh(self, *command: Any) -> None:
        """Queue the SET of a key nobody else knows yet (see Fresh)."""
        with self._lock:
            self._commands.append(Fresh(command))

    def __bool__(self) -> bool:
        """Whether any write is pending."""
        return bool(self._commands)

    def take(self) -> list[Command]:
        """Every pending command, now no longer pending (its taker sends it)."""
        with self._lock:
            commands, self._commands = self._commands, []
        return commands

    def queue_on(self, pipe: Any) -> None:
        """Put every pending write on a redis pipeline (its caller executes it)."""
        for command in self.take():
            pipe.execute_command(*command)

    def flush(self, redis: Redis) -> None:
        """Send what is pending now, on its own (a late answer, or no retry cache to ride with)."""
        with redis.pipeline(transaction=False) as pipe:
            self.queue_on(pipe)
            if len(pipe):
                pipe.execute()
