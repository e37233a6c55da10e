"""A local WeChat: the authorize page and the API endpoints the server calls, faithful to WeChat's quirks.

It is the other side of every test, and (with the chat page) the sandbox mode of `python run.py`.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from flask import Flask
from redis import Redis

from .. import errors
from . import (  # noqa: F401
    account,
    api,
    authorize,
    console,
    custom_send,
    followers,
    jssdk,
    media,
    menus,
    not_simulated,  # (routes on api.bp)
    qrcodes,
    tags,
)
from .host_check import guard
from .pusher import Pusher
from .store import Fault, SandboxConfig, SandboxStore
from .wechatpy_client import point_at_sandbox

__all__ = ["create_sandbox_app", "init_app", "serve", "point_at_sandbox", "Fault", "SandboxConfig", "SandboxStore"]

guard(api.bp, authorize.bp, jssdk.bp, console.bp)
for _blueprint in (api.bp, authorize.bp, jssdk.bp, console.bp):  # Redis down: a 503 page or JSON, in a site too
    errors.init_app(_blueprint)


def init_app(app: Flask, store: SandboxStore) -> None:
    """Serve the sandbox WeChat from `app` (its own app, or beside the real server on one port)."""
    app.extensions["wechat_sandbox"] = store
    app.register_blueprint(api.bp)
    app.register_blueprint(authorize.bp)
    app.register_blueprint(jssdk.bp)


def serve(app: Flask, services, prefix: str | None) -> None:
    """The sandbox WeChat (API, authorize page) and its chat and tokens pages, beside the app's own routes."""
    settings = services.settings
    app.extensions["wechat_sandbox"] = SandboxStore(services.redis, settings.account.appid, settings.account.secret)
    app.extensions["wechat_sandbox_pusher"] = Pusher(settings.account.token, settings.account.appid, settings.aes_key)
    for blueprint in (api.bp, authorize.bp, jssdk.bp, console.bp):
        app.register_blueprint(blueprint, url_prefix=prefix)


def create_sandbox_app(redis: Redis, appid: str, secret: str, *, clock: Callable[[], float] = time.time) -> Flask:
    app = Flask("wechat_bot")
    init_app(app, SandboxStore(redis, appid, secret, clock=clock))
    return app
