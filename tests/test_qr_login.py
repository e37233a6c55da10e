"""Scan to sign in: a desktop shows the account's QR code, the phone that scans it confirms, and that desktop, and
no other browser, is signed in; retries, second scans, expiry, cancel, and accounts without parametric codes."""
from __future__ import annotations

import json
import re
import time
from urllib.parse import urljoin

import pytest
import requests

from tests.conftest import APPID, TOKEN, inside_one_window
from tests.wechat_client import WeChat, http_transport
from wechat_bot.qr_login import handlers as qr_handlers
from wechat_bot.sandbox.qrcodes import URL_PREFIX
from wechat_bot.sandbox.store import key as sandbox_key

DESKTOP = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120"}


def desktop_browser() -> requests.Session:
    browser = requests.Session()
    browser.headers.update(DESKTOP)
    return browser


def show_code(browser: requests.Session, base: str, next_path: str = "/home") -> str:
    page = browser.get(f"{base}/oauth/qr", params={"next": next_path}, timeout=10)
    assert page.status_code == 200 and "<svg" in page.text and "请使用微信扫一扫" in page.text, page.text[:500]
    return re.search(r'data-url="([^"]+)"', page.text).group(1)


def scene_of(sandbox, url: str) -> str:
    assert url.startswith(URL_PREFIX)
    return json.loads(sandbox.redis.get(sandbox_key(APPID, "qrcode", url[len(URL_PREFIX):])))["scene"]


def status(browser: requests.Session, base: str) -> dict:
    return browser.get(f"{base}/oauth/qr/status", timeout=10).json()


def confirm_link(reply: str) -> str:
    return re.search(r'<a href="([^"]+)">确认登录</a>', reply).group(1)


def wechat_phone(openid: str) -> requests.Session:
    """WeChat's browser on the phone of `openid` (the sandbox knows its user by a cookie)."""
    phone = requests.Session()
    phone.headers["User-Agent"] = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0.47"
    phone.cookies.set("wx_openid", openid)
    return phone


def confirm_on_phone(link: str, decision: str = "confirm", openid: str = "o_scanner") -> requests.Response:
    """The scanner opens the chat's link (a silent authorize says who they are the first time), then decides."""
    phone = wechat_phone(openid)
    page = phone.get(link, timeout=10)
    assert page.status_code == 200 and "确认登录" in page.text and "127.0.0.1" in page.text
    form = dict(re.findall(r'name="(scene|t)" value="([^"]+)"', page.text))
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    return phone.post(link.split("/oauth/")[0] + action[action.index("/oauth/"):],
                      data={**form, "decision": decision}, timeout=10)


@pytest.mark.parametrize("follower", [True, False])
def test_a_scan_confirmed_on_the_phone_signs_in_that_desktop_and_no_other_browser(site, sandbox, follower):
    base, app = site()
    desktop, other = desktop_browser(), desktop_browser()
    url = show_code(desktop, base)
    assert status(desktop, base)["state"] == "pending"
    show_code(other, base)  # another browser's own code
    scene = scene_of(sandbox, url)
    chat = WeChat(http_transport(base), TOKEN, APPID, openid="o_scanner")
    if follower:
        reply = chat.event("SCAN", scene, Ticket="gQx")
    else:
        reply = chat.event("subscribe", "qrscene_" + scene, Ticket="gQx")
    assert "确认登录" in reply.content and "127.0.0.1" in reply.content
    assert reply.content.startswith("欢迎关注") != follower
    assert status(desktop, base)["state"] == "scanned"
    done = confirm_on_phone(confirm_link(reply.content))
    assert done.status_code == 200 and "已确认登录" in done.text
    assert status(other, base)["state"] == "pending"  # the other browser's code is its own, and unscanned
    confirmed = status(desktop, base)
    assert confirmed == {"state": "confirmed", "next": "/home"}
    assert status(desktop, base)["state"] == "expired"  # spent


