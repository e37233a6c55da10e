"""Signed pushes as WeChat sends them, written ahead of a run for wrk to replay (wrk's Lua has no SHA-1).

Every push has its own nonce (so its own signature), its own MsgId, and comes from one of 97 senders; in safe
mode it is encrypted on its own, with its own msg_signature. One push a line: `path?query<TAB>body`.
"""
from __future__ import annotations

import base64
import hashlib
import itertools
import random
import time
from pathlib import Path
from urllib.parse import urlencode

TOKEN, APPID = "benchtoken", "wx0123456789abcdef"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SENDERS = ["o" + base64.urlsafe_b64encode(hashlib.sha1(f"bench{n}".encode()).digest()).decode()[:27]
           for n in range(97)]
TEXT = ("<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[{sender}]]></FromUserName>"
        "<CreateTime>{time}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[登录]]></Content>"
        "<MsgId>{msg_id}</MsgId></xml>")
SEALED = "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"

# MsgIds never repeat within a process, nor across runs a second apart.
_msg_ids = itertools.count(int(time.time()) * 10**9)
_nonces = random.Random()


def sign(*values: str) -> str:
    return hashlib.sha1("".join(sorted(values)).encode()).hexdigest()


def one(sequence: int, *, safe: bool, crypto=None) -> tuple[str, str]:
    """One push: its path with the signed query, and its body."""
    sender, now, nonce = SENDERS[sequence % len(SENDERS)], str(int(time.time())), str(_nonces.getrandbits(40))
    xml = TEXT.format(sender=sender, time=now, msg_id=next(_msg_ids))
    query = {"signature": sign(TOKEN, now, nonce), "timestamp": now, "nonce": nonce, "openid": sender}
    if not safe:
        return f"/wechat?{urlencode(query)}", xml
    encrypt = crypto.encrypt(xml)
    query.update(encrypt_type="aes", msg_signature=sign(TOKEN, now, nonce, encrypt))
    return f"/wechat?{urlencode(query)}", SEALED.format(encrypt=encrypt)


def write(path: Path, count: int, *, safe: bool) -> Path:
    """`count` pushes, each signed (and in safe mode sealed) on its own, timestamped now."""
    crypto = sealer() if safe else None
    with path.open("w", encoding="utf-8") as out:
        for n in range(count):
            target, body = one(n, safe=safe, crypto=crypto)
            out.write(f"{target}\t{body}\n")
    return path


def sealer():
    """Encrypts a push as WeChat does in safe mode, with the benchmark's AES key."""
    from wechatpy.crypto import PrpCrypto

    class Sealer:
        key = base64.b64decode(AES_KEY + "=")

        def encrypt(self, xml: str) -> str:
            sealed = PrpCrypto(self.key).encrypt(xml, APPID)
            return sealed.decode() if isinstance(sealed, bytes) else sealed

    return Sealer()
