"""wechat_bot inside an existing Flask site: WeChatBot(app), its routes under a prefix or a mount point, the
site's own pages untouched, login_required, current_user, and the user's token from the site's code."""
from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask, abort
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from tests.conftest import APPID, CREDENTIALS, NOWHERE, TOKEN
from tests.wechat_client import WeChat, flask_transport, http_transport
from wechat_bot import ReauthRequired, Router, UnknownUser, WeChatBot
from wechat_bot.oauth.tokens import TokenRecord, TokenStore

WECHAT_UA = {"User-Agent": "Mozilla/5.0 (iPhone) MicroMessenger/8.0.50 NetType/WIFI Language/zh_CN"}


def make_site(redis, config: dict | None = None, router: Router | None = None) -> tuple[Flask, WeChatBot]:
    """A small site with its own home, 404 and 403 pages and an account page that needs the WeChat user."""
    app = Flask("site")
    app.config.update({"SECRET_KEY": "site-secret", **CREDENTIALS, **NOWHERE, **(config or {})})
    wechat = WeChatBot(router=router)
    wechat.init_app(app, redis=redis)

    @app.get("/")
    def home():
        return "site home"

    @app.get("/private")
    def private():
        abort(403)

    @app.errorhandler(404)
    def not_found(error):
        return "site 404 page", 404

    @app.errorhandler(403)
    def forbidden(error):
        return "site 403 page", 403

    @app.get("/account")
    @wechat.login_required
    def account():
        return f"account of {wechat.current_user.openid}"

    @app.get("/profile")
    @wechat.login_required(scope="snsapi_userinfo")
    def profile():
        return f"profile of {wechat.current_user.nickname}"
    return app, wechat


def link_in(content: str) -> str:
    match = re.search(r'<a href="([^"]+)">', content)
    assert match, f"no link in {content!r}"
    return match.group(1)


def browser(phone, openid: str = "o_alice"):
    session = phone(openid)
    session.headers.update(WECHAT_UA)
    return session


def test_the_sites_own_pages_stay_its_own(redis):
    app, _ = make_site(redis)
    client = app.test_client()
    assert client.get("/").text == "site home"
    assert client.get("/nowhere").text == "site 404 page"
    assert client.get("/private").text == "site 403 page"
    wechat = WeChat(flask_transport(client), TOKEN, APPID)
    assert "snsapi_base" in wechat.says("登录").content


def test_a_bad_push_is_still_answered_by_our_handlers_not_the_sites(redis):
    app, _ = make_site(redis)
    response = app.test_client().post("/wechat?signature=x&timestamp=1&nonce=1", data=b"<xml/>")
    assert response.status_code == 403 and "site" not in response.text


@pytest.mark.parametrize("prefix", ["", "/wx"])
def test_push_callback_and_login_required_at_the_root_and_under_a_prefix(redis, sandbox, serve, phone, prefix):
    app, _ = make_site(redis, {"WECHAT_URL_PREFIX": prefix, "WECHAT_API_BASE": sandbox.url,
                               "WECHAT_OPEN_BASE": sandbox.url})
    base = serve(app)
    chat = WeChat(http_transport(base), TOKEN, APPID, openid="o_alice")
    chat.transport = http_transport(base + prefix)
    link = link_in(chat.says("登录").content)
    redirect_uri = parse_qs(urlsplit(link).query)["redirect_uri"][0]
    assert redirect_uri == f"{base}{prefix}/oauth/callback"
    page = browser(phone).get(link, timeout=10)
    assert page.status_code == 200 and "o_alice" in page.text
    account = browser(phone, "o_bob").get(base + "/account?tab=1", timeout=10)
    assert account.url.split("#")[0] == base + "/account?tab=1" and account.text == "account of o_bob"