def test_without_js_the_refresh_link_shows_the_scan_and_signs_in_once_confirmed(site, sandbox):
    """The page's 刷新状态 link (a plain reload) says what the phone did, and after the confirm signs this browser
    in and sends it on, instead of drawing a new code over a confirmed one."""
    base, app = site()
    desktop = desktop_browser()
    show_code(desktop, base, next_path="/profile")
    again = desktop.get(f"{base}/oauth/qr", params={"next": "/profile", "new": 1}, timeout=10)  # 换一个
    assert "new=" not in again.url  # a reload of this page must not draw yet another code
    url = re.search(r'data-url="([^"]+)"', again.text).group(1)
    reply = WeChat(http_transport(base), TOKEN, APPID, openid="o_scanner").event("SCAN", scene_of(sandbox, url),
                                                                                  Ticket="gQx")
    refresh = re.search(r'href="([^"]+)" id="refresh"', again.text).group(1).replace("&amp;", "&")
    reloaded = desktop.get(base + refresh, timeout=10)
    assert '<h1 id="qr-title">已扫码，请在手机上确认</h1>' in reloaded.text and f'data-url="{url}"' in reloaded.text
    confirm_on_phone(confirm_link(reply.content))
    made = sandbox.calls("/cgi-bin/qrcode/create")
    signed_in = desktop.get(base + refresh, allow_redirects=False, timeout=10)
    assert signed_in.status_code == 302 and signed_in.headers["Location"].endswith("/profile")
    assert sandbox.calls("/cgi-bin/qrcode/create") == made  # no new code drawn over the confirmed one
    assert status(desktop, base)["state"] == "expired"  # spent: signed in once


def test_the_confirm_page_names_the_site_as_the_chat_reply_does_behind_a_proxy(site, sandbox):
    base, _ = site({"PUBLIC_BASE_URL": "http://shop.example.com"})  # http: cookies marked Secure skip plain http
    desktop = desktop_browser()
    scene = scene_of(sandbox, show_code(desktop, base))
    reply = WeChat(http_transport(base), TOKEN, APPID, openid="o_scanner").event("SCAN", scene, Ticket="gQx")
    assert "「shop.example.com」" in reply.content
    phone, link = wechat_phone("o_scanner"), confirm_link(reply.content)
    page = phone.get(link.replace("http://shop.example.com", base), allow_redirects=False, timeout=10)
    while page.is_redirect:  # through the authorize and back, the proxy played here
        page = phone.get(urljoin(page.url, page.headers["Location"]).replace("http://shop.example.com", base),
                         allow_redirects=False, timeout=10)
    assert "「shop.example.com」" in page.text and "「127.0.0.1" not in page.text  # the site, not the host it came to


def test_the_status_poll_answers_json_when_redis_is_down(site, make_app, serve):
    import redis as redis_py

    from tests import processes

    base, _ = site()
    desktop = desktop_browser()
    show_code(desktop, base)  # this browser's session names its code
    down = serve(make_app(redis=redis_py.Redis(port=processes.free_port(), socket_connect_timeout=0.2)))
    answer = desktop.get(f"{down}/oauth/qr/status", timeout=10)
    assert answer.status_code == 503 and "Redis" in answer.json()["error"]


def test_a_retried_scan_gets_the_same_reply_and_a_second_scanner_signs_in_nobody(site, sandbox):
    base, _ = site()
    desktop = desktop_browser()
    scene = scene_of(sandbox, show_code(desktop, base))
    alice = WeChat(http_transport(base), TOKEN, APPID, openid="o_alice")
    fields = alice.fields("event", Event="SCAN", EventKey=scene, Ticket="gQx")
    first = alice.deliver(fields)
    assert alice.deliver(fields).body == first.body
    assert alice.deliver(fields, query=alice.query(nonce="retry")).body == first.body
    mallory = WeChat(http_transport(base), TOKEN, APPID, openid="o_mallory")
    assert mallory.event("SCAN", scene, Ticket="gQx").content == qr_handlers.TAKEN_TEXT
    confirm_on_phone(confirm_link(first.content), openid="o_alice")
    assert status(desktop, base)["state"] == "confirmed"
    later = {**fields, "CreateTime": fields["CreateTime"] + 1}  # a new scan, not a retry of the first
    assert alice.deliver(later).content == qr_handlers.EXPIRED_TEXT  # spent


