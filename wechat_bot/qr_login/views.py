"""The pages of scan to sign in: the desktop's code and its status, and the phone's confirm page."""
from __future__ import annotations

import io
from typing import Any

import segno
from flask import Blueprint, current_app, jsonify, redirect, render_template, request, session, url_for
from markupsafe import Markup

from .. import defaults, errors, page_headers
from ..errors import WeChatBotError, WeChatError, WeChatUnavailable
from ..logs import loggable, logger
from ..oauth.links import safe_next
from ..oauth.pages import MESSAGES, message_page, render_icon
from ..oauth.signals import announce
from ..oauth.site_login import authorize_redirect, browser_binding, current_site_user, in_wechat, sign_in
from ..storage.connection import ERRORS as REDIS_ERRORS
from ..web.public_url import app_base, public_base_url
from ..web.rate_limit import RateLimit
from ..web.visitor import visitor_address
from .codes import QrCodes
from .computer import Computer, describe, same_network
from .desktop_sessions import DesktopSessions
from .handlers import site_name
from .notice import tell_the_user
from .scenes import QrScenes, Scene, china_clock, expired, shown_clock

bp = Blueprint("qr_login", __name__, template_folder="templates")
page_headers.init_app(bp)
bp.add_app_template_global(render_icon, "icon_svg")
errors.init_app(bp)
log = logger("wechat_bot.oauth")

SESSION_SCENE = "wechat_qr_scene"
SCOPE = "qrcode"
_POLL_MS = 1500


def _services():
    return current_app.extensions["wechat_bot"]


def _scenes() -> QrScenes:
    return QrScenes(_services().redis, _services().settings.account.appid)


class NoCode(WeChatBotError):
    """No code could be shown: `kind` names the message page."""

    def __init__(self, kind: str, status: int) -> None:
        super().__init__(kind)
        self.kind, self.status = kind, status


def shown_code(services, next_path: str | None, renew: bool = False) -> Scene:
    """This browser's live code, or a new one bound to it; NoCode when the visitor asked too often or WeChat
    refused."""
    browser = browser_binding(create=True)
    record = _shown_here(browser)
    if record is not None and not renew and record.state in ("pending", "scanned") and not expired(record):
        return record
    if not RateLimit(services.redis, services.settings.account.appid, "qr", limit=defaults.QR_RATE_LIMIT,
                     window=defaults.QR_RATE_WINDOW).allow(visitor_address(services.settings, request)):
        raise NoCode("too_many", 429)
    codes = QrCodes(services.redis, services.client, services.account_token, _scenes())
    computer = describe(request.headers.get("User-Agent", ""), visitor_address(services.settings, request),
                        services.settings.ip_db)
    try:
        record = codes.show(browser, next_path, computer)
    except (WeChatError, WeChatUnavailable) as error:
        log.warning("sign-in QR code not made: %s", loggable(str(error), 160))
        raise NoCode("wechat", 503) from None
    session[SESSION_SCENE] = record.scene
    return record


def qr_login(services, next_path: str | None = None) -> dict:
    """`wechat.qr_login()`: what a site's own template needs to show this browser's code; when no code can be shown
    (too many asked for, WeChat refused or unreachable), `error` says why in the page's words and the rest is None."""
    try:
        record = shown_code(services, safe_next(next_path))
    except NoCode as refused:
        _, title, text = MESSAGES[refused.kind]
        return {"svg": None, "chat_code": None, "url": None, "status_url": None, "expires_at": None,
                "page_url": url_for("qr_login.desktop", next=safe_next(next_path)), "error": f"{title}：{text}"}
    return {"svg": qr_svg(record.url) if record.url else None, "chat_code": record.chat_code or None,
            "url": record.url or None, "status_url": url_for("qr_login.status"),
            "page_url": url_for("qr_login.desktop", next=record.next or None), "expires_at": record.expires_at,
            "error": None}


