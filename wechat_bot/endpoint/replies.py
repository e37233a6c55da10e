"""What a handler returned, turned into a passive reply that is always well-formed XML."""
from __future__ import annotations

import copy
import re
import time
from typing import Any

from wechatpy.messages import BaseMessage
from wechatpy.replies import ArticlesReply, BaseReply, EmptyReply, TextReply

from ..logs import logger

log = logger("wechat_bot.push")

ARTICLE_FIELDS = ("title", "description", "url", "image")
ARTICLES_TO_A_MESSAGE = 1  # since 2018, a news reply to a message shows one article; to an event, up to 8 (§3)
ARTICLES_TO_AN_EVENT = 8

# Characters XML 1.0 cannot carry at all, even inside CDATA.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class NotAReply(TypeError):
    """A handler returned something that is neither text, a wechatpy reply, nor None."""


def to_reply(result: Any, message: BaseMessage) -> BaseReply | None:
    """A string becomes a text reply to the sender, a list of article dicts a news reply; a reply object is
    addressed if it is not yet; '' and None pass."""
    if result is None or result == "":
        return None
    if isinstance(result, str):
        return TextReply(content=result, message=message)
    if isinstance(result, (list, tuple)):
        return news_reply(result, message)
    if isinstance(result, EmptyReply):
        return result
    if isinstance(result, BaseReply):
        if not result.source:
            result.source = message.target
        if not result.target:
            result.target = message.source
        return result
    raise NotAReply(f"a handler returned {type(result).__name__}, not str, a list of articles, a wechatpy reply "
                    "or None")


def news_reply(articles: list | tuple, message: BaseMessage) -> ArticlesReply | None:
    """A news (图文) reply from dicts with `title`, `description`, `url`, `image`; past what WeChat shows (one
    article to a message, eight to an event), the rest is dropped, as WeChat would, and logged."""
    if not articles:
        return None
    if not all(isinstance(article, dict) for article in articles):
        raise NotAReply("a handler returned a list that is not of article dicts (title, description, url, image)")
    limit = ARTICLES_TO_AN_EVENT if message.type == "event" else ARTICLES_TO_A_MESSAGE
    if len(articles) > limit:
        log.warning("a news reply of %d articles: WeChat shows %d in reply to a %s, the rest were dropped",
                    len(articles), limit, message.type)
    kept = [{name: str(article.get(name) or "") for name in ARTICLE_FIELDS} for article in articles[:limit]]
    return ArticlesReply(message=message, articles=kept)


def render(reply: BaseReply) -> str:
    """wechatpy's XML for the reply, with every string made safe inside CDATA first."""
    if isinstance(reply, EmptyReply):
        return ""
    safe = copy.copy(reply)
    safe._data = _cdata_safe(reply._data)
    return safe.render()


_TEXT_XML = ("<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[{}]]></Content>\n"
             "<FromUserName><![CDATA[{}]]></FromUserName>\n<ToUserName><![CDATA[{}]]></ToUserName>\n"
             "<CreateTime>{}</CreateTime>\n</xml>")


def render_text(content: str, message: BaseMessage) -> str:
    """render(TextReply(content=content, message=message)), the same XML, without the reply object (the hot
    path's usual answer)."""
    data = message._data
    return _TEXT_XML.format(_cdata_safe(content), _cdata_safe(data["ToUserName"]), _cdata_safe(data["FromUserName"]),
                            int(time.time()))


def _cdata_safe(value: Any) -> Any:
    if isinstance(value, str):
        return _NOT_XML.sub("", value).replace("]]>", "]]]]><![CDATA[>")
    if isinstance(value, dict):
        return {key: _cdata_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_cdata_safe(item) for item in value]
    return value
