"""The web-authorization story over real HTTP: a link in chat, the sandbox's authorize page, our callback."""
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import APPID, TOKEN
from tests.wechat_client import WeChat, http_transport
from wechat_bot import defaults
from wechat_bot.oauth.signals import on_authorized
from wechat_bot.oauth.state import state_key
from wechat_bot.oauth.tokens import TokenStore
from wechat_bot.sandbox import Fault

EXCHANGE = "/sns/oauth2/access_token"


def link_in(reply) -> str:
    match = re.search(r'<a href="([^"]+)">', reply.content)
    assert match, f"no link in {reply.content!r}"
    return match.group(1)


@pytest.fixture
def chat(site):
    base, app = site()
    return WeChat(http_transport(base), TOKEN, APPID, openid="o_alice")


def test_login_link_is_wechats_authorize_url_in_documented_order(chat, sandbox):
    url = link_in(chat.says("登录"))
    assert url.startswith(sandbox.url + "/connect/oauth2/authorize?appid=" + APPID + "&redirect_uri=")
    assert url.endswith("&connect_redirect=1#wechat_redirect")
    query = parse_qs(urlsplit(url).query)
    assert list(parse_qs(urlsplit(url).query)) == ["appid", "redirect_uri", "response_type", "scope", "state",
                                                   "connect_redirect"]
    assert query["scope"] == ["snsapi_base"] and query["response_type"] == ["code"]
    assert re.fullmatch(r"[A-Za-z0-9]{1,128}", query["state"][0])
    assert query["redirect_uri"][0].endswith("/oauth/callback")


def test_login_ends_on_a_page_with_the_openid_and_tokens_in_redis(chat, phone, redis, sandbox):
    page = phone().get(link_in(chat.says("登录")), timeout=10)
    assert page.status_code == 200 and "登录成功" in page.text and "o_alice" in page.text
    assert "code=" not in page.url and "/oauth/result/" in page.url
    record = TokenStore(redis, APPID).get("o_alice")
    assert record.scope == "snsapi_base" and record.refresh_token
    assert sandbox.access(record.access_token)[0] == "ok"
    assert record.refresh_token_expires_at - record.consented_at == 30 * 24 * 3600


def test_userinfo_allow_shows_nickname_and_avatar(chat, phone, redis, sandbox):
    sandbox.save_user("o_alice", nickname="爱丽丝", headimgurl="https://thirdwx.qlogo.cn/mmopen/a/132",
                      unionid="u_alice")
    browser = phone()
    page = decide(browser, link_in(chat.says("资料")), sandbox, "allow")
    assert page.status_code == 200 and "爱丽丝" in page.text
    assert 'src="https://thirdwx.qlogo.cn/mmopen/a/132"' in page.text
    record = TokenStore(redis, APPID).get("o_alice")
    assert (record.scope, record.nickname, record.unionid) == ("snsapi_userinfo", "爱丽丝", "u_alice")


def test_userinfo_deny_ends_on_a_page_saying_so(chat, phone, redis, sandbox):
    browser = phone()
    page = decide(browser, link_in(chat.says("资料")), sandbox, "deny")
    assert page.status_code == 200 and "拒绝授权" in page.text
    assert TokenStore(redis, APPID).get("o_alice") is None


def decide(browser, link: str, sandbox, decision: str):
    """Open a userinfo link, check the consent page, tap 允许 or 拒绝; returns where the phone ends."""
    consent = browser.get(link, timeout=10)
    assert consent.status_code == 200 and "允许" in consent.text and "拒绝" in consent.text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', consent.text))
    return browser.post(sandbox.url + "/connect/oauth2/authorize/confirm", data={**fields, "decision": decision},
                        timeout=10)


def callback_url(link: str, phone_session) -> str:
    """Where the authorize page sends the phone back: our callback with code and state."""
    response = phone_session.get(link, allow_redirects=False, timeout=10)
    assert response.status_code == 302
    return response.headers["Location"]


