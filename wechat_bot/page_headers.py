"""Headers on every response of wechat_bot's own routes: no Referer (the callback's URL carries the code), no
MIME sniffing, no framing (the result and consent pages cannot be put in a frame to trick a tap).

The sandbox's pages send a Referer to their own origin only: their forms and fetches POST back to it, and a browser
sends those with `Origin: null` under no-referrer, which over plain http on a network address (no Sec-Fetch-Site
there) the same-origin check must refuse."""
from __future__ import annotations

from flask import Blueprint, Flask, Response

HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
}


def init_app(target: Flask | Blueprint, *, referrer: str = "no-referrer") -> None:
    """On a blueprint, for its routes only; on the standalone server's app, for every route."""
    headers = {**HEADERS, "Referrer-Policy": referrer}

    def add(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response
    target.after_request(add)
