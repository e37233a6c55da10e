"""POST /wechat, the hot path: parse, verify, route, reply, in a WSGI function in front of Flask's dispatch.

A push is a machine's request that needs none of what Flask builds around a view (a request context, a session,
a Response object), and those cost a third of the push's CPU (bench/README.md). So the extension puts
`PushReceiver` around the app's `wsgi_app`: POST to its /wechat is answered here, every other request goes on to
Flask. Middleware the site adds after `init_app` (ProxyFix…) still runs first; when the site has registered its
own request hooks (before_request, after_request…) for the whole app, pushes go through Flask so the hooks see
them (endpoint/views.py), at Flask's cost.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

from werkzeug.wsgi import ClosingIterator, get_input_stream

from .. import defaults
from ..errors import BadPush
from ..logs import loggable, logger
from ..metrics.registry import metrics, push_type, refused
from ..storage.connection import ERRORS as REDIS_ERRORS
from ..web.public_url import environ_base
from .push import open_push
from .responder import Answer
from .signature import verify_query

if TYPE_CHECKING:
    from flask import Flask

    from ..services import Services

log = logger("wechat_bot.push")
errors_log = logger("wechat_bot")

AFTER = "wechat_bot.after_reply"  # environ: what to do once the reply is sent (the rest of a long text)
_TEXT = "text/plain; charset=utf-8"
_XML = "application/xml; charset=utf-8"
_STATUS = {200: "200 OK", 400: "400 Bad Request", 403: "403 Forbidden", 413: "413 Request Entity Too Large",
           500: "500 Internal Server Error", 503: "503 Service Unavailable"}


class BodyTooLarge(Exception):
    """The push's body is over defaults.MAX_PUSH_BYTES."""


def receive(services: Services, args: Mapping[str, str], read_body: Callable[[int], bytes],
            base: Callable[[], str], received: float) -> Answer:
    """The answer to one push (`received`: the monotonic time it arrived); BadPush for what is not a push.
    `base` finds the public origin, once the push is verified (it may ask the ngrok agent)."""
    settings = services.settings
    query = verify_query(args, settings.account.token, settings.timestamp_tolerance, time.time())
    if settings.refuses_plaintext and not query.encrypted:
        raise BadPush(403, "plaintext push refused: WECHAT_ENCRYPTION is safe, so WeChat encrypts every push")
    push = open_push(read_body(defaults.MAX_PUSH_BYTES), query, services.crypto)
    answer = services.responder.respond(push, received, services.context(base(), push.tag))
    elapsed = time.monotonic() - received
    measured = metrics()
    measured.pushes.labels(push_type(push.kind), answer.outcome).inc()
    measured.push_seconds.labels(answer.outcome).observe(elapsed)
    log.info("push type=%s openid=%s handler=%s outcome=%s ms=%.1f", push.kind, loggable(push.source),
             answer.handler, answer.outcome, elapsed * 1000)
    return answer


def content_type(body: bytes) -> str:
    return _XML if body.startswith(b"<") else _TEXT


class PushReceiver:
    """WSGI middleware answering POST `path` (the app's /wechat); anything else goes to `app`."""

    def __init__(self, app: Callable, services: Services, path: str, flask_app: Flask) -> None:
        self.app, self.services, self.path, self.flask_app = app, services, path, flask_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if (environ.get("PATH_INFO") != self.path or environ.get("REQUEST_METHOD") != "POST"
                or site_hooks(self.flask_app)):
            return self.app(environ, start_response)
        status, body, kind = self._answer(environ)
        start_response(_STATUS[status], [("Content-Type", kind), ("Content-Length", str(len(body)))])
        after = environ.get(AFTER)
        return ClosingIterator([body], after) if after else [body]

    def _answer(self, environ: dict) -> tuple[int, bytes, str]:
        received = time.monotonic()
        try:
            answer = receive(self.services, query_args(environ.get("QUERY_STRING", "")),
                             lambda limit: read_body(environ, limit),
                             lambda: environ_base(self.services.settings, environ), received)
        except BadPush as error:
            metrics().pushes.labels("unknown", refused(error.status, error.reason)).inc()
            errors_log.warning("push rejected status=%d reason=%s ip=%s", error.status, error.reason,
                               environ.get("REMOTE_ADDR"))
            return error.status, (error.reason + "\n").encode(), _TEXT
        except BodyTooLarge:
            metrics().pushes.labels("unknown", "refused_too_large").inc()
            errors_log.warning("request rejected status=413 reason=body larger than the limit")
            return 413, b"413 Request Entity Too Large\n", _TEXT
        except REDIS_ERRORS as error:
            errors_log.error("Redis unavailable on %s: %s", self.path, type(error).__name__)
            return 503, b"503 Service Unavailable\n", _TEXT
        except Exception as error:  # noqa: BLE001 - one log line and a plain 500, never a traceback to WeChat
            errors_log.exception("unexpected error on %s: %s", self.path, type(error).__name__)
            return 500, b"500 Internal Server Error\n", _TEXT
        if answer.after is not None:
            environ[AFTER] = answer.after
        return 200, answer.body, content_type(answer.body)


def site_hooks(app: Flask) -> bool:
    """Whether the site registered request hooks that would see POST /wechat in Flask (ours do not count)."""
    for registry in (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs,
                     app.url_value_preprocessors):
        for scope in (None, "endpoint"):
            for hook in registry.get(scope, ()):
                if not getattr(hook, "__module__", "").startswith("wechat_bot."):
                    return True
    return False


def query_args(query: str) -> dict[str, str]:
    """The query string's parameters, the first of each name (as werkzeug's `request.args.get`)."""
    args: dict[str, str] = {}
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if "%" in part or "+" in part:
            name, value = unquote_plus(name), unquote_plus(value)
        if name and name not in args:
            args[name] = value
    return args


def read_body(environ: dict, limit: int) -> bytes:
    """The request body, BodyTooLarge above `limit` bytes, whether it came with a Content-Length or chunked."""
    length = environ.get("CONTENT_LENGTH", "")
    if length.isascii() and length.isdigit():
        if int(length) > limit:
            raise BodyTooLarge()
        return environ["wsgi.input"].read(int(length))
    stream, body = get_input_stream(environ), b""
    while len(body) <= limit:
        chunk = stream.read(limit + 1 - len(body))
        if not chunk:
            return body
        body += chunk
    raise BodyTooLarge()
