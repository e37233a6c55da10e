"""Which computer showed a sign-in code, as the phone's confirm step names it: its browser and system (from its
User-Agent, read with ua-parser), its IP address, and its place when an ip2region database is configured
(WECHAT_IP_DB, read with py-ip2region). A relayed code shows someone else's computer here: the person deciding
sees it before they confirm, and in the chat message afterwards."""
from __future__ import annotations

import functools
import ipaddress
from dataclasses import asdict, dataclass

MAX_USER_AGENT = 512  # longer ones are cut before parsing: ua-parser's regexes stay fast on what browsers send


@dataclass(frozen=True)
class Computer:
    browser: str = ""
    system: str = ""
    ip: str = ""
    place: str = ""

    def label(self) -> str:
        """`Windows · Chrome · 203.0.113.7 · 上海`: what is known, in that order."""
        return " · ".join(part for part in (self.system, self.browser, self.ip, self.place) if part) or "未知设备"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict | None) -> Computer:
        raw = raw or {}
        return cls(**{name: str(raw.get(name, ""))[:100] for name in ("browser", "system", "ip", "place")})


def describe(user_agent: str, ip: str | None, ip_db: str | None) -> Computer:
    browser, system = _parsed(user_agent[:MAX_USER_AGENT])
    return Computer(browser, system, ip or "", place(ip, ip_db) if ip and ip_db else "")


def same_network(a: str, b: str) -> bool:
    """Two visitors seen from the same address (an IPv6 /64 counts as one network); unknown is not the same."""
    from ..web.rate_limit import client_of

    return bool(a and b) and client_of(a) == client_of(b) != "-"


@functools.lru_cache(maxsize=2048)
def _parsed(user_agent: str) -> tuple[str, str]:
    from ua_parser import parse

    found = parse(user_agent)
    browser = found.user_agent.family if found.user_agent else ""
    system = found.os.family if found.os else ""
    return ("" if browser == "Other" else browser), ("" if system == "Other" else system)


def place(ip: str, ip_db: str) -> str:
    """The place ip2region gives for `ip` (`中国|上海|上海市|电信` → 上海), or "" when it knows none."""
    try:
        address = ipaddress.ip_address(ip)
        region = _searcher(ip_db, address.version).search(str(address))
    except (ValueError, OSError, IndexError, KeyError):
        return ""
    parts = [part for part in str(region or "").split("|") if part and part != "0"]
    if len(parts) >= 3 and parts[0] == "中国":
        parts = parts[1:3] if parts[1] != parts[2].rstrip("市") else parts[2:3]
    else:
        parts = parts[:2]
    return " ".join(dict.fromkeys(part.rstrip("市") for part in parts))


@functools.lru_cache(maxsize=4)
def _searcher(ip_db: str, version: int):
    """The database, read into memory once per process (a few MB): read-only, shared by every request."""
    from ip2region import searcher, util

    header = util.load_header_from_file(ip_db)
    found = util.version_from_header(header)
    if found is None or found.id != version:
        raise ValueError("the database is for the other IP version")
    return searcher.new_with_buffer(found, util.load_content_from_file(ip_db))


def check_ip_db(path: str) -> str | None:
    """None when `path` is an ip2region .xdb file; else what is wrong, for the configuration error."""
    try:
        from ip2region import util

        with open(path, "rb") as handle:
            util.verify(handle)
            if util.version_from_header(util.load_header(handle)) is None:
                return "not an ip2region .xdb file (its header names no IP version)"
    except OSError as error:
        return f"cannot read {path} ({error.strerror or type(error).__name__})"
    except Exception as error:  # noqa: BLE001 - whatever a wrong file makes the reader raise
        return f"not an ip2region .xdb file ({type(error).__name__})"
    return None
