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

from .. import json_body
from .store import SandboxStore

bp = Blueprint("sandbox_api", __name__)

ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40004: "invalid media type",
    40005: "invalid file type",
    40007: "invalid media_id",
    40008: "invalid message type",
    40009: "invalid image size",
    40010: "invalid voice size",
    40011: "invalid video size",
    40012: "invalid thumb size",
    41005: "media data missing",
    44001: "empty media data",
    40032: "invalid openid list size",
    40054: "invalid sub button url domain",
    45008: "article size out of limit",
    45047: "out of response count limit",
    45056: "too many tags now, no need to add new",
    45157: "invalid tag name",
    45158: "tag name too long",
    45159: "invalid tag",
    45058: "can't modify sys tag",
    45059: "user tag count out of limit",
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
    """WeChat's refusal; an API route may answer only the errcodes it declares (the README's table lists them)."""
    path = request.url_rule.rule if request.url_rule else ""
    if path in ERRCODES and errcode not in ERRCODES[path]:
        raise UndeclaredErrcode(f"{path} answered {errcode}, which its route does not declare")
    return refusal(errcode)


def refusal(errcode: int) -> Response:
    rid = "-".join(secrets.token_hex(4) for _ in range(3))
    return answer({"errcode": errcode, "errmsg": f"{ERRMSG.get(errcode, 'error')} rid: {rid}"})


class UndeclaredErrcode(RuntimeError):
    """A sandbox route answered an errcode missing from its declaration (and so from the README)."""


_METHOD: dict[str, str] = {}  # endpoint -> the one method WeChat serves it with
_ACCOUNT_TOKEN: set[str] = set()  # endpoints called with the account's global access_token
ERRCODES: dict[str, frozenset[int]] = {}  # path -> every errcode it can answer
TOKEN_ERRCODES = (40001, 41001, 42001)


def api(path: str, method: str, *, account_token: bool = True, errcodes: tuple[int, ...] = ()):
    """A WeChat API route: it takes GET and POST, since WeChat answers the wrong one with HTTP 200 JSON
    43001 (needs GET) or 43002 (needs POST), not a 405. With `account_token`, a call without the account's
    live access_token is refused before the view runs, as WeChat refuses it. `errcodes`: what else it answers."""
    def register(view):
        endpoint = f"{bp.name}.{view.__name__}"
        _METHOD[endpoint] = method
        if account_token:
            _ACCOUNT_TOKEN.add(endpoint)
        ERRCODES[path] = frozenset((*errcodes, 43001 if method == "GET" else 43002,
                                    *(TOKEN_ERRCODES if account_token else ())))
        return bp.route(path, methods=["GET", "POST"])(view)
    return register


@bp.before_request
def count_and_inject_faults():
    wanted = _METHOD.get(request.endpoint or "")
    if not wanted:  # only WeChat's own APIs are counted (any other path would add a field to the count)
        return None
    if request.method != wanted:
        return error(43001 if wanted == "GET" else 43002)
    fault, latency = store().arrive(request.path)
    if latency:
        time.sleep(latency)
    if fault is not None:
        if fault.delay:
            time.sleep(fault.delay)
        if fault.status:
            return Response(f"<html><body>{fault.status}</body></html>", status=fault.status,
                            content_type="text/html")
        if fault.errcode is not None:
            return refusal(fault.errcode)
    if request.endpoint in _ACCOUNT_TOKEN:
        return account_token_refused()
    return None


def account_token_refused() -> Response | None:
    """41001 without the account's access_token, 42001 for an expired one, 40001 for one unknown or replaced."""
    token = request.args.get("access_token", "")
    if not token:
        return error(41001)
    state = store().global_token_state(token)
    return None if state == "ok" else error(42001 if state == "expired" else 40001)


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


@api("/sns/oauth2/access_token", "GET", account_token=False,
     errcodes=(40002, 40013, 40029, 40125, 40163, 41002, 41004, 41008))
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


@api("/sns/oauth2/refresh_token", "GET", account_token=False, errcodes=(40002, 40013, 40030, 41002, 41003, 42002))
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


def _user_token(openid_required: bool = True) -> dict | int:
    """A live user access_token's record, or the errcode WeChat gives for the call."""
    token, openid = request.args.get("access_token"), request.args.get("openid")
    if not token:
        return 41001
    outcome, record = store().access(token)
    if outcome == "expired":
        return 42001
    if record is None:
        return 40001
    if openid_required and openid != record["openid"]:
        return 40003
    return record


@api("/sns/userinfo", "GET", account_token=False, errcodes=(40001, 40003, 41001, 42001, 48001))
def userinfo():
    record = _user_token()
    if isinstance(record, int):  # refused
        return error(record)
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


@api("/sns/auth", "GET", account_token=False, errcodes=(40003,))
def check_token():
    refused = isinstance(_user_token(), int)
    return error(40003) if refused else answer({"errcode": 0, "errmsg": "ok"})


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


def posted_json() -> tuple[Any, Response | None]:
    """The JSON body of a cgi-bin POST, or the error WeChat gives for one that is not JSON."""
    try:
        return json_body.loads(request.get_data() or b""), None
    except ValueError:
        return None, error(47001)
