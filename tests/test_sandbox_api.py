"""The sandbox WeChat behaves as WeChat's API does, so what passes here passes against WeChat."""
import json

import pytest
import requests

from tests.conftest import APPID, SECRET
from wechat_bot.errors import WeChatError, WeChatUnavailable
from wechat_bot.oauth.client import WeChatClient
from wechat_bot.sandbox import Fault


@pytest.fixture
def client(sandbox):
    return WeChatClient(sandbox.url, sandbox.url, APPID, SECRET, timeout=2, budget=3)


def authorize(sandbox, scope="snsapi_base", openid="o_alice"):
    return sandbox.issue_code(openid, scope)


def test_answers_are_json_served_as_text_plain_without_charset(sandbox):
    response = requests.get(sandbox.url + "/sns/oauth2/access_token",
                            params={"appid": APPID, "secret": SECRET, "code": "nope",
                                    "grant_type": "authorization_code"}, timeout=5)
    assert response.status_code == 200 and response.headers["Content-Type"] == "text/plain"
    body = response.json()
    assert body["errcode"] == 40029 and body["errmsg"].startswith("invalid code rid: ")


def test_code_exchange_then_reuse_is_40163(client, sandbox):
    code = authorize(sandbox)
    answer = client.exchange_code(code)
    assert answer["openid"] == "o_alice" and answer["expires_in"] == 7200 and "unionid" not in answer
    with pytest.raises(WeChatError) as error:
        client.exchange_code(code)
    assert error.value.errcode == 40163 and error.value.bad_code


def test_an_expired_code_is_40029(client, sandbox):
    sandbox.configure(code_ttl=-1)
    with pytest.raises(WeChatError) as error:
        client.exchange_code(authorize(sandbox))
    assert error.value.errcode == 40029


@pytest.mark.parametrize("change, errcode", [({"appid": "wx0000000000000000"}, 40013),
                                             ({"secret": "f" * 32}, 40125)])
def test_wrong_credentials(sandbox, change, errcode):
    client = WeChatClient(sandbox.url, sandbox.url, change.get("appid", APPID), change.get("secret", SECRET))
    with pytest.raises(WeChatError) as error:
        client.exchange_code(authorize(sandbox))
    assert error.value.errcode == errcode


def test_refresh_returns_the_same_refresh_token_and_a_new_access_token(client, sandbox):
    first = client.exchange_code(authorize(sandbox))
    renewed = client.refresh(first["refresh_token"])
    assert renewed["refresh_token"] == first["refresh_token"]
    assert renewed["access_token"] != first["access_token"]
    assert sandbox.refreshes(first["refresh_token"]) == 1


def test_refresh_can_rotate_when_configured(client, sandbox):
    sandbox.configure(rotate_refresh_token=True)
    first = client.exchange_code(authorize(sandbox))
    assert client.refresh(first["refresh_token"])["refresh_token"] != first["refresh_token"]
    with pytest.raises(WeChatError) as error:
        client.refresh(first["refresh_token"])
    assert error.value.errcode == 40030


def test_an_expired_refresh_token_is_42002_and_an_unknown_one_40030(client, sandbox):
    first = client.exchange_code(authorize(sandbox))
    sandbox.expire_refresh_token("o_alice")
    with pytest.raises(WeChatError) as expired:
        client.refresh(first["refresh_token"])
    with pytest.raises(WeChatError) as unknown:
        client.refresh("made-up")
    assert (expired.value.errcode, unknown.value.errcode) == (42002, 40030)
    assert expired.value.needs_reauth and unknown.value.needs_reauth


def test_userinfo_needs_a_userinfo_token(client, sandbox):
    base = client.exchange_code(authorize(sandbox, "snsapi_base"))
    with pytest.raises(WeChatError) as error:
        client.userinfo(base["access_token"], "o_alice")
    assert error.value.errcode == 48001


def test_userinfo_is_decoded_as_utf8_and_carries_unionid(client, sandbox):
    sandbox.save_user("o_alice", nickname="小明😀", unionid="u_1")
    tokens = client.exchange_code(authorize(sandbox, "snsapi_userinfo"))
    assert tokens["unionid"] == "u_1"
    profile = client.userinfo(tokens["access_token"], "o_alice")
    assert profile["nickname"] == "小明😀" and profile["sex"] == 0 and profile["province"] == ""


