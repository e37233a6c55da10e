"""The admin panel's URL check: GET /wechat answers echostr verbatim only when signed."""
import time
from urllib.parse import urlencode

import pytest

from tests.conftest import TOKEN
from tests.wechat_client import sign
from wechat_bot.endpoint.signature import sign as server_sign


def test_signature_matches_wechats_worked_example():
    assert server_sign("AAAAA", "1714036504", "1514711492") == "f464b24fc39322e44b38aa78f5edd27bd1441696"
    assert server_sign("AAAAA", "1714037059", "486452656") == "899cf89e464efb63f54ddac96b0a0a235f53aa78"


def test_official_handshake_example_is_echoed(make_app):
    app = make_app({"WECHAT_TOKEN": "AAAAA", "WECHAT_TIMESTAMP_TOLERANCE": "0"})
    query = {"signature": "f464b24fc39322e44b38aa78f5edd27bd1441696", "timestamp": "1714036504",
             "nonce": "1514711492", "echostr": "4375120948345356249"}
    response = app.test_client().get("/wechat?" + urlencode(query))
    assert response.status_code == 200
    assert response.get_data() == b"4375120948345356249"


def handshake(app, token=TOKEN, timestamp=None, echostr="echo-123", **extra):
    ts = str(timestamp if timestamp is not None else int(time.time()))
    query = {"signature": sign(token, ts, "42"), "timestamp": ts, "nonce": "42", "echostr": echostr, **extra}
    return app.test_client().get("/wechat?" + urlencode(query))


def test_handshake_echoes_echostr_byte_for_byte(app):
    echostr = "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRj"
    response = handshake(app, echostr=echostr)
    assert response.status_code == 200 and response.get_data() == echostr.encode()


def test_safe_mode_handshake_is_plain_too(safe_app):
    response = handshake(safe_app, echostr="plain-echo")
    assert response.get_data() == b"plain-echo"


@pytest.mark.parametrize("case, kwargs, status", [
    ("forged signature", {"token": "not-the-token"}, 403),
    ("stale timestamp", {"timestamp": int(time.time()) - 3600}, 403),
    ("future timestamp", {"timestamp": int(time.time()) + 3600}, 403),
    ("no echostr", {"echostr": ""}, 400),
])
def test_handshake_refuses_what_wechat_did_not_send(app, case, kwargs, status):
    response = handshake(app, **kwargs)
    assert response.status_code == status, case
    assert b"echo-123" not in response.get_data()


def test_missing_parameters_are_400(app):
    assert app.test_client().get("/wechat").status_code == 400
    assert app.test_client().get("/wechat?signature=x&timestamp=abc&nonce=1&echostr=e").status_code == 400


def test_tolerance_zero_turns_the_timestamp_check_off(make_app):
    app = make_app({"WECHAT_TIMESTAMP_TOLERANCE": "0"})
    assert handshake(app, timestamp=1000).get_data() == b"echo-123"
