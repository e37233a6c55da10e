"""Headers on every response of wechat_bot's own routes: no Referer (the callback's URL carries the code), no
MIME sniffing, no framing (the result and consent pages cannot be put in a frame to trick a tap)."""
from __future__ import annotations

from flask import Blueprint, Flask, Response

HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
}


def init_app(target: Flask | Blueprint) -> None:
    """On a blueprint, for its routes only; on the standalone server's app, for every route."""
    target.after_request(_add)


def _add(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response
