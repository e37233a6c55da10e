"""Signals an application connects to, to tie WeChat users to its own accounts.

    from wechat_bot.oauth.signals import on_authorized

    @on_authorized.connect
    def bind(app, openid, scope, record, next_path):
        ...  # record: the TokenRecord just stored (nickname and headimgurl for snsapi_userinfo)
"""
from __future__ import annotations

from typing import TYPE_CHECKING, cast

from blinker import Namespace
from flask import Flask, current_app
from werkzeug.local import LocalProxy

from ..logs import loggable, logger

if TYPE_CHECKING:
    from .tokens import TokenRecord

_signals = Namespace()
log = logger("wechat_bot.oauth")

#: Sent once a user is authorized (web authorization or scan to sign in), with the app as sender and the
#: keywords openid, scope, record (the TokenRecord just stored) and next_path; a receiver that fails is logged.
on_authorized = _signals.signal("on_authorized")


def announce(openid: str, scope: str, record: TokenRecord | None, next_path: str | None) -> None:
    """Send on_authorized for the current app; a receiver that fails is one log line, the user signed in regardless."""
    try:
        app = cast("LocalProxy[Flask]", current_app)._get_current_object()  # the app itself, not the proxy
        on_authorized.send(app, openid=openid, scope=scope, record=record,
                           next_path=next_path)
    except Exception:
        log.exception("an on_authorized receiver failed for %s; the user is signed in regardless", loggable(openid))
