"""When an app with no WeChat credentials serves the sandbox, and the WeChat client that talks to it.

The sandbox is served only where a developer runs the app by hand: `python run.py` / `wechat-bot serve`
(which say where), or `flask run`. A command (`flask wechat tokens …`, `run.py worker`) uses the sandbox
account too, and reaches its API where the server last said it serves. Never under gunicorn: there the
missing credentials stop start-up.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

import requests
from flask import has_request_context, request
from redis import Redis, RedisError

from ..config import Settings
from ..oauth.links import CALLBACK_PATH
from ..storage.replies import text
from ..web.visitor import on_loopback
from ..wechat_api import WeChatClient
from . import credentials
from .store import key

DEFAULT_ORIGIN = "http://127.0.0.1:5000"
SERVE_ENV = "WECHAT_SANDBOX_ORIGIN"  # set by `wechat-bot serve` before it imports a site
ON_NETWORK_REFUSED = ("the sandbox lets whoever reaches it be any user and expire their tokens, so it listens on "
                      "loopback only")


def wanted(explicit: str | bool | None) -> tuple[bool, str | None]:
    """(use the sandbox account, the origin it is served on now or None for a command). `explicit` is the
    origin the caller serves on, or True for a command run beside a sandbox."""
    if explicit:
        return True, explicit if isinstance(explicit, str) else None
    if os.environ.get(SERVE_ENV):
        return True, os.environ[SERVE_ENV]
    if os.environ.get("FLASK_RUN_FROM_CLI") == "true":
        return True, _flask_run_origin()
    return False, None


def flask_running() -> bool:
    """This process is `flask run` (not another flask command, not gunicorn)."""
    import click

    ctx = click.get_current_context(silent=True)
    return os.environ.get("FLASK_RUN_FROM_CLI") == "true" and ctx is not None and ctx.info_name == "run"


def under_flask_run(explicit: str | bool | None) -> bool:
    """The sandbox is served by `flask run` (which, unlike `wechat-bot serve`, says nothing of it itself)."""
    return (not explicit and not os.environ.get(SERVE_ENV) and os.environ.get("FLASK_RUN_FROM_CLI") == "true"
            and _flask_run_origin() is not None)


def _flask_run_origin() -> str | None:
    import click

    ctx = click.get_current_context(silent=True)
    if ctx is None or ctx.info_name != "run":
        return None
    host = ctx.params.get("host") or "127.0.0.1"
    if not on_loopback(host):
        raise click.ClickException(f"--host {host}: {ON_NETWORK_REFUSED} (wechat-bot serve --app SITE --host {host} "
                                   "--sandbox-on-network exposes it anyway)")
    host = "127.0.0.1" if host == "localhost" else host
    return f"http://{host}:{ctx.params.get('port') or 5000}"


SANDBOX_ACCOUNT_NAME = "沙箱公众号"


def settings_for(settings: Settings, overrides: Mapping[str, str]) -> Settings:
    """The app's settings with the sandbox account's made-up credentials (kept once under ./var/)."""
    made_up = credentials.load_or_create(settings.var_dir)
    loaded = Settings.load({**made_up, **{name: value for name, value in overrides.items() if value}})
    return loaded if loaded.account_name else dataclasses.replace(loaded, account_name=SANDBOX_ACCOUNT_NAME)


def origin_key(appid: str) -> str:
    """Where the sandbox WeChat of `appid` last served, for commands run beside it."""
    return key(appid, "origin")


def remember_origin(redis: Redis, appid: str, base: str) -> None:
    try:
        redis.set(origin_key(appid), base)
    except RedisError:
        pass


class LocalWeChatClient(WeChatClient):
    """The WeChat client of an app that serves its own sandbox: WeChat is this app, reached at the address the
    server listens on (never one a request's Host names: that would let a client pick where the AppSecret goes),
    under its mount point and prefix; outside a request, where the server said it serves."""

    def __init__(self, appid: str, secret: str, *, prefix: str, redis: Redis, origin: str | None,
                 session: requests.Session | None = None) -> None:
        self._prefix, self._redis, self._origin = prefix, redis, origin
        super().__init__(DEFAULT_ORIGIN, DEFAULT_ORIGIN, appid, secret, session=session)

    @property
    def api_base(self) -> str:
        if has_request_context():
            return listening_origin(request.environ) + request.script_root + self._prefix
        if self._origin:
            return self._origin + self._prefix
        try:
            remembered = self._redis.get(origin_key(self.appid))
        except RedisError:
            remembered = None
        return text(remembered) if remembered else DEFAULT_ORIGIN + self._prefix

    @api_base.setter
    def api_base(self, value: str) -> None:
        pass

    @property
    def open_base(self) -> str:
        return self.api_base

    @open_base.setter
    def open_base(self, value: str) -> None:
        pass

    def authorize_url(self, redirect_uri: str, scope: str, state: str) -> str:
        """The sandbox's authorize page is served by the app that takes the callback: outside a request (a push
        is answered before Flask's dispatch) it is found from the callback's URL."""
        if not has_request_context() and redirect_uri.endswith(CALLBACK_PATH):
            return self._authorize_url(redirect_uri[:-len(CALLBACK_PATH)], redirect_uri, scope, state)
        return super().authorize_url(redirect_uri, scope, state)


def listening_origin(environ: dict) -> str:
    """The address the WSGI server listens on (SERVER_NAME and SERVER_PORT: the socket's, not the Host header's),
    as a loopback URL when it listens on every address."""
    served = environ.get("werkzeug.proxy_fix.orig", environ)  # as the server set them, before X-Forwarded-*
    host, port = served.get("SERVER_NAME", "127.0.0.1"), served.get("SERVER_PORT", "80")
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
