"""The sandbox's parametric QR codes, as WeChat serves them: qrcode/create (the four action_names, WeChat's refusals
for a bad scene, 48001 for an account without them; tickets in base64, `+`, `/` and `=` included, so a link that does
not URL-encode one fails here as it does live), showqrcode (a JPEG), and what a scan of one pushes for a user."""
from __future__ import annotations

import base64
import io
import json
import secrets
import time

import segno
from flask import Response, request
from PIL import Image

from ..storage.replies import text
from .api import answer, api, error, posted_json, store
from .store import key

URL_PREFIX = "http://weixin.qq.com/q/"
TEMPORARY = ("QR_SCENE", "QR_STR_SCENE")
PERMANENT = ("QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE")
MAX_EXPIRE = 2592000
DEFAULT_EXPIRE = 60


def _scene(action: str, info: object) -> str | None:
    """The scene value of a well-formed action_info, else None."""
    scene = info.get("scene") if isinstance(info, dict) else None
    if not isinstance(scene, dict):
        return None
    if action.endswith("STR_SCENE"):
        value = scene.get("scene_str")
        return value if isinstance(value, str) and 1 <= len(value) <= 64 else None
    value = scene.get("scene_id")
    limit = 100000 if action in PERMANENT else 2**32 - 1
    return str(value) if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= limit else None


@api("/cgi-bin/qrcode/create", "POST", errcodes=(40053, 47001, 48001))
def create_qrcode():
    body, refused = posted_json()
    if refused:
        return refused
    if not store().config().parametric_qr:
        return error(48001)  # a subscription or unverified account
    if not isinstance(body, dict):
        return error(47001)
    action = body.get("action_name")
    if action not in TEMPORARY + PERMANENT:
        return error(40053)
    scene = _scene(action, body.get("action_info"))
    if scene is None:
        return error(40053)
    expire = body.get("expire_seconds", DEFAULT_EXPIRE)
    if action in TEMPORARY and (not isinstance(expire, int) or expire < 1):
        return error(40053)
    code, ticket = secrets.token_urlsafe(18), new_ticket()
    ttl = min(expire, MAX_EXPIRE) if action in TEMPORARY else None
    record = {"scene": scene, "ticket": ticket, "action": action,
              "expires_at": time.time() + ttl if ttl else None}
    with store().redis.pipeline(transaction=False) as pipe:
        pipe.set(_code_key(code), json.dumps(record), ex=ttl)
        pipe.set(key(store().appid, "qrcode-ticket", ticket), code, ex=ttl)
        pipe.execute()
    reply = {"ticket": ticket, "url": URL_PREFIX + code}
    if ttl:
        reply["expire_seconds"] = ttl
    return answer(reply)


@api("/cgi-bin/showqrcode", "GET", account_token=False, errcodes=())
def show_qrcode():
    """The code's picture, by ticket (no token needed, as on mp.weixin.qq.com)."""
    ticket = request.args.get("ticket", "")  # percent-decoded; an unencoded `+` arrives as a space
    code = store().redis.get(key(store().appid, "qrcode-ticket", ticket)) if ticket else None
    if code is None or find(URL_PREFIX + text(code)) is None:
        return Response("ticket invalid", status=404, content_type="text/plain")
    return Response(jpeg(URL_PREFIX + text(code)), content_type="image/jpeg")


def new_ticket() -> str:
    """A ticket as WeChat's look: `gQ` and base64, with `+`, `/` and `=` in it."""
    while True:
        ticket = "gQ" + base64.b64encode(secrets.token_bytes(40)).decode()
        if "+" in ticket and "/" in ticket:
            return ticket


def jpeg(content: str) -> bytes:
    """The QR code holding `content`, as the JPEG WeChat serves (430 px, a quiet zone around it)."""
    png = io.BytesIO()
    segno.make(content, error="m").save(png, kind="png", scale=10, border=2)
    png.seek(0)
    out = io.BytesIO()
    Image.open(png).convert("L").save(out, format="JPEG", quality=90)
    return out.getvalue()


def _code_key(code: str) -> str:
    return key(store().appid, "qrcode", code)


def find(url: str) -> dict | None:
    """A live code the sandbox made, by the url it holds."""
    if not url.startswith(URL_PREFIX):
        return None
    raw = store().redis.get(_code_key(url[len(URL_PREFIX):]))
    return json.loads(raw) if raw else None


def scan_fields(openid: str, url: str) -> dict | None:
    """The event WeChat pushes when `openid` scans the code holding `url`: SCAN for a follower, subscribe with
    qrscene_ for anyone else (who follows by scanning: the chat page records the follow as for any push); None for
    a code the sandbox did not make or that ran out."""
    record = find(url.strip())
    if record is None:
        return None
    if store().follower(openid).get("subscribe"):
        return {"Event": "SCAN", "EventKey": record["scene"], "Ticket": record["ticket"]}
    return {"Event": "subscribe", "EventKey": "qrscene_" + record["scene"], "Ticket": record["ticket"]}
