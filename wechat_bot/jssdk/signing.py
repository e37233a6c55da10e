"""wx.config's signature, and the dict a page hands to wx.config (WeChat's protocol §13).

The signature is SHA-1 over `jsapi_ticket=T&noncestr=N&timestamp=TS&url=URL`, the URL exactly as the page has it
(percent-encoded as the browser keeps it) up to its `#`. Nothing here normalises the URL: any change, even one a
browser would call equivalent, makes WeChat answer `config:invalid signature`.
"""
from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from ..errors import BadSigningRequest

MAX_URL = 4096
MAX_NAMES = 100
_API = re.compile(r"[A-Za-z][A-Za-z0-9]{0,63}")
_OPEN_TAG = re.compile(r"wx-open-[a-z][a-z-]{0,47}")
_URL_CHARS = re.compile(r"[\x21-\x7e]+")  # the URL a browser keeps: printable ASCII, nothing decoded
_DEFAULT_PORTS = {"http": 80, "https": 443}


def signature(ticket: str, nonce_str: str, timestamp: int | str, url: str) -> str:
    plain = f"jsapi_ticket={ticket}&noncestr={nonce_str}&timestamp={timestamp}&url={url}"
    return hashlib.sha1(plain.encode("utf-8")).hexdigest()


def page_url(url: str, origin: str | None) -> str:
    """`url` without its `#…`, when it is a page on `origin` (any page when the origin is not known)."""
    page = url.split("#", 1)[0]
    if len(page) > MAX_URL:
        raise BadSigningRequest(f"url: longer than {MAX_URL} characters")
    if not _URL_CHARS.fullmatch(page):
        raise BadSigningRequest("url: must be the page's URL as the browser has it (location.href: percent-encoded, "
                                "no spaces, nothing decoded)")
    try:
        parts = urlsplit(page)
        hostname = parts.hostname
    except ValueError:  # an unclosed [ of an IPv6 host
        raise BadSigningRequest("url: not a URL (an IPv6 host in brackets?)") from None
    if parts.scheme not in _DEFAULT_PORTS or not hostname or "@" in parts.netloc:
        raise BadSigningRequest("url: must be an http(s) URL of a page, such as location.href.split('#')[0]")
    if origin is not None and _origin(page) != _origin(origin):
        raise BadSigningRequest(f"url: on {_shown(page)}, not this site's public origin {_shown(origin)} "
                                "(behind a proxy, set TRUSTED_PROXIES or PUBLIC_BASE_URL)")
    return page


def names(values: str | Iterable[str] | None, kind: str) -> list[str]:
    """JS-SDK API names (`kind` "apis") or open-tag names ("open_tags"), from a list or a comma-separated string."""
    if values is None:
        return []
    listed = values.split(",") if isinstance(values, str) else list(values)
    found = [str(value).strip() for value in listed if str(value).strip()]
    pattern = _API if kind == "apis" else _OPEN_TAG
    if len(found) > MAX_NAMES:
        raise BadSigningRequest(f"{kind}: at most {MAX_NAMES} names")
    for name in found:
        if not pattern.fullmatch(name):
            example = "updateAppMessageShareData" if kind == "apis" else "wx-open-launch-weapp"
            raise BadSigningRequest(f"{kind}: {name[:40]!r} is not a name such as {example}")
    return list(dict.fromkeys(found))


def wx_config(appid: str, ticket: str, url: str, apis: list[str], open_tags: list[str], debug: bool = False,
              *, now: float | None = None) -> dict[str, Any]:
    """What wx.config takes, signed for `url` (already checked by page_url)."""
    timestamp, nonce = int(time.time() if now is None else now), secrets.token_hex(8)
    return {"debug": bool(debug), "appId": appid, "timestamp": timestamp, "nonceStr": nonce,
            "signature": signature(ticket, nonce, timestamp, url), "jsApiList": apis, "openTagList": open_tags}


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        raise BadSigningRequest("url: its port is not a number") from None
    return scheme, (parts.hostname or "").lower(), port


def _shown(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
