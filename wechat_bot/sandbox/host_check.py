"""The sandbox answers only requests that name this machine: Host 127.0.0.1, localhost or [::1] (any port); and,
when it was deliberately put on the network (`serve --sandbox-on-network`), an IP address or this machine's own
name, as a phone on the LAN names it. A web page elsewhere that rebinds its own name to this machine (DNS
rebinding) reaches the port but still sends its own name, and is refused (Jupyter's and Django's host checks are
the model). An IP address cannot be rebound: a page served from it is this server's own."""
from __future__ import annotations

import ipaddress
import socket

from flask import Blueprint, Response, current_app, request

from ..logs import logger
from ..web.visitor import host_name, loopback_host

log = logger("wechat_bot")
ON_NETWORK = "wechat_sandbox_on_network"  # app.extensions: True when served with --sandbox-on-network
REFUSED = "这个沙箱只回答本机的地址（127.0.0.1、localhost 或 [::1]）。"


def guard(*blueprints: Blueprint) -> None:
    """Refuse a foreign Host before anything else a blueprint does for a request (counting it, injecting faults)."""
    for blueprint in blueprints:
        blueprint.before_request_funcs.setdefault(None, []).insert(0, _refuse_foreign_host)


def _refuse_foreign_host() -> Response | None:
    host = request.host
    if loopback_host(host) or (current_app.extensions.get(ON_NETWORK) and _on_the_network(host)):
        return None
    log.warning("sandbox: refused %s %s for Host %r (not this machine: DNS rebinding?)", request.method,
                request.path, host[:100])
    return Response(REFUSED, status=403, content_type="text/plain; charset=utf-8")


def _on_the_network(host: str) -> bool:
    """An IP address, or this machine's own name (with .local, as mDNS spells it)."""
    found = host_name(host)
    if found is None:
        return False
    name = found.rstrip(".")
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        own = socket.gethostname().lower().split(".")[0]
        return name.lower() in (own, own + ".local", socket.getfqdn().lower())
