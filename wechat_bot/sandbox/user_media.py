"""What a chat-page user sends besides text: an image, a voice message, a video (each kept as the sandbox's temporary
media, so the push's MediaId is one `media/get` serves) and a link; the push fields WeChat sends for each."""
from __future__ import annotations

import base64
import binascii
import io
import re
from typing import Any

from flask import url_for
from markupsafe import Markup
from PIL import Image

from .media import LIMITS, save_media

_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+)?(?:;[\w=.-]+)*;base64,(.*)", re.S)
LARGEST = max(limit for limit, _ in LIMITS.values()) * 4 // 3 + 4096  # the largest file in base64, in its JSON
KINDS = {"image": "图片", "voice": "语音", "video": "视频"}


class NotSendable(ValueError):
    """What the page sent cannot be sent as this message (the reason in Chinese, for the page)."""


def decode(data: Any, kind: str) -> tuple[bytes, str]:
    """The bytes and content type of a data: URL the page read from a file or drew."""
    match = _DATA_URL.fullmatch(str(data or ""))
    if not match:
        raise NotSendable(f"没有{KINDS[kind]}文件")
    try:
        raw = base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError):
        raise NotSendable(f"{KINDS[kind]}文件读不出来") from None
    limit, _ = LIMITS[kind]
    if not raw or len(raw) > limit:
        raise NotSendable(f"{KINDS[kind]}不能超过 {limit >> 20} MB（微信的上限）")
    return raw, match.group(1) or "application/octet-stream"


def media_fields(kind: str, data: dict[str, Any]) -> tuple[dict[str, str], Markup]:
    """The push fields for an image, voice or video the page sent, and how the chat shows it on the user's side."""
    raw, content_type = decode(data.get("data"), kind)
    name = str(data.get("name") or kind)[:80]
    media_id = save_media(kind, raw, content_type, name)
    url = url_for("sandbox_api.media_file", media_id=media_id)
    if kind == "image":
        fields = {"PicUrl": url_for("sandbox_api.media_file", media_id=media_id, _external=True), "MediaId": media_id}
        return fields, Markup('<img class="picture" src="{}" alt="图片">').format(url)
    if kind == "voice":
        audio_format = (name.rsplit(".", 1)[-1] if "." in name else content_type.split("/")[-1]).lower()[:8]
        return ({"MediaId": media_id, "Format": audio_format},
                Markup('<span class="voice">🔊 语音</span>'
                       '<audio controls preload="none" src="{}"></audio>').format(url))
    thumb = save_media("thumb", _thumb(), "image/jpeg", "thumb.jpg")
    return ({"MediaId": media_id, "ThumbMediaId": thumb},
            Markup('<video controls preload="metadata" src="{}"></video>').format(url))


def link_fields(data: dict[str, Any]) -> tuple[dict[str, str], Markup]:
    """The push fields for a link the user shares, and its card on the user's side."""
    url = str(data.get("url") or "").strip()
    if not re.match(r"https?://", url):
        raise NotSendable("链接要以 http:// 或 https:// 开头")
    title = str(data.get("title") or "").strip()[:64] or url
    description = str(data.get("description") or "").strip()[:120]
    card = Markup('<a class="card news" href="{}"><b class="title">{}</b><span class="desc">{}</span></a>').format(
        url, title, description or url)
    return {"Title": title, "Description": description, "Url": url}, card


def _thumb() -> bytes:
    """A video's cover, as WeChat makes one for a video the user sends."""
    out = io.BytesIO()
    Image.new("L", (96, 64), 96).save(out, format="JPEG")
    return out.getvalue()