def test_a_cancel_signs_in_nobody_and_the_confirm_link_works_once(site, sandbox):
    base, _ = site()
    desktop = desktop_browser()
    scene = scene_of(sandbox, show_code(desktop, base))
    reply = WeChat(http_transport(base), TOKEN, APPID, openid="o_alice").event("SCAN", scene, Ticket="gQx")
    link = confirm_link(reply.content)
    assert "已取消" in confirm_on_phone(link, "cancel", openid="o_alice").text
    assert status(desktop, base) == {"state": "expired", "next": None, "cancelled": True}
    assert wechat_phone("o_alice").get(link, timeout=10).status_code == 409
    assert wechat_phone("o_alice").get(link.replace("t=", "t=x"), timeout=10).status_code == 404


def test_only_the_scanners_wechat_can_confirm_and_not_outside_wechat(site, sandbox):
    """The confirm link is bound to the openid that scanned: opened by another WeChat user (a forwarded link, a
    screenshot) it is refused after the silent authorize says who they are, and a browser outside WeChat is told
    to open it in WeChat; the desktop is signed in by neither."""
    base, _ = site()
    desktop = desktop_browser()
    scene = scene_of(sandbox, show_code(desktop, base))
    link = confirm_link(WeChat(http_transport(base), TOKEN, APPID, openid="o_alice").event("SCAN", scene,
                                                                                            Ticket="gQx").content)
    mallory = wechat_phone("o_mallory")
    refused = mallory.get(link, timeout=10)
    assert refused.status_code == 403 and "请用扫码的微信确认" in refused.text
    posted = mallory.post(f"{base}/oauth/qr/confirm", data={**dict(re.findall(r"(scene|t)=([^&]+)", link)),
                                                            "decision": "confirm"}, timeout=10)
    assert posted.status_code == 403 and "请用扫码的微信确认" in posted.text
    outside = requests.get(link, timeout=10)
    assert outside.status_code == 403 and "请在微信中打开" in outside.text
    assert status(desktop, base)["state"] == "scanned"
    mallory.cookies.set("wx_openid", "o_alice")  # the phone switched to the scanner's WeChat account: asked again
    switched = mallory.get(link, timeout=10)
    assert switched.status_code == 200 and 'id="confirm"' in switched.text
    confirm_on_phone(link, openid="o_alice")
    assert status(desktop, base)["state"] == "confirmed"


@pytest.mark.parametrize("days_left, kept", [(29, True), (2, False)])
def test_the_confirm_on_the_phone_keeps_the_users_earlier_consent(site, sandbox, redis, days_left, kept):
    """The silent authorize that says who is confirming stores no base tokens over the user's active
    snsapi_userinfo ones (their profile and consent stay); in their last days, the new 30 days replace them."""
    from wechat_bot.oauth.tokens import TokenRecord, TokenStore

    base, _ = site()
    store, now = TokenStore(redis, APPID), int(time.time())
    store.save(TokenRecord(openid="o_alice", scope="snsapi_userinfo", access_token="A", refresh_token="R",
                           access_token_expires_at=now + 3600, refresh_token_expires_at=now + days_left * 86400,
                           consented_at=now, nickname="爱丽丝"))
    desktop = desktop_browser()
    scene = scene_of(sandbox, show_code(desktop, base))
    reply = WeChat(http_transport(base), TOKEN, APPID, openid="o_alice").event("SCAN", scene, Ticket="gQx")
    confirm_on_phone(confirm_link(reply.content), openid="o_alice")
    stored = store.get("o_alice")
    if kept:
        assert stored.scope == "snsapi_userinfo" and stored.nickname == "爱丽丝" and stored.refresh_token == "R"
    else:
        assert stored.scope == "snsapi_base" and stored.refresh_token != "R"
        assert stored.refresh_token_expires_at > now + 29 * 86400


def test_the_confirm_token_is_masked_in_the_servers_access_log(site, sandbox, caplog):
    import logging
    from urllib.parse import parse_qs, urlsplit

    caplog.set_level(logging.INFO, logger="werkzeug")
    base, _ = site()
    scene = scene_of(sandbox, show_code(desktop_browser(), base))
    reply = WeChat(http_transport(base), TOKEN, APPID, openid="o_alice").event("SCAN", scene, Ticket="gQx")
    link = confirm_link(reply.content)
    confirm_on_phone(link, openid="o_alice")
    token = parse_qs(urlsplit(link).query)["t"][0]
    assert "/oauth/qr/confirm?scene=" in caplog.text and token not in caplog.text
    assert "t=***" in caplog.text


