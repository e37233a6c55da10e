"""Which handler answers which push: decorators register plain functions; the first answer wins."""
from __future__ import annotations

import inspect
import logging
import re
from dataclasses import dataclass
from typing import Any, Callable

from wechatpy.messages import BaseMessage

log = logging.getLogger("wechat_bot.handlers")

Matcher = Callable[[BaseMessage], bool]
Handler = Callable[..., Any]

FALLBACK_TEXT = "抱歉，服务暂时出了点问题，请稍后再试。"


@dataclass(frozen=True)
class Route:
    name: str
    kind: str | None
    matches: Matcher
    call: Callable[[BaseMessage, Any], Any]


@dataclass(frozen=True)
class Outcome:
    """The route that answered (None when none did), what it returned, and whether it raised."""

    route: Route | None
    result: Any = None
    failed: bool = False

    @property
    def handler(self) -> str:
        return self.route.name if self.route else "-"


class Router:
    """Routes in registration order. A handler takes (msg) or (msg, ctx) and returns str, a reply or None."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def on(self, kind: str | None = None, match: Matcher | None = None) -> Callable[[Handler], Handler]:
        """Register for a message type ('text', 'image', 'event'…; None for any) and an optional test."""
        def register(func: Handler) -> Handler:
            self.routes.append(Route(func.__name__, kind, match or (lambda msg: True), _two_args(func)))
            return func
        return register

    def text(self) -> Callable[[Handler], Handler]:
        return self.on("text")

    def keyword(self, *words: str) -> Callable[[Handler], Handler]:
        """Texts equal to one of the words once trimmed, case-insensitively."""
        wanted = {word.strip().casefold() for word in words}
        return self.on("text", lambda msg: (msg.content or "").strip().casefold() in wanted)

    def regex(self, pattern: str | re.Pattern, flags: int = 0) -> Callable[[Handler], Handler]:
        """Texts the pattern finds a match in (re.search)."""
        compiled = re.compile(pattern, flags) if isinstance(pattern, str) else pattern
        return self.on("text", lambda msg: compiled.search(msg.content or "") is not None)

    def event(self, name: str, key: str | None = None) -> Callable[[Handler], Handler]:
        """Events by name (case-insensitive; 'subscribe' includes following by a QR code), and EventKey."""
        names = {name.lower()} | ({"subscribe_scan"} if name.lower() == "subscribe" else set())
        return self.on("event", lambda msg: msg.event in names and (key is None or _event_key(msg) == key))

    def click(self, key: str) -> Callable[[Handler], Handler]:
        """Menu CLICK events whose button key is `key`."""
        return self.event("click", key)

    def include(self, other: "Router") -> None:
        """Append another router's routes after this one's (they answer only what these pass on)."""
        self.routes.extend(other.routes)

    def dispatch(self, msg: BaseMessage, ctx: Any) -> Outcome:
        """Call matching handlers in order until one answers; a handler that raises ends the search."""
        for route in self.routes:
            if route.kind is not None and route.kind != msg.type:
                continue
            try:
                if not route.matches(msg):
                    continue
                result = route.call(msg, ctx)
            except Exception:
                log.exception("handler %s failed on push %s from %s", route.name, msg.id or msg.time, msg.source)
                return Outcome(route, FALLBACK_TEXT, failed=True)
            if result is not None:
                return Outcome(route, result)
        return Outcome(None)


def _event_key(msg: BaseMessage) -> str:
    return msg._data.get("EventKey") or ""


def _two_args(func: Handler) -> Callable[[BaseMessage, Any], Any]:
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return func
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    if len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in positional):
        return func
    return lambda msg, ctx: func(msg)
