"""The sandbox's WeChat API, answering as WeChat does: HTTP 200, JSON served as text/plain with no charset,
errors as {"errcode", "errmsg"} with a `rid:` suffix, faults injected per path for tests, and a latency
(`configure(latency=0.1)`) for benchmarks that need WeChat's round trip.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any

from flask import Blueprint, Response, current_app, request, url_for

from .menu_rules import menu_error
from .. import json_body
from .store import SandboxStore, key

bp = Blueprint("sandbox_api", __name__)

ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40037: "invalid template_id",
    41009: "missing openid",
    43004: "require subscribe",
    45015: "response out of time limit or subscription is canceled",
    40013: "invalid appid",
    40029: "invalid code",
    40030: "invalid refresh_token",
    40125: "invalid appsecret",
    40163: "code been used",
    41001: "access_token missing",
    41002: "appid missing",
    41003: "refresh_token missing",
    41004: "appsecret missing",
    41008: "missing code",
    42001: "access_token expired",
    42002: "refresh_token expired",
    44002: "empty post data",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit, must slower, retry next minute",
    47001: "data format error",
    48001: "api unauthorized",
    40097: "invalid args",
    40016: "invalid button size",
    40017: "invalid button type",
    40018: "invalid button name size",
    40019: "invalid button key size",
    40020: "invalid button url size",
    40023: "invalid sub button size",
    40024: "invalid sub button type",
    40025: "invalid sub button name size",
    40026: "invalid sub button key size",
    40027: "invalid sub button url size",
    40055: "invalid button url domain",
    43001: "require GET method",
    43002: "require POST method",
    46003: "menu no exist",
}


def store() -> SandboxStore:
    return current_app.extensions["wechat_sandbox"]


def answer(body: dict) -> Response:
    """JSON as WeChat serves it: text/plain, no charset."""
    return Response(json.dumps(body, ensure_ascii=False).encode("utf-8"), status=200, content_type="text/plain")


def error(errcode: int) -> Response:
    rid = "-".join(secrets.token_hex(4) for _ in range(3))
    return answer({"errcode": errcode, "errmsg": f"{ERRMSG.get(errcode, 'error')} rid: {rid}"})


_METHOD: dict[str, str] = {}  # endpoint -> the one method WeChat serves it with


def api(path: str, method: str):
    """A WeChat API route: it takes GET and POST, since WeChat answers the wrong one with HTTP 200 JSON
    43001 (needs GET) or 43002 (needs POST), not a 405."""
    def register(view):
        _METHOD[f"{bp.name}.{view.__name__}"] = method
        return bp.route(path, methods=["GET", "POST"])(view)
    return register


@bp.before_request
def count_and_inject_faults():
    wanted = _METHOD.get(request.endpoint or "")
    if wanted and request.method != wanted:
        return error(43001 if wanted == "GET" else 43002)
    fault, latency = store().arrive(request.path)
    if latency:
        time.sleep(latency)
    if fault is None:
        return None
    if fault.delay:
        time.sleep(fault.delay)
    if fault.status:
        return Response(f"<html><body>{fault.status}</body></html>", status=fault.status, content_type="text/html")
    if fault.errcode is not None:
        return error(fault.errcode)
    return None


def _check_app(secret_needed: bool) -> Response | None:
    sandbox, args = store(), request.args
    if not args.get("appid"):
        return error(41002)
    if args["appid"] != sandbox.appid:
        return error(40013)
    if secret_needed:
        if not args.get("secret"):
            return error(41004)
        if not secrets.compare_digest(args["secret"], sandbox.secret):
            return error(40125)
    return None


@api("/sns/oauth2/access_token", "GET")
def exchange_code():
    refused = _check_app(secret_needed=True)
    if refused:
        return refused
    if request.args.get("grant_type") != "authorization_code":
        return error(40002)
    code = request.args.get("code")
    if not code:
        return error(41008)
    outcome, record = store().use_code(code)
    if outcome == "used":
        return error(40163)
    if record is None:
        return error(40029)
    user = store().user(record["openid"])
    body = store().grant(record["openid"], record["scope"])
    if record["scope"] == "snsapi_userinfo" and user.get("unionid"):
        body["unionid"] = user["unionid"]
    if user.get("snapshot"):
        body["is_snapshotuser"] = 1
    return answer(body)


@api("/sns/oauth2/refresh_token", "GET")
def refresh_token():
    refused = _check_app(secret_needed=False)
    if refused:
        return refused
    if request.args.get("grant_type") != "refresh_token":
        return error(40002)
    if not request.args.get("refresh_token"):
        return error(41003)
    outcome, body = store().refresh(request.args["refresh_token"])
    if outcome == "expired":
        return error(42002)
    return answer(body) if body else error(40030)


def _user_token(openid_required: bool = True) -> tuple[dict | None, Response | None]:
    token, openid = request.args.get("access_token"), request.args.get("openid")
    if not token:
        return None, error(41001)
    outcome, record = store().access(token)
    if outcome == "expired":
        return None, error(42001)
    if record is None:
        return None, error(40001)
    if openid_required and openid != record["openid"]:
        return None, error(40003)
    return record, None


@api("/sns/userinfo", "GET")
def userinfo():
    record, refused = _user_token()
    if refused:
        return refused
    if record["scope"] != "snsapi_userinfo":
        return error(48001)
    user = store().user(record["openid"])
    body = {"openid": user["openid"], "nickname": user["nickname"], "sex": 0, "province": "", "city": "",
            "country": "", "headimgurl": user["headimgurl"] or avatar_url(user["openid"]), "privilege": []}
    if user.get("unionid"):
        body["unionid"] = user["unionid"]
    return answer(body)


def avatar_url(openid: str) -> str:
    return url_for("sandbox_api.avatar", openid=openid, _external=True)


@api("/sns/auth", "GET")
def check_token():
    record, refused = _user_token()
    return error(40003) if refused else answer({"errcode": 0, "errmsg": "ok"})


@api("/cgi-bin/token", "GET")
def global_token():
    refused = _check_app(secret_needed=True)
    if refused:
        return refused
    if request.args.get("grant_type") != "client_credential":
        return error(40002)
    return answer(store().global_token(stable=False))


@api("/cgi-bin/stable_token", "POST")
def stable_token():
    try:
        body = json_body.loads(request.get_data() or b"{}")
    except ValueError:
        return error(47001)
    if not isinstance(body, dict):
        return error(47001)
    sandbox = store()
    if body.get("grant_type") != "client_credential":
        return error(40002)
    if body.get("appid") != sandbox.appid:
        return error(40013)
    if not secrets.compare_digest(str(body.get("secret", "")), sandbox.secret):
        return error(40125)
    return answer(sandbox.global_token(force=bool(body.get("force_refresh"))))


def _account_token_valid() -> bool:
    return store().global_token_valid(request.args.get("access_token", ""))


def _account_token_refused() -> Response | None:
    """41001 for a GET without the account's access_token, 40001 for one that is not valid; else None."""
    if not request.args.get("access_token"):
        return error(41001)
    return None if _account_token_valid() else error(40001)


