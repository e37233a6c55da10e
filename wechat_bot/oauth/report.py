"""Token records as the `tokens` commands show them: the interface's fields, secrets masked unless revealed."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from redis import Redis

from ..storage.keyspace import account_prefix
from .tokens import USER, TokenRecord, TokenStore, openid_of


def mask(secret: str) -> str:
    return f"{secret[:4]}…({len(secret)} chars)" if secret else ""


def describe(record: TokenRecord, now: float, reveal: bool = False,
             masked: Callable[[str], str] = mask) -> dict[str, Any]:
    shown = (lambda value: value) if reveal else masked
    return {
        "openid": record.openid,
        "scope": record.scope,
        "status": record.reported_status(now),
        "access_token_expires_at": record.access_token_expires_at,
        "refresh_token_expires_at": record.refresh_token_expires_at,
        "access_token": shown(record.access_token),
        "refresh_token": shown(record.refresh_token),
        "unionid": record.unionid or None,
        "nickname": record.nickname or None,
        "consented_at": record.consented_at,
    }


def all_records(redis: Redis, store: TokenStore) -> Iterator[TokenRecord]:
    """Every stored user, by SCAN (for the operator's commands, not for renewal); a cluster client scans every
    node."""
    seen = set()
    for key in redis.scan_iter(match=account_prefix(store.appid) + USER + "*", count=1000):
        openid = openid_of(key)
        record = store.get(openid) if openid not in seen else None
        if record is not None:
            seen.add(openid)  # a record moved from an earlier version's key may be scanned again
            yield record
