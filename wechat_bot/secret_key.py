"""The session key when SECRET_KEY is not set: made once and kept in Redis, so every worker and every host that
shares the Redis signs and reads the same cookies.

Upgrading from a version that kept the key in ./var/secret_key: the first host to need the key offers its file's
key (set only if Redis has none), so the sessions that host signed survive; every host then uses that one.
"""
from __future__ import annotations

import secrets
from pathlib import Path

from redis import Redis, RedisError

from .storage.keyspace import account_prefix
from .storage.replies import text

# The session-signing key every host shares when SECRET_KEY is not set. It never expires: a lost key signs every
# user out, nothing worse.
KEY = "secret_key"  # under the account's prefix
LEGACY_FILE = "secret_key"  # under ./var/, where versions before 0.13 kept a key per host


def shared(redis: Redis, appid: str, var_dir: Path) -> str:
    """The key in Redis; the first caller stores one (this host's ./var/ key if it has one, else a new one)."""
    key_name = account_prefix(appid) + KEY
    found = redis.get(key_name)
    if found is None:
        legacy = var_dir / LEGACY_FILE
        offered = legacy.read_text().strip() if legacy.is_file() else ""
        redis.set(key_name, offered or secrets.token_hex(32), nx=True)
        found = redis.get(key_name)
        if found is None:  # deleted again between the two commands: no key to sign with
            raise RedisError(f"{key_name}: gone as soon as it was set")
    return text(found)


def source(redis: Redis, appid: str, var_dir: Path, configured: bool) -> str:
    """Where the session key comes from, for `check` (never the key itself)."""
    key_name = account_prefix(appid) + KEY
    if configured:
        return "session key: SECRET_KEY, as set (every host must set the same one)"
    if redis.exists(key_name):
        return f"session key: made once and kept in Redis ({key_name}), shared by every host on this Redis"
    legacy = (var_dir / LEGACY_FILE).is_file()
    return ("session key: not made yet; the first sign-in stores " + ("this host's ./var/secret_key" if legacy
            else "a new one") + f" in Redis ({key_name}), for every host on this Redis")
