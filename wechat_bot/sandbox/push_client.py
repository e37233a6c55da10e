"""WeChat's push side for tests: builds, signs (and in safe mode encrypts) pushes as WeChat does, reads replies;
over any transport (a Flask test client, or HTTP). `wechat_bot.testing.WeChatUser` and our own tests use it."""
from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from lxml import etree
from wechatpy.crypto import WeChatCrypto

from ..endpoint.signature import sign
from .pusher import push_xml, seal

_ids = itertools.count(int(time.time() * 1000) * 1000)

Transport = Callable[[str, str, bytes], "tuple[int, bytes]"]


@dataclass
class Reply:
    status: int
    body: bytes
    fields: dict = field(default_factory=dict)
    plain: bytes = b""  # the reply's XML, decrypted in safe mode

    @property
    def content(self) -> str:
        return self.fields.get("Content", "")

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class WeChat:
    """Pushes for one account, as the user `openid`, over any transport (Flask test client or HTTP)."""

    def __init__(self, transport: Transport, token: str, appid: str, aes_key: str | None = None,
                 openid: str = "o_alice", account: str = "gh_test", path: str = "/wechat") -> None:
        self.transport, self.token, self.appid, self.aes_key = transport, token, appid, aes_key
        self.openid, self.account, self.path = openid, account, path
        self.encrypted = False

    def query(self, timestamp: int | None = None, nonce: str | None = None, **extra: str) -> dict:
        timestamp_s = str(timestamp if timestamp is not None else int(time.time()))
        nonce = nonce or str(next(_ids) % 10**9)
        query = {"signature": sign(self.token, timestamp_s, nonce), "timestamp": timestamp_s, "nonce": nonce,
                 "openid": self.openid, **extra}
        return query

    def fields(self, msg_type: str, **extra) -> dict:
        base = {"ToUserName": self.account, "FromUserName": self.openid, "CreateTime": int(time.time()),
                "MsgType": msg_type}
        if msg_type != "event" and "MsgId" not in extra:
            base["MsgId"] = next(_ids)
        return {**base, **extra}

    def deliver(self, fields: dict | str | bytes, query: dict | None = None, encrypted: bool | None = None,
                crypto_key: str | None = None) -> Reply:
        """Post one delivery; returns the reply, decrypted and parsed when it is XML."""
        query = dict(query if query is not None else self.query())
        body = fields if isinstance(fields, (str, bytes)) else push_xml(fields)
        body = body.encode() if isinstance(body, str) else body
        if encrypted if encrypted is not None else self.encrypted:
            key = crypto_key or self.aes_key
            if key is None:
                raise ValueError("an encrypted delivery needs the account's EncodingAESKey (aes_key or crypto_key)")
            body, query = self.seal(body, query, key)
        status, raw = self.transport("POST", self.path + "?" + urlencode(query), body)
        return self.read(status, raw, query)

    def seal(self, body: bytes, query: dict, key: str) -> tuple[bytes, dict]:
        outer, query = seal(self.token, key, self.appid, self.account, body.decode(), query)
        return outer.encode(), query

    def read(self, status: int, raw: bytes, query: dict) -> Reply:
        reply = Reply(status, raw, plain=raw)
        if status == 200 and raw.startswith(b"<"):
            root = etree.fromstring(raw)
            if root.find("Encrypt") is not None:
                if root.findtext("MsgSignature") != sign(
                        self.token, root.findtext("TimeStamp"), root.findtext("Nonce"), root.findtext("Encrypt")):
                    raise AssertionError("reply envelope signature does not verify")
                plain = WeChatCrypto(self.token, self.aes_key, self.appid).decrypt_message(
                    {"Encrypt": root.findtext("Encrypt")}, root.findtext("MsgSignature"),
                    root.findtext("TimeStamp"), root.findtext("Nonce"))
                root = etree.fromstring(plain.encode())
                reply.plain = plain.encode()
            reply.fields = {child.tag: (child.text or "") for child in root}
        return reply

    def says(self, text: str, **extra) -> Reply:
        return self.deliver(self.fields("text", Content=text, **extra))

    def event(self, name: str, key: str | None = None, **extra) -> Reply:
        fields = self.fields("event", Event=name, **extra)
        if key is not None:
            fields["EventKey"] = key
        return self.deliver(fields)


def flask_transport(client) -> Transport:
    def send(method: str, path: str, body: bytes) -> tuple[int, bytes]:
        response = client.open(path, method=method, data=body, content_type="text/xml")
        try:
            return response.status_code, response.get_data()
        finally:
            response.close()  # as a server does once the body is sent (what waits for it runs then)
    return send


def http_transport(base_url: str, timeout: float = 10) -> Transport:
    import requests

    def send(method: str, path: str, body: bytes) -> tuple[int, bytes]:
        response = requests.request(method, base_url + path, data=body, timeout=timeout,
                                    headers={"Content-Type": "text/xml"})
        return response.status_code, response.content
    return send
