"""What a hostile client, a hostile link and a hostile log reader can no longer do."""
from __future__ import annotations

import logging
from urllib.parse import urlencode

import pytest

from tests.conftest import APPID, TOKEN
from tests.wechat_client import WeChat, flask_transport, sign
from wechat_bot.handlers import Router


def test_a_unicode_digit_timestamp_is_a_400_not_a_500(app):
    query = {"signature": sign(TOKEN, "²³", "1"), "timestamp": "²³", "nonce": "1"}
    response = app.test_client().post("/wechat?" + urlencode(query), data=b"<xml/>")
    assert response.status_code == 400 and b"timestamp" in response.data


@pytest.mark.parametrize("msg_id", ["123²", "١٢٣"])
def test_a_unicode_digit_msgid_never_reaches_int_or_a_log_line(make_app, push_log, msg_id):
    router = Router()

    @router.on()
    def boom(msg):
        raise RuntimeError("handler failed")
    wechat = WeChat(flask_transport(make_app(router=router).test_client()), TOKEN, APPID)
    reply = wechat.deliver(wechat.fields("text", Content="hi", MsgId=msg_id))
    assert reply.status == 400 and b"MsgId" in reply.body


def test_a_failing_handlers_log_line_carries_no_forged_line(make_app, push_log):
    router = Router()

    @router.on()
    def boom(msg):
        raise RuntimeError("handler failed")
    wechat = WeChat(flask_transport(make_app(router=router).test_client()), TOKEN, APPID)
    wechat.openid = "o_evil\n2026-01-01 INFO wechat_bot forged line"
    assert wechat.says("hi").status == 200
    for record in push_log.records:
        assert "\n" not in record.getMessage(), record.getMessage()
