"""The sandbox WeChat behaves as WeChat's API does, so what passes here passes against WeChat."""
import json
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import APPID, SECRET
from wechat_bot.errors import WeChatError, WeChatUnavailable
from wechat_bot.sandbox import Fault
from wechat_bot.wechat_api import WeChatClient


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
    sandbox.interacted("o_alice")  # a follower who wrote within 48 hours (custom/send to a stranger is 40003)
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
    ({"button": [{"type": "view", "name": "a", "url": "javascript:alert(1)"}]}, 40055),
    ({"button": [{"type": "view", "name": "a", "url": "weixin://dl/chat"}]}, 40055),
    ({"button": [{"name": "更多", "sub_button": [{"type": "view", "name": "a", "url": "ftp://example.com/"}]}]}, 40054),
    ({"button": [{"type": "view", "name": "a", "url": "https://example.com/" + "x" * 1010}]}, 40020),
    ({"button": [{"type": "media_id", "name": "a"}]}, 40007),
    ({"button": [{"type": "view_limited", "name": "a"}]}, 40007),
    ({"button": [{"type": "article_id", "name": "a", "media_id": "m"}]}, 40007),
    ({"button": [{"type": "miniprogram", "name": "a", "url": "https://example.com/", "appid": "wx1"}]}, 40097),
    ({"button": [{"type": "miniprogram", "name": "a", "appid": "wx1", "pagepath": "pages/a"}]}, 40020),
    ({"button": [{"name": "更多", "sub_button": [{"type": "click", "name": "名" * 21, "key": "k"}]}]}, 40025),
])
def test_menu_create_refuses_what_wechat_refuses_with_its_errcode(sandbox, menu, errcode):
    assert _post(sandbox, "/cgi-bin/menu/create", menu)["errcode"] == errcode


def test_a_valid_menu_is_accepted(sandbox):
    assert _post(sandbox, "/cgi-bin/menu/create", {"button": [VIEW, {"name": "更多", "sub_button": [CLICK]}]}) == \
        {"errcode": 0, "errmsg": "ok"}
    every_kind = {"button": [
        {"type": "media_id", "name": "图片", "media_id": "MEDIA"},
        {"type": "miniprogram", "name": "小程序", "url": "http://example.com/", "appid": "wx1", "pagepath": "pages/a"},
        {"name": "更多", "sub_button": [{"type": "article_id", "name": "文章", "article_id": "ART"},
                                        {"type": "view_limited", "name": "图文", "media_id": "MEDIA"}]}]}
    assert _post(sandbox, "/cgi-bin/menu/create", every_kind)["errcode"] == 0


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


def _get(sandbox, path: str, token: str | None = None, **params) -> dict:
    token = token or sandbox.global_token()["access_token"]
    answer = requests.get(sandbox.url + path, params={"access_token": token, **params}, timeout=5)
    assert answer.status_code == 200
    return json.loads(answer.content)  # UTF-8, though served as text/plain without a charset


def _cgi_token(sandbox) -> str:
    return _get(sandbox, "/cgi-bin/token", token="", grant_type="client_credential", appid=APPID,
                secret=SECRET)["access_token"]


def test_stable_token_and_cgi_bin_token_keep_separate_slots(sandbox):
    stable = sandbox.global_token()["access_token"]
    first, second = _cgi_token(sandbox), _cgi_token(sandbox)  # a tool beside us using cgi-bin/token
    assert len({stable, first, second}) == 3
    assert sandbox.global_token()["access_token"] == stable  # stable_token still gives ours, never theirs
    assert sandbox.global_token_valid(stable) and sandbox.global_token_valid(second)
    assert sandbox.redis.ttl(f"wechat_sandbox:{APPID}:global-valid:{stable}") > 300  # not ended by their calls


def test_menu_get_gives_every_leaf_an_empty_sub_button_as_wechat_does(sandbox):
    assert _post(sandbox, "/cgi-bin/menu/create", {"button": [VIEW, {"name": "更多", "sub_button": [CLICK]}]}) == \
        {"errcode": 0, "errmsg": "ok"}
    assert _get(sandbox, "/cgi-bin/menu/get") == {"menu": {"button": [
        {**VIEW, "sub_button": []}, {"name": "更多", "sub_button": [{**CLICK, "sub_button": []}]}]}}


