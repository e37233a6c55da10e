"""WeChatBot: the Flask extension, and the one place wechat_bot's parts are wired into an application.

    wechat = WeChatBot(app, router=router)      # or WeChatBot(router=router), then wechat.init_app(app)

Everything per application lives in `app.extensions["wechat_bot"]` (a `Services`); the object itself keeps
no app, so one instance serves any number of apps, each with its own settings.
"""
from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, has_app_context
from flask.sessions import SecureCookieSessionInterface
from redis import Redis

from . import defaults, endpoint, health, jssdk, logs, oauth, qr_login, token_service, verify_file
from .account.client import AccountClient
from .config import Settings
from .endpoint.receive import PushReceiver
from .errors import ConfigError, unavailable_in_site_page
from .handlers import Router
from .handlers.context import handling
from .jssdk import page as jssdk_page
from .load_failure import one_line
from .oauth.credentials import UserCredentials, user_credentials
from .oauth.site_login import SiteUser, current_site_user, require_login
from .qr_login import views as qr_page
from .services import Services
from .sessions import CookieSessions
from .storage.connection import ERRORS as REDIS_ERRORS

if TYPE_CHECKING:
    import requests

    from .sandbox.mode import LocalWeChatClient

EXTENSION = "wechat_bot"


class WeChatBot:
    """The Flask extension: `WeChatBot(app, router=router)`, or `WeChatBot(router=router)` then `init_app(app)`."""
    def __init__(self, app: Flask | None = None, *, router: Router | None = None) -> None:
        self.router = router
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask, *, redis: Redis | None = None, overrides: Mapping[str, str] | None = None,
                 deadline: float = defaults.REPLY_DEADLINE, sandbox_origin: str | bool | None = None) -> None:
        """Wire wechat_bot into `app`: settings from `overrides`, app.config, the environment, then ./.env.

        With no WeChat credentials the app works with the sandbox account when run by hand (`sandbox_origin`,
        `wechat-bot serve`, `flask run`, a flask command); anywhere else that stops start-up with one line.
        """
        try:
            self._wire(app, redis, overrides, deadline, sandbox_origin)
        except ConfigError as error:
            raise one_line(error) from None

    def _wire(self, app: Flask, redis: Redis | None, overrides: Mapping[str, str] | None, deadline: float,
              sandbox_origin: str | bool | None) -> None:
        from .sandbox import mode

        settings = Settings.for_app(app.config, overrides)
        sandboxed, origin, testing = False, None, False
        if settings.missing_credentials:
            sandboxed, origin = mode.wanted(sandbox_origin)
            if not sandboxed and app.testing:  # the site's own tests: the sandbox account, in process
                from .sandbox import in_process

                sandboxed, origin, testing = True, in_process.ORIGIN, True
                settings = dataclasses.replace(settings, var_dir=in_process.scratch_dir(app))
            if not sandboxed:
                raise _missing_credentials(settings)
            var_dir = settings.var_dir
            settings = mode.settings_for(settings, {**_from_config(app.config), **(overrides or {})})
            if testing:
                settings = dataclasses.replace(settings, var_dir=var_dir)
        logs.configure(settings.log_format)
        logs.redact_werkzeug()  # under `flask run`, werkzeug logs the sandbox's calls and the callback's code
        _sessions(app, settings)
        client = api_session = None
        if sandboxed:
            if testing:
                api_session = functools.partial(in_process.in_process_session, app)
            client = functools.partial(_local_client, settings, origin, api_session)
        if redis is None and not settings.redis_url and mode.flask_running():  # Ctrl-C stops what it started,
            _stop_embedded_redis_at_exit(settings.var_dir)  # even while it is still starting
        if settings.metrics and mode.flask_running():
            from .metrics.multiprocess import join_the_workers

            join_the_workers()
        services = Services.build(settings, redis=redis, router=self.router, deadline=deadline, client=client,
                                  api_session=api_session)
        app.extensions[EXTENSION] = services
        if mode.flask_running():
            services.warn_if_redis_was_down()
        # Wrapping wsgi_app is Flask's documented way to add middleware; mypy takes it for assigning to a method.
        app.wsgi_app = PushReceiver(app.wsgi_app, services, settings.url_prefix + "/wechat", app)  # type: ignore[method-assign]
        if settings.trusted_proxies:
            from werkzeug.middleware.proxy_fix import ProxyFix

            n = settings.trusted_proxies
            app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)  # type: ignore[method-assign]
        prefix = settings.url_prefix or None
        for blueprint in (endpoint.bp, oauth.bp, health.bp, jssdk.bp, qr_login.bp):
            app.register_blueprint(blueprint, url_prefix=prefix)
        if settings.api_keys:
            app.register_blueprint(token_service.bp, url_prefix=prefix)
        if settings.metrics:
            from .metrics import views as metrics_views

            app.register_blueprint(metrics_views.bp, url_prefix=prefix)
        verify_file.init_app(app, settings.verify_file)
        if sandboxed:
            from . import sandbox

            sandbox.serve(app, services, prefix)
            if origin:
                mode.remember_origin(services.redis, settings.account.appid, origin + settings.url_prefix)
            if mode.under_flask_run(sandbox_origin):
                print(f"wechat_bot sandbox: open {origin}{settings.url_prefix}/sandbox/ (no WeChat credentials in "
                      "app.config, the environment or .env, so a local WeChat serves beside your site; no renewal "
                      f"thread runs under flask run: tokens renew when used, or run `{health.worker_command(app)}`; "
                      "its state is under ./var/, and the Redis there stops when flask run stops)", flush=True)
        from .cli import flask_group

        if "wechat" not in app.cli.commands:
            app.cli.add_command(flask_group, "wechat")

    # -- for the site's own pages and code -----------------------------------------------------------------
    @property
    def services(self) -> Services:
        """The current app's parts (inside an app or request context, or a handler answering a push)."""
        if not has_app_context():
            ctx = handling.get()
            if ctx is not None and ctx.services is not None:
                return ctx.services
        return current_app.extensions[EXTENSION]

    @property
    def client(self) -> AccountClient:
        """wechatpy's WeChatClient, every API of it, on the account token every process shares; one per process."""
        return self.services.account_client()

    @property
    def current_user(self) -> SiteUser | None:
        """The WeChat user signed in to this browser (openid, scope, nickname, headimgurl), or None. With Redis
        down, the request is answered with the friendly 503 page."""
        try:
            return current_site_user(self.services)
        except REDIS_ERRORS as error:
            unavailable_in_site_page(error)

    def login_required(self, view: Callable | None = None, *, scope: str = "snsapi_base") -> Callable:
        """`@wechat.login_required` or `@wechat.login_required(scope="snsapi_userinfo")` on a site's view."""
        if view is None:
            return lambda func: self.login_required(func, scope=scope)

        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                refusal = require_login(self.services, scope)
            except REDIS_ERRORS as error:
                unavailable_in_site_page(error)
            return refusal if refusal is not None else view(*args, **kwargs)
        return guarded

    def jssdk_config(self, url: str | None = None, apis: str | Iterable[str] = (), open_tags: str | Iterable[str] = (),
                     debug: bool = False) -> dict[str, Any]:
        """wx.config's dict (appId, timestamp, nonceStr, signature, jsApiList, openTagList) for `url`, by default the
        current page on the public origin; raises BadSigningRequest for a page on another origin."""
        return jssdk_page.jssdk_config(self.services, url, apis, open_tags, debug)

    def qr_login(self, next_path: str | None = None) -> dict[str, Any]:
        """For a site's own template: this browser's sign-in code (`svg` to draw, or `chat_code` to show), the
        `status_url` to poll, and `page_url`, the ready-made page (GET {prefix}/oauth/qr); `error` (else None) says
        why no code could be shown, and the rest is None then."""
        return qr_page.qr_login(self.services, next_path)

    @property
    def jssdk_script_url(self) -> str:
        """WeChat's jweixin for a page's <script src>; in sandbox mode the sandbox's stand-in."""
        return jssdk_page.script_url(self.services)

    def user(self, openid: str) -> UserCredentials:
        """The user's credentials; raises UnknownUser when nothing is stored for `openid`."""
        return user_credentials(self.services, openid)


