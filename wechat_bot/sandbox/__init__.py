"""A local WeChat: the authorize page and the API endpoints the server calls, faithful to WeChat's quirks.

It is the other side of every test, and (with the chat page) the sandbox mode of `python run.py`.
"""
from __future__ import annotations

from flask import Flask
from redis import Redis

from . import api, authorize, console
from .pusher import Pusher
from .store import Fault, SandboxConfig, SandboxStore

__all__ = ["create_sandbox_app", "init_app", "init_console", "Fault", "SandboxConfig", "SandboxStore"]


def init_app(app: Flask, store: SandboxStore) -> None:
    """Serve the sandbox WeChat from `app` (its own app, or beside the real server on one port)."""
    app.extensions["wechat_sandbox"] = store
    app.register_blueprint(api.bp)
    app.register_blueprint(authorize.bp)


def init_console(app: Flask, pusher: Pusher) -> None:
    """The chat and tokens pages, for a sandbox served beside the real server."""
    app.extensions["wechat_sandbox_pusher"] = pusher
    app.register_blueprint(console.bp)


def create_sandbox_app(redis: Redis, appid: str, secret: str) -> Flask:
    app = Flask("wechat_bot")
    init_app(app, SandboxStore(redis, appid, secret))
    return app
