"""Who is signed in to this browser, and sending a visitor who is not through WeChat's authorize page.

The callback signs the browser in by putting the openid and scope in the session cookie, under names of
our own so the site's session keys stay the site's.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, overload

from flask import g, redirect, request, session, url_for
from werkzeug.wrappers import Response

from ..web.public_url import app_base
from ..web.visitor import visitor_address
from .pages import message_page

if TYPE_CHECKING:
    from ..services import Services

OPENID, SCOPE, BROWSER = "wechat_openid", "wechat_scope", "wechat_browser"
DESKTOP = "wechat_desktop"  # a browser signed in by scan: its entry in the user's desktop sessions


@dataclass(frozen=True)
class SiteUser:
    openid: str
    scope: str
    nickname: str = ""
    headimgurl: str = ""

    def has_scope(self, scope: str) -> bool:
        return scope in self.scope.split(",")


def sign_in(openid: str, scope: str, desktop: str | None = None) -> None:
    session[OPENID], session[SCOPE] = openid, scope
    if desktop:
        session[DESKTOP] = desktop
    else:
        session.pop(DESKTOP, None)


def sign_out() -> None:
    for name in (OPENID, SCOPE, DESKTOP):
        session.pop(name, None)


@overload
def browser_binding(create: Literal[True]) -> str: ...


@overload
def browser_binding(create: bool = False) -> str | None: ...


def browser_binding(create: bool = False) -> str | None:
    """The digest of this browser's id (kept in its session cookie), which a flow started here is bound to,
    so a callback opened in another browser signs nobody in there."""
    browser_id = session.get(BROWSER)
    if browser_id is None and create:
        browser_id = session[BROWSER] = secrets.token_hex(16)
    return hashlib.sha256(browser_id.encode()).hexdigest()[:32] if browser_id else None


def current_site_user(services: Services) -> SiteUser | None:
    if "wechat_bot_user" not in g:
        openid = session.get(OPENID)
        user = None
        if openid and session.get(DESKTOP) and not _desktop_alive(services, openid, session[DESKTOP]):
            sign_out()  # signed out from the phone
            openid = None
        if openid:
            record = services.tokens.get(openid)
            user = SiteUser(openid, session.get(SCOPE, ""), record.nickname if record else "",
                            record.headimgurl if record else "")
        g.wechat_bot_user = user
    return g.wechat_bot_user


def _desktop_alive(services: Services, openid: str, sid: str) -> bool:
    from ..qr_login.desktop_sessions import DesktopSessions

    return DesktopSessions(services.redis, services.settings.account.appid).alive(openid, sid)


def _has_scope(services: Services, user: SiteUser, scope: str) -> bool:
    """snsapi_base: anyone signed in. Another scope: the one signed in with, or, signed in by QR code (a desktop,
    which cannot give consent), one the user gave on the phone earlier, which their stored tokens carry."""
    if scope == "snsapi_base" or user.has_scope(scope):
        return True
    record = services.tokens.get(user.openid) if user.has_scope("qrcode") else None
    return record is not None and record.has_scope(scope)


def in_wechat() -> bool:
    """WeChat's in-app browser says MicroMessenger in its User-Agent."""
    return "micromessenger" in request.headers.get("User-Agent", "").lower()


def require_login(services: Services, scope: str) -> Response | tuple | None:
    """None when the visitor is signed in with `scope`; else where to send them (the authorize page, or a page
    saying to open the link in WeChat)."""
    user = current_site_user(services)
    if user is not None and _has_scope(services, user, scope):
        return None
    next_path = request.script_root + request.full_path.rstrip("?")
    if not in_wechat() and not services.sandboxed and services.settings.qr_login and user is None:
        return redirect(url_for("qr_login.desktop", next=next_path))  # a desktop: sign in by scanning the QR code
    return authorize_redirect(services, scope, next_path)


def authorize_redirect(services: Services, scope: str, next_path: str) -> Response | tuple:
    """To WeChat's authorize page for `scope`, back to `next_path` in this browser: only from WeChat's browser (or
    with the sandbox), within the sign-in rate limit."""
    if not in_wechat() and not services.sandboxed:
        return message_page("open_in_wechat", 403)
    if not services.login_limit().allow(visitor_address(services.settings, request)):
        return message_page("too_many", 429)
    links = services.links(app_base(services.settings, request))
    return redirect(links.for_scope(scope, None, next_path, browser_binding(create=True)))
