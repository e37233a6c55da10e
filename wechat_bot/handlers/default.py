"""The chat behaviour out of the box: a welcome for followers, a help text for anything unrecognised."""
from __future__ import annotations

from wechatpy.messages import BaseMessage

from .router import Router

HELP_TEXT = "发送「登录」（login）获取登录链接；发送「资料」（userinfo）授权后查看你的微信资料。"
WELCOME_TEXT = "欢迎关注！" + HELP_TEXT

# Messages a user typed or sent; events other than a follow need no answer.
_USER_MESSAGES = ("text", "image", "voice", "video", "shortvideo", "location", "link")

router = Router()


@router.event("subscribe")
def welcome(msg: BaseMessage) -> str:
    return WELCOME_TEXT


@router.on(match=lambda msg: msg.type in _USER_MESSAGES)
def help_text(msg: BaseMessage) -> str:
    return HELP_TEXT
