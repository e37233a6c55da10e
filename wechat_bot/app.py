"""The standalone server's app factory: `gunicorn 'wechat_bot:create_app()'`."""
from __future__ import annotations

from collections.abc import Mapping

from flask import Flask, Response
from redis import Redis

from . import defaults, errors, page_headers
from .extension import WeChatBot
from .handlers import Router


def create_app(
    overrides: Mapping[str, str] | None = None,
    *,
    redis: Redis | None = None,
    router: Router | None = None,
    deadline: float = defaults.REPLY_DEADLINE,
    sandbox_origin: str | bool | None = None,
) -> Flask:
    """The standalone server: a Flask app that is wechat_bot and nothing else (gunicorn 'wechat_bot:create_app()').

    With no WeChat credentials and a `sandbox_origin` (where this app is served), it serves the sandbox: a
    local WeChat on the same port, with credentials made up once under ./var/ (`True`: a command's app, using
    the sandbox account without serving).
    """
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = defaults.MAX_PUSH_BYTES
    # a ConfigError comes out as the one line the host prints: under gunicorn, an AppImportError
    WeChatBot(router=router).init_app(app, redis=redis, overrides=overrides, deadline=deadline,
                                      sandbox_origin=sandbox_origin)
    if app.extensions["wechat_bot"].sandboxed:
        from flask import redirect, url_for

        app.add_url_rule("/", "sandbox_home", lambda: redirect(url_for("sandbox_console.chat")))
    app.add_url_rule("/favicon.ico", "favicon", favicon)  # browsers ask every origin for one; no 404 in the log
    errors.init_app(app)  # the whole app is ours: friendly pages and the page headers on any route
    page_headers.init_app(app)
    return app


FAVICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
           '<rect width="16" height="16" rx="3" fill="#07c160"/></svg>')


def favicon() -> Response:

    return Response(FAVICON, content_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})
