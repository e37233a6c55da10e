"""The sandbox's check of a custom menu, with the errcodes WeChat gives for each kind of mistake."""
from __future__ import annotations

from typing import Any

_NEEDS_KEY = ("click", "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album", "pic_weixin",
              "location_select")
_NEEDS_URL = ("view", "miniprogram")
_NEEDS_MEDIA = ("media_id", "view_limited")
_NEEDS_ARTICLE = ("article_id", "article_view_limited")
TYPES = _NEEDS_KEY + _NEEDS_URL + _NEEDS_MEDIA + _NEEDS_ARTICLE

# errcodes for a top-level button and for a sub-button: type, name size, key size, url size, url scheme
_TOP = {"type": 40017, "name": 40018, "key": 40019, "url": 40020, "domain": 40055}
_SUB = {"type": 40024, "name": 40025, "key": 40026, "url": 40027, "domain": 40054}
MISSING_MEDIA = 40007  # a media_id / view_limited button without its media_id, article_* without article_id
MISSING_MINIPROGRAM = 40097  # a miniprogram button without its appid or pagepath


def menu_error(menu: Any) -> int | None:
    """WeChat's errcode for this menu/create body, or None when it is a valid menu."""
    buttons = menu.get("button") if isinstance(menu, dict) else None
    if not isinstance(buttons, list) or not all(isinstance(button, dict) for button in buttons):
        return 47001
    if not 1 <= len(buttons) <= 3:
        return 40016
    for button in buttons:
        subs = button.get("sub_button")
        if subs is None or subs == []:
            found = _item_error(button, _TOP, name_bytes=16)
        elif not isinstance(subs, list) or not all(isinstance(sub, dict) for sub in subs):
            return 47001
        elif len(subs) > 5:
            return 40023
        else:
            found = _name_error(button, _TOP, 16) or next(
                (code for code in (_item_error(sub, _SUB, name_bytes=60) for sub in subs) if code), None)
        if found:
            return found
    return None


def _name_error(item: dict, codes: dict, limit: int) -> int | None:
    name = item.get("name")
    return codes["name"] if not isinstance(name, str) or not 0 < len(name.encode()) <= limit else None


def _item_error(item: dict, codes: dict, name_bytes: int) -> int | None:
    kind = item.get("type")
    if kind not in TYPES:
        return codes["type"]
    if _name_error(item, codes, name_bytes):
        return codes["name"]
    if kind in _NEEDS_KEY and not _sized(item.get("key"), 128):
        return codes["key"]
    if kind in _NEEDS_URL and not _sized(item.get("url"), 1024):
        return codes["url"]
    if kind in _NEEDS_URL and not item["url"].lower().startswith(("http://", "https://")):
        return codes["domain"]
    if kind in _NEEDS_MEDIA and not _sized(item.get("media_id"), 128):
        return MISSING_MEDIA
    if kind in _NEEDS_ARTICLE and not _sized(item.get("article_id"), 128):
        return MISSING_MEDIA
    if kind == "miniprogram" and not (_sized(item.get("appid"), 32) and _sized(item.get("pagepath"), 1024)):
        return MISSING_MINIPROGRAM
    return None


def _sized(value: Any, limit: int) -> bool:
    return isinstance(value, str) and 0 < len(value.encode()) <= limit
