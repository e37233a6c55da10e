"""After a sign-in by scan or chat code, the user is told in chat which computer was let in, when, and where to
sign it out: a customer-service message, inside the window the scan opened (wechat-protocol.md §6). Sent beside
the request, so a slow WeChat never delays the desktop's sign-in; a refusal costs one log line."""
from __future__ import annotations

import threading
import time

from ..errors import WeChatError, WeChatUnavailable
from ..logs import loggable, logger
from ..storage.connection import ERRORS as REDIS_ERRORS
from .computer import Computer
from .scenes import china_clock

log = logger("wechat_bot.oauth")


def notice_text(computer: Computer, moment: float, sessions_url: str | None) -> str:
    said = f"你的微信刚刚在一台电脑上登录了：{computer.label()}（{china_clock(moment, '%H:%M')}）。\n"
    if sessions_url is None:
        return said + "不是你本人？请在手机上打开本站，退出那台电脑。"
    return said + f'不是你本人？<a href="{sessions_url}">点此让它退出</a>'


def tell_the_user(services, openid: str, computer: Computer, sessions_url: str | None) -> None:
    """Send the notice in the background. `sessions_url` is built on the site as the signed push named it (the
    chat's confirm link), never on the Host of the desktop's request, which the computer being named chooses."""
    message = {"touser": openid, "msgtype": "text",
               "text": {"content": notice_text(computer, time.time(), sessions_url)}}

    def send() -> None:
        try:
            services.account_token.call(lambda token: services.client.send_custom_message(token, message))
        except (WeChatError, WeChatUnavailable, *REDIS_ERRORS) as error:  # beside the request: one line, no traceback
            log.warning("sign-in notice to %s not sent: %s", loggable(openid), loggable(str(error), 160))

    threading.Thread(target=send, name="sign-in-notice", daemon=True).start()
