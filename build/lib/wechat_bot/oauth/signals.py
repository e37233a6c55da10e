"""Signals an application connects to, to tie WeChat users to its own accounts.

    from wechat_bot.oauth.signals import on_authorized

    @on_authorized.connect
    def bind(app, openid, scope, record, next_path):
        ...  # record: the TokenRecord just stored (nickname and headimgurl for snsapi_userinfo)
"""
from blinker import Namespace

_signals = Namespace()

on_authorized = _signals.signal("on_authorized")
