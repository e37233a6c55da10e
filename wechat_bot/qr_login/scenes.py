"""Where the state of a sign-in QR code is kept: one Redis key per scene, every change one script on that key.

A scene lives as long as its code (QR_TTL): pending → scanned (by one openid, with a confirm token sent to that
user's chat) → confirmed or cancelled → spent when the browser that showed it is signed in. A page shown to no one
leaves a key that runs out with its code. The fallback for accounts without parametric codes maps a short code
the user sends in chat to its scene, under a key of its own that runs out with it.
"""
from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone

from redis import Redis

from .. import defaults
from ..storage.keyspace import account_prefix
from ..storage.replies import text

KEY = "qr:"  # + the scene, or chat: + a short code; under the account's prefix
SCENE_PREFIX = "wbl"  # every scene we make starts so: the account's other QR codes pass to other handlers
CHAT_CODE_LENGTH = 6
# The phone's confirm step says when the code was shown, for the user to compare with their own clock: in China's
# time, the zone of WeChat's users, not the server's (a container's is UTC, eight hours off).
CHINA_TIME = timezone(timedelta(hours=8))

# Every script below starts so: the scene's record, or nil when it has run out.
_READ_SCENE = """
local raw = redis.call('GET', KEYS[1])
if not raw then return nil end
local scene = cjson.decode(raw)
"""

# KEYS: the scene. ARGV: openid, confirm token, the site's base as the chat link names it. Pending → scanned by this
# openid; the same openid scanning again gets its record back; anyone else, or a scene that moved on, gets what it
# is now.
_SCAN = _READ_SCENE + """
if scene.state == 'pending' then
  scene.state, scene.openid, scene.confirm, scene.base = 'scanned', ARGV[1], ARGV[2], ARGV[3]
  redis.call('SET', KEYS[1], cjson.encode(scene), 'KEEPTTL')
end
return cjson.encode(scene)
"""

# KEYS: the scene. ARGV: openid, confirm token, the new state. Scanned → confirmed or cancelled, by its scanner.
_DECIDE = _READ_SCENE + """
if scene.state == 'scanned' and scene.openid == ARGV[1] and scene.confirm == ARGV[2] then
  scene.state = ARGV[3]
  redis.call('SET', KEYS[1], cjson.encode(scene), 'KEEPTTL')
end
return cjson.encode(scene)
"""

# KEYS: the scene. ARGV: browser digest. A confirmed scene is spent by the browser that showed it, and only it.
_SPEND = _READ_SCENE + """
if scene.state == 'confirmed' and scene.browser == ARGV[1] then redis.call('DEL', KEYS[1]) end
return raw
"""


@dataclass
class Scene:
    scene: str
    browser: str
    next: str | None
    shown_at: float
    expires_at: float
    kind: str = "qr"  # qr: the account's parametric code; chat: a short code sent in chat
    url: str = ""  # what the QR code holds (WeChat's url)
    chat_code: str = ""
    state: str = "pending"
    openid: str = ""
    confirm: str = ""
    computer: dict = field(default_factory=dict)  # the computer that showed the code (computer.py)
    base: str = ""  # the site as the confirm link in chat names it (from the signed push, not from a browser)


def scene_key(appid: str, scene: str) -> str:
    return account_prefix(appid) + KEY + scene


def chat_code_key(appid: str, code: str) -> str:
    return account_prefix(appid) + KEY + "chat:" + code


def new_scene() -> str:
    return SCENE_PREFIX + secrets.token_hex(16)


def well_formed(scene: str) -> bool:
    """One of ours (SCENE_PREFIX and 32 hex digits): nothing else names a key of this module."""
    return _SCENE.fullmatch(scene or "") is not None


_SCENE = re.compile(SCENE_PREFIX + "[0-9a-f]{32}")


class QrScenes:
    def __init__(self, redis: Redis, appid: str, ttl: int = defaults.QR_TTL) -> None:
        self._redis, self.ttl, self.appid = redis, ttl, appid
        self._scan, self._decide = redis.register_script(_SCAN), redis.register_script(_DECIDE)
        self._spend = redis.register_script(_SPEND)

    def save(self, record: Scene) -> None:
        self._redis.set(scene_key(self.appid, record.scene), json.dumps(asdict(record)), ex=self.ttl)

    def get(self, scene: str) -> Scene | None:
        return _scene(self._redis.get(scene_key(self.appid, scene))) if well_formed(scene) else None

    def scene_of_chat_code(self, code: str) -> str | None:
        """The scene a short code sent in chat stands for; the code is used up."""
        found = self._redis.getdel(chat_code_key(self.appid, code))
        return text(found) if found else None

    def reserve_chat_code(self, scene: str) -> str:
        """A short code no live scene uses, taken for `scene` in the same step that finds it free (SET NX)."""
        while True:
            code = "".join(secrets.choice("0123456789") for _ in range(CHAT_CODE_LENGTH))
            if self._redis.set(chat_code_key(self.appid, code), scene, nx=True, ex=self.ttl):
                return code

    def scan(self, scene: str, openid: str, base: str = "") -> Scene | None:
        """Record the scan (and `base`, the site as the chat link names it); the scene as it is now (scanned by
        someone else, or moved on: its own state)."""
        if not well_formed(scene):
            return None
        return _scene(self._scan(keys=[scene_key(self.appid, scene)], args=[openid, secrets.token_urlsafe(16), base]))

    def decide(self, scene: str, openid: str, confirm: str, confirmed: bool) -> Scene | None:
        state = "confirmed" if confirmed else "cancelled"
        if not well_formed(scene):
            return None
        return _scene(self._decide(keys=[scene_key(self.appid, scene)], args=[openid, confirm, state]))

    def who_state(self, scene: str, browser: str) -> str | None:
        """The authorize state the confirm page already issued for this scene and phone, while it lives."""
        if not well_formed(scene):
            return None
        found = self._redis.get(self._who_key(scene, browser))
        return text(found) if found else None

    def remember_who_state(self, record: Scene, browser: str, state: str) -> None:
        ttl = max(1, min(int(record.expires_at - time.time()), defaults.STATE_TTL))
        self._redis.set(self._who_key(record.scene, browser), state, ex=ttl)

    def _who_key(self, scene: str, browser: str) -> str:
        return f"{account_prefix(self.appid)}{KEY}who:{scene}:{browser}"

    def spend(self, scene: str, browser: str) -> Scene | None:
        """The scene; confirmed and shown in `browser`, it is spent (deleted) in the same step."""
        if not well_formed(scene):
            return None
        return _scene(self._spend(keys=[scene_key(self.appid, scene)], args=[browser]))


def _scene(raw: bytes | str | None) -> Scene | None:
    return Scene(**json.loads(raw)) if raw else None


def expired(record: Scene | None) -> bool:
    return record is None or record.expires_at <= time.time()


def shown_clock(record: Scene) -> str:
    """When the code was shown, as the phone's clock says it: HH:MM in China's time."""
    return china_clock(record.shown_at, "%H:%M")


def china_clock(moment: float, pattern: str = "%m月%d日 %H:%M") -> str:
    return datetime.fromtimestamp(moment, CHINA_TIME).strftime(pattern)
