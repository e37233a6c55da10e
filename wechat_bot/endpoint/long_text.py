"""A text longer than WeChat takes in one message, cut into pieces on character boundaries, in order."""
from __future__ import annotations

from .. import defaults

CUT_NOTICE = "\n\n（内容过长，后面的部分未能发出）"


def too_long(text: str) -> bool:
    limit = defaults.MAX_TEXT_REPLY_BYTES
    return len(text) * 4 > limit and len(text.encode("utf-8")) > limit


def pieces(text: str, limit: int = defaults.MAX_TEXT_REPLY_BYTES) -> list[str]:
    """`text` in pieces of at most `limit` UTF-8 bytes, none splitting a character."""
    found, start, size = [], 0, 0
    for index, char in enumerate(text):
        width = len(char.encode("utf-8"))
        if size + width > limit:
            found.append(text[start:index])
            start, size = index, 0
        size += width
    found.append(text[start:])
    return found


def fit(text: str, messages: int, limit: int = defaults.MAX_TEXT_REPLY_BYTES) -> list[str]:
    """`text` in at most `messages` pieces of at most `limit` bytes; when it needs more, the last piece kept is cut
    shorter and ends with CUT_NOTICE, so the user knows."""
    every = pieces(text, limit)
    if len(every) <= messages:
        return every
    if messages <= 0:
        return []
    kept = every[:messages - 1]
    last = pieces(every[messages - 1], limit - len(CUT_NOTICE.encode("utf-8")))[0]
    return kept + [last + CUT_NOTICE]
