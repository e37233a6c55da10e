"""Which handler answers which push: decorators register plain functions; the first answer wins."""
from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wechatpy.messages import BaseMessage

from ..logs import loggable, logger
from .context import handling

log = logger("wechat_bot.handlers")

Matcher = Callable[[BaseMessage], bool]
Handler = Callable[..., Any]

FALLBACK_TEXT = "抱歉，服务暂时出了点问题，请稍后再试。"


@dataclass(frozen=True)
class Route:
    name: str
    kind: str | None
    matches: Matcher
    call: Callable[[BaseMessage, Any], Any]
    pure: bool = False


@dataclass
class Outcome:
    """The route that answered (None when none did), what it returned, and whether it raised."""

    route: Route | None
    result: Any = None
    failed: bool = False
    impure_at: int | None = None  # dispatch(pure_only=True) stopped at this route: it is not pure

    @property
    def stopped(self) -> bool:
        return self.impure_at is not None

    @property
    def handler(self) -> str:
        return self.route.name if self.route else "-"


class Router:
    """Routes in registration order. A handler takes (msg) or (msg, ctx) and returns str, a reply or None.

    `pure=True` declares a handler that does no I/O and has no effect beyond its answer and `ctx.writes`:
    it runs in the request thread, and its push costs one Redis round trip. A retry of the push may run it
    again, but only the first answer and its writes are kept. Other handlers run in a thread pool under the
    reply window, after a claim that makes sure they run once per push.
    """

    def __init__(self) -> None:
        self._own: list[Route] = []
        self._included: list[Router] = []

    @property
    def routes(self) -> list[Route]:
        """This router's routes, then each included router's as they are now (handlers may be registered on
        them after the app is built, as with Flask's own decorators)."""
        if not self._included:
            return self._own
        return self._own + [route for other in self._included for route in other.routes]

    def on(self, kind: str | None = None, match: Matcher | None = None, *,
           pure: bool = False) -> Callable[[Handler], Handler]:
        """Register for a message type ('text', 'image', 'event'…; None for any) and an optional test."""
        def register(func: Handler) -> Handler:
            self._own.append(Route(func.__name__, kind, match or (lambda msg: True), _two_args(func), pure))
            return func
        return register

    def text(self, func: Handler | None = None, *, pure: bool = False) -> Any:
        """Every text the handlers registered before this one left; `@router.text` or `@router.text(pure=True)`."""
        return self._shortcut(func, "text", None, pure)

    def image(self, func: Handler | None = None, *, pure: bool = False) -> Any:
        """Every image; `@router.image` or `@router.image(pure=True)`."""
        return self._shortcut(func, "image", None, pure)

    def voice(self, func: Handler | None = None, *, pure: bool = False) -> Any:
        """Every voice message; `@router.voice` or `@router.voice(pure=True)`."""
        return self._shortcut(func, "voice", None, pure)

    def video(self, func: Handler | None = None, *, pure: bool = False) -> Any:
        """Videos, short videos (小视频) included."""
        return self._shortcut(func, None, lambda msg: msg.type in ("video", "shortvideo"), pure)

    def location(self, func: Handler | None = None, *, pure: bool = False) -> Any:
        """A location the user sent in chat (msg.location, msg.label)."""
        return self._shortcut(func, "location", None, pure)

    def link(self, func: Handler | None = None, *, pure: bool = False) -> Any:
        """Every link message; `@router.link` or `@router.link(pure=True)`."""
        return self._shortcut(func, "link", None, pure)

    def subscribe(self, func: Handler | None = None, *, pure: bool = False) -> Any:
        """Follows, by a QR code or a product scan included."""
        return self._shortcut(func, "event", _events("subscribe", "subscribe_scan", "subscribe_scan_product"), pure)

    def unsubscribe(self, func: Handler | None = None, *, pure: bool = False) -> Any:
        """The unsubscribe event; `@router.unsubscribe` or `@router.unsubscribe(pure=True)`."""
        return self._shortcut(func, "event", _events("unsubscribe"), pure)

    def view(self, func: Handler | None = None, *, pure: bool = False) -> Any:
        """Menu VIEW buttons opened (msg.url)."""
        return self._shortcut(func, "event", _events("view"), pure)

    def scan(self, func: Handler | None = None, *, pure: bool = False) -> Any:
        """Scans of the account's parametric QR codes, by a follower (SCAN) or a new one (subscribe with a scene)."""
        return self._shortcut(func, "event", _events("scan", "subscribe_scan"), pure)

    def _shortcut(self, func: Handler | None, kind: str | None, match: Matcher | None, pure: bool) -> Any:
        register = self.on(kind, match, pure=pure)
        return register if func is None else register(func)

    def keyword(self, *words: str, pure: bool = False) -> Callable[[Handler], Handler]:
        """Texts equal to one of the words once trimmed, case-insensitively."""
        wanted = {word.strip().casefold() for word in words}
        return self.on("text", lambda msg: (msg.content or "").strip().casefold() in wanted, pure=pure)

    def regex(self, pattern: str | re.Pattern, flags: int = 0, *, pure: bool = False) -> Callable[[Handler], Handler]:
        """Texts the pattern finds a match in (re.search)."""
        compiled = re.compile(pattern, flags) if isinstance(pattern, str) else pattern
        return self.on("text", lambda msg: compiled.search(msg.content or "") is not None, pure=pure)

    def event(self, name: str, key: str | None = None, *, pure: bool = False) -> Callable[[Handler], Handler]:
        """Events by name (case-insensitive; 'subscribe' includes following by a QR code or after scanning a
        product), and EventKey."""
        follows = {"subscribe_scan", "subscribe_scan_product"}
        names = {name.lower()} | (follows if name.lower() == "subscribe" else set())
        return self.on("event", lambda msg: msg.event in names and (key is None or _event_key(msg) == key),
                       pure=pure)

    def click(self, key: str | Handler | None = None, *, pure: bool = False) -> Any:
        """Menu CLICK events: `@router.click("KEY")` for one button's key, `@router.click` for every button."""
        if callable(key):
            return self.event("click", pure=pure)(key)
        return self.event("click", key, pure=pure)

    def include(self, other: Router) -> None:
        """Another router's routes after this one's (they answer only what these pass on), read live."""
        self._included.append(other)

    def dispatch(self, msg: BaseMessage, ctx: Any, *, start: int = 0, pure_only: bool = False) -> Outcome:
        """Call matching handlers in order from route `start` until one answers; a handler that raises ends
        the search. With `pure_only`, stop before the first matching handler that is not pure."""
        msg_type, routes = msg.type, self.routes
        for index in range(start, len(routes)):
            route = routes[index]
            if route.kind is not None and route.kind != msg_type:
                continue
            try:
                if not route.matches(msg):
                    continue
                if pure_only and not route.pure:
                    return Outcome(None, impure_at=index)
                entered = handling.set(ctx)
                try:
                    result = route.call(msg, ctx)
                finally:
                    handling.reset(entered)
            except Exception:
                log.exception("handler %s failed on push %s from %s", route.name,
                              loggable(msg._data.get("MsgId") or msg._data.get("CreateTime", "")), loggable(msg.source))
                return Outcome(route, FALLBACK_TEXT, failed=True)
            if result is not None:
                return Outcome(route, result)
        return Outcome(None)


def _events(*names: str) -> Matcher:
    return lambda msg: msg.event in names


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
