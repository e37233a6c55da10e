"""The sandbox answers only requests that name this machine (Host: 127.0.0.1, localhost or [::1], any port), or the
address it was deliberately served on (`--sandbox-on-network`): a page elsewhere that rebinds its own name to
127.0.0.1 (DNS rebinding) reaches the port but still sends its own name, and is refused (Jupyter's and Django's
host checks are the model)."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, request

from ..logs import logger
from ..oauth.visitor import loopback_host

log = logger("wechat_bot")
ORIGIN = "wechat_sandbox_origin"  # app.extensions: the origin the sandbox is served on, when it is on the network
REFUSED = "这个沙箱只回答本机的地址（127.0.0.1、localhost 或 [::1]）。"


def guard(*blueprints: Blueprint) -> None:
    for blueprint in blueprints:
        blueprint.before_request(_refuse_foreign_host)


def _refuse_foreign_host() -> Response | None:
    host = request.host
    if loopback_host(host) or host.lower() == _served_host():
        return None
    log.warning("sandbox: refused %s %s for Host %r (not this machine: DNS rebinding?)", request.method,
                request.path, host[:100])
    return Response(REFUSED, status=403, content_type="text/plain; charset=utf-8")


def _served_host() -> str | None:
    origin = current_app.extensions.get(ORIGIN)
    return urlsplit(origin).netloc.lower() if origin else None