def test_an_expired_access_token_is_42001_and_check_says_so(client, sandbox):
    tokens = client.exchange_code(authorize(sandbox, "snsapi_userinfo"))
    assert client.check(tokens["access_token"], "o_alice")
    sandbox.expire_access_token("o_alice")
    with pytest.raises(WeChatError) as error:
        client.userinfo(tokens["access_token"], "o_alice")
    assert error.value.errcode == 42001
    assert not client.check(tokens["access_token"], "o_alice")


def test_5xx_and_busy_are_retried_then_given_up_as_unavailable(client, sandbox):
    sandbox.inject("/sns/oauth2/access_token", Fault(status=503), times=100)
    with pytest.raises(WeChatUnavailable) as error:
        client.exchange_code("any")
    assert "503" in str(error.value) and SECRET not in str(error.value)
    assert sandbox.calls("/sns/oauth2/access_token") >= 2


def test_unavailable_never_names_the_secret_even_on_connection_errors():
    client = WeChatClient("http://127.0.0.1:9", "http://127.0.0.1:9", APPID, SECRET, timeout=0.2, budget=0.5)
    with pytest.raises(WeChatUnavailable) as error:
        client.exchange_code("code")
    assert SECRET not in str(error.value) and "secret" not in str(error.value)


def test_stable_token_is_the_same_until_forced(sandbox):
    def stable(force=False):
        return requests.post(sandbox.url + "/cgi-bin/stable_token", json={
            "grant_type": "client_credential", "appid": APPID, "secret": SECRET, "force_refresh": force},
            timeout=5).json()
    first = stable()
    assert stable()["access_token"] == first["access_token"]
    assert stable(force=True)["access_token"] != first["access_token"]


def test_custom_send_needs_a_live_global_token_and_records_the_message(sandbox):
    sandbox.save_user("o_alice")  # a user the account knows (custom/send to a stranger is 40003)
    token = sandbox.global_token()["access_token"]
    message = {"touser": "o_alice", "msgtype": "text", "text": {"content": "稍后的回复"}}
    bad = requests.post(sandbox.url + "/cgi-bin/message/custom/send", params={"access_token": "x"}, json=message,
                        timeout=5).json()
    good = requests.post(sandbox.url + "/cgi-bin/message/custom/send", params={"access_token": token},
                         json=message, timeout=5).json()
    assert bad["errcode"] == 40001 and good == {"errcode": 0, "errmsg": "ok"}
    assert sandbox.sent("o_alice") == [message]


@pytest.mark.parametrize("params, code", [
    ({"appid": "wxbad", "redirect_uri": "https://x/cb", "response_type": "code", "scope": "snsapi_base"}, "10016"),
    ({"appid": APPID, "redirect_uri": "https://x/cb", "response_type": "code", "scope": "snsapi_login"}, "10005"),
    ({"appid": APPID, "redirect_uri": "https://x/cb", "response_type": "code", "scope": "snsapi_base",
      "state": "has space"}, "10013"),
])
def test_the_authorize_page_refuses_bad_links_like_wechat(sandbox, phone, params, code):
    page = phone().get(sandbox.url + "/connect/oauth2/authorize", params=params, timeout=5)
    assert page.status_code == 400 and code in page.text


def _post(sandbox, path: str, body, token: str | None = None) -> dict:
    token = token or sandbox.global_token()["access_token"]
    return requests.post(sandbox.url + path, params={"access_token": token},
                         data=json.dumps(body, ensure_ascii=False).encode(), timeout=5).json()


VIEW = {"type": "view", "name": "首页", "url": "https://example.com/"}
CLICK = {"type": "click", "name": "签到", "key": "SIGN_IN"}


@pytest.mark.parametrize("menu, errcode", [
    ([], 47001), ({"button": ["x"]}, 47001), ({"button": [{"name": "a", "sub_button": "x"}]}, 47001), ("menu", 47001),
    ({"button": []}, 40016), ({"button": [CLICK] * 4}, 40016),
    ({"button": [{"name": "更多", "sub_button": [CLICK] * 6}]}, 40023),
    ({"button": [{"type": "teleport", "name": "a", "key": "k"}]}, 40017),
    ({"button": [{"type": "click", "name": "a"}]}, 40019),
    ({"button": [{"type": "view", "name": "a"}]}, 40020),
    ({"button": [{"type": "click", "name": "名字太长了名字太长了", "key": "k"}]}, 40018),
    ({"button": [{"name": "更多", "sub_button": [{"type": "warp", "name": "a"}]}]}, 40024),
    ({"button": [{"name": "更多", "sub_button": [{"type": "click", "name": "a"}]}]}, 40026),
])
def test_menu_create_refuses_what_wechat_refuses_with_its_errcode(sandbox, menu, errcode):
    assert _post(sandbox, "/cgi-bin/menu/create", menu)["errcode"] == errcode