def _posted_json() -> tuple[Any, Response | None]:
    """The JSON body of a cgi-bin POST made with the account's access_token, or the error WeChat gives."""
    if not _account_token_valid():
        return None, error(40001)
    try:
        return json_body.loads(request.get_data() or b""), None
    except ValueError:
        return None, error(47001)


INTERACTION_WINDOW = 48 * 3600  # custom/send reaches a user for 48 hours after their last message (§6)
EVENT_WINDOW = 60  # and for one minute after a follow, a menu click or a scan


def _known(openid: str) -> bool:
    return store().known(openid)


@api("/cgi-bin/message/custom/send", "POST")
def custom_send():
    message, refused = _posted_json()
    if refused:
        return refused
    if not isinstance(message, dict) or not message.get("touser") or not message.get("msgtype"):
        return error(44002 if not message else 47001)
    openid = str(message["touser"])
    if not _known(openid):
        return error(40003)  # an openid this account has never seen
    follower, now = store().follower(openid), store().clock()
    in_window = (now - follower.get("interacted_at", 0) <= INTERACTION_WINDOW
                 or now - follower.get("event_at", 0) <= EVENT_WINDOW)
    if not follower.get("subscribe") or not in_window:
        return error(45015)  # unfollowed, or no message in 48 hours and no follow, click or scan this minute
    store().record_sent(message)
    return answer({"errcode": 0, "errmsg": "ok"})


@api("/cgi-bin/menu/create", "POST")
def create_menu():
    menu, refused = _posted_json()
    if refused:
        return refused
    problem = menu_error(menu)
    if problem:
        return error(problem)
    store().redis.set(key(store().appid, "menu"), json.dumps(menu, ensure_ascii=False))
    return answer({"errcode": 0, "errmsg": "ok"})


@api("/cgi-bin/menu/get", "GET")
def get_menu():
    if not _account_token_valid():
        return error(40001)
    raw = store().redis.get(key(store().appid, "menu"))
    if not raw:
        return error(46003)
    menu = json.loads(raw)
    for button in menu["button"]:  # WeChat gives every button a sub_button list, an empty one on a leaf
        button.setdefault("sub_button", [])
        for sub in button["sub_button"]:
            sub["sub_button"] = []
    return answer({"menu": menu})


@api("/cgi-bin/menu/delete", "GET")
def delete_menu():
    if not _account_token_valid():
        return error(40001)
    store().redis.delete(key(store().appid, "menu"))
    return answer({"errcode": 0, "errmsg": "ok"})


@api("/cgi-bin/ticket/getticket", "GET")
def get_ticket():
    """The JS-SDK's jsapi_ticket (type=jsapi), with the account's global access_token."""
    refused = _account_token_refused()
    if refused is not None:
        return refused
    if request.args.get("type") != "jsapi":
        return error(40097)
    return answer(store().jsapi_ticket())


_AVATAR = ('<svg xmlns="http://www.w3.org/2000/svg" width="132" height="132" viewBox="0 0 132 132">'
           '<rect width="132" height="132" fill="hsl({hue},55%,52%)"/>'
           '<text x="66" y="66" dy=".35em" text-anchor="middle" font-size="64" fill="#fff" '
           'font-family="PingFang SC,Noto Sans CJK SC,sans-serif">{initial}</text></svg>')


@bp.get("/sandbox/avatar/<openid>.svg")
def avatar(openid: str) -> Response:
    """A sandbox user's avatar, made from their openid and nickname (WeChat's is a thirdwx.qlogo.cn image)."""
    from markupsafe import escape

    nickname = store().user(openid)["nickname"] if store().known(openid) else openid
    hue = int(hashlib.sha1(openid.encode()).hexdigest()[:4], 16) % 360
    body = _AVATAR.format(hue=hue, initial=escape((nickname.strip() or "?")[0]))
    return Response(body, content_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})
