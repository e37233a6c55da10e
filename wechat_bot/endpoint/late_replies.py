"""A handler that overran the 5-second window still reaches the user: its answer goes out as a
customer-service message once it is ready."""
from __future__ import annotations

from wechatpy.replies import BaseReply, ImageReply, TextReply

from ..errors import WeChatError, WeChatUnavailable
from ..logs import loggable, logger
from ..metrics.registry import metrics
from ..oauth.account_token import AccountToken
from ..oauth.client import WeChatClient

log = logger("wechat_bot.push")


def as_custom_message(openid: str, reply: BaseReply) -> dict | None:
    if isinstance(reply, TextReply):
        return {"touser": openid, "msgtype": "text", "text": {"content": reply.content}}
    if isinstance(reply, ImageReply):
        return {"touser": openid, "msgtype": "image", "image": {"media_id": reply.media_id}}
    return None


class LateReplies:
    def __init__(self, client: WeChatClient, token: AccountToken) -> None:
        self._client, self._token = client, token

    def send(self, openid: str, reply: BaseReply) -> bool:
        message = as_custom_message(openid, reply)
        if message is None:
            log.warning("late %s reply to %s dropped: only text and image go out as customer-service messages",
                        type(reply).__name__, loggable(openid))
            return False
        try:
            self._token.call(lambda token: self._client.send_custom_message(token, message))
        except (WeChatError, WeChatUnavailable) as error:
            log.warning("late reply to %s not sent: %s", loggable(openid), error)
            metrics().late_replies.labels("failed").inc()
            return False
        log.info("late reply sent to %s as a customer-service message", loggable(openid))
        metrics().late_replies.labels("sent").inc()
        return True
