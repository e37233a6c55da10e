"""What the sandbox knows of its followers: follows and unfollows (and by which code), the last message and event
that opened custom/send's windows with what was sent in them, and the templates and messages sent to them."""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from redis import Redis

from ..storage.replies import text
from .keys import key

OPENING_EVENTS = ("subscribe", "click", "scan", "scancode_push", "scancode_waitmsg")  # each opens a minute (§6)
WINDOW_START = {"message": "interacted_at", "event": "event_at"}  # what opens each customer-service window


def scene_of(fields: Mapping[str, Any]) -> str:
    """The scene of the QR code a push says was scanned (a follow by scanning names it `qrscene_<scene>`); "" when
    none was."""
    return str(fields.get("EventKey", "")).removeprefix("qrscene_") if fields.get("Ticket") else ""


class FollowerState:
    """The followers part of the sandbox's store."""

    redis: Redis
    appid: str
    clock: Callable[[], float]
    known: Callable[[str], bool]
    save_user: Callable[..., dict[str, str]]

    def pushed(self, openid: str, msg_type: str, event: str = "", scene: str = "") -> None:
        """What a push the sandbox sends for this user tells WeChat: a follow (by scanning a code of `scene`, when
        given), an unfollow, or an interaction.

        A user whose first push is not a follow already follows (only a follower can chat with the account)."""
        now, event = int(self.clock()), event.lower()  # WeChat spells some events in capitals (CLICK, SCAN)
        follow = key(self.appid, "follow", openid)
        if not self.known(openid):
            self.save_user(openid)
        if msg_type == "event" and event == "unsubscribe":
            self.redis.hset(follow, mapping={"subscribe": 0})
            return
        if (msg_type == "event" and event == "subscribe") or not self.redis.hexists(follow, "subscribe"):
            self.redis.hset(follow, mapping={"subscribe": 1, "subscribe_time": now})
            self.redis.set(key(self.appid, "follow-scene", openid), scene)
        elif self.redis.hget(follow, "subscribe") == b"0":
            return  # an unfollowed user's pushes come only after following again
        if msg_type == "event" and event not in OPENING_EVENTS:
            return
        # a message opens custom/send for 48 hours; a follow, a menu click or a scan for one minute (§6)
        window = "event" if msg_type == "event" else "message"
        self.redis.hset(follow, mapping={WINDOW_START[window]: now, f"{window}_sent": 0})

    def follower(self, openid: str) -> dict[str, int]:
        """{'subscribe': 0 or 1, 'subscribe_time', 'interacted_at' (the last message), 'event_at' (the last follow,
        click or scan)} as far as the sandbox's pushes tell; {} if none."""
        return {text(k): int(v) for k, v in self.redis.hgetall(key(self.appid, "follow", openid)).items()}

    def follow_scene(self, openid: str) -> str:
        """The scene of the QR code this follower followed by scanning; "" for a follow any other way."""
        return text(self.redis.get(key(self.appid, "follow-scene", openid)) or b"")

    def follows(self, openid: str) -> None:
        """This user follows the account (since now, unless they already did), without a push: test users start so."""
        if not self.known(openid):
            self.save_user(openid)
        self.redis.hsetnx(key(self.appid, "follow", openid), "subscribe_time", int(self.clock()))
        self.redis.hset(key(self.appid, "follow", openid), "subscribe", 1)

    def interacted(self, openid: str, at: float | None = None) -> None:
        """Record that this user followed and interacted (at `at`, default now) without a push: tests use it."""
        moment = int(self.clock() if at is None else at)
        if not self.known(openid):
            self.save_user(openid)
        self.redis.hsetnx(key(self.appid, "follow", openid), "subscribe_time", moment)
        self.redis.hset(key(self.appid, "follow", openid), mapping={"subscribe": 1, "interacted_at": moment,
                                                                          "message_sent": 0})

    def add_template(self, template_id: str, title: str = "模板消息", content: str = "{{first.DATA}}") -> None:
        """A message template the account has added (template/send with any other template_id is 40037)."""
        self.redis.hset(key(self.appid, "templates"), template_id, json.dumps({"title": title, "content": content},
                                                                  ensure_ascii=False))

    def template(self, template_id: str) -> dict[str, str] | None:
        """A template the account has added: its title and content; None for any other."""
        raw = self.redis.hget(key(self.appid, "templates"), template_id) if template_id else None
        return json.loads(raw) if raw else None

    def template_known(self, template_id: str) -> bool:
        return bool(template_id) and bool(self.redis.hexists(key(self.appid, "templates"), template_id))

    def record_template(self, message: dict[str, Any]) -> int:
        msgid = int(self.redis.incr(key(self.appid, "template-msgid"))) + 200228331
        self.redis.rpush(key(self.appid, "template-sent", str(message.get("touser", ""))),
                         json.dumps({**message, "msgid": msgid}, ensure_ascii=False))
        return msgid

    def templates_sent(self, openid: str) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in self.redis.lrange(key(self.appid, "template-sent", openid), 0, -1)]

    def record_sent(self, message: dict[str, Any]) -> None:
        self.redis.rpush(key(self.appid, "sent", str(message.get("touser", ""))),
                         json.dumps(message, ensure_ascii=False))

    def sent(self, openid: str) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in self.redis.lrange(key(self.appid, "sent", openid), 0, -1)]
