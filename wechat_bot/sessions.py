"""The signed session cookie (the openid after authorizing), with its signer built once per app.

Flask's own interface builds an itsdangerous signer and parses cookies on every request, pushes included,
which never carry a cookie: that was a measurable share of the /wechat hot path.
"""
from __future__ import annotations

from flask import Flask, Request, has_request_context, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

from .oauth.public_url import public_base_url


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
        return super().open_session(app, request)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        cached = app.extensions.get("wechat_bot.session_signer")
        if cached is None or cached[0] != app.secret_key:
            cached = app.extensions["wechat_bot.session_signer"] = (app.secret_key, super().get_signing_serializer(app))
        return cached[1]
