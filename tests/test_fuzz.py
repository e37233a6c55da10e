"""Fuzzing /wechat with Hypothesis: random XML, fields, bytes, encrypt payloads and signatures.

The properties: never a 5xx, never a reply to an unsigned push, always an answer within the window.
FUZZ_EXAMPLES (default 60) sets how many examples each property tries; CI runs the default, a long run
sets it to thousands.
"""
import os
import time
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import AES_KEY, APPID, TOKEN
from tests.wechat_client import WeChat, cdata, flask_transport, push_xml, sign

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

field_names = st.sampled_from(["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId", "Event",
                               "EventKey", "Encrypt", "Latitude", "PicUrl", "Idx"]) | st.text(
    alphabet=st.characters(whitelist_categories=("Lu", "Ll")), min_size=1, max_size=12)
field_values = st.text(max_size=200) | st.integers().map(str) | st.sampled_from(
    ["text", "event", "subscribe", "CLICK", "LOCATION", "image", "]]>", "<![CDATA[", "&amp;", "-1", ""])
random_fields = st.dictionaries(field_names, field_values, max_size=10)
bodies = st.one_of(
    st.binary(max_size=2000),
    random_fields.map(lambda fields: push_xml(fields).encode()),
    st.text(max_size=500).map(lambda text: f"<xml>{text}</xml>".encode("utf-8", "surrogatepass")),
)


def answered_well(response, started: float) -> None:
    assert response.status_code < 500, response.get_data()[:200]
    assert time.monotonic() - started < 4.6


@FUZZ
@given(body=bodies, signed=st.booleans(), extra=st.dictionaries(st.sampled_from(
    ["encrypt_type", "msg_signature", "openid", "echostr"]), st.text(max_size=50), max_size=3))
def test_random_pushes_never_5xx_and_unsigned_ones_get_no_reply(make_app, body, signed, extra):
    app = make_app({"WECHAT_ENCODING_AES_KEY": AES_KEY})
    timestamp, nonce = str(int(time.time())), "12345"
    query = {"signature": sign(TOKEN, timestamp, nonce) if signed else "0" * 40, "timestamp": timestamp,
             "nonce": nonce, **extra}
    started = time.monotonic()
    response = app.test_client().post("/wechat?" + urlencode(query), data=body, content_type="text/xml")
    answered_well(response, started)
    if not signed:
        assert response.status_code == 403 and b"<xml>" not in response.get_data()


@FUZZ
@given(encrypt=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", max_size=400)
       | st.binary(max_size=300).map(lambda raw: __import__("base64").b64encode(raw).decode()),
       right_signature=st.booleans())