def test_the_phone_shows_when_the_code_was_shown_in_china_time_whatever_the_servers_zone(site, sandbox, redis):
    import os
    from datetime import datetime, timedelta, timezone

    previous = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"  # a server abroad, or a container in UTC
    time.tzset()
    try:
        base, _ = site()
        scene = scene_of(sandbox, show_code(desktop_browser(), base))
        shown_at = json.loads(redis.get(f"wechat_bot:{APPID}:qr:{scene}"))["shown_at"]
        clock = datetime.fromtimestamp(shown_at, timezone(timedelta(hours=8))).strftime("%H:%M")
        reply = WeChat(http_transport(base), TOKEN, APPID, openid="o_alice").event("SCAN", scene, Ticket="gQx")
        assert f"二维码于 {clock} 显示" in reply.content
        assert f"（{clock} 显示）" in wechat_phone("o_alice").get(confirm_link(reply.content), timeout=10).text
    finally:
        os.environ.pop("TZ") if previous is None else os.environ.update(TZ=previous)
        time.tzset()


def a_site(sandbox, name: str):
    """A site of its own with the extension, talking to the sandbox: (app, wechat)."""
    from flask import Flask

    from tests.conftest import CREDENTIALS
    from wechat_bot import WeChatBot

    app = Flask(name)
    app.config.update({"SECRET_KEY": "s", **CREDENTIALS, "WECHAT_API_BASE": sandbox.url,
                       "WECHAT_OPEN_BASE": sandbox.url})
    wechat = WeChatBot()
    wechat.init_app(app, redis=sandbox.redis)
    return app, wechat


def test_the_desktop_signed_in_by_qr_is_the_sites_current_user(site, sandbox, serve):
    app, wechat = a_site(sandbox, "qr_site")

    @app.get("/account")
    @wechat.login_required
    def account():
        user = wechat.current_user
        return f"{user.openid} {user.scope}"
    base = serve(app)
    desktop = desktop_browser()
    first = desktop.get(f"{base}/account", timeout=10)
    assert first.url.startswith(f"{base}/oauth/qr?next=") and "<svg" in first.text
    url = re.search(r'data-url="([^"]+)"', first.text).group(1)
    reply = WeChat(http_transport(base), TOKEN, APPID, openid="o_dan").event("SCAN", scene_of(sandbox, url))
    confirm_on_phone(confirm_link(reply.content), openid="o_dan")
    assert status(desktop, base)["next"] == "/account"
    assert desktop.get(f"{base}/account", timeout=10).text == "o_dan qrcode"


def test_a_desktop_signed_in_by_qr_on_a_userinfo_page_is_not_sent_round_to_the_code_again(site, sandbox, serve):
    from flask import Flask

    from tests.conftest import CREDENTIALS
    from wechat_bot import WeChatBot
    from wechat_bot.oauth.tokens import TokenRecord, TokenStore

    app = Flask("qr_site")
    app.config.update({"SECRET_KEY": "s", **CREDENTIALS, "WECHAT_API_BASE": sandbox.url,
                       "WECHAT_OPEN_BASE": sandbox.url})
    wechat = WeChatBot()
    wechat.init_app(app, redis=sandbox.redis)

    @app.get("/profile")
    @wechat.login_required(scope="snsapi_userinfo")
    def profile():
        return f"{wechat.current_user.openid} {wechat.current_user.scope}"
    base = serve(app)

    def sign_in_by_qr(openid: str) -> requests.Session:
        desktop = desktop_browser()
        url = re.search(r'data-url="([^"]+)"', desktop.get(f"{base}/profile", timeout=10).text).group(1)
        reply = WeChat(http_transport(base), TOKEN, APPID, openid=openid).event("SCAN", scene_of(sandbox, url))
        confirm_on_phone(confirm_link(reply.content), openid=openid)
        assert status(desktop, base) == {"state": "confirmed", "next": "/profile"}
        return desktop

    never_consented = sign_in_by_qr("o_dan").get(f"{base}/profile", timeout=10)
    assert never_consented.status_code == 403 and "请在微信中打开" in never_consented.text  # not the code again
    now = int(time.time())  # o_erin gave snsapi_userinfo on the phone earlier: her tokens carry it
    TokenStore(sandbox.redis, APPID).save(TokenRecord(
        openid="o_erin", scope="snsapi_userinfo", access_token="A", refresh_token="R",
        access_token_expires_at=now + 3600, refresh_token_expires_at=now + 30 * 86400, consented_at=now))
    assert sign_in_by_qr("o_erin").get(f"{base}/profile", timeout=10).text == "o_erin qrcode"