def test_login_required_with_userinfo_scope_asks_for_consent_and_knows_the_nickname(redis, sandbox, serve, phone):
    sandbox.save_user("o_carol", nickname="卡罗尔")
    app, _ = make_site(redis, {"WECHAT_API_BASE": sandbox.url, "WECHAT_OPEN_BASE": sandbox.url})
    base, session = serve(app), browser(phone, "o_carol")
    consent = session.get(base + "/profile", timeout=10)
    assert "允许" in consent.text
    form = dict(re.findall(r'name="(\w+)" value="([^"]*)"', consent.text))
    page = session.post(sandbox.url + "/connect/oauth2/authorize/confirm", data={**form, "decision": "allow"},
                        timeout=10)
    assert page.url.split("#")[0] == base + "/profile" and page.text == "profile of 卡罗尔"


def test_under_a_mount_point_links_carry_it(redis, sandbox, serve, phone):
    site, _ = make_site(redis, {"WECHAT_URL_PREFIX": "/wx", "WECHAT_API_BASE": sandbox.url,
                                "WECHAT_OPEN_BASE": sandbox.url})
    outer = Flask("outer")
    outer.wsgi_app = DispatcherMiddleware(outer.wsgi_app, {"/site": site})
    base = serve(outer)
    chat = WeChat(http_transport(base + "/site/wx"), TOKEN, APPID, openid="o_alice")
    link = link_in(chat.says("登录").content)
    assert parse_qs(urlsplit(link).query)["redirect_uri"][0] == f"{base}/site/wx/oauth/callback"
    assert "o_alice" in browser(phone).get(link, timeout=10).text
    account = browser(phone, "o_dan").get(base + "/site/account", timeout=10)
    assert account.url.split("#")[0] == base + "/site/account" and account.text == "account of o_dan"


def test_outside_wechats_browser_the_visitor_is_offered_the_qr_code_or_told_to_open_it_in_wechat(redis):
    desktop = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120"}
    app, _ = make_site(redis)
    page = app.test_client().get("/account", headers=desktop)
    assert page.status_code == 302 and page.location.startswith("/oauth/qr?next=/account")
    app, _ = make_site(redis, {"WECHAT_QR_LOGIN": "off"})
    page = app.test_client().get("/account", headers=desktop)
    assert page.status_code == 403 and "请在微信中打开" in page.text


def test_two_apps_in_one_process_keep_their_own_settings(redis):
    first, _ = make_site(redis)
    second, _ = make_site(redis, {"WECHAT_TOKEN": "othertoken", "WECHAT_URL_PREFIX": "/wx"})
    assert WeChat(flask_transport(first.test_client()), TOKEN, APPID).says("hi").status == 200
    other = WeChat(flask_transport(second.test_client()), "othertoken", APPID)
    other.transport = flask_transport(second.test_client())
    assert other.deliver(other.fields("text", Content="hi")).status == 404  # /wechat is not its route
    assert second.test_client().post("/wx/wechat?" + "&".join(f"{k}={v}" for k, v in other.query().items()),
                                     data=b"<xml><ToUserName>a</ToUserName></xml>").status_code == 400
    assert first.extensions["wechat_bot"].settings.token != second.extensions["wechat_bot"].settings.token


def test_a_redis_client_that_decodes_responses_stops_start_up_with_one_line(redis):
    """Such a client (common in sites: decode_responses=True) would make every push a 403; it is refused."""
    import redis as redis_py

    from wechat_bot.errors import ConfigError

    decoding = redis_py.Redis(unix_socket_path=redis.connection_pool.connection_kwargs["path"],
                              decode_responses=True)
    with pytest.raises(ConfigError, match="decode_responses=True"):
        make_site(decoding)


def test_a_redis_url_that_decodes_responses_stops_start_up_with_one_line(redis):
    """The same asked for in REDIS_URL's query (its options win over the client's): renewal would fail on it."""
    from wechat_bot import create_app
    from wechat_bot.errors import ConfigError

    url = f"unix://{redis.connection_pool.connection_kwargs['path']}?decode_responses=True"
    with pytest.raises(ConfigError, match="^REDIS_URL: decode_responses"):
        create_app({**CREDENTIALS, **NOWHERE, "REDIS_URL": url})