def _stop_embedded_redis_at_exit(var_dir: Path) -> None:
    """`flask run` stops the embedded Redis under ./var/ when it stops (its data stays on disk); any process still
    using it (a `flask wechat worker` beside it) starts it again when it next needs it."""
    import atexit

    from .storage import embedded_redis

    atexit.register(embedded_redis.stop, var_dir)


def _missing_credentials(settings: Settings) -> ConfigError:
    """The one line, with the way out when it stops a test suite."""
    error = settings.missing_credentials_error()
    if "pytest" in sys.modules:
        return ConfigError(f'{error}; in tests, set app.config["TESTING"] = True before WeChatBot(app): the sandbox '
                           "account serves them")
    return error


def _from_config(config: Mapping[str, Any]) -> dict[str, str]:
    from .config import NAMES

    return {name: str(config[name]) for name in NAMES if config.get(name) not in (None, "")}


def _local_client(settings: Settings, origin: str | None, session: Callable[[], requests.Session] | None,
                  redis: Redis) -> LocalWeChatClient:
    from .sandbox.mode import LocalWeChatClient

    account = settings.account
    return LocalWeChatClient(account.appid, account.secret, prefix=settings.url_prefix, redis=redis, origin=origin,
                             session=session() if session else None)


def _sessions(app: Flask, settings: Settings) -> None:
    """The signed session cookie: the site's own secret and flags win; ours fill in what it left unset."""
    if not app.config.get("SECRET_KEY") and settings.secret_key:
        app.config["SECRET_KEY"] = settings.secret_key  # else the one kept in Redis, read when a cookie is first used
    if type(app.session_interface) is SecureCookieSessionInterface:
        app.session_interface = CookieSessions()
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    if settings.public_base_url and settings.public_base_url.startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True


__all__ = ["WeChatBot"]
