"""The chat side of scan to sign in: a scan of one of our codes (SCAN from a follower, subscribe + qrscene_ from a
new one), or a short code sent in chat, answered with a link to confirm on the phone.

The confirm step is the defence against QR-login phishing: the scan proves who scanned, not that they meant to
sign in to the browser showing the code, so the phone shows which site and when the code was shown first.
These handlers come before the site's own, and run once per push like every handler that is not pure.
"""
from __future__ import annotations

import re
from urllib.parse import urlencode, urlsplit

from wechatpy.messages import BaseMessage

from .. import defaults
from ..handlers.context import Context
from ..handlers.router import Router
from ..logs import logger
from ..oauth.links import CALLBACK_PATH
from ..web.rate_limit import RateLimit
from .codes import capability
from .computer import Computer
from .scenes import CHAT_CODE_LENGTH, SCENE_PREFIX, QrScenes, Scene, expired, shown_clock

router = Router()
log = logger("wechat_bot.oauth")

EXPIRED_TEXT = "这个登录二维码已过期，请在电脑上刷新后重新扫码。"
TAKEN_TEXT = "这个登录二维码已被其他微信扫描，请在电脑上刷新后重新扫码。"
USED_TEXT = "这个登录二维码已经用过了。"
UNKNOWN_CODE_TEXT = "登录码不正确或已过期，请核对电脑上显示的登录码。"
PAUSED_TEXT = "登录码暂时无法使用，请一分钟后再发送。"
_CHAT_CODE = re.compile(rf"\s*(\d{{{CHAT_CODE_LENGTH}}})\s*")


def _ours(msg: BaseMessage) -> bool:
    return msg.event in ("scan", "subscribe_scan") and str(msg._data.get("EventKey", "")).startswith(SCENE_PREFIX)


@router.on("event", _ours)
def qr_scanned(msg: BaseMessage, ctx: Context) -> str:
    welcome = "欢迎关注！" if msg.event == "subscribe_scan" else ""
    return welcome + answer_scan(ctx, str(msg._data["EventKey"]), msg.source)


@router.on("text", lambda msg: _CHAT_CODE.fullmatch(msg.content or "") is not None)
def chat_code_sent(msg: BaseMessage, ctx: Context) -> str | None:
    """Only for an account whose desktops show chat codes: elsewhere six digits pass on to the site's handlers."""
    appid = ctx.settings.account.appid
    if capability(ctx.redis, appid) != "chat":
        return None
    if not RateLimit(ctx.redis, appid, "qr-chat", limit=defaults.QR_CHAT_CODE_LIMIT).allow_key(msg.source):
        return "尝试次数过多，请一分钟后再试。"
    misses = RateLimit(ctx.redis, appid, "qr-chat-misses", limit=defaults.QR_CHAT_CODE_MISSES)
    tried = misses.count("account")  # counted as a miss before it is looked up, in the same step that judges it
    if tried > misses.limit:
        if tried == misses.limit + 1:  # the first try past the budget: said once a window
            log.warning("chat codes paused until the minute ends: %d wrong codes this minute from all users together "
                        "(someone may be guessing the codes desktops show)", defaults.QR_CHAT_CODE_MISSES)
        return PAUSED_TEXT
    matched = _CHAT_CODE.fullmatch(msg.content or "")
    if matched is None:  # not reached: the route's own test matched it
        return None
    digits = matched.group(1)  # any script's digits: full-width ones from a Chinese IME
    scene = QrScenes(ctx.redis, appid).scene_of_chat_code(f"{int(digits):0{CHAT_CODE_LENGTH}d}")
    if scene is None:
        return UNKNOWN_CODE_TEXT
    misses.refund("account")  # a right code was no miss
    return answer_scan(ctx, scene, msg.source)


def answer_scan(ctx: Context, scene: str, openid: str) -> str:
    base = ctx.links.callback_url[:-len(CALLBACK_PATH)]
    record = QrScenes(ctx.redis, ctx.settings.account.appid).scan(scene, openid, base)
    if record is None or expired(record):
        return EXPIRED_TEXT
    if record.openid != openid:
        return TAKEN_TEXT
    if record.state != "scanned":
        return USED_TEXT
    return confirm_text(record, base)


def site_name(origin: str) -> str:
    """The site a sign-in is for, as the phone names it: the host of its public origin (no scheme, no port)."""
    return urlsplit(origin).hostname or origin


def confirm_text(record: Scene, base: str) -> str:
    site = site_name(base)
    shown = shown_clock(record)
    link = f"{base}/oauth/qr/confirm?" + urlencode({"scene": record.scene, "t": record.confirm})
    computer = Computer.from_dict(record.computer).label()
    return (f"你正在电脑上登录「{site}」（二维码于 {shown} 显示）。\n将要登录的电脑：{computer}\n"
            f'<a href="{link}">确认登录</a>\n如果面前没有这台电脑，或不是你本人在操作，请不要确认。')