@pytest.fixture
def authorized(redis, sandbox):
    """A site talking to the sandbox, and o_alice's tokens stored as the callback stores them."""
    app, wechat = make_site(redis, {"WECHAT_API_BASE": sandbox.url, "WECHAT_OPEN_BASE": sandbox.url,
                                    "PUBLIC_BASE_URL": "https://site.example"})
    sandbox.save_user("o_alice", nickname="爱丽丝")
    TokenStore(redis, APPID).save(TokenRecord.from_exchange(sandbox.grant("o_alice", "snsapi_userinfo"), time.time()))
    return app, wechat


def test_the_users_access_token_comes_back_renewed_after_it_expires(authorized, sandbox):
    app, wechat = authorized
    with app.app_context():
        creds = wechat.user("o_alice")
        first = creds.access_token
        sandbox.expire_access_token("o_alice")
        store = TokenStore(app.extensions["wechat_bot"].redis, APPID)
        record = store.get("o_alice")
        store.save(TokenRecord(**{**record.__dict__, "access_token_expires_at": int(time.time()) - 1}))
        renewed = wechat.user("o_alice").access_token
        assert renewed != first and sandbox.access(renewed)[0] == "ok"
        assert wechat.user("o_alice").userinfo()["nickname"] == "爱丽丝"
        assert wechat.user("o_alice").check() is True


def test_reauth_required_carries_a_working_authorize_url(authorized, sandbox, phone):
    app, wechat = authorized
    sandbox.expire_refresh_token("o_alice")
    store = TokenStore(app.extensions["wechat_bot"].redis, APPID)
    record = store.get("o_alice")
    store.save(TokenRecord(**{**record.__dict__, "access_token_expires_at": int(time.time()) - 1}))
    with app.app_context(), pytest.raises(ReauthRequired) as raised:
        wechat.user("o_alice").access_token  # noqa: B018 - the property raises ReauthRequired
    url = raised.value.authorize_url
    assert url.startswith(sandbox.url + "/connect/oauth2/authorize?")
    assert parse_qs(urlsplit(url).query)["redirect_uri"][0] == "https://site.example/oauth/callback"
    page = browser(phone).get(url, allow_redirects=False, timeout=10)
    assert page.status_code in (200, 302) and "错误码" not in page.text


def test_an_unknown_openid_is_a_clear_error_not_none(authorized):
    app, wechat = authorized
    with app.app_context(), pytest.raises(UnknownUser, match="o_nobody"):
        wechat.user("o_nobody")


def test_a_site_without_credentials_serves_the_sandbox_under_its_prefix(redis, serve, monkeypatch):
    import requests

    app = Flask("devsite")
    app.config.update(SECRET_KEY="dev", WECHAT_URL_PREFIX="/wx")
    WeChatBot().init_app(app, redis=redis, sandbox_origin="http://127.0.0.1:1")  # as `wechat-bot serve --app`
    outer = Flask("outer")
    outer.wsgi_app = DispatcherMiddleware(outer.wsgi_app, {"/site": app})
    base = serve(outer)
    browser = requests.Session()
    assert browser.get(base + "/site/wx/sandbox/chat", timeout=10).status_code == 200
    assert browser.post(base + "/site/wx/sandbox/api/user", json={"openid": "o_dev"}, timeout=10).ok
    reply = browser.post(base + "/site/wx/sandbox/api/push", json={"kind": "text", "content": "登录"}, timeout=10)
    link = link_in(reply.json()["reply_html"]).replace("&amp;", "&")
    assert link.startswith(base + "/site/wx/connect/oauth2/authorize?")
    page = browser.get(link, timeout=10)
    assert page.status_code == 200 and "o_dev" in page.text and page.url.startswith(base + "/site/wx/oauth/result/")
    assert browser.get(base + "/", timeout=10).status_code == 404  # the site's / is not taken by the sandbox
