"""The signed session cookie (the openid after authorizing), with its signer built once per app, and its key read
from Redis the first time a cookie is used when SECRET_KEY is not set (secret_key.py).

Flask's own interface builds an itsdangerous signer and parses cookies on every request, pushes included,
which never carry a cookie: that was a measurable share of the /wechat hot path.
"""
from __future__ import annotations

from flask import Flask, Request, Response, has_request_context, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from itsdangerous import URLSafeTimedSerializer

from . import secret_key
from .storage.connection import ERRORS as REDIS_ERRORS
from .web.public_url import public_base_url


class CookieSessions(SecureCookieSessionInterface):
    def get_cookie_secure(self, app: Flask) -> bool:
        """Secure whenever the public origin is https: PUBLIC_BASE_URL, the ngrok tunnel, or a trusted proxy's
        X-Forwarded-Proto (decided per request, since a tunnel can come and go)."""
        if super().get_cookie_secure(app):
            return True
        services = app.extensions.get("wechat_bot")
        if services is None or not has_request_context():
            return False
        return public_base_url(services.settings, request).startswith("https://")

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if "HTTP_COOKIE" not in request.environ:
            return self.session_class()
        try:
            return super().open_session(app, request)
        except REDIS_ERRORS as error:  # the key is in Redis, which is down: the view that reads the session says so
            return UnreadableSession(error)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not isinstance(session, UnreadableSession):
            super().save_session(app, session, response)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        services = app.extensions.get("wechat_bot")
        if not app.secret_key and services is not None:  # no SECRET_KEY: the one every host shares, from Redis
            app.config["SECRET_KEY"] = secret_key.shared(services.redis, services.settings.account.appid,
                                                         services.settings.var_dir)
        cached = app.extensions.get("wechat_bot.session_signer")
        if cached is None or cached[0] != app.secret_key:
            cached = app.extensions["wechat_bot.session_signer"] = (app.secret_key, super().get_signing_serializer(app))
        return cached[1]


class UnreadableSession(SecureCookieSession):
    """A cookie whose key could not be read from Redis: reading or writing it raises that Redis error, which the
    views' error handlers answer with the busy page (503), as for any other Redis failure."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self._error = error

    def _fail(self, *_: object, **__: object):
        raise self._error

    __getitem__ = __setitem__ = __delitem__ = __contains__ = get = pop = setdefault = update = _fail
