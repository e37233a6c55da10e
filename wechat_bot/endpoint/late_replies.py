"""Replies that go out as customer-service messages: a handler's answer that overran the 5-second window, and the
rest of a text too long for one passive reply; in order, within the user's quota (cs_quota.py)."""
from __future__ import annotations

import functools

from wechatpy.messages import BaseMessage
from wechatpy.replies import ArticlesReply, BaseReply, ImageReply, TextReply, VoiceReply

from ..account.token import AccountToken
from ..errors import WeChatError, WeChatUnavailable
from ..logs import loggable, logger
from ..metrics.registry import metrics
from ..wechat_api import WeChatClient
from .cs_quota import CustomerServiceQuota
from .long_text import fit, pieces

log = logger("wechat_bot.push")


def as_custom_message(openid: str, reply: BaseReply) -> dict | None:
    if isinstance(reply, TextReply):
        return text_message(openid, reply.content)
    if isinstance(reply, ImageReply):
        return {"touser": openid, "msgtype": "image", "image": {"media_id": reply.media_id}}
    if isinstance(reply, VoiceReply):
        return {"touser": openid, "msgtype": "voice", "voice": {"media_id": reply.media_id}}
    if isinstance(reply, ArticlesReply) and reply.articles:
        first = reply.articles[0]  # a customer-service news message carries one article (45008 otherwise)
        return {"touser": openid, "msgtype": "news", "news": {"articles": [{
            "title": first.get("title", ""), "description": first.get("description", ""),
            "url": first.get("url", ""), "picurl": first.get("image", "")}]}}
    return None


def text_message(openid: str, content: str) -> dict:
    return {"touser": openid, "msgtype": "text", "text": {"content": content}}


class LateReplies:
    def __init__(self, client: WeChatClient, token: AccountToken, quota: CustomerServiceQuota) -> None:
        self._client, self._token, self.quota = client, token, quota

    def send(self, msg: BaseMessage, reply: BaseReply) -> bool:
        """A late answer to `msg`: a long text in as many messages as the quota allows, the last saying it was cut."""
        openid = msg.source
        if isinstance(reply, TextReply):
            texts = fit(reply.content, self.quota.take(msg, len(pieces(reply.content))))
            return self.send_texts(msg, texts)
        message = as_custom_message(openid, reply)
        if message is None:
            log.warning("late %s reply to %s dropped: only text, image, voice and news go out as customer-service "
                        "messages", type(reply).__name__, loggable(openid))
            return False
        if not self.quota.take(msg, 1):
            return self._over_quota(openid)
        return self._send(openid, [message])

    def send_texts(self, msg: BaseMessage, texts: list[str]) -> bool:
        """Texts whose quota is taken already, in order."""
        if not texts:
            return self._over_quota(msg.source)
        return self._send(msg.source, [text_message(msg.source, text) for text in texts])

    def _send(self, openid: str, messages: list[dict]) -> bool:
        for message in messages:
            try:
                self._token.call(functools.partial(self._client.send_custom_message, message=message))
            except (WeChatError, WeChatUnavailable) as error:
                log.warning("late reply to %s not sent: %s", loggable(openid), error)
                metrics().late_replies.labels("failed").inc()
                return False
            metrics().late_replies.labels("sent").inc()
        log.info("late reply sent to %s as %d customer-service message(s)", loggable(openid), len(messages))
        return True

    @staticmethod
    def _over_quota(openid: str) -> bool:
        log.warning("late reply to %s not sent: the customer-service quota after the user's last interaction is used "
                    "up (WeChat allows 5 messages in the 48 hours after a message, 3 in the minute after a click)",
                    loggable(openid))
        metrics().late_replies.labels("failed").inc()
        return False
