"""Commands for the push's one round trip, packed here and sent on redis-py's own connections, below its client.

redis-py's command layer (the pool's bookkeeping and health poll, the retry wrapper, packing each argument, the
observability recorder) costs more CPU than the round trip itself (bench/README.md). A `Wire` keeps its own
idle connections, made by the client's pool with the client's settings (socket, TLS, password, Sentinel's master
lookup), sends every command of a round trip in one write and reads every reply, so a connection always goes
back clean. Like the client, it tries once more on a fresh connection when a pooled one was found broken.
Cluster clients are not served here: their round trips go through redis-py, which follows the slots.
"""
from __future__ import annotations

import os
from typing import Any, Sequence

from hiredis import pack_command
from redis import Redis
from redis.exceptions import ConnectionError, DataError, ResponseError, TimeoutError

_IDLE_MAX = 256  # idle connections kept per worker process: one for each thread or greenlet that was in flight


def pack(commands: Sequence[Sequence[Any]]) -> bytes:
    """The commands in the Redis protocol, ready to send as one write (hiredis packs, in C)."""
    try:
        return b"".join([pack_command(tuple(command)) for command in commands])
    except TypeError as error:  # None, a bool…: what redis-py's own encoder refuses too
        raise DataError(f"a Redis command's argument: {error}") from None


class Wire:
    def __init__(self, redis: Redis) -> None:
        self._pool = redis.connection_pool
        self._idle: list = []
        self._pid = os.getpid()

    def call(self, commands: Sequence[Sequence[Any]]) -> list:
        """Every command's reply, in order; an error reply raises (ResponseError, NoScriptError…) once all are
        read. ConnectionError or TimeoutError when Redis cannot be reached in time (after one retry)."""
        packed = pack(commands)
        try:
            return self._round_trip(packed, len(commands), self._take())
        except (ConnectionError, TimeoutError):
            self._drop_idle()  # a Redis restart or fail-over breaks every kept connection at once
            return self._round_trip(packed, len(commands), self._new())

    def _round_trip(self, packed: bytes, count: int, connection) -> list:
        try:
            connection.connect()  # a no-op when connected; a Sentinel's connection asks where the master is now
            connection.send_packed_command([packed])
            replies, error = [], None
            for _ in range(count):
                try:
                    replies.append(connection.read_response())
                except ResponseError as reply:
                    error = error or reply
                    replies.append(reply)
        except BaseException:
            connection.disconnect()  # a reply may still be on its way: the connection is not reused
            raise
        self._give_back(connection)
        if error is not None:
            raise error
        return replies

    def _take(self):
        if self._pid != os.getpid():  # a forked worker: its parent's sockets are not its own
            self._idle, self._pid = [], os.getpid()
        try:
            return self._idle.pop()
        except IndexError:
            return self._new()

    def _new(self):
        return self._pool.connection_class(**self._pool.connection_kwargs)

    def _drop_idle(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.disconnect()

    def _give_back(self, connection) -> None:
        if len(self._idle) < _IDLE_MAX:
            self._idle.append(connection)
        else:
            connection.disconnect()
