"""Making the code a desktop shows: the account's temporary parametric QR code, or, for an account WeChat does
not let make them (48001: subscription and unverified accounts), a short code the user sends in chat.

Which one is decided by trying the API once and remembering WeChat's answer in Redis for a day, so an account
verified later starts making QR codes by itself; `check` reports it.
"""
from __future__ import annotations

import time

from redis import Redis

from .. import defaults
from ..account.token import AccountToken
from ..errors import WeChatError
from ..storage.replies import text
from ..wechat_api import WeChatClient
from .computer import Computer
from .scenes import QrScenes, Scene, new_scene

CAPABILITY_KEY = "wechat_bot:qr:capability:"  # + AppID: "qr" or "chat", what the last try of qrcode/create said
UNAUTHORIZED = (48001,)  # api unauthorized: no parametric codes for this account


def capability(redis: Redis, appid: str) -> str | None:
    """'qr', 'chat', or None before the first try for this account (the sandbox's answer is not a real one's)."""
    found = redis.get(CAPABILITY_KEY + appid)
    return text(found) if found else None


class QrCodes:
    def __init__(self, redis: Redis, client: WeChatClient, token: AccountToken, scenes: QrScenes) -> None:
        self._redis, self._client, self._token, self._scenes = redis, client, token, scenes

    def show(self, browser: str, next_path: str | None, computer: Computer) -> Scene:
        """A new code, bound to `browser` (on `computer`); WeChatError / WeChatUnavailable when WeChat refuses or is
        down."""
        now, scene = time.time(), new_scene()
        record = Scene(scene, browser, next_path, now, now + self._scenes.ttl, computer=computer.to_dict())
        appid = self._client.appid
        if capability(self._redis, appid) != "chat":
            try:
                record.url = self._create(scene)
                self._redis.set(CAPABILITY_KEY + appid, "qr", ex=defaults.QR_CAPABILITY_TTL)
            except WeChatError as error:
                if error.errcode not in UNAUTHORIZED:
                    raise
                self._redis.set(CAPABILITY_KEY + appid, "chat", ex=defaults.QR_CAPABILITY_TTL)
        if not record.url:
            record.kind, record.chat_code = "chat", self._scenes.reserve_chat_code(scene)
        self._scenes.save(record)
        return record

    def _create(self, scene: str) -> str:
        return str(self._token.call(lambda token: self._client.create_qrcode(token, scene, self._scenes.ttl))["url"])