def test_an_account_without_parametric_codes_shows_a_short_code_sent_in_chat(site, sandbox):
    sandbox.configure(parametric_qr=False)
    base, _ = site()
    desktop = desktop_browser()
    page = desktop.get(f"{base}/oauth/qr", timeout=10)
    code = re.search(r'id="chat-code">(\d{6})<', page.text).group(1)
    assert "发送登录码" in page.text and "<svg" not in page.text.split("chat-code")[1][:200]
    chat = WeChat(http_transport(base), TOKEN, APPID, openid="o_alice")
    assert chat.says("000000" if code != "000000" else "000001").content == qr_handlers.UNKNOWN_CODE_TEXT
    reply = chat.says(code)
    link = confirm_link(reply.content)  # accounts showing chat codes have no web authorization: the token binds it
    page = requests.get(link, timeout=10)
    form = dict(re.findall(r'name="(scene|t)" value="([^"]+)"', page.text))
    assert "已确认登录" in requests.post(f"{base}/oauth/qr/confirm", data={**form, "decision": "confirm"},
                                     timeout=10).text
    assert status(desktop, base)["state"] == "confirmed"
    assert chat.says(code).content == qr_handlers.UNKNOWN_CODE_TEXT  # single use
    assert sandbox.calls("/cgi-bin/qrcode/create") == 1  # tried once, remembered
    desktop.get(f"{base}/oauth/qr?new=1", timeout=10)
    assert sandbox.calls("/cgi-bin/qrcode/create") == 1


def test_the_chat_code_page_names_the_account_to_send_it_to(site, sandbox, redis):
    from tests.conftest import CREDENTIALS
    from wechat_bot.check import run_checks
    from wechat_bot.config import Settings

    sandbox.configure(parametric_qr=False)
    base, _ = site({"WECHAT_ACCOUNT_NAME": "小店服务号"})
    page = desktop_browser().get(f"{base}/oauth/qr", timeout=10).text
    assert '公众号「<span id="account-name">小店服务号</span>」的聊天' in page
    settings = Settings.load({**CREDENTIALS, "PUBLIC_BASE_URL": "https://bot.example.com"})
    assert any("set WECHAT_ACCOUNT_NAME" in line for line in run_checks(settings, redis).lines())
    named = Settings.load({**CREDENTIALS, "PUBLIC_BASE_URL": "https://bot.example.com",
                           "WECHAT_ACCOUNT_NAME": "小店服务号"})
    assert not any("set WECHAT_ACCOUNT_NAME" in line for line in run_checks(named, redis).lines())


def test_a_chat_code_typed_in_full_width_digits_is_the_same_code(site, sandbox):
    sandbox.configure(parametric_qr=False)
    base, _ = site()
    desktop = desktop_browser()
    code = re.search(r'id="chat-code">(\d{6})<', desktop.get(f"{base}/oauth/qr", timeout=10).text).group(1)
    full_width = "".join(chr(ord(digit) + 0xFEE0) for digit in code)  # a Chinese IME in full-width mode
    reply = WeChat(http_transport(base), TOKEN, APPID, openid="o_alice").says(f" {full_width} ")
    confirm_on_phone(confirm_link(reply.content), openid="o_alice")
    assert status(desktop, base)["state"] == "confirmed"


