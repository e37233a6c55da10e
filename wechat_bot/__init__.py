"""wechat_bot: a WeChat official-account server with web authorization and tokens kept alive in Redis."""
from __future__ import annotations

from typing import Mapping

from flask import Flask
from redis import Redis

from . import defaults, endpoint, errors, health, logs, oauth, secret_key
from .config import Settings
from .errors import ConfigError, WeChatBotError
from .handlers import Context, Router
from .services import Services
from .sessions import CookieSessions

__all__ = ["create_app", "Router", "Context", "Settings", "ConfigError", "WeChatBotError"]


def create_app(
    overrides: Mapping[str, str] | None = None,
    *,
    redis: Redis | None = None,
    router: Router | None = None,
    deadline: float = defaults.REPLY_DEADLINE,
    sandbox_origin: str | None = None,
) -> Flask:
    """The WSGI app: settings from the environment (and `overrides`), Redis, the endpoint and pages.

    With no WeChat credentials and a `sandbox_origin` (where this app is served), it serves the sandbox: a
    local WeChat on the same port, with credentials made up once under ./var/.
    """
    settings = Settings.load(overrides)
    sandboxed = bool(settings.missing_credentials) and sandbox_origin is not None
    if sandboxed:
        settings = _sandbox_settings(settings, sandbox_origin, overrides)
    elif settings.missing_credentials:
        raise ConfigError(f"{', '.join(settings.missing_credentials)}: not set (put them in the environment or .env)")
    logs.configure(settings.log_format)
    app = Flask(__name__)
    app.session_interface = CookieSessions()
    app.config.from_mapping(
        SECRET_KEY=settings.secret_key or secret_key.load_or_create(settings.var_dir),
        MAX_CONTENT_LENGTH=defaults.MAX_PUSH_BYTES,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(settings.public_base_url and settings.public_base_url.startswith("https://")),
    )
    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies,
                                x_host=settings.trusted_proxies, x_port=settings.trusted_proxies)
    services = app.extensions["wechat_bot"] = Services.build(settings, redis=redis, router=router, deadline=deadline)
    endpoint.init_app(app)
    oauth.init_app(app)
    health.init_app(app)
    if sandboxed:
        _serve_sandbox(app, services, sandbox_origin)
    errors.init_app(app)
    return app


def _sandbox_settings(settings: Settings, origin: str, overrides: Mapping[str, str] | None) -> Settings:
    from .sandbox import credentials

    made_up = credentials.load_or_create(settings.var_dir)
    return Settings.load({**made_up, "WECHAT_API_BASE": origin,
                          "WECHAT_OPEN_BASE": settings.public_base_url or origin, **(overrides or {})})


def _serve_sandbox(app: Flask, services: Services, origin: str) -> None:
    from flask import redirect

    from . import sandbox
    from .sandbox.pusher import Pusher

    settings = services.settings
    sandbox.init_app(app, sandbox.SandboxStore(services.redis, settings.appid, settings.secret))
    sandbox.init_console(app, Pusher(origin + "/wechat", settings.token, settings.appid, settings.aes_key))
    app.add_url_rule("/", "sandbox_home", lambda: redirect("/sandbox/chat"))
