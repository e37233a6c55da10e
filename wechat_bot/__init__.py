"""wechat_bot: a WeChat official-account server and Flask extension: chat handlers, web authorization, and the
users' tokens kept alive in Redis.

Importing the package imports nothing else: gunicorn's master loads the shipped settings and the access log from
here before its gevent workers patch the standard library, and anything it imported then (requests, urllib3,
ssl) would stay unpatched in every worker. The public names are loaded on first use.
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.13.0"

_PUBLIC = {
    "create_app": ".app", "WeChatBot": ".extension", "Router": ".handlers", "Context": ".handlers",
    "ReauthRequired": ".oauth.credentials", "UnknownUser": ".oauth.credentials",
    "UserCredentials": ".oauth.credentials", "on_authorized": ".oauth.signals", "Settings": ".config",
    "ConfigError": ".errors", "WeChatBotError": ".errors",
}

__all__ = [*_PUBLIC, "__version__"]

if TYPE_CHECKING:  # the names re-exported, for type checkers (`X as X`: an explicit re-export)
    from .app import create_app as create_app
    from .config import Settings as Settings
    from .errors import ConfigError as ConfigError
    from .errors import WeChatBotError as WeChatBotError
    from .extension import WeChatBot as WeChatBot
    from .handlers import Context as Context
    from .handlers import Router as Router
    from .oauth.credentials import ReauthRequired as ReauthRequired
    from .oauth.credentials import UnknownUser as UnknownUser
    from .oauth.credentials import UserCredentials as UserCredentials
    from .oauth.signals import on_authorized as on_authorized


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'wechat_bot' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
