"""What every command shares: finding the app it acts on (the site's under `flask wechat`, else the standalone
one), a port parameter, and failures as one line with an exit status that says which part failed."""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import click
from flask.cli import ScriptInfo

from .errors import WeChatBotError, WeChatError, WeChatUnavailable
from .storage.connection import ERRORS as REDIS_ERRORS
from .storage.connection import explain


def under_flask(ctx: click.Context) -> bool:
    """The tree runs as `flask --app SITE wechat …` (Flask's CLI put its ScriptInfo in the context)."""
    return ctx.find_object(ScriptInfo) is not None


class Port(click.ParamType):
    name = "PORT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        text = str(value)
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
            self.fail(f"{text!r} is not a port (1-65535)", param, ctx)
        return int(text)


def one_line_failures(command: Callable[..., int]) -> Callable[..., int]:
    """Our failures as one line on standard error: 2 for a usage or configuration problem, 3 for Redis, 4 for
WeChat refusing or not answering; a command's non-zero status is the process's exit status."""
    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> int:
        if command.__name__ not in _LONG_RUNNING:  # a one-shot command: its failure is its one line, not each retry
            logging.getLogger("wechat_bot.wechat_api").setLevel(logging.ERROR)
        try:
            status = command(*args, **kwargs)
        except (WeChatError, WeChatUnavailable) as error:
            click.echo(f"error: WeChat: {error}", err=True)
            raise click.exceptions.Exit(4) from None
        except WeChatBotError as error:
            click.echo(f"error: {error}", err=True)
            raise click.exceptions.Exit(2) from None
        except REDIS_ERRORS as error:
            click.echo(f"error: Redis ({where_redis()}) {explain(error)}", err=True)
            raise click.exceptions.Exit(3) from None
        if status:  # click's own main (under Flask) ignores what a command returns
            raise click.exceptions.Exit(status)
        return 0
    return run


_LONG_RUNNING = ("serve", "worker")  # they log WeChat's retries as they go


def where_redis() -> str:
    from .config import Settings
    from .storage.connection import describe

    ctx = click.get_current_context(silent=True)
    try:
        info = ctx.find_object(ScriptInfo) if ctx is not None else None
        if info is not None:  # under flask (under_flask)
            return describe(info.load_app().extensions["wechat_bot"].settings)
        return describe(Settings.load())
    except Exception:  # noqa: BLE001 — only the wording of a failure already being reported
        return "REDIS_URL"


def command_app():
    """The app a command acts on: the site's under `flask wechat`, else the standalone one; with no WeChat
    credentials, the sandbox account's (its API reached where `run.py` serves the sandbox)."""
    ctx = click.get_current_context()
    info = ctx.find_object(ScriptInfo)
    if info is not None:
        app = info.load_app()
        ctx.with_resource(app.app_context())  # as Flask's own commands run (with_appcontext)
        return app
    from . import create_app

    return create_app(sandbox_origin=True)


def command_services():
    return command_app().extensions["wechat_bot"]