@pytest.mark.parametrize("state", ["forged0state0value", "", "not*alnum", "x" * 129])
def test_a_forged_state_gets_a_400_page_asking_for_a_new_link(site, phone, sandbox, state):
    base, _ = site()
    page = phone().get(f"{base}/oauth/callback", params={"code": "anything", "state": state}, timeout=10)
    assert page.status_code == 400 and "重新发送「登录」" in page.text
    assert sandbox.calls(EXCHANGE) == 0


def test_an_expired_state_gets_the_400_page(chat, phone, redis, sandbox):
    link = link_in(chat.says("登录"))
    redis.delete(state_key(APPID, parse_qs(urlsplit(link).query)["state"][0]))  # what its expiry does
    page = phone().get(link, timeout=10)
    assert page.status_code == 400 and "已过期" in page.text


def test_a_replayed_state_gets_the_400_page(chat, phone):
    link = link_in(chat.says("登录"))
    assert phone().get(link, timeout=10).status_code == 200
    again = phone().get(link, timeout=10)  # a new code, but the state was used
    assert again.status_code == 400 and "已过期或已经用过" in again.text


def test_wechats_double_callback_exchanges_the_code_once_and_both_land_on_the_result(chat, phone, sandbox):
    browser = phone()
    callback = callback_url(link_in(chat.says("登录")), browser)
    first = browser.get(callback, timeout=10)
    second = browser.get(callback, timeout=10)
    assert first.status_code == second.status_code == 200
    assert first.url == second.url and "o_alice" in second.text
    assert sandbox.calls(EXCHANGE) == 1


@pytest.mark.parametrize("errcode", [40029, 40163])
def test_a_refused_code_asks_to_tap_the_link_again(chat, phone, sandbox, errcode, redis):
    sandbox.inject(EXCHANGE, Fault(errcode=errcode))
    page = phone().get(link_in(chat.says("登录")), timeout=10)
    assert page.status_code == 400 and "重新点击链接" in page.text
    assert TokenStore(redis, APPID).get("o_alice") is None


def test_a_code_already_used_elsewhere_is_40163_from_the_sandbox_and_a_page_here(chat, phone, sandbox):
    import requests

    browser = phone()
    callback = callback_url(link_in(chat.says("登录")), browser)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    used = requests.get(sandbox.url + EXCHANGE, params={"appid": APPID, "secret": sandbox.secret, "code": code,
                                                         "grant_type": "authorization_code"}, timeout=5)
    assert used.json()["openid"] == "o_alice"
    page = browser.get(callback, timeout=10)
    assert page.status_code == 400 and "重新点击链接" in page.text


def test_wechat_busy_then_fine_is_retried(chat, phone, sandbox, redis):
    sandbox.inject(EXCHANGE, Fault(errcode=-1), times=2)
    page = phone().get(link_in(chat.says("登录")), timeout=20)
    assert page.status_code == 200 and "o_alice" in page.text
    assert sandbox.calls(EXCHANGE) == 3 and TokenStore(redis, APPID).get("o_alice")


def test_wechat_timing_out_is_retried(chat, phone, sandbox, redis, monkeypatch):
    monkeypatch.setattr(defaults, "WECHAT_TIMEOUT", 0.5)
    chat_again = chat  # links are made before the timeout matters
    sandbox.inject(EXCHANGE, Fault(delay=1.0))
    page = phone().get(link_in(chat_again.says("登录")), timeout=20)
    assert page.status_code == 200 and "o_alice" in page.text


def test_wechat_down_gets_a_503_page_and_a_refresh_works_once_it_is_back(site, phone, sandbox, redis,
                                                                          monkeypatch):
    monkeypatch.setattr(defaults, "WECHAT_RETRY_BUDGET", 1.0)
    base, _ = site()
    chat = WeChat(http_transport(base), TOKEN, APPID)
    browser = phone()
    callback = callback_url(link_in(chat.says("登录")), browser)
    sandbox.inject(EXCHANGE, Fault(status=502), times=20)
    down = browser.get(callback, timeout=20)
    assert down.status_code == 503 and "稍后刷新" in down.text
    redis.delete(f"wechat_sandbox:{APPID}:faults:" + EXCHANGE)
    back = browser.get(callback, timeout=20)
    assert back.status_code == 200 and "o_alice" in back.text and TokenStore(redis, APPID).get("o_alice")