@bp.get("/oauth/qr")
def desktop():
    """The desktop's sign-in page: a code bound to this browser (the same one on a refresh, while it lives); once
    the phone confirmed it, a refresh signs this browser in, as the status poll does, so it works without JS."""
    services = _services()
    if not request.args.get("new"):
        browser = browser_binding()
        finished = _finish(browser, _shown_here(browser))
        if finished is not None:
            return redirect(finished)
    try:
        record = shown_code(services, safe_next(request.args.get("next")), renew=bool(request.args.get("new")))
    except NoCode as refused:
        return message_page(refused.kind, refused.status)
    if request.args.get("new"):  # the new code made, a reload (刷新状态, F5) must not make another
        return redirect(url_for("qr_login.desktop", next=record.next or None))
    return render_template("qr_login/desktop.html", title="微信扫码登录", record=record, state=record.state,
                           qr_svg=qr_svg(record.url) if record.url else None, poll_ms=_POLL_MS,
                           account_name=services.settings.account_name,
                           status_url=url_for("qr_login.status"),
                           again_url=url_for("qr_login.desktop", next=record.next or None, new=1),
                           refresh_url=url_for("qr_login.desktop", next=record.next or None),
                           sandbox_scan=_sandbox_scan(record))


@bp.get("/oauth/qr/status")
def status():
    """This browser's code: pending, scanned, confirmed (this browser is signed in now) or expired; JSON whatever
    happens, for the page's script."""
    try:
        browser = browser_binding()
        record = _shown_here(browser)
        if record is None or expired(record):
            return jsonify(state="expired", next=None)
        if record.state == "confirmed":
            finished = _finish(browser, record)
            if finished is None:
                return jsonify(state="expired", next=None)
            return jsonify(state="confirmed", next=finished)
        if record.state == "cancelled":
            return jsonify(state="expired", next=None, cancelled=True)
        return jsonify(state=record.state, next=None)
    except REDIS_ERRORS as error:
        log.error("Redis unavailable on %s: %s", request.path, type(error).__name__)
        return jsonify(state=None, error="Redis unavailable: try again shortly"), 503
    except Exception as error:  # noqa: BLE001 - the page's script reads JSON, never a page
        log.exception("unexpected error on %s: %s", request.path, type(error).__name__)
        return jsonify(state=None, error="internal error"), 500


def _finish(browser: str | None, record: Scene | None) -> str | None:
    """Sign this browser in with the code it showed, once the phone confirmed it: where to go next, else None."""
    if browser is None or record is None or expired(record) or record.state != "confirmed":
        return None
    spent = _scenes().spend(record.scene, browser)
    if spent is None or spent.state != "confirmed":
        return None
    services, computer = _services(), Computer.from_dict(spent.computer)
    desktops = DesktopSessions(services.redis, services.settings.account.appid)
    sign_in(spent.openid, SCOPE, desktops.add(spent.openid, computer))
    session.pop(SESSION_SCENE, None)
    log.info("signed in by QR code: %s", loggable(spent.openid))
    tell_the_user(services, spent.openid, computer, spent.base + "/oauth/qr/sessions" if spent.base else None)
    announce(spent.openid, SCOPE, services.tokens.get(spent.openid), spent.next)
    return spent.next or "/"


@bp.get("/oauth/qr/confirm")
def confirm_page():
    """On the phone, from the link in chat: which site, since when, 确认登录 or 取消; for the WeChat user who
    scanned, known by a silent snsapi_base authorize the first time."""
    token = request.args.get("t", "")
    record = _confirmable(_scenes(), request.args.get("scene", ""), token)
    if record is None:
        return message_page("qr_expired", 404)
    if record.state != "scanned":
        return message_page("qr_used", 409)
    refusal = _as_the_scanner(record, ask=True)
    if refusal is not None:
        return refusal
    computer = Computer.from_dict(record.computer)
    phone = visitor_address(_services().settings, request) or ""
    return render_template("qr_login/confirm.html", title="确认登录", record=record, token=token,
                           site=site_name(public_base_url(_services().settings, request)),
                           shown=shown_clock(record), computer=computer.label(),
                           elsewhere=bool(computer.ip) and not same_network(computer.ip, phone))


@bp.post("/oauth/qr/confirm")
def confirm():
    scenes, scene, token = _scenes(), request.form.get("scene", ""), request.form.get("t", "")
    record = _confirmable(scenes, scene, token)
    if record is None:
        return message_page("qr_expired", 404)
    refusal = _as_the_scanner(record, ask=False)
    if refusal is not None:
        return refusal
    confirmed = request.form.get("decision") == "confirm"
    decided = scenes.decide(scene, record.openid, token, confirmed)
    if decided is None or decided.state != ("confirmed" if confirmed else "cancelled"):
        return message_page("qr_used", 409)
    return message_page("qr_confirmed" if confirmed else "qr_cancelled", 200)


