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

_STALE_TOKEN = (40001, 42001)


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
        for attempt in (1, 2):
            token = None
            try:
                token = self._token.get()
                self._client.send_custom_message(token, message)
                log.info("late reply sent to %s as a customer-service message", loggable(openid))
                metrics().late_replies.labels("sent").inc()
                return True
            except WeChatError as error:
                if error.errcode in _STALE_TOKEN and attempt == 1:
                    self._token.invalidate(token)
                    continue
                log.warning("late reply to %s not sent: %s", loggable(openid), error)
                metrics().late_replies.labels("failed").inc()
                return False
            except WeChatUnavailable as error:
                log.warning("late reply to %s not sent: %s", loggable(openid), error)
                metrics().late_replies.labels("failed").inc()
                return False
        return False