def test_a_nickname_full_of_html_and_emoji_is_shown_escaped(chat, phone, sandbox):
    sandbox.save_user("o_alice", nickname='<script>alert("x")</script>😀🎉', headimgurl='javascript:alert(1)')
    browser = phone()
    page = decide(browser, link_in(chat.says("资料")), sandbox, "allow")
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text and "😀🎉" in page.text
    assert "javascript:" not in page.text


def test_a_forwarded_link_stores_the_visitors_own_tokens(chat, phone, redis):
    link = link_in(chat.says("登录"))  # sent to Alice
    page = phone("o_bob").get(link, timeout=10)  # Bob taps it
    assert page.status_code == 200 and "o_bob" in page.text and "o_alice" not in page.text
    assert TokenStore(redis, APPID).get("o_bob") is not None
    assert TokenStore(redis, APPID).get("o_alice") is None


def test_a_snapshot_user_is_told_to_use_the_full_service_and_not_stored(chat, phone, sandbox, redis):
    sandbox.save_user("o_alice", snapshot=True)
    browser = phone()
    page = decide(browser, link_in(chat.says("资料")), sandbox, "allow")
    assert page.status_code == 200 and "使用完整服务" in page.text
    assert TokenStore(redis, APPID).get("o_alice") is None


def test_site_login_returns_to_next_signed_in(site, phone):
    base, app = site()

    @app.get("/account")
    def account():
        from flask import session
        return f"hello {session.get('wechat_openid', 'stranger')}"

    browser = phone()
    page = browser.get(f"{base}/oauth/login", params={"next": "/account"}, timeout=10)
    assert page.url.split("#")[0] == base + "/account" and page.text == "hello o_alice"


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:1"])
def test_next_is_never_an_open_redirect(site, phone, target):
    base, _ = site()
    page = phone().get(f"{base}/oauth/login", params={"next": target}, timeout=10)
    assert page.url.startswith(base + "/oauth/result/")


def test_on_authorized_fires_once_per_authorization(chat, phone):
    seen = []

    def bind(app, openid, scope, record, next_path):
        seen.append((openid, scope))

    on_authorized.connect(bind)
    try:
        browser = phone()
        callback = callback_url(link_in(chat.says("登录")), browser)
        browser.get(callback, timeout=10)
        browser.get(callback, timeout=10)
    finally:
        on_authorized.disconnect(bind)
    assert seen == [("o_alice", "snsapi_base")]


def test_a_failing_on_authorized_receiver_does_not_fail_the_user(chat, phone, push_log):
    def broken(app, **kwargs):
        raise RuntimeError("crm down")

    on_authorized.connect(broken)
    try:
        page = phone().get(link_in(chat.says("登录")), timeout=10)
    finally:
        on_authorized.disconnect(broken)
    assert page.status_code == 200 and "o_alice" in page.text
    assert "on_authorized receiver failed" in push_log.text


def test_an_unknown_result_ticket_is_a_friendly_404(site, phone):
    base, _ = site()
    page = phone().get(base + "/oauth/result/nope", timeout=10)
    assert page.status_code == 404 and "页面已过期" in page.text and "<html" in page.text


def test_redis_down_on_the_callback_is_a_friendly_503_page(serve, phone, tmp_path, sandbox, push_log):
    from tests.conftest import CREDENTIALS
    from wechat_bot import create_app

    app = create_app({**CREDENTIALS, "REDIS_URL": f"unix://{tmp_path}/gone.sock", "WECHAT_API_BASE": sandbox.url})
    base = serve(app)
    page = phone().get(base + "/oauth/callback", params={"code": "c", "state": "abc"}, timeout=10)
    assert page.status_code == 503 and "服务暂时不可用" in page.text and "Traceback" not in page.text
    assert "Redis unavailable on /oauth/callback" in push_log.text


def test_an_unknown_page_is_a_friendly_404(site, phone):
    base, _ = site()
    page = phone().get(base + "/oauth/nothing-here", timeout=10)
    assert page.status_code == 404 and "页面不存在" in page.text
