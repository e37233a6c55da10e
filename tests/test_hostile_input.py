"""Hostile and broken pushes: a quick 4xx, a log line, nothing else."""
import pytest

from tests.conftest import TOKEN
from tests.wechat_client import push_xml

XXE = b"""<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>gh</ToUserName><FromUserName>o</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>"""

BOMB = b"""<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">]>
<xml><ToUserName>gh</ToUserName><FromUserName>o</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&f;&f;&f;&f;&f;&f;</Content><MsgId>1</MsgId></xml>"""

NETWORK_DTD = b"""<?xml version="1.0"?><!DOCTYPE xml SYSTEM "http://127.0.0.1:9/evil.dtd">
<xml><ToUserName>gh</ToUserName><FromUserName>o</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>x</Content><MsgId>1</MsgId></xml>"""

UTF16_XXE = XXE.replace(b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="UTF-16"?>').decode().encode("utf-16")

GOOD = {"ToUserName": "gh", "FromUserName": "o", "CreateTime": 1, "MsgType": "text", "Content": "x", "MsgId": 1}


def without(name):
    return push_xml({k: v for k, v in GOOD.items() if k != name})


HOSTILE = {
    "XXE": XXE,
    "entity bomb": BOMB,
    "external DTD": NETWORK_DTD,
    "XXE in UTF-16": UTF16_XXE,
    "empty body": b"",
    "whitespace": b"   \n",
    "not XML": b"hello there",
    "truncated": push_xml(GOOD).encode()[:-10],
    "JSON": b'{"MsgType": "text"}',
    "wrong root": push_xml(GOOD).replace("xml>", "root>").encode(),
    "binary": bytes(range(256)),
    "no ToUserName": without("ToUserName").encode(),
    "no FromUserName": without("FromUserName").encode(),
    "no CreateTime": without("CreateTime").encode(),
    "no MsgType": without("MsgType").encode(),
    "no MsgId on a text": without("MsgId").encode(),
    "CreateTime not a number": push_xml({**GOOD, "CreateTime": "yesterday"}).encode(),
    "MsgId not a number": push_xml({**GOOD, "MsgId": "abc"}).encode(),
    "Idx with two minus signs": push_xml({**GOOD, "Idx": "--5"}).encode(),
    "CreateTime past any calendar": push_xml({**GOOD, "CreateTime": "9" * 20}).encode(),
    "Content with elements": push_xml(GOOD).replace("<![CDATA[x]]>", "<b>x</b>").encode(),
    "event without Event": push_xml({**GOOD, "MsgType": "event"}).encode(),
    "LOCATION with text coordinates": push_xml({**GOOD, "MsgType": "event", "Event": "LOCATION",
                                                "Latitude": "north", "Longitude": "1", "Precision": "1"}).encode(),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_body_gets_a_4xx_and_a_log_line(wechat, case, push_log):
    reply = wechat.deliver(HOSTILE[case])
    assert 400 <= reply.status < 500, case
    assert b"root:" not in reply.body and b"aaaaaaaaaa" not in reply.body
    assert "push rejected" in push_log.text
    assert "Traceback" not in push_log.text


def test_a_body_over_the_limit_is_413(wechat, push_log):
    huge = push_xml({**GOOD, "Content": "x" * 200_000}).encode()
    assert wechat.deliver(huge).status == 413
    assert "413" in push_log.text


def test_a_chunked_body_over_the_limit_is_413_too(app, serve, wechat):
    from urllib.parse import urlencode

    import requests

    def chunks():
        for _ in range(100):
            yield b"x" * 4096
    url = serve(app) + "/wechat?" + urlencode(wechat.query())
    assert requests.post(url, data=chunks(), timeout=10).status_code == 413


@pytest.mark.parametrize("query", [
    {},
    {"timestamp": "1", "nonce": "1"},
    {"signature": "x", "nonce": "1"},
    {"signature": "x" * 500, "timestamp": "1", "nonce": "1"},
])
def test_unsigned_pushes_get_no_reply(wechat, query):
    reply = wechat.deliver(push_xml(GOOD), query=query)
    assert 400 <= reply.status < 500 and b"<xml>" not in reply.body


def test_a_forged_signature_is_403_and_the_handler_never_runs(wechat, push_log):
    query = wechat.query()
    query["signature"] = "0" * 40
    reply = wechat.deliver(wechat.fields("text", Content="hi"), query=query)
    assert reply.status == 403 and "help_text" not in push_log.text


def test_a_replayed_push_outside_the_tolerance_is_403(wechat):
    old = wechat.query(timestamp=1_000_000_000)
    assert wechat.deliver(wechat.fields("text", Content="hi"), query=old).status == 403


def test_unknown_encrypt_type_is_400(wechat):
    assert wechat.deliver(wechat.fields("text", Content="hi"), query=wechat.query(encrypt_type="rot13")).status == 400


def test_log_lines_are_not_forged_by_newlines_in_fields(wechat, push_log):
    wechat.deliver(wechat.fields("text", Content="hi", FromUserName="o_x\nFAKE push rejected"))
    assert not any(record.getMessage().startswith("FAKE") or "\n" in record.getMessage()
                   for record in push_log.records)


def test_secrets_never_reach_logs_or_bodies(make_app, push_log):
    from tests.conftest import AES_KEY, APPID, SECRET
    from tests.wechat_client import WeChat, flask_transport

    app = make_app({"WECHAT_ENCODING_AES_KEY": AES_KEY})
    wechat = WeChat(flask_transport(app.test_client()), TOKEN, APPID, aes_key=AES_KEY)
    bodies = [wechat.deliver(HOSTILE[case]).body for case in ("XXE", "no MsgType")]
    bodies.append(wechat.deliver(wechat.fields("text", Content="x"), encrypted=True, crypto_key=AES_KEY).body)
    bodies.append(app.test_client().get("/healthz").get_data())
    for secret in (TOKEN, SECRET, AES_KEY):
        assert secret not in push_log.text
        assert all(secret.encode() not in body for body in bodies)
