"""Safe and compatible mode: msg_signature, AES with the AppID inside, encrypted replies, key rotation."""
import base64

import pytest
from wechatpy.crypto import PrpCrypto, WeChatCrypto

from tests.conftest import AES_KEY, APPID, OLD_AES_KEY, TOKEN
from tests.wechat_client import WeChat, cdata, flask_transport, push_xml, sign
from wechat_bot.endpoint.envelope import PushCrypto
from wechat_bot.endpoint.signature import SignedQuery
from wechat_bot.errors import BadPush
from wechat_bot.handlers.default import HELP_TEXT

# WeChat's worked example (protocol reference §10.3): wechatpy's test vectors.
EX_TOKEN, EX_KEY, EX_APPID = "123456", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wx49f0ab532d5d035a"
EX_TS, EX_NONCE = "1411525903", "461056294"
EX_INBOUND = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283d"
    "Gymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwB"
    "iT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54S"
    "NdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91"
    "eBdCRxthuL0="
)
EX_MSG_SIGNATURE = "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"


def ex_query(msg_signature=EX_MSG_SIGNATURE):
    return SignedQuery(EX_TS, EX_NONCE, True, msg_signature)


def test_worked_example_inbound_opens_to_the_text_message():
    opened = PushCrypto(EX_TOKEN, EX_APPID, [EX_KEY]).open(EX_INBOUND, ex_query())
    assert b"<Content><![CDATA[test]]></Content>" in opened.xml
    assert b"messense" in opened.xml


def test_worked_example_with_a_wrong_msg_signature_is_refused():
    with pytest.raises(BadPush) as error:
        PushCrypto(EX_TOKEN, EX_APPID, [EX_KEY]).open(EX_INBOUND, ex_query("0" * 40))
    assert error.value.status == 403


def test_worked_example_for_another_appid_is_refused():
    with pytest.raises(BadPush) as error:
        PushCrypto(EX_TOKEN, "wx0000000000000000", [EX_KEY]).open(EX_INBOUND, ex_query())
    assert error.value.status == 400


EX_REPLY = """<xml>
<MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[test]]></Content>
<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>
<ToUserName><![CDATA[messense]]></ToUserName>
<AgentID>1</AgentID>
<CreateTime>1411525903</CreateTime>
</xml>"""


def test_worked_example_reply_is_sealed_as_wechat_expects(monkeypatch):
    from wechat_bot.endpoint import envelope

    monkeypatch.setattr(envelope._Cipher, "get_random_string", lambda self: "1234567890123456")
    crypto = PushCrypto(EX_TOKEN, EX_APPID, [EX_KEY])
    opened = crypto.open(EX_INBOUND, ex_query())
    envelope = crypto.seal(EX_REPLY, opened, ex_query())
    assert "<Encrypt><![CDATA[9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsG" in envelope
    assert "<MsgSignature><![CDATA[407518b7649e86ef23978113f92d27afa9296533]]></MsgSignature>" in envelope
    assert "<TimeStamp>1411525903</TimeStamp>" in envelope and "<Nonce><![CDATA[461056294]]></Nonce>" in envelope


def test_safe_mode_text_gets_an_encrypted_reply_with_the_help_text(safe_wechat):
    reply = safe_wechat.says("hello")
    assert reply.status == 200
    assert b"<Encrypt>" in reply.body and b"hello" not in reply.body and HELP_TEXT.encode() not in reply.body
    assert reply.content == HELP_TEXT and reply.fields["ToUserName"] == "o_alice"


def test_compatible_mode_plaintext_push_is_answered_in_plaintext(safe_app):
    wechat = WeChat(flask_transport(safe_app.test_client()), TOKEN, APPID, aes_key=AES_KEY)
    reply = wechat.says("hi")
    assert b"<Encrypt>" not in reply.body and reply.content == HELP_TEXT


def test_compatible_mode_body_with_both_forms_is_read_from_the_ciphertext(safe_app):
    wechat = WeChat(flask_transport(safe_app.test_client()), TOKEN, APPID, aes_key=AES_KEY)
    query = wechat.query()
    inner = push_xml(wechat.fields("event", Event="subscribe"))
    sealed, query = wechat.seal(inner.encode(), query, AES_KEY)
    encrypt = sealed.decode().split("<Encrypt>")[1].split("</Encrypt>")[0]
    both = push_xml(wechat.fields("text", Content="plaintext copy"))[:-6] + f"<Encrypt>{encrypt}</Encrypt></xml>"
    reply = wechat.deliver(both, query=query)
    assert b"<Encrypt>" in reply.body and reply.content.startswith("欢迎关注")


def test_previous_key_still_opens_and_the_reply_is_sealed_with_it(make_app):
    app = make_app({"WECHAT_ENCODING_AES_KEY": AES_KEY, "WECHAT_ENCODING_AES_KEY_PREVIOUS": OLD_AES_KEY})
    wechat = WeChat(flask_transport(app.test_client()), TOKEN, APPID, aes_key=OLD_AES_KEY)
    reply = wechat.deliver(wechat.fields("text", Content="sent before the rotation"), encrypted=True)
    assert reply.content == HELP_TEXT  # read() decrypts with OLD_AES_KEY: it would fail with the new one