def test_a_valid_menu_is_accepted(sandbox):
    assert _post(sandbox, "/cgi-bin/menu/create", {"button": [VIEW, {"name": "更多", "sub_button": [CLICK]}]}) == \
        {"errcode": 0, "errmsg": "ok"}


@pytest.mark.parametrize("body", [[], None, "x"])
def test_stable_token_with_a_body_that_is_not_an_object_is_47001(sandbox, body):
    answer = requests.post(sandbox.url + "/cgi-bin/stable_token", data=json.dumps(body), timeout=5)
    assert answer.status_code == 200 and answer.json()["errcode"] == 47001


@pytest.mark.parametrize("method, path, errcode", [
    ("GET", "/cgi-bin/stable_token", 43002), ("GET", "/cgi-bin/message/custom/send", 43002),
    ("POST", "/sns/oauth2/access_token", 43001),
])
def test_a_wrong_method_is_wechats_200_json_not_a_405(sandbox, method, path, errcode):
    answer = requests.request(method, sandbox.url + path, timeout=5)
    assert answer.status_code == 200 and answer.json()["errcode"] == errcode


def test_custom_send_to_an_openid_never_seen_is_40003(sandbox):
    message = {"touser": "o_stranger", "msgtype": "text", "text": {"content": "hi"}}
    assert _post(sandbox, "/cgi-bin/message/custom/send", message)["errcode"] == 40003


@pytest.mark.parametrize("params, errcode", [
    ({"type": "jsapi"}, 41001),
    ({"access_token": "not-a-token", "type": "jsapi"}, 40001),
    ({"access_token": "{token}", "type": "wx_unknown"}, 40097),
])
def test_getticket_refuses_as_wechat_does(client, sandbox, params, errcode):
    token = client.stable_token()["access_token"]
    params = {name: value.replace("{token}", token) for name, value in params.items()}
    body = requests.get(sandbox.url + "/cgi-bin/ticket/getticket", params=params, timeout=5).json()
    assert body["errcode"] == errcode and "ticket" not in body


def test_getticket_gives_the_live_ticket_until_its_last_five_minutes(client, sandbox):
    token = client.stable_token()["access_token"]
    first = client.jsapi_ticket(token)
    assert first["errcode"] == 0 and first["expires_in"] == 7200 and len(first["ticket"]) == 86
    assert client.jsapi_ticket(token)["ticket"] == first["ticket"]
    sandbox.expire_jsapi_ticket()
    assert client.jsapi_ticket(token)["ticket"] != first["ticket"]
    assert first["ticket"] not in sandbox.live_jsapi_tickets()
def test_a_configured_latency_delays_every_answer(sandbox):
    """The benchmarks' stand-in for the round trip to api.weixin.qq.com: a client less patient than the latency
    gives up; with the latency back to none, the same call is answered."""
    first = WeChatClient(sandbox.url, sandbox.url, APPID, SECRET).exchange_code(authorize(sandbox))
    sandbox.configure(latency=3.0)
    impatient = WeChatClient(sandbox.url, sandbox.url, APPID, SECRET, timeout=0.5, budget=1)
    with pytest.raises(WeChatUnavailable):
        impatient.refresh(first["refresh_token"])
    sandbox.configure(latency=0)
    assert impatient.refresh(first["refresh_token"])["access_token"]
    assert sandbox.calls("/sns/oauth2/refresh_token") >= 2


def test_the_environments_proxy_settings_are_honoured(sandbox, monkeypatch):
    """Read once when the client is made (requests would walk the environment on every call): a proxy that does
    not answer fails the call; NO_PROXY naming the host lets it through."""
    first = WeChatClient(sandbox.url, sandbox.url, APPID, SECRET).exchange_code(authorize(sandbox))
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with pytest.raises(WeChatUnavailable):
        WeChatClient(sandbox.url, sandbox.url, APPID, SECRET, timeout=1, budget=1).refresh(first["refresh_token"])
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert WeChatClient(sandbox.url, sandbox.url, APPID, SECRET).refresh(first["refresh_token"])["access_token"]
