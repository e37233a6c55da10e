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

__all__ = ["create_app", "Router", "Context", "Settings", "ConfigError", "WeChatBotError"]


def create_app(
    overrides: Mapping[str, str] | None = None,
    *,
    redis: Redis | None = None,
    router: Router | None = None,
    deadline: float = defaults.REPLY_DEADLINE,
) -> Flask:
    """The WSGI app: settings from the environment (and `overrides`), Redis, the endpoint and pages."""
    settings = Settings.load(overrides)
    if settings.missing_credentials:
        raise ConfigError(f"{', '.join(settings.missing_credentials)}: not set (put them in the environment or .env)")
    logs.configure()
    app = Flask(__name__)
    app.config.from_mapping(
        SECRET_KEY=settings.secret_key or secret_key.load_or_create(settings.var_dir),
        MAX_CONTENT_LENGTH=defaults.MAX_PUSH_BYTES,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(settings.public_base_url and settings.public_base_url.startswith("https://")),
    )
    app.extensions["wechat_bot"] = Services.build(settings, redis=redis, router=router, deadline=deadline)
    endpoint.init_app(app)
    oauth.init_app(app)
    health.init_app(app)
    errors.init_app(app)
    return app
