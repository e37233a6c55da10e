"""WeChat's push side, for the chat page: build the push as WeChat would, sign it (and encrypt it in safe
mode), post it to /wechat over HTTP, and deliver it again on a timeout or a non-200, as WeChat does."""
from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import requests
from lxml import etree
from wechatpy.crypto import WeChatCrypto

from ..endpoint.signature import sign

WINDOW = 5.0  # WeChat gives up on a delivery after 5 s
RETRIES = 3  # then delivers it again up to three times, with the identical query string


def cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def push_xml(fields: dict[str, Any]) -> str:
    """`<xml>` with each field as WeChat writes it: numbers bare, text in CDATA."""
    parts = [f"<{name}>{value if isinstance(value, int) else cdata(str(value))}</{name}>"
             for name, value in fields.items()]
    return "<xml>" + "".join(parts) + "</xml>"


def seal(token: str, aes_key: str, appid: str, account: str, xml: str, query: dict[str, str]) -> tuple[str, dict]:
    """The push in safe mode: its XML encrypted into WeChat's envelope, and the query with msg_signature."""
    sealed = WeChatCrypto(token, aes_key, appid).encrypt_message(xml, query["nonce"], query["timestamp"])
    encrypt = etree.fromstring(sealed.encode()).findtext("Encrypt")
    body = f"<xml><ToUserName>{cdata(account)}</ToUserName><Encrypt>{cdata(encrypt)}</Encrypt></xml>"
    return body, {**query, "encrypt_type": "aes",
                  "msg_signature": sign(token, query["timestamp"], query["nonce"], encrypt)}


@dataclass
class Delivery:
    attempt: int
    status: int | None
    ms: float
    outcome: str


@dataclass
class Exchange:
    request_xml: str
    sent_body: str
    reply_body: str = ""
    reply: dict[str, Any] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "deliveries": [asdict(d) for d in self.deliveries]}


class Pusher:
    def __init__(self, token: str, appid: str, aes_key: str | None, account: str = "gh_sandbox") -> None:
        self.token, self.appid, self.aes_key, self.account = token, appid, aes_key, account

    def push(self, endpoint: str, openid: str, msg_type: str, encrypted: bool = False, **fields: Any) -> Exchange:
        """Post to `endpoint` (the server's /wechat URL) as WeChat would."""
        envelope = {"ToUserName": self.account, "FromUserName": openid, "CreateTime": int(time.time()),
                    "MsgType": msg_type, **fields}
        if msg_type != "event":
            envelope["MsgId"] = int(time.time() * 1000) * 1000 + secrets.randbelow(1000)
        xml = push_xml(envelope)
        timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**9))
        query = {"signature": sign(self.token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
                 "openid": openid}
        body = xml
        if encrypted and self.aes_key:
            body, query = seal(self.token, self.aes_key, self.appid, self.account, xml, query)
        exchange = Exchange(request_xml=xml, sent_body=body)
        self._deliver(endpoint, exchange, query)
        return exchange

    def _deliver(self, endpoint: str, exchange: Exchange, query: dict[str, str]) -> None:
        for attempt in range(1, RETRIES + 2):
            started = time.perf_counter()
            try:
                response = requests.post(endpoint, params=query, data=exchange.sent_body.encode(),
                                         headers={"Content-Type": "text/xml"}, timeout=WINDOW)
            except requests.Timeout:
                exchange.deliveries.append(Delivery(attempt, None, (time.perf_counter() - started) * 1000, "超时"))
                continue
            except requests.ConnectionError:
                exchange.deliveries.append(Delivery(attempt, None, (time.perf_counter() - started) * 1000,
                                                    "连接被拒绝"))
                continue
            ms = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                exchange.deliveries.append(Delivery(attempt, response.status_code, ms, "不是 200，将重试"))
                continue
            exchange.deliveries.append(Delivery(attempt, 200, ms, "已应答"))
            exchange.reply_body = response.content.decode("utf-8", "replace")
            exchange.reply = self._read(response.content)
            return

    def _read(self, body: bytes) -> dict[str, Any]:
        if not body.startswith(b"<"):
            return {"MsgType": "success" if body == b"success" else "empty"}
        root = etree.fromstring(body)
        encrypt = root.findtext("Encrypt")
        if encrypt is not None and self.aes_key:
            plain = WeChatCrypto(self.token, self.aes_key, self.appid).decrypt_message(
                {"Encrypt": encrypt}, root.findtext("MsgSignature"), root.findtext("TimeStamp"),
                root.findtext("Nonce"))
            root = etree.fromstring(plain.encode())
        return {child.tag: _element(child) for child in root}


def _element(node: Any) -> Any:
    """A reply element: its text, or its children (a list for <item>s, as a news reply's Articles holds)."""
    if len(node) == 0:
        return node.text or ""
    if all(child.tag == "item" for child in node):
        return [_element(child) for child in node]
    return {child.tag: _element(child) for child in node}
