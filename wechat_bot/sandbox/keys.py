"""The sandbox's Redis keys, each under its AppID (`wechat_sandbox:<AppID>:…`), and its random tokens."""
from __future__ import annotations

import secrets
import string

PREFIX = "wechat_sandbox:"
ALNUM = string.ascii_letters + string.digits


def key(appid: str, *parts: str) -> str:
    if not appid.startswith("wx"):  # key("follow", openid) would name no account: a key no one else finds
        raise ValueError(f"a sandbox key needs the account's AppID first, not {appid!r}")
    return f"{PREFIX}{appid}:" + ":".join(parts)


def random_token(length: int = 64) -> str:
    return "".join(secrets.choice(ALNUM + "-_") for _ in range(length))
