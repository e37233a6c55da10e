"""The sandbox's WeChat API, answering as WeChat does: HTTP 200, JSON served as text/plain with no charset,
errors as {"errcode", "errmsg"} with a `rid:` suffix, faults injected per path for tests.
"""
from __future__ import annotations

import json
import secrets
import time
from typing import Any

from flask import Blueprint, Response, current_app, request

from .store import SandboxStore

bp = Blueprint("sandbox_api", __name__)

ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
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
    40017: "invalid button type",
    40018: "invalid button name size",
    40055: "invalid button url domain",
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


@bp.before_request
def count_and_inject_faults():
    sandbox = store()
    sandbox.count(request.path)
    fault = sandbox.next_fault(request.path)
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


@bp.get("/sns/oauth2/access_token")
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


@bp.get("/sns/oauth2/refresh_token")
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


@bp.get("/sns/userinfo")
def userinfo():
    record, refused = _user_token()
    if refused:
        return refused
    if record["scope"] != "snsapi_userinfo":
        return error(48001)
    user = store().user(record["openid"])
    body = {"openid": user["openid"], "nickname": user["nickname"], "sex": 0, "province": "", "city": "",
            "country": "", "headimgurl": user["headimgurl"], "privilege": []}
    if user.get("unionid"):
        body["unionid"] = user["unionid"]
    return answer(body)


@bp.get("/sns/auth")
def check_token():
    record, refused = _user_token()
    return error(40003) if refused else answer({"errcode": 0, "errmsg": "ok"})


@bp.get("/cgi-bin/token")
def global_token():
    refused = _check_app(secret_needed=True)
    if refused:
        return refused
    if request.args.get("grant_type") != "client_credential":
        return error(40002)
    return answer(store().global_token(stable=False))


@bp.post("/cgi-bin/stable_token")
def stable_token():
    try:
        body = json.loads(request.get_data() or b"{}")
    except ValueError:
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


def _posted_json() -> tuple[Any, Response | None]:
    """The JSON body of a cgi-bin POST made with the account's access_token, or the error WeChat gives."""
    if not _account_token_valid():
        return None, error(40001)
    try:
        return json.loads(request.get_data() or b""), None
    except ValueError:
        return None, error(47001)


@bp.post("/cgi-bin/message/custom/send")
def custom_send():
    message, refused = _posted_json()
    if refused:
        return refused
    if not isinstance(message, dict) or not message.get("touser") or not message.get("msgtype"):
        return error(44002 if not message else 47001)
    store().record_sent(message)
    return answer({"errcode": 0, "errmsg": "ok"})


@bp.post("/cgi-bin/menu/create")
def create_menu():
    menu, refused = _posted_json()
    if refused:
        return refused
    buttons = menu.get("button") if isinstance(menu, dict) else None
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        return error(40017)
    for button in buttons:
        subs = button.get("sub_button", [])
        if len(str(button.get("name", "")).encode()) > 16 or len(subs) > 5:
            return error(40018)
        for sub in subs:
            if len(str(sub.get("name", "")).encode()) > 60:
                return error(40018)
        for item in [button, *subs]:
            if item.get("type") == "view" and not 0 < len(str(item.get("url", ""))) <= 1024:
                return error(40055)
    store().redis.set("wechat_sandbox:menu", json.dumps(menu, ensure_ascii=False))
    return answer({"errcode": 0, "errmsg": "ok"})


@bp.get("/cgi-bin/menu/get")
def get_menu():
    if not _account_token_valid():
        return error(40001)
    raw = store().redis.get("wechat_sandbox:menu")
    return answer({"menu": json.loads(raw)}) if raw else error(46003)
