"""The pages a phone sees after the authorize step: one table of messages, one template."""
from __future__ import annotations

from flask import render_template

MESSAGES = {
    "state": ("wait", "链接已失效", "这个链接已过期或已经用过了。请回到公众号聊天，重新发送「登录」获取新链接。"),
    "denied": ("info", "你已拒绝授权", "没有授权也没关系。需要时，回到公众号聊天发送「登录」或「资料」即可。"),
    "code": ("retry", "授权没有完成", "授权码已失效。请回到公众号聊天，重新点击链接。"),
    "wechat": ("error", "微信暂时无法访问", "我们暂时连不上微信，请稍后刷新本页重试。"),
    "snapshot": ("info", "请使用完整服务", "当前是快照页。请点击页面下方的「使用完整服务」后再授权。"),
    "busy": ("wait", "正在处理", "你的授权正在处理中，请稍后刷新本页。"),
    "expired": ("wait", "页面已过期", "请回到公众号聊天，重新获取链接。"),
    "unavailable": ("error", "服务暂时不可用", "服务正在恢复中，请稍后刷新本页重试。"),
    "error": ("error", "出了点问题", "服务暂时出了点问题，请稍后再试。"),
    "other_browser": ("lock", "请在原浏览器中完成登录",
                      "这个登录链接是在另一个浏览器里发起的，为了你的账号安全，这里不会登录。请回到原页面重新登录。"),
    "too_many": ("wait", "请求过于频繁", "请稍等一分钟后再试。"),
    "open_in_wechat": ("chat", "请在微信中打开",
                       "这个页面需要微信登录。请在微信里打开这个链接，或在公众号聊天中发送「登录」。"),
    "not_found": ("info", "页面不存在", "请回到公众号聊天，重新获取链接。"),
    "qr_expired": ("wait", "二维码已过期", "请在电脑上刷新二维码，再用微信扫一扫。"),
    "qr_used": ("info", "二维码已经用过了", "这次登录已经确认或取消。如需登录，请在电脑上刷新二维码。"),
    "qr_not_scanner": ("info", "请用扫码的微信确认",
                       "只有扫描这个二维码的微信才能确认登录。如需登录，请在电脑上刷新二维码，再用你的微信扫一扫。"),
    "qr_confirmed": ("ok", "已确认登录", "电脑上的网页马上就会登录，你可以关闭本页。"),
    "qr_cancelled": ("info", "已取消登录", "电脑上不会登录。如果不是你本人在操作，请不要扫描陌生的二维码。"),
}


def message_page(kind: str, status: int) -> tuple[str, int]:
    icon, title, text = MESSAGES[kind]
    return render_template("oauth/message.html", icon=icon, title=title, text=text), status


def render_icon(name: str):
    """An inline SVG icon: no emoji font or outside asset needed on any phone."""
    from markupsafe import Markup

    color, shape = ICONS[name]
    return Markup(f'<svg class="icon" viewBox="0 0 48 48" width="56" height="56" aria-hidden="true">'
                  f'<circle cx="24" cy="24" r="22" fill="{color}"/>{shape}</svg>')


_STROKE = 'fill="none" stroke="#fff" stroke-width="4" stroke-linecap="round" stroke-linejoin="round"'
ICONS = {
    "ok": ("#07c160", f'<path d="M14 25l7 7 13-14" {_STROKE}/>'),
    "wait": ("#fa9d3b", f'<path d="M24 13v11l7 5" {_STROKE}/>'),
    "retry": ("#10aeff", f'<path d="M33 19a10 10 0 1 0 1 9M33 12v7h-7" {_STROKE}/>'),
    "info": ("#10aeff", f'<path d="M24 22v12M24 15v1" {_STROKE}/>'),
    "error": ("#fa5151", f'<path d="M24 13v13M24 33v1" {_STROKE}/>'),
    "lock": ("#fa9d3b", f'<path d="M16 23h16v12H16zM19 23v-4a5 5 0 0 1 10 0v4" {_STROKE}/>'),
    "chat": ("#07c160", f'<path d="M14 16h20v13H22l-6 5v-5h-2z" {_STROKE}/>'),
}