def test_wrong_chat_codes_from_many_users_pause_chat_codes_and_spend_no_shown_code(site, sandbox, redis, caplog):
    """Guessing across many openids (each under its own limit) is bounded for the whole account: past the budget
    of wrong codes a minute, codes are refused unread: no guess is tried, and a shown code is not spent."""
    from wechat_bot import defaults

    sandbox.configure(parametric_qr=False)
    base, _ = site()
    desktop = desktop_browser()
    code = re.search(r'id="chat-code">(\d{6})<', desktop.get(f"{base}/oauth/qr", timeout=10).text).group(1)
    wrong = "000000" if code != "000000" else "000001"
    inside_one_window(defaults.QR_RATE_WINDOW, needed=20)
    for n in range(defaults.QR_CHAT_CODE_MISSES):
        guess = WeChat(http_transport(base), TOKEN, APPID, openid=f"o_guesser{n}").says(wrong)
        assert guess.content == qr_handlers.UNKNOWN_CODE_TEXT
    late_guess = WeChat(http_transport(base), TOKEN, APPID, openid="o_guesser_late").says(wrong)
    assert late_guess.content == qr_handlers.PAUSED_TEXT  # 30 tries a minute, not 31
    owner = WeChat(http_transport(base), TOKEN, APPID, openid="o_alice")
    assert owner.says(code).content == qr_handlers.PAUSED_TEXT
    assert status(desktop, base)["state"] == "pending"
    assert len([r for r in caplog.records if "chat codes paused" in r.getMessage()]) == 1
    for key in redis.keys(f"wechat_bot:{APPID}:ratelimit:qr-chat-misses:*"):  # the minute ends
        redis.delete(key)
    confirm_on_phone(confirm_link(owner.says(code).content), openid="o_alice")
    assert status(desktop, base)["state"] == "confirmed"


def test_six_digits_pass_on_to_the_sites_handlers_where_desktops_show_qr_codes(site, sandbox):
    base, _ = site()
    show_code(desktop_browser(), base)  # the account makes QR codes
    reply = WeChat(http_transport(base), TOKEN, APPID, openid="o_alice").says("123456")
    assert reply.content.startswith("发送「登录」")  # the help text, not the chat-code handler's


def test_codes_a_visitor_asks_for_are_limited_and_expire(site, sandbox, redis):
    from wechat_bot import defaults

    base, _ = site()
    desktop = desktop_browser()
    inside_one_window(defaults.QR_RATE_WINDOW)
    statuses = [desktop.get(f"{base}/oauth/qr?new=1", timeout=10).status_code
                for _ in range(defaults.QR_RATE_LIMIT + 1)]
    assert statuses == [200] * defaults.QR_RATE_LIMIT + [429]
    keys = redis.keys(f"wechat_bot:{APPID}:qr:wbl*")
    assert keys and all(0 < redis.ttl(key) <= defaults.QR_TTL for key in keys)


def test_two_hosts_sharing_redis_serve_one_sign_in(site, sandbox):
    desktop_host, _ = site()
    push_host, _ = site()
    desktop = desktop_browser()
    scene = scene_of(sandbox, show_code(desktop, desktop_host))
    reply = WeChat(http_transport(push_host), TOKEN, APPID, openid="o_alice").event("SCAN", scene, Ticket="gQx")
    confirm_on_phone(confirm_link(reply.content).replace(push_host, desktop_host), openid="o_alice")
    assert status(desktop, desktop_host) == {"state": "confirmed", "next": "/home"}


def test_the_sandbox_makes_codes_as_wechat_does(sandbox, redis):
    from wechat_bot.errors import WeChatError
    from wechat_bot.wechat_api import WeChatClient

    client = WeChatClient(sandbox.url, sandbox.url, APPID, "x")
    token = sandbox.global_token()["access_token"]
    made = client._post_json("/cgi-bin/qrcode/create", token, {"expire_seconds": 120, "action_name": "QR_SCENE",
                                                                "action_info": {"scene": {"scene_id": 7}}})
    assert made["url"].startswith(URL_PREFIX) and made["expire_seconds"] == 120 and made["ticket"]
    lasting = client._post_json("/cgi-bin/qrcode/create", token, {"action_name": "QR_LIMIT_STR_SCENE",
                                                                   "action_info": {"scene": {"scene_str": "a"}}})
    assert "expire_seconds" not in lasting
    for body in ({"action_name": "QR_BOGUS"}, {"action_name": "QR_STR_SCENE", "action_info": {"scene": {}}},
                 {"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 100001}}},
                 {"action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": "x" * 65}}}):
        with pytest.raises(WeChatError) as refused:
            client._post_json("/cgi-bin/qrcode/create", token, body)
        assert refused.value.errcode == 40053
    picture = requests.get(f"{sandbox.url}/cgi-bin/showqrcode", params={"ticket": made["ticket"]}, timeout=10)
    assert picture.status_code == 200 and picture.headers["Content-Type"] == "image/jpeg"


