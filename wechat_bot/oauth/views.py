"""The OAuth pages: the callback WeChat sends the phone to, the result page, and a login entry for the site."""
from __future__ import annotations

import time

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from .. import errors, page_headers
from ..logs import loggable, logger
from ..metrics.registry import metrics
from ..web.public_url import app_base
from ..web.visitor import visitor_address
from .callback import CallbackRefused
from .pages import message_page, render_icon
from .signals import announce
from .site_login import browser_binding, sign_in

bp = Blueprint("oauth", __name__, template_folder="../templates")
page_headers.init_app(bp)
bp.add_app_template_global(render_icon, "icon_svg")
errors.init_app(bp)
log = logger("wechat_bot.oauth")

# The callbacks metric's result for each way a callback is refused (a refused code is labelled by WeChat's errcode).
CALLBACK_RESULTS = {"state": "bad_state", "denied": "denied", "code": "bad_code", "busy": "busy",
                    "other_browser": "other_browser", "snapshot": "snapshot", "wechat": "wechat_unavailable"}

# How long WeChat's second call with the same code waits for the first to finish.
REPEAT_WAIT = 10.0


def _services():
    return current_app.extensions["wechat_bot"]


@bp.get("/oauth/callback")
def callback():
    try:
        done = _services().callback.complete(request.args.get("code"), request.args.get("state"),
                                             until=time.monotonic() + REPEAT_WAIT, browser=browser_binding())
    except CallbackRefused as refused:
        result = errors.errcode_label(refused.errcode) if refused.errcode else CALLBACK_RESULTS[refused.kind]
        metrics().callbacks.labels(result).inc()
        return message_page(refused.kind, refused.status)
    metrics().callbacks.labels("authorized" if done.first else "repeat").inc()
    if done.signs_in:  # a link sent in chat stores the tokens but signs no browser in (see README: Security)
        sign_in(done.openid, done.scope)
    if done.first:
        announce(done.openid, done.scope, done.record, done.next_path)
    return redirect(done.next_path or url_for("oauth.result", ticket=done.ticket))


@bp.get("/oauth/result/<ticket>")
def result(ticket: str):
    found = _services().results.load(ticket)
    if found is None:
        return message_page("expired", 404)
    title = "授权成功" if found.get("nickname") else "登录成功"
    chat = url_for("sandbox_console.chat") if current_app.extensions["wechat_bot"].sandboxed else None
    return render_template("oauth/result.html", title=title, result=found, chat_url=chat)


@bp.get("/oauth/login")
def login():
    """Send a phone to the authorize page, then back to `next` (an in-site path) signed in."""
    scope = "snsapi_userinfo" if request.args.get("scope") in ("userinfo", "snsapi_userinfo") else "snsapi_base"
    services = _services()
    if not services.login_limit().allow(visitor_address(services.settings, request)):
        log.warning("login refused: client %s started too many authorize flows",
                    loggable(visitor_address(services.settings, request)))
        return message_page("too_many", 429)
    links = services.links(app_base(services.settings, request))
    return redirect(links.for_scope(scope, None, request.args.get("next"), browser_binding(create=True)))