def test_menu_delete_removes_the_menu(sandbox):
    _post(sandbox, "/cgi-bin/menu/create", {"button": [VIEW]})
    assert _get(sandbox, "/cgi-bin/menu/delete", token="stale")["errcode"] == 40001
    assert _get(sandbox, "/cgi-bin/menu/delete") == {"errcode": 0, "errmsg": "ok"}
    assert _get(sandbox, "/cgi-bin/menu/get")["errcode"] == 46003


@pytest.mark.parametrize("params, errcode", [({"openid": "o_stranger"}, 40003), ({}, 41009),
                                             ({"openid": "o_alice", "access_token": "stale"}, 40001)])
def test_user_info_refuses_as_wechat_does(sandbox, params, errcode):
    sandbox.interacted("o_alice")
    assert _get(sandbox, "/cgi-bin/user/info", **params)["errcode"] == errcode


def test_user_info_follows_the_follows_and_unfollows_the_chat_page_sends(sandbox, redis, serve):
    from wechat_bot import create_app

    base = serve(create_app(redis=redis, sandbox_origin=True))
    chat = requests.Session()
    chat.post(base + "/sandbox/api/user", json={"openid": "o_bob", "nickname": "鲍勃"}, timeout=10)
    app_sandbox = type(sandbox)(redis, *_sandbox_credentials(base))
    app_sandbox.url = base

    def info() -> dict:
        return _get(app_sandbox, "/cgi-bin/user/info", openid="o_bob", lang="zh_CN")
    assert info() == {"subscribe": 0, "openid": "o_bob"}
    before = int(time.time())
    assert chat.post(base + "/sandbox/api/push", json={"kind": "subscribe"}, timeout=10).ok
    followed = info()
    assert followed["subscribe"] == 1 and before <= followed["subscribe_time"] <= time.time() + 1
    assert "nickname" not in followed  # WeChat stopped giving nickname and avatar here on 2021-12-27
    assert chat.post(base + "/sandbox/api/push", json={"kind": "unsubscribe"}, timeout=10).ok
    assert info() == {"subscribe": 0, "openid": "o_bob"}


def _sandbox_credentials(base: str) -> tuple[str, str]:
    from wechat_bot.sandbox import credentials

    made_up = credentials.load_or_create(Path("var"))
    return made_up["WECHAT_APPID"], made_up["WECHAT_SECRET"]


def test_custom_send_follows_the_48_hour_rule(sandbox):
    message = {"touser": "o_alice", "msgtype": "text", "text": {"content": "迟到的回复"}}
    sandbox.save_user("o_alice")  # known to the account, but never wrote
    assert _post(sandbox, "/cgi-bin/message/custom/send", message)["errcode"] == 45015
    sandbox.interacted("o_alice", at=time.time() - 48 * 3600 - 60)
    assert _post(sandbox, "/cgi-bin/message/custom/send", message)["errcode"] == 45015
    sandbox.interacted("o_alice", at=time.time() - 47 * 3600)
    assert _post(sandbox, "/cgi-bin/message/custom/send", message) == {"errcode": 0, "errmsg": "ok"}
    sandbox.pushed("o_alice", "event", "unsubscribe")
    answer = _post(sandbox, "/cgi-bin/message/custom/send", message)
    assert answer["errcode"] == 45015 and answer["errmsg"].startswith("response out of time limit")
    assert sandbox.sent("o_alice") == [message]


def test_a_follow_or_a_click_opens_custom_send_for_a_minute_only(sandbox, redis):
    from wechat_bot.sandbox import SandboxStore

    message = {"touser": "o_bob", "msgtype": "text", "text": {"content": "欢迎"}}
    a_minute_ago = SandboxStore(redis, APPID, SECRET, clock=lambda: time.time() - 61)
    sandbox.save_user("o_bob")
    sandbox.pushed("o_bob", "event", "subscribe")
    assert _post(sandbox, "/cgi-bin/message/custom/send", message)["errcode"] == 0
    a_minute_ago.pushed("o_bob", "event", "CLICK")
    assert _post(sandbox, "/cgi-bin/message/custom/send", message)["errcode"] == 45015
    sandbox.pushed("o_bob", "event", "CLICK")
    assert _post(sandbox, "/cgi-bin/message/custom/send", message)["errcode"] == 0
    a_minute_ago.pushed("o_bob", "event", "SCAN")
    sandbox.pushed("o_bob", "text")
    assert _post(sandbox, "/cgi-bin/message/custom/send", message)["errcode"] == 0  # a message: 48 hours