def test_check_says_which_way_desktops_sign_in(redis):
    from tests.conftest import CREDENTIALS
    from wechat_bot.check import run_checks
    from wechat_bot.config import Settings
    from wechat_bot.qr_login.codes import CAPABILITY_KEY

    settings = Settings.load({**CREDENTIALS, "PUBLIC_BASE_URL": "https://bot.example.com"})
    assert any("not tried yet" in line for line in run_checks(settings, redis).lines())
    redis.set(CAPABILITY_KEY + settings.appid, "chat")
    assert any(line.startswith("warn") and "48001" in line for line in run_checks(settings, redis).lines())
    redis.set(CAPABILITY_KEY + settings.appid, "qr")
    assert any("parametric QR codes" in line for line in run_checks(settings, redis).lines())
    redis.delete(CAPABILITY_KEY + settings.appid)
    redis.set(CAPABILITY_KEY + "wx0000000000000000", "qr")  # the sandbox's answer, before real credentials were set
    assert any("not tried yet" in line for line in run_checks(settings, redis).lines())


def test_a_sites_own_template_gets_the_code_or_why_there_is_none(site, sandbox, serve):
    from flask import jsonify

    from wechat_bot.sandbox import Fault

    app, wechat = a_site(sandbox, "qr_template_site")
    app.add_url_rule("/signin", "signin", lambda: jsonify({k: v for k, v in wechat.qr_login("/home").items()
                                                            if k != "svg"}))
    base = serve(app)
    sandbox.inject("/cgi-bin/qrcode/create", Fault(errcode=45009))
    refused = desktop_browser().get(base + "/signin", timeout=10)
    assert refused.status_code == 200 and refused.json()["error"].startswith("微信暂时无法访问")
    shown = desktop_browser().get(base + "/signin", timeout=10).json()
    assert shown["error"] is None and shown["url"].startswith(URL_PREFIX) and shown["status_url"] == "/oauth/qr/status"


def test_a_stale_account_token_is_renewed_once_for_the_code(site, sandbox):
    from wechat_bot.sandbox import Fault

    base, _ = site()
    sandbox.inject("/cgi-bin/qrcode/create", Fault(errcode=40001))
    show_code(desktop_browser(), base)  # shown after one renewal of the account token
    assert sandbox.calls("/cgi-bin/qrcode/create") == 2
    sandbox.inject("/cgi-bin/qrcode/create", Fault(errcode=40001), times=2)
    assert desktop_browser().get(f"{base}/oauth/qr", timeout=10).status_code == 503  # renewed once, not again


def test_wrong_chat_codes_sent_at_once_are_counted_before_any_is_tried(site, sandbox):
    """The budget is judged in the step that counts: a hundred wrong codes arriving together try at most 30."""
    from concurrent.futures import ThreadPoolExecutor

    from wechat_bot import defaults

    sandbox.configure(parametric_qr=False)
    base, _ = site()
    desktop_browser().get(f"{base}/oauth/qr", timeout=10)
    inside_one_window(defaults.QR_RATE_WINDOW, needed=30)

    def guess(n: int) -> str:
        return WeChat(http_transport(base), TOKEN, APPID, openid=f"o_crowd{n}").says(f"{n:06d}").content

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(guess, range(100, 200)))
    assert answers.count(qr_handlers.UNKNOWN_CODE_TEXT) <= defaults.QR_CHAT_CODE_MISSES
    assert answers.count(qr_handlers.PAUSED_TEXT) >= 100 - defaults.QR_CHAT_CODE_MISSES
