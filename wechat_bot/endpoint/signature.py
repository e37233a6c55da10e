"""The query-string checks every request to /wechat passes: signature, timestamp, encryption mode."""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from ..errors import BadPush

_MAX_PARAM = 128


@dataclass
class SignedQuery:
    timestamp: str
    nonce: str
    encrypted: bool
    msg_signature: str | None
    signature: str = ""

    @cached_property
    def digest(self) -> str:
        """Names this signed query: WeChat sends each push with its own, and its retries with the same one."""
        return hashlib.sha1(f"{self.signature}|{self.timestamp}|{self.nonce}".encode()).hexdigest()[:20]


def sign(*values: str) -> str:
    """WeChat's signature: sha1 over the values sorted as strings and joined, in lowercase hex."""
    return hashlib.sha1("".join(sorted(values)).encode()).hexdigest()


def signatures_match(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


def verify_query(args: Mapping[str, str], token: str, tolerance: int, now: float) -> SignedQuery:
    """Check `signature` and `timestamp`; raise BadPush (400 malformed, 403 forged or stale)."""
    signature, timestamp, nonce = (_param(args, name) for name in ("signature", "timestamp", "nonce"))
    if not (timestamp.isascii() and timestamp.isdigit()):
        raise BadPush(400, "timestamp is not a number")
    if not signatures_match(sign(token, timestamp, nonce), signature):
        raise BadPush(403, "signature does not match the Token")
    skew = int(now) - int(timestamp)
    if tolerance and abs(skew) > tolerance:
        raise BadPush(403, f"timestamp is {skew:+d}s off the clock, beyond the {tolerance}s tolerance")
    encrypt_type = args.get("encrypt_type", "raw")
    if encrypt_type not in ("raw", "aes"):
        raise BadPush(400, "encrypt_type must be aes or raw")
    encrypted = encrypt_type == "aes"
    return SignedQuery(timestamp, nonce, encrypted, _param(args, "msg_signature") if encrypted else None, signature)


def _param(args: Mapping[str, str], name: str) -> str:
    value = args.get(name)
    if not value:
        raise BadPush(400, f"{name} is missing")
    if len(value) > _MAX_PARAM:
        raise BadPush(400, f"{name} is longer than {_MAX_PARAM} characters")
    return value