def test_template_send_needs_a_known_template_and_a_follower(sandbox):
    message = {"touser": "o_alice", "template_id": "TPL_ORDER", "data": {"first": {"value": "已发货"}}}
    sandbox.interacted("o_alice")
    assert _post(sandbox, "/cgi-bin/message/template/send", message)["errcode"] == 40037
    sandbox.add_template("TPL_ORDER", "订单通知", "{{first.DATA}}")
    assert _post(sandbox, "/cgi-bin/message/template/send", message, token="stale")["errcode"] == 40001
    sent = _post(sandbox, "/cgi-bin/message/template/send", message)
    assert sent["errcode"] == 0 and isinstance(sent["msgid"], int)
    assert sandbox.templates_sent("o_alice") == [{**message, "msgid": sent["msgid"]}]
    assert _post(sandbox, "/cgi-bin/message/template/send", {**message, "touser": "o_nobody"})["errcode"] == 40003
    sandbox.pushed("o_alice", "event", "unsubscribe")
    assert _post(sandbox, "/cgi-bin/message/template/send", message)["errcode"] == 43004


@pytest.mark.parametrize("method, path", [
    ("POST", "/cgi-bin/menu/addconditional"), ("POST", "/cgi-bin/material/add_material"),
    ("GET", "/cgi-bin/get_api_domain_ip"), ("GET", "/cgi-bin/get_current_selfmenu_info"),
    ("POST", "/datacube/getusersummary"), ("GET", "/sns/jscode2session"), ("POST", "/customservice/kfaccount/add"),
    ("DELETE", "/cgi-bin/anything/at/all"), ("POST", "/wxa/getwxacode"),
])
def test_a_path_the_sandbox_does_not_simulate_is_wechats_json_not_a_web_page(sandbox, method, path):
    answer = requests.request(method, sandbox.url + path, timeout=5)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "text/plain"
    body = answer.json()
    assert body["errcode"] == 48001 and "the sandbox does not simulate " + path in body["errmsg"]


def test_the_readme_lists_exactly_the_endpoints_the_sandbox_serves_with_their_errcodes(redis):
    """The docs' sandbox table (docs/guide/sandbox.md, moved there from the README) names every WeChat API route of
    the sandbox, and nothing it does not serve, each with its method, its token and every errcode it can answer (the
    routes refuse to answer any other)."""
    import re

    from tests.conftest import project_root
    from wechat_bot.sandbox import api, create_sandbox_app

    page = (project_root() / "docs/guide/sandbox.md").read_text(encoding="utf-8")
    section = page.split("## 接口", 1)[1].split("\n## ", 1)[0]
    rows = {path: (method, token, {int(code) for code in re.findall(r"\d+", codes)})
            for path, method, token, codes in re.findall(
                r"^\| `(/[^`]+)` \| (GET|POST) \| (none|user|account) \| ([\d, ]*)\|", section, re.M)}
    app = create_sandbox_app(redis, APPID, SECRET)
    rules = {rule.rule: rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint in api._METHOD}
    assert set(rows) == set(rules), (f"docs/guide/sandbox.md lists {sorted(set(rows) - set(rules))} it does not serve, "
                                     f"leaves out {sorted(set(rules) - set(rows))}")
    for path, (method, token, codes) in rows.items():
        assert method == api._METHOD[rules[path]], path
        assert (token == "account") == (rules[path] in api._ACCOUNT_TOKEN), path
        implied = {43001 if method == "GET" else 43002, *(api.TOKEN_ERRCODES if token == "account" else ())}
        assert codes | implied == api.ERRCODES[path], f"{path}: docs {sorted(codes)}, " \
                                                      f"served {sorted(api.ERRCODES[path] - implied)}"
