"""The sandbox's authorize page: who the phone's WeChat user is, silent snsapi_base, consent for userinfo."""
from __future__ import annotations

import re
import secrets
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from .. import page_headers
from ..oauth.pages import render_icon
from .api import store

bp = Blueprint("sandbox_authorize", __name__, template_folder="templates")
page_headers.init_app(bp, referrer="same-origin")
bp.add_app_template_global(render_icon, "icon_svg")

USER_COOKIE = "wx_openid"
_STATE = re.compile(r"[A-Za-z0-9]{0,128}")
_OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")
SCOPES = ("snsapi_base", "snsapi_userinfo")


def _refusal(code: int, text: str) -> tuple[str, int]:
    """WeChat's own error page: a number and a sentence, no way on."""
    return render_template("sandbox/message.html", title=f"错误码 {code}", text=text), 400


def _checked(params) -> tuple[dict | None, tuple[str, int] | None]:
    if params.get("appid") != store().appid:
        return None, _refusal(10016, "appid 参数错误")
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_uri:
        return None, _refusal(10011, "redirect_uri 参数错误")
    try:
        parts = urlsplit(redirect_uri)
        parts.port  # noqa: B018 - a port that is not a number raises here, as an unclosed [ does above
    except ValueError:
        return None, _refusal(10011, "redirect_uri 参数错误")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None, _refusal(10003, "redirect_uri 域名与后台配置不一致")
    if params.get("response_type") != "code":
        return None, _refusal(10004, "response_type 参数错误")
    if params.get("scope") not in SCOPES:
        return None, _refusal(10005, "此公众号并没有这些scope的权限")
    if not _STATE.fullmatch(params.get("state", "")):
        return None, _refusal(10013, "state 参数错误：只能是 a-zA-Z0-9，最多 128 字节")
    return {name: params.get(name, "") for name in ("appid", "redirect_uri", "response_type", "scope", "state")}, None


def back_to(redirect_uri: str, **params: str) -> str:
    joiner = "&" if urlsplit(redirect_uri).query else "?"
    return redirect_uri + joiner + urlencode(params)


def _current_user() -> str | None:
    """The WeChat user of this browser, as chosen on the pick-user page (or set by the chat page)."""
    openid = request.cookies.get(USER_COOKIE, "")
    return openid if _OPENID.fullmatch(openid) else None


def _with_code(link: dict, openid: str) -> ResponseReturnValue:
    """Back to the redirect_uri with a fresh code for this user and scope, and the state unchanged."""
    code = store().issue_code(openid, link["scope"])
    return redirect(back_to(link["redirect_uri"], code=code, state=link["state"]))


@bp.get("/connect/oauth2/authorize")
def authorize():
    link, refused = _checked(request.args)
    if link is None:  # refused
        return refused
    openid = _current_user()
    if openid is None:
        return render_template("sandbox/pick_user.html", back=request.script_root + request.full_path,
                               suggestion="o" + secrets.token_hex(13)), 200
    if link["scope"] == "snsapi_base":
        return _with_code(link, openid)
    return render_template("sandbox/consent.html", link=link, user=store().user(openid))


@bp.post("/connect/oauth2/authorize/confirm")
def confirm():
    from .console import same_origin

    if not same_origin():
        return _refusal(10006, "跨站请求已拒绝")
    link, refused = _checked(request.form)
    if link is None:  # refused
        return refused
    openid = _current_user()
    if openid is None:
        return _refusal(10006, "请先选择微信用户")
    if request.form.get("decision") == "allow":
        return _with_code(link, openid)
    if store().config().deny_redirects:
        return redirect(back_to(link["redirect_uri"], state=link["state"]))
    return render_template("sandbox/message.html", title="已拒绝", text="你拒绝了授权。"), 200


@bp.post("/connect/oauth2/authorize/as")
def act_as() -> ResponseReturnValue:
    """Be this WeChat user in this browser, then go back to the authorize link. A POST from a page of this origin
    only: a link elsewhere cannot make the developer's browser somebody else."""
    from .console import same_origin

    if not same_origin():
        return _refusal(10006, "跨站请求已拒绝")
    openid, back = request.form.get("openid", ""), request.form.get("back", "")
    if not _OPENID.fullmatch(openid) or not back.startswith(url_for("sandbox_authorize.authorize") + "?"):
        return _refusal(10006, "openid 只能是字母、数字、- 和 _")
    nickname = request.form.get("nickname", "").strip()[:32]
    if nickname:
        store().save_user(openid, nickname=nickname)
    response = make_response(redirect(back))
    response.set_cookie(USER_COOKIE, openid, httponly=True, samesite="Lax")
    return response