def test_unknown_key_is_refused(make_app):
    app = make_app({"WECHAT_ENCODING_AES_KEY": AES_KEY})
    wechat = WeChat(flask_transport(app.test_client()), TOKEN, APPID, aes_key=OLD_AES_KEY)
    assert wechat.deliver(wechat.fields("text", Content="x"), encrypted=True).status == 400


def test_encrypted_push_without_a_configured_key_is_refused(wechat):
    reply = wechat.deliver(wechat.fields("text", Content="x"), encrypted=True, crypto_key=AES_KEY)
    assert reply.status == 400


def raw_encrypt(plaintext: bytes, key: str = AES_KEY) -> str:
    """AES-CBC as WeChat does it, over arbitrary bytes (to build corrupt payloads)."""
    from wechatpy.crypto.cryptography import WeChatCipher

    aes_key = base64.b64decode(key + "=")
    return base64.b64encode(WeChatCipher(aes_key).encrypt(plaintext)).decode()


def padded(data: bytes) -> bytes:
    n = 32 - len(data) % 32
    return data + bytes([n]) * n


GOOD_INNER = b"<xml><ToUserName>gh</ToUserName><FromUserName>o</FromUserName><CreateTime>1</CreateTime>" \
             b"<MsgType>text</MsgType><Content>x</Content><MsgId>1</MsgId></xml>"

CORRUPT = {
    "not base64": "!!!not*base64!!!",
    "base64 with junk inside": raw_encrypt(padded(b"0" * 16 + len(GOOD_INNER).to_bytes(4, "big") + GOOD_INNER
                                                  + APPID.encode()))[:-4] + "@@@@",
    "not a whole block": base64.b64encode(b"x" * 45).decode(),
    "one block only": base64.b64encode(b"x" * 16).decode(),
    "bad padding byte": raw_encrypt(b"0" * 16 + b"\x00\x00\x00\x05" + b"<xml>" + APPID.encode() + b"\x00" * 21),
    "padding longer than the text": raw_encrypt(b"\xff" * 64),
    "short plaintext": raw_encrypt(padded(b"0" * 16 + b"\x00\x01")),
    "length beyond the end": raw_encrypt(padded(b"0" * 16 + b"\xff\xff\xff\xff" + b"<xml/>" + APPID.encode())),
    "not UTF-8": raw_encrypt(padded(b"0" * 16 + b"\x00\x00\x00\x04" + b"\xff\xfe\xfd\xfc" + APPID.encode())),
    "another appid": raw_encrypt(padded(b"0" * 16 + len(GOOD_INNER).to_bytes(4, "big") + GOOD_INNER
                                        + b"wx9999999999999999")),
    "decrypts to non-XML": raw_encrypt(padded(b"0" * 16 + b"\x00\x00\x00\x05" + b"hello" + APPID.encode())),
}


@pytest.mark.parametrize("case", CORRUPT)
def test_corrupt_ciphertext_is_a_4xx_not_a_python_error(safe_wechat, case, push_log):
    query = safe_wechat.query()
    encrypt = CORRUPT[case]
    query.update(encrypt_type="aes", msg_signature=sign(TOKEN, query["timestamp"], query["nonce"], encrypt))
    body = f"<xml><ToUserName>{cdata('gh_test')}</ToUserName><Encrypt>{cdata(encrypt)}</Encrypt></xml>"
    reply = safe_wechat.deliver(body, query=query, encrypted=False)
    assert 400 <= reply.status < 500, case
    assert "Traceback" not in push_log.text


def test_a_correct_hand_built_payload_is_accepted(safe_wechat):
    """The CORRUPT table's builder makes valid payloads too, so each case fails for its own reason."""
    inner = push_xml(safe_wechat.fields("text", Content="hand built")).encode()
    encrypt = raw_encrypt(padded(b"0" * 16 + len(inner).to_bytes(4, "big") + inner + APPID.encode()))
    query = safe_wechat.query()
    query.update(encrypt_type="aes", msg_signature=sign(TOKEN, query["timestamp"], query["nonce"], encrypt))
    body = f"<xml><Encrypt>{cdata(encrypt)}</Encrypt></xml>"
    assert safe_wechat.deliver(body, query=query, encrypted=False).content == HELP_TEXT


def test_wechatpy_round_trip_agrees_with_ours():
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    envelope = crypto.encrypt_message("<xml><a>1</a></xml>", "n1", "1700000000")
    encrypt = envelope.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    assert PrpCrypto(crypto.key).decrypt(encrypt, APPID) == "<xml><a>1</a></xml>"
    query = SignedQuery("1700000000", "n1", True, sign(TOKEN, "1700000000", "n1", encrypt))
    assert PushCrypto(TOKEN, APPID, [AES_KEY]).open(encrypt, query).xml == b"<xml><a>1</a></xml>"
