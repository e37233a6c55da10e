"""The sandbox's stand-in for WeChat's jweixin, and the checks WeChat's client makes on wx.config.

`/sandbox/jweixin.js` is what `wechat.jssdk_script_url` names in sandbox mode. Its wx.config posts to
`/sandbox/api/jssdk/verify`, which answers as WeChat's client does: `config:invalid url domain` for a page outside
the JS接口安全域名, `config:invalid signature` unless the signature is one of a live ticket's over the URL WeChat
checks (the landing URL on iOS, the current one elsewhere), else `config:ok`. The sandbox's
page `/sandbox/jssdk` (console.py) shows it working.
"""
from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Response, jsonify, request, send_from_directory
from flask.typing import ResponseReturnValue

from .. import page_headers
from ..json_body import request_json
from .api import store
from .authorize import _OPENID, USER_COOKIE

bp = Blueprint("sandbox_jssdk", __name__, template_folder="templates")
page_headers.init_app(bp, referrer="same-origin")

STATIC = Path(__file__).resolve().parent / "static"
# Where wx.getLocation puts a user who never sent a location in chat (the chat page's own default).
DEFAULT_LOCATION = {"latitude": "23.134521", "longitude": "113.358803", "label": "广州市海珠区"}


@bp.get("/sandbox/jweixin.js")
def jweixin() -> Response:
    return send_from_directory(STATIC, "jweixin.js", mimetype="text/javascript", max_age=60)


@bp.post("/sandbox/api/jssdk/verify")
def verify() -> ResponseReturnValue:
    """wx.config's check, as WeChat's client makes it: `url` is the one WeChat looks at, without its #…."""
    config = request_json(request)
    if not isinstance(config, dict):
        return jsonify(errMsg="config:fail, invalid arguments"), 400
    return jsonify(errMsg="config:" + _verdict(config))


def _verdict(config: dict) -> str:
    url = str(config.get("url", "")).split("#", 1)[0]
    host = urlsplit(url).hostname or ""
    if host.lower() not in js_domains():
        return "invalid url domain"
    timestamp, nonce, signature = config.get("timestamp"), config.get("nonceStr"), config.get("signature")
    if (str(config.get("appId")) != store().appid or not isinstance(nonce, str) or not isinstance(signature, str)
            or not str(timestamp).isdigit()):
        return "invalid signature"
    for ticket in store().live_jsapi_tickets():
        plain = f"jsapi_ticket={ticket}&noncestr={nonce}&timestamp={timestamp}&url={url}"
        if hmac.compare_digest(hashlib.sha1(plain.encode()).hexdigest(), signature):
            return "ok"
    return "invalid signature"


def js_domains() -> list[str]:
    """The sandbox account's JS接口安全域名: as configured, else the host this sandbox is reached at."""
    configured = [d.strip().lower() for d in store().config().js_domains.split(",") if d.strip()]
    return configured or [urlsplit(request.host_url).hostname or ""]


@bp.get("/sandbox/api/jssdk/location")
def location() -> Response:
    """wx.getLocation's answer: where this browser's sandbox user last said they were in chat."""
    openid = request.cookies.get(USER_COOKIE, "")
    found = store().location(openid) if _OPENID.fullmatch(openid) else None
    try:
        latitude, longitude = float((found or {})["latitude"]), float((found or {})["longitude"])
    except (TypeError, KeyError, ValueError):  # never sent one, or typed something that is not a number
        found = None
        latitude, longitude = float(DEFAULT_LOCATION["latitude"]), float(DEFAULT_LOCATION["longitude"])
    label = (found or DEFAULT_LOCATION)["label"]
    return jsonify(latitude=latitude, longitude=longitude, label=label, speed=0.0, accuracy=65.0,
                   sent_in_chat=found is not None)

