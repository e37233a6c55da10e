"""JSON bodies read with a nesting limit: a document a thousand levels deep makes Python's parser raise
RecursionError (a 500); this refuses it as malformed first, in one pass over its brackets."""
from __future__ import annotations

import json
import re
from typing import Any

from flask import Request

MAX_DEPTH = 32  # far deeper than any body WeChat, the chat page or a token-service caller sends
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")


def loads(raw: bytes | str) -> Any:
    """json.loads, but a document nested deeper than MAX_DEPTH, or with a lone surrogate (`"\\ud800"`, text no
    UTF-8 can carry: it fails later where the text is stored or sent), raises ValueError, as a malformed one does."""
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    depth = 0
    for bracket in _BRACKETS.finditer(_STRINGS.sub("", text)):
        depth += 1 if bracket.group() in "[{" else -1
        if depth > MAX_DEPTH:
            raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
    value = json.loads(text)
    if "\\u" in text:
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # UnicodeEncodeError (a ValueError) on a lone surrogate
    return value


def request_json(request: Request) -> Any | None:
    """The request's JSON body (Content-Type application/json), or None when it is not JSON or is malformed:
    `request.get_json(silent=True)` with the nesting limit."""
    if not request.is_json:
        return None
    try:
        return loads(request.get_data())
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None
