"""The sandbox's own pages: the chat page (be a WeChat user talking to your server) and the tokens page."""
from __future__ import annotations

import secrets
import time
from dataclasses import replace

from flask import Blueprint, current_app, jsonify, make_response, render_template, request, url_for

from .. import page_headers
from ..json_body import request_json
from ..oauth import report
from . import qrcodes, user_media
from .authorize import _OPENID, USER_COOKIE
from .bubbles import message_html, reply_html, template_html
from .follower_state import scene_of
from .jssdk import js_domains

bp = Blueprint("sandbox_console", __name__, template_folder="templates")
page_headers.init_app(bp, referrer="same-origin")


@bp.before_request
def same_origin_only():
    """A page elsewhere cannot make this browser act in the sandbox (a cross-site form POST to expire tokens)."""
    if request.method != "GET" and not same_origin():
        return jsonify(error="拒绝跨站请求：只有沙箱自己的页面能这样做"), 403
    return None


def same_origin() -> bool:
    """The request came from a page of this origin: Sec-Fetch-Site says so, or Origin matches our host."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    return origin is None or origin == request.host_url.rstrip("/")

KINDS = {
    "text": lambda data: ("text", {"Content": str(data.get("content", ""))}),
    "subscribe": lambda data: ("event", {"Event": "subscribe", "EventKey": ""}),
    "unsubscribe": lambda data: ("event", {"Event": "unsubscribe"}),
    "click": lambda data: ("event", {"Event": "CLICK", "EventKey": str(data.get("key", ""))}),
    "location": lambda data: ("location", {"Location_X": str(data.get("lat", "23.134521")),
                                           "Location_Y": str(data.get("lng", "113.358803")),
                                           "Scale": "15", "Label": str(data.get("label", ""))}),
}


def _sandbox():
    return current_app.extensions["wechat_sandbox"]


def _services():
    return current_app.extensions["wechat_bot"]


USER_COOKIE_AGE = 365 * 24 * 3600  # the last user chosen stays chosen


@bp.get("/sandbox/")
@bp.get("/sandbox/chat")
def chat():
    """The chat page, with a user ready: the one this browser used last, else a made-up one."""
    openid = request.cookies.get(USER_COOKIE, "")
    if not _OPENID.fullmatch(openid):
        openid = "o" + secrets.token_hex(13)
    user = _known_or_made_up(openid)
    response = make_response(render_template("sandbox/chat.html", users=_sandbox().users(), current=user,
                                              avatar=user["headimgurl"] or url_for("sandbox_api.avatar", openid=openid),
                                              inbox=inbox_counts(openid)))
    response.set_cookie(USER_COOKIE, openid, max_age=USER_COOKIE_AGE, httponly=True, samesite="Lax")
    response.headers["Cache-Control"] = "no-store"  # coming back to it shows the user chosen since, not a stale copy
    return response


def _known_or_made_up(openid: str) -> dict[str, str]:
    """The stored user, else a made-up one that is stored only once it does something (a visit is not a user)."""
    if _sandbox().known(openid):
        return _sandbox().user(openid)
    return {"openid": openid, "nickname": made_up_nickname(openid), "headimgurl": ""}


def made_up_nickname(openid: str) -> str:
    return f"沙箱用户{openid[-4:]}"


@bp.get("/sandbox/tokens")
def tokens():
    """The tokens page says what renews them: this process's renewal thread, or (under `flask run`) none."""
    from ..health import worker_command

    return render_template("sandbox/tokens.html", renewing="wechat_bot.renewer" in current_app.extensions,
                           worker_command=worker_command(current_app))


@bp.get("/sandbox/jssdk")
def jssdk():
    """A page using the JS-SDK as a site's page does (jweixin's stand-in, then wx.js), with a few of its calls."""
    return render_template("sandbox/jssdk.html", domains=", ".join(js_domains()))


@bp.post("/sandbox/api/user")
def choose_user():
    """Be this WeChat user in this browser (created if new); the authorize page will know you by it."""
    data = request_json(request)
    data = data if isinstance(data, dict) else {}
    openid = str(data.get("openid", "")).strip()
    if not _OPENID.fullmatch(openid):
        return jsonify(error="openid 只能是 1-64 个字母、数字、- 或 _"), 400
    existing = _sandbox().known(openid)
    nickname = str(data.get("nickname", "")).strip()[:32] or None
    user = _sandbox().save_user(openid, nickname=nickname) if nickname or not existing else _sandbox().user(openid)
    user = {**user, "avatar": user["headimgurl"] or url_for("sandbox_api.avatar", openid=openid)}
    response = make_response(jsonify(user=user, inbox=inbox_counts(openid)))
    response.set_cookie(USER_COOKIE, openid, max_age=USER_COOKIE_AGE, httponly=True, samesite="Lax")
    return response


