"""Every Redis key the project writes lives under its account: `wechat_bot:<AppID>:…`.

So a sandbox and a real account, or two real accounts, can share one Redis and never read or write each other's
users, schedule, states, scenes or counters. A key's hash tag (the part in braces, which picks its cluster slot)
stays where each owner puts it, after this prefix.
"""
from __future__ import annotations

ROOT = "wechat_bot:"


def account_prefix(appid: str) -> str:
    """The prefix of every key of the account `appid`."""
    if not appid or any(ch in appid for ch in ":{}*?[] "):
        raise ValueError("an AppID is needed to name the account's Redis keys")
    return f"{ROOT}{appid}:"
