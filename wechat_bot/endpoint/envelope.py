"""Safe-mode envelopes: open an encrypted push and seal its reply, with key rotation.

The AES is wechatpy's (`WeChatCipher`: AES-256-CBC on `cryptography`, the key's first 16 bytes as IV); the
message's framing around it (16 random bytes, the length, the XML, the AppID, PKCS#7 to 32 bytes) is done here
on bytes, the envelope wechatpy's `WeChatCrypto.encrypt_message` makes, in a third of the calls (tests check both
against WeChat's worked example and against wechatpy). Around it, what a server facing the internet needs: a
constant-time `msg_signature` check, strict base64 and block-size checks before decrypting, every decryption
failure mapped to a 4xx, and the previous EncodingAESKey tried when the current one fails.
"""
from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass

from wechatpy.crypto import WeChatCrypto
from wechatpy.crypto.cryptography import WeChatCipher

from ..errors import BadPush
from .signature import SignedQuery, sign, signatures_match

_MIN_CIPHERTEXT = 32  # 16 random bytes + 4 length bytes, padded to WeChat's 32-byte blocks


@dataclass
class Opened:
    xml: bytes
    key_index: int


class PushCrypto:
    """Opens and seals one account's safe-mode envelopes; holds no per-request state."""

    def __init__(self, token: str, appid: str, keys: list[str]) -> None:
        self._token, self._appid = token, appid
        self._ciphers = [_Cipher(WeChatCrypto(token, key, appid).key, appid) for key in keys]  # once, not a push

    def open(self, encrypt: str, query: SignedQuery) -> Opened:
        """Check msg_signature over Encrypt, then decrypt with the current key, else the previous one."""
        if not signatures_match(sign(self._token, query.timestamp, query.nonce, encrypt), query.msg_signature or ""):
            raise BadPush(403, "msg_signature does not match the Token and Encrypt")
        raw = _ciphertext(encrypt)
        for index, cipher in enumerate(self._ciphers):
            xml = cipher.decrypt(raw)
            if xml is not None:
                return Opened(xml, index)
        raise BadPush(400, "Encrypt does not decrypt to this AppID's message with the current or previous key")

    def seal(self, xml: str, opened: Opened, query: SignedQuery) -> str:
        """The reply envelope, encrypted with the key the push came in with, signed over what is sent (the
        envelope wechatpy's WeChatCrypto.encrypt_message makes)."""
        encrypt = self._ciphers[opened.key_index].encrypt(xml.encode())
        signature = sign(self._token, query.timestamp, query.nonce, encrypt)
        return _ENVELOPE.format(encrypt, signature, query.timestamp, query.nonce)


_ENVELOPE = ("<xml>\n<Encrypt><![CDATA[{}]]></Encrypt>\n<MsgSignature><![CDATA[{}]]></MsgSignature>\n"
             "<TimeStamp>{}</TimeStamp>\n<Nonce><![CDATA[{}]]></Nonce>\n</xml>")


class _Cipher:
    """One key's AES, and WeChat's framing of a message in it."""

    def __init__(self, key: bytes, appid: str) -> None:
        self._aes = WeChatCipher(key).cipher
        self._appid = appid.encode()

    def decrypt(self, raw: bytes) -> bytes | None:
        """The XML in `raw`, or None when it does not decrypt to a UTF-8 message for this AppID with this key (its
        padding 1 to 32 bytes: WeChat pads to 32-byte blocks)."""
        decryptor = self._aes.decryptor()
        plain = decryptor.update(raw) + decryptor.finalize()
        padding = plain[-1]
        if not 1 <= padding <= 32:
            return None
        end = 20 + int.from_bytes(plain[16:20], "big")
        if plain[end:-padding] != self._appid:  # empty, never the AppID, when the length runs past the padding
            return None
        xml = plain[20:end]
        try:
            xml.decode("utf-8")  # WeChat's XML is UTF-8: no other encoding a declaration or a BOM could name
        except UnicodeDecodeError:
            return None
        return xml

    def encrypt(self, xml: bytes) -> str:
        text = b"".join((self.get_random_string().encode(), len(xml).to_bytes(4, "big"), xml, self._appid))
        padding = 32 - len(text) % 32
        encryptor = self._aes.encryptor()
        return base64.b64encode(encryptor.update(text + bytes((padding,)) * padding) + encryptor.finalize()).decode()

    @staticmethod
    def get_random_string() -> str:
        """The 16 leading random characters, from `secrets` (wechatpy's come from `random.sample`)."""
        return secrets.token_hex(8)


def _ciphertext(encrypt: str) -> bytes:
    try:
        raw = base64.b64decode(encrypt, validate=True)
    except (binascii.Error, ValueError):
        raise BadPush(400, "Encrypt is not valid base64") from None
    if len(raw) < _MIN_CIPHERTEXT or len(raw) % 16:
        raise BadPush(400, f"Encrypt is {len(raw)} bytes, not a whole number of AES blocks of a message")
    return raw