@bp.get("/oauth/qr/sessions")
def sessions():
    """On the phone, from the notice in chat: the computers signed in as this user by scan, each with 退出."""
    services = _services()
    user = current_site_user(services)
    if user is None or user.scope == SCOPE:  # a phone signed in by WeChat, never a browser signed in by scan
        return _ask_the_phone(services)
    openid = user.openid
    listed = DesktopSessions(services.redis, services.settings.account.appid).list(openid)
    return render_template("qr_login/sessions.html", title="已登录的电脑", sessions=listed,
                           ended=request.args.get("ended"), clock=china_clock)


@bp.post("/oauth/qr/sessions/end")
def end_session():
    services = _services()
    user = current_site_user(services)
    if user is None or user.scope == SCOPE:
        log.warning("desktop sign-out refused: not from a phone signed in by WeChat")
        return message_page("open_in_wechat", 403)
    desktops = DesktopSessions(services.redis, services.settings.account.appid)
    ended = desktops.end(user.openid, request.form.get("sid", ""))
    if ended:
        log.info("desktop signed out from the phone by %s", loggable(user.openid))
    return redirect(url_for("qr_login.sessions", ended=1 if ended else None))


def _ask_the_phone(services):
    """The sessions page is for the phone: WeChat's authorize says who it is (a browser signed in by scan, which may
    be the very computer to throw out, is asked like anyone else)."""
    return authorize_redirect(services, "snsapi_base", url_for("qr_login.sessions"))


def qr_svg(content: str) -> Markup:
    """The QR code as inline SVG, drawn here: no outside image on the page."""
    out = io.BytesIO()
    segno.make(content, error="m").save(out, kind="svg", scale=6, border=2, xmldecl=False, svgns=True,
                                        svgclass="qr", title="微信扫码登录")
    return Markup(out.getvalue().decode())


def _confirmable(scenes: QrScenes, scene: str, token: str) -> Scene | None:
    """The live scene the confirm link's token belongs to, else None."""
    record = scenes.get(scene)
    return None if record is None or expired(record) or not token or record.confirm != token else record


def _as_the_scanner(record: Scene, ask: bool):
    """None when this phone's browser is signed in as the WeChat user who scanned; else, on the confirm page
    (`ask`), the silent authorize that says who it is (once), or why it cannot be confirmed here.

    A chat code's link is bound by its token alone: the accounts that show chat codes (a 订阅号, an unverified
    account) have no web authorization, and the link went to the chat of the user who sent the code."""
    if record.kind == "chat":
        return None
    services = _services()
    user = current_site_user(services)
    if user is not None and user.openid == record.openid:
        return None
    if not ask or request.args.get(_ASKED):
        log.warning("QR sign-in confirm refused: the phone is not the scanner's WeChat")
        return message_page("qr_not_scanner", 403)
    if not in_wechat() and not services.sandboxed:
        return message_page("open_in_wechat", 403)
    asked: dict[str, Any] = {_ASKED: 1}
    back = url_for("qr_login.confirm_page", scene=record.scene, t=request.args.get("t", ""), **asked)
    links = services.links(app_base(services.settings, request))
    browser = browser_binding(create=True)
    reused = _scenes().who_state(record.scene, browser)
    if reused and services.states.live(reused):  # one live state per scene and phone, however often it is opened
        return redirect(links.for_state("snsapi_base", reused))
    if not services.login_limit().allow(visitor_address(services.settings, request)):
        return message_page("too_many", 429)
    state, link = links.with_state("snsapi_base", None, back, browser)
    _scenes().remember_who_state(record, browser, state)
    return redirect(link)


_ASKED = "who"  # the confirm page came back from the authorize that says who the phone is


def _shown_here(browser: str | None) -> Scene | None:
    scene = session.get(SESSION_SCENE)
    record = _scenes().get(scene) if scene and browser else None
    return record if record is not None and record.browser == browser else None


def _sandbox_scan(record: Scene) -> str | None:
    if not _services().sandboxed or not record.url:
        return None
    return url_for("sandbox_console.chat", scan=record.url)
