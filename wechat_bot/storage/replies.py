"""Redis replies as text. Every client wechat_bot works with returns bytes (connection.bytes_client refuses one
that decodes responses); redis-py types its replies `bytes | str` whichever a client does."""
from __future__ import annotations

from typing import Any


def text(reply: bytes | str) -> str:
    """A reply (a value, a member, a hash field) decoded as UTF-8."""
    return reply.decode() if isinstance(reply, bytes) else reply


def members(reply: list[Any]) -> list[str]:
    """A sorted set's members from ZRANGE or ZRANGEBYSCORE without scores (redis-py types each item as a member or a
    (member, score) pair, whichever the call asked for)."""
    return [text(member) for member in reply]
