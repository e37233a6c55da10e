"""Who a web visitor is, for the per-client login limit: the peer address, unless the peer is our own tunnel.

Behind the README's ngrok setup every visitor reaches us from the local agent, 127.0.0.1: counted by peer, one
visitor's logins would use up everyone's. The agent is recognised as a loopback peer that asked for the public
host (ngrok passes the visitor's Host through): then the visitor is the address the agent appended last to
X-Forwarded-For (what a visitor sent there itself comes before it). A request to the loopback host stays
127.0.0.1's. Behind nginx or another proxy, TRUSTED_PROXIES=N makes ProxyFix set the peer from its headers.
"""
from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from flask import Request

from ..config import Settings
from .public_url import discover_tunnel


def visitor_address(settings: Settings, request: Request) -> str | None:
    peer = request.remote_addr
    if settings.trusted_proxies or not _loopback(peer):
        return peer
    forwarded = request.headers.get("X-Forwarded-For", "")
    if not forwarded or not _asked_for_public_host(settings, request):
        return peer
    return forwarded.split(",")[-1].strip() or peer


def _asked_for_public_host(settings: Settings, request: Request) -> bool:
    public = settings.public_base_url or discover_tunnel(settings.ngrok_api_url,
                                                         request.environ.get("SERVER_PORT", ""))
    return bool(public) and urlsplit(public).netloc.lower() == request.host.lower()


def _loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False