def test_random_encrypt_payloads_are_refused_cleanly(make_app, encrypt, right_signature):
    app = make_app({"WECHAT_ENCODING_AES_KEY": AES_KEY})
    timestamp, nonce = str(int(time.time())), "777"
    query = {"signature": sign(TOKEN, timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
             "encrypt_type": "aes",
             "msg_signature": sign(TOKEN, timestamp, nonce, encrypt) if right_signature else "f" * 40}
    body = f"<xml><ToUserName>{cdata('gh')}</ToUserName><Encrypt>{cdata(encrypt)}</Encrypt></xml>".encode()
    started = time.monotonic()
    response = app.test_client().post("/wechat?" + urlencode(query), data=body, content_type="text/xml")
    answered_well(response, started)
    assert 400 <= response.status_code < 500  # random ciphertext never decrypts to this AppID's message


@FUZZ
@given(content=st.text(max_size=300), msg_type=st.sampled_from(["text", "image", "voice", "location", "link"]))
def test_genuine_pushes_with_random_content_get_a_well_formed_reply(make_app, content, msg_type):
    from lxml import etree

    app = make_app()
    wechat = WeChat(flask_transport(app.test_client()), TOKEN, APPID)
    fields = wechat.fields(msg_type, Content=content, PicUrl=content, Label=content, Title=content)
    started = time.monotonic()
    reply = wechat.deliver(fields)
    assert reply.status < 500 and time.monotonic() - started < 4.6
    if reply.status == 200 and reply.body.startswith(b"<"):
        etree.fromstring(reply.body)


_ENVELOPE = "<xml>{}<ToUserName><![CDATA[{}]]></ToUserName>{}<Encrypt><![CDATA[{}]]></Encrypt>{}</xml>{}"
_ALLOWED = [" \t\n", "gh_0123456789abcdefABC-", " \t\n", "QUJDabc0123456789+/=", " \t\n", " \t\n"]
_ODD = ["&", "&amp;", "]]>", "<", "é", "\x01", "\r", "\x0b", "\x0c", ";", "\u3000", "<a/>", "<!--x-->"]


@st.composite
def sealed_bodies(draw) -> str:
    """WeChat's safe-mode envelope with its six free spots filled from what the pattern allows, and now and then
    one spot given something it does not (an entity, a bracket, a control character, a carriage return…)."""
    parts = [draw(st.text(alphabet=allowed, max_size=20)) for allowed in _ALLOWED]
    if draw(st.booleans()):
        spot = draw(st.sampled_from([0, 1, 1, 2, 3, 3, 3, 4, 5]))  # mostly the two fields' text
        at = draw(st.integers(0, len(parts[spot])))
        parts[spot] = parts[spot][:at] + draw(st.sampled_from(_ODD)) + parts[spot][at:]
    return _ENVELOPE.format(*parts)


@settings(max_examples=max(EXAMPLES * 10, 300), deadline=None)
@given(sealed_bodies())
def test_the_sealed_envelopes_fast_path_reads_what_the_xml_parser_reads(body):
    """Safe mode's envelope is read with a pattern when it has exactly WeChat's shape: whatever the pattern
    takes, the hardened XML parser takes too, with the same Encrypt; anything else goes to the parser."""
    from wechat_bot.endpoint.push import _SEALED
    from wechat_bot.endpoint.xml_parser import parse_fields
    from wechat_bot.errors import BadPush

    matched = _SEALED.fullmatch(body.encode())
    if matched is None:
        return
    try:
        fields = parse_fields(body.encode())
    except BadPush as refused:
        raise AssertionError(f"the pattern took {body!r}, the parser refused it: {refused.reason}") from refused
    assert fields.get("Encrypt") == matched.group(1).decode() and set(fields) <= {"ToUserName", "Encrypt"}


@FUZZ
@given(xml=st.text(max_size=600), appid=st.from_regex(r"wx[0-9a-f]{16}", fullmatch=True),
       key=st.binary(min_size=32, max_size=32))
def test_safe_modes_framing_is_wechatpys_both_ways(xml, appid, key):
    """The envelope's framing around wechatpy's AES is done in envelope.py: what wechatpy seals opens to the same
    XML, what we seal wechatpy opens, and another AppID's message does not open."""
    import base64

    from wechatpy.crypto import PrpCrypto

    from wechat_bot.endpoint.envelope import _Cipher, _ciphertext

    ours, theirs = _Cipher(key, appid), PrpCrypto(key)
    assert ours.decrypt(_ciphertext(theirs.encrypt(xml, appid).decode())) == xml.encode()
    assert theirs.decrypt(ours.encrypt(xml.encode()), appid) == xml
    other = "wx" + ("1" if appid[2] == "0" else "0") + appid[3:]
    assert _Cipher(key, other).decrypt(base64.b64decode(ours.encrypt(xml.encode()))) is None


@pytest.mark.parametrize("encoding", ["gbk", "latin-1", "utf-16"])
def test_a_sealed_push_in_another_encoding_than_utf8_is_refused(encoding):
    """WeChat seals UTF-8 XML; one declared in another encoding (or with a UTF-16 BOM) does not open, as wechatpy's
    PrpCrypto refused it."""
    from wechat_bot.endpoint.envelope import PushCrypto
    from wechat_bot.endpoint.signature import SignedQuery
    from wechat_bot.errors import BadPush

    xml = (f'<?xml version="1.0" encoding="{encoding}"?><xml><ToUserName><![CDATA[gh_test]]></ToUserName>'
           "<FromUserName><![CDATA[o_alice]]></FromUserName><CreateTime>1</CreateTime>"
           "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[é登录]]></Content><MsgId>1</MsgId></xml>")
    body = xml.encode(encoding, errors="replace")
    crypto = PushCrypto(TOKEN, APPID, [AES_KEY])
    encrypt = crypto._ciphers[0].encrypt(body)
    query = SignedQuery("1", "2", True, sign(TOKEN, "1", "2", encrypt))
    with pytest.raises(BadPush) as refused:
        crypto.open(encrypt, query)
    assert refused.value.status == 400
