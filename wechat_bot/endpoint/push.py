"""One verified push: its typed message and how it came in (plaintext, or sealed with which key)."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from wechatpy.messages import BaseMessage

from .. import defaults
from ..errors import BadPush
from ..logs import loggable
from .envelope import Opened, PushCrypto
from .messages import build_message, push_identity
from .signature import SignedQuery
from .xml_parser import parse_fields


@dataclass
class Push:
    msg: BaseMessage
    query: SignedQuery
    opened: Opened | None
    body_digest: str = ""
    tag: str = field(init=False)
    identity: str = field(init=False)

    def __post_init__(self) -> None:
        # The message alone names the push, whatever query it came with: WeChat may retry with a new nonce. Its
        # digest, as a hash tag, keeps every key of this push in one Redis Cluster slot.
        message = push_identity(self.msg)
        self.tag = hashlib.sha1(message.encode()).hexdigest()[:20]
        self.identity = f"{{{self.tag}}}:{message}"

    @property
    def source(self) -> str:
        """The sender's openid."""
        return self.msg._data["FromUserName"]

    @property
    def label(self) -> str:
        """The push's identity, for logs."""
        return loggable(self.identity, 160)

    @property
    def kind(self) -> str:
        """'text', 'image', … or 'event:subscribe', for logs."""
        if self.msg.type == "event":
            return loggable(f"event:{self.msg.event}")
        return loggable(self.msg._data["MsgType"].strip().lower())


# The envelope WeChat sends in safe mode, exactly: ASCII, no entity, no other field. What it matches is well-formed
# XML whose fields lxml would read the same; anything else (compatible mode's plaintext fields too) is parsed.
_SEALED = re.compile(rb"<xml>[ \t\n]*<ToUserName><!\[CDATA\[[A-Za-z0-9_-]{0,64}\]\]></ToUserName>[ \t\n]*"
                     rb"<Encrypt><!\[CDATA\[([A-Za-z0-9+/=]{1,%d})\]\]></Encrypt>[ \t\n]*</xml>[ \t\n]*"
                     % defaults.MAX_PUSH_BYTES)


def open_push(body: bytes, query: SignedQuery, crypto: PushCrypto | None) -> Push:
    """Parse the body (decrypting it in safe mode) into a Push; BadPush for anything that is not one."""
    sealed = _SEALED.fullmatch(body) if query.encrypted else None
    fields = {"Encrypt": sealed.group(1).decode()} if sealed else parse_fields(body)
    opened = None
    if query.encrypted:
        if crypto is None:
            raise BadPush(400, "encrypted push, but WECHAT_ENCODING_AES_KEY is not set")
        encrypt = fields.get("Encrypt")
        if not isinstance(encrypt, str) or not encrypt:
            raise BadPush(400, "Encrypt is missing")
        opened = crypto.open(encrypt, query)
        fields = parse_fields(opened.xml)
    return Push(build_message(fields), query, opened, hashlib.sha256(body).hexdigest()[:32])
