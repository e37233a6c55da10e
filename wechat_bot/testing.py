"""Test a site that uses WeChatBot, the way Flask's test client tests its pages.

    app.config["TESTING"] = True                 # with no credentials: the sandbox account, in process
    user = WeChatUser(app, openid="oTEST")
    reply = user.send("登录")                      # signed (and encrypted) as WeChat pushes it
    page = user.open(reply.links[0])              # the sandbox's authorize page → callback → the landing page
    user.client.get("/account")                   # Flask's test client, signed in as that user
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from wechatpy.replies import ArticlesReply, BaseReply, TextReply, deserialize_reply
from werkzeug.test import TestResponse

from .oauth.site_login import OPENID, SCOPE
from .sandbox.authorize import USER_COOKIE
from .sandbox.push_client import WeChat, flask_transport

_LINK = re.compile(r"""<a\s[^>]*href=["']([^"']+)["']""")


@dataclass
class ChatReply:
    """What the user saw for one push: `text` (a text reply's content), `links` (its <a href>s), `xml`, and `reply`,
    wechatpy's reply object (None for `success` or an empty answer)."""

    status: int
    xml: str
    reply: BaseReply | None

    @property
    def text(self) -> str:
        """A text reply's content ('' for any other reply)."""
        return self.reply.content if isinstance(self.reply, TextReply) else ""

    @property
    def links(self) -> list[str]:
        """The `<a href>` links in a text reply."""
        return _LINK.findall(self.text)


class WeChatUser:
    """One WeChat user chatting with the app's account and opening its pages, through Flask's test client."""

    def __init__(self, app: Flask, openid: str = "oTESTUSER", *, nickname: str | None = None,
                 following: bool = True) -> None:
        """`following`: the user follows the account already (False: a stranger, until `follow()` or `scan()`)."""
        services = app.extensions["wechat_bot"]
        settings = services.settings
        self.app, self.openid = app, openid
        self.client: FlaskClient = app.test_client()
        self._wechat = WeChat(flask_transport(self.client), settings.account.token, settings.account.appid,
                              aes_key=settings.aes_key, openid=openid, path=settings.url_prefix + "/wechat")
        self._wechat.encrypted = settings.refuses_plaintext
        self._sandbox = app.extensions.get("wechat_sandbox")
        if self._sandbox is not None:
            if nickname or not self._sandbox.known(openid):
                self._sandbox.save_user(openid, nickname=nickname)
            if following:
                self._sandbox.follows(openid)
            self.client.set_cookie(USER_COOKIE, openid)

    # -- the chat ----------------------------------------------------------------------------------------------
    def send(self, text: str) -> ChatReply:
        """Send a text message; the reply the user sees."""
        return self._push("text", Content=text)

    def follow(self) -> ChatReply:
        """Follow the account (`subscribe`); the reply the user sees."""
        return self._push("event", Event="subscribe", EventKey="")

    def unfollow(self) -> ChatReply:
        """Unfollow the account (`unsubscribe`); the reply the user sees."""
        return self._push("event", Event="unsubscribe")

    def click(self, key: str) -> ChatReply:
        """A tap on a menu CLICK button with this key."""
        return self._push("event", Event="CLICK", EventKey=key)

    def location(self, x: float, y: float, label: str = "") -> ChatReply:
        """A location sent in chat: latitude `x`, longitude `y`."""
        return self._push("location", Location_X=str(x), Location_Y=str(y), Scale="15", Label=label)

    def scan(self, code_url: str) -> ChatReply:
        """Scanning one of the account's parametric QR codes (the `url` qrcode/create gave): SCAN for a follower,
        subscribe with its scene for anyone else."""
        if self._sandbox is None:
            raise RuntimeError("scan() needs the sandbox: the app has WeChat credentials")
        from .sandbox import qrcodes

        with self.app.app_context():
            fields = qrcodes.scan_fields(self.openid, code_url)
        if fields is None:
            raise ValueError(f"{code_url}: not a live QR code of this sandbox")
        return self._push("event", **fields)

    def _push(self, msg_type: str, **fields: Any) -> ChatReply:
        if self._sandbox is not None:
            from .sandbox.follower_state import scene_of

            self._sandbox.pushed(self.openid, msg_type, fields.get("Event", ""), scene_of(fields))
        answer = self._wechat.deliver(self._wechat.fields(msg_type, **fields))
        xml = answer.plain.decode("utf-8")
        return ChatReply(answer.status, xml, _reply_of(xml) if answer.fields else None)

    # -- what arrived besides the replies ------------------------------------------------------------------
    def messages(self) -> list[dict[str, Any]]:
        """The customer-service messages the account sent this user (late replies, the rest of long texts)."""
        return self._sandbox.sent(self.openid) if self._sandbox is not None else []

    def templates(self) -> list[dict[str, Any]]:
        """The template messages the account sent this user."""
        return self._sandbox.templates_sent(self.openid) if self._sandbox is not None else []

    # -- the pages ------------------------------------------------------------------------------------------
    def open(self, link: str, *, allow: bool = True) -> TestResponse:
        """Follow a link as the user's WeChat browser: an authorize link (from the chat, or a page's redirect) through
        the sandbox's authorize page (consent given, unless `allow` is False) and the site's callback, to the page it
        lands on. An authorization the user gave signs `user.client` in as them, as their phone's browser is."""
        response = self._follow(self.client.get(_local(link), follow_redirects=True), allow)
        if "/connect/oauth2/authorize" in link:
            self._sign_in()
        return response

    def _follow(self, response: TestResponse, allow: bool) -> TestResponse:
        consent = re.search(rb'<form[^>]*action="([^"]*/connect/oauth2/authorize/confirm)"', response.data)
        if consent is None:
            return response
        form = re.findall(rb'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', response.data)
        fields = {name.decode(): html.unescape(value.decode()) for name, value in form}
        fields["decision"] = "allow" if allow else "deny"
        return self.client.post(consent.group(1).decode(), data=fields, follow_redirects=True)

    def _sign_in(self) -> None:
        record = self.app.extensions["wechat_bot"].tokens.get(self.openid)
        if record is None:
            return
        with self.client.session_transaction() as session:
            session[OPENID], session[SCOPE] = self.openid, record.scope


def _reply_of(xml: str) -> BaseReply:
    """wechatpy's reply object for the XML (its own reader fails on a news reply of one article)."""
    root = etree.fromstring(xml.encode("utf-8"))
    if root.findtext("MsgType") != "news":
        return deserialize_reply(xml)
    articles = [{"title": item.findtext("Title") or "", "description": item.findtext("Description") or "",
                 "image": item.findtext("PicUrl") or "", "url": item.findtext("Url") or ""}
                for item in root.iter("item")]
    return ArticlesReply(source=root.findtext("FromUserName"), target=root.findtext("ToUserName"), articles=articles)


def _local(link: str) -> str:
    """The path and query of a link (the test client serves every origin); its #fragment dropped."""
    parts = urlsplit(link)
    return parts.path + (f"?{parts.query}" if parts.query else "")
