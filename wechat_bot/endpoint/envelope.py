"""Safe-mode envelopes: open an encrypted push and seal its reply, with key rotation.

The AES work is wechatpy's (`PrpCrypto`, `WeChatCrypto.encrypt_message`); this module adds what a server
facing the internet needs around it: a constant-time `msg_signature` check, strict base64 and block-size
checks before decrypting, every decryption failure mapped to a 4xx, and the previous EncodingAESKey tried
when the current one fails.
"""
from __future__ import annotations

import base64
import binascii
import secrets
import struct
from dataclasses import dataclass

from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException

from ..errors import BadPush
from .signature import SignedQuery, sign, signatures_match

_DECRYPT_FAILURES = (ValueError, struct.error, IndexError, InvalidAppIdException)
_MIN_CIPHERTEXT = 32  # 16 random bytes + 4 length bytes, padded to WeChat's 32-byte blocks


@dataclass
class Opened:
    xml: bytes
    key_index: int


class PushCrypto:
    """Opens and seals one account's safe-mode envelopes; holds no per-request state."""

    def __init__(self, token: str, appid: str, keys: list[str]) -> None:
        self._token, self._appid = token, appid
        self._ciphers = [_Cipher(WeChatCrypto(token, key, appid).key) for key in keys]  # built once, not a push

    def open(self, encrypt: str, query: SignedQuery) -> Opened:
        """Check msg_signature over Encrypt, then decrypt with the current key, else the previous one."""
        if not signatures_match(sign(self._token, query.timestamp, query.nonce, encrypt), query.msg_signature or ""):
            raise BadPush(403, "msg_signature does not match the Token and Encrypt")
        _check_ciphertext(encrypt)
        for index, cipher in enumerate(self._ciphers):
            try:
                text = cipher.decrypt(encrypt, self._appid)
            except _DECRYPT_FAILURES:
                continue
            return Opened(text.encode("utf-8"), index)
        raise BadPush(400, "Encrypt does not decrypt to this AppID's message with the current or previous key")

    def seal(self, xml: str, opened: Opened, query: SignedQuery) -> str:
        """The reply envelope, encrypted with the key the push came in with, signed over what is sent (the
        envelope wechatpy's WeChatCrypto.encrypt_message makes)."""
        encrypt = self._ciphers[opened.key_index].encrypt(xml, self._appid).decode()
        signature = sign(self._token, query.timestamp, query.nonce, encrypt)
        return _ENVELOPE.format(encrypt, signature, query.timestamp, query.nonce)


_ENVELOPE = ("<xml>\n<Encrypt><![CDATA[{}]]></Encrypt>\n<MsgSignature><![CDATA[{}]]></MsgSignature>\n"
             "<TimeStamp>{}</TimeStamp>\n<Nonce><![CDATA[{}]]></Nonce>\n</xml>")


class _Cipher(PrpCrypto):
    """wechatpy's AES for one key; its 16 leading random characters from `secrets`, not `random.sample`."""

    def get_random_string(self) -> str:
        return secrets.token_hex(8)


def _check_ciphertext(encrypt: str) -> None:
    try:
        raw = base64.b64decode(encrypt, validate=True)
    except (binascii.Error, ValueError):
        raise BadPush(400, "Encrypt is not valid base64") from None
    if len(raw) < _MIN_CIPHERTEXT or len(raw) % 16:
        raise BadPush(400, f"Encrypt is {len(raw)} bytes, not a whole number of AES blocks of a message")
