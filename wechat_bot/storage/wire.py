"""Commands for the push's one round trip, packed here and sent on redis-py's own connections, below its client.

redis-py's command layer (the pool's bookkeeping and health poll, the retry wrapper, packing each argument, the
observability recorder) costs more CPU than the round trip itself (bench/README.md). A `Wire` keeps its own
idle connections, made by the client's pool with the client's settings (socket, TLS, password, Sentinel's master
lookup), sends every command of a round trip in one write and reads every reply with one hiredis reader, so a
connection always goes back clean. Like the client, it tries once more on a fresh connection when a pooled one
was found broken.
Cluster clients are not served here: their round trips go through redis-py, which follows the slots.
"""
from __future__ import annotations

import builtins
import os
import socket
import time
from collections.abc import Sequence
from typing import Any

from hiredis import Reader, pack_command
from redis import Redis
from redis._parsers import _HiredisParser
from redis.exceptions import ConnectionError, DataError, InvalidResponse, ReadOnlyError, ResponseError, TimeoutError

_IDLE_MAX = 256  # idle connections kept per worker process: one for each thread or greenlet that was in flight
_READ_SIZE = 65536
_MORE = object()  # the reader's answer when a reply is not complete yet


def pack(commands: Sequence[Sequence[Any]]) -> bytes:
    """The commands in the Redis protocol, ready to send as one write (hiredis packs, in C)."""
    try:
        return b"".join([pack_command(tuple(command)) for command in commands])
    except TypeError as error:  # None, a bool…: what redis-py's own encoder refuses too
        raise DataError(f"a Redis command's argument: {error}") from None


class Wire:
    def __init__(self, redis: Redis) -> None:
        self._pool = redis.connection_pool
        self._sentinel_master = bool(getattr(self._pool, "is_master", False))  # a Sentinel pool for the master
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
            if connection._sock is None:
                connection.connect()  # a Sentinel's connection asks where the master is now
            connection.check_health()  # a PING first when the connection has been idle long (redis-py's setting)
            replies = _exchange(connection._sock, _reader(connection), packed, count)
            if self._sentinel_master and _demoted(replies):  # as redis-py's Sentinel connection does: the
                raise ConnectionError("The previous master is now a replica")  # retry asks Sentinel again
        except BaseException:
            connection.disconnect()  # a reply may still be on its way: the connection is not reused
            raise
        if connection.health_check_interval:
            connection.next_health_check = time.monotonic() + connection.health_check_interval
        self._give_back(connection)
        for reply in replies:
            if isinstance(reply, ResponseError):
                raise reply
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


def _demoted(replies: list) -> bool:
    return any(isinstance(reply, ReadOnlyError) for reply in replies)


def _reader(connection) -> Reader:
    """The connection's reply reader: made with it, empty after every round trip that succeeded (the connection is
    dropped after one that did not)."""
    reader = getattr(connection, "_wire_reader", None)
    if reader is None:
        reader = connection._wire_reader = Reader(protocolError=InvalidResponse,
                                                  replyError=_HiredisParser.parse_error, notEnoughData=_MORE)
    return reader


def _exchange(sock: socket.socket, reader: Reader, packed: bytes, count: int) -> list:
    """Send `packed` and read `count` replies, an error reply as its exception (NoScriptError…), not raised; the
    socket's failures as redis-py reports them (ConnectionError, TimeoutError)."""
    replies: list = []
    try:
        sock.sendall(packed)
        while len(replies) < count:
            reply = reader.gets()
            if reply is not _MORE:
                if isinstance(reply, ConnectionError):  # LOADING…: redis-py drops the connection on these too
                    raise reply
                replies.append(reply)
                continue
            data = sock.recv(_READ_SIZE)
            if not data:
                raise ConnectionError("Connection closed by server.")
            reader.feed(data)
    except builtins.TimeoutError:
        raise TimeoutError("Timeout talking to Redis") from None
    except OSError as error:
        raise ConnectionError(f"Error talking to Redis: {error}") from None
    return replies
