"""Who a web visitor is, for the per-client login limit: the peer address, unless the peer is our own tunnel.

Behind the README's ngrok setup every visitor reaches us from the local agent, 127.0.0.1: counted by peer, one
visitor's logins would use up everyone's. The agent is recognised as a loopback peer that forwards for someone
(X-Forwarded-For): then the visitor is the address the agent appended last to X-Forwarded-For (what a visitor sent
there itself comes before it). Whatever Host it names (a loopback one included: a Host header is the client's to
write), a forwarded request is never a loopback caller. Behind nginx or another proxy, TRUSTED_PROXIES=N makes ProxyFix
set the peer from its headers.
"""
from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from flask import Request

from ..config import Settings


def visitor_address(settings: Settings, request: Request) -> str | None:
    peer = request.remote_addr
    if settings.trusted_proxies or not is_loopback(peer):
        return peer
    forwarded = request.headers.get("X-Forwarded-For", "")
    if not forwarded:
        return peer
    return forwarded.split(",")[-1].strip() or "-"


def host_name(host: str) -> str | None:
    """The name or address in a Host header (no port, no brackets, lowercased); None when it is not one."""
    try:
        return urlsplit("//" + host).hostname or ""
    except ValueError:
        return None


def loopback_host(host: str) -> bool:
    """localhost, 127.0.0.1 or [::1], with or without a port."""
    name = host_name(host)
    return name is not None and on_loopback(name)


def on_loopback(host: str) -> bool:
    """Only this machine reaches `host` (a name, no port): localhost, 127.0.0.0/8 or ::1."""
    return host == "localhost" or is_loopback(host.strip("[]"))


def is_loopback(address: str | None) -> bool:
    """An address on this machine (127.0.0.0/8, ::1); False for anything that is not an address."""
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False
