"""The chat behaviour out of the box: login links, a welcome for followers, a help text for the rest."""
from __future__ import annotations

from wechatpy.messages import BaseMessage

from .context import Context
from .router import Router

HELP_TEXT = "发送「登录」（login）获取登录链接；发送「资料」（userinfo）授权后查看你的微信资料。"
WELCOME_TEXT = "欢迎关注！" + HELP_TEXT


router = Router()


def login_link(msg: BaseMessage, ctx: Context) -> str:
    return f'<a href="{ctx.links.base(msg.source)}">点此登录</a>'


@router.keyword("登录", "login", pure=True)
def login(msg: BaseMessage, ctx: Context) -> str:
    return login_link(msg, ctx)


@router.keyword("资料", "userinfo", pure=True)
def userinfo(msg: BaseMessage, ctx: Context) -> str:
    return f'<a href="{ctx.links.userinfo(msg.source)}">点此授权，查看你的微信资料</a>'


@router.event("subscribe", pure=True)
def welcome(msg: BaseMessage, ctx: Context) -> str:
    return f"{WELCOME_TEXT}\n{login_link(msg, ctx)}"


@router.on(match=lambda msg: msg.type != "event", pure=True)  # anything a user sent; events need no answer
def help_text(msg: BaseMessage) -> str:
    return HELP_TEXT