@bp.post("/sandbox/api/push")
def push():
    """Send what the user typed or did to /wechat as WeChat would; answer with the exchange."""
    request.max_content_length = user_media.LARGEST  # a picture, a voice or a video, not only a push's text
    data = request_json(request)
    data = data if isinstance(data, dict) else {}
    openid = request.cookies.get(USER_COOKIE, "")
    if not _OPENID.fullmatch(openid):
        return jsonify(error="请先选择一个微信用户"), 400
    mine = None
    try:
        if data.get("kind") == "scan":
            msg_type, fields = "event", qrcodes.scan_fields(openid, str(data.get("url", "")))
            if fields is None:
                return jsonify(error="这不是沙箱生成的二维码，或者它已经过期"), 400
        elif data.get("kind") in user_media.KINDS:
            msg_type = str(data["kind"])
            fields, mine = user_media.media_fields(msg_type, data)
        elif data.get("kind") == "link":
            msg_type = "link"
            fields, mine = user_media.link_fields(data)
        else:
            kind = KINDS.get(str(data.get("kind")))
            if kind is None:
                return jsonify(error="不认识的消息类型"), 400
            msg_type, fields = kind(data)
    except user_media.NotSendable as refusal:
        return jsonify(error=str(refusal)), 400
    if not _sandbox().known(openid):  # the page's made-up user, now real
        _sandbox().save_user(openid, nickname=made_up_nickname(openid))
    _sandbox().pushed(openid, msg_type, fields.get("Event", ""), scene_of(fields))  # follow state and the windows
    if msg_type == "location":  # what wx.getLocation answers on this user's pages
        _sandbox().remember_location(openid, fields["Location_X"], fields["Location_Y"], fields["Label"])
    endpoint = url_for("endpoint.receive", _external=True)
    exchange = current_app.extensions["wechat_sandbox_pusher"].push(endpoint, openid, msg_type,
                                                                     encrypted=bool(data.get("safe")), **fields)
    body = exchange.to_json()
    body["reply_html"] = str(reply_html(exchange.reply)) if exchange.reply.get("MsgType") not in (
        None, "success", "empty") else ""
    body["mine_html"] = str(mine) if mine else ""
    return jsonify(body)


@bp.get("/sandbox/api/inbox")
def inbox():
    """What the account sent this browser's user besides replies (customer-service and template messages), past the
    counts the page has seen (`sent`, `templates`, as the page or the user switch gave them)."""
    openid = request.cookies.get(USER_COOKIE, "")
    if not _OPENID.fullmatch(openid):
        return jsonify(items=[], sent=0, templates=0)
    sent, templates = _sandbox().sent(openid), _sandbox().templates_sent(openid)
    seen_sent = request.args.get("sent", type=int, default=len(sent))
    seen_templates = request.args.get("templates", type=int, default=len(templates))
    account = _services().settings.account_name or "沙箱公众号"
    items = ([str(message_html(message)) for message in sent[seen_sent:]]
             + [str(template_html(message, _sandbox().template(str(message.get("template_id", ""))), account))
                for message in templates[seen_templates:]])
    return jsonify(items=items, sent=len(sent), templates=len(templates))


def inbox_counts(openid: str) -> dict[str, int]:
    return {"sent": len(_sandbox().sent(openid)), "templates": len(_sandbox().templates_sent(openid))}


def mask_in_chinese(secret: str) -> str:
    """A token as the tokens page shows it: its first 4 characters and its length."""
    return f"{secret[:4]}…（共 {len(secret)} 个字符）" if secret else ""


@bp.get("/sandbox/api/tokens")
def token_list():
    services, now = _services(), time.time()
    rows = []
    for record in report.all_records(services.redis, services.tokens):
        row = report.describe(record, now, masked=mask_in_chinese)
        row["renew_at"] = record.renew_at if row["status"] != "reauth_required" else None
        rows.append(row)
    rows.sort(key=lambda row: row["openid"])
    return jsonify(now=int(now), users=rows)


@bp.post("/sandbox/api/tokens/<openid>/<action>")
def token_action(openid: str, action: str):
    """Make a user's access_token expire now, or their refresh_token run out, and watch what follows."""
    services, sandbox, now = _services(), _sandbox(), time.time()
    record = services.tokens.get(openid)
    if record is None or action not in ("expire-access", "expire-refresh"):
        return jsonify(error="没有这个用户或操作"), 404
    if action == "expire-access":
        sandbox.expire_access_token(openid)
    else:
        sandbox.expire_refresh_token(openid)  # the renewal finds out from WeChat (42002) and marks the user
    services.tokens.save(replace(record, access_token_expires_at=int(now)))  # due for renewal at once
    return jsonify(ok=True)
