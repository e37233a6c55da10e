"""Who is calling the token service: the name whose key the request's `Authorization: Bearer KEY` carries.

Keys are kept only as SHA-256 digests (config.py) and compared in constant time, each against every caller's, so
neither the answer's timing nor its content says which part of a key was right.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence


def caller_of(authorization: str | None, keys: Sequence[tuple[str, str]]) -> str | None:
    """The caller's name, or None for no key or a wrong one."""
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    digest = hashlib.sha256(key.strip().encode()).hexdigest().encode()
    found = None
    for name, expected in keys:
        if hmac.compare_digest(digest, expected.encode()):
            found = name
    return found
