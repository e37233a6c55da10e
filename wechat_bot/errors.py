"""The one family of errors wechat_bot raises, and how each reaches the client."""
from __future__ import annotations

from typing import NoReturn

from flask import Blueprint, Flask, Response, request
from flask.typing import ResponseReturnValue
from redis import RedisError
from redis.exceptions import RedisClusterException
from werkzeug.exceptions import HTTPException

from .logs import loggable, logger

log = logger("wechat_bot")


class WeChatBotError(Exception):
    """Base of everything wechat_bot raises."""


class ConfigError(WeChatBotError):
    """A setting is missing or malformed; the message names the variable and says what is wrong."""


class BadPush(WeChatBotError):
    """A request to /wechat that is not a genuine, well-formed push; answered with a 4xx."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class BadSigningRequest(WeChatBotError, ValueError):
    """A JS-SDK signature asked for a page on another origin, or with malformed API names; answered with a 400."""


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


class WeChatUntrusted(WeChatUnavailable):
    """WeChat's TLS certificate is not trusted here (a missing CA, an intercepting proxy): no retry heals it."""


def init_app(app: Flask | Blueprint) -> None:
    """Map the family to responses: a plain 4xx for bad pushes, never a traceback. On a blueprint, for its own
    routes only (a site's pages keep the site's error pages); on the standalone server's app, for every route."""
    app.register_error_handler(BadPush, _bad_push)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(RedisError, _redis_down)
    app.register_error_handler(RedisClusterException, _redis_down)
    app.register_error_handler(Exception, _unexpected)


def _for_a_phone() -> bool:
    """Pages a person opens get a Chinese page; /wechat and /healthz get plain text."""
    if request.blueprint is not None:
        return request.blueprint not in _MACHINE_BLUEPRINTS
    return not request.path.startswith(("/wechat", "/healthz"))


_MACHINE_BLUEPRINTS = ("endpoint", "health")


def _page(kind: str, status: int) -> tuple[str, int]:
    from .oauth.pages import message_page

    return message_page(kind, status)


def _bad_push(error: BadPush) -> Response:
    log.warning("push rejected status=%d reason=%s ip=%s", error.status, error.reason,
                loggable(request.remote_addr))
    return Response(error.reason + "\n", status=error.status, mimetype="text/plain")


def _http_error(error: HTTPException) -> ResponseReturnValue:
    if error.code == 413:
        log.warning("request rejected status=413 reason=body larger than the limit")
    if error.code == 404 and _for_a_phone():
        return _page("not_found", 404)
    return Response(f"{error.code} {error.name}\n", status=error.code, mimetype="text/plain")


def _redis_down(error: Exception) -> ResponseReturnValue:
    log.error("Redis unavailable on %s: %s", loggable(request.path, 200), type(error).__name__)
    if _speaks_json():
        return Response('{"error": "Redis unavailable: try again shortly"}\n', status=503, mimetype="application/json")
    if _for_a_phone():
        return _page("unavailable", 503)
    return Response("503 Service Unavailable\n", status=503, mimetype="text/plain")


def _speaks_json() -> bool:
    """A route whose callers read JSON (the sandbox's API, the chat page's calls, the token service)."""
    return request.is_json or (request.blueprint or "") in ("sandbox_api", "token_service") \
        or request.accept_mimetypes.best == "application/json"


def unavailable_in_site_page(error: Exception) -> NoReturn:
    """Redis failed inside a site's own view (`login_required`, `current_user`): the friendly 503, not the site's
    500 and a traceback. The site's own error handlers are skipped: the response is ours, ready-made."""
    from flask import abort, make_response

    abort(make_response(_redis_down(error)))


def _unexpected(error: Exception) -> ResponseReturnValue:
    log.exception("unexpected error on %s: %s", loggable(request.path, 200), type(error).__name__)
    if _for_a_phone():
        return _page("error", 500)
    return Response("500 Internal Server Error\n", status=500, mimetype="text/plain")


# The errcodes WeChat documents for the APIs we call (wechat-protocol.md §9.2): a metric's errcode label is one of
# these or `other`, so a server answering with made-up codes cannot grow the number of series without bound.
DOCUMENTED_ERRCODES = frozenset({
    -2, -1, 0, 40001, 40002, 40003, 40007, 40008, 40013, 40014, 40029, 40030, 40053, 40125, 40163, 40164, 40243,
    41001, 41002, 41003, 41004, 41008, 41009, 42001, 42002, 42003, 42007, 43001, 43002, 43003, 44002, 45002, 45008,
    45009, 45011, 45015, 45047, 47001, 48001, 50001, 50002, 89503,
})


def errcode_label(errcode: int) -> str:
    """`errcode` as a metric label: one WeChat documents, else `other`."""
    return str(errcode) if errcode in DOCUMENTED_ERRCODES else "other"
