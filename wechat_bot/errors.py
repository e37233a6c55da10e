"""The one family of errors wechat_bot raises, and how each reaches the client."""
from __future__ import annotations

import logging

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

log = logging.getLogger("wechat_bot")


class WeChatBotError(Exception):
    """Base of everything wechat_bot raises."""


class ConfigError(WeChatBotError):
    """A setting is missing or malformed; the message names the variable and says what is wrong."""


class BadPush(WeChatBotError):
    """A request to /wechat that is not a genuine, well-formed push; answered with a 4xx."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class WeChatError(WeChatBotError):
    """WeChat answered with an errcode (as HTTP 200 JSON). Callers branch on `errcode`, never on the text."""

    def __init__(self, errcode: int, errmsg: str, api: str) -> None:
        super().__init__(f"{api} failed: {errcode} {errmsg}")
        self.errcode, self.errmsg, self.api = errcode, errmsg, api

    @property
    def needs_reauth(self) -> bool:
        """The refresh_token is invalid or expired: only the user can fix it, by authorizing again."""
        return self.errcode in (40030, 42002)

    @property
    def bad_code(self) -> bool:
        """The authorization code is wrong, expired or already used: the user should tap the link again."""
        return self.errcode in (40029, 40163, 41008, 42003)


class WeChatUnavailable(WeChatBotError):
    """WeChat did not answer usably (timeouts, 5xx, system busy) within the retry budget."""

    def __init__(self, api: str, reason: str) -> None:
        super().__init__(f"{api} unavailable: {reason}")
        self.api, self.reason = api, reason


def init_app(app: Flask) -> None:
    """Map the family to responses: a plain 4xx for bad pushes, never a traceback."""
    app.register_error_handler(BadPush, _bad_push)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)


def _bad_push(error: BadPush) -> Response:
    from flask import request

    log.warning("push rejected status=%d reason=%s ip=%s", error.status, error.reason, request.remote_addr)
    return Response(error.reason + "\n", status=error.status, mimetype="text/plain")


def _http_error(error: HTTPException) -> Response:
    if error.code == 413:
        log.warning("request rejected status=413 reason=body larger than the limit")
    return Response(f"{error.code} {error.name}\n", status=error.code, mimetype="text/plain")


def _unexpected(error: Exception) -> Response:
    log.exception("unexpected error: %s", type(error).__name__)
    return Response("500 Internal Server Error\n", status=500, mimetype="text/plain")
