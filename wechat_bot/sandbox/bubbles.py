"""How WeChat draws what the account sends in a chat: a text with its links, news as a card (title, picture,
description; a tap opens the URL), image, voice, video and music bubbles, and a template message as a service
notification card with its fields. Passive replies (parsed XML) and customer-service messages (JSON) alike."""
from __future__ import annotations

import re
import time
from typing import Any

from flask import url_for
from markupsafe import Markup, escape

from .media import media_live

_LINK = re.compile(r'<a href="(https?://[^"<>]+)"[^>]*>(.*?)</a>', re.S)
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\.DATA\s*\}\}")
# a passive reply's XML names, as the customer-service JSON names them
_NAMES = {"MediaId": "media_id", "ThumbMediaId": "thumb_media_id", "Title": "title", "Description": "description",
          "MusicUrl": "musicurl", "HQMusicUrl": "hqmusicurl", "PicUrl": "picurl", "Url": "url"}
_PARTS = {"image": "Image", "voice": "Voice", "video": "Video", "music": "Music"}


def text_html(content: str) -> Markup:
    """A text as WeChat shows it: escaped, its <a href> links tappable, line breaks kept."""
    parts, position = [], 0
    for match in _LINK.finditer(content):
        parts.append(escape(content[position:match.start()]))
        parts.append(Markup('<a href="{}">{}</a>').format(match.group(1), match.group(2)))
        position = match.end()
    parts.append(escape(content[position:]))
    return Markup("").join(parts).replace("\n", Markup("<br>"))


def reply_html(reply: dict[str, Any]) -> Markup:
    """A passive reply (its XML as the pusher parsed it) as the chat shows it."""
    kind = reply.get("MsgType", "")
    if kind == "text":
        return text_html(str(reply.get("Content", "")))
    if kind == "news":
        items = reply.get("Articles") or []
        articles = [{_NAMES.get(k, k): v for k, v in item.items()} for item in items if isinstance(item, dict)]
        return message_html({"msgtype": "news", "news": {"articles": articles}})
    part = reply.get(_PARTS.get(kind, ""), {})
    body = {_NAMES.get(k, k): v for k, v in part.items()} if isinstance(part, dict) else {}
    return message_html({"msgtype": kind, kind: body})


def message_html(message: dict[str, Any]) -> Markup:
    """A customer-service message (its JSON) as the chat shows it."""
    kind = str(message.get("msgtype", ""))
    body = message.get(kind) if isinstance(message.get(kind), dict) else {}
    draw = _DRAW.get(kind)
    return draw(body) if draw else Markup("［{}］").format(_OTHER.get(kind, "暂不支持显示的消息"))


def _media_url(media_id: str) -> str | None:
    return url_for("sandbox_api.media_file", media_id=media_id) if media_live(media_id) else None


def _missing(what: str, media_id: str | None) -> Markup:
    return Markup('<span class="missing">{}无法显示：'
                  'media_id「{}」不是沙箱上传的临时素材（或已过 3 天）</span>').format(what, media_id)


def _news(body: dict) -> Markup:
    cards = []
    for article in body.get("articles") or []:
        picture = article.get("picurl") or ""
        cards.append(Markup('<a class="card news" href="{url}"><b class="title">{title}</b>{picture}'
                            '<span class="desc">{description}</span></a>').format(
            url=article.get("url") or "#", title=article.get("title") or "",
            description=article.get("description") or "",
            picture=Markup('<img src="{}" alt="">').format(picture) if picture else ""))
    return Markup("").join(cards)


def _image(body: dict) -> Markup:
    url = _media_url(str(body.get("media_id") or ""))
    if not url:
        return _missing("图片", body.get("media_id"))
    return Markup('<img class="picture" src="{}" alt="图片">').format(url)


def _voice(body: dict) -> Markup:
    url = _media_url(str(body.get("media_id") or ""))
    if not url:
        return _missing("语音", body.get("media_id"))
    return Markup('<span class="voice">🔊 语音</span><audio controls preload="none" src="{}"></audio>').format(url)


def _video(body: dict) -> Markup:
    url = _media_url(str(body.get("media_id") or ""))
    player = Markup('<video controls preload="metadata" src="{}"></video>').format(url) if url else _missing(
        "视频", body.get("media_id"))
    return Markup('<span class="card video">{}<b class="title">{}</b><span class="desc">{}</span></span>').format(
        player, body.get("title") or "视频", body.get("description") or "")


def _music(body: dict) -> Markup:
    return Markup('<a class="card music" href="{}"><span class="note">♪</span><b class="title">{}</b>'
                  '<span class="desc">{}</span></a>').format(body.get("musicurl") or body.get("hqmusicurl") or "#",
                                                             body.get("title") or "音乐", body.get("description") or "")


def _menu(body: dict) -> Markup:
    items = Markup("").join(Markup('<span class="choice">{}</span>').format(item.get("content", ""))
                            for item in body.get("list") or [] if isinstance(item, dict))
    return Markup("{}<br>{}{}").format(body.get("head_content", ""), items, body.get("tail_content", ""))


_DRAW = {"text": lambda body: text_html(str(body.get("content", ""))), "news": _news, "image": _image,
         "voice": _voice, "video": _video, "music": _music, "msgmenu": _menu}
_OTHER = {"mpnews": "图文消息（永久素材，沙箱不模拟）", "mpnewsarticle": "图文消息（已发表的文章）", "wxcard": "卡券",
          "miniprogrampage": "小程序卡片"}


def template_html(message: dict[str, Any], template: dict[str, str] | None, account: str) -> Markup:
    """A template message as WeChat shows it: a service notification card from the account, the template's title,
    its content with the values filled in, and 详情 when it links somewhere."""
    data = {name: field.get("value", "") for name, field in (message.get("data") or {}).items()
            if isinstance(field, dict)}
    content = (template or {}).get("content", "")
    if content and _PLACEHOLDER.search(content):
        lines = _PLACEHOLDER.sub(lambda m: str(data.get(m.group(1), "")), content).splitlines()
    else:
        lines = [f"{name}：{value}" for name, value in data.items()]
    rows = Markup("").join(Markup('<span class="field">{}</span>').format(line) for line in lines if line.strip())
    more = Markup('<a class="more" href="{}">详情</a>').format(message["url"]) if message.get("url") else Markup("")
    return Markup('<span class="card template"><span class="from">{account} · 服务通知</span><b class="title">{title}'
                  '</b><span class="when">{when}</span>{rows}{more}</span>').format(
        account=account, title=(template or {}).get("title") or message.get("template_id", ""),
        when=time.strftime("%m月%d日 %H:%M"), rows=rows, more=more)
